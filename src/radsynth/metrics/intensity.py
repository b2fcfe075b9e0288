"""Grey-value distribution distance between two image sets: 1-Wasserstein and Jensen-Shannon.

Each set's grey values (images ``(N, H, W)`` in [0, 1], all pixels of all images
pooled) form one empirical distribution. Two distances:

- ``w1``: the 1-Wasserstein (earth mover's) distance between the pooled value
  distributions, ``integral |F_real(t) - F_synthetic(t)| dt`` (Vallender, Theory
  Probab. Appl. 18:784-786, 1974), computed exactly on the samples by
  ``scipy.stats.wasserstein_distance``. Units: grey value (same as the images);
  adding a constant ``c`` to every pixel (without clipping) moves it by exactly
  ``|c|``. Above ``max_values`` pooled values per set, a uniform random subset of
  ``max_values`` values (without replacement, ``np.random.default_rng(seed)``, real
  set drawn first) is used; the subsampling error is O(1/sqrt(max_values)).
- ``js_divergence``: Jensen-Shannon divergence (Lin, IEEE Trans. Inf. Theory
  37:145-151, 1991) between the ``bins``-bin histograms on [0, 1] of *all* pooled
  values, in bits (base 2), so in [0, 1]: 0 for equal histograms, 1 for histograms
  with disjoint support. ``scipy.spatial.distance.jensenshannon`` returns the JS
  *distance* (its square root); this module squares it. Chosen over chi-squared
  because it is symmetric and finite with empty bins.

Both compare pooled marginals only: they are blind to where in the image a grey
value sits (anatomy) and to per-image variation; use the feature-space metrics for
structure.

Three layers: :class:`IntensityDistance` (settings, callable on images),
:func:`intensity_distance` (pure function of two image arrays),
:func:`grey_histogram` / :func:`js_divergence` (the maths; W1 is scipy's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import check_images

REFERENCE = "1-Wasserstein (Vallender 1974); Jensen-Shannon divergence (Lin 1991)"


def _check_int(name: str, v: Any, lo: int) -> int:
    if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < lo:
        raise RadsynthInputError(name, v, f"an integer >= {lo}")
    return int(v)


def grey_histogram(values01: np.ndarray, bins: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Probability histogram ``(bins,)`` of grey values in [0, 1] on equal bins, and the ``bins + 1`` edges."""
    counts, edges = np.histogram(np.ravel(values01), bins=bins, range=(0.0, 1.0))
    total = counts.sum()
    if total == 0:
        raise RadsynthInputError("values", "no values", "at least one grey value")
    return counts / total, edges


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits between two probability vectors (normalised by scipy if needed)."""
    return float(jensenshannon(p, q, base=2.0) ** 2)


def _pooled(x: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    v = x.ravel()
    if v.size > cap:
        v = v[rng.choice(v.size, cap, replace=False)]
    return v


@dataclass(frozen=True)
class IntensityResult:
    """Grey-value distances (see module docstring) plus the histograms for plots."""

    w1: float
    js_divergence: float
    mean_real: float
    mean_synthetic: float
    std_real: float
    std_synthetic: float
    n_values_real: int
    n_values_synthetic: int
    n_w1_values_real: int
    n_w1_values_synthetic: int
    bin_edges: np.ndarray = field(repr=False)
    hist_real: np.ndarray = field(repr=False)
    hist_synthetic: np.ndarray = field(repr=False)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, *, include_histograms: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "metric": "intensity",
            "w1": self.w1,
            "js_divergence_bits": self.js_divergence,
            "mean_real": self.mean_real,
            "mean_synthetic": self.mean_synthetic,
            "std_real": self.std_real,
            "std_synthetic": self.std_synthetic,
            "n_values_real": self.n_values_real,
            "n_values_synthetic": self.n_values_synthetic,
            "n_w1_values_real": self.n_w1_values_real,
            "n_w1_values_synthetic": self.n_w1_values_synthetic,
            "settings": dict(self.settings),
            "reference": REFERENCE,
        }
        if include_histograms:
            d["bin_edges"] = self.bin_edges.tolist()
            d["hist_real"] = self.hist_real.tolist()
            d["hist_synthetic"] = self.hist_synthetic.tolist()
        return d


def intensity_distance(
    real_images01: np.ndarray,
    synthetic_images01: np.ndarray,
    *,
    bins: int = 64,
    max_values: int = 1_000_000,
    seed: int = 0,
) -> IntensityResult:
    """W1 and JS divergence between the pooled grey values of two image sets ``(N, H, W)`` in [0, 1]."""
    bins = _check_int("bins", bins, 2)
    max_values = _check_int("max_values", max_values, 2)
    seed = _check_int("seed", seed, 0)
    a = check_images(real_images01, "real_images")
    b = check_images(synthetic_images01, "synthetic_images")
    rng = np.random.default_rng(seed)
    va, vb = _pooled(a, max_values, rng), _pooled(b, max_values, rng)
    w1 = float(wasserstein_distance(va, vb))
    pa, edges = grey_histogram(a, bins)
    pb, _ = grey_histogram(b, bins)
    return IntensityResult(
        w1=w1,
        js_divergence=js_divergence(pa, pb),
        mean_real=float(a.mean()),
        mean_synthetic=float(b.mean()),
        std_real=float(a.std()),
        std_synthetic=float(b.std()),
        n_values_real=int(a.size),
        n_values_synthetic=int(b.size),
        n_w1_values_real=int(va.size),
        n_w1_values_synthetic=int(vb.size),
        bin_edges=edges,
        hist_real=pa,
        hist_synthetic=pb,
        settings={"bins": bins, "max_values": max_values, "seed": seed},
    )


class IntensityDistance:
    """Grey-value distances of two image sets; settings as :func:`intensity_distance`."""

    def __init__(self, *, bins: int = 64, max_values: int = 1_000_000, seed: int = 0) -> None:
        self.bins = _check_int("bins", bins, 2)
        self.max_values = _check_int("max_values", max_values, 2)
        self.seed = _check_int("seed", seed, 0)

    def __call__(self, real_images01: np.ndarray, synthetic_images01: np.ndarray) -> IntensityResult:
        return intensity_distance(real_images01, synthetic_images01, bins=self.bins, max_values=self.max_values,
                                  seed=self.seed)
