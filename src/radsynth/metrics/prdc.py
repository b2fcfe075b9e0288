"""Precision, recall, density and coverage (PRDC) of a synthetic feature set against a real one.

Naeem, Oh, Uh, Choi & Yoo, "Reliable fidelity and diversity metrics for generative
models", ICML 2020, arXiv:2002.09797 (precision / recall after Kynkäänniemi et al.,
NeurIPS 2019, arXiv:1904.06991). With real features ``X_i`` (N of them), synthetic
``Y_j`` (M), Euclidean distance ``d`` and ``r(X_i)`` = distance from ``X_i`` to its
k-th nearest *other* real sample (``NND_k``; likewise ``r(Y_j)`` within the
synthetic set)::

    precision = 1/M  sum_j  1[ exists i: d(X_i, Y_j) < r(X_i) ]      fidelity: synthetic inside the real manifold
    recall    = 1/N  sum_i  1[ exists j: d(X_i, Y_j) < r(Y_j) ]      diversity: real inside the synthetic manifold
    density   = 1/(kM) sum_j sum_i 1[ d(X_i, Y_j) < r(X_i) ]          fidelity, robust to real outliers; can exceed 1
    coverage  = 1/N  sum_i  1[ min_j d(X_i, Y_j) < r(X_i) ]           diversity, robust to synthetic outliers

This is the exact maths of the authors' reference code
(github.com/clovaai/generative-evaluation-prdc, ``compute_prdc``): strict ``<``,
radius = (k+1)-th smallest distance of a row *including* the zero self-distance.
Distances are computed with ``scipy.spatial.distance.cdist`` (exact Euclidean; the
reference uses scikit-learn's, which differs only by rounding), in row chunks so
that memory stays O(chunk x M) rather than O(N x M).

Expectations when both sets are i.i.d. from one distribution (paper, Lemmas 1-2):
``E[density] = 1`` and ``E[coverage] = 1 - prod_{i=1..k} (N - i) / (N + M - i)``
(:func:`expected_coverage`; about ``1 - 2^-k`` for N = M), so coverage below 1 is
expected even for a perfect generator. Identical sets (``Y = X``, rows in general
position: no tied distances) give precision = recall = coverage = 1 and density = 1
exactly (each real ball holds its centre and k - 1 neighbours strictly inside).

Ties: with strict ``<``, a point whose k nearest other points are exact duplicates
of it has radius 0 and an empty ball, so on purely discrete features all four
values can drop towards 0. Exact copies of real samples count as perfect fidelity:
PRDC measures fidelity and diversity, not memorisation (see the privacy audit).

Three layers: :class:`PRDC` (encoder + ``k``, callable on images),
:func:`prdc` (pure function of feature arrays), :func:`knn_radii` (the maths).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import Encoder, PixelEncoder, check_features, check_pair, encode

REFERENCE = "Naeem et al., ICML 2020, arXiv:2002.09797"
_CHUNK_ELEMENTS = 1 << 22  # distances held at once (~32 MB of float64)


def _chunks(n: int, m: int) -> Iterator[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(1, m))
    for i in range(0, n, step):
        yield slice(i, min(n, i + step))


def _check_k(k: Any, n: int, field_name: str) -> int:
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
        raise RadsynthInputError("k", k, "an integer >= 1 (nearest neighbours)")
    if n < k + 1:
        raise RadsynthInputError(field_name, f"{n} rows", f"at least k + 1 = {k + 1} rows for k = {k}",
                                 "Use more samples or a smaller k.")
    return int(k)


def knn_radii(features: np.ndarray, k: int = 5) -> np.ndarray:
    """Distance of every row of ``features (N, D)`` to its k-th nearest other row (``NND_k``), shape ``(N,)``."""
    x = check_features(features, "features")
    k = _check_k(k, x.shape[0], "features")
    out = np.empty(x.shape[0])
    for s in _chunks(x.shape[0], x.shape[0]):
        d = cdist(x[s], x)  # includes the zero self-distance, as the reference code does
        out[s] = np.partition(d, k, axis=1)[:, k]
    return out


def expected_coverage(n_real: int, n_synthetic: int, k: int = 5) -> float:
    """E[coverage] when both sets are i.i.d. from one distribution (Naeem et al. 2020, Lemma 2)."""
    if n_real < k + 1 or n_synthetic < 1 or k < 1:
        raise RadsynthInputError("n_real/n_synthetic/k", (n_real, n_synthetic, k),
                                 "n_real >= k + 1, n_synthetic >= 1, k >= 1")
    i = np.arange(1, k + 1)
    return float(1.0 - np.exp(np.sum(np.log(n_real - i) - np.log(n_real + n_synthetic - i))))


@dataclass(frozen=True)
class PRDCResult:
    """Precision, recall, density, coverage (see module docstring), with the k and set sizes used."""

    precision: float
    recall: float
    density: float
    coverage: float
    k: int
    n_real: int
    n_synthetic: int
    encoder: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def expected_coverage(self) -> float:
        """Coverage expected for a perfect generator at these sizes (Lemma 2); compare ``coverage`` with it."""
        return expected_coverage(self.n_real, self.n_synthetic, self.k)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": "prdc",
            "precision": self.precision,
            "recall": self.recall,
            "density": self.density,
            "coverage": self.coverage,
            "expected_coverage_if_identical": self.expected_coverage,
            "k": self.k,
            "n_real": self.n_real,
            "n_synthetic": self.n_synthetic,
            "encoder": self.encoder,
            "settings": dict(self.settings),
            "reference": REFERENCE,
        }


def prdc(real_features: np.ndarray, synthetic_features: np.ndarray, k: int = 5) -> PRDCResult:
    """PRDC of ``synthetic_features (M, D)`` against ``real_features (N, D)`` with k-NN radii; N, M >= k + 1."""
    x, y = check_pair(real_features, synthetic_features)
    k = _check_k(k, x.shape[0], "real_features")
    _check_k(k, y.shape[0], "synthetic_features")
    r_real = knn_radii(x, k)
    r_syn = knn_radii(y, k)
    n, m = x.shape[0], y.shape[0]
    syn_in_real = np.zeros(m, dtype=bool)  # precision
    syn_count = np.zeros(m, dtype=np.int64)  # density
    real_in_syn = np.empty(n, dtype=bool)  # recall
    covered = np.empty(n, dtype=bool)  # coverage
    for s in _chunks(n, m):
        d = cdist(x[s], y)
        inside = d < r_real[s, None]
        syn_in_real |= inside.any(axis=0)
        syn_count += inside.sum(axis=0)
        real_in_syn[s] = (d < r_syn[None, :]).any(axis=1)
        covered[s] = d.min(axis=1) < r_real[s]
    return PRDCResult(
        precision=float(syn_in_real.mean()),
        recall=float(real_in_syn.mean()),
        density=float(syn_count.mean() / k),
        coverage=float(covered.mean()),
        k=k,
        n_real=n,
        n_synthetic=m,
    )


class PRDC:
    """PRDC of a synthetic grey image set against a real one (``(N, H, W)`` in [0, 1]) through ``encoder``.

    ``encoder`` defaults to :class:`~radsynth.metrics.features.PixelEncoder` (16 x 16
    pixels); the paper's values use Inception-v3 (or other learned) features.
    """

    def __init__(self, encoder: Encoder | None = None, *, k: int = 5) -> None:
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise RadsynthInputError("k", k, "an integer >= 1 (nearest neighbours)")
        self.encoder: Encoder = encoder if encoder is not None else PixelEncoder()
        self.k = int(k)

    def __call__(self, real_images01: np.ndarray, synthetic_images01: np.ndarray) -> PRDCResult:
        fa = encode(self.encoder, real_images01, "real_images")
        fb = encode(self.encoder, synthetic_images01, "synthetic_images")
        r = prdc(fa, fb, self.k)
        return PRDCResult(r.precision, r.recall, r.density, r.coverage, r.k, r.n_real, r.n_synthetic,
                          getattr(self.encoder, "name", repr(self.encoder)), {"k": self.k})
