"""Distance-based membership inference against a generator's synthetic set.

The attacker sees only the synthetic images. Each real image is scored by its
distance to the nearest synthetic image; a model that memorises puts synthetic
images closer to its training images (members) than to other real images from
the same population (non-members). This is the full black-box attack of Chen,
Yu, Zhang & Fritz ("GAN-Leaks", ACM CCS 2020, arXiv:1909.03935; full black-box attack:
reconstruction distance to the nearest generated sample) and the Monte-Carlo
attack of Hilprecht, Härterich & Bernau (PoPETs 2019(4):232-249), which counts
synthetic samples in a small ball around the query (here: the limit of a
shrinking ball, the nearest distance).

Attack quality is the ROC AUC of ``-distance`` for members (label 1) against
non-members (label 0), with a stratified percentile-bootstrap interval
(:mod:`radsynth.metrics.roc`): 0.5 means no leakage visible to this attack,
1 a perfectly separable training set. Following Carlini et al. ("Membership
inference attacks from first principles", IEEE S&P 2022, arXiv:2112.03570) the
true-positive rate at a low false-positive rate (default 1 %) is reported too,
since an attack can be dangerous for a few records while the AUC stays near 0.5.

The larger group is subsampled (seeded, without replacement) to the size of the
smaller (usually: members to the number of held-out non-members) so that the
two classes weigh equally and the cost of the search stays bounded.

Three layers: :class:`MembershipInference` (settings, callable on image or
feature sets), :func:`membership_from_distances` (pure function of distances)
and :func:`tpr_at_fpr` / :func:`balanced_indices` (the maths).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.roc import bootstrap_auc_ci, roc_auc
from radsynth.privacy.nearest_neighbours import FeatureMetric, NeighbourSearch


def balanced_indices(n_members: int, n_nonmembers: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices (members, non-members) keeping ``min(n_members, n_nonmembers)`` of each group.

    The larger group is subsampled without replacement with ``np.random.default_rng(seed)``.
    """
    for name, n in (("members", n_members), ("nonmembers", n_nonmembers)):
        if n < 1:
            raise RadsynthInputError(name, f"{n} images", "at least one image")
    n = min(n_members, n_nonmembers)
    rng = np.random.default_rng(seed)
    m = np.arange(n_members) if n_members == n else np.sort(rng.choice(n_members, n, replace=False))
    nm = np.arange(n_nonmembers) if n_nonmembers == n else np.sort(rng.choice(n_nonmembers, n, replace=False))
    return m, nm


def tpr_at_fpr(member_distances: np.ndarray, nonmember_distances: np.ndarray, fpr: float = 0.01) -> float:
    """Largest fraction of members with distance below a threshold that flags at most ``fpr`` of non-members.

    Threshold: the ``(floor(fpr * n_nonmembers) + 1)``-th smallest non-member
    distance; a member is caught when strictly closer.
    """
    if not 0.0 <= fpr < 1.0:
        raise RadsynthInputError("fpr", fpr, "a number in [0, 1)")
    dm = np.asarray(member_distances, dtype=np.float64).ravel()
    dn = np.sort(np.asarray(nonmember_distances, dtype=np.float64).ravel())
    if dm.size == 0 or dn.size == 0:
        raise RadsynthInputError("distances", f"{dm.size} members, {dn.size} non-members", "at least one of each")
    tau = dn[min(int(math.floor(fpr * dn.size + 1e-9)), dn.size - 1)]
    return float((dm < tau).mean())


@dataclass(frozen=True)
class MembershipResult:
    """Outcome of the distance-based membership-inference attack.

    ``auc``: ROC AUC of ``-distance`` (members positive), ``ci`` its bootstrap
    interval at ``confidence``; ``tpr_at_low_fpr``: members caught at
    ``low_fpr`` false positives; distances in the units of ``distance``.
    """

    distance: str
    auc: float
    ci: tuple[float, float]
    confidence: float
    n_boot: int
    tpr_at_low_fpr: float
    low_fpr: float
    n_members: int
    n_nonmembers: int
    n_members_total: int
    n_nonmembers_total: int
    n_synthetic: int
    member_median_distance: float
    nonmember_median_distance: float
    seed: int
    member_distances: np.ndarray = field(repr=False)
    nonmember_distances: np.ndarray = field(repr=False)

    @property
    def leakage_detected(self) -> bool:
        """True when the whole interval lies above 0.5."""
        return self.ci[0] > 0.5

    def to_dict(self, *, per_image: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "distance": self.distance, "auc": self.auc, "ci": list(self.ci), "confidence": self.confidence,
            "n_boot": self.n_boot, "tpr_at_low_fpr": self.tpr_at_low_fpr, "low_fpr": self.low_fpr,
            "n_members": self.n_members, "n_nonmembers": self.n_nonmembers,
            "n_members_total": self.n_members_total, "n_nonmembers_total": self.n_nonmembers_total,
            "n_synthetic": self.n_synthetic, "member_median_distance": self.member_median_distance,
            "nonmember_median_distance": self.nonmember_median_distance, "seed": self.seed,
            "leakage_detected": self.leakage_detected,
        }
        if per_image:
            d["member_distances"] = self.member_distances.tolist()
            d["nonmember_distances"] = self.nonmember_distances.tolist()
        return d


