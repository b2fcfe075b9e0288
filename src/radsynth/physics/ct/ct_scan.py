"""Axial CT acquisition: material map -> polychromatic, noisy sinograms -> FBP -> HU.

Pipeline per axial slice (parallel beam, :mod:`radsynth.physics.ct.projector`)::

    MaterialVolume --basis_volumes--> K basis channels (g/cm^3)
      --forward_project--> basis line integrals L_k (g/cm^2)
      --polychromatic_transmission (tube spectrum, energy-integrating detector)--> T
      --N0 * T, Poisson + Gaussian electronic noise, clamp >= 1--> counts I
      --p = -ln(I / N0)--> water beam-hardening correction --fbp(kernel)--> mu (1/mm)
      --1000 (mu - mu_eff) / mu_eff--> HU

Photon budget: photons per detector element per view
``N0 = F * (1000 / SID)^2 * det_spacing * slice_thickness * mAs / n_views``, with ``F`` the
tube output in photons / mm^2 / mAs at 1 m (SpekPy, :class:`TubeSpectrum`), the detector
element area taken at the isocentre, an ideal detector (no efficiency curve) and no
bowtie filter. Noise of an energy-integrating detector is modelled as Poisson in these
quanta (the detected signal is weighted by ``E N(E)`` for the mean; the Swank factor of
the energy weighting is ignored). ``electronic_noise`` adds a Gaussian of that standard
deviation in counts. Image noise is then quantum-limited, sigma ~ 1/sqrt(mAs)
(Hsieh, Computed Tomography: Principles, Design, Artifacts, and Recent Advances,
2nd ed., SPIE Press 2009, chapter on image noise), tested.

Water beam-hardening correction (linearisation; Herman, Phys. Med. Biol. 24:81, 1979):
the polychromatic projection of water ``p(L)`` (L = 0..700 mm) is tabulated and each
measured ``p`` is mapped to ``mu_eff * L(p)``, so water reconstructs flat and to 0 HU.

Effective energy (``effective_energy_kev``): ``mu_eff`` is the slope ``dp/dL`` of the
polychromatic water curve at the reference path ``bhc_reference_water_mm`` (250 mm: a
typical adult chest water-equivalent diameter, cf. AAPM Report 220, 2014), i.e. water's
attenuation averaged over the detected spectrum after hardening by 250 mm of water; ``E_eff`` is the energy at which
water's (monochromatic) mu equals ``mu_eff``. The linearisation has unit gain at the
reference path, so a small insert there reconstructs to its own mu averaged over that
hardened spectrum, ~ mu(E_eff): use ``E_eff`` to calibrate HU -> density
(:func:`radsynth.physics.xray.materials.density_for_hu`). For 120 kVp, 6 mm Al (2 keV bins) it
is 72.75 keV (printed by ``bench/bench_ct.py``). On the real chest CT's central slice
(HU -> threshold materials -> density at E_eff -> simulated 120 kVp) the reference path
250 mm round-trips median HU to -12 (adipose), +13 (lung), -1 (soft tissue) HU and -2.4 %
(bone); 200 mm gave -10 % for bone, 300 mm +4.5 %.

Dose (``ctdi_vol_mgy``): an estimate, see its docstring.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from typing import Any, Sequence

import numpy as np
from numba import njit, prange

from radsynth.core.checks import check_dataclass_keys, in_range, non_negative, positive, range_pair
from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.physics.ct.fbp import KERNELS, check_kernel, fbp
from radsynth.physics.ct.projector import auto_n_detectors, forward_project, parallel_angles
from radsynth.physics.xray.basis import basis_mass_attenuation, basis_volumes
from radsynth.physics.xray.beer_lambert import DETECTORS, detected_weights, polychromatic_transmission
from radsynth.physics.xray.materials import linear_attenuation_per_mm
from radsynth.physics.xray.spectrum import TubeSpectrum

#: Default spectrum: 120 kVp, 6 mm Al, 2 keV bins (50 bins: the spectral step stays cheap).
DEFAULT_SPECTRUM = TubeSpectrum(kvp=120.0, filtration_mm_al=6.0, energy_bin_kev=2.0)
#: Water path lengths (mm) of the beam-hardening table.
BHC_TABLE_MM = np.linspace(0.0, 700.0, 1401)
#: Normalised weighted CTDI (mGy per mAs) of the 32 cm body phantom at 120 kV (see ctdi_vol_mgy).
NCTDIW_BODY_120KV_MGY_PER_MAS = 0.08
_SLICES_PER_BATCH = 4
#: Node spacing (g/cm^2) of the (water, bone) transmission table, and its size quantum (nodes).
_LUT_STEP_G_CM2 = (0.2, 0.1)
_LUT_BLOCK = 64


def _opt_positive(name: str, v: Any, unit: str) -> float | None:
    return None if v is None else positive(name, v, unit)


def _int_at_least(name: str, v: Any, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer, float)) or int(v) != v or v < lo:
        raise RadsynthInputError(name, v, f"an integer >= {lo}")
    return int(v)


@dataclass(frozen=True)
class CTScan:
    """Acquisition and reconstruction parameters of an axial CT scan.

    Attributes:
        spectrum: tube spectrum (:class:`TubeSpectrum` or its dict).
        mas: tube current-time product per rotation (mAs), > 0.
        n_views: projections over the half rotation [0, pi) (parallel beam), >= 1.
        n_detectors: detector elements; None = cover the image diagonal.
        det_spacing_mm: detector element pitch at the isocentre; None = the pixel size.
        slice_thickness_mm: collimated slice thickness; None = the volume's z spacing.
        source_to_isocenter_mm: source-isocentre distance (sets the fluence), 300-1500 mm.
        electronic_noise: standard deviation of additive Gaussian detector noise (counts).
        kernel: reconstruction kernel, one of :data:`radsynth.physics.ct.fbp.KERNELS`.
        detector: "energy-integrating" or "counting".
        bhc_reference_water_mm: reference water path defining mu_eff / E_eff (mm), (0, 700]; default 250.
    """

    spectrum: TubeSpectrum = DEFAULT_SPECTRUM
    mas: float = 100.0
    n_views: int = 720
    n_detectors: int | None = None
    det_spacing_mm: float | None = None
    slice_thickness_mm: float | None = None
    source_to_isocenter_mm: float = 570.0
    electronic_noise: float = 2.0
    kernel: str = "shepp-logan"
    detector: str = "energy-integrating"
    bhc_reference_water_mm: float = 250.0

    def __post_init__(self) -> None:
        s = self.spectrum
        if isinstance(s, dict):
            s = TubeSpectrum.from_dict(s)
        if not isinstance(s, TubeSpectrum):
            raise RadsynthInputError("spectrum", s, "a TubeSpectrum or its dict")
        set_ = object.__setattr__
        set_(self, "spectrum", s)
        set_(self, "mas", positive("mas", self.mas, "mAs"))
        set_(self, "n_views", _int_at_least("n_views", self.n_views, 1))
        if self.n_detectors is not None:
            set_(self, "n_detectors", _int_at_least("n_detectors", self.n_detectors, 1))
        set_(self, "det_spacing_mm", _opt_positive("det_spacing_mm", self.det_spacing_mm, "mm"))
        set_(self, "slice_thickness_mm", _opt_positive("slice_thickness_mm", self.slice_thickness_mm, "mm"))
        set_(self, "source_to_isocenter_mm", in_range("source_to_isocenter_mm", self.source_to_isocenter_mm,
                                                      300.0, 1500.0, unit="mm"))
        set_(self, "electronic_noise", non_negative("electronic_noise", self.electronic_noise, "counts"))
        check_kernel(self.kernel)
        if self.detector not in DETECTORS:
            raise RadsynthInputError("detector", self.detector, f"one of {list(DETECTORS)}")
        set_(self, "bhc_reference_water_mm", in_range("bhc_reference_water_mm", self.bhc_reference_water_mm,
                                                      0.0, 700.0, unit="mm", lo_open=True))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spectrum"] = self.spectrum.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "CTScan":
        check_dataclass_keys("ct_scan", d, cls)
        return cls(**d)

    def with_mas(self, mas: float) -> "CTScan":
        return replace(self, mas=mas)


@dataclass(frozen=True)
class RandomCTScan:
    """Ranges of acquisition parameters; ``sample(rng)`` -> :class:`CTScan`.

    ``mas_range`` is sampled log-uniformly; ``kvp_choices`` / ``kernels`` uniformly;
    every other field comes from ``base``.
    """

    mas_range: tuple[float, float] = (50.0, 300.0)
    kvp_choices: tuple[float, ...] = (120.0,)
    kernels: tuple[str, ...] = ("shepp-logan",)
    base: CTScan = field(default_factory=CTScan)

    def __post_init__(self) -> None:
        b = self.base
        if isinstance(b, dict):
            b = CTScan.from_dict(b)
        if not isinstance(b, CTScan):
            raise RadsynthInputError("base", b, "a CTScan or its dict")
        object.__setattr__(self, "base", b)
        lo, hi = range_pair("mas_range", self.mas_range, 1e-3, 1e5)
        if lo <= 0:
            raise RadsynthInputError("mas_range", self.mas_range, "a (low, high) pair of mAs > 0")
        object.__setattr__(self, "mas_range", (lo, hi))
        kv = tuple(in_range("kvp_choices", k, 40.0, 150.0, unit="kV") for k in self.kvp_choices)
        if not kv:
            raise RadsynthInputError("kvp_choices", self.kvp_choices, "at least one kVp in [40, 150]")
        object.__setattr__(self, "kvp_choices", kv)
        ks = tuple(check_kernel(k) for k in self.kernels)
        if not ks:
            raise RadsynthInputError("kernels", self.kernels, f"at least one of {list(KERNELS)}")
        object.__setattr__(self, "kernels", ks)

    def sample(self, rng: np.random.Generator) -> CTScan:
        lo, hi = self.mas_range
        mas = float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else lo
        kvp = float(self.kvp_choices[int(rng.integers(len(self.kvp_choices)))])
        kernel = self.kernels[int(rng.integers(len(self.kernels)))]
        return replace(self.base, mas=round(mas, 6), kernel=kernel, spectrum=replace(self.base.spectrum, kvp=kvp))

    def to_dict(self) -> dict[str, Any]:
        return {"mas_range": list(self.mas_range), "kvp_choices": list(self.kvp_choices),
                "kernels": list(self.kernels), "base": self.base.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RandomCTScan":
        check_dataclass_keys("random_ct_scan", d, cls)
        d = dict(d)
        for k in ("mas_range", "kvp_choices", "kernels"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


# --------------------------------------------------------------------------- spectral model
@dataclass(frozen=True)
class _Spectral:
    energies_kev: np.ndarray
    weights: np.ndarray  # detected weights (E,)
    photons_per_mm2_per_mas_at_1m: float
    p_table: np.ndarray  # polychromatic water projection at BHC_TABLE_MM
    mu_eff_per_mm: float
    e_eff_kev: float


@lru_cache(maxsize=32)
def _spectral_cached(spectrum: TubeSpectrum, detector: str, ref_mm: float) -> _Spectral:
    e, n = spectrum.fluence()
    w = detected_weights(e, n, detector)
    mu_w = linear_attenuation_per_mm("water", e)  # 1/mm
    wn = w / w.sum()
    p_table = -np.log(np.exp(-np.outer(BHC_TABLE_MM, mu_w)) @ wn)
    att = wn * np.exp(-mu_w * ref_mm)
    mu_eff = float((att * mu_w).sum() / att.sum())
    grid = np.linspace(20.0, 150.0, 2601)
    mu_grid = linear_attenuation_per_mm("water", grid)  # decreasing with energy
    e_eff = float(np.interp(-mu_eff, -mu_grid, grid))
    for a in (p_table,):
        a.setflags(write=False)
    return _Spectral(e, w, float(n.sum()), p_table, mu_eff, e_eff)


def _spectral(scan: CTScan) -> _Spectral:
    return _spectral_cached(scan.spectrum, scan.detector, scan.bhc_reference_water_mm)


def detected_spectrum(scan: CTScan) -> tuple[np.ndarray, np.ndarray]:
    """(energies_kev, detected weights) of the scan's spectrum: the weights for basis decomposition."""
    sp = _spectral(scan)
    return sp.energies_kev, sp.weights


