"""Model zoo: find, describe and export model folders.

A model is a folder holding ``config.json`` (and usually ``weights.safetensors``
and a model card). Search order (the first folder with a given name wins):

1. every folder named in ``$RADSYNTH_MODELS`` (``os.pathsep``-separated): either a
   model folder itself or a folder of model folders;
2. the models shipped with radsynth (``radsynth/data/models/*``).

An explicit path to a model folder is always accepted as well. Each model has a
*kind*: ``generator`` (a DDPM, LDM, GAN or VAE written by ``radsynth train``, usable for
sampling and as the ``learned-2d`` cohort generator), ``classifier`` (e.g. the shipped
``cxr-classifier-64`` reference judge), ``encoder`` (e.g. the shipped ``cxr-encoder-64``
feature encoder for FID / KID / PRDC), ``enhancer`` (e.g. the shipped ``ct-denoiser-ld``
low-dose CT denoiser, ``radsynth denoise``, and ``mri-recon-4x`` undersampled-MRI reconstructor,
``radsynth reconstruct``), ``mask-generator`` (e.g. the shipped ``brain-mask-pix2pix-64`` and ``brain-mask-ddpm-64``,
``radsynth generate-from-mask``), ``translator`` (e.g. the shipped ``brain-t1w-to-t2w-64``, ``radsynth translate``)
or ``unknown``.

Nothing here imports torch: parameter counts come from the safetensors header.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError

ENV_VAR = "RADSYNTH_MODELS"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
CARD_NAMES = ("model_card.md", "MODEL_CARD.md")
EXPORT_FILE = "EXPORT.json"
EXPORT_FORMAT = "radsynth.model-export/1"
from radsynth.generators.archs import GENERATOR_FORMATS  # noqa: E402 - no torch import
CLASSIFIER_FORMATS = ("radsynth-reference-classifier/1",)
ENCODER_FORMATS = ("radsynth-feature-encoder/1",)
ENHANCER_FORMATS = ("radsynth-ct-denoiser/1", "radsynth-mri-recon/1")  # image-to-image models (generators/enhancement)
MASK_GENERATOR_FORMATS = ("radsynth-mask-ddpm/1", "radsynth-mask-pix2pix/1")  # mask-conditioned generators (generators/mask_guided)
TRANSLATOR_FORMATS = ("radsynth-contrast-translator/1",)  # contrast translators (generators/translation)


@dataclass(frozen=True)
class ModelEntry:
    """One model folder as the zoo sees it."""

    name: str
    path: Path
    source: str  # "shipped", "$RADSYNTH_MODELS" or "path"
    kind: str  # "generator", "classifier", "encoder", "enhancer", "mask-generator", "translator" or "unknown"
    format: str
    arch: str
    image_size: int | None
    classes: tuple[str, ...]
    params: int | None
    size_bytes: int
    data_fingerprint: str | None
    config: dict[str, Any]

    @property
    def card_path(self) -> Path | None:
        for n in CARD_NAMES:
            if (self.path / n).is_file():
                return self.path / n
        return None

    @property
    def is_generator(self) -> bool:
        return self.kind == "generator"


def shipped_models_dir() -> Path:
    from importlib.resources import files

    return Path(str(files("radsynth") / "data" / "models"))


def _is_model_dir(p: Path) -> bool:
    return p.is_dir() and (p / CONFIG_FILE).is_file()


def _model_dirs(root: Path) -> list[Path]:
    if _is_model_dir(root):
        return [root]
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if _is_model_dir(p))


def search_roots() -> list[tuple[str, Path]]:
    """(source, folder) in search order: $RADSYNTH_MODELS entries, then the shipped models."""
    roots = [("$" + ENV_VAR, Path(p).expanduser()) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    roots.append(("shipped", shipped_models_dir()))
    return roots


def safetensors_param_count(path: Path) -> int | None:
    """Sum of tensor element counts from a safetensors header (8-byte length + JSON); None if unreadable."""
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > 100_000_000:
                return None
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error):
        return None
    return int(sum(prod(v["shape"]) for k, v in header.items() if k != "__metadata__"))


def _dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def _card_fingerprint(path: Path) -> str | None:
    """First backticked sha256 on a card line about the data that is not about a test/held-out split."""
    for n in CARD_NAMES:
        if (path / n).is_file():
            for line in (path / n).read_text(errors="replace").splitlines():
                low = line.lower()
                if "sha256" in low and not any(w in low for w in ("test", "held-out", "holdout", "weights")):
                    m = re.search(r"`([0-9a-f]{64})`", line)
                    if m:
                        return m.group(1)
            return None
    return None


def describe_model(path: Path, source: str = "path") -> ModelEntry:
    """Read a model folder's config (and card) into a :class:`ModelEntry`; RadsynthInputError if unreadable."""
    path = Path(path)
    try:
        doc = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise RadsynthInputError("model", str(path), f"a model folder with a readable {CONFIG_FILE}", str(exc)[:120]) from None
    if not isinstance(doc, dict):
        raise RadsynthInputError("model", str(path), f"a model folder whose {CONFIG_FILE} is a JSON object")
    fmt = str(doc.get("format", ""))
    if fmt in GENERATOR_FORMATS:
        m = doc.get("model", {})
        kind, arch = "generator", str(m.get("arch", "ddpm"))
        size, classes = m.get("image_size"), tuple(m.get("classes", ()))
        fp = (doc.get("data") or {}).get("fingerprint_sha256")
    elif fmt in CLASSIFIER_FORMATS:
        kind, arch = "classifier", str(doc.get("network", "?"))
        size, classes = doc.get("image_size"), tuple(doc.get("class_names", ()))
        fp = _card_fingerprint(path)
    elif fmt in ENCODER_FORMATS:
        kind, arch = "encoder", str(doc.get("network", "?"))
        size, classes = doc.get("image_size"), ()
        fp = _card_fingerprint(path)
    elif fmt in ENHANCER_FORMATS:
        kind, arch, size, classes = "enhancer", str(doc.get("network", "?")), None, ()
        fp = _card_fingerprint(path)
    elif fmt in MASK_GENERATOR_FORMATS:
        kind, arch, size, classes = "mask-generator", str(doc.get("arch", "?")), doc.get("image_size"), ()
        fp = _card_fingerprint(path)
    elif fmt in TRANSLATOR_FORMATS:
        kind, arch, size, classes = "translator", str(doc.get("arch", "?")), doc.get("image_size"), ()
        fp = _card_fingerprint(path)
    else:
        kind, arch, size, classes, fp = "unknown", str(doc.get("arch", "?")), doc.get("image_size"), (), None
    weights = path / WEIGHTS_FILE
    return ModelEntry(
        name=path.name, path=path, source=source, kind=kind, format=fmt, arch=arch,
        image_size=int(size) if isinstance(size, int) else None, classes=classes,
        params=safetensors_param_count(weights) if weights.is_file() else None,
        size_bytes=_dir_size(path), data_fingerprint=fp, config=doc,
    )


