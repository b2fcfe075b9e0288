"""Clinical 2D multi-slice protocol geometry: slice thickness and gap, in-plane pixel, field of view, positioning.

Research 3D acquisitions are 1 mm isotropic; routine clinical brain MRI is mostly 2D multi-slice: axial
slices 4-6 mm thick with a 0-30 % gap, in-plane pixels of 0.4-1 mm over a 220-250 mm square field of view
(ACR MRI accreditation brain protocol: slice thickness <= 5 mm, gap <= 2 mm, in-plane <= 1 mm; ESNR/ASNR
routine brain protocols; Wardlaw JM et al., Lancet Neurol 2013;12:822-838 STRIVE table of typical
parameters), the stack positioned by the radiographer, so the head sits off-centre by some millimetres and
the first slice falls anywhere relative to the anatomy.

:class:`ClinicalProtocol` is the deterministic twin (every value recorded), :class:`RandomClinicalProtocol`
draws one per subject. The protocol does two things, both applied to the **label map** so images and masks
share one grid exactly:

1. :meth:`ClinicalProtocol.field_of_view`: crops / zero-pads (background label 0) the in-plane axes to the
   square FOV centred on the head's centroid plus the positioning offset, and drops the first
   ``slice_offset_mm`` along the slice axis (the stack's phase relative to the anatomy). Integer voxels on
   the anatomy grid: no interpolation, so a signal simulated from the cropped labels equals the crop of the
   signal simulated from the whole map.
2. :meth:`ClinicalProtocol.acquisition_geometry`: the acquisition voxel size (in-plane pixel, in-plane
   pixel, slice spacing) and the slice gap for :class:`radsynth.physics.mri.acquisition.Acquisition`,
   whose partial-volume step averages each slice over its thickness only (gaps are not sampled) and whose
   label resampling uses the same overlap matrices (:func:`radsynth.physics.mri.partial_volume.slab_matrix`).

Rectangular field of view: routine axial brain protocols encode phase left-right and cut the phase FOV to
75-90 % of the read-out FOV (the head is narrower than it is long; fewer phase steps, shorter scan; e.g.
Siemens "FOV phase" 75-87.5 %, GE "phase FOV" 0.75-0.9), so clinical exports are taller than wide (e.g. 256 x 192
pixels). ``phase_fov_fraction`` < 1 narrows the left-right axis to that fraction of ``fov_mm``. The FOV is
assumed to hold the head, as the radiographer sets it: head outside it is cut off, not folded over
(no wrap-around aliasing is simulated).

Tilt: the per-subject head rotation of :class:`radsynth.anatomy.deformation.RandomHeadDeformation` already
tilts the anatomy against the slice stack (``deformation.rotation_deg`` in the generator config).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.checks import in_range, range_pair
from radsynth.core.errors import RadsynthInputError


def slice_axis_of(affine: np.ndarray) -> int:
    """Array axis closest to the S (superior) direction: the axial slice axis."""
    a = np.asarray(affine, dtype=np.float64)
    return int(np.argmax(np.abs(a[2, :3]) / np.maximum(np.linalg.norm(a[:3, :3], axis=0), 1e-12)))


def left_right_axis_of(affine: np.ndarray) -> int:
    """Array axis closest to the R (left-right) direction: the phase-encoding axis of an axial brain protocol."""
    a = np.asarray(affine, dtype=np.float64)
    return int(np.argmax(np.abs(a[0, :3]) / np.maximum(np.linalg.norm(a[:3, :3], axis=0), 1e-12)))


@dataclass(frozen=True)
class ClinicalProtocol:
    """One protocol (all mm): slice thickness and gap, in-plane pixel, FOV (read-out; the left-right phase axis
    ``phase_fov_fraction`` of it), positioning offsets."""

    slice_thickness_mm: float = 5.0
    slice_gap_mm: float = 1.0
    in_plane_mm: float = 1.0
    fov_mm: float = 230.0
    fov_offset_mm: tuple[float, float] = (0.0, 0.0)
    slice_offset_mm: float = 0.0
    phase_fov_fraction: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "slice_thickness_mm", in_range("protocol.slice_thickness_mm", self.slice_thickness_mm, 0.5, 10.0, "mm"))
        object.__setattr__(self, "slice_gap_mm", in_range("protocol.slice_gap_mm", self.slice_gap_mm, 0.0, 10.0, "mm"))
        object.__setattr__(self, "in_plane_mm", in_range("protocol.in_plane_mm", self.in_plane_mm, 0.5, 3.0, "mm"))
        object.__setattr__(self, "fov_mm", in_range("protocol.fov_mm", self.fov_mm, 100.0, 400.0, "mm"))
        off = tuple(self.fov_offset_mm)
        if len(off) != 2 or not all(np.isfinite(off)) or any(abs(x) > 100 for x in off):
            raise RadsynthInputError("protocol.fov_offset_mm", self.fov_offset_mm, "two in-plane offsets within +-100 mm")
        object.__setattr__(self, "fov_offset_mm", (float(off[0]), float(off[1])))
        object.__setattr__(self, "slice_offset_mm", in_range("protocol.slice_offset_mm", self.slice_offset_mm, 0.0, 20.0, "mm"))
        object.__setattr__(self, "phase_fov_fraction",
                           in_range("protocol.phase_fov_fraction", self.phase_fov_fraction, 0.5, 1.0, "of fov_mm"))

    @property
    def slice_spacing_mm(self) -> float:
        return self.slice_thickness_mm + self.slice_gap_mm

    def field_of_view(self, labels: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(labels cropped / zero-padded to the protocol's FOV and slice phase, their affine); see the module doc."""
        labels = np.asarray(labels)
        a = np.asarray(affine, dtype=np.float64)
        if labels.ndim != 3 or a.shape != (4, 4):
            raise RadsynthInputError("labels", f"array of shape {labels.shape}", "a 3D label map with a 4x4 affine")
        vox = np.linalg.norm(a[:3, :3], axis=0)
        s_ax = slice_axis_of(a)
        in_plane = [ax for ax in range(3) if ax != s_ax]
        fg = np.nonzero(labels)
        lr_axis = left_right_axis_of(a)
        starts = [0, 0, 0]
        stops = list(labels.shape)
        for ax, off in zip(in_plane, self.fov_offset_mm):
            fov = self.fov_mm * (self.phase_fov_fraction if ax == lr_axis else 1.0)
            n = max(1, int(round(fov / vox[ax])))
            centre = float(fg[ax].mean()) if fg[0].size else (labels.shape[ax] - 1) / 2.0
            s = int(round(centre + off / vox[ax] - (n - 1) / 2.0))
            starts[ax], stops[ax] = s, s + n
        starts[s_ax] = min(int(round(self.slice_offset_mm / vox[s_ax])), labels.shape[s_ax] - 1)
        out = np.zeros(tuple(e - b for b, e in zip(starts, stops)), dtype=labels.dtype)
        src = tuple(slice(max(b, 0), min(e, n)) for b, e, n in zip(starts, stops, labels.shape))
        dst = tuple(slice(max(b, 0) - b, min(e, n) - b) for b, e, n in zip(starts, stops, labels.shape))
        out[dst] = labels[src]
        new = a.copy()
        new[:3, 3] = a[:3, 3] + a[:3, :3] @ np.asarray(starts, dtype=np.float64)
        return out, new

    def acquisition_geometry(self, affine: np.ndarray) -> dict[str, Any]:
        """``voxel_size_mm`` (per array axis) and ``slice_gap_mm`` / ``slice_axis`` for the Acquisition."""
        s_ax = slice_axis_of(affine)
        vs = [self.in_plane_mm] * 3
        vs[s_ax] = self.slice_thickness_mm
        return {"voxel_size_mm": tuple(vs), "slice_gap_mm": self.slice_gap_mm, "slice_axis": s_ax}

    def to_dict(self) -> dict[str, Any]:
        d = {"slice_thickness_mm": self.slice_thickness_mm, "slice_gap_mm": self.slice_gap_mm,
             "in_plane_mm": self.in_plane_mm, "fov_mm": self.fov_mm, "fov_offset_mm": list(self.fov_offset_mm),
             "slice_offset_mm": self.slice_offset_mm}
        if self.phase_fov_fraction != 1.0:  # square FOV records stay as they were before the field existed
            d["phase_fov_fraction"] = self.phase_fov_fraction
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClinicalProtocol:
        return cls(float(d["slice_thickness_mm"]), float(d["slice_gap_mm"]), float(d["in_plane_mm"]),
                   float(d["fov_mm"]), tuple(d["fov_offset_mm"]), float(d["slice_offset_mm"]),
                   float(d.get("phase_fov_fraction", 1.0)))


