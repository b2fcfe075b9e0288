"""MRI physics: tissue relaxation parameters, signal equations, acquisition artefacts.

Pipeline (see :func:`radsynth.physics.mri.simulator.simulate`)::

    label map --tissue table (T1, T2, T2*, PD)--> [contrast agent] --signal equation-->
    noise-free signal (1 mm) --partial volume--> bias field --k-space artefacts-->
    complex Gaussian noise --> magnitude image (float32, fixed a.u. scale)

One algorithm per module; every random component follows the Random/deterministic
twin pattern (``RandomX.sample(..., rng) -> X``; ``X.apply(...)`` is deterministic).
"""

from radsynth.physics.mri.acquisition import Acquisition, acquire
from radsynth.physics.mri.presets import SEQUENCES, get_sequence
from radsynth.physics.mri.simulator import simulate, simulate_slice_batch
from radsynth.physics.mri.tissue import (
    RandomTissueJitter,
    TissueJitter,
    TissueParams,
    TissueTable,
    parameter_maps,
    tissue_table,
)

__all__ = [
    "Acquisition",
    "RandomTissueJitter",
    "SEQUENCES",
    "TissueJitter",
    "TissueParams",
    "TissueTable",
    "acquire",
    "get_sequence",
    "parameter_maps",
    "simulate",
    "simulate_slice_batch",
    "tissue_table",
]
