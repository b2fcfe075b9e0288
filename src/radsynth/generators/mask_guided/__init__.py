"""Mask-guided generation family: learned generators conditioned on a lesion mask.

* :mod:`.data` -- paired (FLAIR slice, lesion mask, brain mask) axial slices simulated by the ``mri-brain``
  physics (tumour / stroke subjects; the masks are the physics' own ``tumour_whole`` / ``infarct``);
* :mod:`.model` -- the mask-conditioned DDPM (MONAI ``DiffusionModelUNet``, conditioning by channel
  concatenation, DDIM sampling), training, model folders, ``generate_from_mask`` (the
  ``radsynth generate-from-mask`` command) and the small lesion segmenter used to measure it.

Imports only :mod:`radsynth.generators.common` among the generator packages.
"""
