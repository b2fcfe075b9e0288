"""``radsynth generate-from-mask MASK --out OUT [--model brain-mask-pix2pix-64] [--seed 0] [--brain BRAIN]``:
a synthetic MR slice whose lesion sits where the mask says (learned mask-guided generator).

Input: a 2-D lesion mask (nonzero = lesion): PNG, NIfTI (one slice) or .npy, any size (zero-padded to a square
and resized to the model's 64 x 64); optionally a brain mask of the same shape. Output: .png (16-bit) or
.nii / .nii.gz, marked as synthetic (learned generator; header / text chunks + JSON sidecar for NIfTI). Bad input:
one error line naming the option, the value and what is accepted, exit code 2, nothing written. Heavy imports
(torch, MONAI) happen in the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import typer


def register(app: typer.Typer, user_errors: Callable[..., Any]) -> None:
    @app.command("generate-from-mask")
    @user_errors
    def generate_from_mask(
        mask: Path = typer.Argument(..., help="Lesion mask (.png, .nii, .nii.gz or .npy; nonzero = lesion)."),
        out: Path = typer.Option(..., "--out", help="Output image (.png, .nii or .nii.gz); refused if it exists."),
        model: str = typer.Option("brain-mask-pix2pix-64", "--model", help="Model name (`radsynth models list`) or folder."),
        seed: int = typer.Option(0, "--seed", help="Noise seed (same mask and seed, same image)."),
        brain: Path = typer.Option(None, "--brain", help="Optional brain mask of the same shape (where the brain sits)."),
        steps: int = typer.Option(0, "--steps", help="DDIM steps of a DDPM model (0: the model's default; a pix2pix model samples in one pass)."),
        threads: int = typer.Option(1, "--threads", help="torch CPU threads", min=1),
    ) -> None:
        """Generate a synthetic brain MRI slice with its lesion on the given mask (learned, trained on simulated MRI)."""
        import time

        from radsynth.core.errors import RadsynthInputError

        if out.exists():
            raise RadsynthInputError("--out", str(out), "a path that does not exist yet (radsynth never overwrites)")
        if not out.name.lower().endswith((".png", ".nii", ".nii.gz")):
            raise RadsynthInputError("--out", str(out), "a file name ending in .png, .nii or .nii.gz")
        if not 0 <= steps <= 1000:
            raise RadsynthInputError("--steps", steps, "0 (model default) or 1..1000 DDIM steps")
        if seed < 0:
            raise RadsynthInputError("--seed", seed, "a non-negative integer")
        from radsynth.generators.zoo import resolve_model

        entry = resolve_model(model, "--model")
        if entry.kind != "mask-generator":
            raise RadsynthInputError("--model", model, "a mask-guided generator (kind mask-generator, e.g. brain-mask-pix2pix-64)",
                                     f"{entry.name} is a {entry.kind}")
        import torch

        from radsynth.generators.mask_guided.model import generate_file

        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        path = generate_file(mask, out, model=entry.path, seed=seed, brain_path=brain, steps=steps or None)
        from radsynth.core.records import config_hash
        from radsynth.io.atomic import sha256_file
        from radsynth.provenance.audit import log_action

        cfg = {"model": entry.name, "seed": seed, "steps": steps, "threads": threads}
        inputs = {"mask": str(Path(mask).resolve()), "mask_sha256": sha256_file(mask), **cfg}
        if brain is not None:
            inputs |= {"brain": str(Path(brain).resolve()), "brain_sha256": sha256_file(brain)}
        log_action("sample", config_hash=config_hash(cfg), inputs=inputs,
                   outputs={"file": str(Path(path).resolve()), "sha256": sha256_file(path)})
        typer.echo(f"wrote {path} ({time.perf_counter() - t0:.1f} s, model {entry.name}, seed {seed}); synthetic image")
