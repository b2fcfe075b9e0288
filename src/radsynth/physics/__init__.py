"""Imaging physics: forward models from tissue labels to images (MRI in :mod:`radsynth.physics.mri`)."""
