"""Generator registry.

Built-in generators are named here and imported lazily (heavy imports stay out
of CLI start-up). A spec may also name a plug-in generator by import path
``"package.module:ClassName"``; it must follow :class:`radsynth.cohort.generator.Generator`.
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from radsynth.core.errors import RadsynthInputError

BUILTIN_GENERATORS = MappingProxyType(
    {
        "mri-brain": "radsynth.physics.mri.brain_generator:BrainMRIGenerator",
        "ct-chest": "radsynth.physics.ct.chest_generator:ChestCTGenerator",
        "ct-head": "radsynth.physics.ct.head_generator:HeadCTGenerator",
        "xray-chest": "radsynth.physics.xray.chest_generator:ChestXrayGenerator",
        "ddpm-2d": "radsynth.generators.cohort_generator:DDPMCohortGenerator",
        "learned-2d": "radsynth.generators.cohort_generator:LearnedCohortGenerator",
        "mask-guided-2d": "radsynth.generators.mask_guided.cohort:MaskGuidedCohortGenerator",
    }
)


def resolve_generator(name: str) -> type:
    """Return the generator class for a registered name or ``module:Class`` path."""
    target = BUILTIN_GENERATORS.get(name)
    if target is None and ":" in name:
        target = name
    if target is None:
        raise RadsynthInputError(
            "generator.name", name, f"one of {sorted(BUILTIN_GENERATORS)} or a plug-in 'module:Class' path"
        )
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, cls_name)
    except (ImportError, AttributeError) as exc:
        raise RadsynthInputError(
            "generator.name", name, f"one of {sorted(BUILTIN_GENERATORS)} or an importable 'module:Class' path",
            hint=f"Import failed: {exc}.",
        ) from None
    for attr in ("name", "version", "Config", "supported_labels", "generate"):
        if not hasattr(cls, attr):
            raise RadsynthInputError("generator.name", name, "a class with name, version, Config, supported_labels and generate()")
    return cls
