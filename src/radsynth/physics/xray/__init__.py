"""X-ray physics shared by CT and radiography, and the chest radiograph generator.

One algorithm per module::

    materials      composition + density (ICRU 44) -> mass attenuation mu/rho(E) (xraydb tables, 20-150 keV)
    spectrum       tube spectrum for a kVp, filtration, anode angle (SpekPy)
    basis          material map -> two-basis (water, cortical bone [+ iodine, titanium]) equivalent densities
    beer_lambert   polychromatic transmission of basis line integrals (energy-integrating / counting detector)
    tissue_map     labelled CT (or SynthSeg head labels) -> material map with the real CT's texture
    geometry       radiographic views (PA, AP, lateral), source-image distance, magnification
    drr            perspective ray casting (Joseph's method, numba) of basis channels and masks
    scatter        scatter as a kernel convolution with an anti-scatter grid
    radiograph     Beer-Lambert, scatter, quantum / electronic noise, detector blur, presentation processing
    chest_subject  one synthetic chest (anatomy variation, materials, pathology), shared with ``ct-chest``
    chest_generator  the ``xray-chest`` cohort generator

CT reconstruction lives in :mod:`radsynth.physics.ct`.
"""
