"""Low-dose simulation of an existing CT image by projection-domain noise insertion.

Given a reconstructed CT slice in HU (a real scan), make the image the same anatomy would give
at a lower dose, with the noise model of :mod:`radsynth.physics.ct.ct_scan` (the simulator's):

    HU --mu = mu_eff (1 + HU/1000), mu >= 0--> mu (1/mm)
       --forward_project (parallel beam, Joseph)--> line integrals p = int mu dl
       --N0 exp(-p): Poisson counts + Gaussian electronic noise, clamp >= 1--> p' = ln(N0 / counts)
       --fbp(kernel)--> mu'   and the same FBP of the noise-free p --> mu0
    noisy HU = HU + 1000 (mu' - mu0) / mu_eff

Only the *noise image* ``FBP(p') - FBP(p)`` is added, so the result keeps the real slice's
resolution and texture (no extra kernel blur from the round trip) and gets noise with the
correct path-length dependence and FBP correlation (streaks along dense paths, the kernel's
noise power spectrum). This is the approach of Yu et al., "Development and validation of a
practical lower-dose-simulation tool for optimizing computed tomography scan protocols",
Med. Phys. 39:3 (2012) / Zeng et al., Med. Phys. 42:5 (2015), in the simulator's parallel-beam,
monochromatic-at-mu_eff form (beam hardening is not re-simulated: the real image already has it).

Dose: the real image already holds the noise of its own acquisition. Inserting independent noise
at an *equivalent* tube load ``m_ins`` adds variance ``sigma^2(m_ins)``; with
``sigma^2 ~ 1/mAs`` a target dose fraction ``a`` of a full dose ``m_full`` needs
``1/(a m_full) = 1/m_full + 1/m_ins``, i.e. ``m_ins = m_full a / (1 - a)``
(:func:`insertion_mas`; Yu et al. 2012, eq. 5 in its quantum-limited form). The real scan's
own mAs in the simulator's photon units is unknown: callers state the ``m_full`` they assume.
"""

from __future__ import annotations

import numpy as np

from radsynth.core.checks import positive
from radsynth.core.errors import RadsynthInputError
from radsynth.physics.ct.ct_scan import CTScan, effective_mu_water_per_mm, photons_per_detector_per_view
from radsynth.physics.ct.fbp import fbp
from radsynth.physics.ct.projector import auto_n_detectors, forward_project, parallel_angles


def insertion_mas(full_mas: float, dose_fraction: float) -> float:
    """Equivalent mAs of the noise to insert into a ``full_mas`` image to reach ``dose_fraction`` of its dose."""
    full_mas = positive("full_mas", full_mas, "mAs")
    if not (0.0 < float(dose_fraction) < 1.0):
        raise RadsynthInputError("dose_fraction", dose_fraction, "a fraction in (0, 1)")
    a = float(dose_fraction)
    return full_mas * a / (1.0 - a)


def insert_noise_hu(hu: np.ndarray, pixel_mm: float, slice_thickness_mm: float, scan: CTScan,
                    rng: np.random.Generator) -> np.ndarray:
    """Noisy copy (float32 HU, same shape) of HU slices ``hu`` (nx, ny) or (nx, ny, z) at ``scan.mas``.

    ``scan`` supplies the mAs (the *inserted* noise's equivalent load, see :func:`insertion_mas`),
    spectrum (photon count, mu_eff), views, detector pitch (None: the pixel size), electronic noise
    and FBP kernel. HU below -1000 are read as air (mu = 0) for the projection only.
    """
    a = np.asarray(hu, dtype=np.float32)
    squeeze = a.ndim == 2
    if squeeze:
        a = a[..., None]
    if a.ndim != 3 or min(a.shape[:2]) < 2:
        raise RadsynthInputError("hu", a.shape, "an array (nx, ny) or (nx, ny, z) of HU")
    pixel_mm = positive("pixel_mm", pixel_mm, "mm")
    thick = positive("slice_thickness_mm", scan.slice_thickness_mm or slice_thickness_mm, "mm")
    nx, ny, nz = a.shape
    ds = scan.det_spacing_mm or pixel_mm
    n_det = scan.n_detectors or auto_n_detectors((nx, ny), pixel_mm, ds)
    angles = parallel_angles(scan.n_views)
    mu_eff = effective_mu_water_per_mm(scan)
    n0 = photons_per_detector_per_view(scan, ds, thick)
    out = np.empty_like(a)
    for z in range(nz):
        mu = mu_eff * (1.0 + np.maximum(a[..., z], -1000.0) / 1000.0)
        p = forward_project(mu, angles, n_det, ds, pixel_mm).astype(np.float64)  # (V, D) dimensionless
        counts = rng.poisson(n0 * np.exp(-p)).astype(np.float64)
        if scan.electronic_noise > 0:
            counts += rng.normal(0.0, scan.electronic_noise, size=counts.shape)
        np.maximum(counts, 1.0, out=counts)
        noise_sino = np.log(n0 / counts) - p
        noise_mu = fbp(noise_sino, angles, (nx, ny), ds, pixel_mm, scan.kernel)  # linear: FBP(p') - FBP(p)
        out[..., z] = a[..., z] + (1000.0 / mu_eff) * noise_mu
    return out[..., 0] if squeeze else out
