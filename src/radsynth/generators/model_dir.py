"""The model folder written by ``radsynth train`` and read by ``radsynth sample``.

Layout::

    MODEL_DIR/
      config.json            format, model config (an architecture's config), training settings, data summary;
                             optional "subject": {"modality": "DX", "body_part": "CHEST"} (DICOM codes: what the
                             images are, checked by attribute prompts, radsynth.generators.prompts)
      weights.safetensors    EMA weights of the sampling network(s)
      model_card.md          data fingerprint, images per class, steps, wall time, hardware, curve
      training_files.json    every training/validation file: path, class, patient, split, sha256
      checkpoint/            full training state for --resume (see radsynth.generators.common.checkpoint)

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
from radsynth.generators.archs import ARCH_TITLES, GENERATOR_FORMATS, arch_module, config_from_dict, model_format
from radsynth.io.atomic import atomic_path, atomic_write_text, sha256_file

#: format of a pixel-DDPM model folder (each architecture has its own: radsynth.generators.archs.model_format)
MODEL_FORMAT = model_format("ddpm")
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


def read_model_config(model_dir: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
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
    if not isinstance(doc, dict) or doc.get("format") not in GENERATOR_FORMATS:
        raise RadsynthInputError(f"{p} format", doc.get("format") if isinstance(doc, dict) else None,
                                 ", ".join(GENERATOR_FORMATS))
    cfg = config_from_dict(doc.get("model", {}), f"{p} model")
    if doc["format"] != model_format(cfg.arch):
        raise RadsynthInputError(f"{p} format", doc["format"], model_format(cfg.arch) + f" (model arch {cfg.arch})")
    return cfg, doc


def load_model(model_dir: str | os.PathLike[str], device: str = "cpu") -> tuple[Any, Any, dict[str, Any]]:
    """(config, sampling network(s) with the EMA weights in eval mode, config.json)."""
    from safetensors.torch import load_file

    cfg, doc = read_model_config(model_dir)
    model = arch_module(cfg.arch).build_networks(cfg)
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


def _curve_sections(result: Any) -> list[str]:
    """Training-curve tables; one per stage for two-stage training (latent diffusion: autoencoder, diffusion)."""
    head = ["| steps | train loss | val loss |", "|---|---|---|"]
    if getattr(result, "ae_losses", None):
        off = len(result.ae_losses)
        out = ["## Training curve, stage 1: autoencoder (L1 reconstruction per window; validation L1)", "", *head,
               *_curve_rows(result.ae_losses, result.ae_val_curve), ""]
        if getattr(result, "stage", "") == "autoencoder":
            out += ["**Stage 2 (latent diffusion) has not started: this model's U-Net is untrained. Train longer "
                    "with --resume.**", ""]
        d_val = list(getattr(result, "diffusion_val_curve", [])) or [
            (s - off, v) for s, v in result.val_curve if s > off]  # stage-2 steps counted from 0
        out += ["## Training curve, stage 2: latent diffusion (noise MSE per window; EMA validation MSE)", "", *head,
                *_curve_rows(getattr(result, "diffusion_losses", result.losses[off:]), d_val), ""]
        return out
    return ["## Training curve (mean training loss per window; EMA validation loss at the window's last evaluation)",
            "", *head, *_curve_rows(result.losses, result.val_curve), ""]


#: Model-card limits (issue #11): what samples must not be used for.
MODEL_LIMITS = (
    "- Samples are **not** a substitute for real data in final performance claims: a model trained or evaluated "
    "on them must be confirmed on real, independent, held-out scans before clinical or regulatory use.",
    "- **Not** for safety-critical edge cases (rare presentations, failure modes a model must not miss) without "
    "real-data confirmation: the generator reproduces what its training data showed, often, and little else.",
    "- Small training sets are memorised: run `radsynth evaluate` (memorisation section) before sharing samples.",
)
#: Model-card provenance lines: how samples are marked and verified.
MODEL_PROVENANCE = (
    "- Every sample is a 16-bit PNG marked synthetic: `radsynth:provenance` iTXt chunk (model weights sha256, "
    "sampler, seed) and an XMP packet with IPTC digital source type `trainedAlgorithmicMedia`.",
    "- `radsynth sample` folders carry an Ed25519-signed `SHA256SUMS`; check them with `radsynth verify DIR`.",
    "- Any watermark applied at sampling time is recorded (scheme, payload) in each sample's provenance and "
    "checked by `radsynth verify`; C2PA content credentials can be added with `radsynth c2pa sign DIR`.",
    "- Training, sampling, evaluation and export are appended to the hash-chained audit log (`radsynth audit`).",
)
#: A class holding more than this share of the training images is reported as an imbalance.
CLASS_IMBALANCE_SHARE = 0.6


def training_bias_lines(counts: dict[str, dict[str, int]], n_patients: dict[str, int]) -> list[str]:
    """Bias notes computed from the training class counts and patient numbers."""
    train = {str(k): int(v) for k, v in counts.get("train", {}).items()}
    total = sum(train.values())
    lines = []
    if total and len(train) > 1:
        top, top_n = max(sorted(train.items()), key=lambda kv: kv[1])
        shares = ", ".join(f"{c} {n}/{total} ({100 * n / total:.0f}%)" for c, n in sorted(train.items()))
        if top_n / total > CLASS_IMBALANCE_SHARE:
            lines.append(f"- Class balance of the training images: {shares}; imbalanced: `{top}` is "
                         f"{100 * top_n / total:.0f}% (over {100 * CLASS_IMBALANCE_SHARE:.0f}%), so rarer classes "
                         "are learned from fewer examples and may be less faithful.")
        else:
            lines.append(f"- Class balance of the training images: {shares}; largest class "
                         f"{100 * top_n / total:.0f}%.")
    elif total:
        lines.append(f"- {total} training images, one class: no class conditioning bias to report.")
    pts = int(n_patients.get("train", 0))
    if total and pts:
        lines.append(f"- {pts} training patients ({total / pts:.1f} images per patient): samples cover only the "
                     "variety of these patients, their scanners and sites.")
    lines.append("- Sex, age, ethnicity, scanner and site are not controlled unless they were conditioning "
                 "attributes; their mix in the samples follows (and may exaggerate) the training data.")
    return lines


def write_model_dir(
    out: str | os.PathLike[str],
    *,
    cfg: Any,
    ema_state: dict[str, Any],
    train_settings: dict[str, Any],
    data_root: str,
    files: Sequence[dict[str, Any]],
    counts: dict[str, dict[str, int]],
    result: Any,
    data_licence: str | None = None,
    intended_use: str | None = None,
) -> Path:
    """Write config.json, weights.safetensors, training_files.json and model_card.md into ``out``.

    ``files``: dicts with path (relative to ``data_root``), class, patient, split, sha256.
    ``counts``: ``{"train": {class: n}, "val": {...}}``. ``result``: a TrainResult.
    ``data_licence`` / ``intended_use``: model-card text (defaults say what the user must supply).
    Measured metrics are added later with :func:`add_card_section` (and ``config.json["metrics"]``).
    """
    fmt = model_format(cfg.arch)
    from safetensors.torch import save_file

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    with atomic_path(root / WEIGHTS_FILE) as tmp:
        save_file(ema_state, str(tmp), metadata={"format": fmt, "weights": "ema"})
    weights_sha = sha256_file(root / WEIGHTS_FILE)
    train_files = [(f["path"], f["sha256"]) for f in files if f["split"] == "train"]
    fp = data_fingerprint(train_files)
    n_patients = {s: len({f["patient"] for f in files if f["split"] == s}) for s in ("train", "val")}
    hw = hardware_summary(result.device)
    doc = {
        "format": fmt,
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
    use = intended_use or (
        "Research and development only: training and pre-training image models on synthetic data, augmenting or "
        "stress-testing them, education and teaching, and method development. Not for diagnosis or any clinical "
        "decision. Samples imitate the training data, including its biases, artefacts and population; check class "
        "fidelity and memorisation before sharing or relying on them."
    )
    licence = data_licence or (
        "not recorded: the licence of the training data (above) applies to this model and its samples; "
        "record it before sharing the model."
    )
    card = [
        f"# Model card: {ARCH_TITLES.get(cfg.arch, cfg.arch)} ({cfg.image_size}x{cfg.image_size}, "
        f"{'class-conditional' if cfg.conditional else 'unconditional'})",
        "",
        "Generates SYNTHETIC images; every sample is marked synthetic. Trained with radsynth "
        "(EMA weights).",
        "",
        "## Intended use",
        "",
        use,
        "",
        "## Training data",
        "",
        f"- source folder: `{data_root}`",
        f"- fingerprint (sha256 of sorted `path<TAB>sha256` lines of the {len(train_files)} training files): `{fp}`",
        f"- every file with its sha256, class, patient and split: `{FILES_FILE}`",
        f"- licence of the training data: {licence}",
        f"- patient-aware validation split: {n_patients['train']} training patients, "
        f"{n_patients['val']} validation patients, no patient in both",
        "",
        "| class | train images | val images |",
        "|---|---|---|",
        *cls_rows,
        "",
        "## Limits",
        "",
        *MODEL_LIMITS,
        "",
        "## Bias notes",
        "",
        *training_bias_lines(counts, n_patients),
        "",
        "## Provenance and verification",
        "",
        *MODEL_PROVENANCE,
        "",
        "## Training",
        "",
        f"- steps: {result.step} (stopped by {result.stopped}); batch {train_settings.get('batch_size')}, "
        f"lr {train_settings.get('lr')}"
        + (f" (linear decay over the last {train_settings['lr_decay_steps']} of {train_settings.get('max_steps')} steps)"
           if train_settings.get("lr_decay_steps") else "")
        + f", EMA decay {train_settings.get('ema_decay')}, "
        f"precision {train_settings.get('precision')}, seed {train_settings.get('seed')}",
        f"- wall time: {result.wall_s / 60:.1f} min in all; last session {result.images_per_s:.1f} images/s",
        f"- hardware: {hw}",
        *cfg.card_lines(),
        f"- weights sha256: `{weights_sha}`",
        "",
        *_curve_sections(result),
    ]
    atomic_write_text(root / CARD_FILE, "\n".join(card))
    return root


def add_card_section(model_dir: str | os.PathLike[str], title: str, lines: Sequence[str],
                     metrics: dict[str, Any] | None = None) -> None:
    """Append (or replace) a ``## title`` section of the model card; merge ``metrics`` into
    ``config.json["metrics"][title]``. Used for measured results (class fidelity, sample grid, ...)."""
    root = Path(model_dir)
    card = (root / CARD_FILE).read_text()
    head = f"## {title}"
    if head in card:  # replace the old section (up to the next "## " heading)
        pre, rest = card.split(head, 1)
        nxt = rest.find("\n## ")
        card = pre + (rest[nxt + 1:] if nxt >= 0 else "")
    card = card.rstrip("\n") + "\n\n" + "\n".join([head, "", *lines]) + "\n"
    atomic_write_text(root / CARD_FILE, card)
    if metrics is not None:
        doc = json.loads((root / CONFIG_FILE).read_text())
        doc.setdefault("metrics", {})[title] = metrics
        atomic_write_text(root / CONFIG_FILE, json.dumps(doc, indent=2, sort_keys=True) + "\n")
