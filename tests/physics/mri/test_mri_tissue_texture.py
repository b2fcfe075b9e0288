"""Within-tissue PD texture: requested spread, smooth (spatially correlated), replayable."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.tissue_texture import RandomTissueTexture, TissueTexture


def test_field_has_requested_std_mean_one_and_is_smooth():
    t = TissueTexture(rel_std=0.04, fine_mm=1.5, coarse_mm=6.0, seed=1)
    f = t.field((64, 64, 48), np.eye(4))
    assert f.dtype == np.float32
    assert abs(float(f.mean()) - 1.0) < 0.01
    assert abs(float(f.std()) - 0.04) / 0.04 < 0.25
    # neighbouring voxels are strongly correlated (white noise would give ~0)
    a, b = f[:-1].ravel() - 1, f[1:].ravel() - 1
    assert np.corrcoef(a, b)[0, 1] > 0.7


def test_texture_twin_replays_and_zero_std_is_identity():
    rng = np.random.default_rng(0)
    t = RandomTissueTexture().sample(rng)
    f1 = t.field((20, 20, 20), np.eye(4))
    f2 = TissueTexture.from_dict(t.to_dict()).field((20, 20, 20), np.eye(4))
    assert f1.tobytes() == f2.tobytes()
    assert np.all(TissueTexture(0.0, 1.0, 4.0, 3).field((5, 5, 5), np.eye(4)) == 1.0)
    with pytest.raises(RadsynthInputError):
        TissueTexture(0.9, 1.0, 4.0, 3)


def test_simulate_multiplies_signal_by_pd_modulation():
    from radsynth.physics.mri.acquisition import Acquisition
    from radsynth.physics.mri.simulator import simulate

    lab = np.full((6, 6), 2, dtype=np.int16)
    mod = np.linspace(0.9, 1.1, 36, dtype=np.float32).reshape(6, 6)
    acq = Acquisition(voxel_size_mm=1.0, snr=None, bias_field_strength=0.0)
    plain, _ = simulate(lab, np.eye(4), "T2w", acquisition=acq, rng=np.random.default_rng(0))
    tex, _ = simulate(lab, np.eye(4), "T2w", acquisition=acq, rng=np.random.default_rng(0), pd_modulation=mod)
    np.testing.assert_allclose(tex.array, plain.array * mod, rtol=1e-5)
