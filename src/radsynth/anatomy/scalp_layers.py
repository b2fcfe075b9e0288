"""Scalp layers: subcutaneous fat under the skin, muscle below it, carved out of one soft-tissue label.

The SynthSeg whole-head maps lump everything between the skin (511) and the bone (515) into one class,
507 "extracranial soft tissue": the subcutaneous fat of the scalp, the galea, the temporalis and the
other muscles of face and neck, and the orbital fat. radsynth gives that class the tissue ``fat``, so the
temporalis muscle over the temples is as bright as fat on T1w and (turbo spin echo) T2w images, where
clinical images show a thin bright subcutaneous layer over a dark muscle.

The scalp is skin (about 2-3 mm), then dense connective tissue holding the subcutaneous fat (about 3-5 mm),
then the galea aponeurotica and, over the temples, the temporalis muscle (up to 10-15 mm) on the bone
(standard anatomy: the SCALP layers; e.g. Gray's Anatomy, 42nd ed., ch. "Scalp"). :class:`ScalpLayers`
(deterministic) keeps as fat the 507 voxels within ``fat_mm`` of the skin (Euclidean distance, mm, with
the affine's voxel sizes) and relabels the deeper ones :data:`radsynth.core.labels.DEEP_SOFT_TISSUE_LABEL`
(tissue ``muscle``). The orbital fat around the eyeballs (506) is deep but is fat: 507 voxels within
``orbit_mm`` of an eyeball stay fat. Where the map's soft tissue is thinner than ``fat_mm`` (the vertex)
nothing changes. :class:`RandomScalpLayers` draws ``fat_mm`` from a range (per subject; recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.anatomy.distance import distance_mm
from radsynth.core.checks import range_pair
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import DEEP_SOFT_TISSUE_LABEL

#: SynthSeg's extracranial soft tissue, skin and eyeballs
SOFT_TISSUE_LABEL, SKIN_LABEL, EYE_LABEL = 507, 511, 506


@dataclass(frozen=True)
class ScalpLayers:
    """Soft tissue deeper than ``fat_mm`` under the skin becomes muscle, except within ``orbit_mm`` of an eyeball."""

    fat_mm: float = 4.0
    orbit_mm: float = 15.0

    def __post_init__(self) -> None:
        for name, hi in (("fat_mm", 20.0), ("orbit_mm", 40.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating)) or not 0.0 <= float(v) <= hi:
                raise RadsynthInputError(f"scalp_layers.{name}", v, f"a distance in 0-{hi:g} mm")
            object.__setattr__(self, name, float(v))

    def apply(self, labels: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """A relabelled copy of a 3D label map (same dtype); the input is not changed."""
        labels = np.asarray(labels)
        if labels.ndim != 3:
            raise RadsynthInputError("labels", f"array of shape {labels.shape}", "a 3D label map")
        out = labels.copy()
        soft = labels == SOFT_TISSUE_LABEL
        skin = labels == SKIN_LABEL
        if not soft.any() or not skin.any():
            return out
        deep = soft & (distance_mm(skin, affine) > self.fat_mm + 1e-6)
        eyes = labels == EYE_LABEL
        if eyes.any() and self.orbit_mm > 0:
            deep &= distance_mm(eyes, affine) > self.orbit_mm + 1e-6
        out[deep] = DEEP_SOFT_TISSUE_LABEL
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"fat_mm": self.fat_mm, "orbit_mm": self.orbit_mm}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScalpLayers:
        if not isinstance(d, Mapping) or set(d) != {"fat_mm", "orbit_mm"}:
            raise RadsynthInputError("scalp_layers", d, "a mapping with the keys fat_mm and orbit_mm")
        return cls(float(d["fat_mm"]), float(d["orbit_mm"]))


@dataclass(frozen=True)
class RandomScalpLayers:
    """Draws :class:`ScalpLayers` with ``fat_mm`` uniform in a range (mm)."""

    fat_mm: tuple[float, float] = (3.0, 5.0)
    orbit_mm: float = 15.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "fat_mm", range_pair("scalp_layers.fat_mm", self.fat_mm, 0.0, 20.0))
        ScalpLayers(0.0, self.orbit_mm)  # validates orbit_mm

    def sample(self, rng: np.random.Generator) -> ScalpLayers:
        lo, hi = self.fat_mm
        return ScalpLayers(float(lo + (hi - lo) * rng.random()), self.orbit_mm)
