"""Pixel-space diffusion (``--arch ddpm``): :mod:`.ddpm` (config, MONAI U-Net, noise schedule),
:mod:`.training` (training loop), :mod:`.samplers` (DDPM / DDIM / DPM-Solver++ with classifier-free guidance)."""
