"""X-ray physics shared by CT and radiography.

Pipeline pieces (one algorithm per module)::

    materials   composition + density (ICRU 44) -> mass attenuation mu/rho(E) (xraydb, NIST-like tables)
    spectrum    tube spectrum for a kVp, filtration, anode angle (SpekPy)
    basis       material map -> two-basis (water, cortical bone [+ iodine, titanium]) equivalent densities
    beer_lambert polychromatic transmission of basis line integrals (energy-integrating detector)

Heavy parts (ray casting, projection) live in :mod:`radsynth.physics.xray.drr` and
:mod:`radsynth.physics.ct`.
"""
