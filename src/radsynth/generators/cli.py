"""Implementations of ``radsynth train`` and ``radsynth sample``.

:mod:`radsynth.cli.main` registers thin Typer commands that call :func:`train_command`
and :func:`sample_command`. All argument and input checks that need no torch run
first, so bad input fails in about a second with one line (RadsynthInputError ->
exit code 2); torch, MONAI and diffusers are imported only afterwards.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError

CONDITIONS = ("class", "none")
#: Folder names refused as training data: held-out evaluation splits (e.g. cxr-pneumonia/test).
HELD_OUT_NAMES = ("test", "testing", "holdout", "held-out", "heldout")


def _parse_ints(field: str, text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise RadsynthInputError(field, text, "comma-separated positive integers, e.g. 32,64,64") from None
    if not vals or min(vals) < 1:
        raise RadsynthInputError(field, text, "comma-separated positive integers, e.g. 32,64,64")
    return vals


def _set_threads(threads: int | None) -> None:
    import torch

    if threads is not None:
        if threads < 1:
            raise RadsynthInputError("--threads", threads, "a positive number of CPU threads")
        torch.set_num_threads(int(threads))


def _device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RadsynthInputError("--device", device, "cpu (no CUDA device is available)")
    return device


def train_command(
    *,
    data: Path,
    out: Path,
    arch: str = "ddpm",
    image_size: int = 64,
    condition: str = "class",
    resume: bool = False,
    max_minutes: float | None = None,
    max_steps: int = 50_000,
    batch_size: int = 32,
    lr: float = 2e-4,
    seed: int = 0,
    channels: str = "32,64,64",
    attention: str | None = None,
    val_fraction: float = 0.05,
    precision: str = "bf16",
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    echo: Any = print,
) -> Path:
    """Validate inputs, read and split the data by patient, train (or resume), write the model folder."""
    from radsynth.generators.data import patient_split, scan_class_folder
    from radsynth.generators.ddpm import ARCHITECTURES, DDPMConfig, check_image_size
    from radsynth.generators.model_dir import CHECKPOINT_DIR, CONFIG_FILE

    if arch not in ARCHITECTURES:
        raise RadsynthInputError("--arch", arch, ", ".join(ARCHITECTURES))
    if condition not in CONDITIONS:
        raise RadsynthInputError("--condition", condition, ", ".join(CONDITIONS))
    if precision not in ("bf16", "fp32"):
        raise RadsynthInputError("--precision", precision, "bf16, fp32")
    if max_minutes is not None and not max_minutes > 0:
        raise RadsynthInputError("--max-minutes", max_minutes, "a positive number of minutes")
    ch = _parse_ints("--channels", channels)
    check_image_size(image_size, len(ch))
    att = (
        tuple(v.strip().lower() in ("1", "true", "t", "yes") for v in attention.split(","))
        if attention
        else tuple([False] * (len(ch) - 1) + [True])
    )
    if not 0.0 <= val_fraction < 1.0:
        raise RadsynthInputError("--val-fraction", val_fraction, "a number in [0, 1)")
    if threads is not None and threads < 1:
        raise RadsynthInputError("--threads", threads, "a positive number of CPU threads")
    out = Path(out)
    ckpt = out / CHECKPOINT_DIR
    from radsynth.generators.training import TrainConfig, has_checkpoint

    if resume and not has_checkpoint(ckpt):
        raise RadsynthInputError("--resume", str(out), "an --out folder holding a checkpoint/ from an earlier run",
                                 "Drop --resume to start a new run.")
    if not resume and out.exists() and any(out.iterdir()):
        raise RadsynthInputError("--out", str(out), "a new or empty folder",
                                 "Add --resume to continue the run in it, or choose another folder.")
    if Path(data).resolve().name.lower() in HELD_OUT_NAMES:
        raise RadsynthInputError(
            "--data", str(data), "a training split (not a folder named test/testing/holdout)",
            "Held-out test sets must never be trained on; point --data at the train split.",
        )
    ds = scan_class_folder(data, require_classes=2 if condition == "class" else 1)
    groups = 16  # GroupNorm groups: the largest power of two <= 16 dividing every level's channels
    while any(c % groups for c in ch):
        groups //= 2
    cfg = DDPMConfig.create(
        image_size=image_size,
        channels=ch,
        attention_levels=att,
        norm_num_groups=groups,
        num_head_channels=ch[-1],
        classes=ds.classes if condition == "class" else (),
    )
    tcfg = TrainConfig(batch_size=batch_size, lr=lr, max_steps=max_steps, max_minutes=max_minutes, seed=seed,
                       precision=precision)  # type: ignore[arg-type]
    train_idx, val_idx = patient_split([it.patient for it in ds.items], val_fraction, seed)

    from radsynth.generators.data import load_images
    from radsynth.io.atomic import sha256_file

    import numpy as np

    items = ds.items
    # reading every file first also rejects unreadable images before training starts
    x = load_images(items, image_size, progress=progress)
    y = np.array([it.label_index for it in items], dtype=np.int64)
    val_set = set(val_idx)
    files = [
        {
            "path": it.path.relative_to(ds.root).as_posix(),
            "class": it.label,
            "patient": it.patient,
            "split": "val" if i in val_set else "train",
            "sha256": sha256_file(it.path),
        }
        for i, it in enumerate(items)
    ]
    from radsynth.generators.model_dir import data_fingerprint, write_model_dir

    fp = data_fingerprint([(f["path"], f["sha256"]) for f in files if f["split"] == "train"])
    counts = {s: {c: sum(1 for f in files if f["split"] == s and f["class"] == c) for c in ds.classes}
              for s in ("train", "val")}
    dev = _device(device)
    _set_threads(threads)
    import torch

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    from radsynth.generators.training import train

    if progress:
        echo(f"training {arch} {image_size}x{image_size} on {len(train_idx)} images "
             f"({len(val_idx)} validation, split by patient) per class {counts['train']} -> {out} [{dev}]")
    t0 = time.perf_counter()
    cond = condition == "class"
    res = train(
        cfg,
        tcfg,
        x[train_idx],
        y[train_idx] if cond else None,
        ckpt,
        x_val=x[val_idx] if val_idx else None,
        y_val=y[val_idx] if (cond and val_idx) else None,
        resume=resume,
        extra_meta={"data_fingerprint": fp, "val_fraction": val_fraction},
        device=dev,
        progress=progress,
    )
    settings = tcfg.model_dump(mode="json") | {"val_fraction": val_fraction, "condition": condition}
    write_model_dir(out, cfg=cfg, ema_state=res.ema_state, train_settings=settings, data_root=str(Path(data)),
                    files=files, counts=counts, result=res)
    echo(f"trained {res.step} steps ({res.session_steps} now, stopped by {res.stopped}) in "
         f"{time.perf_counter() - t0:.1f} s, {res.images_per_s:.1f} images/s -> {out / CONFIG_FILE}")
    return out


def sample_command(
    *,
    model: Path,
    n: int,
    out: Path,
    label: str | None = None,
    guidance: float = 1.0,
    steps: int | None = None,
    sampler: str = "dpm++",
    seed: int = 0,
    batch_size: int = 64,
    precision: str = "bf16",
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    echo: Any = print,
) -> Path:
    """Sample ``n`` images into ``out/images/*.png`` (16-bit, marked synthetic) + ``out/manifest.parquet``.

    Conditional models: ``label`` picks the class; without it the classes take
    turns (image i gets class ``i % n_classes``).
    """
    from radsynth.generators.model_dir import read_model_config
    from radsynth.generators.samplers import resolve_steps

    cfg, doc = read_model_config(model)
    if n < 1:
        raise RadsynthInputError("--n", n, "a positive number of images")
    if batch_size < 1:
        raise RadsynthInputError("--batch-size", batch_size, "a positive integer")
    if precision not in ("bf16", "fp32"):
        raise RadsynthInputError("--precision", precision, "bf16, fp32")
    if not guidance >= 0:
        raise RadsynthInputError("--guidance", guidance, "a number >= 0 (1 = conditional model, no extra guidance)")
    n_steps = resolve_steps(cfg, sampler, steps)
    if cfg.conditional:
        labels = [cfg.label_index(label)] * n if label is not None else [i % len(cfg.classes) for i in range(n)]
    else:
        if label is not None:
            cfg.label_index(label)  # raises: unconditional model
        labels = None
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise RadsynthInputError("--out", str(out), "a new or empty folder")

    from radsynth import __version__
    from radsynth.core.records import Provenance
    from radsynth.generators.model_dir import load_model
    from radsynth.generators.samplers import sample_images
    from radsynth.io.manifest import manifest_row, write_manifest
    from radsynth.io.png import write_png16

    dev = _device(device)
    _set_threads(threads)
    import torch

    t0 = time.perf_counter()
    cfg, net, doc = load_model(model, device=dev)
    imgs = sample_images(net, cfg, labels, n=n, seed=seed, sampler=sampler, steps=n_steps, guidance=guidance,
                         batch_size=batch_size, precision=precision, device=dev, progress=progress)
    dt = time.perf_counter() - t0
    run_cfg = {
        "model_weights_sha256": doc["weights_sha256"],
        "model": doc["model"],
        "training_data_fingerprint": doc["data"]["fingerprint_sha256"],
        "sampler": sampler,
        "steps": n_steps,
        "guidance": float(guidance),
        "n": n,
        "batch_size": batch_size,
        "precision": precision,
        "label": label,
    }
    rows = []
    width = max(5, len(str(n - 1)))
    for i in range(n):
        cls = cfg.classes[labels[i]] if labels is not None else None
        subject = f"sample-{i:0{width}d}"
        prov = Provenance(generator="radsynth.ddpm", generator_version=__version__, config=run_cfg, seed=seed,
                          sampled={"index": i, "class": cls}, radsynth_version=__version__).to_dict()
        path = out / "images" / f"{subject}.png"
        desc = f"{cfg.image_size}x{cfg.image_size} DDPM sample {i} of {n}" + (f", class {cls}" if cls else "")
        write_png16(path, imgs[i], (-1.0, 1.0), provenance=prov, description=desc)
        rows.append(manifest_row(
            out, path, subject=subject, kind="image", format="png", provenance=prov,
            labels={c.lower(): c == cls for c in cfg.classes},
            attributes={"class": cls, "sampler": sampler, "steps": n_steps, "guidance": float(guidance)},
        ))
    write_manifest(out / "manifest.parquet", rows)
    # bytes repeat for the same machine and torch thread count (recorded here, not in the images)
    run_doc = run_cfg | {"seed": seed, "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    (out / "sampling.json").write_text(json.dumps(run_doc, indent=2, sort_keys=True) + "\n")
    echo(f"sampled {n} images ({sampler}, {n_steps} steps, guidance {guidance}) in {dt:.1f} s -> {out}/images, "
         f"manifest {out / 'manifest.parquet'}")
    return out