def effective_energy_kev(scan: CTScan) -> float:
    """E_eff (keV): energy at which water's mu equals the BHC's mu_eff (see module docstring)."""
    return _spectral(scan).e_eff_kev


def effective_mu_water_per_mm(scan: CTScan) -> float:
    """mu_eff (1/mm): the water attenuation that reconstructs to 0 HU."""
    return _spectral(scan).mu_eff_per_mm


def photons_per_detector_per_view(scan: CTScan, det_spacing_mm: float, slice_thickness_mm: float) -> float:
    """Unattenuated photons N0 per detector element per view (see module docstring)."""
    sp = _spectral(scan)
    return (sp.photons_per_mm2_per_mas_at_1m * (1000.0 / scan.source_to_isocenter_mm) ** 2
            * det_spacing_mm * slice_thickness_mm * scan.mas / scan.n_views)


def water_bhc(p: np.ndarray, scan: CTScan) -> np.ndarray:
    """Linearise polychromatic projections ``p`` to ``mu_eff * L_water(p)`` (dimensionless)."""
    sp = _spectral(scan)
    tab = sp.p_table
    slope_end = (tab[-1] - tab[-2]) / (BHC_TABLE_MM[-1] - BHC_TABLE_MM[-2])
    length = np.interp(p, tab, BHC_TABLE_MM)
    over = p > tab[-1]
    if np.any(over):
        length = np.where(over, BHC_TABLE_MM[-1] + (p - tab[-1]) / slope_end, length)
    return length * sp.mu_eff_per_mm


