"""Paired lesion-mask / FLAIR slices simulated by the ``mri-brain`` physics (no real image is used).

Subject ``i`` (seed ``seed + i``) has a glioma when ``i`` is even and an ischaemic stroke when ``i % 3 != 0``
(so most subjects carry a lesion, some two, some none). The volume is simulated at 2 mm; axial slices
(the volume's last axis) through the brain are zero-padded to a square, area-resized to ``size`` x ``size``.
Grey values: the slice divided by the 99.5th percentile of its brain voxels, clipped to [0, 1], mapped to
[-1, 1]. Masks: ``lesion`` = ``tumour_whole`` OR ``infarct`` (area-resized, > 0.5), ``brain`` = anatomy labels
inside the intracranial space (label 1..499 or lesion labels >= 1000).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.generators.common.config_base import ConfigCreateMixin
from radsynth.generators.common.slices import brain_and_lesion, resize_area  # noqa: F401 - re-exported


class LesionSlicesConfig(ConfigCreateMixin, BaseModel):
    """What to simulate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_subjects: int = Field(24, ge=1, le=512)
    sequence: str = "FLAIR"
    size: int = Field(64, ge=16, le=256)
    min_brain_fraction: float = Field(0.12, ge=0, le=1, description="slices with less brain (of the frame) skipped")
    min_lesion_pixels: int = Field(6, ge=1, description="a slice counts as a lesion slice from this many pixels")
    lesion_stride: int = Field(1, ge=1, description="take every n-th lesion slice")
    normal_per_subject: int = Field(3, ge=0, description="slices without lesion per subject")
    seed: int = 0


@dataclass
class LesionSlices:
    images: np.ndarray  # (S, size, size) float32 in [-1, 1]
    lesion: np.ndarray  # (S, size, size) bool
    brain: np.ndarray  # (S, size, size) bool
    subject: np.ndarray  # (S,)
    seconds: float


def to_unit(sl: np.ndarray, brain: np.ndarray, q: float = 99.5) -> np.ndarray:
    """Slice -> [-1, 1]: divided by the brain's ``q`` percentile, clipped to [0, 1], times 2 minus 1."""
    ref = sl[brain] if brain.any() else sl
    s = float(np.percentile(ref, q)) if ref.size else 1.0
    return (np.clip(sl / (s if s > 0 else 1.0), 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


def simulate_lesion_slices(cfg: LesionSlicesConfig, progress: bool = False) -> LesionSlices:
    from radsynth.generators.common.slices import training_plan
    from radsynth.physics.mri.brain_generator import BrainMRIConfig, BrainMRIGenerator

    gen = BrainMRIGenerator(BrainMRIConfig(sequences=[cfg.sequence], work_resolution_mm=2, voxel_size_mm=(2.0,) * 3,
                                           add_t1c_for_tumour=False))
    t0 = time.perf_counter()
    imgs, les, brs, subj = [], [], [], []
    for i in range(cfg.n_subjects):
        plan, rng = training_plan(i, cfg.seed)
        rec = gen.generate(plan)
        lab, brain3, lesion3 = brain_and_lesion(rec)
        vol = np.asarray(rec.image(cfg.sequence).array, np.float32)
        nz = vol.shape[2]
        bfrac = brain3.reshape(-1, nz).sum(0) / float(max(vol.shape[0], vol.shape[1]) ** 2)
        lpix = lesion3.reshape(-1, nz).sum(0) * (cfg.size / max(vol.shape[0], vol.shape[1])) ** 2
        ok = bfrac >= cfg.min_brain_fraction
        with_l = np.flatnonzero(ok & (lpix >= cfg.min_lesion_pixels))[::cfg.lesion_stride]
        without = np.flatnonzero(ok & (lesion3.reshape(-1, nz).sum(0) == 0))
        if len(without) and cfg.normal_per_subject:
            without = rng.choice(without, min(cfg.normal_per_subject, len(without)), replace=False)
        else:
            without = without[:0]
        for z in sorted(set(with_l.tolist()) | set(without.tolist())):
            b = resize_area(np.rot90(brain3[:, :, z]).astype(np.float32), cfg.size) > 0.5
            m = resize_area(np.rot90(lesion3[:, :, z]).astype(np.float32), cfg.size) > 0.5
            im = resize_area(np.rot90(vol[:, :, z]), cfg.size)
            imgs.append(to_unit(im, b))
            les.append(m & b)
            brs.append(b)
            subj.append(i)
        if progress:
            print(f"  subject {i + 1}/{cfg.n_subjects}: {len(imgs)} slices, {time.perf_counter() - t0:.0f} s", flush=True)
    return LesionSlices(np.stack(imgs), np.stack(les), np.stack(brs), np.asarray(subj),
                        round(time.perf_counter() - t0, 1))
