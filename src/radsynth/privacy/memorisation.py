"""Memorisation audit: which synthetic images are (near-)copies of training images?

A synthetic image is flagged as *memorised* when its distance to the nearest
training image is below a threshold calibrated on real data: the distances from
REAL HELD-OUT images (patients not in training) to their nearest TRAINING image
form the distribution "a different image from the same population". A synthetic
image closer to a training image than (almost) any genuinely new real image is
treated as a copy. The threshold is the ``quantile`` of that distribution
(default 0.001; ``quantile=0`` is its minimum) times ``margin`` (default 1).
This follows the held-out-calibrated nearest-neighbour tests of Meehan,
Chaudhuri & Dasgupta (AISTATS 2020, "A non-parametric test to detect
data-copying in generative models") and the copy criterion of Carlini et al.
(USENIX Security 2023, "Extracting training data from diffusion models",
arXiv:2301.13188), who flag generations whose distance to a training image is
far below the typical nearest-neighbour distance. The default distance is the
normalised, shift-invariant pixel distance of
:mod:`radsynth.privacy.nearest_neighbours`; features (e.g. classifier
embeddings) can be used instead.

Notes on calibration. With ``n`` held-out images a quantile below ``1 / n`` is
not resolved (``np.quantile`` interpolates between the smallest values; with
624 held-out images 0.001 is close to the minimum). If held-out images share
patients with training (follow-up scans) their distances are smaller and the
threshold too low: use a patient-disjoint held-out set. Under the null of a
generator that never copies (its images exchangeable with held-out ones), a
synthetic image falls below the ``quantile`` of ``n`` held-out distances with
probability about ``max(quantile, 1 / (n + 1))`` (exactly ``1 / (n + 1)`` for the
minimum): that is the false-flag rate to compare the memorised fraction with
(``MemorisationResult.null_flag_rate``). Small held-out sets therefore give
many false flags (20 held-out images: ~5 %).

Three layers: :class:`MemorisationAudit` (settings, callable on image sets),
:func:`memorisation_from_distances` (pure function of NN results) and
:func:`copy_threshold` / :func:`per_patient_copies` (the maths). The memorised
fraction has a Wilson score interval
(:func:`radsynth.metrics.class_fidelity.wilson_interval`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.class_fidelity import wilson_interval
from radsynth.privacy.nearest_neighbours import FeatureMetric, NeighbourSearch, Neighbours


def copy_threshold(heldout_distances: np.ndarray, quantile: float = 0.001, margin: float = 1.0) -> float:
    """``margin * quantile(heldout_distances, quantile)``: the copy threshold (distance units of the NN search).

    ``heldout_distances``: distance of each real held-out image to its nearest
    training image. ``quantile`` in [0, 0.5] (0 = the minimum); ``margin > 0``
    (below 1 is stricter, above 1 flags more).
    """
    d = np.asarray(heldout_distances, dtype=np.float64).ravel()
    if d.size == 0:
        raise RadsynthInputError("heldout_distances", "0 values", "at least one held-out distance")
    if not np.isfinite(d).all() or (d < 0).any():
        raise RadsynthInputError("heldout_distances", "negative or non-finite values", "finite distances >= 0")
    _check_quantile_margin(quantile, margin)
    return float(margin * np.quantile(d, quantile))


def _check_quantile_margin(quantile: float, margin: float) -> None:
    if not isinstance(quantile, (int, float)) or isinstance(quantile, bool) or not 0.0 <= quantile <= 0.5:
        raise RadsynthInputError("quantile", quantile, "a number in [0, 0.5] (0 = minimum held-out distance)")
    if not isinstance(margin, (int, float)) or isinstance(margin, bool) or not margin > 0 or not np.isfinite(margin):
        raise RadsynthInputError("margin", margin, "a finite number > 0")


def per_patient_copies(
    flagged: np.ndarray, nearest_training: np.ndarray, training_patients: Sequence[str],
) -> dict[str, dict[str, Any]]:
    """Per training patient whose images were copied: ``n_copies`` (flagged synthetic images whose nearest
    training image is that patient's), ``training_indices`` and ``synthetic_indices``; most-copied first."""
    out: dict[str, dict[str, Any]] = {}
    for si in np.flatnonzero(flagged):
        ti = int(nearest_training[si])
        p = str(training_patients[ti])
        e = out.setdefault(p, {"n_copies": 0, "training_indices": [], "synthetic_indices": []})
        e["n_copies"] += 1
        e["synthetic_indices"].append(int(si))
        if ti not in e["training_indices"]:
            e["training_indices"].append(ti)
    for e in out.values():
        e["training_indices"].sort()
    return dict(sorted(out.items(), key=lambda kv: (-kv[1]["n_copies"], kv[0])))


@dataclass(frozen=True)
class MemorisationResult:
    """Outcome of a memorisation audit (all distances in the units of ``distance``).

    ``flagged``: boolean per synthetic image; ``nearest_training`` /
    ``nearest_distance`` / ``nearest_shift``: its nearest training image;
    ``closest``: the ``n_closest`` synthetic images nearest to training, as
    dicts (synthetic_index, training_index, distance, shift, patient,
    memorised) for side-by-side display; ``per_patient``: see
    :func:`per_patient_copies` (empty without patient ids).
    """

    distance: str
    threshold: float
    quantile: float
    margin: float
    n_synthetic: int
    n_training: int
    n_heldout: int
    n_memorised: int
    fraction: float
    ci: tuple[float, float]
    confidence: float
    heldout_summary: dict[str, float]
    synthetic_summary: dict[str, float]
    closest: list[dict[str, Any]]
    per_patient: dict[str, dict[str, Any]]
    flagged: np.ndarray = field(repr=False)
    nearest_training: np.ndarray = field(repr=False)
    nearest_distance: np.ndarray = field(repr=False)
    nearest_shift: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_patients_copied(self) -> int:
        return len(self.per_patient)

    @property
    def null_flag_rate(self) -> float:
        """Approximate flag rate of a generator that never copies: ``max(quantile, 1 / (n_heldout + 1))``."""
        return max(self.quantile, 1.0 / (self.n_heldout + 1))

    def to_dict(self, *, per_image: bool = False) -> dict[str, Any]:
        """JSON-ready summary; ``per_image=True`` adds the per-synthetic-image arrays."""
        d: dict[str, Any] = {
            "distance": self.distance,
            "threshold": self.threshold,
            "quantile": self.quantile,
            "margin": self.margin,
            "n_synthetic": self.n_synthetic,
            "n_training": self.n_training,
            "n_heldout": self.n_heldout,
            "n_memorised": self.n_memorised,
            "fraction": self.fraction,
            "ci": list(self.ci),
            "confidence": self.confidence,
            "null_flag_rate": self.null_flag_rate,
            "heldout_summary": dict(self.heldout_summary),
            "synthetic_summary": dict(self.synthetic_summary),
            "closest": [dict(c) for c in self.closest],
            "n_patients_copied": self.n_patients_copied,
            "per_patient": {k: dict(v) for k, v in self.per_patient.items()},
        }
        if per_image:
            d["flagged"] = self.flagged.astype(bool).tolist()
            d["nearest_training"] = self.nearest_training.tolist()
            d["nearest_distance"] = self.nearest_distance.tolist()
            d["nearest_shift"] = None if self.nearest_shift is None else self.nearest_shift.tolist()
        return d


def _summary(d: np.ndarray) -> dict[str, float]:
    q = np.quantile(d, [0.0, 0.001, 0.01, 0.05, 0.5])
    return {"min": float(q[0]), "q0.001": float(q[1]), "q0.01": float(q[2]), "q0.05": float(q[3]),
            "median": float(q[4]), "n": int(d.size)}


def memorisation_from_distances(
    synthetic_nn: Neighbours, heldout_nn: Neighbours, n_training: int, *,
    training_patients: Sequence[str] | None = None, quantile: float = 0.001, margin: float = 1.0,
    n_closest: int = 16, confidence: float = 0.95, distance: str | None = None,
) -> MemorisationResult:
    """Memorisation audit from nearest-training-neighbour results of synthetic and held-out real images.

    A synthetic image is memorised when ``nearest distance < copy_threshold(held-out distances)``.
    """
    _check_quantile_margin(quantile, margin)
    if not isinstance(n_closest, (int, np.integer)) or isinstance(n_closest, bool) or n_closest < 0:
        raise RadsynthInputError("n_closest", n_closest, "an integer >= 0")
    if not isinstance(n_training, (int, np.integer)) or n_training < 1:
        raise RadsynthInputError("n_training", n_training, "an integer >= 1")
    d_syn = np.asarray(synthetic_nn.nearest_distance, dtype=np.float64)
    i_syn = np.asarray(synthetic_nn.nearest_index, dtype=np.int64)
    d_ho = np.asarray(heldout_nn.nearest_distance, dtype=np.float64)
    if d_syn.size == 0:
        raise RadsynthInputError("synthetic", "0 images", "at least one synthetic image")
    if i_syn.size and (i_syn.min() < 0 or i_syn.max() >= n_training):
        raise RadsynthInputError("synthetic_nn.indices", int(i_syn.max()), f"training indices 0..{n_training - 1}")
    if training_patients is not None and len(training_patients) != n_training:
        raise RadsynthInputError(
            "training_patients", f"{len(training_patients)} ids", f"one patient id per training image ({n_training})"
        )
    thr = copy_threshold(d_ho, quantile, margin)
    flagged = d_syn < thr
    n_mem = int(flagged.sum())
    lo, hi = wilson_interval(n_mem, int(d_syn.size), confidence)
    shifts = None if synthetic_nn.shifts is None else np.asarray(synthetic_nn.shifts)[:, 0]
    order = np.lexsort((np.arange(d_syn.size), d_syn))[: min(n_closest, d_syn.size)]
    closest = [
        {
            "synthetic_index": int(j),
            "training_index": int(i_syn[j]),
            "distance": float(d_syn[j]),
            "shift": None if shifts is None else [int(shifts[j, 0]), int(shifts[j, 1])],
            "patient": None if training_patients is None else str(training_patients[int(i_syn[j])]),
            "memorised": bool(flagged[j]),
        }
        for j in order
    ]
    per_patient = {} if training_patients is None else per_patient_copies(flagged, i_syn, training_patients)
    return MemorisationResult(
        distance=distance or synthetic_nn.metric,
        threshold=thr, quantile=float(quantile), margin=float(margin),
        n_synthetic=int(d_syn.size), n_training=int(n_training), n_heldout=int(d_ho.size),
        n_memorised=n_mem, fraction=n_mem / d_syn.size, ci=(lo, hi), confidence=float(confidence),
        heldout_summary=_summary(d_ho), synthetic_summary=_summary(d_syn),
        closest=closest, per_patient=per_patient,
        flagged=flagged, nearest_training=i_syn, nearest_distance=d_syn, nearest_shift=shifts,
    )


class MemorisationAudit:
    """Settings of a memorisation audit; call it on (synthetic, training, held-out) sets.

    ``space="pixel"``: sets are grey images in [0, 1] (``(N, H, W)`` arrays or
    lists of 2D arrays), compared by the normalised pixel distance at ``size`` px
    with shifts up to ``max_shift`` px; ``space="feature"``: ``(N, D)`` feature
    arrays compared by ``metric`` ("cosine" = 1 - cos, "l2"). ``quantile`` /
    ``margin`` set the copy threshold (:func:`copy_threshold`); ``n_closest``
    pairs are kept for display; ``confidence`` is that of the Wilson interval.
    """

    def __init__(
        self, *, space: Literal["pixel", "feature"] = "pixel", size: int = 64, max_shift: int = 3,
        metric: FeatureMetric = "cosine", quantile: float = 0.001, margin: float = 1.0, n_closest: int = 16,
        confidence: float = 0.95, block: int = 256,
    ) -> None:
        self.search = NeighbourSearch(space=space, size=size, max_shift=max_shift, metric=metric, block=block)
        _check_quantile_margin(quantile, margin)
        if not 0.0 < confidence < 1.0:
            raise RadsynthInputError("confidence", confidence, "a number in (0, 1)")
        self.quantile = quantile
        self.margin = margin
        self.n_closest = n_closest
        self.confidence = confidence

    def __call__(
        self, synthetic: Any, training: Any, heldout: Any, training_patients: Sequence[str] | None = None,
    ) -> MemorisationResult:
        """Audit ``synthetic`` against ``training``, threshold calibrated on ``heldout`` (real, not trained on)."""
        tw = self.search.prepare(training, "training")
        sw = self.search.prepare(synthetic, "synthetic")
        hw = self.search.prepare(heldout, "heldout")
        if training_patients is not None and len(training_patients) != len(tw):
            raise RadsynthInputError(
                "training_patients", f"{len(training_patients)} ids", f"one patient id per training image ({len(tw)})"
            )
        syn_nn = self.search.prepared(sw, tw, k=1)
        ho_nn = self.search.prepared(hw, tw, k=1)
        return memorisation_from_distances(
            syn_nn, ho_nn, len(tw), training_patients=training_patients, quantile=self.quantile, margin=self.margin,
            n_closest=self.n_closest, confidence=self.confidence, distance=self.search.description,
        )
