"""The model folder written by ``radsynth train`` and read by ``radsynth sample``.

Layout::

    MODEL_DIR/
      config.json            format, model config (DDPMConfig), training settings, data summary
      weights.safetensors    EMA weights of the U-Net (what sampling uses)
      model_card.md          data fingerprint, images per class, steps, wall time, hardware, curve
      training_files.json    every training/validation file: path, class, patient, split, sha256
      checkpoint/            full training state for --resume (see radsynth.generators.training)

The data fingerprint is the sha256 of the sorted lines ``"<relative path>\\t<sha256>\\n"``
of the training-split files; it changes if any training file is added, removed or edited.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.ddpm import DDPMConfig
from radsynth.io.atomic import atomic_path, atomic_write_text, sha256_file

MODEL_FORMAT = "radsynth.generators.ddpm/1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
CARD_FILE = "model_card.md"
FILES_FILE = "training_files.json"
CHECKPOINT_DIR = "checkpoint"


def data_fingerprint(files: Sequence[tuple[str, str]]) -> str:
    """sha256 over sorted ``(relative path, file sha256)`` pairs."""
    h = hashlib.sha256()
    for rel, sha in sorted(files):
        h.update(f"{rel}\t{sha}\n".encode())
    return h.hexdigest()


def read_model_config(model_dir: str | os.PathLike[str]) -> tuple[DDPMConfig, dict[str, Any]]:
    """(model config, whole config.json) without importing torch; RadsynthInputError if not a model folder."""
    p = Path(model_dir) / CONFIG_FILE
    if not p.is_file() or not (Path(model_dir) / WEIGHTS_FILE).is_file():
        raise RadsynthInputError(
            "--model", str(model_dir), f"a folder written by `radsynth train` ({CONFIG_FILE} + {WEIGHTS_FILE})"
        )
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise RadsynthInputError("--model", str(p), "a readable config.json", str(exc)[:120]) from None
    if doc.get("format") != MODEL_FORMAT:
        raise RadsynthInputError(f"{p} format", doc.get("format"), MODEL_FORMAT)
    return DDPMConfig.create(**doc["model"]), doc


def load_model(model_dir: str | os.PathLike[str], device: str = "cpu") -> tuple[DDPMConfig, Any, dict[str, Any]]:
    """(config, U-Net with the EMA weights in eval mode, config.json)."""
    from safetensors.torch import load_file

    from radsynth.generators.ddpm import build_unet

    cfg, doc = read_model_config(model_dir)
    model = build_unet(cfg)
    state = load_file(str(Path(model_dir) / WEIGHTS_FILE), device=device)
    model.load_state_dict(state, strict=True)
    return cfg, model.to(device).eval(), doc


def hardware_summary(device: str) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    s = f"{device}; CPU {cpu} x{os.cpu_count()}, torch {torch.__version__} ({torch.get_num_threads()} threads)"
    if device.startswith("cuda") and torch.cuda.is_available():
        s += f"; GPU {torch.cuda.get_device_name(0)}"
    return s


def _curve_rows(losses: Sequence[float], val_curve: Sequence[tuple[int, float]], points: int = 20) -> list[str]:
    n = len(losses)
    if n == 0:
        return []
    edges = sorted({max(1, round(n * (i + 1) / points)) for i in range(points)})
    rows, prev = [], 0
    for e in edges:
        chunk = losses[prev:e]
        mean = sum(chunk) / len(chunk)
        near = [v for s, v in val_curve if prev < s <= e]
        rows.append(f"| {prev + 1}-{e} | {mean:.5f} | {near[-1]:.5f} |" if near else f"| {prev + 1}-{e} | {mean:.5f} | |")
        prev = e
    return rows


def write_model_dir(
    out: str | os.PathLike[str],
    *,
    cfg: DDPMConfig,
    ema_state: dict[str, Any],
    train_settings: dict[str, Any],
    data_root: str,
    files: Sequence[dict[str, Any]],
    counts: dict[str, dict[str, int]],
    result: Any,
) -> Path:
    """Write config.json, weights.safetensors, training_files.json and model_card.md into ``out``.

    ``files``: dicts with path (relative to ``data_root``), class, patient, split, sha256.
    ``counts``: ``{"train": {class: n}, "val": {...}}``. ``result``: a TrainResult.
    """
    from safetensors.torch import save_file

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    with atomic_path(root / WEIGHTS_FILE) as tmp:
        save_file(ema_state, str(tmp), metadata={"format": MODEL_FORMAT, "weights": "ema"})
    weights_sha = sha256_file(root / WEIGHTS_FILE)
    train_files = [(f["path"], f["sha256"]) for f in files if f["split"] == "train"]
    fp = data_fingerprint(train_files)
    n_patients = {s: len({f["patient"] for f in files if f["split"] == s}) for s in ("train", "val")}
    hw = hardware_summary(result.device)
    doc = {
        "format": MODEL_FORMAT,
        "model": cfg.model_dump(mode="json"),
        "training": {
            **train_settings,
            "steps": result.step,
            "wall_s": round(result.wall_s, 3),
            "stopped": result.stopped,
            "last_images_per_s": round(result.images_per_s, 2),
            "hardware": hw,
        },
        "data": {
            "root": data_root,
            "fingerprint_sha256": fp,
            "counts": counts,
            "patients": n_patients,
        },
        "weights_sha256": weights_sha,
    }
    atomic_write_text(root / CONFIG_FILE, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    atomic_write_text(root / FILES_FILE, json.dumps(sorted(files, key=lambda f: f["path"]), indent=1) + "\n")
    cls_rows = [f"| {c} | {counts['train'].get(c, 0)} | {counts['val'].get(c, 0)} |" for c in cfg.classes] or [
        f"| (all) | {sum(counts['train'].values())} | {sum(counts['val'].values())} |"
    ]
    losses = result.losses
    card = [
        f"# Model card: pixel-space DDPM ({cfg.image_size}x{cfg.image_size}, "
        f"{'class-conditional' if cfg.conditional else 'unconditional'})",
        "",
        "Generates SYNTHETIC images; every sample is marked synthetic. Trained with radsynth "
        "(MONAI DiffusionModelUNet, epsilon prediction, EMA weights).",
        "",
        "## Training data",
        "",
        f"- source folder: `{data_root}`",
        f"- fingerprint (sha256 of sorted `path<TAB>sha256` lines of the {len(train_files)} training files): `{fp}`",
        f"- every file with its sha256, class, patient and split: `{FILES_FILE}`",
        f"- patient-aware validation split: {n_patients['train']} training patients, "
        f"{n_patients['val']} validation patients, no patient in both",
        "",
        "| class | train images | val images |",
        "|---|---|---|",
        *cls_rows,
        "",
        "## Training",
        "",
        f"- steps: {result.step} (stopped by {result.stopped}); batch {train_settings.get('batch_size')}, "
        f"lr {train_settings.get('lr')}, EMA decay {train_settings.get('ema_decay')}, "
        f"precision {train_settings.get('precision')}, seed {train_settings.get('seed')}",
        f"- wall time: {result.wall_s / 60:.1f} min in all; last session {result.images_per_s:.1f} images/s",
        f"- hardware: {hw}",
        f"- model: channels {list(cfg.channels)}, attention {list(cfg.attention_levels)}, "
        f"{cfg.num_res_blocks} res block(s)/level, {cfg.num_train_timesteps} timesteps, {cfg.schedule} "
        f"[{cfg.beta_start}, {cfg.beta_end}], p_uncond {cfg.p_uncond}",
        f"- weights sha256: `{weights_sha}`",
        "",
        "## Training curve (mean training loss per window; EMA validation loss at the window's last evaluation)",
        "",
        "| steps | train loss | val loss |",
        "|---|---|---|",
        *_curve_rows(losses, result.val_curve),
        "",
    ]
    atomic_write_text(root / CARD_FILE, "\n".join(card))
    return root
