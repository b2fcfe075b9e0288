"""Polychromatic Beer-Lambert attenuation of basis line integrals.

For a ray with basis line integrals ``L_k`` (g/cm^2: equivalent density integrated along
the ray, see :mod:`radsynth.physics.xray.basis`), the detected signal relative to the
unattenuated beam is

    T = sum_E w(E) exp(-sum_k (mu/rho)_k(E) L_k) / sum_E w(E)

(Beer-Lambert per energy, summed over the tube spectrum). ``w(E)`` is the detected
spectrum: photon count N(E) for a photon-counting detector, N(E) * E for an
energy-integrating one (signal proportional to deposited energy; an ideal absorber is
assumed - no detector efficiency curve).

Computed in chunks of rays with a float64 accumulator, so memory stays bounded and
results do not depend on thread count.
"""

from __future__ import annotations

import numpy as np

from radsynth.core.errors import RadsynthInputError

DETECTORS = ("energy-integrating", "counting")


def detected_weights(energies_kev: np.ndarray, photons: np.ndarray, detector: str = "energy-integrating") -> np.ndarray:
    """(E,) float64 weights of each energy bin in the detected signal."""
    if detector not in DETECTORS:
        raise RadsynthInputError("detector", detector, f"one of {list(DETECTORS)}")
    e = np.asarray(energies_kev, dtype=np.float64)
    n = np.asarray(photons, dtype=np.float64)
    return n * e if detector == "energy-integrating" else n.copy()


def polychromatic_transmission(line_integrals_g_cm2: np.ndarray, mu_basis: np.ndarray, weights: np.ndarray,
                               chunk: int = 1 << 16) -> np.ndarray:
    """Transmission T in (0, 1] for each ray.

    Args:
        line_integrals_g_cm2: (K, ...) basis line integrals in g/cm^2.
        mu_basis: (K, E) basis mass attenuation coefficients in cm^2/g.
        weights: (E,) detected spectrum weights (:func:`detected_weights`).
    Returns:
        float64 array of shape ``line_integrals.shape[1:]``.
    """
    L = np.asarray(line_integrals_g_cm2)
    mu = np.asarray(mu_basis, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if L.shape[0] != mu.shape[0] or mu.shape[1] != w.shape[0]:
        raise ValueError(f"shapes do not match: line integrals {L.shape}, mu {mu.shape}, weights {w.shape}")
    k = L.shape[0]
    flat = L.reshape(k, -1)
    out = np.empty(flat.shape[1], dtype=np.float64)
    wn = w / w.sum()
    for s in range(0, flat.shape[1], chunk):
        seg = flat[:, s:s + chunk].astype(np.float64).T  # (n, K)
        out[s:s + chunk] = np.exp(-(seg @ mu)) @ wn
    return out.reshape(L.shape[1:])


def effective_mu_cm2_g(line_integrals_g_cm2: np.ndarray, mu_basis: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """-ln T / L_total: the effective mass attenuation along each ray (cm^2/g; beam hardening lowers it)."""
    L = np.asarray(line_integrals_g_cm2, dtype=np.float64)
    t = polychromatic_transmission(L, mu_basis, weights)
    total = L.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, -np.log(t) / total, np.nan)
