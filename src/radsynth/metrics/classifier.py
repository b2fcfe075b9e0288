"""A small reference image classifier (MONAI ``Classifier``) used as a judge of generated images.

Uses: checking that a class-conditional generator produces the class it was asked
for (issue #3), and utility / classifier two-sample tests (issue #4). The network is
MONAI's residual ``Classifier`` (a ``Regressor`` with a class head; Cardoso et al.,
MONAI, arXiv:2211.02701). Input: grey 2D images, float in [0, 1], ``(N, H, W)``;
each image is centre-cropped to square and resized to ``image_size`` (as
:mod:`radsynth.generators.common.data` does), min-max scaled per image, then standardised
with the config's ``norm_mean`` / ``norm_std``.

Determinism: weight initialisation uses a forked torch RNG seeded from ``seed``;
batch order and augmentation come from ``np.random.default_rng(seed)``. Predictions
are bit-identical across repeated calls at a fixed torch thread count; across thread
counts they agree to ~1e-6 (oneDNN reduction order), not bit-exactly.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.roc import balanced_threshold, roc_auc

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT = "radsynth-reference-classifier/1"


class ClassifierConfig(BaseModel):
    """Everything needed to rebuild a :class:`ReferenceClassifier` (weights aside)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["radsynth-reference-classifier/1"] = FORMAT
    image_size: int = Field(64, ge=8, le=1024, description="square input side after resize (pixels)")
    channels: Literal[1] = Field(1, description="input channels (grey)")
    network: Literal["monai.Classifier"] = "monai.Classifier"
    net_channels: tuple[int, ...] = (16, 32, 64, 128)
    net_strides: tuple[int, ...] = (2, 2, 2, 2)
    num_res_units: int = Field(1, ge=0, le=4)
    norm: Literal["batch", "instance"] = "batch"
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    class_names: tuple[str, ...] = ("NORMAL", "PNEUMONIA")
    normalisation: Literal["per_image_minmax"] = Field(
        "per_image_minmax", description="each image scaled to [0, 1] by its own min and max before standardising"
    )
    norm_mean: float = 0.5
    norm_std: float = Field(0.25, gt=0.0)
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="binary only: predict class 1 when p(class 1) >= threshold (chosen on val)"
    )

    @model_validator(mode="after")
    def _check(self) -> ClassifierConfig:
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ValueError("class_names must hold >= 2 distinct names")
        if len(self.net_channels) != len(self.net_strides) or not self.net_channels:
            raise ValueError("net_channels and net_strides must be non-empty and of equal length")
        if self.image_size // math.prod(self.net_strides) < 1:
            raise ValueError("image_size too small for net_strides")
        if self.threshold is not None and len(self.class_names) != 2:
            raise ValueError("threshold applies to binary classifiers only")
        return self

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def build_classifier(cfg: ClassifierConfig) -> torch.nn.Module:
    """The untrained MONAI network described by ``cfg`` (initialised from torch's current RNG)."""
    from monai.networks.nets import Classifier

    return Classifier(
        in_shape=(cfg.channels, cfg.image_size, cfg.image_size),
        classes=cfg.n_classes,
        channels=cfg.net_channels,
        strides=cfg.net_strides,
        num_res_units=cfg.num_res_units,
        act="relu",
        norm=cfg.norm,
        dropout=cfg.dropout,
    )


# ---------------------------------------------------------------- input handling


