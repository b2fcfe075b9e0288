"""Acquisition: from a noise-free 1 mm signal image to the final magnitude image.

Order of operations (each step a deterministic twin whose parameters are returned):

1. partial volume: area averaging to the acquisition voxel size (:mod:`.partial_volume`);
2. receive bias field, multiplicative (:mod:`.bias_field`);
3. k-space artefacts, all diagonal in k-space and applied with one FFT pair along the
   affected axes: truncation / Gibbs ringing (:mod:`.gibbs_ringing`), periodic motion
   ghosting (:mod:`.motion_ghosting`), Cartesian undersampling with zero filling
   (:mod:`.undersampling`), the reconstruction's apodisation filter (:mod:`.kspace_filter`,
   over the acquired, possibly truncated, matrix);
4. complex Gaussian noise with sigma = (mean noise-free reference-tissue magnitude on the
   acquisition grid) / SNR, then magnitude (:mod:`.rician_noise`); with an apodisation filter
   the noise is filtered by it too (correlated noise, as scanners' images have).

Random draws: the generator gives one child seed per component (bias, gibbs, ghosting,
undersampling, noise) up front, so switching one component on or off does not change the
values drawn for the others. ``acquire(..., sampled=previous_sampled)`` replays an image
bit-exactly without a generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from radsynth.core.checks import check_dataclass_keys, in_range, non_negative, range_pair
from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri._kspace import apply_kspace_weights
from radsynth.physics.mri.bias_field import BiasField, RandomBiasField
from radsynth.physics.mri.gibbs_ringing import GibbsRinging, RandomGibbsRinging, kept_lines
from radsynth.physics.mri.kspace_filter import KSpaceFilter, RandomKSpaceFilter
from radsynth.physics.mri.motion_ghosting import MotionGhosting, RandomMotionGhosting
from radsynth.physics.mri.partial_volume import resample_to_voxel_size
from radsynth.physics.mri.rician_noise import SNR_LIMITS, RandomRicianNoise, RicianNoise, rician_sigma_for_snr
from radsynth.physics.mri.undersampling import CartesianUndersampling, RandomUndersampling

_COMPONENTS = ("bias_field", "gibbs", "ghosting", "undersampling", "noise")
#: Foreground threshold (fraction of the maximum magnitude) used as SNR reference when
#: the reference mask is absent or empty on this grid (e.g. a 2D slice without WM).
FOREGROUND_FRACTION = 0.1


def _pair_or_none(name: str, v: Any, lo: float, hi: float) -> tuple[float, float] | None:
    return None if v is None else range_pair(name, v, lo, hi)


@dataclass(frozen=True)
class Acquisition:
    """Acquisition settings (ranges are sampled per image; a scalar means a fixed value).

    Attributes:
        voxel_size_mm: acquired voxel size, one value or one per axis (mm).
        snr: SNR (mean reference-tissue signal / noise sigma), a value or (low, high)
            sampled log-uniformly; None: no noise.
        bias_field_strength: range c of the bias polynomial coefficients, drawn from
            [-c, c] (TorchIO's ``coefficients``); 0: no bias field.
        bias_order: order of the bias polynomial.
        gibbs: truncate k-space (Gibbs ringing), keeping a central fraction drawn per axis
            from ``gibbs_fraction_range``.
        motion_ghosting: periodic motion ghosting along ``phase_encode_axis`` with period
            ``ghost_period_range`` (lines), ``ghost_amplitude_range``, ``ghost_phase_range_rad`` (rad).
        undersampling_acceleration: acceleration R, a value or (low, high); None: fully sampled.
        undersampling_centre_fraction: fully sampled central fraction of lines.
        phase_encode_axis: array axis of phase encoding (ghosting, undersampling).
        slice_gap_mm: gap between slices along ``slice_axis`` (2D multi-slice protocols): each slice
            averages its thickness (``voxel_size_mm`` on that axis) only; the grid spacing is
            thickness + gap (:mod:`.clinical_protocol`).
        slice_axis: array axis of the slice stack (the gap's axis).
        kspace_filter: reconstruction apodisation windows to draw from (``hamming``, ``hann``,
            ``fermi``), with a strength from ``kspace_filter_strength_range``, over the in-plane
            ``kspace_filter_axes``; None: no filter.
    """

    voxel_size_mm: float | tuple[float, ...] = 1.0
    snr: float | tuple[float, float] | None = 30.0
    bias_field_strength: float = 0.3
    bias_order: int = 3
    gibbs: bool = False
    gibbs_fraction_range: tuple[float, float] = (0.6, 0.9)
    motion_ghosting: bool = False
    ghost_period_range: tuple[float, float] = (2.0, 16.0)
    ghost_amplitude_range: tuple[float, float] = (0.0, 0.2)
    ghost_phase_range_rad: tuple[float, float] = (0.0, 0.5)
    undersampling_acceleration: float | tuple[float, float] | None = None
    undersampling_centre_fraction: float = 0.08
    phase_encode_axis: int = 1
    slice_gap_mm: float = 0.0
    slice_axis: int = 2
    kspace_filter: tuple[str, ...] | None = None
    kspace_filter_strength_range: tuple[float, float] = (0.5, 1.0)
    kspace_filter_axes: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        vs = np.atleast_1d(np.asarray(self.voxel_size_mm, dtype=np.float64))
        if vs.size not in (1, 2, 3) or not np.all(np.isfinite(vs)) or np.any(vs <= 0):
            raise RadsynthInputError("voxel_size_mm", self.voxel_size_mm, "a size > 0 mm or one per axis")
        object.__setattr__(self, "voxel_size_mm", tuple(float(v) for v in vs))
        object.__setattr__(self, "snr", _pair_or_none("snr", self.snr, *SNR_LIMITS))
        for flag in ("gibbs", "motion_ghosting"):
            if not isinstance(getattr(self, flag), bool):
                raise RadsynthInputError(flag, getattr(self, flag), "true or false")
        object.__setattr__(self, "bias_field_strength", non_negative("bias_field_strength", self.bias_field_strength))
        RandomBiasField(self.bias_order, self.bias_field_strength)  # validates the order
        object.__setattr__(self, "gibbs_fraction_range", range_pair("gibbs_fraction_range", self.gibbs_fraction_range, 1e-3, 1.0))
        object.__setattr__(self, "ghost_period_range", range_pair("ghost_period_range", self.ghost_period_range, 1e-3, 1e6))
        object.__setattr__(self, "ghost_amplitude_range", range_pair("ghost_amplitude_range", self.ghost_amplitude_range, 0.0, 1.0))
        object.__setattr__(self, "ghost_phase_range_rad", range_pair("ghost_phase_range_rad", self.ghost_phase_range_rad, 0.0, 2 * math.pi))
        object.__setattr__(
            self, "undersampling_acceleration",
            _pair_or_none("undersampling_acceleration", self.undersampling_acceleration, 1.0, 64.0),
        )
        in_range("undersampling_centre_fraction", self.undersampling_centre_fraction, 0.0, 1.0)
        if int(self.phase_encode_axis) != self.phase_encode_axis or not 0 <= self.phase_encode_axis <= 2:
            raise RadsynthInputError("phase_encode_axis", self.phase_encode_axis, "0, 1 or 2")
        object.__setattr__(self, "slice_gap_mm", in_range("slice_gap_mm", self.slice_gap_mm, 0.0, 20.0))
        if int(self.slice_axis) != self.slice_axis or not 0 <= self.slice_axis <= 2:
            raise RadsynthInputError("slice_axis", self.slice_axis, "0, 1 or 2")
        if self.kspace_filter is not None:
            kf = (self.kspace_filter,) if isinstance(self.kspace_filter, str) else tuple(self.kspace_filter)
            object.__setattr__(self, "kspace_filter", kf)
            object.__setattr__(self, "kspace_filter_axes", tuple(self.kspace_filter_axes))
            self._random_filter()  # validates windows, strength range and axes
            KSpaceFilter(axes=self.kspace_filter_axes)

    def _random_filter(self) -> RandomKSpaceFilter:
        return RandomKSpaceFilter(windows=self.kspace_filter or (), strength_range=self.kspace_filter_strength_range,
                                  axes=self.kspace_filter_axes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Acquisition:
        check_dataclass_keys("acquisition", d, cls)
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


def sample_components(params: Acquisition, ndim: int, rng: np.random.Generator) -> dict[str, Any]:
    """Draw the image-independent twins (bias, gibbs, ghosting, undersampling) and the noise seed stream."""
    seeds = rng.integers(0, 2**63, size=len(_COMPONENTS))
    child = {name: np.random.default_rng(int(s)) for name, s in zip(_COMPONENTS, seeds)}
    out: dict[str, Any] = {"noise_rng": child["noise"]}
    out["bias_field"] = (
        RandomBiasField(params.bias_order, params.bias_field_strength).sample(ndim, child["bias_field"])
        if params.bias_field_strength > 0 else None
    )
    out["gibbs"] = RandomGibbsRinging(params.gibbs_fraction_range).sample(ndim, child["gibbs"]) if params.gibbs else None
    out["ghosting"] = (
        RandomMotionGhosting(params.phase_encode_axis, params.ghost_period_range, params.ghost_amplitude_range,
                             params.ghost_phase_range_rad).sample(child["ghosting"])
        if params.motion_ghosting else None
    )
    out["undersampling"] = (
        RandomUndersampling(params.undersampling_acceleration, params.undersampling_centre_fraction,
                            params.phase_encode_axis).sample(child["undersampling"])
        if params.undersampling_acceleration is not None else None
    )
    # drawn after the others from the parent stream, so adding a filter leaves their values unchanged
    out["kspace_filter"] = (
        params._random_filter().sample(np.random.default_rng(int(rng.integers(0, 2**63))))
        if params.kspace_filter else None
    )
    return out


def gap_per_axis(params: Acquisition, ndim: int) -> list[float] | None:
    """Per-axis gaps (mm) for :func:`resample_to_voxel_size` (None without a slice gap)."""
    if params.slice_gap_mm <= 0 or params.slice_axis >= ndim:
        return None
    g = [0.0] * ndim
    g[params.slice_axis] = params.slice_gap_mm
    return g


def _from_sampled(sampled: Mapping[str, Any]) -> dict[str, Any]:
    def get(key: str, cls: Any) -> Any:
        v = sampled.get(key)
        return None if v is None else cls.from_dict(v)

    return {
        "bias_field": get("bias_field", BiasField),
        "gibbs": get("gibbs", GibbsRinging),
        "ghosting": get("ghosting", MotionGhosting),
        "undersampling": get("undersampling", CartesianUndersampling),
        "kspace_filter": get("kspace_filter", KSpaceFilter),
        "noise": get("noise", RicianNoise),
    }


def _noise_sigma(magnitude: np.ndarray, mask: np.ndarray | None, reference_value: float | None, snr: float) -> tuple[float, str]:
    """sigma = reference signal / SNR: reference mask mean, else ``reference_value``, else foreground mean."""
    if mask is not None and mask.any():
        return rician_sigma_for_snr(magnitude, mask, snr), "reference_mask"
    if reference_value is not None and reference_value > 0:
        return float(reference_value) / float(snr), "reference_value"
    fg = magnitude >= FOREGROUND_FRACTION * float(magnitude.max())
    return rician_sigma_for_snr(magnitude, fg, snr), "foreground"


def acquire(
    signal: np.ndarray,
    affine: np.ndarray,
    acquisition_params: Acquisition,
    rng: np.random.Generator | None = None,
    reference_mask: np.ndarray | None = None,
    sampled: Mapping[str, Any] | None = None,
    reference_value: float | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Acquire a noise-free signal image (2D/3D float32, grid of ``affine``).

    Returns (magnitude image float32, affine of the acquisition grid, sampled) where
    ``sampled`` holds every drawn value (JSON-serialisable). Pass ``sampled`` instead of
    ``rng`` to replay an earlier acquisition bit-exactly. ``reference_mask`` (bool, on the
    signal grid) is the SNR reference tissue; when it is absent or empty on the
    acquisition grid (e.g. a 2D slice without WM), ``reference_value`` (the reference
    tissue's noise-free signal, a.u.) is used, else the mean of the foreground (>= 10 %
    of the maximum); ``sampled["snr_reference"]`` records which.
    """
    params = acquisition_params
    signal = np.asarray(signal)
    if signal.ndim not in (2, 3):
        raise RadsynthInputError("signal", f"array of shape {signal.shape}", "a 2D or 3D image")
    if reference_mask is not None and np.shape(reference_mask) != signal.shape:
        raise RadsynthInputError("reference_mask", f"shape {np.shape(reference_mask)}", f"the signal shape {signal.shape}")
    if sampled is None and rng is None:
        raise RadsynthInputError("rng", None, "a numpy Generator, or the `sampled` dict of an earlier call to replay")

    gaps = gap_per_axis(params, signal.ndim)
    image, new_affine = resample_to_voxel_size(signal, affine, params.voxel_size_mm, gaps)
    ref = None
    if reference_mask is not None:
        ref = np.asarray(reference_mask, dtype=bool)
        if not np.allclose(new_affine, affine):
            frac, _ = resample_to_voxel_size(ref.astype(np.float32), affine, params.voxel_size_mm, gaps)
            ref = frac >= 0.5

    if sampled is not None:
        comp = _from_sampled(sampled)
        noise_rng = None
    else:
        comp = sample_components(params, image.ndim, rng)
        noise_rng = comp.pop("noise_rng")

    if comp["bias_field"] is not None:
        image = comp["bias_field"].apply(image)

    weights: dict[int, np.ndarray] = {}
    for name in ("gibbs", "ghosting", "undersampling"):
        if comp[name] is not None:
            for ax, w in comp[name].kspace_weights(image.shape).items():
                weights[ax] = weights[ax] * w if ax in weights else w
    noise_filter = None
    if comp["kspace_filter"] is not None:
        # the window spans the acquired matrix: the Gibbs-kept lines when k-space is truncated
        half = {}
        if comp["gibbs"] is not None:
            fr = comp["gibbs"]._per_axis(image.ndim)
            half = {ax: kept_lines(image.shape[ax], fr[ax]) / 2.0 for ax in range(image.ndim) if fr[ax] < 1.0}
        noise_filter = comp["kspace_filter"].kspace_weights(image.shape, half)
        for ax, w in noise_filter.items():
            weights[ax] = weights[ax] * w if ax in weights else w
    if weights:
        image = apply_kspace_weights(image, weights)

    out_sampled: dict[str, Any] = {
        "voxel_size_mm": [float(v) for v in np.sqrt((new_affine[:3, : image.ndim] ** 2).sum(axis=0))],
        "bias_field": None if comp["bias_field"] is None else comp["bias_field"].to_dict(),
        "gibbs": None if comp["gibbs"] is None else comp["gibbs"].to_dict(),
        "ghosting": None if comp["ghosting"] is None else comp["ghosting"].to_dict(),
        "undersampling": None if comp["undersampling"] is None else comp["undersampling"].to_dict(),
    }
    if comp["kspace_filter"] is not None:  # key absent without a filter: earlier records replay unchanged
        out_sampled["kspace_filter"] = comp["kspace_filter"].to_dict()

    if sampled is not None:
        noise = comp["noise"]
        for key in ("snr", "snr_reference"):
            if key in sampled:
                out_sampled[key] = sampled[key]
    elif params.snr is not None:
        snr = RandomRicianNoise(params.snr).sample_snr(noise_rng)
        sigma, how = _noise_sigma(np.abs(image), ref, reference_value, snr)
        noise = RicianNoise(sigma, int(noise_rng.integers(0, 2**63)))
        out_sampled["snr"] = float(snr)
        out_sampled["snr_reference"] = how
    else:
        noise = None
    out_sampled["noise"] = None if noise is None else noise.to_dict()

    if noise is not None:
        result = noise.apply(image, noise_filter=noise_filter)
    else:
        result = np.abs(image).astype(np.float32, copy=False) if np.iscomplexobj(image) else image.astype(np.float32, copy=True)
    return result, new_affine, out_sampled
