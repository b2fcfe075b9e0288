"""``radsynth deidentify`` and ``radsynth phi-scan``.

``deidentify SRC --out DIR``: PS3.15 basic-profile de-identification of every DICOM file under SRC
(see :mod:`radsynth.privacy.deidentify`); the key comes from ``--key-file`` or the user's key in the
config folder (created on first use), never from or into the outputs.
``phi-scan DIR``: one line per likely-PHI finding (path, location, kind, redacted excerpt);
exit 0 clean, 1 findings, 2 bad input.
"""

from __future__ import annotations

from pathlib import Path

import typer

from radsynth.cli.user_errors import user_errors

EXIT_FINDINGS = 1


_user_errors = user_errors  # the CLI's convention (radsynth.cli.user_errors)


@_user_errors
def deidentify(
    src: Path = typer.Argument(..., help="Folder of DICOM files (searched recursively; other files skipped)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (new or empty)."),
    key_file: Path | None = typer.Option(None, "--key-file", help="Secret key (16..64 raw bytes or hex). Default: "
                                            "<config dir>/keys/deid.key, created on first use (mode 0600)."),
    date_shift_days_max: int = typer.Option(365, "--date-shift-days-max", help="Per-patient date shift is in "
                                            "[-N, -1] u [1, N] days."),
    allow_private: str | None = typer.Option(None, "--allow-private", help="Comma-separated private creators "
                                                "whose blocks are kept (Retain Safe Private Option)."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """De-identify DICOM (PS3.15 basic profile + modified dates) -> OUT/<pseudonym>/*.dcm, OUT/deid_report.json."""
    from radsynth.core.errors import RadsynthInputError
    from radsynth.privacy.deidentify import (
        DeidConfig,
        deidentify_folder,
        load_or_create_key,
    )

    if not src.is_dir():
        raise RadsynthInputError("SRC", str(src), "an existing folder of DICOM files")
    key = load_or_create_key(key_file)
    creators = tuple(c.strip() for c in (allow_private or "").split(",") if c.strip())
    try:
        cfg = DeidConfig(key=key, max_date_shift_days=date_shift_days_max, allow_private_creators=creators)
    except RadsynthInputError as exc:
        names = {"max_date_shift_days": "--date-shift-days-max", "allow_private_creators": "--allow-private"}
        raise RadsynthInputError(names.get(exc.field, exc.field), exc.value, exc.accepted, exc.hint) from None
    res = deidentify_folder(src, out, cfg, progress=progress)
    typer.echo(f"de-identified {res.n_files} files ({res.n_skipped} non-DICOM skipped) -> {res.out}\n"
               f"  report: {res.report_file}  key id: {cfg.key_id}\n"
               f"  pixel data unchanged; {len(res.burned_in)} file(s) say BurnedInAnnotation=YES: review them")


@_user_errors
def phi_scan(dir: Path = typer.Argument(..., help="Folder to scan (DICOM, PNG, NIfTI, JSON).")) -> None:
    """Flag likely PHI; one line per finding: path, location, kind, redacted excerpt. Exit 1 if any, 0 if clean."""
    from radsynth.privacy.phi_scan import scan_folder

    res = scan_folder(dir)
    for f in res.findings:
        typer.echo(f.line())
    typer.echo(f"{len(res.findings)} finding(s) in {res.n_scanned} scanned of {res.n_files} files", err=True)
    if res.findings:
        raise typer.Exit(EXIT_FINDINGS)
