"""The reference scan that CT numbers refer to.

Clinical CT numbers (lesion HU ranges in the literature) and the HU of the real source
CTs radsynth builds anatomy from were measured on scanners at about 120 kVp with a
water beam-hardening correction. radsynth reads such a CT number as a density at the
effective energy of its own default 120 kVp scan (:class:`radsynth.physics.ct.ct_scan.CTScan`
defaults: 6 mm Al, 250 mm water reference path; ~73 keV), whatever beam then images the
subject - so changing the simulated kVp changes contrast as the physics says, instead of
being calibrated away.
"""

from __future__ import annotations

from functools import lru_cache

REFERENCE_KVP = 120.0


@lru_cache(maxsize=1)
def reference_energy_kev() -> float:
    """Effective energy (keV) of the default 120 kVp CT scan (see module docstring)."""
    from radsynth.physics.ct.ct_scan import CTScan, effective_energy_kev

    return float(effective_energy_kev(CTScan()))