def ctdi_vol_mgy(scan: CTScan, pitch: float = 1.0) -> float:
    """Estimated CTDIvol (mGy) for the 32 cm body phantom.

    ``CTDIvol = nCTDIw(120 kV) * (kVp/120)^2.5 * mAs / pitch`` with nCTDIw = 0.08 mGy/mAs,
    a typical value for the 32 cm CTDI body phantom at 120 kV on current multi-slice
    scanners (published normalised body CTDIw at 120 kV lie around 0.06-0.11 mGy/mAs, e.g.
    the ImPACT CT scanner comparison data; CTDI definitions per IEC 60601-2-44 and AAPM
    Report 96, 2008). The kVp^2.5 scaling is the usual rule of thumb for tube output at
    fixed filtration. An estimate for DICOM's CTDIvol tag, not a dosimetry result: bowtie,
    filtration and scanner geometry are not modelled.
    """
    pitch = positive("pitch", pitch)
    return float(NCTDIW_BODY_120KV_MGY_PER_MAS * (scan.spectrum.kvp / 120.0) ** 2.5 * scan.mas / pitch)


# --------------------------------------------------------------------------- fast spectral step
@njit(cache=True, parallel=True)
def _bilinear_log_t(lw, lb, table, w0, b0, hw, hb, out):  # pragma: no cover - compiled
    nw, nb = table.shape
    for r in prange(lw.shape[0]):
        fw = (lw[r] - w0) / hw
        fb = (lb[r] - b0) / hb
        iw = min(max(int(math.floor(fw)), 0), nw - 2)
        ib = min(max(int(math.floor(fb)), 0), nb - 2)
        u = fw - iw
        v = fb - ib
        out[r] = ((1.0 - u) * ((1.0 - v) * table[iw, ib] + v * table[iw, ib + 1])
                  + u * ((1.0 - v) * table[iw + 1, ib] + v * table[iw + 1, ib + 1]))


