"""Learned generators: diffusion models, latent diffusion, GANs and VAEs trained on a site's own images.

One subpackage per model family, one common module they all build on, and the modules that
dispatch over the families at the top (nothing heavy is imported here; import submodules directly):

* :mod:`.common` -- what every family shares and that imports no family: the training-loop helpers
  (:mod:`.common.loop`), :class:`~.common.train_config.TrainConfig` / ``TrainResult``, exact-resume
  checkpoints (:mod:`.common.checkpoint`), EMA, ``create()`` of the configs (:mod:`.common.config_base`),
  the argument checks and decode loop of the ``sample`` functions (:mod:`.common.sampling_common`) and the
  datasets (:mod:`.common.data`: class folders, manifests, image readers, the patient-aware split);
* :mod:`.diffusion` -- pixel-space DDPM: config and MONAI U-Net (:mod:`.diffusion.ddpm`), its training
  loop (:mod:`.diffusion.training`), DDPM / DDIM / DPM-Solver++ samplers with classifier-free guidance
  (:mod:`.diffusion.samplers`);
* :mod:`.latent_diffusion` -- KL autoencoder (:mod:`.latent_diffusion.autoencoder_kl`) and the latent
  diffusion model on top of it (:mod:`.latent_diffusion.ldm`; uses :mod:`.diffusion`, one way);
* :mod:`.gan` -- conditional WGAN-GP (:mod:`.gan.gan`, :mod:`.gan.gan_training`);
* :mod:`.vae` -- conditional VAE (:mod:`.vae.vae`, :mod:`.vae.vae_training`);
* :mod:`.archs` -- the registry of architectures (``--arch``) and the contract each family keeps;
* :mod:`.model_dir` -- the model folder (config.json, weights.safetensors, model_card.md);
* :mod:`.zoo` -- find, describe and export model folders;
* :mod:`.prompts` -- attribute prompts ("chest x-ray, pneumonia, AP") -> the conditions a model accepts;
* :mod:`.cli` -- the ``radsynth train`` / ``radsynth sample`` implementations;
* :mod:`.cohort_generator` -- a model folder as the ``learned-2d`` / ``ddpm-2d`` cohort generator.

Imports run one way: the top-level modules -> families -> :mod:`.common`; a family never imports
another, except latent diffusion -> diffusion.
"""
