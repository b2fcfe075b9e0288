"""Helpers for generator tests: tiny synthetic class-folder datasets and tiny model settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

#: A ~40 k-parameter U-Net at 16x16 (seconds to train a few hundred steps on 2 cores).
TINY = dict(image_size=16, channels=(8, 16), attention_levels=(False, False), norm_num_groups=8, num_head_channels=16)


def make_class_folder(root: Path, n_per_class: int = 8, size: int = 20, seed: int = 0) -> Path:
    """BRIGHT (grey 200..239) and DARK (grey 0..39) 8-bit PNGs with CXR-like patient file names."""
    rng = np.random.default_rng(seed)
    (root / "BRIGHT").mkdir(parents=True)
    (root / "DARK").mkdir(parents=True)
    for i in range(n_per_class):
        # two images per pneumonia-style patient, one per normal-style patient
        Image.fromarray((200 + rng.integers(0, 40, (size, size))).astype(np.uint8)).save(
            root / "BRIGHT" / f"person{i // 2}_bacteria_{i}.png"
        )
        Image.fromarray(rng.integers(0, 40, (size, size)).astype(np.uint8)).save(root / "DARK" / f"IM-{i:04d}-0001.png")
    return root


def two_class_images(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 ``(1, 16, 16)`` images and their labels (alternating 0, 1): class 1 ("bright") around +0.7,
    class 0 ("dark") around -0.7, plus N(0, 0.1) noise from ``seed``."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = np.where(y[:, None, None, None] == 1, 0.7, -0.7) + 0.1 * rng.standard_normal((n, 1, 16, 16))
    return x.astype(np.float32), y


def check_exact_resume(
    train: Callable[..., Any], cfg: Any, tmp_path: Path, k: int, data: tuple[np.ndarray, np.ndarray] | None = None,
    **train_kw: Any,
) -> Any:
    """Train ``2 * k`` steps on ``data`` (default :func:`two_class_images`) in one run (``tmp_path / "full"``)
    and in two (``k`` steps, then ``--resume``, in ``tmp_path / "split"``), validating on the first 6 images;
    assert the resumed run is bit-identical (losses, validation curve, EMA weights) and the loss moves.
    ``train_kw``: TrainConfig settings over batch size 5 (24 images: the run crosses an epoch boundary),
    3 warm-up steps, validation every 4 steps, no intermediate checkpoint. Returns the one-run result."""
    import torch

    from radsynth.generators.common.train_config import TrainConfig

    x, y = two_class_images() if data is None else data
    tc = TrainConfig(**{"batch_size": 5, "max_steps": 2 * k, "warmup_steps": 3, "val_every": 4, "ckpt_every": 100,
                        **train_kw})
    kw: dict[str, Any] = dict(x_val=x[:6], y_val=y[:6])
    full = train(cfg, tc, x, y, tmp_path / "full", **kw)
    half = train(cfg, tc.model_copy(update={"max_steps": k}), x, y, tmp_path / "split", **kw)
    assert half.stopped == "max_steps" and half.step == k
    res = train(cfg, tc, x, y, tmp_path / "split", resume=True, **kw)
    # bit-identical: same floats, not merely close
    assert len(full.losses) == 2 * k and res.losses == full.losses and res.losses[:k] == half.losses
    assert res.val_curve == full.val_curve
    assert res.session_steps == k and res.step == 2 * k
    assert set(full.ema_state) == set(res.ema_state)
    for name, v in full.ema_state.items():
        assert torch.equal(v, res.ema_state[name]), name
    # the loss must move: a curve of constants would make the identity trivial
    assert len(set(full.losses)) == len(full.losses) and all(np.isfinite(full.losses))
    return full
