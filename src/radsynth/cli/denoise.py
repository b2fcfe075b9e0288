"""``radsynth denoise IN.nii.gz --out OUT.nii.gz [--model ct-denoiser-ld]``: learned low-dose CT denoising.

Input: a CT NIfTI in HU (axial slices along the array's first two axes). Output: float32 HU, same affine,
marked as radsynth-processed (header + JSON sidecar). Bad input: one error line naming the field, the value
and what is accepted, exit code 2, nothing written. Heavy imports (torch, MONAI) happen in the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import typer


def register(app: typer.Typer, user_errors: Callable[..., Any]) -> None:
    @app.command("denoise")
    @user_errors
    def denoise(
        src: Path = typer.Argument(..., help="CT NIfTI in HU (.nii / .nii.gz)."),
        out: Path = typer.Option(..., "--out", help="Output NIfTI (.nii / .nii.gz); refused if it exists."),
        model: str = typer.Option("ct-denoiser-ld", "--model", help="Model name (`radsynth models list`) or folder."),
        threads: int = typer.Option(1, "--threads", help="torch CPU threads", min=1),
    ) -> None:
        """Denoise a (low-dose) CT with a learned denoiser trained on simulated CT."""
        import time

        from radsynth.core.errors import RadsynthInputError

        if out.exists():
            raise RadsynthInputError("--out", str(out), "a path that does not exist yet (radsynth never overwrites)")
        from radsynth.generators.zoo import resolve_model

        entry = resolve_model(model, "--model")
        if entry.kind != "enhancer":
            raise RadsynthInputError("--model", model, "a CT denoiser model (kind enhancer, e.g. ct-denoiser-ld)",
                                     f"{entry.name} is a {entry.kind}")
        import torch

        from radsynth.generators.enhancement.ct_denoiser import denoise_nifti

        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        path = denoise_nifti(src, out, entry.path)
        from radsynth.core.records import config_hash
        from radsynth.io.atomic import sha256_file
        from radsynth.provenance.audit import log_action

        log_action("denoise", config_hash=config_hash({"model": entry.name, "threads": threads}),
                   inputs={"input": str(Path(src).resolve()), "input_sha256": sha256_file(src), "model": entry.name},
                   outputs={"file": str(Path(path).resolve()), "sha256": sha256_file(path)})
        typer.echo(f"wrote {path} ({time.perf_counter() - t0:.1f} s, model {entry.name})")
