"""Projection radiograph simulation: DRR -> polychromatic Beer-Lambert -> scatter -> noise -> display.

:class:`Radiograph` is the frozen, JSON-serialisable acquisition (geometry, tube spectrum,
mAs, detector, noise seed, scatter model, processing); :class:`RandomRadiograph` draws
one per subject (``sample(rng)``) and ``Radiograph.from_dict(r.to_dict())`` replays it
bit-exactly. ``Radiograph.simulate(volume)`` runs the chain on a
:class:`~radsynth.core.material_volume.MaterialVolume`:

1. Basis channels (water, cortical bone [+ iodine, titanium]) of the volume
   (:func:`radsynth.physics.xray.basis.basis_volumes`, fitted over the detected spectrum).
2. Line integrals per detector pixel by ray casting (:mod:`radsynth.physics.xray.drr`),
   display-oriented (row 0 superior; PA/AP patient's right on image left; LAT anterior
   on image left), g/cm^3*mm / 10 = g/cm^2.
3. Flat-field photons per pixel ``N0 = Phi(1 m) * mAs * (1000 / SID)^2 * pixel_mm^2 *
   cos^3(theta) * efficiency`` (SpekPy fluence per mm^2 per mAs at 1 m; inverse-square law;
   ``cos^3`` of the ray angle for the flat detector: inverse square of the longer path and
   obliquity; a constant absorption ``detector_efficiency``; no heel effect).
4. Primary signal ``N0 * T`` with ``T`` the polychromatic transmission
   (:func:`radsynth.physics.xray.beer_lambert.polychromatic_transmission`) for the detected
   spectrum (``E * N(E)`` for an energy-integrating detector, ``N(E)`` for counting); the
   signal is in quanta-equivalent units (flat field = N0 photons).
5. Scatter by the kernel model (:mod:`radsynth.physics.xray.scatter`) driven by the
   water-equivalent thickness ``10 * sum_k L_k (mu/rho)_k / (mu/rho)_water`` (mm, at the
   detected mean energy), and the anti-scatter grid.
6. Quantum noise: Poisson on the expected photon count per pixel (primary photons use the
   counting transmission, scatter photons the same photons-per-signal ratio), rescaled to
   the signal; the Swank factor of an energy-integrating detector is ignored (variance =
   mean in quanta). Seeded by ``noise_seed`` (numpy ``default_rng``), so noise variance of
   the log image is ~ 1 / (N0 T) ~ 1 / mAs.
7. Detector blur: Gaussian PSF of ``blur_sigma_mm`` (light spread in a CsI / GOS
   scintillator, ~0.1-0.3 mm), applied to the noisy signal; then additive Gaussian
   electronic noise of ``electronic_noise_quanta`` (quanta-equivalent standard deviation).
8. "For processing" image: ``-ln(I / I0)`` with ``I0`` the noiseless flat field (gain
   calibration, through the grid).
9. "For presentation" image in [0, 1], MONOCHROME2 (bone and mediastinum bright, lungs
   dark, unattenuated beam black): the log image with a two-band unsharp mask,
   ``p + a_1 (p - G_10mm(p))`` then ``+ a_2 (p - G_2mm(p))`` (a two-scale stand-in for the
   multi-scale contrast equalisation and detail enhancement of clinical DR processing, e.g.
   Vuylsteke & Schoeters' MUSICA, Proc. SPIE 2167, 1994), windowed to the
   ``window_percentiles`` of the pixels inside the patient (``p > BODY_LOG_THRESHOLD``:
   the whole detector is the exposed field, no collimation is modelled), then ``x**gamma``.
   Every parameter is a field of :class:`Radiograph` and goes into ``acquisition``.
   Defaults (2-99 % window, detail band 2 mm x 3, gamma 1.2) were chosen on 6 simulated PA
   radiographs against 200 real NORMAL train radiographs (grey-value JS divergence and
   power-spectrum distance; ``bench/bench_xray_realism.py`` measures them on other seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from radsynth.core.checks import check_dataclass_keys, in_range, range_pair
from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.physics.xray.basis import basis_mass_attenuation, basis_volumes
from radsynth.physics.xray.beer_lambert import DETECTORS, detected_weights, polychromatic_transmission
from radsynth.physics.xray.drr import line_integrals
from radsynth.physics.xray.geometry import RadiographGeometry, default_geometry
from radsynth.physics.xray.materials import mass_attenuation_cm2_g
from radsynth.physics.xray.scatter import ScatterKernel
from radsynth.physics.xray.spectrum import TubeSpectrum

#: Log attenuation above which a pixel counts as "inside the patient" for windowing (5 %).
BODY_LOG_THRESHOLD = 0.05
#: Lowest detected signal (quanta) taken to the log (keeps -ln finite in photon-starved pixels).
MIN_SIGNAL_QUANTA = 0.1


def chest_spectrum() -> TubeSpectrum:
    """Default PA chest beam: 120 kVp, 3 mm Al total + 0.1 mm Cu added filtration."""
    return TubeSpectrum(kvp=120.0, filtration_mm_al=3.0, filtration_mm_cu=0.1)


@dataclass
class RadiographImages:
    """What :meth:`Radiograph.apply` returns (2D arrays are display-oriented (rows, cols))."""

    intensity: np.ndarray        #: float32 detected signal (quanta-equivalent), noisy, blurred
    flat_field: np.ndarray       #: float32 noiseless unattenuated signal I0 (through the grid)
    log_image: np.ndarray        #: float32 "for processing" -ln(I / I0)
    display: np.ndarray          #: float32 "for presentation" in [0, 1], MONOCHROME2
    primary: np.ndarray          #: float32 expected primary signal (after the grid)
    scatter: np.ndarray          #: float32 expected scatter signal (after the grid; zeros without scatter)
    water_mm: np.ndarray         #: float32 water-equivalent thickness per ray (mm)
    line_integrals_g_cm2: np.ndarray  #: float32 (K, rows, cols) basis line integrals
    basis: tuple[str, ...]
    window: tuple[float, float]  #: log-image window (lo, hi) of the display image
    acquisition: dict[str, Any]  #: parameters and derived facts (DICOM / manifest)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise RadsynthInputError(name, value, "true or false")
    return bool(value)


@dataclass(frozen=True)
class Radiograph:
    """One radiographic acquisition and its processing (deterministic twin of RandomRadiograph).

    Attributes:
        geometry: the view (RadiographGeometry).
        spectrum: tube spectrum (default :func:`chest_spectrum`).
        mas: tube current-time product (mAs), 0.01-1000 (PA chest 1-4, AP portable 1-3).
        detector: "energy-integrating" (flat panel, CR) or "counting".
        detector_efficiency: fraction of incident photons detected, (0, 1].
        quantum_noise: draw Poisson noise (False: expected values).
        electronic_noise_quanta: std of additive electronic noise (quanta-equivalent), >= 0.
        blur_sigma_mm: Gaussian detector PSF sigma (mm), 0-5.
        scatter: ScatterKernel, or None for primary only.
        window_percentiles: (low, high) percentiles of the in-patient log image for display.
        unsharp_sigma_mm / unsharp_amount: unsharp-mask width (mm) and strength (0 = off).
        detail_sigma_mm / detail_amount: second, fine-scale band (edge / detail enhancement, 0 = off).
        gamma: display = windowed ** gamma, 0.2-5.
        noise_seed: seed of the noise generator, [0, 2**63).
    """

    geometry: RadiographGeometry = field(default_factory=RadiographGeometry)
    spectrum: TubeSpectrum = field(default_factory=chest_spectrum)
    mas: float = 2.0
    detector: str = "energy-integrating"
    detector_efficiency: float = 0.7
    quantum_noise: bool = True
    electronic_noise_quanta: float = 2.0
    blur_sigma_mm: float = 0.2
    scatter: ScatterKernel | None = field(default_factory=ScatterKernel)
    window_percentiles: tuple[float, float] = (2.0, 99.0)
    unsharp_sigma_mm: float = 10.0
    unsharp_amount: float = 0.3
    detail_sigma_mm: float = 2.0
    detail_amount: float = 3.0
    gamma: float = 1.2
    noise_seed: int = 0

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.geometry, RadiographGeometry):
            raise RadsynthInputError("geometry", type(self.geometry).__name__, "a RadiographGeometry")
        if not isinstance(self.spectrum, TubeSpectrum):
            raise RadsynthInputError("spectrum", type(self.spectrum).__name__, "a TubeSpectrum")
        if self.scatter is not None and not isinstance(self.scatter, ScatterKernel):
            raise RadsynthInputError("scatter", type(self.scatter).__name__, "a ScatterKernel or None")
        set_(self, "mas", in_range("mas", self.mas, 0.01, 1000.0, unit="mAs"))
        if self.detector not in DETECTORS:
            raise RadsynthInputError("detector", self.detector, f"one of {list(DETECTORS)}")
        set_(self, "detector_efficiency", in_range("detector_efficiency", self.detector_efficiency, 0.0, 1.0, lo_open=True))
        set_(self, "quantum_noise", _flag("quantum_noise", self.quantum_noise))
        set_(self, "electronic_noise_quanta",
             in_range("electronic_noise_quanta", self.electronic_noise_quanta, 0.0, 1e6, unit="quanta"))
        set_(self, "blur_sigma_mm", in_range("blur_sigma_mm", self.blur_sigma_mm, 0.0, 5.0, unit="mm"))
        lo, hi = range_pair("window_percentiles", self.window_percentiles, 0.0, 100.0)
        if hi <= lo:
            raise RadsynthInputError("window_percentiles", self.window_percentiles, "(low, high) with low < high in [0, 100]")
        set_(self, "window_percentiles", (lo, hi))
        set_(self, "unsharp_sigma_mm", in_range("unsharp_sigma_mm", self.unsharp_sigma_mm, 0.1, 200.0, unit="mm"))
        set_(self, "unsharp_amount", in_range("unsharp_amount", self.unsharp_amount, 0.0, 3.0))
        set_(self, "detail_sigma_mm", in_range("detail_sigma_mm", self.detail_sigma_mm, 0.1, 50.0, unit="mm"))
        set_(self, "detail_amount", in_range("detail_amount", self.detail_amount, 0.0, 10.0))
        set_(self, "gamma", in_range("gamma", self.gamma, 0.2, 5.0))
        seed = self.noise_seed
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**63:
            raise RadsynthInputError("noise_seed", seed, "an integer in [0, 2**63)")
        set_(self, "noise_seed", int(seed))

    # ------------------------------------------------------------------ physics pieces
    def flat_field_photons(self) -> np.ndarray:
        """(rows, cols) float64 expected detected photons per pixel without patient or grid."""
        g = self.geometry
        _, n = self.spectrum.fluence()
        per_mm2 = float(n.sum()) * self.mas * (1000.0 / g.source_to_image_mm) ** 2
        u = (np.arange(g.detector_cols) - (g.detector_cols - 1) / 2.0) * g.pixel_mm
        v = (np.arange(g.detector_rows) - (g.detector_rows - 1) / 2.0) * g.pixel_mm
        rho2 = v[:, None] ** 2 + u[None, :] ** 2
        cos3 = (g.source_to_image_mm / np.sqrt(g.source_to_image_mm ** 2 + rho2)) ** 3
        return per_mm2 * g.pixel_mm ** 2 * self.detector_efficiency * cos3

    def detected_spectrum(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(energies_kev, photons per bin, detected weights) of the beam."""
        e, n = self.spectrum.fluence()
        return e, n, detected_weights(e, n, self.detector)

    # ------------------------------------------------------------------ pipeline
    def simulate(self, volume: MaterialVolume, centre_mm: np.ndarray | None = None) -> RadiographImages:
        """Radiograph of a material volume (isocentre: volume-box centre + geometry offset)."""
        e, _, w = self.detected_spectrum()
        channels, basis = basis_volumes(volume, e, w)
        return self.project(channels, volume.affine, basis, centre_mm=centre_mm)

    def project(self, channels_g_cm3: np.ndarray, affine: np.ndarray, basis: tuple[str, ...],
                centre_mm: np.ndarray | None = None) -> RadiographImages:
        """Radiograph of (K, x, y, z) basis equivalent densities (g/cm^3) on a grid."""
        lint = line_integrals(channels_g_cm3, affine, self.geometry, centre_mm=centre_mm)
        lint *= np.float32(0.1)  # g/cm^3 * mm -> g/cm^2
        return self.apply(lint, basis)

    def apply(self, line_integrals_g_cm2: np.ndarray, basis: tuple[str, ...]) -> RadiographImages:
        """Radiograph from (K, rows, cols) basis line integrals (g/cm^2)."""
        from scipy.ndimage import gaussian_filter

        g = self.geometry
        L = np.asarray(line_integrals_g_cm2, dtype=np.float32)
        basis = tuple(basis)
        if L.ndim != 3 or L.shape[0] != len(basis) or L.shape[1:] != g.shape:
            raise RadsynthInputError("line_integrals_g_cm2.shape", L.shape,
                                     f"(K={len(basis)}, {g.detector_rows}, {g.detector_cols})")
        e, n, w = self.detected_spectrum()
        mu = basis_mass_attenuation(basis, e)
        t_sig = polychromatic_transmission(L, mu, w)
        t_cnt = t_sig if self.detector == "counting" else polychromatic_transmission(L, mu, n)
        n0 = self.flat_field_photons()
        p_sig = n0 * t_sig
        p_cnt = n0 * t_cnt
        e_mean = float(np.clip((w * e).sum() / w.sum(), 20.0, 150.0))
        ratio = np.array([mass_attenuation_cm2_g(b, [e_mean])[0] for b in basis]) / mass_attenuation_cm2_g("water", [e_mean])[0]
        water_mm = 10.0 * np.tensordot(ratio, L.astype(np.float64), axes=1)
        flat = n0
        s_sig = np.zeros_like(p_sig)
        s_cnt = np.zeros_like(p_sig)
        if self.scatter is not None:
            p_grid, s_sig = self.scatter.apply(p_sig, water_mm, g.pixel_mm)
            tp = self.scatter.grid_primary_transmission if self.scatter.grid else 1.0
            photons_per_signal = np.divide(p_cnt, p_sig, out=np.ones_like(p_sig), where=p_sig > 0)
            p_sig, p_cnt = p_grid, p_cnt * tp
            s_cnt = s_sig * photons_per_signal
            flat = n0 * tp
        exp_sig = p_sig + s_sig
        exp_cnt = p_cnt + s_cnt
        rng = np.random.default_rng(self.noise_seed)
        if self.quantum_noise:
            counts = rng.poisson(exp_cnt).astype(np.float64)
            sig = np.divide(exp_sig * counts, exp_cnt, out=np.zeros_like(exp_sig), where=exp_cnt > 0)
        else:
            sig = exp_sig.copy()
        if self.blur_sigma_mm > 0:
            sig = gaussian_filter(sig, sigma=self.blur_sigma_mm / g.pixel_mm, mode="nearest", truncate=4.0)
        if self.electronic_noise_quanta > 0:
            sig = sig + rng.normal(0.0, self.electronic_noise_quanta, size=sig.shape)
        log_image = -np.log(np.maximum(sig, MIN_SIGNAL_QUANTA) / flat)
        display, window = process_for_presentation(
            log_image, g.pixel_mm, self.window_percentiles, self.unsharp_sigma_mm, self.unsharp_amount, self.gamma,
            self.detail_sigma_mm, self.detail_amount)
        acq = self.acquisition(e_mean)
        acq["display_window_log"] = [float(window[0]), float(window[1])]
        acq["flat_field_photons_centre"] = float(n0[g.detector_rows // 2, g.detector_cols // 2])
        return RadiographImages(
            intensity=sig.astype(np.float32), flat_field=flat.astype(np.float32),
            log_image=log_image.astype(np.float32), display=display,
            primary=p_sig.astype(np.float32), scatter=s_sig.astype(np.float32), water_mm=water_mm.astype(np.float32),
            line_integrals_g_cm2=L, basis=basis, window=window, acquisition=acq,
        )

    def acquisition(self, mean_energy_kev: float | None = None) -> dict[str, Any]:
        """Facts for DICOM DX tags and the manifest (units in the names)."""
        g = self.geometry
        if mean_energy_kev is None:
            e, _, w = self.detected_spectrum()
            mean_energy_kev = float((w * e).sum() / w.sum())
        return {
            "view": g.view, "view_position": g.dicom_view_position,
            "kvp": float(self.spectrum.kvp), "mas": float(self.mas),
            "exposure_uas": int(round(self.mas * 1000.0)),
            "source_to_image_mm": g.source_to_image_mm, "source_to_object_mm": g.source_to_object_mm,
            "object_to_image_mm": g.object_to_image_mm, "magnification": g.magnification,
            "imager_pixel_spacing_mm": g.pixel_mm, "pixel_spacing_at_isocentre_mm": g.pixel_at_isocentre_mm,
            "rows": g.detector_rows, "cols": g.detector_cols,
            "filtration_mm_al": float(self.spectrum.filtration_mm_al),
            "filtration_mm_cu": float(self.spectrum.filtration_mm_cu),
            "grid": bool(self.scatter is not None and self.scatter.grid),
            "detector": self.detector, "mean_detected_energy_kev": float(mean_energy_kev),
            "photometric_interpretation": "MONOCHROME2",
            "processing": {"window_percentiles": list(self.window_percentiles),
                           "unsharp_sigma_mm": self.unsharp_sigma_mm, "unsharp_amount": self.unsharp_amount,
                           "detail_sigma_mm": self.detail_sigma_mm, "detail_amount": self.detail_amount,
                           "gamma": self.gamma, "body_log_threshold": BODY_LOG_THRESHOLD},
        }

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "geometry": self.geometry.to_dict(),
            "spectrum": self.spectrum.to_dict(),
            "mas": float(self.mas),
            "detector": self.detector,
            "detector_efficiency": float(self.detector_efficiency),
            "quantum_noise": bool(self.quantum_noise),
            "electronic_noise_quanta": float(self.electronic_noise_quanta),
            "blur_sigma_mm": float(self.blur_sigma_mm),
            "scatter": None if self.scatter is None else self.scatter.to_dict(),
            "window_percentiles": [float(v) for v in self.window_percentiles],
            "unsharp_sigma_mm": float(self.unsharp_sigma_mm),
            "unsharp_amount": float(self.unsharp_amount),
            "detail_sigma_mm": float(self.detail_sigma_mm),
            "detail_amount": float(self.detail_amount),
            "gamma": float(self.gamma),
            "noise_seed": int(self.noise_seed),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Radiograph":
        check_dataclass_keys("radiograph", d, cls)
        kw = dict(d)
        if "geometry" in kw:
            kw["geometry"] = RadiographGeometry.from_dict(kw["geometry"])
        if "spectrum" in kw:
            kw["spectrum"] = TubeSpectrum.from_dict(kw["spectrum"])
        if kw.get("scatter") is not None:
            kw["scatter"] = ScatterKernel.from_dict(kw["scatter"])
        if "window_percentiles" in kw:
            kw["window_percentiles"] = tuple(kw["window_percentiles"])
        return cls(**kw)


def process_for_presentation(log_image: np.ndarray, pixel_mm: float, window_percentiles=(2.0, 99.0),
                             unsharp_sigma_mm: float = 10.0, unsharp_amount: float = 0.3,
                             gamma: float = 1.2, detail_sigma_mm: float = 2.0,
                             detail_amount: float = 3.0) -> tuple[np.ndarray, tuple[float, float]]:
    """MONOCHROME2 display image in [0, 1] (float32) of a log image, and its window (lo, hi).

    Unsharp mask in the log domain, window to the percentiles of the in-patient pixels
    (log > BODY_LOG_THRESHOLD; all pixels if fewer than 1 % qualify), then ``x ** gamma``.
    """
    from scipy.ndimage import gaussian_filter

    p = np.asarray(log_image, dtype=np.float64)
    if unsharp_amount > 0:
        p = p + unsharp_amount * (p - gaussian_filter(p, sigma=unsharp_sigma_mm / pixel_mm, mode="reflect", truncate=4.0))
    if detail_amount > 0:
        p = p + detail_amount * (p - gaussian_filter(p, sigma=detail_sigma_mm / pixel_mm, mode="reflect", truncate=4.0))
    body = np.asarray(log_image) > BODY_LOG_THRESHOLD
    vals = p[body] if body.sum() >= 0.01 * body.size else p.ravel()
    lo, hi = (float(v) for v in np.percentile(vals, window_percentiles))
    if not hi > lo:
        hi = lo + 1e-6
    x = np.clip((p - lo) / (hi - lo), 0.0, 1.0)
    if gamma != 1.0:
        x = x ** gamma
    return x.astype(np.float32), (lo, hi)


# --------------------------------------------------------------------------- random twin
@dataclass(frozen=True)
class RandomRadiograph:
    """Per-subject acquisition draw: kVp, mAs (log-uniform), SID, OID, positioning offset, noise seed.

    ``sample(rng)`` returns ``base`` with the drawn values (kVp rounded to 1 kV, mAs to
    0.01 mAs, distances to 1 mm, as a console sets them) and a fresh ``noise_seed``.
    A (v, v) range fixes a value. Draw order is fixed: kvp, mas, SID, OID, offset (x, y, z), seed.
    """

    base: Radiograph = field(default_factory=Radiograph)
    kvp: tuple[float, float] = (110.0, 125.0)
    mas: tuple[float, float] = (1.0, 4.0)
    source_to_image_mm: tuple[float, float] = (1750.0, 1850.0)
    object_to_image_mm: tuple[float, float] = (120.0, 180.0)
    centre_offset_std_mm: tuple[float, float, float] = (5.0, 0.0, 5.0)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.base, Radiograph):
            raise RadsynthInputError("base", type(self.base).__name__, "a Radiograph")
        set_(self, "kvp", range_pair("kvp", self.kvp, 40.0, 150.0))
        set_(self, "mas", range_pair("mas", self.mas, 0.01, 1000.0))
        set_(self, "source_to_image_mm", range_pair("source_to_image_mm", self.source_to_image_mm, 1.0, 10000.0))
        set_(self, "object_to_image_mm", range_pair("object_to_image_mm", self.object_to_image_mm, 0.0, 10000.0))
        if self.object_to_image_mm[1] >= self.source_to_image_mm[0]:
            raise RadsynthInputError("object_to_image_mm", self.object_to_image_mm,
                                     f"a range below source_to_image_mm's low end {self.source_to_image_mm[0]:g} mm")
        try:
            std = tuple(float(v) for v in self.centre_offset_std_mm)
        except (TypeError, ValueError):
            std = ()
        if len(std) != 3 or not all(math.isfinite(v) and 0.0 <= v <= 100.0 for v in std):
            raise RadsynthInputError("centre_offset_std_mm", self.centre_offset_std_mm, "three numbers in [0, 100] mm")
        set_(self, "centre_offset_std_mm", std)

    @classmethod
    def for_view(cls, view: str = "PA", **kw: Any) -> "RandomRadiograph":
        """Typical chest ranges per view (AP portable: SID 950-1100 mm, mAs 1-3)."""
        g = default_geometry(view)
        ranges: dict[str, Any] = {}
        if g.view == "AP":
            ranges = {"source_to_image_mm": (950.0, 1100.0), "object_to_image_mm": (100.0, 180.0), "mas": (1.0, 3.0),
                      "kvp": (85.0, 110.0)}
        elif g.view == "LAT":
            ranges = {"source_to_image_mm": (1750.0, 1850.0), "object_to_image_mm": (170.0, 230.0), "mas": (3.0, 10.0)}
        ranges.update(kw)
        base = ranges.pop("base", Radiograph(geometry=g))
        return cls(base=base, **ranges)

    def sample(self, rng: np.random.Generator) -> Radiograph:
        kvp = float(round(rng.uniform(*self.kvp)))
        lo, hi = self.mas
        mas = float(round(math.exp(rng.uniform(math.log(lo), math.log(hi))), 2))
        mas = max(mas, 0.01)
        sid = float(round(rng.uniform(*self.source_to_image_mm)))
        oid = float(round(rng.uniform(*self.object_to_image_mm)))
        off = tuple(float(round(rng.normal(0.0, s), 1)) if s > 0 else 0.0 for s in self.centre_offset_std_mm)
        seed = int(rng.integers(0, 2**63 - 1))
        base = self.base
        geometry = replace(base.geometry, source_to_image_mm=sid, object_to_image_mm=oid, centre_offset_mm=off)
        spectrum = replace(base.spectrum, kvp=min(max(kvp, 40.0), 150.0))
        return replace(base, geometry=geometry, spectrum=spectrum, mas=mas, noise_seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "kvp": list(self.kvp), "mas": list(self.mas),
                "source_to_image_mm": list(self.source_to_image_mm),
                "object_to_image_mm": list(self.object_to_image_mm),
                "centre_offset_std_mm": list(self.centre_offset_std_mm)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RandomRadiograph":
        check_dataclass_keys("random_radiograph", d, cls)
        kw = dict(d)
        if "base" in kw:
            kw["base"] = Radiograph.from_dict(kw["base"])
        return cls(**kw)