def list_models() -> list[ModelEntry]:
    """Every model on the search path (first folder of each name wins), in search order."""
    seen: dict[str, ModelEntry] = {}
    for source, root in search_roots():
        for p in _model_dirs(root):
            if p.name not in seen:
                try:
                    seen[p.name] = describe_model(p, source)
                except RadsynthInputError:
                    continue
    return list(seen.values())


def resolve_model(name_or_path: str | os.PathLike[str], field: str = "model", *, generator: bool = False) -> ModelEntry:
    """A model by name (search path) or folder path; ``generator=True`` also requires a generator model."""
    text = os.fspath(name_or_path)
    p = Path(text).expanduser()
    entry = None
    if _is_model_dir(p):
        entry = describe_model(p, "path")
    elif os.sep not in text and "/" not in text:
        entry = next((m for m in list_models() if m.name == text), None)
    if entry is None:
        known = [m.name for m in list_models() if m.is_generator or not generator]
        raise RadsynthInputError(
            field, text, f"a model folder (with {CONFIG_FILE}) or one of {known}" if known else
            f"a model folder (with {CONFIG_FILE}); no {'generator ' if generator else ''}model is on the search path",
            f"Models are searched in ${ENV_VAR} and the shipped models; see `radsynth models list`.",
        )
    if generator and not entry.is_generator:
        raise RadsynthInputError(
            field, text, "a generator model (written by `radsynth train`)",
            f"{entry.name} is a {entry.kind} ({entry.format or 'no format'}).",
        )
    if generator and not (entry.path / WEIGHTS_FILE).is_file():
        raise RadsynthInputError(field, text, f"a model folder holding {WEIGHTS_FILE}")
    return entry


