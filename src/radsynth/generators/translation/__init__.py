"""Contrast translation family: learned models that map one MR contrast of a slice to another, trained on
physics-simulated pairs of the same anatomy (issue #13 item 3).

* :mod:`.pairs` -- paired T1w / T2w / FLAIR slices simulated by the ``mri-brain`` physics;
* :mod:`.model` -- the translator (pix2pix: MONAI U-Net generator + patch discriminator, the shared loop of
  :mod:`radsynth.generators.common.pix2pix_loop`), model folders, ``translate_slice`` / ``translate_file``
  (the ``radsynth translate`` command), and the histogram-matching baseline.

Imports only :mod:`radsynth.generators.common` among the generator packages.
"""
