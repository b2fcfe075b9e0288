"""Feature extraction for distribution-level metrics: the ``Encoder`` protocol and two encoders.

Protocol note (applies to :mod:`radsynth.metrics.frechet`, :mod:`~radsynth.metrics.kid`
and :mod:`~radsynth.metrics.prdc`): every *feature-space* metric is a pure function
of two feature arrays ``(N, D)`` of finite floats (one row per image, same ``D`` on
both sides; ``N`` may differ). How the features were made is the caller's
business; the metric classes take an :class:`Encoder` to go from images to
features:

- an ``Encoder`` is any callable ``images01 -> features`` with ``images01`` a
  float array ``(N, H, W)`` of grey values in [0, 1] and ``features`` a float
  array ``(N, D)``; it must be deterministic (same images -> same features) and
  must not depend on the order or batching of the images;
- :class:`PixelEncoder` (downsampled pixels) needs no weights: for tests, and as a
  no-encoder fallback. Metrics on pixel features are *not* comparable with
  published FID / KID / PRDC values, which use Inception-v3 pool features
  (Heusel et al., NeurIPS 2017, arXiv:1706.08500); report the encoder with the
  number;
- :class:`TorchEncoder` wraps any ``torch.nn.Module`` mapping ``(N, 1, H, W)``
  (or ``(N, C, S, S)`` after the optional channel repeat / resize) to ``(N, D)``,
  e.g. an Inception-v3 or a RadImageNet network whose weights the user loaded from
  a local file. radsynth downloads nothing.

The same encoder must be used for both sets, and sets should have equal sizes
when numbers are compared across experiments (FID is biased upwards at small N;
Chong & Forsyth, CVPR 2020, arXiv:1911.07023).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from radsynth.core.errors import RadsynthInputError


@runtime_checkable
class Encoder(Protocol):
    """Callable mapping grey images ``(N, H, W)`` in [0, 1] to features ``(N, D)`` (see module docstring)."""

    def __call__(self, images01: np.ndarray) -> np.ndarray: ...


def check_images(images01: Any, field: str = "images") -> np.ndarray:
    """Validate a stack of grey images: float ``(N, H, W)``, finite, in [0, 1], N >= 1; returns float64."""
    x = np.asarray(images01)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise RadsynthInputError(field, f"dtype {x.dtype}", "a float array (N, H, W) of grey values in [0, 1]")
    if x.ndim != 3 or min(x.shape) < 1:
        raise RadsynthInputError(field, f"shape {x.shape}", "a non-empty array (N, H, W)",
                                 "Stack 2D grey images along axis 0; drop channel axes first.")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        raise RadsynthInputError(field, "non-finite values", "finite grey values in [0, 1]")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        raise RadsynthInputError(field, f"values in [{lo:.4g}, {hi:.4g}]", "grey values in [0, 1]",
                                 "Scale images to [0, 1] (e.g. divide 8-bit data by 255).")
    return x


def check_features(features: Any, field: str = "features", min_rows: int = 1) -> np.ndarray:
    """Validate a feature array: ``(N, D)`` finite numbers with ``N >= min_rows``; returns float64."""
    x = np.asarray(features)
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise RadsynthInputError(field, f"dtype {x.dtype}", "a float array (N, D)")
    if x.ndim != 2 or x.shape[1] < 1:
        raise RadsynthInputError(field, f"shape {x.shape}", "a 2D array (N, D) with D >= 1",
                                 "One row of features per image.")
    if x.shape[0] < min_rows:
        raise RadsynthInputError(field, f"{x.shape[0]} rows", f"at least {min_rows} rows (one per image)")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        raise RadsynthInputError(field, "non-finite values", "finite numbers")
    return x


def check_pair(real: Any, synthetic: Any, min_rows: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Validate two feature arrays with the same feature dimension ``D``."""
    a = check_features(real, "real_features", min_rows)
    b = check_features(synthetic, "synthetic_features", min_rows)
    if a.shape[1] != b.shape[1]:
        raise RadsynthInputError("synthetic_features", f"D={b.shape[1]}",
                                 f"the feature dimension of real_features (D={a.shape[1]})",
                                 "Encode both sets with the same encoder.")
    return a, b


def encode(encoder: Encoder, images01: Any, field: str = "images") -> np.ndarray:
    """Run ``encoder`` on validated images and validate its output (one row per image)."""
    x = check_images(images01, field)
    f = np.asarray(encoder(x))
    if f.ndim != 2 or f.shape[0] != x.shape[0]:
        raise RadsynthInputError(f"{field} features", f"shape {f.shape}", f"(N, D) with N = {x.shape[0]} images",
                                 "The encoder must return one feature row per image.")
    return check_features(f, f"{field} features")


