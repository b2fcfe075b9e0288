"""A learned feature encoder for chest X-rays: features for FID / KID / PRDC and nearest neighbours.

Published FID / KID / PRDC use Inception-v3 pool features of ImageNet photographs
(Heusel et al., NeurIPS 2017, arXiv:1706.08500); radsynth downloads nothing, and
ImageNet features are a poor fit for grey radiographs. This module provides a small
encoder trained on real chest X-rays only and shipped with the package
(``cxr-encoder-64``, trained by ``scripts/train_cxr_encoder.py``; see its
``MODEL_CARD.md``); a second one, ``brain-mri-encoder-64`` (``scripts/train_brain_mri_encoder.py``,
128-d), does the same for 2D brain MRI slices, trained on the train part of a fixed split of a small real
slice set whose held-out part (its ``split.csv``) is the only fair reference for it. Every folder under
``radsynth/data/models`` whose ``config.json`` has this module's format is a shipped encoder
(:func:`shipped_encoders`). :func:`load_encoder` returns a radsynth
:class:`~radsynth.metrics.features.Encoder`: grey images ``(N, H, W)`` in [0, 1] ->
features ``(N, D)`` float64 (D = 256 for cxr-encoder-64, 128 for brain-mri-encoder-64).

Network. MONAI's 2D ``ResNet`` (He et al., CVPR 2016, arXiv:1512.03385; Cardoso et al.,
MONAI, arXiv:2211.02701) with basic residual blocks, one block per stage, a 3x3 stride-2
stem without max-pooling (keeps fine detail, so noise and blur change the features),
batch norm, and global average pooling of the last stage as the feature vector
(``feed_forward=False``). It is deliberately a different network, loss and training
run from the reference classifier :mod:`radsynth.metrics.classifier` (MONAI
``Classifier``, cross-entropy only), so that the two can judge generated images
independently.

Training objective (:func:`train_encoder`): SimCLR's NT-Xent contrastive loss (Chen et
al., ICML 2020, arXiv:2002.05709; :func:`nt_xent_loss`) on a projection head,
plus a class-balanced cross-entropy on a linear head when labels are given (the
shipped encoder uses both; ``ce_weight=0`` gives a purely self-supervised encoder).
Why both: with a ~15 min single-thread budget, contrastive learning alone yields
features that are instance-discriminative (what nearest-neighbour memorisation audits
and PRDC need) but only weakly organised by finding; the supervised term adds the
NORMAL / PNEUMONIA structure that a class-conditional generator must reproduce
(Khosla et al., NeurIPS 2020, arXiv:2004.11362, combine the two for the same reason).
Heads are dropped after training; the shipped weights are the trunk only.

Augmentations and what the features are *blind* to. A contrastive encoder becomes
invariant to whatever its augmentations vary, and a metric on its features cannot see
that variation. The views therefore vary only what a generator may legitimately vary
between images of one patient population: random resized crop (area 60-100 %, aspect
3/4-4/3), rotation up to +-10 degrees and gamma 0.75-1.33 (bicubic resampling, border
padding). They contain **no noise, no blur and no flips**, so that noise and
over-smoothing (typical diffusion-model artefacts) and laterality errors move the
features (measured in the model card: FID grows monotonically with added noise and
blur). Inputs are standardised with fixed dataset statistics, not per image, so global
brightness and contrast errors are visible too.

Determinism: weight initialisation from a forked torch RNG seeded from ``seed``; batch
order and augmentations from ``np.random.default_rng(seed)``. Features are computed in
eval mode under ``torch.no_grad`` with a fixed torch thread count (1 by default,
:class:`~radsynth.metrics.features.TorchEncoder`): bit-identical across calls and
save/load round trips (tested); other thread counts or CPUs change float32 rounding only.
Training is bit-reproducible on one machine at one thread (the model card records the
check); on other hardware it drifts to a slightly different model, so compare metric
values only when computed with the same weights file.
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
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import TorchEncoder, check_images

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
FORMAT = "radsynth-feature-encoder/1"
DEFAULT_ENCODER = "cxr-encoder-64"
REFERENCE = "Chen et al., ICML 2020, arXiv:2002.05709 (SimCLR); He et al., CVPR 2016, arXiv:1512.03385 (ResNet)"


class EncoderConfig(BaseModel):
    """Everything needed to rebuild a :class:`FeatureEncoder` (weights aside)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["radsynth-feature-encoder/1"] = FORMAT
    image_size: int = Field(64, ge=16, le=1024, description="square input side after resize (pixels)")
    channels: Literal[1] = Field(1, description="input channels (grey)")
    network: Literal["monai.ResNet"] = "monai.ResNet"
    block: Literal["basic"] = "basic"
    layers: tuple[int, int, int, int] = Field((1, 1, 1, 1), description="residual blocks per stage")
    block_inplanes: tuple[int, int, int, int] = Field((16, 32, 64, 256), description="channels per stage")
    stem_kernel: int = Field(3, ge=1, le=7)
    stem_stride: int = Field(2, ge=1, le=4)
    norm: Literal["batch"] = "batch"
    normalisation: Literal["dataset_mean_std"] = Field(
        "dataset_mean_std", description="(x - norm_mean) / norm_std with fixed dataset statistics (no per-image scaling)"
    )
    norm_mean: float = Field(0.5, ge=0.0, le=1.0)
    norm_std: float = Field(0.25, gt=0.0)
    class_names: tuple[str, ...] = Field((), description="labels of the supervised head used in training (if any)")

    @model_validator(mode="after")
    def _check(self) -> EncoderConfig:
        if len(self.layers) != 4 or len(self.block_inplanes) != 4:
            raise ValueError("layers and block_inplanes must have 4 entries (the 4 stages of MONAI's ResNet)")
        if min(self.layers) < 1 or min(self.block_inplanes) < 1:
            raise ValueError("layers and block_inplanes must be >= 1")
        if self.image_size // (self.stem_stride * 2 ** (len(self.layers) - 1)) < 1:
            raise ValueError("image_size too small for the network's strides")
        return self

    @property
    def feature_dim(self) -> int:
        """D, the length of a feature vector (channels of the last stage; basic blocks do not expand)."""
        return int(self.block_inplanes[-1])


