"""Lobar consolidation (lobar pneumonia) with air bronchograms, confined to one lobe.

Consolidation is "an increase in pulmonary parenchymal attenuation that obscures the
margins of vessels and airway walls"; an *air bronchogram* is the pattern of
low-attenuation (air-filled) bronchi on a background of opaque, airless lung
(Fleischner glossary: Hansell et al., Radiology 246:697, 2008). Lobar pneumonia
fills the alveoli of (part of) one lobe with exudate, bounded by the fissures.

Model:

* **Extent.** Exudate spreads from ``seed_mm`` through the lobe at a locally varying
  speed ``exp(-irregularity * n(p))``, ``n`` a smooth zero-mean unit-std random field
  of correlation length ``correlation_mm`` drawn from ``field_seed``
  (:func:`radsynth.pathology.lesion_shape.smooth_noise_field`). The arrival time is
  the minimum-cost path length through the lobe (geodesic distance; scikit-image
  ``MCP_Geometric``, cost infinite outside the lobe), and the consolidation is the
  ``round(fraction * lobe voxels)`` earliest voxels. It is therefore connected,
  irregular at its margin, and a subset of the lobe mask by construction (a lobe
  larger than ``MAX_COST_VOXELS`` voxels is solved on a 2x-strided grid and the
  times read back by nearest neighbour; voxels the coarse grid cannot reach are
  consolidated last).
* **Attenuation.** Consolidated lung is ``soft_tissue`` material at ``hu``
  (+20..+50 HU default, water-to-soft-tissue attenuation of airless lung on
  unenhanced CT); converted with :func:`radsynth.physics.xray.materials.density_for_hu`
  at ``energy_kev`` (default 60 keV ~ effective energy of 120 kVp).
* **Air bronchograms.** A synthetic dichotomous airway tree from the lobe's hilar
  point (the lobe voxel nearest to the mid-sagittal projection of the centroid of
  all lobes) toward the lobe centroid and beyond. Root radius
  ``bronchus_radius_mm`` (1-3 mm); each generation splits into two children
  at ``25-40 deg`` from the parent in a random plane, with radius scaled by
  ``2^(-1/3)`` (Murray's law, Murray, PNAS 12:207, 1926; airway diameters of
  Weibel, "Morphometry of the Human Lung", 1963) and length by 0.8; branches
  stop below 1 mm radius, after ``n_generations`` or when they leave the lobe.
  Tubes taper linearly along each branch. Inside the consolidation the lumen
  voxels are ``air`` at ``bronchogram_hu`` (-1000..-900 HU); outside it they are
  left untouched (aerated lung hides them).
* **Mask.** The consolidation mask *includes* the bronchogram voxels (the lobe
  region affected); they are also returned separately by :meth:`LobarConsolidation.masks`
  and their volume is recorded in the finding.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from radsynth.core.checks import check_dataclass_keys, in_range
from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.core.rng import child_rng
from radsynth.pathology.lesion_shape import (
    check_range,
    check_ras,
    smooth_noise_field,
    voxel_spacing_mm,
    voxel_to_world,
    world_to_voxel,
)
from radsynth.pathology.lung_nodule import bbox_slices, centroid_mm, centroid_vox, check_region_mask, hu_density

__all__ = ["LobarConsolidation", "RandomLobarConsolidation", "LOBAR_CONSOLIDATION_LABEL", "check_lobes"]

LOBAR_CONSOLIDATION_LABEL = 1030
#: Above this many lobe-crop voxels the arrival times are solved on a 2x-strided grid.
MAX_COST_VOXELS = 1_500_000
#: Murray's law: child / parent radius for a symmetric bifurcation.
MURRAY_RATIO = 2.0 ** (-1.0 / 3.0)
LENGTH_RATIO = 0.8
MIN_BRONCHUS_RADIUS_MM = 1.0
BRANCH_ANGLE_DEG = (25.0, 40.0)

_LIMITS = {
    "fraction": (0.01, 1.0),
    "hu": (-100.0, 100.0),
    "irregularity": (0.0, 1.5),
    "correlation_mm": (2.0, 200.0),
    "bronchus_radius_mm": (1.0, 3.0),
    "bronchogram_hu": (-1000.0, -700.0),
}


def check_lobes(lobes: Any, shape: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
    """``lobes`` as a non-empty dict name -> boolean 3-D mask (all of one shape)."""
    if not isinstance(lobes, dict) or not lobes:
        raise RadsynthInputError("lobes", type(lobes).__name__, "a dict lobe name -> 3-D mask")
    out = {}
    for name in sorted(lobes):
        out[str(name)] = check_region_mask(f"lobes[{name!r}]", lobes[name], shape)
        shape = out[str(name)].shape
    return out


def _pick_lobe(lobes: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in lobes:
        raise RadsynthInputError("lobe", name, f"one of {sorted(lobes)}")
    return lobes[name]


@dataclass(frozen=True)
class LobarConsolidation:
    """Concrete consolidation parameters (deterministic twin of :class:`RandomLobarConsolidation`).

    ``lobe`` name (a key of the lobe dict); ``seed_mm`` world RAS+ origin of the
    spread (inside the lobe); ``fraction`` of the lobe's voxels consolidated;
    ``hu`` CT number of consolidated lung; ``irregularity`` log-amplitude of the
    spread-speed field; ``correlation_mm`` its correlation length; ``field_seed``
    its seed; ``n_generations`` airway generations of the bronchogram tree
    (0 = no air bronchograms); ``bronchus_radius_mm`` root airway radius;
    ``bronchogram_hu`` CT number of the air-filled lumen; ``tree_seed`` seed of the
    branching angles.
    """

    lobe: str
    seed_mm: tuple[float, float, float]
    fraction: float = 0.8
    hu: float = 35.0
    irregularity: float = 0.35
    correlation_mm: float = 25.0
    field_seed: int = 0
    n_generations: int = 5
    bronchus_radius_mm: float = 2.5
    bronchogram_hu: float = -950.0
    tree_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.lobe, str) or not self.lobe:
            raise RadsynthInputError("lobe", self.lobe, "a lobe name (key of the lobe masks)")
        c = tuple(float(v) for v in np.asarray(self.seed_mm, dtype=np.float64).ravel())
        if len(c) != 3 or not all(np.isfinite(c)):
            raise RadsynthInputError("seed_mm", self.seed_mm, "three finite world coordinates (mm)")
        object.__setattr__(self, "seed_mm", c)
        for name, (lo, hi) in _LIMITS.items():
            object.__setattr__(self, name, in_range(name, getattr(self, name), lo, hi))
        n = self.n_generations
        if isinstance(n, bool) or not float(n).is_integer() or not 0 <= int(n) <= 8:
            raise RadsynthInputError("n_generations", n, "an integer in [0, 8]")
        object.__setattr__(self, "n_generations", int(n))
        object.__setattr__(self, "field_seed", int(self.field_seed))
        object.__setattr__(self, "tree_seed", int(self.tree_seed))

    # ------------------------------------------------------------------ twin
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seed_mm"] = [float(v) for v in self.seed_mm]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LobarConsolidation:
        check_dataclass_keys("lobar_consolidation", d, cls, required=("lobe", "seed_mm"))
        return cls(**{**d, "seed_mm": tuple(d["seed_mm"])})

    # ----------------------------------------------------------------- masks
    def masks(self, lobes: dict[str, np.ndarray], affine: np.ndarray) -> dict[str, Any]:
        """Full-shape boolean ``consolidation`` (incl. bronchograms), ``bronchograms``; ``n_branches``."""
        aff = check_ras(affine)
        lobes = check_lobes(lobes)
        lobe = _pick_lobe(lobes, self.lobe)
        spacing = voxel_spacing_mm(aff)
        crop = bbox_slices(lobe)
        lo = np.array([c.start for c in crop])
        sub = lobe[crop]
        sv = world_to_voxel(aff, np.array(self.seed_mm)) - lo
        si = tuple(int(v) for v in np.round(sv))
        if any(v < 0 or v >= n for v, n in zip(si, sub.shape, strict=True)) or not sub[si]:
            raise RadsynthInputError("seed_mm", list(self.seed_mm), f"a point inside lobe {self.lobe!r}")
        cons = self._extent(sub, sv, si, spacing)
        bronch, n_branches = (np.zeros_like(sub), 0)
        if self.n_generations:
            bronch, n_branches = self._tree(lobes, sub, lo, spacing)
            bronch &= cons
        out_c = np.zeros(lobe.shape, dtype=bool)
        out_b = np.zeros(lobe.shape, dtype=bool)
        out_c[crop] = cons
        out_b[crop] = bronch
        return {"consolidation": out_c, "bronchograms": out_b, "n_branches": n_branches}

    def _extent(self, sub: np.ndarray, sv: np.ndarray, si: tuple[int, ...], spacing: np.ndarray) -> np.ndarray:
        n_lobe = int(sub.sum())
        keep = int(round(self.fraction * n_lobe))
        if keep >= n_lobe:
            return sub.copy()
        pts = np.nonzero(sub)
        off = [((p - c) * s).astype(np.float32) for p, c, s in zip(pts, sv, spacing, strict=True)]
        extent = float(np.linalg.norm(np.asarray(sub.shape) * spacing)) + self.correlation_mm
        noise = smooth_noise_field(child_rng(self.field_seed, "lobar_consolidation.speed"), *off,
                                   self.correlation_mm, extent)
        cost = np.full(sub.shape, np.inf)
        cost[pts] = np.exp(self.irregularity * np.clip(noise.astype(np.float64), -2.5, 2.5))
        stride = 2 if sub.size > MAX_COST_VOXELS else 1
        from skimage.graph import MCP_Geometric

        coarse = cost[::stride, ::stride, ::stride]
        cs = tuple(min(int(v) // stride, n - 1) for v, n in zip(si, coarse.shape, strict=True))
        if not np.isfinite(coarse[cs]):
            finite = np.argwhere(np.isfinite(coarse))
            cs = tuple(int(v) for v in finite[np.argmin(((finite - np.asarray(si) / stride) ** 2).sum(1))])
        times, _ = MCP_Geometric(coarse, sampling=tuple(float(s) * stride for s in spacing)).find_costs([cs])
        if stride > 1:
            ii = [np.minimum(np.arange(n) // stride, m - 1) for n, m in zip(sub.shape, times.shape, strict=True)]
            times = times[np.ix_(*ii)]
        t = times[pts]
        t = np.where(np.isfinite(t), t, np.finfo(np.float64).max)
        order = np.argsort(t, kind="stable")[:keep]
        out = np.zeros(sub.shape, dtype=bool)
        out[tuple(p[order] for p in pts)] = True
        return out

    def _tree(self, lobes, sub, lo, spacing):
        """Bronchogram tree rasterised in the lobe crop (mm = crop index * spacing)."""
        # centroid of all lobes (voxel-count weighted): its x is the mid-sagittal plane
        counts = np.array([float(np.count_nonzero(m[bbox_slices(m)])) for m in lobes.values()])
        cents = np.array([centroid_vox(m) for m in lobes.values()])
        target = (cents * counts[:, None]).sum(0) / counts.sum()  # mid-sagittal point at the lungs' centroid
        lobe_idx = np.argwhere(sub) + lo
        hilum = lobe_idx[np.argmin((((lobe_idx - target) * spacing) ** 2).sum(1))].astype(np.float64)
        centroid = lobe_idx.mean(axis=0)
        a0 = (hilum - lo) * spacing
        direction = (centroid - hilum) * spacing
        dist = float(np.linalg.norm(direction))
        if dist < 1e-6:
            direction, dist = np.array([0.0, 0.0, -1.0]), 10.0
        direction = direction / np.linalg.norm(direction)
        rng = child_rng(self.tree_seed, "lobar_consolidation.tree")
        out = np.zeros(sub.shape, dtype=bool)
        floor = 0.5 * float(np.min(spacing))
        n_branches = 0
        stack = [(a0, direction, self.bronchus_radius_mm, 0.6 * dist, 0)]
        while stack:
            a, d, r, length, gen = stack.pop()
            b = a + d * length
            bi = np.round(b / spacing).astype(int)
            if np.any(bi < 0) or np.any(bi >= sub.shape) or not sub[tuple(bi)]:
                length *= 0.5
                b = a + d * length
                bi = np.round(b / spacing).astype(int)
                if np.any(bi < 0) or np.any(bi >= sub.shape) or not sub[tuple(bi)]:
                    continue
            r_end = r * MURRAY_RATIO
            _capsule(out, a, b, r, r_end, spacing, floor)
            n_branches += 1
            if gen + 1 >= self.n_generations or r_end < MIN_BRONCHUS_RADIUS_MM:
                continue
            perp = np.cross(d, rng.standard_normal(3))
            perp /= max(float(np.linalg.norm(perp)), 1e-12)
            for sign in (1.0, -1.0):
                ang = math.radians(float(rng.uniform(*BRANCH_ANGLE_DEG)))
                cd = math.cos(ang) * d + sign * math.sin(ang) * perp
                stack.append((b, cd / np.linalg.norm(cd), r_end, length * LENGTH_RATIO, gen + 1))
        return out, n_branches

    # ----------------------------------------------------------------- apply
    def apply(
        self,
        volume: MaterialVolume,
        lobes: dict[str, np.ndarray],
        energy_kev: float = 60.0,
        label: int = LOBAR_CONSOLIDATION_LABEL,
        label_name: str = "lobar_consolidation",
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Paint the consolidation into ``volume`` (in place); return (uint8 mask, finding dict)."""
        lobes = check_lobes(lobes, volume.shape)
        m = self.masks(lobes, volume.affine)
        cons, bron = m["consolidation"], m["bronchograms"]
        volume.set_region(cons & ~bron, "soft_tissue", hu_density("soft_tissue", self.hu, energy_kev),
                          label, label_name)
        if bron.any():
            volume.set_region(bron, "air", hu_density("air", self.bronchogram_hu, energy_kev), label, label_name)
        vv = volume.voxel_ml
        n_lobe = int(lobes[self.lobe].sum())
        n = int(cons.sum())
        low = self.lobe.lower()
        side = "left" if "left" in low else "right" if "right" in low else None
        finding = {
            "type": "consolidation",
            "subtype": "lobar",
            "mask": label_name,
            "label": int(label),
            "volume_ml": n * vv,
            "lobe_volume_ml": n_lobe * vv,
            "fraction_of_lobe": n / n_lobe,
            "location": {"lobe": self.lobe, "side": side},
            "centre_mm": centroid_mm(cons, volume.affine),
            "seed_mm": [float(v) for v in self.seed_mm],
            "hu": self.hu,
            "air_bronchograms": bool(bron.any()),
            "bronchograms_in_mask": True,
            "bronchogram_volume_ml": int(bron.sum()) * vv,
            "n_branches": int(m["n_branches"]),
            "energy_kev": float(energy_kev),
            "params": self.to_dict(),
        }
        return cons.astype(np.uint8), finding


