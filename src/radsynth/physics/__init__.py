"""Imaging physics: forward models from anatomy to images (MRI in :mod:`radsynth.physics.mri`, CT in
:mod:`radsynth.physics.ct`, radiography and X-ray materials in :mod:`radsynth.physics.xray`)."""