def human_size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover


def models_table(entries: list[ModelEntry]) -> str:
    """Plain-text table: name, kind/arch, size, classes, params, disk size, data fingerprint (short), source."""
    head = ("name", "kind/arch", "image", "classes", "params", "on disk", "data sha256", "source")
    rows = [head] + [
        (
            m.name,
            f"{m.kind}/{m.arch}",
            f"{m.image_size}x{m.image_size}" if m.image_size else "-",
            ",".join(m.classes) or "-",
            f"{m.params:,}" if m.params is not None else "-",
            human_size(m.size_bytes),
            m.data_fingerprint[:12] if m.data_fingerprint else "-",
            m.source,
        )
        for m in entries
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def show_model(entry: ModelEntry) -> str:
    """Config summary followed by the model card (Markdown)."""
    cfg = entry.config
    lines = [
        f"model:        {entry.name} ({entry.kind}, {entry.arch})",
        f"path:         {entry.path} [{entry.source}]",
        f"format:       {entry.format or '-'}",
        f"image size:   {entry.image_size}x{entry.image_size}" if entry.image_size else "image size:   -",
        f"classes:      {', '.join(entry.classes) or '- (unconditional)'}",
        f"parameters:   {entry.params:,}" if entry.params is not None else "parameters:   -",
        f"on disk:      {human_size(entry.size_bytes)}",
        f"data sha256:  {entry.data_fingerprint or '-'}",
    ]
    if entry.is_generator:
        m, t = cfg.get("model", {}), cfg.get("training", {})
        net = f"network:      channels {m.get('channels')}"
        if entry.arch == "ddpm":
            net += f", attention {m.get('attention_levels')}, {m.get('num_train_timesteps')} timesteps, {m.get('schedule')}"
        lines += [
            net,
            f"training:     {t.get('steps')} steps, stopped by {t.get('stopped')}, {t.get('wall_s')} s, {t.get('hardware')}",
            f"weights sha256: {cfg.get('weights_sha256', '-')}",
        ]
    card = entry.card_path
    lines += ["", card.read_text() if card else "(no model card)"]
    return "\n".join(lines).rstrip() + "\n"


def export_model(name_or_path: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Copy a model's top-level files (weights, config, card, training_files.json; never checkpoint/) to ``out``.

    Atomic: files go to a temp folder beside ``out`` that is renamed into place when
    complete. ``EXPORT.json`` lists the sha256 of every exported file (no times, so
    exporting the same model twice gives identical bytes).
    """
    from radsynth.io.atomic import sha256_file

    entry = resolve_model(name_or_path)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RadsynthInputError("--out", str(out), "a new or empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        names = sorted(p.name for p in entry.path.iterdir() if p.is_file() and p.name != EXPORT_FILE)
        for n in names:
            shutil.copyfile(entry.path / n, tmp / n)
        doc = {
            "format": EXPORT_FORMAT,
            "model": entry.name,
            "kind": entry.kind,
            "model_format": entry.format,
            "files": {n: sha256_file(tmp / n) for n in names},
        }
        (tmp / EXPORT_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        for p in tmp.iterdir():
            with open(p, "rb") as fh:
                os.fsync(fh.fileno())
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