@lru_cache(maxsize=16)
def _log_t_table(spectrum: TubeSpectrum, detector: str, basis: tuple[str, ...], w_lo: int, w_hi: int,
                 b_lo: int, b_hi: int) -> np.ndarray:
    sp = _spectral_cached(spectrum, detector, 200.0)  # only energies and weights are used
    hw, hb = _LUT_STEP_G_CM2
    gw = np.arange(w_lo, w_hi + 1) * hw
    gb = np.arange(b_lo, b_hi + 1) * hb
    grid = np.stack(np.meshgrid(gw, gb, indexing="ij"))
    mu = basis_mass_attenuation(basis, sp.energies_kev)
    tab = np.log(polychromatic_transmission(grid, mu, sp.weights))
    tab.setflags(write=False)
    return tab


def transmission(line_g_cm2: np.ndarray, basis: tuple[str, ...], scan: CTScan) -> np.ndarray:
    """Detected polychromatic transmission T of basis line integrals (K, ...) g/cm^2 -> (...) float64.

    For the two-basis (water, cortical bone) case T is tabulated once per spectrum on a
    (0.2, 0.1) g/cm^2 grid with :func:`radsynth.physics.xray.beer_lambert.polychromatic_transmission`
    and interpolated bilinearly in ln T (ln T is smooth: the interpolation error is
    ~h^2/8 * var(mu): measured 8e-5 in ln T on the chest CT slice, < 3e-4 for
    any water 0-40 and bone -1-12 g/cm^2, far below quantum noise); the table is reused by all
    slices of a volume. Other bases (iodine, titanium) use the direct sum.
    """
    sp = _spectral(scan)
    if tuple(basis) != ("water", "cortical_bone"):
        return polychromatic_transmission(line_g_cm2, basis_mass_attenuation(tuple(basis), sp.energies_kev),
                                          sp.weights)
    hw, hb = _LUT_STEP_G_CM2
    lw = np.ascontiguousarray(line_g_cm2[0], dtype=np.float64).ravel()
    lb = np.ascontiguousarray(line_g_cm2[1], dtype=np.float64).ravel()
    q = _LUT_BLOCK

    def bounds(x: np.ndarray, h: float) -> tuple[int, int]:
        lo = int(math.floor(float(x.min()) / h / q)) * q
        hi = (int(math.floor(float(x.max()) / h / q)) + 1) * q
        return lo, hi

    (w_lo, w_hi), (b_lo, b_hi) = bounds(lw, hw), bounds(lb, hb)
    table = _log_t_table(scan.spectrum, scan.detector, tuple(basis), w_lo, w_hi, b_lo, b_hi)
    out = np.empty(lw.shape, dtype=np.float64)
    _bilinear_log_t(lw, lb, table, w_lo * hw, b_lo * hb, hw, hb, out)
    return np.exp(out).reshape(line_g_cm2.shape[1:])


