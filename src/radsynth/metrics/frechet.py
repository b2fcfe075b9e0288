"""Fréchet distance between Gaussian fits of two feature sets (FID when the features come from Inception).

The Fréchet (2-Wasserstein) distance between ``N(mu1, S1)`` and ``N(mu2, S2)``
(Dowson & Landau, J. Multivariate Anal. 12:450-455, 1982) is::

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})

With Inception-v3 pool features this is the FID (Heusel et al., NeurIPS 2017,
arXiv:1706.08500). ``mu`` is the feature mean, ``S`` the unbiased (``N - 1``)
sample covariance, as in the reference TTUR / pytorch-fid code and MONAI.
Units: squared feature units. 0 for identical Gaussian fits; it is a distance
between *Gaussian fits*, blind to non-Gaussian differences, and biased upwards at
small N (Chong & Forsyth, CVPR 2020, arXiv:1911.07023): compare values only at
equal set sizes and with the same encoder (:mod:`radsynth.metrics.features`).

The trace term. ``S1 S2`` is similar to the symmetric PSD matrix
``S1^{1/2} S2 S1^{1/2}``, so ``tr((S1 S2)^{1/2})`` is the sum of the square roots
of that matrix's eigenvalues. radsynth computes it with two symmetric
eigendecompositions (``numpy.linalg.eigh``; eigenvalues that rounding makes
slightly negative are set to 0). This is hand-written instead of calling
``monai.metrics.get_fid_score`` (which gives the same numbers in float64, checked
in the tests) because MONAI's ``_sqrtm`` calls ``scipy.linalg.sqrtm(..., disp=False)``:
``disp`` is deprecated in SciPy 1.17 (a ``DeprecationWarning`` on every call) and
removed in SciPy 1.18, where MONAI's FID raises ``TypeError``; its only
safeguard, adding ``1e-6 I`` to both covariances when ``sqrtm`` returns
non-finite values (as pytorch-fid does), is reported with ``print``. The
eigendecomposition route cannot produce complex or non-finite values for finite
input, is about 5x faster than ``sqrtm`` at D = 2048, and handles the rank-deficient
covariances of N < D feature sets (common with a few hundred medical images and
2048-d features) as well as ``sqrtm`` does (both agree to ~1e-7 relative there).
``eps`` optionally adds ``eps * I`` to both covariances (Tikhonov ridge), the
pytorch-fid regularisation, for users who want it always on; default 0.

Results within rounding of 0 may come out slightly negative (about 1e-13 of
``tr(S1) + tr(S2)`` for full-rank, up to ~1e-7 for rank-deficient covariances); they
are returned unclipped, as MONAI and pytorch-fid do.

Three layers: :class:`FrechetDistance` (encoder + settings, callable on images),
:func:`frechet_distance` (pure function of two feature arrays),
:func:`frechet_distance_gaussian` / :func:`gaussian_fit` (the maths).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import Encoder, PixelEncoder, check_pair, encode

REFERENCE = "Heusel et al., NeurIPS 2017, arXiv:1706.08500; Dowson & Landau 1982"


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` (divisor ``N - 1``) of features ``(N, D)``, N >= 2."""
    x = np.asarray(features, dtype=np.float64)
    mu = x.mean(axis=0)
    sigma = np.atleast_2d(np.cov(x, rowvar=False, ddof=1))
    return mu, sigma


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr((S1 S2)^{1/2})`` for symmetric PSD ``S1, S2`` via eigenvalues of ``S1^{1/2} S2 S1^{1/2}``."""
    r = _psd_sqrt(sigma1)
    m = r @ sigma2 @ r
    m = 0.5 * (m + m.T)
    return float(np.sqrt(np.clip(np.linalg.eigvalsh(m), 0.0, None)).sum())


def _check_stats(mu: Any, sigma: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    m = np.asarray(mu, dtype=np.float64)
    s = np.asarray(sigma, dtype=np.float64)
    if m.ndim != 1 or s.shape != (m.size, m.size):
        raise RadsynthInputError(f"sigma{name}", f"shape {s.shape} for mu{name} of shape {m.shape}",
                                 "mu (D,) and sigma (D, D)")
    if not (np.isfinite(m).all() and np.isfinite(s).all()):
        raise RadsynthInputError(f"mu{name}/sigma{name}", "non-finite values", "finite numbers")
    if not np.allclose(s, s.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(s).max()))):
        raise RadsynthInputError(f"sigma{name}", "a non-symmetric matrix", "a symmetric PSD covariance matrix")
    return m, s


def frechet_distance_gaussian(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *, eps: float = 0.0
) -> float:
    """Squared Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (see module docstring)."""
    if not (np.isfinite(eps) and eps >= 0.0):
        raise RadsynthInputError("eps", eps, "a number >= 0 (ridge added to both covariances)")
    m1, s1 = _check_stats(mu1, sigma1, "1")
    m2, s2 = _check_stats(mu2, sigma2, "2")
    if m1.shape != m2.shape:
        raise RadsynthInputError("mu2", f"shape {m2.shape}", f"the shape of mu1 {m1.shape}")
    if eps > 0.0:
        ridge = eps * np.eye(m1.size)
        s1, s2 = s1 + ridge, s2 + ridge
    diff = m1 - m2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt_product(s1, s2))


def frechet_distance(real_features: np.ndarray, synthetic_features: np.ndarray, *, eps: float = 0.0) -> float:
    """Fréchet distance between Gaussian fits of two feature sets ``(N1, D)``, ``(N2, D)``; N >= 2 each."""
    a, b = check_pair(real_features, synthetic_features, min_rows=2)
    mu1, s1 = gaussian_fit(a)
    mu2, s2 = gaussian_fit(b)
    return frechet_distance_gaussian(mu1, s1, mu2, s2, eps=eps)


@dataclass(frozen=True)
class FrechetResult:
    """Fréchet distance of two image sets under ``encoder`` (FID when the encoder is Inception-v3)."""

    distance: float
    n_real: int
    n_synthetic: int
    dim: int
    encoder: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": "frechet_distance",
            "distance": self.distance,
            "n_real": self.n_real,
            "n_synthetic": self.n_synthetic,
            "dim": self.dim,
            "encoder": self.encoder,
            "settings": dict(self.settings),
            "reference": REFERENCE,
        }


class FrechetDistance:
    """Fréchet distance of two grey image sets ``(N, H, W)`` in [0, 1] through ``encoder``.

    ``encoder`` defaults to :class:`~radsynth.metrics.features.PixelEncoder` (16 x 16
    pixels): the result is then a pixel-space Fréchet distance, not an FID comparable
    with published values. ``eps``: see :func:`frechet_distance_gaussian`.
    """

    def __init__(self, encoder: Encoder | None = None, *, eps: float = 0.0) -> None:
        if not (np.isfinite(eps) and eps >= 0.0):
            raise RadsynthInputError("eps", eps, "a number >= 0 (ridge added to both covariances)")
        self.encoder: Encoder = encoder if encoder is not None else PixelEncoder()
        self.eps = float(eps)

    def __call__(self, real_images01: np.ndarray, synthetic_images01: np.ndarray) -> FrechetResult:
        fa = encode(self.encoder, real_images01, "real_images")
        fb = encode(self.encoder, synthetic_images01, "synthetic_images")
        d = frechet_distance(fa, fb, eps=self.eps)
        return FrechetResult(d, fa.shape[0], fb.shape[0], fa.shape[1], getattr(self.encoder, "name", repr(self.encoder)),
                             {"eps": self.eps})


def frechet_distance_few_samples(real_features: np.ndarray, synthetic_features: np.ndarray) -> float:
    """The same Fréchet distance as :func:`frechet_distance` (no ``eps``), computed through the samples: for few
    samples in many dimensions (``n << D``, e.g. 36 images of 256 features drawn hundreds of times) it costs one
    ``(n_a x n_b)`` SVD instead of two ``(D x D)`` eigendecompositions.

    With centred, scaled features ``A = (X_a - mean) / sqrt(n_a - 1)`` (so ``S_a = A^T A``), ``tr S_a = ||A||_F^2``
    and ``tr (S_a S_b)^(1/2)`` is the nuclear norm of ``A B^T`` (its singular values are the square roots of the
    non-zero eigenvalues of ``S_a S_b``)."""
    fa = np.asarray(real_features, dtype=np.float64)
    fb = np.asarray(synthetic_features, dtype=np.float64)
    if fa.ndim != 2 or fb.ndim != 2 or fa.shape[1] != fb.shape[1] or min(len(fa), len(fb)) < 2:
        raise RadsynthInputError("features", f"shapes {fa.shape} and {fb.shape}",
                                 "two (n, D) arrays with the same D and n >= 2 each")
    a = (fa - fa.mean(0)) / np.sqrt(len(fa) - 1)
    b = (fb - fb.mean(0)) / np.sqrt(len(fb) - 1)
    d = fa.mean(0) - fb.mean(0)
    return float(d @ d + (a * a).sum() + (b * b).sum() - 2.0 * np.linalg.svd(a @ b.T, compute_uv=False).sum())
