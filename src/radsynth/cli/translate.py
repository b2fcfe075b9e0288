"""``radsynth translate IMAGE --to T2w --out OUT [--from T1w] [--model FOLDER] [--method model|histogram-match]``:
the same slice in another MR contrast (learned translator trained on physics-simulated pairs).

Input: a 2-D magnitude slice (PNG / JPEG / NIfTI / .npy, any size: normalised by its own bright end, zero-padded
to a square and resized to the model's 64 x 64). Output: .png (16-bit) or .nii / .nii.gz at 64 x 64, marked as
synthetic. ``--method histogram-match`` writes the baseline instead. Bad input: one error line naming the option,
the value and what is accepted, exit code 2, nothing written. Heavy imports (torch, MONAI) happen in the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import typer


def register(app: typer.Typer, user_errors: Callable[..., Any]) -> None:
    @app.command("translate")
    @user_errors
    def translate(
        image: Path = typer.Argument(..., help="Source slice (.png, .jpg, .nii, .nii.gz or .npy)."),
        to: str = typer.Option(..., "--to", help="Target contrast: T2w or FLAIR (shipped models: from T1w)."),
        out: Path = typer.Option(..., "--out", help="Output image (.png, .nii or .nii.gz); refused if it exists."),
        source: str = typer.Option("T1w", "--from", help="Contrast of the input slice."),
        model: str = typer.Option(None, "--model", help="Translator name or folder (default: the shipped one for the pair)."),
        method: str = typer.Option("model", "--method", help="model (learned) or histogram-match (the baseline)."),
        seed: int = typer.Option(0, "--seed", help="Noise seed of the generator (same input and seed, same image).", min=0),
        threads: int = typer.Option(1, "--threads", help="torch CPU threads", min=1),
    ) -> None:
        """Translate an MR slice to another contrast (learned, trained on simulated pairs of the same anatomy)."""
        import time

        import torch

        from radsynth.core.records import config_hash
        from radsynth.generators.translation.model import translate_file
        from radsynth.io.atomic import sha256_file
        from radsynth.provenance.audit import log_action

        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        path = translate_file(image, out, to=to, source=source, model=model, method=method, seed=seed)
        cfg = {"model": model, "from": source, "to": to, "method": method, "seed": seed}
        log_action("sample", config_hash=config_hash(cfg),
                   inputs={"image": str(Path(image).resolve()), "image_sha256": sha256_file(image), **cfg},
                   outputs={"file": str(Path(path).resolve()), "sha256": sha256_file(path)})
        typer.echo(f"wrote {path} ({time.perf_counter() - t0:.1f} s, {source} -> {to}, {method}); synthetic image")
