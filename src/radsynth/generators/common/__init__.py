"""What every generator family shares; imports no family (``radsynth.generators.<family>`` imports this).

* :mod:`.loop` -- input checks, device set-up, exact-resume loop state, progress, EMA / lr / autocast steps;
* :mod:`.train_config` -- :class:`~.train_config.TrainConfig` (optimisation settings), ``TrainResult``;
* :mod:`.checkpoint` -- training checkpoints (safetensors + JSON, swapped in atomically);
* :mod:`.ema` -- the warm-up EMA decay;
* :mod:`.config_base` -- ``create()`` of the configs, class-name checks and lookup, parameter counts;
* :mod:`.sampling_common` -- argument checks and the decode loop of the ``sample`` functions;
* :mod:`.data` -- class folders, manifests, image readers, patient ids and the patient-aware split.
"""
