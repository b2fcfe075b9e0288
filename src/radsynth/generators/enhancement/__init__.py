"""Image enhancement family: learned models that map an acquired image to a better one.

* :mod:`.ct_pairs` -- paired low-dose / full-dose / noise-free CT slices simulated by the CT physics, and
  sharp-target pairs by projection-domain noise insertion into the simulated anatomy;
* :mod:`.ct_denoiser` -- the low-dose CT denoiser (MONAI U-Net, residual), training, model folders,
  ``denoise_hu`` / ``denoise_ct`` / ``denoise_nifti`` (the ``radsynth denoise`` command);
* :mod:`.mri_kspace_pairs` -- Cartesian k-space masks (MONAI), retrospective undersampling, simulated brain MRI
  slices (``mri-brain`` physics) to train on;
* :mod:`.mri_recon` -- the undersampled-MRI reconstructor (MONAI U-Net cascades + k-space data consistency),
  training, model folders, ``reconstruct_mri`` / ``reconstruct_kspace`` / ``reconstruct_file`` (the
  ``radsynth reconstruct`` command).

Imports only :mod:`radsynth.generators.common` among the generator packages.
"""
