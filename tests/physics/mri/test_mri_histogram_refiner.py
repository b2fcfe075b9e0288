"""The learned grey-level refinement (issue #14 item 3): quantile mapping between two populations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.histogram_refiner import HistogramRefiner, head_grey


def _images(rng, n, a, b):
    """n 32x32 images: black background, a head of Beta(a, b)-distributed grey (rescaled into 0.12..0.98)."""
    out = []
    for _ in range(n):
        x = np.zeros((32, 32))
        x[4:28, 6:26] = 0.12 + 0.86 * rng.beta(a, b, (24, 20))
        out.append(x)
    return out


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    real = {"T1": _images(rng, 20, 5.0, 5.0), "T2": _images(rng, 20, 2.0, 5.0)}
    sim = {"T1": _images(rng, 20, 2.0, 6.0), "T2": _images(rng, 20, 5.0, 2.0)}
    return HistogramRefiner.fit(real, sim), real, sim


def test_fitted_map_carries_the_simulated_head_distribution_onto_the_real_one(fitted):
    """Quantile mapping (histogram specification; Nyul & Udupa 1999): after F, the simulated head pixels'
    quantiles equal the real ones to within the sampling error; the Wasserstein-1 distance shrinks tenfold."""
    from scipy.stats import wasserstein_distance

    ref, real, sim = fitted
    rng = np.random.default_rng(1)
    new_sim = {"T1": _images(rng, 20, 2.0, 6.0), "T2": _images(rng, 20, 5.0, 2.0)}  # fresh draws
    for w, seq in (("T1", "T1w"), ("T2", "T2w")):
        r = head_grey(real[w])
        before = head_grey(new_sim[w])
        after = head_grey([ref.grey(x, seq) for x in new_sim[w]])
        q = np.linspace(0.05, 0.95, 19)
        np.testing.assert_allclose(np.quantile(after, q), np.quantile(r, q), atol=0.02)
        assert wasserstein_distance(after, r) < 0.1 * wasserstein_distance(before, r)


def test_every_image_weighs_the_same_whatever_its_size():
    """One large real export must not set the table: a 400x400 image of grey 0.7-0.9 and three 40x40 images of
    grey 0.2-0.4 give a real median inside 0.2-0.4 (three images of four), not 0.7-0.9 (94 % of the pixels)."""
    rng = np.random.default_rng(2)
    big = rng.uniform(0.7, 0.9, (400, 400))
    small = [rng.uniform(0.2, 0.4, (40, 40)) for _ in range(3)]
    assert 0.2 < np.median(head_grey([big] + small)) < 0.4
    assert np.median(head_grey([big] + small, per_image=None)) > 0.7  # raw pixel pooling
    sim = [0.15 + 0.8 * rng.random((50, 50)) for _ in range(4)]
    ref = HistogramRefiner.fit({"T2": [big] + small}, {"T2": sim})
    mapped = head_grey([ref.grey(x, "T2w") for x in sim])
    assert 0.2 < np.median(mapped) < 0.4 and np.mean(mapped > 0.6) == pytest.approx(0.25, abs=0.03)
    with pytest.raises(RadsynthInputError, match="per_image"):
        head_grey(small, per_image=1)


def test_refinement_is_monotone_keeps_background_and_saturation_and_round_trips(fitted):
    ref = fitted[0]
    g = np.linspace(0.0, 1.0, 1001)
    for seq in ("T1w", "T1c", "MPRAGE", "T2w"):
        f = ref.grey(g, seq)
        assert np.all(np.diff(f) > 0) and f[0] == 0.0 and f[-1] == 1.0
    np.testing.assert_array_equal(ref.grey(g, "PD"), g)  # no table: identity
    np.testing.assert_array_equal(ref.grey(g, "FLAIR"), g)  # weighting not fitted: identity
    again = HistogramRefiner.from_json(ref.to_json())
    assert again == ref and again.sha256 == ref.sha256


@settings(max_examples=40, deadline=None)
@given(st.floats(0.5, 5000.0), st.integers(0, 2**31 - 1))
def test_voxels_keep_their_order_and_those_above_the_window_keep_their_value(hi, seed):
    """Anatomy preserved: a strictly increasing map of grey alone moves no voxel and keeps every voxel's rank,
    so any threshold segmentation before equals one after (Dice 1); above the window top nothing changes."""
    rng = np.random.default_rng(seed)
    ref = HistogramRefiner({"T1": ((0.0, 0.3, 0.6, 1.0), (0.0, 0.45, 0.7, 1.0))})
    v = rng.uniform(0.0, 1.5 * hi, 500).astype(np.float32)
    out = ref.apply(v, hi, "T1w")
    assert out.dtype == v.dtype and out.shape == v.shape
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(out[order].astype(np.float64)) >= -1e-4 * hi)
    above = v > hi
    np.testing.assert_array_equal(out[above], v[above])
    t = float(np.quantile(v, 0.4))
    np.testing.assert_array_equal(v > t, out > ref.apply(np.array([t], np.float32), hi, "T1w")[0])


@pytest.mark.parametrize("tables", [
    {"T1": ((0.0, 0.5, 0.4, 1.0), (0.0, 0.2, 0.6, 1.0))},  # x not increasing
    {"T1": ((0.0, 1.0), (0.0, 0.9))},  # does not end at 1
    {"T1": ((0.0, 0.5, 1.0), (0.0, 1.0))},  # lengths differ
])
def test_bad_tables_are_refused_naming_the_weighting(tables):
    with pytest.raises(RadsynthInputError, match="T1"):
        HistogramRefiner(tables)


def test_bad_json_and_too_little_data_are_refused():
    with pytest.raises(RadsynthInputError, match="intensity_refiner"):
        HistogramRefiner.from_json("{not json")
    with pytest.raises(RadsynthInputError, match="head pixels"):
        HistogramRefiner.fit({"T1": [np.zeros((8, 8))]}, {"T1": [np.full((8, 8), 0.5)]})
