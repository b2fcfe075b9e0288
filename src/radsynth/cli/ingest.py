"""``radsynth ingest SRC --out DIR``: real images -> de-identified training dataset + manifest (signed).

Light imports only at module level; the ingest machinery is imported when the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from radsynth.cli.user_errors import user_errors



_user_errors = user_errors  # the CLI's convention (radsynth.cli.user_errors)


@_user_errors
def ingest_cmd(
    src: Path = typer.Argument(..., metavar="SRC", help="Folder of real images: SRC/<class>/**/<file> "
                               "(DICOM, NIfTI, PNG, JPEG), or any layout with --labels."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (new or empty; an earlier ingest with "
                             "--resume). Must not be inside SRC."),
    labels: Path | None = typer.Option(None, "--labels", help="CSV with columns path (relative to SRC), class; "
                                          "optional patient, modality; other columns become attributes."),
    key_file: Path | None = typer.Option(None, "--key-file", help="Secret pseudonymisation key (16..64 raw bytes "
                                            "or their hex text); default <config dir>/keys/deid.key (created, 0600), "
                                            "the key of `radsynth deidentify`. Same key -> same pseudonyms. Never "
                                            "store it with the data."),
    workers: int = typer.Option(1, "--workers", help="Parallel worker processes."),
    resume: bool = typer.Option(False, "--resume", help="Finish an interrupted ingest into --out; a no-op when "
                                "--out already holds the ingest of these inputs."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
) -> None:
    """De-identify real images into a training dataset: pseudonymous patients and file names, clean headers,
    DIR/<class>/..., manifest.parquet/.csv, ingest_report.json, signed (radsynth verify DIR)."""
    from radsynth.ingest import ingest

    res = ingest(src, out, labels=labels, key_file=key_file, workers=workers, resume=resume, progress=progress,
                 command=[str(a) for a in sys.argv], echo=lambda m: typer.echo(m, err=True))
    if res.up_to_date:
        typer.echo(f"up to date: {res.out} already holds the ingest of these inputs (nothing written)")
        return
    counts = ", ".join(f"{k} {v}" for k, v in res.counts.items())
    typer.echo(f"ingested {res.n_written} of {res.n_sources} files ({len(res.skipped)} skipped) -> {res.out}\n"
               f"  classes:  {counts}\n  manifest: {res.manifest}\n  report:   {res.report}")
