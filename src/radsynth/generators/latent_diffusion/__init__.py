"""Latent diffusion (``--arch ldm``): :mod:`.autoencoder_kl` (stage 1, KL autoencoder + patch discriminator)
and :mod:`.ldm` (stage 2: the :mod:`radsynth.generators.diffusion` U-Net and samplers on scaled latents)."""
