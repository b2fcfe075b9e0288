"""Two-basis material decomposition (Alvarez & Macovski, Phys. Med. Biol. 21:733, 1976).

Between 20 and 150 keV the mass attenuation of any low-Z material is, to within ~1 %,
a linear combination of two basis materials' (photoelectric- and Compton-like). radsynth
uses water and cortical bone as the basis (plus iodine and titanium as extra bases when
a volume contains contrast or metal, whose K-edges / high Z the two bases cannot
represent). A voxel of material m at density rho then becomes basis "equivalent
densities" ``rho * c_m`` (g/cm^3), and a ray's polychromatic attenuation needs only the
K basis line integrals: ``mu(E) L = sum_k (mu/rho)_k(E) * integral(rho c_k) dl``.

This is what makes the projectors cheap: 2-4 channels to ray-trace instead of one per
material. The fit is a least-squares fit of mu/rho(E) over the spectrum's energies,
weighted by the detected spectrum (so the energies that form the image fit best).
"""

from __future__ import annotations

import numpy as np

from radsynth.core.material_volume import MaterialVolume
from radsynth.physics.xray.materials import get_material, mass_attenuation_cm2_g

#: Default basis; "iodine" and "titanium" are appended when a volume holds them.
DEFAULT_BASIS = ("water", "cortical_bone")
_EXTRA = {"iodinated_blood": "iodine", "iodine": "iodine", "titanium": "titanium"}


def basis_for(material_names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The basis needed for these materials: water + cortical bone [+ iodine] [+ titanium]."""
    extra = sorted({_EXTRA[n] for n in material_names if n in _EXTRA})
    return DEFAULT_BASIS + tuple(extra)


def basis_mass_attenuation(basis: tuple[str, ...], energies_kev: np.ndarray) -> np.ndarray:
    """(K, E) mass attenuation (cm^2/g) of the basis materials."""
    return np.stack([mass_attenuation_cm2_g(b, energies_kev) for b in basis])


def decompose(material: str, basis: tuple[str, ...], energies_kev: np.ndarray,
              weights: np.ndarray | None = None) -> np.ndarray:
    """Coefficients c (K,) with mu/rho_material(E) ~= sum_k c_k mu/rho_k(E) (weighted least squares)."""
    get_material(material)
    e = np.asarray(energies_kev, dtype=np.float64)
    w = np.ones_like(e) if weights is None else np.asarray(weights, dtype=np.float64)
    w = np.sqrt(np.maximum(w, 0) / max(float(w.sum()), 1e-300))
    if material in basis:
        c = np.zeros(len(basis))
        c[basis.index(material)] = 1.0
        return c
    a = basis_mass_attenuation(basis, e).T  # (E, K)
    y = mass_attenuation_cm2_g(material, e)
    # relative fit: each energy's residual relative to the material's own attenuation
    aw = a * (w / y)[:, None]
    yw = w
    c, *_ = np.linalg.lstsq(aw, yw, rcond=None)
    return c


def basis_volumes(volume: MaterialVolume, energies_kev: np.ndarray, weights: np.ndarray | None = None,
                  basis: tuple[str, ...] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """(K, *shape) float32 basis equivalent densities (g/cm^3) of a material volume, and the basis."""
    basis = basis or basis_for(volume.names)
    coeffs = np.stack([decompose(n, basis, energies_kev, weights) for n in volume.names])  # (M, K)
    out = np.empty((len(basis),) + volume.material.shape, dtype=np.float32)
    for k in range(len(basis)):
        lut = coeffs[:, k].astype(np.float32)
        np.multiply(lut[volume.material], volume.density_g_cm3, out=out[k])
    return out, basis
