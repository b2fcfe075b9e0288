"""Materials for X-ray imaging: composition, density and energy-dependent attenuation.

Each :class:`Material` holds elemental mass fractions and a reference density. Mass
attenuation coefficients mu/rho (cm^2/g, total with coherent scattering) come from
``xraydb`` (Elam, Ravel & Sieber 2002 tables; photoelectric, coherent and incoherent
cross sections that agree with NIST XCOM to ~1-2 % in 20-150 keV) by the mixture rule
``mu/rho = sum_i w_i (mu/rho)_i`` (Hubbell & Seltzer, NIST X-Ray Mass Attenuation
Coefficients, NISTIR 5632).

Compositions and densities: ICRU Report 44 (1989), "Tissue Substitutes in Radiation
Dosimetry and Measurement", Table 4.5, as listed by NIST (physics.nist.gov/PhysRefData/
XrayMassCoef/tab2.html); spongiosa from ICRU Report 46 (1992); air and water from NIST.
Inflated lung is lung tissue at the density of ICRU 46 ("lung, inflated", 0.26 g/cm^3);
in practice lung density comes per voxel from the anatomy (inspiration level).

Energy range: 20-150 keV (the range radsynth's spectra and tables cover); other
energies raise :class:`~radsynth.core.errors.RadsynthInputError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

import numpy as np

from radsynth.core.errors import RadsynthInputError

#: Energy range (keV) of the tables used here.
ENERGY_RANGE_KEV = (20.0, 150.0)


@dataclass(frozen=True)
class Material:
    """A material: elemental mass fractions (sum 1) and reference density (g/cm^3)."""

    name: str
    density_g_cm3: float
    composition: Mapping[str, float] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        total = sum(self.composition.values())
        if not self.composition or abs(total - 1.0) > 0.01:
            raise ValueError(f"material {self.name}: mass fractions must sum to 1 (got {total:.4f})")

    def to_dict(self) -> dict:
        return {"name": self.name, "density_g_cm3": self.density_g_cm3,
                "composition": dict(self.composition), "source": self.source}


def _m(name: str, density: float, source: str, **fractions: float) -> Material:
    total = sum(fractions.values())
    return Material(name, density, MappingProxyType({k: v / total for k, v in fractions.items()}), source)


_ICRU44 = "ICRU Report 44 (1989), via NIST tab2"
#: The material table (read-only). Keys are the names used in anatomy and pathology maps.
MATERIALS: Mapping[str, Material] = MappingProxyType({m.name: m for m in (
    _m("air", 0.001205, "NIST, air (dry, near sea level)", C=0.000124, N=0.755268, O=0.231781, Ar=0.012827),
    _m("water", 1.0, "NIST, water (liquid)", H=0.111894, O=0.888106),
    _m("lung", 0.26, "ICRU 44 lung tissue composition at ICRU 46 inflated-lung density",
       H=0.103, C=0.105, N=0.031, O=0.749, Na=0.002, P=0.002, S=0.003, Cl=0.003, K=0.002),
    _m("adipose", 0.95, _ICRU44, H=0.114, C=0.598, N=0.007, O=0.278, Na=0.001, S=0.001, Cl=0.001),
    _m("soft_tissue", 1.06, _ICRU44 + " (soft tissue)",
       H=0.102, C=0.143, N=0.034, O=0.708, Na=0.002, P=0.003, S=0.003, Cl=0.002, K=0.003),
    _m("muscle", 1.05, _ICRU44 + " (skeletal muscle)",
       H=0.102, C=0.143, N=0.034, O=0.710, Na=0.001, P=0.002, S=0.003, Cl=0.001, K=0.004),
    _m("blood", 1.06, _ICRU44 + " (whole blood)",
       H=0.102, C=0.110, N=0.033, O=0.745, Na=0.001, P=0.001, S=0.002, Cl=0.003, K=0.002, Fe=0.001),
    _m("brain", 1.04, _ICRU44 + " (brain, grey/white matter)",
       H=0.107, C=0.145, N=0.022, O=0.712, Na=0.002, P=0.004, S=0.002, Cl=0.003, K=0.003),
    _m("cortical_bone", 1.92, _ICRU44 + " (cortical bone)",
       H=0.034, C=0.155, N=0.042, O=0.435, Na=0.001, Mg=0.002, P=0.103, S=0.003, Ca=0.225),
    _m("cancellous_bone", 1.18, "ICRU Report 46 (1992), spongiosa",
       H=0.085, C=0.404, N=0.028, O=0.367, Na=0.001, Mg=0.001, P=0.034, S=0.002, Cl=0.002, K=0.001,
       Ca=0.074, Fe=0.001),
    # blood with 10 mg iodine per mL (arterial phase contrast; iodine mass fraction 0.010 / 1.066)
    _m("iodinated_blood", 1.066, _ICRU44 + " whole blood + 10 mg/mL iodine",
       H=0.102 * 0.99062, C=0.110 * 0.99062, N=0.033 * 0.99062, O=0.745 * 0.99062, Na=0.001 * 0.99062,
       P=0.001 * 0.99062, S=0.002 * 0.99062, Cl=0.003 * 0.99062, K=0.002 * 0.99062, Fe=0.001 * 0.99062,
       I=0.00938),
    _m("iodine", 4.93, "element (for contrast basis)", I=1.0),
    _m("titanium", 4.506, "element (implant, e.g. Ti-6Al-4V approximated as Ti)", Ti=1.0),
)})


def material_names() -> list[str]:
    return sorted(MATERIALS)


def get_material(name: str, field_name: str = "material") -> Material:
    """Look a material up by name; unknown names raise one line listing the accepted names."""
    if isinstance(name, Material):
        return name
    try:
        return MATERIALS[name]
    except (KeyError, TypeError):
        raise RadsynthInputError(field_name, name, f"one of {material_names()}",
                                 "Add a composition to radsynth.physics.xray.materials.MATERIALS for a new material.") from None


def check_energies(energies_kev, field_name: str = "energy_kev") -> np.ndarray:
    """Energies as a float64 array; values outside 20-150 keV raise RadsynthInputError."""
    e = np.atleast_1d(np.asarray(energies_kev, dtype=np.float64))
    lo, hi = ENERGY_RANGE_KEV
    bad = e[~np.isfinite(e) | (e < lo - 1e-9) | (e > hi + 1e-9)]
    if bad.size:
        raise RadsynthInputError(field_name, float(bad[0]), f"energies within {lo:g}-{hi:g} keV (the tables' range)")
    return e


@lru_cache(maxsize=256)
def _element_mu(element: str, energies: tuple[float, ...]) -> np.ndarray:
    import xraydb

    out = np.asarray(xraydb.mu_elam(element, np.asarray(energies) * 1000.0, kind="total"), dtype=np.float64)
    out.setflags(write=False)
    return out


def mass_attenuation_cm2_g(material: str | Material, energies_kev) -> np.ndarray:
    """Total mass attenuation coefficient mu/rho (cm^2/g) of a material at the energies (keV)."""
    mat = get_material(material)
    e = check_energies(energies_kev)
    key = tuple(float(x) for x in e)
    total = np.zeros(e.shape, dtype=np.float64)
    for element, w in sorted(mat.composition.items()):
        total += w * _element_mu(element, key)
    return total


def linear_attenuation_per_mm(material: str | Material, energies_kev, density_g_cm3: float | None = None) -> np.ndarray:
    """Linear attenuation coefficient mu (1/mm) at the material's (or the given) density."""
    mat = get_material(material)
    rho = mat.density_g_cm3 if density_g_cm3 is None else float(density_g_cm3)
    return mass_attenuation_cm2_g(mat, energies_kev) * rho / 10.0


def hounsfield_units(material: str | Material, energy_kev: float, density_g_cm3: float | None = None) -> float:
    """CT number 1000 (mu - mu_water) / mu_water of a material at one (effective) energy."""
    mu = float(linear_attenuation_per_mm(material, [energy_kev], density_g_cm3)[0])
    mu_w = float(linear_attenuation_per_mm("water", [energy_kev])[0])
    return 1000.0 * (mu - mu_w) / mu_w


def density_for_hu(material: str | Material, hu: np.ndarray | float, energy_kev: float) -> np.ndarray:
    """Density (g/cm^3) at which ``material`` has CT number ``hu`` at ``energy_kev``.

    Inverse of :func:`hounsfield_units` (a linear relation per material, the stoichiometric
    calibration idea of Schneider, Pedroni & Lomax, Phys. Med. Biol. 41:111, 1996).
    """
    mu_rho = float(mass_attenuation_cm2_g(material, [energy_kev])[0])
    mu_w = float(linear_attenuation_per_mm("water", [energy_kev])[0]) * 10.0  # 1/cm
    return np.asarray((1.0 + np.asarray(hu, dtype=np.float64) / 1000.0) * mu_w / mu_rho)
