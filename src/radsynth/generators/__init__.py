"""Learned generators: diffusion models trained on a site's own images.

Submodules (import them directly; nothing heavy is imported here):

* :mod:`.data` -- class-folder datasets, image readers, patient ids and the patient-aware split;
* :mod:`.ddpm` -- model config and the MONAI ``DiffusionModelUNet`` + noise schedule it builds;
* :mod:`.samplers` -- DDPM / DDIM (MONAI) and DPM-Solver++ (diffusers) with classifier-free guidance;
* :mod:`.training` -- the training loop: EMA, autocast, exact-resume checkpoints, wall-clock budget;
* :mod:`.loop` -- what every training loop shares: input checks, exact-resume state and checkpoints, progress;
* :mod:`.config_base` -- ``create()`` of the configs (pydantic errors as one RadsynthInputError);
* :mod:`.sampling_common` -- argument checks and the decode loop of the ``sample`` functions;
* :mod:`.model_dir` -- the model folder (config.json, weights.safetensors, model_card.md);
* :mod:`.cli` -- the ``radsynth train`` / ``radsynth sample`` implementations.
"""
