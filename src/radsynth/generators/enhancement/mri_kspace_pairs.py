"""Cartesian k-space undersampling of MR magnitude slices, and simulated brain MRI slices to train on.

Conventions (MONAI ``monai.apps.reconstruction`` / fastMRI): a 2-D slice (rows, columns) has the centred,
orthonormal k-space ``F(x) = fftshift(fft2(ifftshift(x)), norm="ortho")``
(``monai.networks.blocks.fft_utils_t.fftn_centered_t``); a 1-D Cartesian mask keeps whole k-space COLUMNS
(phase encodes along the last axis), all ``round(n * center_fraction)`` central columns plus others.

Masks: :func:`sample_mask` is the random component: it draws a fastMRI-style mask with MONAI's
``RandomKspaceMask`` (uniform random columns, expected ``n / acceleration`` of them) or
``EquispacedKspaceMask`` from a seed, and returns :class:`MaskParams`, which records everything (pattern,
acceleration, centre fraction, seed, the sampled column indices). :func:`mask_array` is its deterministic twin:
params -> boolean column mask, and :func:`undersample` applies it: image -> (masked k-space, zero-filled
magnitude ``|F^-1(m * F(x))|``).

Training data (:func:`simulate_mri_slices`): the ``mri-brain`` physics generator (shipped label maps, T1w / T2w /
FLAIR, Rician noise and the generator's artefacts included: the "fully sampled" image is what the simulator
acquires), slices in the three planes through the brain, zero-padded (centred) or centre-cropped to
``size`` x ``size``, each divided by its 99.5th percentile. Subject ``i`` uses seed ``seed + i``; every third
subject has a tumour and every fifth a stroke. No real image is used.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.config_base import ConfigCreateMixin

#: shipped default: 4x acceleration, 8 % fully sampled centre (fastMRI knee / brain 4x setting)
DEFAULT_ACCELERATION, DEFAULT_CENTER_FRACTION = 4.0, 0.08


class MaskParams(BaseModel):
    """A drawn 1-D Cartesian mask: everything needed to rebuild it (:func:`mask_array`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: Literal["random", "equispaced"] = "random"
    acceleration: float = Field(DEFAULT_ACCELERATION, ge=1.0, le=32.0)
    center_fraction: float = Field(DEFAULT_CENTER_FRACTION, gt=0.0, le=1.0)
    n_columns: int = Field(..., ge=8)
    seed: int = 0
    columns: tuple[int, ...] = Field(..., description="sampled k-space column indices (ascending)")

    @property
    def realised_acceleration(self) -> float:
        return self.n_columns / max(len(self.columns), 1)


def sample_mask(n_columns: int, acceleration: float = DEFAULT_ACCELERATION,
                center_fraction: float = DEFAULT_CENTER_FRACTION, seed: int = 0,
                pattern: str = "random") -> MaskParams:
    """Draw a mask with MONAI's ``RandomKspaceMask`` / ``EquispacedKspaceMask`` seeded by ``seed`` (random part)."""
    import torch
    from monai.apps.reconstruction.transforms.array import EquispacedKspaceMask, RandomKspaceMask

    if pattern not in ("random", "equispaced"):
        raise RadsynthInputError("pattern", pattern, "'random' or 'equispaced'")
    if not 1.0 <= float(acceleration) <= 32.0:
        raise RadsynthInputError("acceleration", acceleration, "a number in 1..32 (e.g. 4)")
    if not 0.0 < float(center_fraction) <= 1.0 / float(acceleration):
        raise RadsynthInputError("center_fraction", center_fraction, f"a fraction in (0, 1/acceleration = {1 / acceleration:.3g}]")
    if int(n_columns) < 8:
        raise RadsynthInputError("n_columns", n_columns, "at least 8 k-space columns")
    cls = RandomKspaceMask if pattern == "random" else EquispacedKspaceMask
    t = cls(center_fractions=[float(center_fraction)], accelerations=[float(acceleration)], spatial_dims=2,
            is_complex=True)
    t.set_random_state(seed=int(seed) % (2 ** 32))
    t(torch.zeros(1, 1, int(n_columns), 2))
    cols = np.flatnonzero(np.asarray(t.mask).reshape(-1) > 0)
    return MaskParams(pattern=pattern, acceleration=float(acceleration), center_fraction=float(center_fraction),
                      n_columns=int(n_columns), seed=int(seed), columns=tuple(int(c) for c in cols))


def mask_array(params: MaskParams) -> np.ndarray:
    """Deterministic twin of :func:`sample_mask`: the boolean column mask (n_columns,)."""
    m = np.zeros(params.n_columns, bool)
    m[list(params.columns)] = True
    return m


def fft2c(x: Any) -> Any:
    """Centred orthonormal 2-D FFT over the last two axes (MONAI ``fftn_centered_t``): real or complex in,
    complex out. numpy in -> numpy complex64 out; torch in -> torch complex64 out."""
    return _fft(x, inverse=False)


def ifft2c(k: Any) -> Any:
    """Inverse of :func:`fft2c` (MONAI ``ifftn_centered_t``)."""
    return _fft(k, inverse=True)


def _fft(x: Any, inverse: bool) -> Any:
    import torch
    from monai.networks.blocks.fft_utils_t import fftn_centered_t, ifftn_centered_t

    is_np = isinstance(x, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(x)) if is_np else x
    if t.is_complex():
        t = torch.view_as_real(t.to(torch.complex64))
        cplx = True
    else:
        t = t.to(torch.float32)
        cplx = False
    out = (ifftn_centered_t if inverse else fftn_centered_t)(t, spatial_dims=2, is_complex=cplx)
    out = torch.view_as_complex(out.contiguous())
    return out.numpy() if is_np else out


def undersample(image: np.ndarray, params: MaskParams | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(masked k-space complex64 (..., H, W), zero-filled magnitude float32 (..., H, W)) of magnitude slices."""
    x = np.asarray(image, np.float32)
    m = mask_array(params) if isinstance(params, MaskParams) else np.asarray(params, bool)
    if x.ndim < 2 or x.shape[-1] != m.shape[0]:
        raise RadsynthInputError("image", list(x.shape), f"slices (..., H, W) with W = {m.shape[0]} mask columns")
    k = fft2c(x) * m
    return k.astype(np.complex64), np.abs(ifft2c(k)).astype(np.float32)


def fit_frame(sl: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop or zero-pad a 2-D slice to ``size`` x ``size``."""
    out = np.zeros((size, size), np.float32)
    h, w = sl.shape
    sh, sw = max(0, (h - size) // 2), max(0, (w - size) // 2)
    src = sl[sh:sh + size, sw:sw + size]
    oh, ow = (size - src.shape[0]) // 2, (size - src.shape[1]) // 2
    out[oh:oh + src.shape[0], ow:ow + src.shape[1]] = src
    return out


def normalise_slice(sl: np.ndarray, q: float = 99.5) -> np.ndarray:
    s = float(np.percentile(sl, q))
    return (sl / s if s > 0 else sl).astype(np.float32)


class MRISlicesConfig(ConfigCreateMixin, BaseModel):
    """What to simulate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_subjects: int = Field(24, ge=1, le=256)
    sequences: tuple[str, ...] = ("T1w", "T2w", "FLAIR")
    planes: tuple[str, ...] = Field(("axial", "coronal", "sagittal"), description="slice planes taken")
    slices_per_plane: int = Field(12, ge=1, le=128, description="per subject, sequence and plane, evenly spaced")
    voxel_mm: float = Field(1.75, ge=1.0, le=4.0, description="isotropic voxel of the simulated volume")
    size: int = Field(128, ge=32, le=512, description="slice frame (pixels)")
    min_head_fraction: float = Field(0.25, ge=0, le=1, description="slices with less head (of the frame) are skipped")
    seed: int = 0


@dataclass
class MRISlices:
    """``images[s]``: a normalised fully sampled simulated slice (float32, size x size)."""

    images: np.ndarray  # (S, size, size)
    subject: np.ndarray  # (S,)
    sequence: np.ndarray  # (S,) str
    plane: np.ndarray  # (S,) str
    seconds: float


_PLANE_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}


def simulate_mri_slices(cfg: MRISlicesConfig, progress: bool = False) -> MRISlices:
    """Simulate ``cfg.n_subjects`` brains with the ``mri-brain`` generator and cut normalised slices."""
    from radsynth.cohort.generator import SubjectPlan
    from radsynth.physics.mri.brain_generator import BrainMRIConfig, BrainMRIGenerator

    bad = [p for p in cfg.planes if p not in _PLANE_AXIS]
    if bad:
        raise RadsynthInputError("planes", bad, "axial, coronal, sagittal")
    gen = BrainMRIGenerator(BrainMRIConfig(sequences=list(cfg.sequences), work_resolution_mm=2,
                                           voxel_size_mm=(cfg.voxel_mm,) * 3, add_t1c_for_tumour=False))
    t0 = time.perf_counter()
    imgs, subj, seqs, planes = [], [], [], []
    for i in range(cfg.n_subjects):
        rng = np.random.default_rng([cfg.seed, i])
        plan = SubjectPlan(index=i, subject_id=f"sub-{i + 1:04d}", seed=cfg.seed + i,
                           labels={"tumour": i % 3 == 1, "stroke": i % 5 == 3},
                           attributes={"age_years": int(rng.integers(20, 85)), "sex": "F" if i % 2 else "M"},
                           formats=("nifti",))
        rec = gen.generate(plan)
        head = rec.mask("labels").array > 0
        for seq in cfg.sequences:
            vol = np.asarray(rec.image(seq).array, np.float32)
            for plane in cfg.planes:
                ax = _PLANE_AXIS[plane]
                frac = np.moveaxis(head, ax, 0).reshape(head.shape[ax], -1).sum(1) / float(cfg.size ** 2)
                cand = np.flatnonzero(frac >= cfg.min_head_fraction)
                if not len(cand):
                    continue
                for z in cand[np.unique(np.linspace(0, len(cand) - 1, cfg.slices_per_plane).round().astype(int))]:
                    sl = np.take(vol, int(z), axis=ax)
                    imgs.append(normalise_slice(fit_frame(np.rot90(sl), cfg.size)))
                    subj.append(i)
                    seqs.append(seq)
                    planes.append(plane)
        if progress:
            print(f"  subject {i + 1}/{cfg.n_subjects}: {len(imgs)} slices, {time.perf_counter() - t0:.0f} s", flush=True)
    return MRISlices(np.stack(imgs), np.asarray(subj), np.asarray(seqs), np.asarray(planes),
                     round(time.perf_counter() - t0, 1))
