"""Argument checks and the decode loop shared by the architectures' ``sample`` functions.

Every ``sample(net, cfg, labels, *, n, seed, batch_size, precision, device, progress, sampler,
steps, guidance)`` of the architecture contract (see :mod:`radsynth.generators.archs`) refuses the
same bad arguments with the same :class:`RadsynthInputError`: a conditional model needs one class
index per image, an unconditional one refuses labels, one-pass generators (GAN, VAE) refuse the
diffusion options ``sampler`` / ``steps`` / ``guidance``. No torch at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError


def refuse_sampling_options(
    sampler: str | None, steps: int | None, guidance: float, *, why: str, guidance_accepted: str
) -> None:
    """A one-pass generator has no sampler, step count or guidance: each must be left at its default."""
    if sampler is not None:
        raise RadsynthInputError("--sampler", sampler, why)
    if steps is not None:
        raise RadsynthInputError("--steps", steps, why)
    if guidance != 1.0:
        raise RadsynthInputError("--guidance", guidance, guidance_accepted)


def check_n(n: int) -> None:
    if n < 1:
        raise RadsynthInputError("--n", n, "a positive number of images")


def check_batch_size(batch_size: int, accepted: str = "a positive integer") -> None:
    if batch_size < 1:
        raise RadsynthInputError("--batch-size", batch_size, accepted)


def check_precision(precision: str) -> None:
    if precision not in ("bf16", "fp32"):
        raise RadsynthInputError("precision", precision, "bf16, fp32")


def check_labels(labels: list[int] | None, n: int, conditional: bool) -> None:
    """One label per image for a class-conditional model; none for an unconditional one."""
    if conditional and (labels is None or len(labels) != n):
        raise RadsynthInputError("labels", labels, f"{n} class indices for a class-conditional model")
    if not conditional and labels is not None:
        raise RadsynthInputError("--label", labels, "no label: this model is unconditional")


def check_label_range(labels: list[int], n_classes: int, *, report_first: bool = False) -> None:
    """Every label a class index ``0..n_classes - 1``. The error names all labels, or with ``report_first``
    the first bad one (after converting every label)."""
    accepted = f"class indices 0..{n_classes - 1}"
    if report_first:
        bad = [v for v in labels if not 0 <= int(v) < n_classes]
        if bad:
            raise RadsynthInputError("labels", bad[0], accepted)
    elif any(not 0 <= int(v) < n_classes for v in labels):
        raise RadsynthInputError("labels", list(labels), accepted)


def check_one_pass_args(
    labels: list[int] | None,
    n_classes: int,
    *,
    n: int,
    batch_size: int,
    precision: str,
    sampler: str | None,
    steps: int | None,
    guidance: float,
    why: str,
    guidance_accepted: str,
    batch_accepted: str = "a positive integer",
    report_first: bool = False,
) -> None:
    """Every argument check of a one-pass generator's ``sample`` (GAN, VAE), in order: no sampler / steps /
    guidance (:func:`refuse_sampling_options` with ``why`` / ``guidance_accepted``), ``n``, ``batch_size``,
    ``precision``, then the labels (one class index ``0..n_classes - 1`` per image; none when ``n_classes`` is 0)."""
    refuse_sampling_options(sampler, steps, guidance, why=why, guidance_accepted=guidance_accepted)
    check_n(n)
    check_batch_size(batch_size, batch_accepted)
    check_precision(precision)
    check_labels(labels, n, n_classes > 0)
    if labels is not None and n_classes:
        check_label_range(labels, n_classes, report_first=report_first)


def decode_batches(
    n: int,
    batch_size: int,
    sample_shape: tuple[int, ...],
    draw: Callable[[int, int], Any],
    *,
    progress: bool = False,
    desc: str = "sampling",
) -> np.ndarray:
    """``(n, *sample_shape)`` float32: channel 0 of ``draw(b0, nb)`` (a ``(nb, C, ...)`` tensor for images
    ``b0 .. b0 + nb - 1``) clamped to [-1, 1], batch by batch under ``torch.inference_mode``; a tqdm bar
    counting images when ``progress``."""
    import torch

    out = np.empty((n, *sample_shape), np.float32)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc=desc, unit="img")
    with torch.inference_mode():
        for b0 in range(0, n, batch_size):
            nb = min(batch_size, n - b0)
            x = draw(b0, nb)
            out[b0 : b0 + nb] = x.float().clamp(-1, 1)[:, 0].cpu().numpy()
            if bar is not None:
                bar.update(nb)
    if bar is not None:
        bar.close()
    return out
