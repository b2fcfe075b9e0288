"""Shortcut ("no-cheat") test: can the label be predicted from parts of the image that should not carry it?

A classifier trained on images whose label is written somewhere outside the anatomy
(a marker, a text label, a border, a scanner or generator artefact) learns that cue
instead of the disease: "shortcut learning" (Geirhos et al., Nature Machine
Intelligence 2:665-673, 2020). Chest X-ray classifiers are known to pick up hospital
and scanner cues (Zech et al., PLoS Medicine 15:e1002683, 2018) and to keep predicting
COVID-19 with the lungs masked out (DeGrave, Janizek & Lee, Nature Machine
Intelligence 3:610-619, 2021). Class-conditional generators can plant such cues
themselves (a class-specific border, noise pattern or marker), and a downstream model
trained on the synthetic set then "cheats".

The test trains the same small classifier
(:func:`radsynth.metrics.classifier.train_classifier`) with k-fold, group-aware
cross-validation (the fold splitter of the C2ST, :func:`radsynth.metrics.c2st.fold_splits`)
on several views of the images and reports the out-of-fold AUC of each view with a
bootstrap CI (resampling groups/patients when given, else images;
:func:`radsynth.metrics.patient_bootstrap.evaluate_scores`):

* ``"full"``: the image itself. The reference: how much label information a classifier
  of this size finds at all. If this AUC is low, the other views cannot be judged.
* ``"roi_masked"``: the region of interest (the lungs) replaced by the mean of the pixels
  outside it (:func:`mask_roi`). ROI: a boolean mask per image (``roi_masks``, e.g. from
  a lung segmentation; any pixel touching the mask after resizing counts as ROI) or, by
  default, the central box covering ``roi_fraction`` = 60 % of the height and of the
  width (:func:`default_roi_mask`): on a centred PA chest film this covers most of both
  lungs and the heart; it is a crude stand-in for a lung mask, so some lung may remain
  at its edges (lateral costophrenic angles, apices) and AUC slightly above 0.5 is
  possible on real disease. The fill is the mean of the KEPT pixels, not of the whole
  image: a whole-image mean would carry the ROI's brightness into the masked view.
* ``"border"``: only a frame of ``border_width`` px (default 10 % of the side) is kept, the
  inside is set to the frame's mean (:func:`border_only`). Markers, text, collimation
  edges and padding live there.
* ``"noise_residual"``: the image minus its Gaussian-smoothed version (``residual_sigma``
  px), i.e. the high-frequency noise (:func:`noise_residual`), shifted to [0, 1] as
  ``0.5 + residual / 2``. Generators leave class-independent and sometimes
  class-dependent fingerprints there (Marra et al., "Do GANs leave artificial
  fingerprints?", IEEE MIPR 2019; Frank et al., ICML 2020, arXiv:2003.08685).

Flags. A view listed in ``null_views`` (default: ``roi_masked`` and ``border``, the views
that should carry no label information) is flagged as a shortcut when the lower bound of
its AUC CI exceeds ``auc_threshold`` (default 0.6: a margin above chance, so that weak
leakage from a crude ROI box is not called a shortcut). The noise residual is NOT a null
view by default: disease changes fine texture too (consolidation smooths the lung
pattern), so label information in the residual is not by itself a shortcut. It is
flagged only against real data: when the synthetic residual's CI lies wholly above the
real residual's CI, the generator has added class-dependent high-frequency content.
Add it to ``null_views`` to flag it on its own.

Real data can have shortcuts too (Zech et al. 2018; for the Kermany paediatric set,
acquisition differences between NORMAL and PNEUMONIA images are plausible). Pass the
real training images as ``real``: every view is run on them as well and the verdict says
whether a synthetic shortcut is inherited from the real data or introduced by the
generator. Never pass a held-out test split as ``real``: these models train on it.

The CI treats the fold models as fixed (as in the C2ST), so it understates the
training variance; a flag near the threshold deserves a re-run with another seed.

Three layers: :class:`ShortcutTest` (settings, callable on images) ->
:class:`ShortcutResult`; the views as pure functions (:func:`make_view`,
:func:`mask_roi`, :func:`border_only`, :func:`noise_residual`,
:func:`default_roi_mask`); the AUC and its CI in :mod:`radsynth.metrics.utility` /
:mod:`radsynth.metrics.roc`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError

VIEWS = ("full", "roi_masked", "border", "noise_residual")
NULL_VIEWS = ("roi_masked", "border")
VIEW_TEXT = {
    "full": "the whole image",
    "roi_masked": "the image with the lungs (region of interest) masked out",
    "border": "a thin frame along the image border",
    "noise_residual": "the high-frequency noise residual",
}


# ---------------------------------------------------------------- views (pure functions)


def default_roi_mask(size: int, roi_fraction: float = 0.6) -> np.ndarray:
    """``(size, size)`` bool: the central box covering ``roi_fraction`` of the height and of the width."""
    if not 0.0 < roi_fraction < 1.0:
        raise RadsynthInputError("roi_fraction", roi_fraction, "a number in (0, 1): side fraction of the central box")
    lo = int(round(size * (1.0 - roi_fraction) / 2.0))
    hi = size - lo
    m = np.zeros((size, size), dtype=bool)
    m[lo:hi, lo:hi] = True
    return m


def mask_roi(images: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Images ``(N, S, S)`` with the ROI (``masks``: ``(S, S)`` or ``(N, S, S)`` bool) set to the mean outside it."""
    x = np.asarray(images, dtype=np.float32)
    m = np.broadcast_to(np.asarray(masks, dtype=bool), x.shape)
    keep = ~m
    n_keep = keep.sum(axis=(1, 2))
    if (n_keep == 0).any():
        raise RadsynthInputError("roi_masks", f"{int((n_keep == 0).sum())} masks covering the whole image",
                                 "masks that leave some pixels outside the region of interest")
    fill = (x * keep).sum(axis=(1, 2)) / n_keep
    return np.where(m, fill[:, None, None], x).astype(np.float32)


