"""Kernel Inception Distance (KID): unbiased MMD^2 with a cubic polynomial kernel, averaged over subsets.

Bińkowski, Sutherland, Arbel & Gretton, "Demystifying MMD GANs", ICLR 2018,
arXiv:1801.01401. With features ``x, y`` of dimension ``d`` the kernel is::

    k(x, y) = (gamma * x.y + coef0) ** degree,   defaults gamma = 1/d, coef0 = 1, degree = 3

and the statistic is the unbiased U-statistic of the squared maximum mean
discrepancy (Gretton et al., JMLR 13:723-773, 2012, Lemma 6 / Eq. 3) on ``m``
samples from each set::

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m(m-1)) + sum_{i != j} k(y_i, y_j) / (m(m-1))
              - 2 sum_{i, j} k(x_i, y_j) / m^2

(the ``mmd_est='unbiased'`` branch of the authors' ``compute_scores.py``). KID is
the mean over ``n_subsets`` random subsets of size ``m`` drawn without replacement
from each set (independently per subset, from ``np.random.default_rng(seed)``), with
the standard deviation over subsets (``ddof=0``, as the reference code and
torchmetrics report it).

Interpretation: the estimator is unbiased, so for two samples of one distribution
its expectation is exactly 0 and single values (and often the mean) come out
negative; this is not an error and must not be clipped (clipping would bias it). Units:
kernel units (dimensionless for the default kernel on O(1) features). Unlike FID,
KID has no small-N bias, so values at different set sizes are comparable; the
spread over subsets shrinks with ``m``.

Not MONAI's ``MMDMetric``: it supports only the linear kernel (its ``y_mapping``
transforms samples, it cannot supply a polynomial kernel except through an explicit
feature map of dimension ``(d + 1)^3``) and requires equal set sizes. The tests
check this module against MONAI's ``compute_mmd`` on that explicit cubic feature
map for small ``d``.

Three layers: :class:`KernelInceptionDistance` (encoder + settings, callable on
images), :func:`kernel_inception_distance` (pure function of feature arrays),
:func:`polynomial_kernel` / :func:`mmd2_unbiased` (the maths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import Encoder, PixelEncoder, check_pair, encode

REFERENCE = "Binkowski et al., ICLR 2018, arXiv:1801.01401; Gretton et al., JMLR 2012"


def polynomial_kernel(
    x: np.ndarray, y: np.ndarray, *, degree: int = 3, gamma: float | None = None, coef0: float = 1.0
) -> np.ndarray:
    """Gram matrix ``(gamma * x @ y.T + coef0) ** degree``; ``gamma`` defaults to ``1 / D``."""
    g = 1.0 / x.shape[1] if gamma is None else gamma
    return (g * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD^2 (Gretton et al. 2012, Eq. 3) from Gram matrices ``(m, m)``, ``(n, n)``, ``(m, n)``; m, n >= 2."""
    m, n = k_xx.shape[0], k_yy.shape[0]
    sxx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    syy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * k_xy.sum() / (m * n))


def _check_int(name: str, v: Any, lo: int) -> int:
    if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < lo:
        raise RadsynthInputError(name, v, f"an integer >= {lo}")
    return int(v)


def _check_kernel(degree: Any, gamma: Any, coef0: Any) -> None:
    _check_int("degree", degree, 1)
    if gamma is not None and not (np.isfinite(gamma) and gamma > 0):
        raise RadsynthInputError("gamma", gamma, "None (1/D) or a number > 0")
    if not np.isfinite(coef0):
        raise RadsynthInputError("coef0", coef0, "a finite number")


@dataclass(frozen=True)
class KIDResult:
    """KID mean and standard deviation over subsets; ``values`` holds the per-subset MMD^2 estimates."""

    mean: float
    std: float
    n_subsets: int
    subset_size: int
    n_real: int
    n_synthetic: int
    values: np.ndarray = field(repr=False)
    encoder: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, include_values: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {
            "metric": "kid",
            "mean": self.mean,
            "std": self.std,
            "n_subsets": self.n_subsets,
            "subset_size": self.subset_size,
            "n_real": self.n_real,
            "n_synthetic": self.n_synthetic,
            "encoder": self.encoder,
            "settings": dict(self.settings),
            "reference": REFERENCE,
        }
        if include_values:
            d["values"] = self.values.tolist()
        return d


def kernel_inception_distance(
    real_features: np.ndarray,
    synthetic_features: np.ndarray,
    *,
    n_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> KIDResult:
    """KID of two feature sets ``(N1, D)``, ``(N2, D)`` (see module docstring).

    ``subset_size`` is capped at ``min(N1, N2)`` (the capped value is reported);
    when both sets are no larger than it every subset is the whole set and ``std`` is 0.
    """
    a, b = check_pair(real_features, synthetic_features, min_rows=2)
    n_subsets = _check_int("n_subsets", n_subsets, 1)
    subset_size = _check_int("subset_size", subset_size, 2)
    _check_int("seed", seed, 0)
    _check_kernel(degree, gamma, coef0)
    m = min(subset_size, a.shape[0], b.shape[0])
    rng = np.random.default_rng(seed)
    values = np.empty(n_subsets)
    kw = {"degree": degree, "gamma": gamma, "coef0": coef0}
    for s in range(n_subsets):
        x = a[rng.choice(a.shape[0], m, replace=False)]
        y = b[rng.choice(b.shape[0], m, replace=False)]
        k_xx, k_yy, k_xy = (polynomial_kernel(u, v, **kw) for u, v in ((x, x), (y, y), (x, y)))
        values[s] = mmd2_unbiased(k_xx, k_yy, k_xy)
    settings = {"seed": seed, "degree": degree, "gamma": gamma, "coef0": coef0}
    return KIDResult(float(values.mean()), float(values.std()), n_subsets, m, a.shape[0], b.shape[0], values,
                     settings=settings)


class KernelInceptionDistance:
    """KID of two grey image sets ``(N, H, W)`` in [0, 1] through ``encoder`` (default: 16 x 16 pixels).

    With the default :class:`~radsynth.metrics.features.PixelEncoder` the number is a
    pixel-space kernel distance, not comparable with published KID values.
    """

    def __init__(
        self,
        encoder: Encoder | None = None,
        *,
        n_subsets: int = 100,
        subset_size: int = 1000,
        seed: int = 0,
        degree: int = 3,
        gamma: float | None = None,
        coef0: float = 1.0,
    ) -> None:
        self.encoder: Encoder = encoder if encoder is not None else PixelEncoder()
        self.n_subsets = _check_int("n_subsets", n_subsets, 1)
        self.subset_size = _check_int("subset_size", subset_size, 2)
        self.seed = _check_int("seed", seed, 0)
        _check_kernel(degree, gamma, coef0)
        self.degree, self.gamma, self.coef0 = int(degree), gamma, float(coef0)

    def __call__(self, real_images01: np.ndarray, synthetic_images01: np.ndarray) -> KIDResult:
        fa = encode(self.encoder, real_images01, "real_images")
        fb = encode(self.encoder, synthetic_images01, "synthetic_images")
        r = kernel_inception_distance(fa, fb, n_subsets=self.n_subsets, subset_size=self.subset_size, seed=self.seed,
                                      degree=self.degree, gamma=self.gamma, coef0=self.coef0)
        return KIDResult(r.mean, r.std, r.n_subsets, r.subset_size, r.n_real, r.n_synthetic, r.values,
                         getattr(self.encoder, "name", repr(self.encoder)), r.settings)
