"""``radsynth verify DIR`` (signature, sha256 of every file, unlisted files, synthetic marks, watermarks) and
``radsynth c2pa sign DIR`` / ``radsynth c2pa show FILE`` (opt-in C2PA content credentials).

Light imports only at module level; ``cryptography``/``c2pa`` are imported when a command runs.
Exit codes of ``verify``: 0 all good, 1 problems (one line each: ``problem: path: detail``), 2 bad input
(not a folder, SHA256SUMS or a public key that cannot be parsed; one line on stderr, nothing written).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

EXIT_PROBLEMS = 1
EXIT_BAD_INPUT = 2

c2pa_app = typer.Typer(help="Opt-in C2PA content credentials for PNG/JPEG outputs (not byte-deterministic).",
                       no_args_is_help=True)


def _safe(s: str) -> str:
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def verify(
    folder: Path = typer.Argument(..., metavar="DIR", help="Signed output folder (with SHA256SUMS, SHA256SUMS.sig)."),
    public_key: Optional[Path] = typer.Option(None, "--public-key", help="Trusted public key (PEM) to check the "
                                              "signature against; default: the folder's signing_key.pub.pem."),
    marks: Optional[bool] = typer.Option(None, "--marks/--no-marks", help="Check that every image is marked "
                                         "synthetic (DICOM, NIfTI, PNG, C2PA) and carries its declared watermark; "
                                         "default: for radsynth outputs (build.json / sampling.json signed)."),
) -> None:
    """Verify a signed folder: Ed25519 signature, sha256 of every listed file, files added since, synthetic marks
    of every image, C2PA manifests, watermarks. Exit 0 ok, 1 problems (one line each), 2 bad input."""
    from radsynth.provenance.signing import verify_dataset

    res = verify_dataset(folder, public_key_path=public_key, marks=marks)
    if res.bad_input:
        typer.echo(_safe(f"error: DIR: {res.bad_input}; accepted: a folder signed by radsynth (sign it again, or "
                         "restore SHA256SUMS / signing_key.pub.pem)"), err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    if res:
        for p in res:
            typer.echo(_safe(f"{p['problem']}: {p['path']}: {p['detail']}"))
        raise typer.Exit(EXIT_PROBLEMS)
    extra = f", {res.n_images} images marked synthetic" if res.marks_checked else ""
    typer.echo(f"ok: {res.n_files} files, signature valid (key {(res.key_fingerprint or '')[:16]}){extra}")
    own = {"match": "it is your own signing key", "differs": "it is NOT your own signing key",
           "none": "you have no signing key to compare with"}[res.own_key]
    if res.key_source == "folder":
        typer.echo(f"  checked against the public key shipped in the folder; {own}. The folder key proves "
                   "integrity, not origin: pass --public-key with a key you trust.")
    else:
        typer.echo(_safe(f"  checked against {public_key}; {own}."))


def c2pa_sign(
    folder: Path = typer.Argument(..., metavar="DIR", help="A signed radsynth output folder (must verify)."),
) -> None:
    """Embed signed C2PA manifests (c2pa.created + IPTC digital source type + radsynth.provenance) into every
    PNG/JPEG of DIR, then re-sign SHA256SUMS. Keys: config dir keys/c2pa/. The files are no longer byte-identical
    across runs (C2PA ids and ES256 signatures are random), which is why this is not done by default."""
    from radsynth.provenance.signing import _check_folder

    _check_folder(folder, "DIR")
    done = c2pa_sign_folder(folder)
    typer.echo(f"c2pa: signed {len(done)} files in {folder}" + ("; SHA256SUMS re-signed" if done else
                                                                   " (none unsigned)"))


def c2pa_show(path: Path = typer.Argument(..., metavar="FILE", help="A PNG or JPEG file.")) -> None:
    """Print the C2PA manifest state of FILE (exit 1 when absent or invalid)."""
    from radsynth.core.errors import RadsynthInputError
    from radsynth.provenance.c2pa_manifest import c2pa_read

    if not path.is_file():
        raise RadsynthInputError("FILE", str(path), "an existing PNG or JPEG file")
    rep = c2pa_read(path)
    if not rep.present:
        typer.echo(f"no C2PA manifest: {path}")
        raise typer.Exit(EXIT_PROBLEMS)
    typer.echo(f"{rep.state}: {path}: claim generator {rep.claim_generator}, digital source type "
               f"{rep.digital_source_type}, assertions {', '.join(sorted(rep.assertions))}")
    for f in rep.failures:
        typer.echo(_safe(f"  failure: {f}"))
    if not rep.valid:
        raise typer.Exit(EXIT_PROBLEMS)


def c2pa_sign_folder(folder: Path) -> list[Path]:
    """Add C2PA manifests to every unsigned PNG/JPEG of a signed radsynth folder, then re-sign SHA256SUMS.

    The folder must verify first (signature, hashes, marks): credentials are never put on content
    that changed after radsynth signed it. Returns the files signed. Raises RadsynthInputError
    (nothing written) when the folder does not verify. Lives in the CLI layer because it joins
    signing (SHA256SUMS) and C2PA, which do not import each other.
    """
    from radsynth.core.errors import RadsynthInputError
    from radsynth.io.png import read_png_marking
    from radsynth.provenance.c2pa_manifest import (
        MIME_TYPES,
        c2pa_read,
        c2pa_sign_file,
        load_or_create_c2pa_credentials,
    )
    from radsynth.provenance.signing import _walk, sign_dataset, verify_dataset

    res = verify_dataset(folder)
    if res.bad_input or res:
        first = res[0]
        raise RadsynthInputError("DIR", str(folder), "a folder that passes `radsynth verify`",
                                 f"{len(res)} problem(s), e.g. {first['problem']}: {first['path']}: {first['detail']}")
    files, _ = _walk(folder)
    todo = [folder / rel for rel in files if Path(rel).suffix.lower() in MIME_TYPES]
    creds = load_or_create_c2pa_credentials()
    done: list[Path] = []
    for p in todo:
        signed = read_png_marking(p)["c2pa"] if p.suffix.lower() == ".png" else c2pa_read(p).present
        if signed:
            continue
        c2pa_sign_file(p, credentials=creds)
        done.append(p)
    if done:
        sign_dataset(folder)
    return done


def register(app: typer.Typer, wrap) -> None:  # type: ignore[no-untyped-def]
    """Add ``verify`` and the ``c2pa`` sub-app to the main app (``wrap``: the user-error wrapper)."""
    app.command("verify")(wrap(verify))
    c2pa_app.command("sign")(wrap(c2pa_sign))
    c2pa_app.command("show")(wrap(c2pa_show))
    app.add_typer(c2pa_app, name="c2pa")