def _capsule(out: np.ndarray, a: np.ndarray, b: np.ndarray, ra: float, rb: float,
             spacing: np.ndarray, floor: float) -> None:
    """OR into ``out`` the voxels within the linearly tapering radius of segment a-b (mm in crop)."""
    rmax = max(ra, rb, floor)
    lo = np.maximum(np.floor((np.minimum(a, b) - rmax) / spacing).astype(int), 0)
    hi = np.minimum(np.ceil((np.maximum(a, b) + rmax) / spacing).astype(int) + 1, out.shape)
    if np.any(hi <= lo):
        return
    g = [np.arange(l, h) * s for l, h, s in zip(lo, hi, spacing, strict=True)]
    px, py, pz = np.meshgrid(*g, indexing="ij", sparse=True)
    ab = b - a
    l2 = max(float(ab @ ab), 1e-12)
    t = np.clip(((px - a[0]) * ab[0] + (py - a[1]) * ab[1] + (pz - a[2]) * ab[2]) / l2, 0.0, 1.0)
    dx, dy, dz = px - (a[0] + t * ab[0]), py - (a[1] + t * ab[1]), pz - (a[2] + t * ab[2])
    rad = np.maximum(ra + t * (rb - ra), floor)
    box = tuple(slice(int(l), int(h)) for l, h in zip(lo, hi, strict=True))
    out[box] |= dx * dx + dy * dy + dz * dz <= rad * rad


