"""Distance-based membership inference (Chen et al. 2020, GAN-Leaks) on seeded toy images."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.roc import roc_auc
from radsynth.privacy import MembershipInference, balanced_indices, membership_from_distances, tpr_at_fpr

PAD = 4


def _fields(rng: np.random.Generator, n: int, size: int = 48, sigma: float = 1.5) -> np.ndarray:
    """``n`` smooth Gaussian random fields in [0, 1] with a PAD-pixel margin (as in test_privacy_memorisation)."""
    f = gaussian_filter(rng.standard_normal((n, size + 2 * PAD, size + 2 * PAD)), (0, sigma, sigma))
    f = (f - f.mean(axis=(1, 2), keepdims=True)) / f.std(axis=(1, 2), keepdims=True)
    return np.clip(0.5 + 0.15 * f, 0.0, 1.0)


def _crop(big: np.ndarray, dy: int = 0, dx: int = 0, size: int = 48) -> np.ndarray:
    return np.ascontiguousarray(big[..., PAD + dy : PAD + dy + size, PAD + dx : PAD + dx + size])


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    members_big = _fields(rng, 150)
    members = _crop(members_big)
    nonmembers = _crop(_fields(rng, 100))
    # a generator that memorised: its samples are members shifted by 1 px plus noise, among new images
    leaky = np.clip(_crop(members_big, 1, -1) + rng.normal(0, 0.02, members.shape), 0, 1)
    leaky = np.concatenate([leaky, _crop(_fields(rng, 100))])
    independent = _crop(_fields(rng, 250))
    return members, nonmembers, leaky, independent


def test_memorising_generator_is_detected(toy):
    members, nonmembers, leaky, _ = toy
    mia = MembershipInference(size=48, max_shift=2, n_boot=500, seed=3)
    r = mia(leaky, members, nonmembers)
    assert r.n_members == r.n_nonmembers == 100 and r.n_members_total == 150  # balanced subsample
    assert r.auc > 0.99 and r.ci[0] > 0.95 and r.leakage_detected
    assert r.tpr_at_low_fpr > 0.95
    assert r.member_median_distance < 0.5 * r.nonmember_median_distance
    json.dumps(r.to_dict(per_image=True))
    # seeded: the same call gives the same numbers
    assert mia(leaky, members, nonmembers).to_dict() == r.to_dict()


def test_independent_generator_shows_no_leakage(toy):
    members, nonmembers, _, independent = toy
    r = MembershipInference(size=48, max_shift=2, n_boot=500, seed=3)(independent, members, nonmembers)
    assert r.ci[0] <= 0.5 <= r.ci[1] and not r.leakage_detected
    assert abs(r.auc - 0.5) < 0.1


def test_auc_is_roc_auc_of_negative_distance():
    rng = np.random.default_rng(1)
    dm, dn = rng.uniform(0, 1, 40), rng.uniform(0.2, 1.2, 40)
    r = membership_from_distances(dm, dn, n_boot=200, seed=0)
    assert r.auc == pytest.approx(roc_auc(-np.r_[dm, dn], np.r_[np.ones(40), np.zeros(40)]))
    # analytic: U(0,1) vs U(0.2,1.2): P(member closer) = 1 - 0.8^2 / 2 = 0.68
    big = membership_from_distances(rng.uniform(0, 1, 4000), rng.uniform(0.2, 1.2, 4000), n_boot=10)
    assert big.auc == pytest.approx(0.68, abs=0.02)


def test_balanced_indices_and_tpr_at_fpr():
    m, nm = balanced_indices(10, 4, seed=7)
    assert len(m) == len(nm) == 4 and (np.diff(m) > 0).all() and set(m) <= set(range(10))
    np.testing.assert_array_equal(nm, np.arange(4))
    np.testing.assert_array_equal(balanced_indices(10, 4, seed=7)[0], m)
    # non-members 0.1..1.0; at fpr 0.1 one false positive is allowed: threshold 0.2 (strict)
    dn = np.linspace(0.1, 1.0, 10)
    assert tpr_at_fpr(np.array([0.05, 0.15, 0.2, 0.5]), dn, 0.1) == 0.5
    assert tpr_at_fpr(np.array([0.05, 0.15, 0.2, 0.5]), dn, 0.0) == 0.25


def test_bad_input(toy):
    members, nonmembers, leaky, _ = toy
    mia = MembershipInference(size=48, max_shift=2, n_boot=20)
    with pytest.raises(RadsynthInputError, match="nonmembers"):
        mia(leaky, members, nonmembers[:0])
    with pytest.raises(RadsynthInputError, match="synthetic"):
        mia(leaky[:0], members, nonmembers)
    with pytest.raises(RadsynthInputError, match="member_distances"):
        membership_from_distances(np.array([]), np.ones(3))
    with pytest.raises(RadsynthInputError, match="queries"):
        MembershipInference(space="feature")(np.ones((5, 3)), np.ones((4, 2)), np.ones((4, 2)))
    with pytest.raises(RadsynthInputError, match="n_boot"):
        MembershipInference(n_boot=5)
