"""Model folders of the image-to-image families (CT denoiser, MRI reconstructor, mask-guided generator).

A folder holds ``config.json`` (a document with ``format``, ``kind``, ``config`` and whatever the family adds)
and ``weights.safetensors`` (the network's state dict). A name without a path separator that is not a folder
here is looked up among the shipped models (``radsynth/data/models/<name>``). Shared so every family resolves,
writes and reads its folders the same way; imports no family.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from radsynth.core.errors import RadsynthInputError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"


def save_model_folder(out_dir: str | os.PathLike[str], net: Any, doc: dict[str, Any]) -> Path:
    """Write ``net``'s weights and ``doc`` as ``config.json`` into ``out_dir`` (created); returns the folder."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE))
    (out / CONFIG_FILE).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return out


def model_folder(name_or_path: str | os.PathLike[str], what: str, shipped: str) -> Path:
    """The folder at ``name_or_path``, or the shipped model of that name; RadsynthInputError naming ``what``
    (e.g. "a CT denoiser") and the shipped default otherwise."""
    text = os.fspath(name_or_path)
    p = Path(text).expanduser()
    if not (p / CONFIG_FILE).is_file() and "/" not in text and os.sep not in text:
        from importlib.resources import files

        p = Path(str(files("radsynth") / "data" / "models" / text))
    if not (p / CONFIG_FILE).is_file() or not (p / WEIGHTS_FILE).is_file():
        raise RadsynthInputError("model", text, f"{what} folder ({CONFIG_FILE} + {WEIGHTS_FILE}) or '{shipped}'")
    return p


def load_model_folder(name_or_path: str | os.PathLike[str], *, fmt: str, what: str, shipped: str,
                      config_from_json: Callable[[Any], Any], build: Callable[[Any], Any]
                      ) -> tuple[Any, Any, dict[str, Any]]:
    """(network in eval mode, config, config.json document) of a folder of format ``fmt``: the config read
    with ``config_from_json(doc["config"])``, the network made by ``build(config)`` and loaded."""
    from safetensors.torch import load_file

    p = model_folder(name_or_path, what, shipped)
    doc = json.loads((p / CONFIG_FILE).read_text())
    if doc.get("format") != fmt:
        raise RadsynthInputError("model", os.fspath(name_or_path), f"a model of format {fmt}",
                                 f"it is {doc.get('format')!r}")
    cfg = config_from_json(doc["config"])
    net = build(cfg)
    net.load_state_dict(load_file(str(p / WEIGHTS_FILE)))
    net.eval()
    return net, cfg, doc


def training_record(summary: dict[str, Any], data: dict[str, Any], data_seconds: float, threads: int) -> dict[str, Any]:
    """What a training script stores as ``config.json``'s ``training`` (the summary without its curves, the data
    settings, the software and machine)."""
    import platform
    import sys

    import torch

    return {**summary, "data": data, "data_seconds": data_seconds, "threads": threads, "torch": torch.__version__,
            "python": sys.version.split()[0], "machine": platform.machine()}


def write_training_json(folder: str | os.PathLike[str], curves: dict[str, Any], record: dict[str, Any]) -> None:
    """``training.json``: the loss curves (``curves``: name -> list) and the training record."""
    (Path(folder) / "training.json").write_text(json.dumps({**curves, **record}, indent=0) + "\n")