def border_only(images: np.ndarray, width: int) -> np.ndarray:
    """Keep a frame of ``width`` px; set the inside to the frame's mean (per image)."""
    x = np.asarray(images, dtype=np.float32)
    s = min(x.shape[1:])
    if not isinstance(width, (int, np.integer)) or not 1 <= width < s / 2:
        raise RadsynthInputError("border_width", width, f"an integer number of pixels in [1, {(s - 1) // 2}]")
    inner = np.zeros(x.shape[1:], dtype=bool)
    inner[width:-width, width:-width] = True
    return mask_roi(x, inner)


def noise_residual(images: np.ndarray, sigma: float = 1.0) -> np.ndarray:
    """``0.5 + (x - G_sigma * x) / 2`` per image (scipy Gaussian filter, reflect borders); in [0, 1]."""
    from scipy.ndimage import gaussian_filter

    if not sigma > 0:
        raise RadsynthInputError("residual_sigma", sigma, "a positive Gaussian sigma in pixels")
    x = np.asarray(images, dtype=np.float32)
    smooth = gaussian_filter(x, sigma=(0.0, float(sigma), float(sigma)), mode="reflect")
    return np.clip(0.5 + 0.5 * (x - smooth), 0.0, 1.0).astype(np.float32)


def make_view(
    images: np.ndarray,
    view: str,
    *,
    roi_masks: np.ndarray | None = None,
    roi_fraction: float = 0.6,
    border_width: int = 1,
    residual_sigma: float = 1.0,
) -> np.ndarray:
    """One view (``"full"``, ``"roi_masked"``, ``"border"``, ``"noise_residual"``) of ``(N, S, S)`` images in [0, 1]."""
    if view == "full":
        return np.asarray(images, dtype=np.float32)
    if view == "roi_masked":
        m = default_roi_mask(images.shape[-1], roi_fraction) if roi_masks is None else roi_masks
        return mask_roi(images, m)
    if view == "border":
        return border_only(images, border_width)
    if view == "noise_residual":
        return noise_residual(images, residual_sigma)
    raise RadsynthInputError("view", view, f"one of {list(VIEWS)}")


# ---------------------------------------------------------------- result