@dataclass(frozen=True)
class RandomLobarConsolidation:
    """Ranges (low, high) of :class:`LobarConsolidation` parameters; ``sample`` draws one for a lobe dict.

    ``lobe_names``: lobes to choose from (None = any key of the dict given to ``sample``);
    ``bronchogram_probability``: chance of air bronchograms (else ``n_generations = 0``).
    """

    lobe_names: tuple[str, ...] | None = None
    fraction: tuple[float, float] = (0.5, 1.0)
    hu: tuple[float, float] = (20.0, 50.0)
    irregularity: tuple[float, float] = (0.2, 0.5)
    correlation_mm: tuple[float, float] = (15.0, 40.0)
    bronchogram_probability: float = 1.0
    n_generations: tuple[int, int] = (3, 6)
    bronchus_radius_mm: tuple[float, float] = (1.5, 3.0)
    bronchogram_hu: tuple[float, float] = (-1000.0, -900.0)

    def __post_init__(self) -> None:
        if self.lobe_names is not None:
            names = (self.lobe_names,) if isinstance(self.lobe_names, str) else tuple(self.lobe_names)
            if not names or not all(isinstance(n, str) and n for n in names):
                raise RadsynthInputError("lobe_names", self.lobe_names, "a non-empty list of lobe names")
            object.__setattr__(self, "lobe_names", names)
        for name in ("fraction", "hu", "irregularity", "correlation_mm", "bronchus_radius_mm", "bronchogram_hu"):
            object.__setattr__(self, name, check_range(name, getattr(self, name), *_LIMITS[name]))
        object.__setattr__(self, "bronchogram_probability",
                           in_range("bronchogram_probability", self.bronchogram_probability, 0.0, 1.0))
        lo, hi = check_range("n_generations", self.n_generations, 1, 8)
        if not (float(lo).is_integer() and float(hi).is_integer()):
            raise RadsynthInputError("n_generations", self.n_generations, "a (low, high) pair of integers in [1, 8]")
        object.__setattr__(self, "n_generations", (int(lo), int(hi)))

    def sample(self, lobes: dict[str, np.ndarray], affine: np.ndarray, rng: np.random.Generator,
               lobe: str | None = None) -> LobarConsolidation:
        """Draw a consolidation of one lobe (``lobe``, else a random one of ``lobe_names`` / the dict)."""
        aff = check_ras(affine)
        lobes = check_lobes(lobes)
        names = sorted(lobes) if self.lobe_names is None else list(self.lobe_names)
        for n in names:
            _pick_lobe(lobes, n)
        name = str(names[int(rng.integers(len(names)))]) if lobe is None else lobe
        mask = _pick_lobe(lobes, name)
        u = lambda rg: float(rng.uniform(*rg))  # noqa: E731
        params = dict(fraction=u(self.fraction), hu=u(self.hu), irregularity=u(self.irregularity),
                      correlation_mm=u(self.correlation_mm), field_seed=int(rng.integers(0, 2**31 - 1)),
                      bronchus_radius_mm=u(self.bronchus_radius_mm), bronchogram_hu=u(self.bronchogram_hu),
                      tree_seed=int(rng.integers(0, 2**31 - 1)))
        n_gen = int(rng.integers(self.n_generations[0], self.n_generations[1] + 1))
        params["n_generations"] = n_gen if rng.uniform() < self.bronchogram_probability else 0
        # seed: a lobe voxel in its deeper half (distance to the lobe surface >= half its maximum)
        box = bbox_slices(mask)
        lo = np.array([b.start for b in box])
        sub = mask[box]
        dist = ndimage.distance_transform_edt(np.pad(sub, 1), sampling=voxel_spacing_mm(aff))[1:-1, 1:-1, 1:-1]
        cand = np.flatnonzero(dist >= 0.5 * float(dist.max()))
        pick = np.array(np.unravel_index(int(cand[int(rng.integers(cand.size))]), sub.shape)) + lo
        return LobarConsolidation(lobe=name, seed_mm=tuple(voxel_to_world(aff, pick)), **params)