def prepare_images(images: np.ndarray, cfg: ClassifierConfig, field_name: str = "images") -> np.ndarray:
    """Validate ``(N, H, W)`` (or ``(N, 1, H, W)``) images in [0, 1]; resize to ``image_size``; float32."""
    if not isinstance(images, np.ndarray):
        raise RadsynthInputError(field_name, type(images).__name__, "a numpy array (N, H, W) of grey images in [0, 1]")
    a = images
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[0] < 1 or min(a.shape[1:]) < 8:
        raise RadsynthInputError(
            field_name, f"array of shape {images.shape}", "shape (N, H, W) or (N, 1, H, W) with N >= 1 and H, W >= 8",
            "Stack single images with images[None].",
        )
    a = a.astype(np.float32, copy=False)
    if not np.isfinite(a).all():
        raise RadsynthInputError(field_name, "non-finite values", "finite grey values in [0, 1]")
    lo, hi = float(a.min()), float(a.max())
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        raise RadsynthInputError(
            field_name, f"values in [{lo:.3g}, {hi:.3g}]", "grey values in [0, 1]",
            "Map generator output in [-1, 1] with (x + 1) / 2; 8-bit images with x / 255.",
        )
    if a.shape[1:] != (cfg.image_size, cfg.image_size):
        from radsynth.generators.common.data import resize_image

        a = np.stack([resize_image(np.clip(im, 0.0, 1.0), cfg.image_size) for im in a])
    return np.ascontiguousarray(a, dtype=np.float32)


def _standardise(x: torch.Tensor, cfg: ClassifierConfig) -> torch.Tensor:
    """Per-image min-max to [0, 1], then (x - mean) / std; x is (N, 1, H, W)."""
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    x = (x - lo) / torch.where(hi > lo, hi - lo, torch.ones_like(hi))
    return (x - cfg.norm_mean) / cfg.norm_std


# ---------------------------------------------------------------- the model