# --------------------------------------------------------------------------- simulation
def _geometry(scan: CTScan, shape_xy: tuple[int, int], pixel_mm: float) -> tuple[np.ndarray, int, float]:
    ds = scan.det_spacing_mm or pixel_mm
    n_det = scan.n_detectors or auto_n_detectors(shape_xy, pixel_mm, ds)
    half_fov = 0.5 * math.hypot(*shape_xy) * pixel_mm
    if scan.source_to_isocenter_mm <= half_fov:
        raise RadsynthInputError("source_to_isocenter_mm", scan.source_to_isocenter_mm,
                                 f"a distance > the image half-diagonal {half_fov:.0f} mm (source outside the patient)")
    return parallel_angles(scan.n_views), n_det, ds


def _shared_key(scan: CTScan) -> tuple:
    d = scan.to_dict()
    for k in ("mas", "electronic_noise", "kernel"):
        d.pop(k)
    return tuple(sorted((k, repr(v)) for k, v in d.items()))


def simulate_basis_slices(basis_slices: np.ndarray, basis: tuple[str, ...], pixel_mm: float,
                          scans: Sequence[CTScan], rngs: Sequence[np.random.Generator | None],
                          slice_thickness_mm: float, noise_free: Sequence[bool] | bool = False) -> list[np.ndarray]:
    """HU images (nx, ny, Z) float32 of basis channels (K, nx, ny, Z) g/cm^3, one per scan.

    The scans must share everything except ``mas``, ``electronic_noise`` and ``kernel`` (the
    projections are computed once; each scan draws its noise from its own generator).
    """
    scans = list(scans)
    if not scans:
        raise RadsynthInputError("scans", scans, "at least one CTScan")
    if len({_shared_key(s) for s in scans}) != 1:
        raise RadsynthInputError("scans", [s.to_dict() for s in scans],
                                 "scans differing only in mas, electronic_noise and kernel")
    nf = [bool(noise_free)] * len(scans) if isinstance(noise_free, bool) else [bool(x) for x in noise_free]
    rngs = list(rngs)
    if len(rngs) != len(scans) or len(nf) != len(scans):
        raise ValueError("one generator and one noise_free flag per scan")
    for s, r, f in zip(scans, rngs, nf):
        if not f and r is None:
            raise RadsynthInputError("rng", None, "a numpy Generator for a noisy scan (or noise_free=True)")
    b = np.asarray(basis_slices, dtype=np.float32)
    if b.ndim == 3:
        b = b[..., None]
    if b.ndim != 4 or b.shape[0] != len(basis):
        raise RadsynthInputError("basis_slices", b.shape, f"an array (K={len(basis)}, nx, ny[, z])")
    k_, nx, ny, nz = b.shape
    pixel_mm = positive("pixel_mm", pixel_mm, "mm")
    thick = positive("slice_thickness_mm", scans[0].slice_thickness_mm or slice_thickness_mm, "mm")
    angles, n_det, ds = _geometry(scans[0], (nx, ny), pixel_mm)
    sp = _spectral(scans[0])
    outs = [np.empty((nx, ny, nz), dtype=np.float32) for _ in scans]
    n0s = [photons_per_detector_per_view(s, ds, thick) for s in scans]
    for z0 in range(0, nz, _SLICES_PER_BATCH):
        z1 = min(nz, z0 + _SLICES_PER_BATCH)
        imgs = np.moveaxis(b[..., z0:z1], 3, 1)  # (K, nzb, nx, ny)
        line = forward_project(imgs, angles, n_det, ds, pixel_mm)  # (K, nzb, V, D) g/cm^3*mm
        line *= np.float32(0.1)  # -> g/cm^2
        trans = transmission(line, tuple(basis), scans[0])  # (nzb, V, D) float64
        for si, (scan, rng, f, n0) in enumerate(zip(scans, rngs, nf, n0s)):
            if f:
                p = -np.log(trans)
            else:
                p = np.empty_like(trans)
                for zi in range(z1 - z0):
                    counts = rng.poisson(n0 * trans[zi]).astype(np.float64)
                    if scan.electronic_noise > 0:
                        counts += rng.normal(0.0, scan.electronic_noise, size=counts.shape)
                    np.maximum(counts, 1.0, out=counts)
                    p[zi] = np.log(n0 / counts)
            mu = fbp(water_bhc(p, scan), angles, (nx, ny), ds, pixel_mm, scan.kernel)  # (nzb, nx, ny) 1/mm
            hu = 1000.0 * (mu - sp.mu_eff_per_mm) / sp.mu_eff_per_mm
            outs[si][..., z0:z1] = np.moveaxis(hu, 0, 2).astype(np.float32)
    return outs


