"""Implementations of ``radsynth train``, ``radsynth sample`` and ``radsynth inpaint``.

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


def _held_out(path: Path) -> bool:
    return path.resolve().name.lower() in HELD_OUT_NAMES


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
    lr_decay_steps: int = 0,
    batch_size: int = 32,
    lr: float = 2e-4,
    seed: int = 0,
    channels: str | None = None,
    attention: str | None = None,
    val_fraction: float = 0.05,
    precision: str = "bf16",
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    data_licence: str | None = None,
    attributes: str | None = None,
    ae_steps: int | None = None,
    echo: Any = print,
) -> Path:
    """Validate inputs, read and split the data by patient, train (or resume), write the model folder.

    ``data``: a class folder or a CSV/Parquet manifest (:func:`radsynth.generators.common.data.scan_data`).
    ``attributes``: comma-separated manifest columns to condition on besides the class (``--arch ddpm``).
    """
    from radsynth.generators.archs import ARCHITECTURES, arch_module, arch_trainer
    from radsynth.generators.common.data import patient_split, scan_data
    from radsynth.generators.model_dir import CHECKPOINT_DIR, CONFIG_FILE

    if arch not in ARCHITECTURES:
        raise RadsynthInputError("--arch", arch, ", ".join(ARCHITECTURES))
    if condition not in CONDITIONS:
        raise RadsynthInputError("--condition", condition, ", ".join(CONDITIONS))
    if precision not in ("bf16", "fp32"):
        raise RadsynthInputError("--precision", precision, "bf16, fp32")
    if max_minutes is not None and not max_minutes > 0:
        raise RadsynthInputError("--max-minutes", max_minutes, "a positive number of minutes")
    if max_steps < 1:
        raise RadsynthInputError("--max-steps", max_steps, "a positive number of steps")
    if not 0 <= lr_decay_steps <= max_steps:
        raise RadsynthInputError("--lr-decay-steps", lr_decay_steps, f"0..{max_steps} (the last N of --max-steps)")
    ch = _parse_ints("--channels", channels) if channels else None
    mod = arch_module(arch)
    extra: dict[str, Any] = {}
    if attention:
        if arch != "ddpm":
            raise RadsynthInputError("--attention", attention, "only with --arch ddpm")
        extra["attention"] = tuple(v.strip().lower() in ("1", "true", "t", "yes") for v in attention.split(","))
    if ae_steps is not None:
        if arch != "ldm":
            raise RadsynthInputError("--ae-steps", ae_steps, "only with --arch ldm (autoencoder steps of stage 1)")
        extra["ae_steps"] = ae_steps
    attr_names = tuple(a.strip() for a in attributes.split(",") if a.strip()) if attributes else ()
    if attr_names and arch != "ddpm":
        raise RadsynthInputError("--attributes", attributes, "only with --arch ddpm (attribute-conditioned diffusion)")
    mod.config_for_training(image_size=image_size, classes=(), channels=ch, **extra)  # size check before reading data
    if not 0.0 <= val_fraction < 1.0:
        raise RadsynthInputError("--val-fraction", val_fraction, "a number in [0, 1)")
    if threads is not None and threads < 1:
        raise RadsynthInputError("--threads", threads, "a positive number of CPU threads")
    out = Path(out)
    ckpt = out / CHECKPOINT_DIR
    from radsynth.generators.common.checkpoint import has_checkpoint
    from radsynth.generators.common.train_config import TrainConfig

    if resume and not has_checkpoint(ckpt) and not any(has_checkpoint(p) for p in ckpt.glob("*")):
        raise RadsynthInputError("--resume", str(out), "an --out folder holding a checkpoint/ from an earlier run",
                                 "Drop --resume to start a new run.")
    if not resume and out.exists() and any(out.iterdir()):
        raise RadsynthInputError("--out", str(out), "a new or empty folder",
                                 "Add --resume to continue the run in it, or choose another folder.")
    if _held_out(Path(data)):
        raise RadsynthInputError(
            "--data", str(data), "a training split (not a folder named test/testing/holdout)",
            "Held-out test sets must never be trained on; point --data at the train split.",
        )
    ds = scan_data(data, require_classes=2 if condition == "class" else 1)
    bad = next((it.path for it in ds.items if _held_out(it.path.parent) or _held_out(it.path.parent.parent)), None)
    if bad is not None:
        raise RadsynthInputError("--data", str(bad), "training images outside held-out folders (test/testing/holdout)",
                                 "Held-out test sets must never be trained on.")
    if attr_names:
        have = sorted({a for it in ds.items for a, _ in it.attributes})
        missing = [a for a in attr_names if a not in have]
        if missing:
            raise RadsynthInputError("--attributes", ",".join(missing), f"columns of the --data manifest: {have or 'none'}")
        extra["attributes"] = tuple(
            (a, tuple(sorted({it.attribute(a) for it in ds.items} - {""}))) for a in attr_names)
    cfg = mod.config_for_training(image_size=image_size, classes=ds.classes if condition == "class" else (),
                                  channels=ch, **extra)
    tcfg = TrainConfig(batch_size=batch_size, lr=lr, max_steps=max_steps, lr_decay_steps=lr_decay_steps,
                       max_minutes=max_minutes, seed=seed,
                       precision=precision)  # type: ignore[arg-type]
    train_idx, val_idx = patient_split([it.patient for it in ds.items], val_fraction, seed)

    from radsynth.generators.common.data import load_images
    from radsynth.io.atomic import sha256_file

    import numpy as np

    items = ds.items
    # reading every file first also rejects unreadable images before training starts
    x = load_images(items, image_size, progress=progress)
    y = np.array([it.label_index for it in items], dtype=np.int64)
    if attr_names:  # (n, 1 + k) factor values, -1 = unknown; the class column only when class-conditional
        cols = ([y] if condition == "class" else []) + [
            np.array([vals.index(it.attribute(a)) if it.attribute(a) else -1 for it in items], dtype=np.int64)
            for a, vals in extra["attributes"]]
        y = np.stack(cols, axis=1)
    val_set = set(val_idx)

    def rel(p: Path) -> str:
        try:
            return p.relative_to(ds.root).as_posix()
        except ValueError:
            return p.as_posix()

    files = [
        {
            "path": rel(it.path),
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
    if progress:
        echo(f"training {arch} {image_size}x{image_size} on {len(train_idx)} images "
             f"({len(val_idx)} validation, split by patient) per class {counts['train']} -> {out} [{dev}]")
    t0 = time.perf_counter()
    cond = condition == "class" or bool(attr_names)
    res = arch_trainer(arch).train_model(
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
    settings = tcfg.model_dump(mode="json") | {"val_fraction": val_fraction, "condition": condition,
                                               **({"attributes": list(attr_names)} if attr_names else {})}
    write_model_dir(out, cfg=cfg, ema_state=res.ema_state, train_settings=settings, data_root=str(Path(data)),
                    files=files, counts=counts, result=res, data_licence=data_licence)
    from radsynth.core.records import config_hash
    from radsynth.io.atomic import sha256_file
    from radsynth.provenance.audit import log_action

    log_action("train", config_hash=config_hash(settings), inputs={"data": str(Path(data).resolve()), "data_fingerprint": fp},
               outputs={"folder": str(Path(out).resolve()),
                        **{p.name: sha256_file(p) for p in sorted(Path(out).glob("*")) if p.is_file()}})
    echo(f"trained {res.step} steps ({res.session_steps} now, stopped by {res.stopped}) in "
         f"{time.perf_counter() - t0:.1f} s, {res.images_per_s:.1f} images/s -> {out / CONFIG_FILE}")
    return out


def sample_command(
    *,
    model: Path,
    n: int,
    out: Path,
    label: str | None = None,
    attribute: list[str] | None = None,
    prompt: str | None = None,
    guidance: float | None = None,
    steps: int | None = None,
    sampler: str | None = None,
    seed: int = 0,
    batch_size: int = 64,
    precision: str = "bf16",
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    watermark: bool = True,
    echo: Any = print,
) -> Path:
    """Sample ``n`` images into ``out/images/*.png`` (16-bit, marked synthetic) + ``out/manifest.parquet``.

    Conditional models: ``label`` picks the class; without it the classes take
    turns (image i gets class ``i % n_classes``). ``prompt`` (instead of ``label`` / ``attribute``), e.g.
    ``"chest x-ray, pneumonia"``, is read into them by :mod:`radsynth.generators.prompts`.
    """
    from radsynth.generators.archs import arch_module, arch_sampler
    from radsynth.generators.model_dir import read_model_config
    from radsynth.generators.zoo import resolve_model

    entry = resolve_model(model, "--model", generator=True)  # a zoo name (e.g. cxr-ddpm-64) or a folder
    model = entry.path
    cfg, doc = read_model_config(model)
    if prompt is not None:
        if label is not None or attribute:
            raise RadsynthInputError("--prompt", prompt, "either --prompt or --label / --attribute, not both")
        from radsynth.generators.prompts import ModelCapabilities, parse_prompt, resolve_conditions

        caps = ModelCapabilities.from_config(doc, entry.name)
        asked_for = resolve_conditions(parse_prompt(prompt, caps, field="--prompt"), caps, field="--prompt")
        for written, read in asked_for.corrections:
            echo(f"prompt: read {written!r} as {read!r}")
        label, attribute = asked_for.label, asked_for.attribute_options()
    mod = arch_module(cfg.arch, "--model arch")
    opts = getattr(mod, "SAMPLING_OPTIONS", ())
    if n < 1:
        raise RadsynthInputError("--n", n, "a positive number of images")
    if batch_size < 1:
        raise RadsynthInputError("--batch-size", batch_size, "a positive integer")
    if precision not in ("bf16", "fp32"):
        raise RadsynthInputError("--precision", precision, "bf16, fp32")
    if guidance is None:  # the model's measured default (config.json sampling_defaults), else plain conditional
        guidance = float(doc.get("sampling_defaults", {}).get("guidance", 1.0)) if "sampler" in opts else 1.0
    if not guidance >= 0:
        raise RadsynthInputError("--guidance", guidance, "a number >= 0 (1 = conditional model, no extra guidance)")
    if "sampler" in opts:
        from radsynth.generators.diffusion.samplers import model_sampler

        sampler, steps = model_sampler(doc, sampler, steps)  # the model's measured defaults when not given
        n_steps: int | None = arch_sampler(cfg.arch).resolve_sampling_steps(cfg, sampler, steps)
    else:
        if steps is not None:
            raise RadsynthInputError("--steps", steps, f"nothing: a {cfg.arch} model samples in one network pass")
        if guidance != 1.0:
            raise RadsynthInputError("--guidance", guidance, f"1 (no guidance): a {cfg.arch} model has no "
                                     "classifier-free guidance")
        n_steps, sampler = None, "single-pass"
    asked: dict[str, str] = {}
    for item in attribute or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise RadsynthInputError("--attribute", item, "name=value, e.g. pathogen=virus")
        if not getattr(cfg, "attributes", ()):
            raise RadsynthInputError("--attribute", item, "none: this model has no attribute conditioning")
        cfg.attribute_index(name.strip(), value.strip())  # raises if unknown
        asked[name.strip().lower()] = value.strip()
    classes_asked: list[int | None]
    if cfg.classes:
        classes_asked = ([cfg.label_index(label)] * n if label is not None else [i % len(cfg.classes) for i in range(n)])
    else:
        if label is not None:
            cfg.label_index(label)  # raises: no classes
        classes_asked = [None] * n
    labels: list[int] | None
    if getattr(cfg, "attributes", ()):
        attr_vals = [cfg.attribute_index(a, asked[a.lower()]) if a.lower() in asked else None for a, _ in cfg.attributes]
        labels = [cfg.condition_index(([c] if cfg.classes else []) + attr_vals) for c in classes_asked]
    elif cfg.conditional:
        labels = [int(c) for c in classes_asked]  # type: ignore[arg-type]
    else:
        labels = None
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise RadsynthInputError("--out", str(out), "a new or empty folder")

    from radsynth import __version__
    from radsynth.core.records import Provenance
    from radsynth.generators.model_dir import load_model
    from radsynth.io.manifest import manifest_row, write_manifest
    from radsynth.io.png import write_png16

    dev = _device(device)
    _set_threads(threads)
    import torch

    t0 = time.perf_counter()
    cfg, net, doc = load_model(model, device=dev)
    kw = {"sampler": sampler, "steps": n_steps, "guidance": guidance} if "sampler" in opts else {}
    imgs = arch_sampler(cfg.arch).sample(net, cfg, labels, n=n, seed=seed, batch_size=batch_size,
                                         precision=precision, device=dev, progress=progress, **kw)
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
        **({"attributes": asked} if asked else {}),
        **({"prompt": prompt} if prompt is not None else {}),
    }
    rows = []
    width = max(5, len(str(n - 1)))
    import numpy as np

    from radsynth.core.records import config_hash as _config_hash
    from radsynth.provenance import watermark as wm

    # the run's id (hash of its settings and seed) is the watermark payload of every image
    run_id = _config_hash(run_cfg | {"seed": seed})[:16]
    for i in range(n):
        cls = cfg.classes[classes_asked[i]] if classes_asked[i] is not None else None
        subject = f"sample-{i:0{width}d}"
        prov = Provenance(generator=f"radsynth.{cfg.arch}", generator_version=__version__, config=run_cfg, seed=seed,
                          sampled={"index": i, "class": cls}, radsynth_version=__version__).to_dict()
        image = np.asarray(imgs[i], dtype=np.float64)
        if watermark and min(image.shape[-2:]) >= wm.WatermarkConfig().tile:
            image, rec = wm.embed_watermark(np.clip(image, -1.0, 1.0), run_id)
            prov["watermark"] = {"scheme": rec.scheme, "payload": rec.payload, "key_id": rec.key_id, "psnr_db": rec.psnr_db}
        path = out / "images" / f"{subject}.png"
        desc = f"{cfg.image_size}x{cfg.image_size} {cfg.arch.upper()} sample {i} of {n}" + (f", class {cls}" if cls else "")
        write_png16(path, image, (-1.0, 1.0), provenance=prov, description=desc)
        rows.append(manifest_row(
            out, path, subject=subject, kind="image", format="png", provenance=prov,
            labels={c.lower(): c == cls for c in cfg.classes},
            attributes={"class": cls, "sampler": sampler, "steps": n_steps, "guidance": float(guidance), **asked},
        ))
    write_manifest(out / "manifest.parquet", rows)
    # bytes repeat for the same machine and torch thread count (recorded here, not in the images)
    run_doc = run_cfg | {"seed": seed, "torch_threads": torch.get_num_threads(), "torch": torch.__version__}
    (out / "sampling.json").write_text(json.dumps(run_doc, indent=2, sort_keys=True) + "\n")
    from radsynth.core.records import config_hash
    from radsynth.io.atomic import sha256_file
    from radsynth.provenance.audit import log_action
    from radsynth.provenance.signing import sign_dataset

    sums = sign_dataset(out)  # Ed25519-signed SHA256SUMS of every file (radsynth verify OUT)
    log_action("sample", config_hash=config_hash(run_cfg), inputs={"model_weights_sha256": doc["weights_sha256"]},
               outputs={"folder": str(out.resolve()), "manifest.parquet": sha256_file(out / "manifest.parquet"),
                        "SHA256SUMS": sha256_file(sums)})
    how = f"{sampler}, {n_steps} steps, guidance {guidance}" if n_steps else "one network pass"
    echo(f"sampled {n} images ({how}) in {dt:.1f} s -> {out}/images, "
         f"manifest {out / 'manifest.parquet'}")
    return out


def inpaint_command(
    *,
    model: Path,
    image: Path,
    out: Path,
    label: str,
    mask: Path | None = None,
    region: str | None = None,
    seed: int = 0,
    guidance: float | None = None,
    steps: int | None = None,
    jump_length: int | None = None,
    jump_n_sample: int | None = None,
    precision: str = "fp32",
    device: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    watermark: bool = True,
    echo: Any = print,
) -> Path:
    """Inpaint ``image`` inside ``mask`` / ``region`` toward class ``label``; write the marked result into ``out``
    (RePaint, :mod:`radsynth.generators.diffusion.inpaint`: outputs, masks and marking described there).

    Every input check runs before anything is written or torch is imported. Returns ``out``.
    """
    import numpy as np

    from radsynth.generators.diffusion import repaint as rp
    from radsynth.generators.diffusion.inpaint import (inpaint_array, paste_full_resolution, prepare_input,
                                                       read_input_pixels, read_mask_file)
    from radsynth.generators.model_dir import read_model_config
    from radsynth.generators.zoo import resolve_model

    entry = resolve_model(model, "--model", generator=True)
    cfg, doc = read_model_config(entry.path)
    if cfg.arch != "ddpm" or getattr(cfg, "spatial_dims", 2) != 2:
        raise RadsynthInputError("--model", entry.name, "a 2D pixel-space ddpm model (e.g. cxr-ddpm-64)")
    if not cfg.classes:
        raise RadsynthInputError("--model", entry.name, "a class-conditional ddpm (its config lists classes)")
    li = cfg.label_index(label)
    guidance = rp.DEFAULT_GUIDANCE if guidance is None else guidance
    steps = rp.DEFAULT_STEPS if steps is None else steps
    jump_length = rp.DEFAULT_JUMP_LENGTH if jump_length is None else jump_length
    jump_n_sample = rp.DEFAULT_JUMP_N_SAMPLE if jump_n_sample is None else jump_n_sample
    rp.check_repaint_args(cfg, steps, jump_length, jump_n_sample, guidance)
    if precision not in ("bf16", "fp32"):
        raise RadsynthInputError("--precision", precision, "bf16, fp32")
    pixels, scale = read_input_pixels(Path(image))
    mask_arr = read_mask_file(Path(mask)) if mask is not None else None
    inp = prepare_input(pixels, scale, cfg.image_size, mask=mask_arr, region=region)
    if cfg.attributes:  # class given, every attribute left "unknown"
        li = cfg.condition_index([li] + [None] * len(cfg.attributes))
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RadsynthInputError("--out", str(out), "a new or empty folder")
    dev = _device(device)
    _set_threads(threads)

    import torch

    from radsynth import __version__
    from radsynth.core.records import Provenance, config_hash
    from radsynth.generators.model_dir import load_model
    from radsynth.io.atomic import sha256_file
    from radsynth.io.manifest import manifest_row, write_manifest
    from radsynth.io.png import _save as save_png  # 8/16-bit writer with the synthetic marking
    from radsynth.provenance import watermark as wm
    from radsynth.provenance.audit import log_action
    from radsynth.provenance.signing import sign_dataset

    t0 = time.perf_counter()
    _, net, _ = load_model(entry.path, device=dev)
    out64 = inpaint_array(net, cfg, inp, li, seed=seed, steps=steps, jump_length=jump_length,
                          jump_n_sample=jump_n_sample, guidance=guidance, precision=precision, device=dev,
                          progress=progress)
    full = paste_full_resolution(inp, out64)
    dt = time.perf_counter() - t0
    cls = cfg.classes[cfg.label_index(label)]
    run_cfg = {
        "task": "inpaint",
        "method": "RePaint (Lugmayr et al. 2022, arXiv:2201.09865)",
        "model_weights_sha256": doc["weights_sha256"],
        "model": doc["model"],
        "training_data_fingerprint": doc["data"]["fingerprint_sha256"],
        "input": {"file": Path(image).name, "sha256": sha256_file(Path(image)), "shape": list(pixels.shape),
                  "bit_depth": 8 if scale == 255 else 16, "crop_top_left_side_px": list(inp.crop)},
        "mask": inp.mask_source | ({"file": Path(mask).name, "sha256": sha256_file(Path(mask))} if mask else {}),
        "mask_pixels": {"model": int(inp.mask.sum()), "full": int(inp.mask_full.sum())},
        "label": cls,
        "steps": int(steps),
        "jump_length": int(jump_length),
        "jump_n_sample": int(jump_n_sample),
        "network_evaluations": rp.network_evaluations(steps, jump_length, jump_n_sample, cfg.num_train_timesteps),
        "guidance": float(guidance),
        "precision": precision,
    }
    run_id = config_hash(run_cfg | {"seed": seed})[:16]
    prov = Provenance(generator="radsynth.inpaint.repaint", generator_version=__version__, config=run_cfg, seed=seed,
                      sampled={"class": cls}, radsynth_version=__version__).to_dict()
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    wm_rec: dict[str, Any] = {}

    def mark(img01: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Watermark (payload run_id) kept inside the mask only; float in [0, 1] -> same."""
        if not watermark or min(img01.shape) < wm.WatermarkConfig().tile:
            return img01
        marked, rec = wm.embed_watermark(img01 * 2.0 - 1.0, run_id)
        wm_rec.update({"scheme": rec.scheme, "payload": rec.payload, "key_id": rec.key_id, "region": "mask only"})
        return np.where(m, np.clip((marked + 1.0) / 2.0, 0.0, 1.0), img01)

    f64 = mark((out64.astype(np.float64) + 1.0) / 2.0, inp.mask)
    out64_px = np.where(inp.mask, np.rint(f64 * 65535), np.rint((inp.image.astype(np.float64) + 1.0) / 2.0 * 65535))
    ffull = mark(full.astype(np.float64) / scale, inp.mask_full)
    full_px = np.where(inp.mask_full, np.rint(ffull * scale).astype(full.dtype), pixels)  # outside: the file's bytes
    if wm_rec:
        prov["watermark"] = wm_rec
    desc = f"inpainted ({cls}) inside a mask; pixels outside the mask are the real input"
    rows = []
    files = [("images/inpainted.png", full_px, "image", desc + f", {pixels.shape[1]}x{pixels.shape[0]}"),
             ("images/inpainted-64.png", out64_px.astype(np.uint16), "image", desc + f", {cfg.image_size} px model canvas"),
             ("masks/mask.png", np.where(inp.mask_full, 255, 0).astype(np.uint8), "mask", "label mask of the inpainted region"),
             ("masks/mask-64.png", np.where(inp.mask, 255, 0).astype(np.uint8), "mask", "label mask, model canvas")]
    for rel, px, kind, d in files:
        save_png(out / rel, px, prov, d)
        rows.append(manifest_row(out, out / rel, subject="inpaint-0", kind=kind, format="png", provenance=prov,
                                 labels={c.lower(): c == cls for c in cfg.classes},
                                 attributes={"class": cls, "task": "inpaint", "guidance": float(guidance)}))
    write_manifest(out / "manifest.parquet", rows)
    run_doc = run_cfg | {"seed": seed, "run_id": run_id, "torch_threads": torch.get_num_threads(),
                         "torch": torch.__version__, **({"watermark": wm_rec} if wm_rec else {})}
    (out / "sampling.json").write_text(json.dumps(run_doc, indent=2, sort_keys=True) + "\n")
    sums = sign_dataset(out)
    log_action("inpaint", config_hash=config_hash(run_cfg),
               inputs={"task": "inpaint", "model_weights_sha256": doc["weights_sha256"],
                       "image_sha256": run_cfg["input"]["sha256"]},
               outputs={"folder": str(out.resolve()), "SHA256SUMS": sha256_file(sums)})
    echo(f"inpainted {int(inp.mask_full.sum())} px toward {cls} ({steps} steps, jumps {jump_length}x{jump_n_sample}, "
         f"guidance {guidance}) in {dt:.1f} s -> {out}/images/inpainted.png, mask {out}/masks/mask.png")
    return out