class ReferenceClassifier:
    """A trained classifier: ``predict_proba`` / ``predict``, ``save`` / ``load`` (safetensors + config.json)."""

    def __init__(self, config: ClassifierConfig, network: torch.nn.Module) -> None:
        self.config = config
        self.network = network.eval()

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.config.class_names

    @torch.no_grad()
    def predict_proba(self, images: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Class probabilities ``(N, n_classes)`` float64 for grey images ``(N, H, W)`` in [0, 1]."""
        a = prepare_images(images, self.config)
        self.network.eval()
        out = []
        for i in range(0, a.shape[0], batch_size):
            x = _standardise(torch.from_numpy(a[i : i + batch_size, None]), self.config)
            out.append(torch.softmax(self.network(x).double(), dim=1).numpy())
        return np.concatenate(out)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class indices ``(N,)``: binary uses ``config.threshold`` on p(class 1) when set, else argmax."""
        p = self.predict_proba(images)
        if self.config.threshold is not None:
            return (p[:, 1] >= self.config.threshold).astype(np.int64)
        return p.argmax(axis=1).astype(np.int64)

    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.network.parameters()))

    def save(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``weights.safetensors`` (float32) into ``directory``."""
        from safetensors.torch import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().clone() for k, v in self.network.state_dict().items()}
        save_file(state, str(d / WEIGHTS_FILE), metadata={"format": FORMAT})
        os.chmod(d / WEIGHTS_FILE, 0o644)  # safetensors writes 0600; packaged files must be world-readable
        (d / CONFIG_FILE).write_text(json.dumps(self.config.model_dump(mode="json"), indent=2) + "\n")
        return d

    @classmethod
    def load(cls, directory: str | Path) -> ReferenceClassifier:
        """Rebuild from a folder written by :meth:`save`; one-line RadsynthInputError if unusable."""
        from safetensors.torch import load_file

        d = Path(directory)
        if not (d / CONFIG_FILE).is_file() or not (d / WEIGHTS_FILE).is_file():
            raise RadsynthInputError(
                "classifier folder", str(d), f"a folder holding {CONFIG_FILE} and {WEIGHTS_FILE}",
                "Write one with ReferenceClassifier.save or scripts/train_cxr_classifier.py.",
            )
        try:
            cfg = ClassifierConfig.model_validate_json((d / CONFIG_FILE).read_text())
        except ValueError as exc:
            raise RadsynthInputError(
                "classifier config", str(d / CONFIG_FILE), "a valid ClassifierConfig JSON",
                str(exc).splitlines()[0][:160],
            ) from None
        net = build_classifier(cfg)
        try:
            net.load_state_dict(load_file(str(d / WEIGHTS_FILE)), strict=True)
        except (RuntimeError, OSError) as exc:
            raise RadsynthInputError(
                "classifier weights", str(d / WEIGHTS_FILE), "weights matching config.json",
                str(exc).splitlines()[0][:160],
            ) from None
        return cls(cfg, net)


def shipped_models() -> list[str]:
    """Names of the classifiers packaged under ``radsynth/data/models``."""
    root = resources.files("radsynth").joinpath("data", "models")
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        if p.is_dir() and p.joinpath(CONFIG_FILE).is_file():
            try:
                fmt = json.loads(p.joinpath(CONFIG_FILE).read_text()).get("format")
            except (OSError, ValueError, AttributeError):
                continue
            if fmt == FORMAT:  # other shipped models (e.g. the cxr-encoder-64 feature encoder) are not classifiers
                out.append(p.name)
    return sorted(out)


def load_shipped(name: str = "cxr-classifier-64") -> ReferenceClassifier:
    """A classifier packaged with radsynth (no download), e.g. ``"cxr-classifier-64"``."""
    names = shipped_models()
    if name not in names:
        raise RadsynthInputError("classifier name", name, f"one of {names}")
    return ReferenceClassifier.load(Path(str(resources.files("radsynth").joinpath("data", "models", name))))


# ---------------------------------------------------------------- training


@dataclass
class TrainReport:
    """What happened during :func:`train_classifier` (per-epoch history, best epoch, wall time)."""

    epochs: int
    best_epoch: int
    best_val_auc: float
    threshold: float | None
    seconds: float
    stopped: str
    history: list[dict[str, float]] = field(default_factory=list)


def _augment(x: np.ndarray, rng: np.random.Generator, max_shift: int) -> torch.Tensor:
    """Laterality-preserving augmentation of (B, H, W) in [0, 1] -> (B, 1, H, W) tensor.

    Shift up to ``max_shift`` px and isotropic zoom 0.9-1.1 (bilinear, border padding; torch
    ``affine_grid``/``grid_sample``, parameters drawn from ``rng``), gamma 0.75-1.33 (log-uniform),
    additive Gaussian noise sigma in [0, 0.02]. No flips or rotations: chest X-rays are not
    left-right symmetric and the heart side is a class-independent cue the judge must keep."""
    b, h, w = x.shape
    scale = rng.uniform(0.9, 1.1, b)
    tx = rng.uniform(-max_shift, max_shift, b) * 2.0 / w
    ty = rng.uniform(-max_shift, max_shift, b) * 2.0 / h
    theta = np.zeros((b, 2, 3), np.float32)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / scale
    theta[:, 0, 2], theta[:, 1, 2] = tx, ty
    gamma = np.exp(rng.uniform(math.log(0.75), math.log(1.0 / 0.75), b)).astype(np.float32)
    sigma = rng.uniform(0.0, 0.02, b).astype(np.float32)
    noise = rng.standard_normal((b, 1, h, w), dtype=np.float32) * sigma[:, None, None, None]
    t = torch.from_numpy(np.ascontiguousarray(x[:, None]))
    grid = torch.nn.functional.affine_grid(torch.from_numpy(theta), [b, 1, h, w], align_corners=False)
    t = torch.nn.functional.grid_sample(t, grid, mode="bilinear", padding_mode="border", align_corners=False)
    t = t.clamp(0.0, 1.0) ** torch.from_numpy(gamma)[:, None, None, None]
    return (t + torch.from_numpy(noise)).clamp(0.0, 1.0)


def _labels(labels: np.ndarray, n: int, n_classes: int, name: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes:
        raise RadsynthInputError(name, f"array of shape {y.shape}", f"({n},) integer class indices in [0, {n_classes})")
    return y.astype(np.int64)


def _val_auc(probs: np.ndarray, y: np.ndarray) -> float:
    """Binary: AUC of p(class 1); multi-class: mean one-vs-rest AUC over present classes."""
    k = probs.shape[1]
    cols = [1] if k == 2 else range(k)
    aucs = [roc_auc(probs[:, c], y == c) for c in cols if 0 < (y == c).sum() < y.size]
    return float(np.mean(aucs)) if aucs else float("nan")


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    val_images: np.ndarray,
    val_labels: np.ndarray,
    cfg: ClassifierConfig,
    *,
    seed: int = 0,
    max_minutes: float = 10.0,
    max_epochs: int = 40,
    batch_size: int = 64,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    patience: int = 8,
    max_shift: int = 4,
    augment: bool = True,
    autocast_bf16: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[ReferenceClassifier, TrainReport]:
    """Train ``cfg``'s network on ``images`` (N, H, W in [0, 1]) / ``labels`` (class indices).

    Class-balanced cross-entropy (weights n / (k * n_c)), AdamW with cosine decay over
    ``max_epochs``, evaluation on the validation set after every epoch; the weights of
    the epoch with the best validation AUC are kept (early stop after ``patience``
    epochs without improvement after the first 30 % of epochs, or when ``max_minutes`` is spent). For two classes
    the decision threshold is the balanced-accuracy optimum on the validation set.
    ``autocast_bf16`` is off by default: measured slower on a 2-core AMD EPYC CPU.
    """
    t0 = time.perf_counter()
    x = prepare_images(images, cfg, "images")
    xv = prepare_images(val_images, cfg, "val_images")
    y = _labels(labels, x.shape[0], cfg.n_classes, "labels")
    yv = _labels(val_labels, xv.shape[0], cfg.n_classes, "val_labels")
    if max_minutes <= 0 or max_epochs < 1 or batch_size < 2:
        raise RadsynthInputError("max_minutes/max_epochs/batch_size", (max_minutes, max_epochs, batch_size), "> 0, >= 1, >= 2")
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_classifier(cfg)
    counts = np.bincount(y, minlength=cfg.n_classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (cfg.n_classes * np.maximum(counts, 1)), 0.0)
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = max(1, x.shape[0] // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=max_epochs * steps_per_epoch, pct_start=0.15
    )
    warmup_epochs = math.ceil(0.3 * max_epochs)
    model = ReferenceClassifier(cfg, net)
    best_auc, best_epoch, best_state, bad = -1.0, 0, None, 0
    history: list[dict[str, float]] = []
    stopped = "max_epochs"
    epoch = 0
    # Dropout masks come from torch's RNG: fork it so training never touches the global stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        for epoch in range(1, max_epochs + 1):
            net.train()
            order = rng.permutation(x.shape[0])
            total = 0.0
            for s in range(steps_per_epoch):
                idx = order[s * batch_size : (s + 1) * batch_size]
                xb = _augment(x[idx], rng, max_shift) if augment else torch.from_numpy(x[idx][:, None])
                xt = _standardise(xb, cfg)
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast_bf16):
                    logits = net(xt)
                loss = loss_fn(logits.float(), torch.from_numpy(y[idx]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += float(loss.detach())
            pv = model.predict_proba(xv)
            auc = _val_auc(pv, yv)
            acc = float((pv.argmax(1) == yv).mean())
            history.append({"epoch": epoch, "loss": total / steps_per_epoch, "val_auc": auc, "val_acc_argmax": acc,
                            "seconds": time.perf_counter() - t0})
            if log:
                log(f"epoch {epoch:3d} loss {total / steps_per_epoch:.4f} val_auc {auc:.4f} "
                    f"val_acc {acc:.3f} t {time.perf_counter() - t0:.0f}s")
            if auc > best_auc:
                best_auc, best_epoch, bad = auc, epoch, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            elif epoch > warmup_epochs:  # patience counts only once the learning rate decays
                bad += 1
            if bad >= patience:
                stopped = "early_stop"
                break
            elapsed = time.perf_counter() - t0
            if elapsed + elapsed / epoch > max_minutes * 60.0:
                stopped = "time_budget"
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    threshold = None
    if cfg.n_classes == 2 and 0 < yv.sum() < yv.size:
        threshold = float(np.clip(balanced_threshold(model.predict_proba(xv)[:, 1], yv), 0.0, 1.0))
    final_cfg = cfg.model_copy(update={"threshold": threshold})
    report = TrainReport(epochs=epoch, best_epoch=best_epoch, best_val_auc=best_auc, threshold=threshold,
                         seconds=time.perf_counter() - t0, stopped=stopped, history=history)
    return ReferenceClassifier(final_cfg, net), report
