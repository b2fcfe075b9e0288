"""CT physics: parallel-beam projection, filtered back projection, polychromatic noisy axial scans.

Modules (one algorithm each)::

    projector  Joseph forward projection + pixel-driven back projection (numba, deterministic)
    fbp        filtered back projection with ramp / shepp-logan / cosine / hann kernels
    ct_scan    CTScan: spectrum, mAs, noise, water beam-hardening correction, HU, CTDIvol estimate
    metal      titanium implant inserted into a MaterialVolume (metal streaks come from the physics)
    reference  the reference 120 kVp scan whose effective energy CT numbers refer to
    chest_generator  the ``ct-chest`` cohort generator (and the CT acquisition shared with ``ct-head``)
    head_generator   the ``ct-head`` cohort generator
"""
