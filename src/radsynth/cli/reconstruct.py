"""``radsynth reconstruct IN --out OUT [--zero-filled ZF] [--acceleration 4] [--center-fraction 0.08] [--seed 0]
[--model mri-recon-4x]``: retrospective k-space undersampling of a fully sampled MR image and its learned
reconstruction (QA / teaching).

Input: a magnitude MR image, NIfTI (slices = the array's first two axes, k-space columns along its second axis) or
PNG / JPEG. Output: the learned reconstruction (``--out``) and the zero-filled image (``--zero-filled``, default
``OUT_zerofilled.<ext>``), of the input's kind, marked as radsynth output derived from a real image, with the mask
parameters in the provenance. Bad input: one error line naming the option, the value and what is accepted, exit
code 2, nothing written. Heavy imports (torch, MONAI) happen in the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import typer


def register(app: typer.Typer, user_errors: Callable[..., Any]) -> None:
    @app.command("reconstruct")
    @user_errors
    def reconstruct(
        src: Path = typer.Argument(..., help="Fully sampled magnitude MR image: NIfTI (.nii / .nii.gz) or PNG / JPEG."),
        out: Path = typer.Option(..., "--out", help="Reconstruction (.nii/.nii.gz for NIfTI input, .png otherwise); refused if it exists."),
        zero_filled: Path = typer.Option(None, "--zero-filled", help="Zero-filled image path (default OUT_zerofilled.<ext>)."),
        acceleration: float = typer.Option(4.0, "--acceleration", help="Undersampling factor (expected; 1..32)."),
        center_fraction: float = typer.Option(0.08, "--center-fraction", help="Fully sampled central fraction of k-space columns."),
        pattern: str = typer.Option("random", "--pattern", help="Column mask: random (fastMRI) or equispaced."),
        seed: int = typer.Option(0, "--seed", help="Mask seed (same seed, same mask)."),
        model: str = typer.Option("mri-recon-4x", "--model", help="Model name (`radsynth models list`) or folder."),
        threads: int = typer.Option(1, "--threads", help="torch CPU threads", min=1),
    ) -> None:
        """Undersample an MR image retrospectively and reconstruct it with a learned model trained on simulated MRI."""
        import time

        from radsynth.core.errors import RadsynthInputError

        if not 1.0 <= acceleration <= 32.0:
            raise RadsynthInputError("--acceleration", acceleration, "a number in 1..32 (e.g. 4)")
        if not 0.0 < center_fraction <= 1.0 / acceleration:
            raise RadsynthInputError("--center-fraction", center_fraction,
                                     f"a fraction in (0, 1/acceleration = {1 / acceleration:.3g}]")
        if pattern not in ("random", "equispaced"):
            raise RadsynthInputError("--pattern", pattern, "random or equispaced")
        for opt, p in (("--out", out), ("--zero-filled", zero_filled)):
            if p is not None and p.exists():
                raise RadsynthInputError(opt, str(p), "a path that does not exist yet (radsynth never overwrites)")
        from radsynth.generators.zoo import resolve_model

        entry = resolve_model(model, "--model")
        from radsynth.generators.enhancement.mri_recon import MODEL_FORMAT

        if entry.format != MODEL_FORMAT:
            raise RadsynthInputError("--model", model, f"an MRI reconstructor (format {MODEL_FORMAT}, e.g. mri-recon-4x)",
                                     f"{entry.name} is a {entry.kind} of format {entry.format or '?'}")
        import torch

        from radsynth.generators.enhancement.mri_recon import reconstruct_file

        torch.set_num_threads(threads)
        t0 = time.perf_counter()
        path, zf_path, params = reconstruct_file(src, out, zero_filled=zero_filled, acceleration=acceleration,
                                                 center_fraction=center_fraction, seed=seed, pattern=pattern,
                                                 model=entry.path)
        from radsynth.core.records import config_hash
        from radsynth.io.atomic import sha256_file
        from radsynth.provenance.audit import log_action

        cfg = {"model": entry.name, "acceleration": acceleration, "center_fraction": center_fraction,
               "pattern": pattern, "seed": seed, "threads": threads}
        log_action("reconstruct", config_hash=config_hash(cfg),
                   inputs={"input": str(Path(src).resolve()), "input_sha256": sha256_file(src), **cfg},
                   outputs={"file": str(Path(path).resolve()), "sha256": sha256_file(path),
                            "zero_filled": str(Path(zf_path).resolve()), "zero_filled_sha256": sha256_file(zf_path),
                            "sampled_columns": len(params.columns), "n_columns": params.n_columns})
        typer.echo(f"wrote {path} and {zf_path} ({time.perf_counter() - t0:.1f} s, model {entry.name}, "
                   f"{len(params.columns)}/{params.n_columns} columns sampled: {params.realised_acceleration:.2f}x, "
                   f"seed {seed})")
