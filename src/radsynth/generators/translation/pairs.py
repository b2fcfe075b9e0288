"""Paired MR contrasts of the same anatomy, simulated by the ``mri-brain`` physics (no real image is used).

Subject ``i`` (seed ``seed + i``) has a glioma when ``i`` is even and an ischaemic stroke when ``i % 3 != 0`` (as
:mod:`radsynth.generators.mask_guided.data`), so lesions are translated too. Every ``slice_stride``-th axial slice
with at least ``min_brain_fraction`` of brain in the frame is zero-padded to a square and area-resized to
``size`` x ``size``; each contrast goes through :func:`normalise_slice` (the rule a real slice gets in
``radsynth translate``: no brain mask is needed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.generators.common.config_base import ConfigCreateMixin

CONTRASTS = ("T1w", "T2w", "FLAIR")
#: foreground = pixels above this fraction of the slice's maximum (the air around the head is below it)
FOREGROUND_FRACTION = 0.05


def normalise_slice(x: np.ndarray, q: float = 99.5) -> np.ndarray:
    """A magnitude slice (any scale) -> [-1, 1]: divided by the ``q`` percentile of its foreground (pixels above
    ``FOREGROUND_FRACTION`` of the maximum), clipped to [0, 1], times 2 minus 1. MR grey values have no absolute
    scale, so each slice is scaled by its own bright end; an empty slice maps to -1."""
    a = np.nan_to_num(np.asarray(x, np.float64))
    a = a - min(0.0, float(a.min()))  # magnitude images are >= 0; a shifted one is moved back
    top = float(a.max())
    if top <= 0:
        return np.full(a.shape, -1.0, np.float32)
    fg = a[a > FOREGROUND_FRACTION * top]
    s = float(np.percentile(fg, q)) if fg.size else top
    return (np.clip(a / (s if s > 0 else top), 0.0, 1.0) * 2.0 - 1.0).astype(np.float32)


class ContrastPairsConfig(ConfigCreateMixin, BaseModel):
    """What to simulate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_subjects: int = Field(24, ge=1, le=512)
    size: int = Field(64, ge=16, le=256)
    min_brain_fraction: float = Field(0.12, ge=0, le=1, description="slices with less brain (of the frame) skipped")
    slice_stride: int = Field(1, ge=1, description="take every n-th brain slice")
    seed: int = 0


@dataclass
class ContrastPairs:
    images: dict[str, np.ndarray]  # contrast -> (S, size, size) float32 in [-1, 1], same slices for every contrast
    brain: np.ndarray  # (S, size, size) bool
    subject: np.ndarray  # (S,)
    seconds: float


def simulate_contrast_pairs(cfg: ContrastPairsConfig, progress: bool = False) -> ContrastPairs:
    from radsynth.generators.common.slices import brain_and_lesion, resize_area, training_plan
    from radsynth.physics.mri.brain_generator import BrainMRIConfig, BrainMRIGenerator

    gen = BrainMRIGenerator(BrainMRIConfig(sequences=list(CONTRASTS), work_resolution_mm=2, voxel_size_mm=(2.0,) * 3,
                                           add_t1c_for_tumour=False))
    t0 = time.perf_counter()
    imgs: dict[str, list[np.ndarray]] = {c: [] for c in CONTRASTS}
    brs, subj = [], []
    for i in range(cfg.n_subjects):
        rec = gen.generate(training_plan(i, cfg.seed)[0])
        _, brain3, _ = brain_and_lesion(rec)
        nz = brain3.shape[2]
        bfrac = brain3.reshape(-1, nz).sum(0) / float(max(brain3.shape[0], brain3.shape[1]) ** 2)
        for z in np.flatnonzero(bfrac >= cfg.min_brain_fraction)[::cfg.slice_stride]:
            b = resize_area(np.rot90(brain3[:, :, z]).astype(np.float32), cfg.size) > 0.5
            for c in CONTRASTS:
                vol = np.asarray(rec.image(c).array, np.float32)
                imgs[c].append(normalise_slice(resize_area(np.rot90(vol[:, :, z]), cfg.size)))
            brs.append(b)
            subj.append(i)
        if progress:
            print(f"  subject {i + 1}/{cfg.n_subjects}: {len(brs)} slices, {time.perf_counter() - t0:.0f} s", flush=True)
    return ContrastPairs({c: np.stack(v) for c, v in imgs.items()}, np.stack(brs), np.asarray(subj),
                         round(time.perf_counter() - t0, 1))