def membership_from_distances(
    member_distances: np.ndarray, nonmember_distances: np.ndarray, *, seed: int = 0, balance: bool = True,
    n_boot: int = 2000, confidence: float = 0.95, low_fpr: float = 0.01, n_synthetic: int = 0,
    distance: str = "", n_members_total: int | None = None, n_nonmembers_total: int | None = None,
) -> MembershipResult:
    """Attack AUC from nearest-synthetic distances of members and non-members (smaller = more member-like).

    ``balance``: subsample the larger group (:func:`balanced_indices`, ``seed``);
    the bootstrap uses ``np.random.default_rng([seed, 1])``.
    """
    dm = np.asarray(member_distances, dtype=np.float64).ravel()
    dn = np.asarray(nonmember_distances, dtype=np.float64).ravel()
    for name, a in (("member_distances", dm), ("nonmember_distances", dn)):
        if a.size == 0:
            raise RadsynthInputError(name, "0 values", "at least one distance")
        if not np.isfinite(a).all():
            raise RadsynthInputError(name, "non-finite values", "finite distances")
    n_mt, n_nt = n_members_total or dm.size, n_nonmembers_total or dn.size
    if balance:
        im, inm = balanced_indices(dm.size, dn.size, seed)
        dm, dn = dm[im], dn[inm]
    scores = -np.concatenate([dm, dn])
    labels = np.r_[np.ones(dm.size, np.int64), np.zeros(dn.size, np.int64)]
    auc = roc_auc(scores, labels)
    lo, hi = bootstrap_auc_ci(scores, labels, np.random.default_rng([seed, 1]), n_boot=n_boot, level=confidence)
    return MembershipResult(
        distance=distance, auc=auc, ci=(lo, hi), confidence=float(confidence), n_boot=int(n_boot),
        tpr_at_low_fpr=tpr_at_fpr(dm, dn, low_fpr), low_fpr=float(low_fpr),
        n_members=int(dm.size), n_nonmembers=int(dn.size), n_members_total=int(n_mt), n_nonmembers_total=int(n_nt),
        n_synthetic=int(n_synthetic), member_median_distance=float(np.median(dm)),
        nonmember_median_distance=float(np.median(dn)), seed=int(seed),
        member_distances=dm, nonmember_distances=dn,
    )


class MembershipInference:
    """Settings of the distance-based membership-inference attack; call it on (synthetic, members, non-members).

    ``members``: the generator's training images; ``nonmembers``: real held-out
    images of the same population (never trained on). Spaces and distances as
    in :class:`radsynth.privacy.memorisation.MemorisationAudit`. The larger real
    group is subsampled before the search (``seed``).
    """

    def __init__(
        self, *, space: Literal["pixel", "feature"] = "pixel", size: int = 64, max_shift: int = 3,
        metric: FeatureMetric = "cosine", n_boot: int = 2000, confidence: float = 0.95, low_fpr: float = 0.01,
        seed: int = 0, block: int = 256,
    ) -> None:
        self.search = NeighbourSearch(space=space, size=size, max_shift=max_shift, metric=metric, block=block)
        if not 0.0 < confidence < 1.0:
            raise RadsynthInputError("confidence", confidence, "a number in (0, 1)")
        if not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
            raise RadsynthInputError("n_boot", n_boot, "an integer >= 10")
        if not 0.0 <= low_fpr < 1.0:
            raise RadsynthInputError("low_fpr", low_fpr, "a number in [0, 1)")
        self.n_boot, self.confidence, self.low_fpr, self.seed = n_boot, confidence, low_fpr, seed

    def __call__(self, synthetic: Any, members: Any, nonmembers: Any) -> MembershipResult:
        sw = self.search.prepare(synthetic, "synthetic")
        n_m, n_n = _count(members, "members"), _count(nonmembers, "nonmembers")
        im, inm = balanced_indices(n_m, n_n, self.seed)
        mw = self.search.prepare(_take(members, im), "members")
        nw = self.search.prepare(_take(nonmembers, inm), "nonmembers")
        dm = self.search.prepared(mw, sw, k=1).nearest_distance
        dn = self.search.prepared(nw, sw, k=1).nearest_distance
        return membership_from_distances(
            dm, dn, seed=self.seed, balance=False, n_boot=self.n_boot, confidence=self.confidence,
            low_fpr=self.low_fpr, n_synthetic=len(sw), distance=self.search.description,
            n_members_total=n_m, n_nonmembers_total=n_n,
        )


def _count(x: Any, name: str) -> int:
    n = len(x)
    if n == 0:
        raise RadsynthInputError(name, "0 images", "at least one image (or feature row)")
    return n


def _take(x: Any, idx: np.ndarray) -> Any:
    if isinstance(x, np.ndarray):
        return x[idx]
    return [x[int(i)] for i in idx]