def _volume_inputs(volume: MaterialVolume, scan: CTScan) -> tuple[np.ndarray, tuple[str, ...], float, float]:
    sx, sy, sz = volume.spacing_mm
    if abs(sx - sy) > 1e-3 * max(sx, sy):
        raise RadsynthInputError("volume.spacing_mm", (sx, sy, sz), "equal x and y spacing (square pixels)")
    sp = _spectral(scan)
    chans, basis = basis_volumes(volume, sp.energies_kev, sp.weights)
    return chans, basis, sx, sz


def simulate_ct(volume: MaterialVolume, scan: CTScan, rng: np.random.Generator | None = None,
                noise_free: bool = False) -> np.ndarray:
    """CT image (x, y, z) float32 HU of a material volume (axial slices, same grid).

    ``noise_free=True`` gives the expected image (ground truth; beam-hardening residue and
    metal streaks remain, noise does not). Otherwise ``rng`` draws the noise.
    """
    chans, basis, px, thick = _volume_inputs(volume, scan)
    return simulate_basis_slices(chans, basis, px, [scan], [rng], thick, noise_free)[0]


@dataclass
class DosePair:
    """Low-dose / full-dose CT of the same anatomy (independent noise), optionally the noise-free image."""

    low_hu: np.ndarray
    full_hu: np.ndarray
    low_scan: CTScan
    full_scan: CTScan
    truth_hu: np.ndarray | None = None

    def provenance(self) -> dict[str, Any]:
        return {"low_mas": self.low_scan.mas, "full_mas": self.full_scan.mas,
                "low_scan": self.low_scan.to_dict(), "full_scan": self.full_scan.to_dict(),
                "low_ctdi_vol_mgy": ctdi_vol_mgy(self.low_scan), "full_ctdi_vol_mgy": ctdi_vol_mgy(self.full_scan)}


def simulate_dose_pair(volume: MaterialVolume, full_scan: CTScan, low_mas: float, seed: int,
                       with_truth: bool = False) -> DosePair:
    """Full-dose ``full_scan`` and a low-dose twin at ``low_mas`` (< full mAs), one projection pass.

    Noise streams are independent children of ``numpy.random.SeedSequence(seed)``.
    """
    low_mas = positive("low_mas", low_mas, "mAs")
    if low_mas >= full_scan.mas:
        raise RadsynthInputError("low_mas", low_mas, f"a value below the full-dose mAs {full_scan.mas:g}")
    low_scan = full_scan.with_mas(low_mas)
    r_low, r_full = (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(2))
    chans, basis, px, thick = _volume_inputs(volume, full_scan)
    scans = [low_scan, full_scan] + ([full_scan] if with_truth else [])
    rngs = [r_low, r_full] + ([None] if with_truth else [])
    flags = [False, False] + ([True] if with_truth else [])
    out = simulate_basis_slices(chans, basis, px, scans, rngs, thick, flags)
    return DosePair(out[0], out[1], low_scan, full_scan, out[2] if with_truth else None)