@dataclass(frozen=True)
class RandomClinicalProtocol:
    """Ranges (mm) drawn uniformly per subject; the gap as a fraction of the thickness; the slice phase in
    [0, spacing); the in-plane pixel from ``in_plane_mm`` (choices, e.g. 1.0 only on a 1 mm anatomy grid:
    finer pixels than the anatomy add no detail); the phase FOV fraction from ``phase_fov_fraction`` (drawn only
    when the range is not (1, 1), so square-FOV specs draw exactly what they drew before the field existed)."""

    slice_thickness_mm: tuple[float, float] = (4.0, 6.0)
    slice_gap_fraction: tuple[float, float] = (0.0, 0.3)
    in_plane_mm: tuple[float, ...] = (1.0,)
    fov_mm: tuple[float, float] = (220.0, 250.0)
    fov_offset_mm: float = 10.0
    phase_fov_fraction: tuple[float, float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "phase_fov_fraction",
                           range_pair("protocol.phase_fov_fraction", self.phase_fov_fraction, 0.5, 1.0))
        object.__setattr__(self, "slice_thickness_mm", range_pair("protocol.slice_thickness_mm", self.slice_thickness_mm, 0.5, 10.0))
        object.__setattr__(self, "slice_gap_fraction", range_pair("protocol.slice_gap_fraction", self.slice_gap_fraction, 0.0, 1.0))
        ip = tuple(float(x) for x in np.atleast_1d(self.in_plane_mm))
        if not ip or any(not 0.5 <= x <= 3.0 for x in ip):
            raise RadsynthInputError("protocol.in_plane_mm", self.in_plane_mm, "one or more pixel sizes in 0.5..3 mm")
        object.__setattr__(self, "in_plane_mm", ip)
        object.__setattr__(self, "fov_mm", range_pair("protocol.fov_mm", self.fov_mm, 100.0, 400.0))
        object.__setattr__(self, "fov_offset_mm", in_range("protocol.fov_offset_mm", self.fov_offset_mm, 0.0, 100.0, "mm"))

    def sample(self, rng: np.random.Generator) -> ClinicalProtocol:
        t = float(rng.uniform(*self.slice_thickness_mm))
        gap = float(t * rng.uniform(*self.slice_gap_fraction))
        ip = self.in_plane_mm[int(rng.integers(len(self.in_plane_mm)))]
        fov = float(rng.uniform(*self.fov_mm))
        off = tuple(float(x) for x in rng.uniform(-self.fov_offset_mm, self.fov_offset_mm, size=2))
        phase = float(rng.uniform(0.0, min(t + gap, 20.0)))
        lo, hi = self.phase_fov_fraction
        frac = 1.0 if lo == hi == 1.0 else float(rng.uniform(lo, hi))
        return ClinicalProtocol(t, gap, ip, fov, off, phase, frac)