class PixelEncoder:
    """Downsampled pixels as features: area-average each image to ``size x size``, flatten.

    Features: ``(N, size * size)`` float64 grey means in [0, 1]. Area averaging is
    ``torch.nn.functional.adaptive_avg_pool2d`` (exact block means when ``size``
    divides the image side). A weight-free stand-in for a learned encoder: it sees
    brightness, contrast, coarse structure and (through the block means) some noise
    and blur, but nothing semantic.
    """

    def __init__(self, size: int = 16) -> None:
        if not isinstance(size, int | np.integer) or isinstance(size, bool) or size < 1:
            raise RadsynthInputError("size", size, "an integer >= 1 (side of the downsampled image, pixels)")
        self.size = int(size)
        self.name = f"pixels-{self.size}x{self.size}"

    def __call__(self, images01: np.ndarray) -> np.ndarray:
        x = check_images(images01)
        if self.size > min(x.shape[1:]):
            raise RadsynthInputError("size", self.size, f"at most the image side ({min(x.shape[1:])} pixels)")
        t = torch.from_numpy(np.ascontiguousarray(x))[:, None]
        return F.adaptive_avg_pool2d(t, self.size).reshape(x.shape[0], -1).numpy()

    def __repr__(self) -> str:
        return f"PixelEncoder(size={self.size})"


class TorchEncoder:
    """Wrap a ``torch.nn.Module`` as an :class:`Encoder` (batched, eval mode, no grad, fixed threads).

    Per batch the images ``(B, H, W)`` in [0, 1] become a float32 tensor
    ``(B, 1, H, W)``; then, if set, ``size`` resizes to ``size x size`` (bilinear,
    antialiased), ``channels`` repeats the grey channel (3 for ImageNet networks),
    and ``preprocess`` (any tensor -> tensor callable, e.g. ImageNet mean/std
    normalisation) runs last. Inputs are moved to ``device``; the module must already
    be there (``module.to(device)`` is the caller's choice). The module's output is flattened to ``(B, D)``; an
    output with spatial axes ``(B, D, h, w)`` is global-average-pooled first (as
    MONAI's ``FIDMetric`` docs advise).

    Determinism: the module runs in ``eval()`` mode (its previous mode is restored
    afterwards) under ``torch.no_grad()`` with ``torch.set_num_threads(num_threads)``
    for the call (restored afterwards). At a fixed thread count and device the
    features are bit-identical across calls and independent of ``batch_size`` up to
    float32 rounding of batched kernels (~1e-6 relative); across thread counts
    they agree to ~1e-6, not bit-exactly.

    Example (weights from a local file, loaded by the user)::

        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
        net.load_state_dict(torch.load("inception_v3.pth")); net.fc = torch.nn.Identity()
        enc = TorchEncoder(net, size=299, channels=3, preprocess=imagenet_normalise, name="inception-v3")
    """

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        batch_size: int = 64,
        num_threads: int = 1,
        device: str | torch.device = "cpu",
        size: int | None = None,
        channels: int = 1,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(module, torch.nn.Module):
            raise RadsynthInputError("module", type(module).__name__, "a torch.nn.Module mapping (N, C, H, W) -> (N, D)")
        for fname, v, lo in (("batch_size", batch_size, 1), ("num_threads", num_threads, 1), ("channels", channels, 1)):
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < lo:
                raise RadsynthInputError(fname, v, f"an integer >= {lo}")
        if size is not None and (not isinstance(size, int | np.integer) or isinstance(size, bool) or size < 1):
            raise RadsynthInputError("size", size, "None or an integer >= 1 (square input side, pixels)")
        self.module = module
        self.batch_size = int(batch_size)
        self.num_threads = int(num_threads)
        self.device = torch.device(device)
        self.size = None if size is None else int(size)
        self.channels = int(channels)
        self.preprocess = preprocess
        self.name = name or f"torch-{type(module).__name__}"

    def _prepare(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[:, None].to(self.device)
        if self.size is not None and t.shape[-2:] != (self.size, self.size):
            t = F.interpolate(t, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        if self.channels > 1:
            t = t.repeat(1, self.channels, 1, 1)
        if self.preprocess is not None:
            t = self.preprocess(t)
        return t

    def __call__(self, images01: np.ndarray) -> np.ndarray:
        x = check_images(images01)
        was_training = self.module.training
        threads = torch.get_num_threads()
        out: list[np.ndarray] = []
        try:
            torch.set_num_threads(self.num_threads)
            self.module.eval()
            with torch.no_grad():
                for i in range(0, x.shape[0], self.batch_size):
                    y = self.module(self._prepare(x[i : i + self.batch_size]))
                    if not isinstance(y, torch.Tensor):
                        raise RadsynthInputError("module output", type(y).__name__, "a tensor (N, D)",
                                                 "Wrap the network so that it returns the feature tensor only.")
                    if y.ndim > 2:
                        y = y.flatten(2).mean(dim=2)
                    out.append(y.reshape(y.shape[0], -1).detach().to("cpu", torch.float64).numpy())
        finally:
            self.module.train(was_training)
            torch.set_num_threads(threads)
        return np.concatenate(out, axis=0)

    def __repr__(self) -> str:
        return f"TorchEncoder({self.name}, batch_size={self.batch_size}, num_threads={self.num_threads})"
