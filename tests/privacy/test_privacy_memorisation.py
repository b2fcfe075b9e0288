"""Nearest neighbours and memorisation audit on seeded toy images (smooth random fields).

Planted copies follow the issue's acceptance test: training images shifted by 1-2 px,
with Gaussian noise and JPEG re-encoding (quality 75), hidden among independent
images; the threshold is calibrated on held-out toy images only.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from scipy.spatial.distance import cdist

from radsynth.core.errors import RadsynthInputError
from radsynth.privacy import (
    MemorisationAudit,
    NeighbourSearch,
    Neighbours,
    copy_threshold,
    feature_nearest_neighbours,
    memorisation_from_distances,
    pixel_distance_matrix,
    pixel_nearest_neighbours,
    pixel_neighbours_prepared,
    prepare_images,
)

PAD = 4


def _fields(rng: np.random.Generator, n: int, size: int = 64, sigma: float = 1.5) -> np.ndarray:
    """``n`` smooth Gaussian random fields in [0, 1], with a PAD-pixel margin so crops can be shifted."""
    f = gaussian_filter(rng.standard_normal((n, size + 2 * PAD, size + 2 * PAD)), (0, sigma, sigma))
    f = (f - f.mean(axis=(1, 2), keepdims=True)) / f.std(axis=(1, 2), keepdims=True)
    return np.clip(0.5 + 0.15 * f, 0.0, 1.0)


def _crop(big: np.ndarray, dy: int = 0, dx: int = 0, size: int = 64) -> np.ndarray:
    """Field content displaced by (dy, dx): new content enters at the edges (no wrap-around)."""
    return np.ascontiguousarray(big[..., PAD + dy : PAD + dy + size, PAD + dx : PAD + dx + size])


def _jpeg(img: np.ndarray, quality: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(np.round(img * 255).astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("L"), dtype=np.float64) / 255.0


def _brute_force(q: np.ndarray, t: np.ndarray, s: int) -> np.ndarray:
    """Definition: min over shifts of RMS difference of standardised crops = sqrt(2 - 2 Pearson r)."""
    size = q.shape[-1]
    L = size - 2 * s
    out = np.full((len(q), len(t)), np.inf)
    for i in range(len(q)):
        for j in range(len(t)):
            b = t[j, s : s + L, s : s + L].ravel()
            for dy in range(-s, s + 1):
                for dx in range(-s, s + 1):
                    a = q[i, s + dy : s + dy + L, s + dx : s + dx + L].ravel()
                    r = np.corrcoef(a, b)[0, 1]
                    out[i, j] = min(out[i, j], np.sqrt(max(2 - 2 * r, 0.0)))
    return out


def test_pixel_distance_matches_definition_and_blocks():
    rng = np.random.default_rng(1)
    q = _crop(_fields(rng, 7, size=24, sigma=1.5), size=24).astype(np.float32)
    t = _crop(_fields(rng, 5, size=24, sigma=1.5), size=24).astype(np.float32)
    expect = _brute_force(q, t, 2)
    got = pixel_distance_matrix(q, t, max_shift=2)
    np.testing.assert_allclose(got, expect, atol=1e-6)
    nb = pixel_neighbours_prepared(q, t, k=3, max_shift=2, block=3)  # blocks of 3 queries, last one partial
    np.testing.assert_array_equal(nb.indices, np.argsort(expect, axis=1, kind="stable")[:, :3])
    np.testing.assert_allclose(nb.distances, np.sort(expect, axis=1)[:, :3], atol=1e-6)
    assert (np.diff(nb.distances, axis=1) >= 0).all()


def test_shift_brightness_contrast_invariance():
    rng = np.random.default_rng(2)
    big = _fields(rng, 3)
    a = _crop(big)
    for dy, dx in [(2, 0), (0, -2), (2, -2), (-1, 1)]:
        b = _crop(big, dy, dx)
        nb = pixel_nearest_neighbours(b, a, k=1, max_shift=3)
        np.testing.assert_array_equal(nb.nearest_index, [0, 1, 2])
        assert nb.nearest_distance.max() < 1e-6  # identical on the valid region
        np.testing.assert_array_equal(nb.shifts[:, 0], np.tile([-dy, -dx], (3, 1)))
        # without the shift search the same pairs are far apart: the invariance is the search's doing
        assert pixel_nearest_neighbours(b[:1], a[:1], max_shift=0).nearest_distance[0] > 0.2
    affine = 0.2 + 0.5 * a  # brightness and contrast change, still in [0, 1]
    assert pixel_nearest_neighbours(affine, a).nearest_distance.max() < 1e-6
    # unrelated smooth fields sit near sqrt(2) (uncorrelated), far from 0
    d = pixel_nearest_neighbours(_crop(_fields(rng, 20)), a).nearest_distance
    assert 0.9 < d.min() and d.max() < 1.5


def test_images_of_other_sizes_are_resized():
    rng = np.random.default_rng(3)
    a = _crop(_fields(rng, 2))
    from skimage.transform import resize

    big = [np.clip(resize(x, (128, 128), order=1), 0, 1) for x in a]  # list of 2D images, other size
    nb = pixel_nearest_neighbours(big, a)
    np.testing.assert_array_equal(nb.nearest_index, [0, 1])
    assert nb.nearest_distance.max() < 0.15
    assert prepare_images(a[:, None]).shape == (2, 64, 64)  # (N, 1, H, W) accepted


def _planted_setup(seed: int = 0, n_train: int = 120, n_heldout: int = 400, n_other: int = 300, n_planted: int = 50):
    rng = np.random.default_rng(seed)
    train_big = _fields(rng, n_train)
    train = _crop(train_big)
    heldout = _crop(_fields(rng, n_heldout))
    others = _crop(_fields(rng, n_other))
    src = rng.choice(n_train, n_planted, replace=False)
    src[1] = src[0]  # one training image copied twice (per-patient count)
    planted, shifts = [], []
    for i in src:
        while True:
            dy, dx = (int(v) for v in rng.integers(-2, 3, 2))
            if max(abs(dy), abs(dx)) >= 1:
                break
        img = _crop(train_big[i], dy, dx) + rng.normal(0.0, 0.02, (64, 64))
        planted.append(_jpeg(np.clip(img, 0.0, 1.0)))
        shifts.append((-dy, -dx))
    synth = np.concatenate([others, np.stack(planted)])
    perm = rng.permutation(len(synth))
    synth = synth[perm]
    is_planted = perm >= n_other
    source = np.full(len(synth), -1)
    source[is_planted] = src[perm[is_planted] - n_other]
    shift = np.zeros((len(synth), 2), int)
    shift[is_planted] = np.array(shifts)[perm[is_planted] - n_other]
    return train, heldout, synth, is_planted, source, shift


def test_planted_copies_are_flagged_and_traced_to_patients():
    train, heldout, synth, is_planted, source, shift = _planted_setup()
    patients = [f"p{i // 2:03d}" for i in range(len(train))]  # two images per patient
    res = MemorisationAudit(quantile=0.001, n_closest=60)(synth, train, heldout, training_patients=patients)
    assert res.flagged[is_planted].mean() >= 0.95
    assert res.flagged[~is_planted].mean() <= 0.01
    assert res.null_flag_rate == pytest.approx(1 / 401)  # 400 held-out images
    # threshold = 0.1 % quantile of held-out -> training NN distances; planted copies lie far below it
    assert res.threshold == pytest.approx(np.quantile(_heldout_d(train, heldout), 0.001))
    assert np.quantile(res.nearest_distance[is_planted], 0.95) < 0.5 * res.threshold
    caught = res.flagged & is_planted
    np.testing.assert_array_equal(res.nearest_training[caught], source[caught])
    np.testing.assert_array_equal(res.nearest_shift[caught], shift[caught])
    # Wilson interval around the observed fraction
    assert res.n_memorised == int(res.flagged.sum()) and res.ci[0] <= res.fraction <= res.ci[1]
    # per patient: counts add up, the twice-copied image's patient has >= 2 copies
    assert sum(e["n_copies"] for e in res.per_patient.values()) == res.n_memorised
    twice = patients[int(np.bincount(source[is_planted]).argmax())]
    assert res.per_patient[twice]["n_copies"] >= 2
    # closest pairs: sorted, planted ones first
    dists = [c["distance"] for c in res.closest]
    assert dists == sorted(dists) and all(c["memorised"] for c in res.closest[:45])
    json.dumps(res.to_dict(per_image=True))


def _heldout_d(train: np.ndarray, heldout: np.ndarray) -> np.ndarray:
    return pixel_nearest_neighbours(heldout, train).nearest_distance


def test_threshold_quantile_and_margin():
    d = np.array([0.9, 0.5, 0.7, 1.1])
    assert copy_threshold(d, 0.0) == 0.5
    assert copy_threshold(d, 0.5) == pytest.approx(np.median(d))
    assert copy_threshold(d, 0.0, margin=0.8) == pytest.approx(0.4)
    for bad in (dict(quantile=-0.1), dict(quantile=0.7), dict(margin=0.0)):
        with pytest.raises(RadsynthInputError):
            copy_threshold(d, **bad)
    with pytest.raises(RadsynthInputError, match="heldout_distances"):
        copy_threshold(np.array([]))


def test_null_flag_rate_is_one_over_n_plus_one():
    # Under the null (synthetic exchangeable with held-out), the minimum of n held-out distances
    # flags a new image with probability 1/(n+1): for U(0, 1) distances E[min of n] = 1/(n+1).
    rng = np.random.default_rng(6)
    n = 9
    rates = [np.mean(rng.random(200) < copy_threshold(rng.random(n), 0.0)) for _ in range(3000)]
    assert np.mean(rates) == pytest.approx(1 / (n + 1), abs=0.005)
    syn = Neighbours(np.zeros((4, 1), np.int64), np.ones((4, 1)), None, "l2")
    ho = Neighbours(np.zeros((n, 1), np.int64), rng.random((n, 1)) + 2.0, None, "l2")
    res = memorisation_from_distances(syn, ho, 1, quantile=0.0)
    assert res.null_flag_rate == pytest.approx(0.1) and res.n_memorised == 4 and res.closest[0]["shift"] is None


def test_feature_neighbours_match_cdist():
    rng = np.random.default_rng(4)
    q, t = rng.normal(size=(30, 8)), rng.normal(size=(50, 8))
    t[7] = 0.0  # zero vector: cosine distance 1 by convention
    for metric, sp in (("l2", "euclidean"), ("cosine", "cosine")):
        nb = feature_nearest_neighbours(q, t, k=4, metric=metric, block=7)
        full = cdist(q, t, sp)
        if metric == "cosine":
            full[:, 7] = 1.0
        np.testing.assert_allclose(nb.distances, np.sort(full, axis=1)[:, :4], atol=1e-10)
        np.testing.assert_array_equal(nb.indices, np.argsort(full, axis=1, kind="stable")[:, :4])
    # a feature-space audit flags exact feature copies
    res = MemorisationAudit(space="feature", metric="l2")(np.r_[t[:3] + 1e-9, q], t, rng.normal(size=(40, 8)))
    assert res.flagged[:3].all() and not res.flagged[3:].any()


def test_bad_input():
    rng = np.random.default_rng(5)
    a = _crop(_fields(rng, 4))
    with pytest.raises(RadsynthInputError, match="queries"):
        pixel_nearest_neighbours(np.empty((0, 64, 64)), a)
    with pytest.raises(RadsynthInputError, match="training"):
        MemorisationAudit()(a, [], a)
    with pytest.raises(RadsynthInputError, match="query_work"):
        pixel_neighbours_prepared(a[:, :32, :32], a)  # prepared at different working sizes
    with pytest.raises(RadsynthInputError, match="queries"):
        feature_nearest_neighbours(np.ones((3, 4)), np.ones((5, 6)))  # feature dimension mismatch
    with pytest.raises(RadsynthInputError, match="training_patients"):
        MemorisationAudit()(a, a, a, training_patients=["p1"])
    with pytest.raises(RadsynthInputError, match=r"\[-1, 1\]"):
        pixel_nearest_neighbours(a * 2 - 1, a)
    with pytest.raises(RadsynthInputError, match="max_shift"):
        NeighbourSearch(max_shift=20)
    with pytest.raises(RadsynthInputError, match="k"):
        pixel_nearest_neighbours(a, a, k=5)
    with pytest.raises(RadsynthInputError, match="images"):
        prepare_images(np.zeros((2, 3, 8, 8)))
