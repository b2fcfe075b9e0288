"""Mass effect of a space-occupying lesion: a radial, fold-free, brain-confined warp.

A growing intra-axial mass pushes the surrounding brain away from its centre:
sulci and the ipsilateral ventricle are compressed (effaced) and the midline
may shift (subfalcine shift), while the skull does not move. Two steps:

1. Warp. Tissue displacement ``u`` (mm) radial from the lesion centre with magnitude

   * ``u(r) = d * r / R``                                     inside the lesion (r < R),
   * ``u(r) = d * (exp(-(r-R)/l) - exp(-4)) / (1 - exp(-4))`` for R <= r < R + 4 l,
   * ``u(r) = 0``                                             beyond (compact support),

   with ``d = displacement_mm`` (largest at the lesion boundary), ``R = radius_mm``
   and ``l = decay_mm``. A smooth radial fall-off of this kind is the usual
   lightweight stand-in for a biomechanical tumour-growth model (e.g. the radial
   expansion in Prastawa et al., Academic Radiology 2009, "Simulation of brain
   tumors in MR images for evaluation of segmentation efficacy"; the linear-elastic
   Kelvin solution decays as 1/r^2, which an exponential with l ~ R follows
   over the first few cm).

   Backward mapping (what :func:`radsynth.core.warp.warp_labels` needs): the
   output voxel at ``x`` samples the input at ``x - u(x)``. For this radial map
   ``s(r) = r - u(r)`` the Jacobian determinant is ``s'(r) (s/r)^2``;
   ``s' = 1 - u' >= 1`` outside the lesion (``u' <= 0``) and ``s/r >= 1 - d/R``,
   so ``d < R`` makes it fold-free by construction. The displacement is then
   multiplied by a weight ``w(x) = min(1, distance to non-moving tissue / taper_mm)``
   that fades to zero over ``taper_mm`` at the inner skull surface (the boundary of the intracranial
   region: :data:`INTRACRANIAL` labels plus enclosed unlabelled holes, e.g.
   voxels between cerebellum and brainstem), so skull and scalp never move. The
   Jacobian determinant of the final map is checked numerically and the taper
   widened if any brain voxel outside the lesion would fall below
   :attr:`MassEffect.min_jacobian` (inside the lesion the map is a uniform contraction with
   determinant ``(1 - d/R)^3 > 0``; that tissue is painted over).

2. CSF effacement. Brain parenchyma is nearly incompressible: a mass is
   accommodated mainly by expelling CSF, so adjacent sulci close and the
   ipsilateral ventricle is compressed (Monro-Kellie doctrine; Osborn,
   "Diagnostic Imaging: Brain"). After the warp, CSF voxels (ventricles,
   sulcal CSF) within ``effacement * |u(x)|`` mm of parenchyma take the label of
   the neighbouring parenchyma (the walls close in by that distance). A pure
   radial warp conserves the tissue volume in the support and would barely
   change the ventricle volume; this step makes the compression measurable
   where the displacement is large and leaves far CSF untouched.

Only the box of half-width ``R + 4 l`` around the centre is computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import BRAIN, EXTRACEREBRAL_CSF, PARENCHYMA, VENTRICLES
from radsynth.core.warp import identity_grid, warp_labels
from radsynth.pathology.lesion_shape import box_around, check_ras, label_mask, offsets_mm, voxel_spacing_mm

__all__ = ["MassEffect", "jacobian_determinant", "MIN_JACOBIAN", "SUPPORT_DECAYS", "INTRACRANIAL"]

#: Number of decay lengths beyond the lesion boundary after which the displacement is exactly 0.
SUPPORT_DECAYS = 4.0
#: Labels that may move: the brain (core.labels.BRAIN) plus SynthSeg labels 136/137/163/164,
#: which core.labels calls "extra-cerebral" but which lie inside the lateral ventricles
#: (checked on the SynthSeg training maps: >70 % of their neighbours are labels 4/5/43/44,
#: i.e. choroid plexus). Dura, skull, scalp and orbit never move.
INTRACRANIAL = BRAIN | frozenset({136, 137, 163, 164})
#: CSF compartments that a mass may efface.
EFFACEABLE_CSF = VENTRICLES | EXTRACEREBRAL_CSF
#: Smallest Jacobian determinant accepted inside the brain (local volume ratio; < 0 is a fold).
MIN_JACOBIAN = 0.2
#: Largest displacement as a fraction of the lesion radius (d < R keeps the map fold-free).
MAX_DISPLACEMENT_FRACTION = 0.9

_CROSS = ndimage.generate_binary_structure(3, 1)


def jacobian_determinant(coords: np.ndarray) -> np.ndarray:
    """Determinant of d(coords)/d(index) for a backward sampling field (3, *shape), float32.

    1 = no volume change, < 1 output region samples a smaller input region
    (expansion of tissue), > 1 compression, <= 0 a fold.
    """
    grads = [np.gradient(coords[i].astype(np.float32, copy=False)) for i in range(3)]
    (a, b, c), (d, e, f), (g, h, k) = grads
    return (a * (e * k - f * h) - b * (d * k - f * g) + c * (d * h - e * g)).astype(np.float32)


def _movable(sub: np.ndarray) -> np.ndarray:
    """Intracranial voxels of a box: INTRACRANIAL labels plus unlabelled (0) holes enclosed within the box.

    Labelled non-brain islands (e.g. bone of the crista galli, dura) never move.
    """
    inside = label_mask(sub, INTRACRANIAL)
    comp, n = ndimage.label(sub == 0)
    if n == 0:
        return inside
    faces = np.concatenate([np.moveaxis(comp, ax, 0)[i].ravel() for ax in range(3) for i in (0, -1)])
    outside = np.zeros(n + 1, dtype=bool)
    outside[np.unique(faces)] = True
    outside[0] = False
    return inside | ~outside[comp] & (comp > 0)


@dataclass(frozen=True)
class MassEffect:
    """Deterministic radial mass-effect warp with CSF effacement (see module docstring).

    Parameters: ``centre_vox`` lesion centre in voxel indices (x, y, z) of the
    map it is applied to; ``radius_mm`` lesion radius R; ``displacement_mm``
    tissue displacement d at the lesion boundary (0 <= d <= 0.9 R);
    ``decay_mm`` exponential decay length l outside the lesion; ``taper_mm``
    width of the fade-out at the inner skull surface; ``effacement`` fraction of
    the local displacement by which CSF spaces close (0 = pure warp).
    """

    centre_vox: tuple[float, float, float]
    radius_mm: float
    displacement_mm: float
    decay_mm: float
    taper_mm: float = 4.0
    effacement: float = 0.5

    def __post_init__(self) -> None:
        c = tuple(float(v) for v in np.asarray(self.centre_vox, dtype=np.float64).ravel())
        if len(c) != 3 or not all(np.isfinite(c)):
            raise RadsynthInputError("centre_vox", self.centre_vox, "three finite voxel coordinates (x, y, z)")
        object.__setattr__(self, "centre_vox", c)
        for name in ("radius_mm", "displacement_mm", "decay_mm", "taper_mm", "effacement"):
            object.__setattr__(self, name, float(getattr(self, name)))
        if not (np.isfinite(self.radius_mm) and self.radius_mm > 0):
            raise RadsynthInputError("radius_mm", self.radius_mm, "a positive number of mm")
        if not (0.0 <= self.displacement_mm <= MAX_DISPLACEMENT_FRACTION * self.radius_mm):
            raise RadsynthInputError(
                "displacement_mm",
                self.displacement_mm,
                f"0 <= displacement_mm <= {MAX_DISPLACEMENT_FRACTION} * radius_mm"
                f" (= {MAX_DISPLACEMENT_FRACTION * self.radius_mm:g})",
                "A larger displacement would fold the deformation.",
            )
        if not (np.isfinite(self.decay_mm) and self.decay_mm > 0):
            raise RadsynthInputError("decay_mm", self.decay_mm, "a positive number of mm")
        if not (np.isfinite(self.taper_mm) and self.taper_mm > 0):
            raise RadsynthInputError("taper_mm", self.taper_mm, "a positive number of mm")
        if not (0.0 <= self.effacement <= 1.0):
            raise RadsynthInputError("effacement", self.effacement, "a number in [0, 1]")

    # ------------------------------------------------------------------ twin
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["centre_vox"] = [float(v) for v in self.centre_vox]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MassEffect:
        return cls(**{**d, "centre_vox": tuple(d["centre_vox"])})

    # ------------------------------------------------------------- geometry
    @property
    def support_mm(self) -> float:
        """Distance from the centre (mm) beyond which nothing moves."""
        return self.radius_mm + SUPPORT_DECAYS * self.decay_mm

    def radial_displacement_mm(self, r_mm: np.ndarray) -> np.ndarray:
        """Displacement magnitude u(r) in mm (float32) at distance ``r_mm`` from the centre (no skull taper)."""
        r = np.asarray(r_mm, dtype=np.float32)
        big_r, d, lam = np.float32(self.radius_mm), np.float32(self.displacement_mm), np.float32(self.decay_mm)
        tail = np.float32(np.exp(-SUPPORT_DECAYS))
        t = np.maximum(r - big_r, np.float32(0.0)) / lam
        outside = d * (np.exp(-t) - tail) / (np.float32(1.0) - tail)
        u = np.where(r < big_r, d * r / big_r, np.maximum(outside, np.float32(0.0)))
        return u.astype(np.float32)

    @property
    def min_jacobian(self) -> float:
        """Jacobian floor enforced around the lesion: MIN_JACOBIAN, or half the analytic radial minimum if lower.

        Just outside the lesion the radial map has det = (1 + d / (l (1 - e^-4))) (1 - d/R)^2,
        its smallest value, which is small for d close to R (strong stretching, no fold).
        """
        d, big_r, lam = self.displacement_mm, self.radius_mm, self.decay_mm
        analytic = (1.0 + d / (lam * (1.0 - np.exp(-SUPPORT_DECAYS)))) * (1.0 - d / big_r) ** 2
        return float(min(MIN_JACOBIAN, 0.5 * analytic))

    def _field(self, labels: np.ndarray, spacing: np.ndarray, taper_mm: float) -> dict[str, Any]:
        """Box, backward coordinates (global voxel indices), movable mask, |u| (mm) and voxels to check."""
        box = box_around(self.centre_vox, self.support_mm + 1.0, spacing, labels.shape)
        ox, oy, oz = offsets_mm(box, self.centre_vox, spacing)
        r = np.sqrt(ox * ox + oy * oy + oz * oz)
        u = self.radial_displacement_mm(r)
        scale = np.where(r > 0, u / np.where(r > 0, r, np.float32(1.0)), np.float32(0.0)).astype(np.float32)
        movable = _movable(labels[box])
        # Skull taper: w = distance to the nearest non-movable voxel / taper_mm, clipped
        # to [0, 1], so |grad w| <= 1/taper_mm (thin dura sheets included).
        if movable.all():
            w = np.ones(movable.shape, dtype=np.float32)
        else:
            dist = ndimage.distance_transform_edt(movable, sampling=spacing).astype(np.float32)
            w = np.clip(dist / np.float32(taper_mm), 0.0, 1.0).astype(np.float32)
        scale *= w
        coords = np.empty((3, *r.shape), dtype=np.float32)
        for ax, (o, sl, sp) in enumerate(zip((ox, oy, oz), box, spacing, strict=True)):
            base = np.arange(sl.start, sl.stop, dtype=np.float32).reshape(o.shape)
            coords[ax] = base - (o * scale) / np.float32(sp)
        # Inside the lesion the map is a uniform contraction, det = (1 - d/R)^3 > 0 by
        # design (that tissue is painted over); check the surrounding brain only.
        # The central-difference stencil straddles r = R within one voxel: skip that shell.
        check = movable & (r >= np.float32(self.radius_mm + 1.5 * float(spacing.max())))
        umag = (scale * r).astype(np.float32)
        return {"box": box, "coords": coords, "movable": movable, "umag": umag, "check": check}

    def _solve(self, labels: np.ndarray, affine: np.ndarray) -> dict[str, Any]:
        spacing = voxel_spacing_mm(check_ras(affine))
        taper = self.taper_mm
        for _ in range(4):
            f = self._field(labels, spacing, taper)
            if self.displacement_mm == 0 or min(f["coords"].shape[1:]) < 2:
                return f
            if float(jacobian_determinant(f["coords"])[f["check"]].min(initial=1.0)) >= self.min_jacobian:
                return f
            taper *= 2.0  # spread the fade-out at the skull over a wider band
        raise RadsynthInputError(
            "displacement_mm",
            self.displacement_mm,
            "a displacement the brain around the lesion can take without folding",
            "Reduce displacement_mm or move the lesion away from the skull.",
        )

    def local_coords(self, labels: np.ndarray, affine: np.ndarray) -> tuple[tuple[slice, ...], np.ndarray]:
        """(box, coords): backward sampling coordinates (3, *box_shape) in global voxel indices.

        Outside ``box`` the map is the identity. The skull taper is widened (x2,
        up to 3 times) until the Jacobian determinant in the brain around the
        lesion is >= :attr:`min_jacobian`; RadsynthInputError if that fails.
        """
        f = self._solve(labels, affine)
        return f["box"], f["coords"]

    def coords(self, labels: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """Backward sampling coordinates (3, *labels.shape) float32 for core.warp.warp_labels / warp_image.

        The warp only (step 1); :meth:`apply` adds the CSF effacement.
        """
        grid = identity_grid(labels.shape)
        box, local = self.local_coords(labels, affine)
        grid[(slice(None), *box)] = local
        return grid

    def apply(self, labels: np.ndarray, affine: np.ndarray) -> np.ndarray:
        """Deformed copy of ``labels`` (int16): warp, then CSF effacement. Extra-cranial voxels never change.

        An intracranial output voxel takes the warped label only if it was sampled
        from an intracranial position, so skull/scalp/dura are never copied inward.
        """
        f = self._solve(labels, affine)
        box, local, movable = f["box"], f["coords"], f["movable"]
        sub = labels[box]
        warped = warp_labels(labels, local)
        origin = np.array([s.start for s in box], dtype=np.float32).reshape(3, 1, 1, 1)
        from_movable = ndimage.map_coordinates(movable, local - origin, order=0, mode="constant", cval=False)
        new = np.where(movable & from_movable.astype(bool), warped, sub)
        if self.effacement > 0 and self.displacement_mm > 0:
            new = self._efface(new, movable, f["umag"], voxel_spacing_mm(check_ras(affine)))
        out = labels.copy()
        out[box] = new
        return out

    def _efface(self, sub: np.ndarray, movable: np.ndarray, umag: np.ndarray, spacing: np.ndarray) -> np.ndarray:
        """Grow parenchyma labels into CSF voxels up to ``effacement * |u|`` mm (one voxel per step)."""
        reach = np.float32(self.effacement) * umag
        step = float(spacing.min())
        csf = label_mask(sub, EFFACEABLE_CSF) & movable & (reach >= step)
        if not csf.any():
            return sub
        grow = np.where(label_mask(sub, PARENCHYMA), sub, np.int16(0)).astype(sub.dtype)
        for k in range(1, int(np.floor(float(reach.max()) / step)) + 1):
            allowed = csf & (reach >= k * step) & (grow == 0)
            if not allowed.any():
                break
            # label of a face neighbour (the largest id, a deterministic tie-break)
            neigh = ndimage.grey_dilation(grow, footprint=_CROSS, mode="constant", cval=0)
            newly = allowed & (neigh > 0)
            if not newly.any():
                break
            grow[newly] = neigh[newly]
        filled = csf & (grow > 0)
        out = sub.copy()
        out[filled] = grow[filled]
        return out
