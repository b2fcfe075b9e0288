"""Downstream utility of synthetic images: does training on them help a real-data classifier?

The study trains the SAME classifier (:func:`radsynth.metrics.classifier.train_classifier`)
in four arms and tests every model on the same held-out REAL images:

* ``"real"``: real training images only (the baseline);
* ``"synthetic"``: synthetic images only, tested on real ("train on synthetic, test on
  real", TSTR; Esteban, Hyland & Raetsch, arXiv:1706.02633, 2017);
* ``"real+synthetic"``: the real images plus the synthetic set (augmentation);
* ``"real+duplicated"``: the real images repeated until they reach the image count of
  ``real+synthetic``. This is the control that synthetic augmentation has to beat: it
  gives the classifier the same number of optimisation steps per epoch and the same
  class-balanced loss without any new information. The issue (#4) cites Pink & Sykes
  (2026) for synthetic augmentation often failing to beat it (reference as given in the
  issue, not re-checked here).

Each arm is run at several fractions of the real training data (default 5, 10, 25 and
100 %) and several seeds (default 3).

Sampling, all by patient (a patient's images are never split):

* real fraction (:func:`sample_patient_fraction`): per class, the patients (class of a
  patient = the majority label of its images) are put in a seeded random order and the
  first ``ceil(fraction * n_patients_of_class)`` are kept (at least 2 per class, one for
  training and one for validation). For a fixed seed the samples are nested
  (5 % inside 10 % inside 25 %), which makes learning curves smoother. The fraction is
  one of PATIENTS per class; the image fraction follows from it.
* validation (:func:`split_train_val`): ``val_fraction`` of the sampled patients of each
  class, via :func:`radsynth.generators.common.data.patient_split`. It picks the best epoch and
  the decision threshold (balanced accuracy). The same real train/validation split is
  used by all arms at a given fraction and seed (paired design); the duplicated arm
  duplicates the training part only.
* TSTR validation (``tstr_validation``): ``"synthetic"`` (default) holds out
  ``val_fraction`` of the synthetic images (by ``synthetic_groups``, else per image) and
  uses no real image at all, the strict TSTR protocol; its rows have ``fraction`` 0.0
  (no real image used) and the arm is trained once per seed. ``"real"`` uses the real
  validation split of each fraction instead (rows per fraction): a common variant that
  lets the synthetic-only model pick its threshold on real data.
* the synthetic set is used whole in ``real+synthetic`` (or ``synthetic_ratio`` times the
  real training count, class-stratified and seeded) and split for TSTR as above.
* ``real+duplicated`` (:func:`duplicate_to_count`): every real training image ``k``
  times plus a seeded random subset (without replacement) for the remainder.

Evaluation (:func:`evaluate_scores`): AUC of p(class 1), accuracy, sensitivity and
specificity at the validation-chosen threshold, with percentile bootstrap CIs that
resample held-out PATIENTS with replacement (cluster bootstrap; Field & Welsh, JRSS-B
69:369-390, 2007) rather than images, because images of one patient are correlated.
The resampled AUC is the weighted Mann-Whitney statistic (image weight = number of
times its patient was drawn; Hanley & McNeil, Radiology 143:29-36, 1982), hand-written
here because :func:`radsynth.metrics.roc.bootstrap_auc_ci` resamples images, not
patients; it equals :func:`radsynth.metrics.roc.roc_auc` at unit weights (tested).

Across seeds each (arm, fraction) gets the mean, standard deviation, min and max, and a
CI of the seed mean (:func:`paired_difference` with one arm). The verdict
(:meth:`UtilityResult.compare`, :func:`paired_difference`) asks whether
``real+synthetic`` beats ``real+duplicated``: the per-seed difference of the two arms
(same seed = same real sample, same validation split, same initial weights) is averaged
over seeds, and its CI comes from a bootstrap that resamples test patients (the same
draw for both arms: paired) and, by default, seeds (``resample_seeds``), so that training
randomness enters the interval. With 3 seeds the seed part is coarse; more seeds tighten
it.

Budget: :meth:`UtilityStudy.plan` lists every model with its training-set size before
anything is trained; :meth:`UtilityStudy.estimate_seconds` times a few training steps of
the configured network on random data and gives an upper bound (every model running its
full epochs, capped by ``max_minutes_per_model``), printed through ``log`` before the run;
``max_total_minutes`` refuses to start a study whose estimate exceeds it. A tqdm bar
shows progress.

Defaults are sized for the Kermany paediatric chest X-ray set (5,216 training images,
624 test images, 2 CPU cores, <= 60 min): 64 px, a small MONAI ``Classifier``
(channels 8-16-32-64, 51k parameters), 10 epochs with patience 3 and the best validation
epoch kept; small training sets get more epochs (up to 200) so that every model makes at
least ``min_steps`` = 150 optimiser steps and the 5 % models are not starved.

Three layers: :class:`UtilityStudy` (settings; callable on arrays) ->
:class:`UtilityResult` (``to_dict``, ``compare``); pure functions
(:func:`sample_patient_fraction`, :func:`split_train_val`, :func:`duplicate_to_count`,
:func:`evaluate_scores`, :func:`paired_difference`); the maths
(:func:`patient_bootstrap_weights`, :func:`weighted_auc`).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError

ARMS = ("real", "synthetic", "real+synthetic", "real+duplicated")
DEFAULT_FRACTIONS = (0.05, 0.10, 0.25, 1.0)
_EVAL_COST = 1.0 / 3.0  # forward-only cost per image relative to a training step (measured ~0.25-0.35 on CPU)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


from radsynth.metrics.patient_bootstrap import (  # noqa: F401 - re-exported: shortcut, fairness, tests
    METRICS,
    _check_groups,
    _check_images,
    _check_labels,
    _codes,
    _metric_matrix,
    _quantiles,
    _weighted_rates,
    evaluate_scores,
    paired_difference,
    patient_bootstrap_weights,
    weighted_auc,
)

from radsynth.metrics.patient_sampling import (  # noqa: E402,F401 - re-exported for callers of the utility API
    duplicate_to_count,
    patient_strata,
    sample_patient_fraction,
    split_train_val,
    stratified_subset,
)

# ---------------------------------------------------------------- loading


@dataclass(frozen=True)
class LabelledImages:
    """Images ``(N, S, S)`` float32 in [0, 1], binary labels, patient ids, class names, source paths."""

    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    patients: np.ndarray = field(repr=False)
    classes: tuple[str, ...]
    paths: tuple[str, ...] = field(default=(), repr=False)


def load_labelled_images(data: str, image_size: int = 64, *, progress: bool = False) -> LabelledImages:
    """Read a two-class folder or manifest (:func:`radsynth.generators.common.data.scan_data`) at ``image_size`` px.

    Labels are the class indices in folder (or manifest) order: ``cxr-pneumonia/train`` gives
    NORMAL = 0, PNEUMONIA = 1. Patient ids as :func:`radsynth.generators.common.data.patient_id`.
    """
    from radsynth.generators.common.data import load_images, scan_data

    folder = scan_data(data, require_classes=2)
    if len(folder.classes) != 2:
        raise RadsynthInputError("data classes", list(folder.classes), "exactly two classes (binary task)")
    x = (load_images(folder.items, image_size, progress=progress)[:, 0] + 1.0) / 2.0
    return LabelledImages(
        images=np.clip(x, 0.0, 1.0).astype(np.float32),
        labels=np.array([it.label_index for it in folder.items], dtype=np.int64),
        patients=np.array([it.patient for it in folder.items], dtype=object),
        classes=folder.classes, paths=tuple(str(it.path) for it in folder.items),
    )


# ---------------------------------------------------------------- result


@dataclass
class UtilityResult:
    """Rows (one per trained model), seed summaries and the settings of a :class:`UtilityStudy`.

    ``scores[(arm, fraction, seed)]``: p(class 1) of that model on the test images.
    """

    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    settings: dict[str, Any]
    test_labels: np.ndarray = field(repr=False)
    test_patients: np.ndarray = field(repr=False)
    scores: dict[tuple[str, float, int], np.ndarray] = field(repr=False, default_factory=dict)
    notes: list[str] = field(default_factory=list)
    estimate_seconds: float = 0.0
    seconds: float = 0.0

    def _stack(self, arm: str, fraction: float) -> tuple[np.ndarray, np.ndarray, list[int]]:
        rows = sorted((r for r in self.rows if r["arm"] == arm and r["fraction"] == fraction), key=lambda r: r["seed"])
        seeds = [r["seed"] for r in rows]
        return (np.stack([self.scores[(arm, fraction, s)] for s in seeds]),
                np.array([r["threshold"] for r in rows]), seeds)

    def fractions(self, arm: str) -> list[float]:
        return sorted({r["fraction"] for r in self.rows if r["arm"] == arm})

    def compare(self, arm: str = "real+synthetic", control: str = "real+duplicated", metric: str = "auc",
                *, seed: int | None = None) -> list[dict[str, Any]]:
        """Per real fraction: does ``arm`` beat ``control``? Seed-paired difference with CI and a verdict.

        Verdict: "beats" when the CI of the difference lies above 0, "worse" when below 0,
        else "no detectable difference".
        """
        for name, a in (("arm", arm), ("control", control)):
            if a not in {r["arm"] for r in self.rows}:
                raise RadsynthInputError(name, a, f"an arm of this study: {sorted({r['arm'] for r in self.rows})}")
        s = self.settings
        out = []
        for f in sorted(set(self.fractions(arm)) & set(self.fractions(control))):
            sa, ta, seeds_a = self._stack(arm, f)
            sb, tb, seeds_b = self._stack(control, f)
            if seeds_a != seeds_b:
                continue
            d = paired_difference(sa, sb, self.test_labels, self.test_patients, metric=metric, thresholds_a=ta,
                                  thresholds_b=tb, resample_seeds=s["resample_seeds"],
                                  seed=s["seed"] if seed is None else seed, n_boot=s["n_boot"], level=s["level"])
            lo, hi = d["ci"]
            if lo > 0:
                word = "beats"
            elif hi < 0:
                word = "worse"
            else:
                word = "no detectable difference"
            pct = f"{100 * f:g} % real data"
            ci_txt = f"{100 * s['level']:g} % CI {lo:+.3f} to {hi:+.3f}"
            if word == "beats":
                text = f"{arm} beats {control} at {pct}: {metric} {d['estimate']:+.3f} ({ci_txt})."
            elif word == "worse":
                text = f"{arm} is worse than {control} at {pct}: {metric} {d['estimate']:+.3f} ({ci_txt})."
            else:
                text = (f"{arm} does not detectably beat {control} at {pct}: {metric} {d['estimate']:+.3f} "
                        f"({ci_txt} covers 0).")
            out.append({"fraction": f, "arm": arm, "control": control, **d, "verdict": word, "text": text})
        return out

    def to_dict(self, *, include_scores: bool = False) -> dict[str, Any]:
        """JSON-ready: settings, rows, summary, the real+synthetic vs real+duplicated verdict, notes."""
        arms = {r["arm"] for r in self.rows}
        d: dict[str, Any] = {
            "metric": "utility",
            "settings": dict(self.settings),
            "rows": [dict(r) for r in self.rows],
            "summary": [dict(r) for r in self.summary],
            "comparison": self.compare() if {"real+synthetic", "real+duplicated"} <= arms else [],
            "notes": list(self.notes),
            "estimate_seconds": self.estimate_seconds,
            "seconds": self.seconds,
            "references": [
                "TSTR: Esteban, Hyland & Raetsch, arXiv:1706.02633 (2017)",
                "duplication control: Pink & Sykes (2026), as cited in issue #4",
                "cluster bootstrap: Field & Welsh, JRSS-B 69:369-390 (2007)",
            ],
        }
        if include_scores:
            d["test_labels"] = self.test_labels.tolist()
            d["test_patients"] = [str(p) for p in self.test_patients]
            d["scores"] = [{"arm": a, "fraction": f, "seed": s, "scores": v.tolist()}
                           for (a, f, s), v in sorted(self.scores.items())]
        return d


# ---------------------------------------------------------------- the study


@dataclass
class _Job:
    arm: str
    fraction: float
    seed: int
    real_idx: np.ndarray
    syn_idx: np.ndarray
    val_src: str  # "real" or "synthetic"
    val_idx: np.ndarray
    n_real_patients: int = 0

    @property
    def n_train(self) -> int:
        return int(self.real_idx.size + self.syn_idx.size)


class UtilityStudy:
    """Real / synthetic / real+synthetic / real+duplicated utility study (see module docstring).

    Settings: ``arms``, ``fractions`` (of real training patients per class), ``n_seeds``
    (seeds ``seed``, ``seed + 1``, ...), ``val_fraction`` (share of patients for validation),
    ``tstr_validation`` ("synthetic" or "real"), ``synthetic_ratio`` (None: whole synthetic
    set; r: r x real training images), ``drop_test_overlap`` (training patients whose id also
    occurs in the test set are dropped; on by default: see :meth:`__call__`), classifier
    (``image_size`` px, ``net_channels``, ``net_strides``, ``class_names``), training
    (``max_epochs``, ``min_steps``, ``patience``, ``batch_size``, ``lr``, ``augment``,
    ``max_minutes_per_model``), ``max_total_minutes`` (refuse when the estimate is larger),
    ``n_boot`` / ``level`` / ``resample_seeds`` (CIs), ``progress`` (tqdm bar), ``log``
    (messages, default stderr; None silences).
    """

    def __init__(
        self,
        *,
        arms: Sequence[str] = ARMS,
        fractions: Sequence[float] = DEFAULT_FRACTIONS,
        n_seeds: int = 3,
        seed: int = 0,
        val_fraction: float = 0.2,
        tstr_validation: str = "synthetic",
        synthetic_ratio: float | None = None,
        drop_test_overlap: bool = True,
        image_size: int = 64,
        net_channels: tuple[int, ...] = (8, 16, 32, 64),
        net_strides: tuple[int, ...] = (2, 2, 2, 2),
        class_names: tuple[str, str] = ("negative", "positive"),
        max_epochs: int = 10,
        min_steps: int = 150,
        patience: int = 3,
        batch_size: int = 64,
        lr: float = 2e-3,
        augment: bool = True,
        max_minutes_per_model: float = 3.0,
        max_total_minutes: float | None = None,
        n_boot: int = 2000,
        level: float = 0.95,
        resample_seeds: bool = True,
        progress: bool = True,
        log: Callable[[str], None] | None = _stderr,
    ) -> None:
        from pydantic import ValidationError

        from radsynth.metrics.classifier import ClassifierConfig

        arms = tuple(arms)
        if not arms or any(a not in ARMS for a in arms) or len(set(arms)) != len(arms):
            raise RadsynthInputError("arms", list(arms), f"distinct names from {list(ARMS)}")
        fr = tuple(float(f) for f in fractions)
        if not fr or any(not 0.0 < f <= 1.0 for f in fr) or len(set(fr)) != len(fr):
            raise RadsynthInputError("fractions", list(fractions), "distinct numbers in (0, 1]")
        if not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
            raise RadsynthInputError("n_seeds", n_seeds, "an integer >= 1")
        if not 0.0 < val_fraction < 1.0:
            raise RadsynthInputError("val_fraction", val_fraction, "a number in (0, 1)")
        if tstr_validation not in ("synthetic", "real"):
            raise RadsynthInputError("tstr_validation", tstr_validation, "'synthetic' or 'real'")
        if synthetic_ratio is not None and not synthetic_ratio > 0:
            raise RadsynthInputError("synthetic_ratio", synthetic_ratio, "None (whole synthetic set) or a number > 0")
        if not isinstance(max_epochs, (int, np.integer)) or max_epochs < 1:
            raise RadsynthInputError("max_epochs", max_epochs, "an integer >= 1")
        if not isinstance(min_steps, (int, np.integer)) or min_steps < 0:
            raise RadsynthInputError("min_steps", min_steps, "an integer >= 0")
        if not max_minutes_per_model > 0:
            raise RadsynthInputError("max_minutes_per_model", max_minutes_per_model, "a positive number of minutes")
        if max_total_minutes is not None and not max_total_minutes > 0:
            raise RadsynthInputError("max_total_minutes", max_total_minutes, "None or a positive number of minutes")
        if not 0.0 < level < 1.0:
            raise RadsynthInputError("level", level, "a number in (0, 1)")
        if n_boot < 10:
            raise RadsynthInputError("n_boot", n_boot, "an integer >= 10")
        try:
            self.config = ClassifierConfig(image_size=image_size, net_channels=tuple(net_channels),
                                           net_strides=tuple(net_strides), class_names=tuple(class_names))
        except ValidationError as exc:
            raise RadsynthInputError(
                "classifier settings", {"image_size": image_size, "net_channels": net_channels,
                                        "net_strides": net_strides, "class_names": class_names},
                "a valid ClassifierConfig (image_size >= product of strides, two distinct class names)",
                exc.errors()[0]["msg"][:120],
            ) from None
        if self.config.n_classes != 2:
            raise RadsynthInputError("class_names", list(class_names), "exactly two class names (binary task)")
        self.arms = arms
        self.fractions = fr
        self.n_seeds = int(n_seeds)
        self.seed = int(seed)
        self.val_fraction = float(val_fraction)
        self.tstr_validation = tstr_validation
        self.synthetic_ratio = synthetic_ratio
        self.drop_test_overlap = bool(drop_test_overlap)
        self.max_epochs = int(max_epochs)
        self.min_steps = int(min_steps)
        self.patience = int(patience)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.augment = bool(augment)
        self.max_minutes_per_model = float(max_minutes_per_model)
        self.max_total_minutes = max_total_minutes
        self.n_boot = int(n_boot)
        self.level = float(level)
        self.resample_seeds = bool(resample_seeds)
        self.progress = bool(progress)
        self.log = log

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.n_seeds)]

    def settings(self) -> dict[str, Any]:
        return {
            "arms": list(self.arms), "fractions": list(self.fractions), "seeds": self.seeds,
            "seed": self.seed, "val_fraction": self.val_fraction, "tstr_validation": self.tstr_validation,
            "synthetic_ratio": self.synthetic_ratio, "drop_test_overlap": self.drop_test_overlap,
            "image_size": self.config.image_size, "net_channels": list(self.config.net_channels),
            "net_strides": list(self.config.net_strides), "class_names": list(self.config.class_names),
            "max_epochs": self.max_epochs, "min_steps": self.min_steps, "patience": self.patience,
            "batch_size": self.batch_size, "lr": self.lr, "augment": self.augment,
            "max_minutes_per_model": self.max_minutes_per_model, "max_total_minutes": self.max_total_minutes,
            "n_boot": self.n_boot, "level": self.level, "resample_seeds": self.resample_seeds,
        }

    def epochs_for(self, n_train: int) -> int:
        """Epochs for a training set of ``n_train`` images: ``max_epochs``, raised to reach ``min_steps`` (<= 200)."""
        steps = max(1, n_train // min(self.batch_size, max(2, n_train)))
        return int(min(200, max(self.max_epochs, math.ceil(self.min_steps / steps))))

    # ------------------------------------------------------------ planning

    def plan(
        self,
        real_labels: np.ndarray,
        real_patients: Sequence[Any] | np.ndarray,
        synthetic_labels: np.ndarray | None = None,
        synthetic_groups: Sequence[Any] | np.ndarray | None = None,
    ) -> list[_Job]:
        """Every model the study will train (arm, fraction, seed, training / validation indices)."""
        y = np.asarray(real_labels).ravel().astype(np.int64)
        g = _check_groups(real_patients, y.size, "real_patients")
        need_syn = any(a != "real" for a in self.arms)
        ys = None if synthetic_labels is None else np.asarray(synthetic_labels).ravel().astype(np.int64)
        if need_syn and ys is None:
            raise RadsynthInputError("synthetic_labels", None, "labels of the synthetic images",
                                     f"Arms {[a for a in self.arms if a != 'real']} need a labelled synthetic set.")
        gs = None if ys is None else _check_groups(synthetic_groups, ys.size, "synthetic_groups")
        jobs: list[_Job] = []
        for s in self.seeds:
            syn_tr = syn_va = np.empty(0, np.int64)
            if ys is not None:
                syn_tr, syn_va = split_train_val(ys, gs, np.arange(ys.size), self.val_fraction, s)
                if "synthetic" in self.arms and self.tstr_validation == "synthetic" and (
                        np.unique(ys[syn_va]).size < 2 or np.unique(ys[syn_tr]).size < 2):
                    raise RadsynthInputError("synthetic_labels", f"{ys.size} images",
                                             "at least two images (groups) of each class in the synthetic set")
            if "synthetic" in self.arms and self.tstr_validation == "synthetic":
                jobs.append(_Job("synthetic", 0.0, s, np.empty(0, np.int64), syn_tr, "synthetic", syn_va))
            for f in self.fractions:
                sub = sample_patient_fraction(y, g, f, s)
                tr, va = split_train_val(y, g, sub, self.val_fraction, s)
                n_pat = int(np.unique(g[tr].astype(str)).size)
                syn_all = np.empty(0, np.int64)
                if ys is not None:
                    syn_all = np.arange(ys.size)
                    if self.synthetic_ratio is not None:
                        k = max(2, int(round(self.synthetic_ratio * tr.size)))
                        syn_all = stratified_subset(ys, k, np.random.default_rng([s, int(f * 1e6), 17]))
                for arm in self.arms:
                    if arm == "real":
                        jobs.append(_Job(arm, f, s, tr, np.empty(0, np.int64), "real", va, n_pat))
                    elif arm == "synthetic" and self.tstr_validation == "real":
                        jobs.append(_Job(arm, f, s, np.empty(0, np.int64), np.arange(ys.size), "real", va, 0))
                    elif arm == "real+synthetic":
                        jobs.append(_Job(arm, f, s, tr, syn_all, "real", va, n_pat))
                    elif arm == "real+duplicated":
                        dup = duplicate_to_count(tr, tr.size + syn_all.size, s)
                        jobs.append(_Job(arm, f, s, dup, np.empty(0, np.int64), "real", va, n_pat))
        return jobs

    def calibrate_seconds_per_image(self, steps: int = 3) -> float:
        """Measured seconds per training image per epoch (one optimiser step on a random batch, median of ``steps``)."""
        import torch

        from radsynth.metrics.classifier import _augment, _standardise, build_classifier

        b = self.batch_size
        rng = np.random.default_rng(0)
        x = rng.random((b, self.config.image_size, self.config.image_size), dtype=np.float32)
        y = torch.from_numpy((np.arange(b) % 2).astype(np.int64))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = build_classifier(self.config).train()
            opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
            times = []
            for _ in range(steps + 1):
                t0 = time.perf_counter()
                xb = _augment(x, rng, 4) if self.augment else torch.from_numpy(x[:, None])
                loss = torch.nn.functional.cross_entropy(net(_standardise(xb, self.config)), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                times.append(time.perf_counter() - t0)
        return float(np.median(times[1:])) / b

    def estimate_seconds(self, jobs: Sequence[_Job], n_test: int, seconds_per_image: float | None = None) -> float:
        """Upper bound of the study's training + evaluation time (every model runs all its epochs)."""
        t = self.calibrate_seconds_per_image() if seconds_per_image is None else float(seconds_per_image)
        total = 0.0
        for j in jobs:
            train = self.epochs_for(j.n_train) * (j.n_train + _EVAL_COST * j.val_idx.size) * t
            total += min(train, 60.0 * self.max_minutes_per_model) + _EVAL_COST * n_test * t
        return total

    # ------------------------------------------------------------ run

    def __call__(
        self,
        real: np.ndarray,
        real_labels: np.ndarray,
        real_patients: Sequence[Any] | np.ndarray | None,
        test: np.ndarray,
        test_labels: np.ndarray,
        test_patients: Sequence[Any] | np.ndarray | None,
        synthetic: np.ndarray | None = None,
        synthetic_labels: np.ndarray | None = None,
        *,
        synthetic_groups: Sequence[Any] | np.ndarray | None = None,
        seconds_per_image: float | None = None,
    ) -> UtilityResult:
        """Run the study. Images: ``(N, H, W)`` grey in [0, 1]; labels 0/1; patient ids per image.

        ``real`` / ``real_labels`` / ``real_patients``: the real TRAINING split (fractions,
        validation and duplication come from it). ``test`` / ...: the held-out real set, used
        only for evaluation. Patient ids None = one patient per image (wrong when patients
        have several images). With ``drop_test_overlap`` (default) training patients whose id
        also occurs in the test set are removed from the real training data and counted in
        ``notes`` (in the Kermany chest X-ray set the ids of the two splits overlap, and
        whether they are the same children is not documented). ``seconds_per_image``
        overrides the timing calibration of the estimate.
        """
        from radsynth.metrics.classifier import prepare_images

        t_start = time.perf_counter()
        _check_images(real, "real")
        _check_images(test, "test")
        y = _check_labels(real_labels, len(real), "real_labels", "real")
        yt = _check_labels(test_labels, len(test), "test_labels", "test")
        g = _check_groups(real_patients, len(real), "real_patients")
        gt = _check_groups(test_patients, len(test), "test_patients")
        if np.unique(yt).size < 2:
            raise RadsynthInputError("test_labels", "one class only", "both classes in the test set (AUC needs them)")
        need_syn = any(a != "real" for a in self.arms)
        ys = None
        if need_syn:
            if synthetic is None:
                raise RadsynthInputError("synthetic", None,
                                         "a numpy array (M, H, W) of synthetic grey images in [0, 1]",
                                         f"Arms {[a for a in self.arms if a != 'real']} need synthetic images; "
                                         "use arms=('real',) without them.")
            _check_images(synthetic, "synthetic")
            ys = _check_labels(synthetic_labels, len(synthetic), "synthetic_labels", "synthetic")
            if np.unique(ys).size < 2:
                raise RadsynthInputError("synthetic_labels", "one class only", "synthetic images of both classes")
        notes: list[str] = []
        if self.drop_test_overlap:
            overlap = set(g.astype(str)) & set(gt.astype(str))
            if overlap:
                keep = np.array([p not in overlap for p in g.astype(str)], dtype=bool)
                notes.append(f"dropped {int((~keep).sum())} real training images of {len(overlap)} patient ids that "
                             "also occur in the test set (drop_test_overlap=True)")
                real, y, g = real[keep], y[keep], g[keep]
        if y.size == 0 or np.unique(y).size < 2:
            raise RadsynthInputError("real_labels", f"{y.size} images, classes {sorted(set(y.tolist()))}",
                                     "real training images of both classes (after dropping test-overlap patients)")
        x = prepare_images(real, self.config, "real")
        xt = prepare_images(test, self.config, "test")
        xs = prepare_images(synthetic, self.config, "synthetic") if ys is not None else None

        jobs = self.plan(y, g, ys, synthetic_groups)
        est = self.estimate_seconds(jobs, xt.shape[0], seconds_per_image)
        if self.log:
            self.log(f"utility study: {len(jobs)} models ({len(self.arms)} arms x {len(self.fractions)} fractions x "
                     f"{self.n_seeds} seeds), {x.shape[0]} real training images, "
                     f"{0 if xs is None else xs.shape[0]} synthetic, {xt.shape[0]} test; "
                     f"estimated time up to {est / 60:.1f} min")
        if self.max_total_minutes is not None and est > 60.0 * self.max_total_minutes:
            raise RadsynthInputError(
                "max_total_minutes", self.max_total_minutes, f"at least the estimate of {est / 60:.1f} min",
                "Use fewer seeds or fractions, a smaller image_size / network, or fewer max_epochs.",
            )
        rows, scores = self._run(jobs, x, y, g, xs, ys, xt, yt, gt)
        summary = self._summary(rows, scores, yt, gt)
        return UtilityResult(rows=rows, summary=summary, settings=self.settings(), test_labels=yt,
                             test_patients=gt, scores=scores, notes=notes, estimate_seconds=est,
                             seconds=time.perf_counter() - t_start)

    def _run(self, jobs, x, y, g, xs, ys, xt, yt, gt):
        from tqdm.auto import tqdm

        from radsynth.metrics.classifier import train_classifier

        rows: list[dict[str, Any]] = []
        scores: dict[tuple[str, float, int], np.ndarray] = {}
        bar = tqdm(jobs, desc="utility study", unit="model", disable=not self.progress, leave=False)
        for j in bar:
            bar.set_postfix_str(f"{j.arm} {j.fraction:g} seed {j.seed}")
            parts_x, parts_y = [], []
            if j.real_idx.size:
                parts_x.append(x[j.real_idx])
                parts_y.append(y[j.real_idx])
            if j.syn_idx.size:
                parts_x.append(xs[j.syn_idx])
                parts_y.append(ys[j.syn_idx])
            xtr, ytr = np.concatenate(parts_x), np.concatenate(parts_y)
            xv, yv = (x[j.val_idx], y[j.val_idx]) if j.val_src == "real" else (xs[j.val_idx], ys[j.val_idx])
            model_seed = int(np.random.default_rng([self.seed, j.seed, 101]).integers(2**31 - 2))
            model, rep = train_classifier(
                xtr, ytr, xv, yv, self.config, seed=model_seed, max_minutes=self.max_minutes_per_model,
                max_epochs=self.epochs_for(ytr.size), batch_size=min(self.batch_size, max(2, ytr.size)),
                lr=self.lr, patience=self.patience, augment=self.augment,
            )
            p = model.predict_proba(xt)[:, 1]
            thr = rep.threshold if rep.threshold is not None else 0.5
            ev = evaluate_scores(p, yt, gt, threshold=thr, seed=self.seed, n_boot=self.n_boot, level=self.level)
            scores[(j.arm, j.fraction, j.seed)] = p
            row = {
                "arm": j.arm, "fraction": j.fraction, "seed": j.seed,
                "n_train": int(ytr.size), "n_real_train": int(j.real_idx.size),
                "n_real_unique": int(np.unique(j.real_idx).size), "n_synthetic_train": int(j.syn_idx.size),
                "n_real_patients": j.n_real_patients, "n_train_positive": int(ytr.sum()),
                "validation": j.val_src, "n_val": int(yv.size),
                **{k: ev[k] for k in ("auc", "auc_ci", "accuracy", "accuracy_ci", "sensitivity", "sensitivity_ci",
                                      "specificity", "specificity_ci", "threshold")},
                "n_test": ev["n_images"], "n_test_patients": ev["n_patients"],
                "val_auc": rep.best_val_auc, "epochs": rep.epochs, "best_epoch": rep.best_epoch,
                "stopped": rep.stopped, "seconds": rep.seconds,
            }
            rows.append(row)
            if self.log and not self.progress:
                self.log(f"{j.arm:16s} fraction {j.fraction:<5g} seed {j.seed}: n_train {ytr.size} "
                         f"AUC {ev['auc']:.3f} acc {ev['accuracy']:.3f} ({rep.epochs} epochs, {rep.seconds:.0f}s)")
        bar.close()
        return rows, scores

    def _summary(self, rows, scores, yt, gt) -> list[dict[str, Any]]:
        out = []
        keys = sorted({(r["arm"], r["fraction"]) for r in rows}, key=lambda k: (ARMS.index(k[0]), k[1]))
        for arm, f in keys:
            rr = sorted((r for r in rows if r["arm"] == arm and r["fraction"] == f), key=lambda r: r["seed"])
            s = np.stack([scores[(arm, f, r["seed"])] for r in rr])
            thr = [r["threshold"] for r in rr]
            entry: dict[str, Any] = {"arm": arm, "fraction": f, "n_seeds": len(rr),
                                     "n_train": int(np.mean([r["n_train"] for r in rr]))}
            for m in ("auc", "accuracy"):
                v = np.array([r[m] for r in rr])
                ci = paired_difference(s, None, yt, gt, metric=m, thresholds_a=thr, resample_seeds=self.resample_seeds,
                                       seed=self.seed, n_boot=self.n_boot, level=self.level)["ci"]
                entry.update({f"{m}_mean": float(v.mean()), f"{m}_sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
                              f"{m}_min": float(v.min()), f"{m}_max": float(v.max()), f"{m}_mean_ci": ci})
            out.append(entry)
        return out
