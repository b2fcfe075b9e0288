"""Conditional VAE (``--arch vae``): :mod:`.vae` (config, network, loss, sampling), :mod:`.vae_training` (training loop)."""
