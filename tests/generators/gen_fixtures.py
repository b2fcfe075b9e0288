"""Helpers for generator tests: tiny synthetic class-folder datasets and tiny model settings."""

from __future__ import annotations

from pathlib import Path

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
