"""Acute/subacute ischaemic stroke: a contiguous infarct inside one arterial territory.

The infarct (label :data:`radsynth.core.labels.INFARCT`, tissue class
"infarct": hyperintense on T2/FLAIR and DWI; intensities are the physics
module's job) is grown from a seed point inside the declared territory of
:mod:`radsynth.pathology.vascular_territories` by a minimum-cost front
(:class:`skimage.graph.MCP_Geometric`) through a heterogeneous cost field
``exp(heterogeneity * n(x))`` (``n``: smooth 3-D noise, ~10 mm correlation),
restricted to the territory's parenchyma. The infarct is the set of the
``volume_fraction * |territory|`` voxels reached first. Because every voxel of
a minimum-cost front is joined to the seed by a path of voxels reached earlier,
the infarct is one 26-connected region, and it lies entirely inside the
territory (cortex and underlying white matter), like the infarct of a branch
occlusion covering part of a territory (Tatu et al., Neurology 1998). A large
``volume_fraction`` approaches a complete territorial infarct.

The seed point is drawn from ``seed`` inside the largest connected piece of
the territory, so the parameters are independent of the map they apply to.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.graph import MCP_Geometric

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import INFARCT
from radsynth.core.rng import child_rng
from radsynth.pathology.lesion_shape import (
    check_range,
    check_ras,
    offsets_mm,
    smooth_noise_field,
    voxel_spacing_mm,
    voxel_to_world,
    voxel_volume_ml,
)
from radsynth.pathology.vascular_territories import SIDES, TERRITORIES, check_side, check_territory, territory_mask

__all__ = ["IschaemicStroke", "RandomIschaemicStroke"]

#: Correlation length (mm) of the cost-field noise that shapes the infarct outline.
COST_CORRELATION_MM = 10.0


@dataclass(frozen=True)
class IschaemicStroke:
    """Concrete infarct parameters (deterministic twin of :class:`RandomIschaemicStroke`).

    ``territory`` MCA/ACA/PCA/CEREBELLAR; ``side`` left/right; ``volume_fraction``
    infarct volume / territory volume in (0, 1]; ``heterogeneity`` log-std of
    the growth cost (0 = geodesic ball, larger = more irregular outline);
    ``seed`` integer seed of the seed point and the cost field.
    """

    territory: str
    side: str
    volume_fraction: float
    heterogeneity: float
    seed: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "territory", check_territory(self.territory))
        object.__setattr__(self, "side", check_side(self.side))
        vf = float(self.volume_fraction)
        if not (np.isfinite(vf) and 0.0 < vf <= 1.0):
            raise RadsynthInputError("volume_fraction", self.volume_fraction, "a number in (0, 1]")
        object.__setattr__(self, "volume_fraction", vf)
        h = float(self.heterogeneity)
        if not (np.isfinite(h) and 0.0 <= h <= 4.0):
            raise RadsynthInputError("heterogeneity", self.heterogeneity, "a number in [0, 4]")
        object.__setattr__(self, "heterogeneity", h)
        object.__setattr__(self, "seed", int(self.seed))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IschaemicStroke:
        return cls(**d)

    def mask(self, labels: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """Boolean infarct mask (labels.shape), inside ``territory_mask(labels, affine, territory, side)``."""
        aff = check_ras(affine)
        terr = territory_mask(labels, aff, self.territory, self.side)
        if not terr.any():
            raise RadsynthInputError(
                "territory",
                f"{self.side} {self.territory}",
                "a territory present in the label map",
                "The map has no parenchyma there; pick another territory or side.",
            )
        nz = np.argwhere(terr)
        lo, hi = nz.min(0), nz.max(0) + 1
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        t = terr[box]
        comp, n = ndimage.label(t, structure=np.ones((3, 3, 3), dtype=bool))
        if n > 1:
            sizes = np.bincount(comp.ravel())
            sizes[0] = 0
            main = comp == int(np.argmax(sizes))
        else:
            main = t
        rng = child_rng(self.seed, "stroke.seed_point")
        pts = np.argwhere(main)
        start = tuple(int(v) for v in pts[int(rng.integers(len(pts)))])

        spacing = voxel_spacing_mm(aff)
        centre = np.asarray(start, dtype=np.float64)
        ox, oy, oz = offsets_mm(tuple(slice(0, n) for n in t.shape), centre, spacing)
        extent = float(np.max(np.asarray(t.shape) * spacing)) + COST_CORRELATION_MM
        noise = smooth_noise_field(child_rng(self.seed, "stroke.cost"), ox, oy, oz, COST_CORRELATION_MM, extent)
        cost = np.exp(np.float32(self.heterogeneity) * noise).astype(np.float64)
        cost[~main] = np.inf
        costs, _ = MCP_Geometric(cost, fully_connected=True, sampling=tuple(float(s) for s in spacing)).find_costs(
            [start]
        )
        reached = np.isfinite(costs) & main
        target = max(1, int(round(self.volume_fraction * int(terr.sum()))))
        vals = costs[reached]
        if target >= vals.size:
            inf_box = reached
        else:
            thr = np.partition(vals, target - 1)[target - 1]
            inf_box = reached & (costs <= thr)
        out = np.zeros(labels.shape, dtype=bool)
        out[box] = inf_box
        return out

    def apply(self, labels: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """(labels with the infarct painted as INFARCT, finding dict). Deterministic."""
        aff = check_ras(affine)
        if labels.ndim != 3:
            raise RadsynthInputError("labels", f"shape {labels.shape}", "a 3-D label map")
        m = self.mask(labels, aff)
        out = labels.copy()
        out[m] = INFARCT
        idx = np.argwhere(m)
        centre = voxel_to_world(aff, idx.mean(axis=0))
        finding = {
            "type": "stroke",
            "subtype": "ischaemic",
            "territory": self.territory,
            "side": self.side,
            "volume_ml": int(len(idx)) * voxel_volume_ml(aff),
            "centre_mm": [float(v) for v in centre],
            "params": self.to_dict(),
        }
        return out, finding


@dataclass(frozen=True)
class RandomIschaemicStroke:
    """Draws an :class:`IschaemicStroke`: territory and side uniformly, fraction and heterogeneity uniformly."""

    territories: tuple[str, ...] = ("MCA", "ACA", "PCA")
    volume_fraction: tuple[float, float] = (0.05, 0.6)
    heterogeneity: tuple[float, float] = (0.5, 1.5)
    sides: tuple[str, ...] = SIDES

    def __post_init__(self) -> None:
        terr = (self.territories,) if isinstance(self.territories, str) else tuple(self.territories)
        if not terr:
            raise RadsynthInputError("territories", self.territories, f"a non-empty list of {', '.join(TERRITORIES)}")
        object.__setattr__(self, "territories", tuple(check_territory(t) for t in terr))
        sides = (self.sides,) if isinstance(self.sides, str) else tuple(self.sides)
        if not sides:
            raise RadsynthInputError("sides", self.sides, "a non-empty list of left, right")
        object.__setattr__(self, "sides", tuple(check_side(s) for s in sides))
        lo, hi = check_range("volume_fraction", self.volume_fraction, 0.0, 1.0)
        if lo <= 0.0:
            raise RadsynthInputError(
                "volume_fraction", self.volume_fraction, "a (low, high) pair with 0 < low <= high <= 1"
            )
        object.__setattr__(self, "volume_fraction", (lo, hi))
        object.__setattr__(self, "heterogeneity", check_range("heterogeneity", self.heterogeneity, 0.0, 4.0))

    def sample(
        self, labels: np.ndarray | None = None, affine: np.ndarray | None = None, rng: np.random.Generator | None = None
    ) -> IschaemicStroke:
        """Draw the parameters; ``labels``/``affine`` are accepted for a uniform sampler interface (unused)."""
        if rng is None:
            raise RadsynthInputError("rng", rng, "a numpy.random.Generator")
        return IschaemicStroke(
            territory=str(self.territories[int(rng.integers(len(self.territories)))]),
            side=str(self.sides[int(rng.integers(len(self.sides)))]),
            volume_fraction=float(rng.uniform(*self.volume_fraction)),
            heterogeneity=float(rng.uniform(*self.heterogeneity)),
            seed=int(rng.integers(0, 2**31 - 1)),
        )