def build_encoder_network(cfg: EncoderConfig) -> torch.nn.Module:
    """The untrained MONAI ResNet trunk of ``cfg``: ``(N, 1, S, S)`` -> ``(N, D)`` pooled features."""
    from monai.networks.nets import ResNet

    return ResNet(
        cfg.block, list(cfg.layers), list(cfg.block_inplanes), spatial_dims=2, n_input_channels=cfg.channels,
        conv1_t_size=cfg.stem_kernel, conv1_t_stride=cfg.stem_stride, no_max_pool=True, shortcut_type="B",
        feed_forward=False, norm=cfg.norm,
    )


def _resize_stack(x: np.ndarray, size: int) -> np.ndarray:
    """``(N, H, W)`` in [0, 1] -> float32 ``(N, size, size)``: centre crop + anti-aliased resize (as training data)."""
    if x.shape[1:] == (size, size):
        return np.ascontiguousarray(x, dtype=np.float32)
    from radsynth.generators.common.data import resize_image

    return np.stack([resize_image(im.astype(np.float32), size) for im in x])


class FeatureEncoder:
    """A trained encoder: an :class:`~radsynth.metrics.features.Encoder` with ``save`` / ``load``.

    ``encoder(images01)``: grey images ``(N, H, W)`` in [0, 1] (any size >= 8; centre-cropped
    to square and resized to ``config.image_size`` as in :func:`radsynth.generators.common.data.resize_image`)
    -> features ``(N, D)`` float64, D = ``config.feature_dim``. Batches of ``batch_size`` images
    on ``num_threads`` torch threads (see module docstring for determinism).
    """

    def __init__(
        self, config: EncoderConfig, network: torch.nn.Module, *, name: str | None = None,
        batch_size: int = 256, num_threads: int = 1,
    ) -> None:
        self.config = config
        self.network = network.eval()
        self.name = name or f"encoder-{config.network}-{config.image_size}"
        mean, std = config.norm_mean, config.norm_std
        self._torch = TorchEncoder(self.network, batch_size=batch_size, num_threads=num_threads,
                                   preprocess=lambda t: (t - mean) / std, name=self.name)

    @property
    def dim(self) -> int:
        return self.config.feature_dim

    def __call__(self, images01: np.ndarray) -> np.ndarray:
        x = check_images(images01)
        if min(x.shape[1:]) < 8:
            raise RadsynthInputError("images", f"shape {x.shape}", "(N, H, W) with H, W >= 8 pixels")
        return self._torch(_resize_stack(x, self.config.image_size))

    def n_parameters(self) -> int:
        return int(sum(p.numel() for p in self.network.parameters()))

    def __repr__(self) -> str:
        return f"FeatureEncoder({self.name}, D={self.dim}, params={self.n_parameters()})"

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` and ``weights.safetensors`` (float32 trunk state) into ``directory``."""
        from safetensors.torch import save_file

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().clone() for k, v in self.network.state_dict().items()}
        save_file(state, str(d / WEIGHTS_FILE), metadata={"format": FORMAT})
        os.chmod(d / WEIGHTS_FILE, 0o644)  # safetensors writes 0600; packaged files must be world-readable
        (d / CONFIG_FILE).write_text(json.dumps(self.config.model_dump(mode="json"), indent=2) + "\n")
        return d

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, name: str | None = None) -> FeatureEncoder:
        """Rebuild from a folder written by :meth:`save`; one-line RadsynthInputError if unusable."""
        from safetensors.torch import load_file

        d = Path(directory)
        if not (d / CONFIG_FILE).is_file() or not (d / WEIGHTS_FILE).is_file():
            raise RadsynthInputError("encoder folder", str(d), f"a folder holding {CONFIG_FILE} and {WEIGHTS_FILE}",
                                     "Write one with FeatureEncoder.save or scripts/train_cxr_encoder.py.")
        try:
            cfg = EncoderConfig.model_validate_json((d / CONFIG_FILE).read_text())
        except ValueError as exc:
            raise RadsynthInputError("encoder config", str(d / CONFIG_FILE), f"a valid {FORMAT} config JSON",
                                     str(exc).splitlines()[0][:160]) from None
        net = build_encoder_network(cfg)
        try:
            net.load_state_dict(load_file(str(d / WEIGHTS_FILE)), strict=True)
        except (RuntimeError, OSError, ValueError) as exc:
            raise RadsynthInputError("encoder weights", str(d / WEIGHTS_FILE), "weights matching config.json",
                                     str(exc).splitlines()[0][:160]) from None
        return cls(cfg, net, name=name or d.name)


def _models_root() -> Path:
    return Path(str(resources.files("radsynth").joinpath("data", "models")))


def shipped_encoders() -> list[str]:
    """Names of the encoders packaged under ``radsynth/data/models`` (config format ``radsynth-feature-encoder/1``)."""
    root = _models_root()
    if not root.is_dir():
        return []
    out = []
    for p in sorted(root.iterdir()):
        try:
            fmt = json.loads((p / CONFIG_FILE).read_text()).get("format") if (p / CONFIG_FILE).is_file() else None
        except (OSError, ValueError, AttributeError):
            fmt = None
        if fmt == FORMAT:
            out.append(p.name)
    return out


def load_encoder(name: str | os.PathLike[str] = DEFAULT_ENCODER, *, batch_size: int = 256,
                 num_threads: int = 1) -> FeatureEncoder:
    """A shipped encoder by name (e.g. ``"cxr-encoder-64"``; no download) or one saved in a folder."""
    text = os.fspath(name)
    names = shipped_encoders()
    if text in names:
        d = _models_root() / text
    elif Path(text).expanduser().is_dir() and (Path(text).expanduser() / CONFIG_FILE).is_file():
        d = Path(text).expanduser()
    else:
        raise RadsynthInputError("encoder name", text, f"one of {names} or a folder written by FeatureEncoder.save",
                                 "Train one with scripts/train_cxr_encoder.py.")
    enc = FeatureEncoder.load(d)
    return FeatureEncoder(enc.config, enc.network, name=enc.name, batch_size=batch_size, num_threads=num_threads)


# ---------------------------------------------------------------- training


@dataclass
class EncoderTrainReport:
    """What happened during :func:`train_encoder` (per-epoch history, wall time, stop reason)."""

    epochs: int
    seconds: float
    stopped: str
    history: list[dict[str, float]] = field(default_factory=list)


def augment_views(x: np.ndarray, rng: np.random.Generator, *, crop_area: tuple[float, float] = (0.6, 1.0),
                  aspect: tuple[float, float] = (3 / 4, 4 / 3), max_rotation_deg: float = 10.0,
                  gamma: tuple[float, float] = (0.75, 1.0 / 0.75)) -> torch.Tensor:
    """One random view per image: ``(B, H, W)`` in [0, 1] -> ``(B, 1, H, W)`` float32 tensor in [0, 1].

    Random resized crop (area fraction ``crop_area``, width / height ratio log-uniform in
    ``aspect``, anywhere inside the image), rotation up to ``max_rotation_deg`` (bicubic
    ``grid_sample``, border padding), then gamma (log-uniform in ``gamma``). No noise,
    blur or flips (see module docstring). All draws come from ``rng``.
    """
    b, h, w = x.shape
    area = rng.uniform(crop_area[0], crop_area[1], b)
    aspect_r = np.exp(rng.uniform(math.log(aspect[0]), math.log(aspect[1]), b))
    sx = np.minimum(np.sqrt(area * aspect_r), 1.0)
    sy = np.minimum(np.sqrt(area / aspect_r), 1.0)
    tx = rng.uniform(-1.0, 1.0, b) * (1.0 - sx)
    ty = rng.uniform(-1.0, 1.0, b) * (1.0 - sy)
    rot = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg, b))
    g = np.exp(rng.uniform(math.log(gamma[0]), math.log(gamma[1]), b)).astype(np.float32)
    theta = np.zeros((b, 2, 3), np.float32)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 0, 2] = sx * np.cos(rot), -sy * np.sin(rot), tx
    theta[:, 1, 0], theta[:, 1, 1], theta[:, 1, 2] = sx * np.sin(rot), sy * np.cos(rot), ty
    t = torch.from_numpy(np.ascontiguousarray(x[:, None], dtype=np.float32))
    grid = torch.nn.functional.affine_grid(torch.from_numpy(theta), [b, 1, h, w], align_corners=False)
    t = torch.nn.functional.grid_sample(t, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return t.clamp(0.0, 1.0) ** torch.from_numpy(g)[:, None, None, None]


def nt_xent_loss(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR NT-Xent (Chen et al. 2020, Eq. 1) of paired embeddings ``(B, P)``, mean over the 2B anchors.

    For the 2B L2-normalised embeddings ``u``, anchor ``i`` with positive ``j(i)`` (its
    other view) contributes ``-log(exp(u_i.u_j / t) / sum_{k != i} exp(u_i.u_k / t))``.
    Same value as MONAI ``ContrastiveLoss`` (checked in the tests), written as a
    cross-entropy over a masked similarity matrix because MONAI's version materialises
    ``(2B, 2B, P)`` tensors for ``cosine_similarity``: measured ~700x slower (1.07 s vs
    1.6 ms forward + backward at B = 128, P = 128, one CPU thread) and without the
    log-sum-exp guard against overflow at small temperatures.
    """
    n = z1.shape[0]
    u = torch.nn.functional.normalize(torch.cat([z1, z2]), dim=1)
    sim = (u @ u.T) / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=sim.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(sim.device)
    return torch.nn.functional.cross_entropy(sim, target)


class _Heads(torch.nn.Module):
    """Training-only heads on the trunk features: SimCLR projection MLP and an optional linear class head."""

    def __init__(self, dim: int, proj_dim: int, n_classes: int) -> None:
        super().__init__()
        self.proj = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.ReLU(inplace=True),
                                        torch.nn.Linear(dim, proj_dim))
        self.cls = torch.nn.Linear(dim, n_classes) if n_classes >= 2 else None


def knn_accuracy(train_f: np.ndarray, train_y: np.ndarray, query_f: np.ndarray, query_y: np.ndarray,
                 k: int = 5) -> float:
    """Balanced accuracy of a k-nearest-neighbour vote (cosine similarity) of ``query_f`` among ``train_f``."""
    a = train_f / np.maximum(np.linalg.norm(train_f, axis=1, keepdims=True), 1e-12)
    q = query_f / np.maximum(np.linalg.norm(query_f, axis=1, keepdims=True), 1e-12)
    nn = np.argsort(-(q @ a.T), axis=1, kind="stable")[:, :k]
    n_cls = int(max(train_y.max(), query_y.max())) + 1
    votes = np.stack([(train_y[nn] == c).sum(1) for c in range(n_cls)], axis=1)
    pred = votes.argmax(1)
    return float(np.mean([(pred[query_y == c] == c).mean() for c in range(n_cls) if (query_y == c).any()]))


def train_encoder(
    images: np.ndarray,
    labels: np.ndarray | None,
    val_images: np.ndarray,
    val_labels: np.ndarray | None,
    cfg: EncoderConfig,
    *,
    seed: int = 0,
    epochs: int = 16,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 1e-4,
    temperature: float = 0.2,
    ce_weight: float = 1.0,
    proj_dim: int = 128,
    max_minutes: float = 15.0,
    eval_every: int = 4,
    log: Callable[[str], None] | None = None,
) -> tuple[FeatureEncoder, EncoderTrainReport]:
    """Train ``cfg``'s trunk on grey ``images`` ``(N, S, S)`` in [0, 1] (S = ``cfg.image_size``).

    Per step: two views of each of ``batch_size`` images (:func:`augment_views`),
    loss = NT-Xent(temperature) on the projection head + ``ce_weight`` x class-balanced
    cross-entropy on both views (skipped when ``labels`` is None or ``ce_weight`` is 0).
    AdamW, linear warm-up (10 % of steps) then cosine decay over ``epochs``; the final weights are kept (no
    model selection). Every ``eval_every`` epochs and at the end the history records the
    validation kNN balanced accuracy (k = 5, cosine; when labels are given) and the
    validation view-retrieval top-1 accuracy (fraction of validation images whose
    augmented view's nearest validation feature is its own image). Stops early with
    ``stopped="time_budget"`` if the next epoch would exceed ``max_minutes``.
    """
    t0 = time.perf_counter()
    s = cfg.image_size
    x = check_images(images, "images").astype(np.float32)
    xv = check_images(val_images, "val_images").astype(np.float32)
    for nm, a in (("images", x), ("val_images", xv)):
        if a.shape[1:] != (s, s):
            raise RadsynthInputError(nm, f"shape {a.shape}", f"(N, {s}, {s}) (resize with radsynth.generators.common.data.resize_image)")
    n_cls = len(cfg.class_names)
    supervised = labels is not None and ce_weight > 0
    if supervised:
        y = np.asarray(labels)
        if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= max(n_cls, 1):
            raise RadsynthInputError("labels", f"array of shape {y.shape}",
                                     f"({x.shape[0]},) class indices in [0, {n_cls}) (cfg.class_names)")
        y = y.astype(np.int64)
    if epochs < 1 or batch_size < 2 or batch_size > x.shape[0] or max_minutes <= 0 or temperature <= 0:
        raise RadsynthInputError("epochs/batch_size/max_minutes/temperature", (epochs, batch_size, max_minutes, temperature),
                                 "epochs >= 1, 2 <= batch_size <= number of images, max_minutes > 0, temperature > 0")
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_encoder_network(cfg)
        heads = _Heads(cfg.feature_dim, proj_dim, n_cls if supervised else 0)
    # contiguous (NCHW), not channels_last: channels_last was ~1.4x faster on CPU, but torch 2.13's oneDNN path
    # corrupted the heap in this network's backward on an AVX2-only AMD EPYC (glibc malloc assertion, 2026-12-07)
    params = list(net.parameters()) + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    steps = x.shape[0] // batch_size
    total, warm = epochs * steps, max(1, round(0.1 * epochs * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(  # linear warm-up over 10 % of the steps, then cosine decay to 0
        opt, lambda k: (k + 1) / warm if k < warm else 0.5 * (1.0 + math.cos(math.pi * (k - warm) / max(1, total - warm))))
    ce = None
    if supervised:
        counts = np.bincount(y, minlength=n_cls).astype(np.float64)
        w = np.where(counts > 0, counts.sum() / (n_cls * np.maximum(counts, 1)), 0.0)
        ce = torch.nn.CrossEntropyLoss(weight=torch.tensor(w, dtype=torch.float32))
    mean, std = cfg.norm_mean, cfg.norm_std
    enc = FeatureEncoder(cfg, net, name="training")
    history: list[dict[str, float]] = []
    stopped, epoch = "epochs", 0
    for epoch in range(1, epochs + 1):
        te = time.perf_counter()
        net.train()
        heads.train()
        order = rng.permutation(x.shape[0])
        tot = tot_c = tot_ce = 0.0
        for i in range(steps):
            idx = order[i * batch_size : (i + 1) * batch_size]
            v = torch.cat([augment_views(x[idx], rng), augment_views(x[idx], rng)])
            v = ((v - mean) / std).contiguous()
            f = net(v)
            z = heads.proj(f)
            loss_c = nt_xent_loss(z[: len(idx)], z[len(idx) :], temperature)
            loss = loss_c
            if ce is not None:
                yy = torch.from_numpy(np.concatenate([y[idx], y[idx]]))
                loss_ce = ce(heads.cls(f), yy)
                loss = loss + ce_weight * loss_ce
                tot_ce += float(loss_ce.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach())
            tot_c += float(loss_c.detach())
        row: dict[str, float] = {"epoch": epoch, "loss": tot / steps, "nt_xent": tot_c / steps,
                                 "cross_entropy": tot_ce / steps if ce is not None else float("nan"),
                                 "epoch_seconds": time.perf_counter() - te}
        last = epoch == epochs
        elapsed = time.perf_counter() - t0
        if not last and elapsed + elapsed / epoch > max_minutes * 60.0:
            stopped, last = "time_budget", True
        if last or (eval_every > 0 and epoch % eval_every == 0):
            row.update(_evaluate(enc, x, labels if supervised else None, xv, val_labels if supervised else None, seed))
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if log:
            log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))
        if stopped == "time_budget":
            break
    net = net.to(memory_format=torch.contiguous_format).eval()
    return (FeatureEncoder(cfg, net), EncoderTrainReport(epochs=epoch, seconds=time.perf_counter() - t0,
                                                          stopped=stopped, history=history))


def _evaluate(enc: FeatureEncoder, x: np.ndarray, y: Any, xv: np.ndarray, yv: Any, seed: int) -> dict[str, float]:
    """Validation kNN balanced accuracy (if labelled) and view-retrieval top-1 accuracy."""
    out: dict[str, float] = {}
    fv = enc(xv)
    if y is not None and yv is not None:
        out["val_knn_bal_acc"] = knn_accuracy(enc(x), np.asarray(y), fv, np.asarray(yv))
    # own RNG: evaluation must not change the training stream
    views = augment_views(xv, np.random.default_rng(seed + 7919))[:, 0].numpy().astype(np.float64)
    fa = enc(views)
    a = fv / np.maximum(np.linalg.norm(fv, axis=1, keepdims=True), 1e-12)
    q = fa / np.maximum(np.linalg.norm(fa, axis=1, keepdims=True), 1e-12)
    out["val_view_top1"] = float(((q @ a.T).argmax(1) == np.arange(len(xv))).mean())
    return out


def validation_table(history: list[dict[str, Any]]) -> str:
    """Markdown table of an encoder training history's validation rows (epoch, loss, NT-Xent, cross-entropy, kNN
    balanced accuracy, view top-1), for model cards."""
    rows = ["| epoch | loss | NT-Xent | cross-entropy | knn | view top-1 |", "|---|---|---|---|---|---|"]
    for r in history:
        if "val_view_top1" in r:
            rows.append(f"| {r['epoch']} | {r['loss']:.4f} | {r['nt_xent']:.4f} | {r['cross_entropy']:.4f} | "
                        f"{r.get('val_knn_bal_acc', float('nan')):.3f} | {r['val_view_top1']:.3f} |")
    return "\n".join(rows)
