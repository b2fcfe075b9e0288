"""Training checkpoints shared by every training loop: tensors in ``state.safetensors``, the rest in ``state.json``.

Layout (``<dir>/``): ``state.safetensors`` (every tensor) and ``state.json`` (step counters, optimizer
hyper-parameters, configs); the pair is written to ``<dir>.tmp`` and swapped in with renames, so a crash
leaves either the old or the new checkpoint. Nested optimizer states are flattened by
:func:`split_tensors` / :func:`join_tensors`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError

#: the pixel DDPM loop's checkpoint format (each loop names its own)
CHECKPOINT_FORMAT = "radsynth.generators.ddpm.checkpoint/1"

def _split_tensors(obj: Any, prefix: str, tensors: dict[str, Any]) -> Any:
    """Replace tensors in a nested dict/list by ``{"__tensor__": key}``; collect them in ``tensors``."""
    import torch

    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _split_tensors(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)],
                "tuple": isinstance(obj, tuple)}
    return obj


def _join_tensors(obj: Any, tensors: dict[str, Any]) -> Any:
    """Inverse of :func:`_split_tensors`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _join_tensors(v, tensors) for k, v in obj["__dict__"]}
        if "__list__" in obj:
            items = [_join_tensors(v, tensors) for v in obj["__list__"]]
            return tuple(items) if obj.get("tuple") else items
    return obj


def save_checkpoint(path: str | os.PathLike[str], tensors: dict[str, Any], meta: dict[str, Any]) -> Path:
    """Write ``state.safetensors`` + ``state.json`` into ``path`` (swap via ``path.tmp``)."""
    from safetensors.torch import save_file

    final = Path(path)
    tmp = final.with_name(final.name + ".tmp")
    old = final.with_name(final.name + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    for f in tmp.iterdir():
        fd = os.open(f, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    path: str | os.PathLike[str], expected_format: str = CHECKPOINT_FORMAT
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tensors, meta) of a checkpoint written by :func:`save_checkpoint` whose ``meta["format"]`` is
    ``expected_format`` (each training loop names its own format)."""
    from safetensors.torch import load_file

    p = Path(path)
    if not (p / "state.json").is_file() and p.with_name(p.name + ".old").is_dir():
        p = p.with_name(p.name + ".old")  # crashed between the two renames
    try:
        meta = json.loads((p / "state.json").read_text())
        tensors = load_file(str(p / "state.safetensors"))
    except (OSError, ValueError) as exc:
        raise RadsynthInputError("checkpoint", str(path), "a radsynth training checkpoint", str(exc)[:120]) from None
    if meta.get("format") != expected_format:
        raise RadsynthInputError("checkpoint format", meta.get("format"), expected_format)
    return tensors, meta


def has_checkpoint(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return (p / "state.json").is_file() or (p.with_name(p.name + ".old") / "state.json").is_file()


#: public names for other training loops (GAN, VAE, autoencoder) that store optimizer state the same way
split_tensors = _split_tensors
join_tensors = _join_tensors