@dataclass(frozen=True)
class ShortcutResult:
    """Per (set, view): out-of-fold AUC, CI, fold AUCs, flag; plus the plain-language verdict."""

    rows: list[dict[str, Any]]
    verdict: str
    shortcut: bool
    real_shortcut: bool | None
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    scores: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def row(self, set_name: str, view: str) -> dict[str, Any]:
        for r in self.rows:
            if r["set"] == set_name and r["view"] == view:
                return r
        raise RadsynthInputError("view", f"{set_name}/{view}", f"one of {[(r['set'], r['view']) for r in self.rows]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": "shortcut",
            "shortcut": self.shortcut,
            "real_shortcut": self.real_shortcut,
            "verdict": self.verdict,
            "rows": [dict(r) for r in self.rows],
            "settings": dict(self.settings),
            "seconds": self.seconds,
            "references": [
                "Geirhos et al., Nat Mach Intell 2:665-673 (2020)",
                "DeGrave, Janizek & Lee, Nat Mach Intell 3:610-619 (2021)",
                "Zech et al., PLoS Med 15:e1002683 (2018)",
            ],
        }


# ---------------------------------------------------------------- the test


class ShortcutTest:
    """Cross-validated label prediction from label-free views (see module docstring).

    Settings: ``views``, ``null_views`` (views that should carry no label information; None:
    those of ``roi_masked`` and ``border`` that are in ``views``),
    ``auc_threshold`` (flag when the CI's lower bound exceeds it), ``roi_fraction``,
    ``border_fraction`` (frame width as a fraction of ``image_size``, at least 1 px),
    ``residual_sigma`` (px at ``image_size``), ``folds``, ``seed``, ``max_images`` (per set,
    class-stratified seeded subsample; None = all), classifier (``image_size``,
    ``net_channels``, ``net_strides``), training (``epochs``, ``max_minutes`` per fold model,
    ``batch_size``, ``lr``, ``val_fraction``; no augmentation: shifts would smear border
    cues and gamma/noise would hide residual cues), ``n_boot`` / ``level``.
    """

    def __init__(
        self,
        *,
        views: Sequence[str] = VIEWS,
        null_views: Sequence[str] | None = None,
        auc_threshold: float = 0.6,
        roi_fraction: float = 0.6,
        border_fraction: float = 0.1,
        residual_sigma: float = 1.0,
        folds: int = 3,
        seed: int = 0,
        max_images: int | None = 2000,
        image_size: int = 64,
        net_channels: tuple[int, ...] = (8, 16, 32, 64),
        net_strides: tuple[int, ...] = (2, 2, 2, 2),
        epochs: int = 10,
        max_minutes: float = 2.0,
        batch_size: int = 64,
        lr: float = 2e-3,
        val_fraction: float = 0.2,
        n_boot: int = 2000,
        level: float = 0.95,
        log: Callable[[str], None] | None = None,
    ) -> None:
        from pydantic import ValidationError

        from radsynth.metrics.classifier import ClassifierConfig

        views = tuple(views)
        if not views or any(v not in VIEWS for v in views) or len(set(views)) != len(views):
            raise RadsynthInputError("views", list(views), f"distinct names from {list(VIEWS)}")
        null_views = tuple(v for v in NULL_VIEWS if v in views) if null_views is None else tuple(null_views)
        if any(v not in views for v in null_views):
            raise RadsynthInputError("null_views", list(null_views), f"a subset of views {list(views)}")
        if not 0.5 <= auc_threshold < 1.0:
            raise RadsynthInputError("auc_threshold", auc_threshold, "a number in [0.5, 1)")
        default_roi_mask(8, roi_fraction)  # validates roi_fraction
        if not 0.0 < border_fraction < 0.5:
            raise RadsynthInputError("border_fraction", border_fraction, "a number in (0, 0.5)")
        if not residual_sigma > 0:
            raise RadsynthInputError("residual_sigma", residual_sigma, "a positive Gaussian sigma in pixels")
        if not isinstance(folds, (int, np.integer)) or folds < 2:
            raise RadsynthInputError("folds", folds, "an integer >= 2")
        if max_images is not None and (not isinstance(max_images, (int, np.integer)) or max_images < 4 * folds):
            raise RadsynthInputError("max_images", max_images, f"None or an integer >= 4 * folds ({4 * folds})")
        if not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise RadsynthInputError("epochs", epochs, "an integer >= 1")
        if not max_minutes > 0:
            raise RadsynthInputError("max_minutes", max_minutes, "a positive number of minutes per fold model")
        if not 0.0 < val_fraction < 1.0:
            raise RadsynthInputError("val_fraction", val_fraction, "a number in (0, 1)")
        if not 0.0 < level < 1.0:
            raise RadsynthInputError("level", level, "a number in (0, 1)")
        try:
            self.config = ClassifierConfig(image_size=image_size, net_channels=tuple(net_channels),
                                           net_strides=tuple(net_strides), class_names=("negative", "positive"))
        except ValidationError as exc:
            raise RadsynthInputError(
                "classifier settings", {"image_size": image_size, "net_channels": net_channels,
                                        "net_strides": net_strides},
                "a valid ClassifierConfig (image_size >= product of strides)", exc.errors()[0]["msg"][:120],
            ) from None
        self.views = views
        self.null_views = null_views
        self.auc_threshold = float(auc_threshold)
        self.roi_fraction = float(roi_fraction)
        self.border_width = max(1, int(round(border_fraction * image_size)))
        if self.border_width >= image_size / 2:
            raise RadsynthInputError("border_fraction", border_fraction,
                                     f"a frame narrower than half of {image_size} px")
        self.border_fraction = float(border_fraction)
        self.residual_sigma = float(residual_sigma)
        self.folds = int(folds)
        self.seed = int(seed)
        self.max_images = None if max_images is None else int(max_images)
        self.epochs = int(epochs)
        self.max_minutes = float(max_minutes)
        self.batch_size = int(batch_size)
        self.lr = float(lr)
        self.val_fraction = float(val_fraction)
        self.n_boot = int(n_boot)
        self.level = float(level)
        self.log = log

    def settings(self) -> dict[str, Any]:
        return {
            "views": list(self.views), "null_views": list(self.null_views), "auc_threshold": self.auc_threshold,
            "roi_fraction": self.roi_fraction, "border_width_px": self.border_width,
            "border_fraction": self.border_fraction, "residual_sigma_px": self.residual_sigma, "folds": self.folds,
            "seed": self.seed, "max_images": self.max_images, "image_size": self.config.image_size,
            "net_channels": list(self.config.net_channels), "net_strides": list(self.config.net_strides),
            "epochs": self.epochs, "max_minutes": self.max_minutes, "batch_size": self.batch_size, "lr": self.lr,
            "val_fraction": self.val_fraction, "n_boot": self.n_boot, "level": self.level,
        }

    # ------------------------------------------------------------ input

    def _prepare(self, images: Any, labels: Any, groups: Any, masks: Any, name: str):
        from radsynth.generators.common.data import resize_image
        from radsynth.metrics.classifier import prepare_images
        from radsynth.metrics.patient_bootstrap import _check_groups, _check_images, _check_labels
        from radsynth.metrics.patient_sampling import stratified_subset

        _check_images(images, name)
        n = len(images)
        y = _check_labels(labels, n, f"{name}_labels", name)
        if np.unique(y).size < 2:
            raise RadsynthInputError(f"{name}_labels", "one class only", "labels of both classes (0 and 1)")
        g = _check_groups(groups, n, f"{name}_groups")
        m = None
        if masks is not None:
            m = np.asarray(masks)
            shape = images.shape if images.ndim == 3 else (images.shape[0], *images.shape[2:])
            if m.shape != shape:
                raise RadsynthInputError(f"{name}_roi_masks" if name != "synthetic" else "roi_masks",
                                         f"array of shape {m.shape}", f"one boolean mask per image, shape {shape}")
        idx = np.arange(n)
        if self.max_images is not None and n > self.max_images:
            idx = stratified_subset(y, self.max_images, np.random.default_rng([self.seed, 23]))
        x = prepare_images(images[idx], self.config, name)
        if m is not None:
            s = self.config.image_size
            m = np.stack([resize_image(mi.astype(np.float32), s) > 0 for mi in m[idx]]) if m.shape[-1] != s or \
                m.shape[-2] != s else m[idx].astype(bool)
        return x, y[idx], g[idx], m, idx

    # ------------------------------------------------------------ run

    def _run_set(self, x, y, g, masks, set_name):
        from radsynth.metrics.c2st import fold_splits
        from radsynth.metrics.classifier import train_classifier
        from radsynth.metrics.roc import roc_auc
        from radsynth.metrics.patient_bootstrap import evaluate_scores

        splits = fold_splits(y, g, self.folds, seed=self.seed, val_fraction=self.val_fraction)
        rows, scores = [], {}
        patients = None if all(str(v).startswith("#") for v in g) else g
        for view in self.views:
            xv = make_view(x, view, roi_masks=masks, roi_fraction=self.roi_fraction, border_width=self.border_width,
                           residual_sigma=self.residual_sigma)
            oof = np.full(y.size, np.nan)
            fold_aucs = []
            for f, (tr, va, te) in enumerate(splits):
                fold_seed = int(np.random.default_rng([self.seed, f, 31]).integers(2**31 - 2))
                model, rep = train_classifier(
                    xv[tr], y[tr], xv[va], y[va], self.config, seed=fold_seed, max_minutes=self.max_minutes,
                    max_epochs=self.epochs, batch_size=min(self.batch_size, max(2, tr.size)), lr=self.lr,
                    augment=False, patience=max(2, self.epochs // 3),
                )
                oof[te] = model.predict_proba(xv[te])[:, 1]
                fold_aucs.append(roc_auc(oof[te], y[te]))
            ev = evaluate_scores(oof, y, patients, seed=self.seed, n_boot=self.n_boot, level=self.level)
            null = view in self.null_views
            flagged = bool(null and ev["auc_ci"][0] > self.auc_threshold)
            reason = f"CI lower bound {ev['auc_ci'][0]:.3f} > {self.auc_threshold:g}" if flagged else ""
            rows.append({"set": set_name, "view": view, "auc": ev["auc"], "auc_ci": ev["auc_ci"],
                         "fold_aucs": fold_aucs, "null_view": null, "flagged": flagged, "reason": reason,
                         "n": int(y.size), "n_groups": ev["n_patients"], "bootstrap": ev["bootstrap"]})
            scores[(set_name, view)] = oof
            if self.log:
                self.log(f"shortcut {set_name:9s} {view:14s} AUC {ev['auc']:.3f} "
                         f"CI [{ev['auc_ci'][0]:.3f}, {ev['auc_ci'][1]:.3f}]{'  FLAG' if flagged else ''}")
        return rows, scores

    def __call__(
        self,
        synthetic: np.ndarray,
        synthetic_labels: np.ndarray,
        *,
        synthetic_groups: Sequence[Any] | np.ndarray | None = None,
        roi_masks: np.ndarray | None = None,
        real: np.ndarray | None = None,
        real_labels: np.ndarray | None = None,
        real_groups: Sequence[Any] | np.ndarray | None = None,
        real_roi_masks: np.ndarray | None = None,
    ) -> ShortcutResult:
        """Run every view on the synthetic set (and on ``real`` when given). Images ``(N, H, W)`` in [0, 1].

        Labels are binary 0/1. Groups: patient (or source) id per image; all images of a
        group stay in one fold (None: every image its own group). ``roi_masks``: bool
        ``(N, H, W)`` per image (True = region of interest), default the central box.
        """
        t0 = time.perf_counter()
        if real is None and (real_labels is not None or real_groups is not None or real_roi_masks is not None):
            raise RadsynthInputError("real", None,
                                     "real images when real_labels / real_groups / real_roi_masks are given")
        sets = [("synthetic", self._prepare(synthetic, synthetic_labels, synthetic_groups, roi_masks, "synthetic"))]
        if real is not None:
            sets.append(("real", self._prepare(real, real_labels, real_groups, real_roi_masks, "real")))
        rows: list[dict[str, Any]] = []
        scores: dict[tuple[str, str], np.ndarray] = {}
        for name, (x, y, g, m, _) in sets:
            r, s = self._run_set(x, y, g, m, name)
            rows += r
            scores.update(s)
        has_real = real is not None
        if has_real:
            for r in rows:
                if r["set"] != "synthetic":
                    continue
                rr = next(q for q in rows if q["set"] == "real" and q["view"] == r["view"])
                r["real_auc"], r["real_auc_ci"] = rr["auc"], rr["auc_ci"]
                r["exceeds_real"] = bool(r["auc_ci"][0] > rr["auc_ci"][1])
                if r["view"] == "noise_residual" and not r["null_view"] and r["exceeds_real"] \
                        and r["auc_ci"][0] > self.auc_threshold:
                    r["flagged"] = True
                    r["reason"] = (f"synthetic residual CI [{r['auc_ci'][0]:.3f}, {r['auc_ci'][1]:.3f}] lies above "
                                   f"the real one [{rr['auc_ci'][0]:.3f}, {rr['auc_ci'][1]:.3f}]")
        shortcut = any(r["flagged"] for r in rows if r["set"] == "synthetic")
        real_shortcut = any(r["flagged"] for r in rows if r["set"] == "real") if has_real else None
        verdict = self._verdict(rows, has_real)
        settings = self.settings()
        settings["roi"] = ("per-image roi_masks" if roi_masks is not None
                           else f"central box, {self.roi_fraction:g} of each side")
        return ShortcutResult(rows=rows, verdict=verdict, shortcut=shortcut, real_shortcut=real_shortcut,
                              settings=settings, seconds=time.perf_counter() - t0, scores=scores)

    def _verdict(self, rows: list[dict[str, Any]], has_real: bool) -> str:
        lvl = f"{100 * self.level:g} % CI"

        def fmt(r: dict[str, Any]) -> str:
            return f"AUC {r['auc']:.2f}, {lvl} {r['auc_ci'][0]:.2f}-{r['auc_ci'][1]:.2f}"

        syn = {r["view"]: r for r in rows if r["set"] == "synthetic"}
        real = {r["view"]: r for r in rows if r["set"] == "real"}
        parts: list[str] = []
        flagged = [v for v, r in syn.items() if r["flagged"]]
        if flagged:
            for v in flagged:
                r = syn[v]
                parts.append(f"SHORTCUT in the synthetic images: the label can be predicted from {VIEW_TEXT[v]} "
                             f"alone ({fmt(r)}; {r['reason']}).")
                if v in real and not r["null_view"]:
                    parts.append(f"The real images' {VIEW_TEXT[v]} predicts the label less well ({fmt(real[v])}): "
                                 "the generator added class-dependent content there beyond what the real data have.")
                elif v in real:
                    if real[v]["flagged"] or real[v]["auc_ci"][0] > self.auc_threshold:
                        parts.append(f"The real images show the same cue ({fmt(real[v])}): it is inherited from the "
                                     "real data (a dataset shortcut), which the generator reproduces.")
                    else:
                        parts.append(f"The real images do not ({fmt(real[v])}): the generator introduced this cue.")
            parts.append("A classifier trained on these synthetic images can learn the label from this cue instead "
                         "of the disease; inspect the images (corners, borders, text, noise) before using them.")
        else:
            names = ", ".join(VIEW_TEXT[v] for v in self.null_views)
            parts.append(f"No shortcut found in the synthetic images: none of the label-free views ({names}) predicts "
                         f"the label with a CI lower bound above AUC {self.auc_threshold:g}. This rules out cues this "
                         "classifier can learn at this sample size, not every possible cue.")
        if "full" in syn and syn["full"]["auc_ci"][0] <= self.auc_threshold:
            parts.append(f"Caution: the whole synthetic images predict the label only weakly ({fmt(syn['full'])}), "
                         "so this test has little power here.")
        if has_real:
            rflag = [v for v, r in real.items() if r["flagged"]]
            if rflag:
                parts.append("The REAL images have shortcut(s) too: the label is predictable from "
                             + "; ".join(f"{VIEW_TEXT[v]} ({fmt(real[v])})" for v in rflag)
                             + ". Real data can carry shortcuts (scanner, hospital, markers); a model trained on "
                               "either set may learn them.")
            else:
                parts.append("The real images show no shortcut in these views.")
        return " ".join(parts)
