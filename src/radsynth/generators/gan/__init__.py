"""Conditional WGAN-GP (``--arch gan``): :mod:`.gan` (config, networks, sampling), :mod:`.gan_training` (training loop)."""
