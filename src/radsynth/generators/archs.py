"""Registry of learned-generator architectures and the contract every one of them keeps.

``radsynth train --arch A``, ``radsynth sample``, the model zoo and the
``learned-2d`` cohort generator reach an architecture only through this module,
so adding one means adding a module that defines:

``MODEL_FORMAT``
    ``"radsynth.generators.<arch>/1"``, the ``format`` of its model folder's ``config.json``.
``<Arch>Config``
    frozen pydantic config with ``arch``, ``image_size``, ``in_channels``, ``classes``,
    ``spatial_dims``, ``create(**kw)``, ``conditional``, ``sample_shape``,
    ``label_index(name)`` and ``card_lines()``.
``config_for_training(image_size=, classes=, channels=)``
    the config ``radsynth train`` builds (raises for an unsupported image size).
``build_networks(cfg)``
    one ``torch.nn.Module`` with everything sampling needs (its ``state_dict``
    is the model folder's ``weights.safetensors``).
``SAMPLING_OPTIONS``
    which of ``sampler``/``steps``/``guidance`` apply (diffusion models: all three).

and two more functions that live where their algorithm lives (the training loop's module,
:data:`ARCH_TRAINERS`; the sampler's, :data:`ARCH_SAMPLERS`), so that an architecture's config
module never imports its own trainer or sampler back (imports run one way):

``train_model(cfg, tcfg, x_train, y_train, checkpoint_dir, ...)``  (:func:`arch_trainer`)
    training with exact resume, returning :class:`radsynth.generators.common.train_config.TrainResult`.
``sample(net, cfg, labels, n=, seed=, ...)`` and, with sampling options,
``resolve_sampling_steps(cfg, sampler, steps)``  (:func:`arch_sampler`)
    float32 ``(n, H, W)`` images in [-1, 1], bit-identical for the same arguments.

Nothing here imports torch.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from radsynth.core.errors import RadsynthInputError

#: architecture -> module (pixel DDPM, latent diffusion, WGAN-GP, conditional VAE)
ARCH_MODULES: dict[str, str] = {
    "ddpm": "radsynth.generators.diffusion.ddpm",
    "ldm": "radsynth.generators.latent_diffusion.ldm",
    "gan": "radsynth.generators.gan.gan",
    "vae": "radsynth.generators.vae.vae",
}
#: architecture -> module defining ``train_model``
ARCH_TRAINERS: dict[str, str] = {
    "ddpm": "radsynth.generators.diffusion.training",
    "ldm": "radsynth.generators.latent_diffusion.ldm",
    "gan": "radsynth.generators.gan.gan_training",
    "vae": "radsynth.generators.vae.vae_training",
}
#: architecture -> module defining ``sample`` (and ``resolve_sampling_steps`` where sampling options apply)
ARCH_SAMPLERS: dict[str, str] = {
    "ddpm": "radsynth.generators.diffusion.samplers",
    "ldm": "radsynth.generators.latent_diffusion.ldm",
    "gan": "radsynth.generators.gan.gan",
    "vae": "radsynth.generators.vae.vae",
}
ARCHITECTURES: tuple[str, ...] = tuple(ARCH_MODULES)
ARCH_TITLES: dict[str, str] = {
    "ddpm": "pixel-space DDPM (MONAI DiffusionModelUNet)",
    "ldm": "latent diffusion (MONAI AutoencoderKL + latent DiffusionModelUNet)",
    "gan": "conditional WGAN-GP (MONAI Generator + critic)",
    "vae": "conditional VAE (MONAI VarAutoEncoder)",
}


def model_format(arch: str) -> str:
    """``format`` string of a model folder of architecture ``arch`` (no import of the module)."""
    return f"radsynth.generators.{arch}/1"


#: every generator model-folder format the zoo recognises
GENERATOR_FORMATS: tuple[str, ...] = tuple(model_format(a) for a in ARCHITECTURES)


def arch_module(arch: str, field: str = "--arch") -> ModuleType:
    """The module implementing ``arch``; RadsynthInputError naming ``field`` if unknown."""
    if arch not in ARCH_MODULES:
        raise RadsynthInputError(field, arch, ", ".join(ARCHITECTURES))
    return importlib.import_module(ARCH_MODULES[arch])


def arch_trainer(arch: str, field: str = "--arch") -> ModuleType:
    """The module with ``arch``'s ``train_model``; RadsynthInputError naming ``field`` if unknown."""
    if arch not in ARCH_TRAINERS:
        raise RadsynthInputError(field, arch, ", ".join(ARCHITECTURES))
    return importlib.import_module(ARCH_TRAINERS[arch])


def arch_sampler(arch: str, field: str = "--arch") -> ModuleType:
    """The module with ``arch``'s ``sample`` (and ``resolve_sampling_steps``); RadsynthInputError if unknown."""
    if arch not in ARCH_SAMPLERS:
        raise RadsynthInputError(field, arch, ", ".join(ARCHITECTURES))
    return importlib.import_module(ARCH_SAMPLERS[arch])


def config_class(arch: str, field: str = "--arch") -> Any:
    """The pydantic config class of ``arch``."""
    mod = arch_module(arch, field)
    for name in dir(mod):
        obj = getattr(mod, name)
        if isinstance(obj, type) and name.endswith("Config") and getattr(obj, "__module__", "") == mod.__name__:
            fields = getattr(obj, "model_fields", {})
            if "arch" in fields and fields["arch"].default == arch:
                return obj
    raise RadsynthInputError(field, arch, "an architecture module defining its <Arch>Config")  # pragma: no cover


def config_from_dict(model: dict[str, Any], field: str = "model") -> Any:
    """Rebuild a model config from its JSON dump (``config.json["model"]``); the ``arch`` key picks the class
    (missing: ``ddpm``, the first architecture, whose early dumps had no default-valued keys)."""
    if not isinstance(model, dict):
        raise RadsynthInputError(field, type(model).__name__, "a JSON object with the model config")
    arch = str(model.get("arch", "ddpm"))
    return config_class(arch, f"{field}.arch").create(**model)
