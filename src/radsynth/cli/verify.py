"""``radsynth verify DIR``: check a signed output folder (signature, sha256 of every file, unlisted files).

Light imports only at module level; ``cryptography`` is imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

EXIT_PROBLEMS = 1


def _safe(s: str) -> str:
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def verify(
    folder: Path = typer.Argument(..., metavar="DIR", help="Signed output folder (with SHA256SUMS, SHA256SUMS.sig)."),
    public_key: Optional[Path] = typer.Option(None, "--public-key", help="Trusted public key (PEM) to check the "
                                              "signature against; default: the folder's signing_key.pub.pem."),
) -> None:
    """Verify a signed folder: Ed25519 signature, sha256 of every listed file, files added since. Exit 0 ok, 1
    problems (one line each), 2 bad input."""
    from radsynth.provenance.signing import verify_dataset

    res = verify_dataset(folder, public_key_path=public_key)
    if res:
        for p in res:
            typer.echo(_safe(f"{p['problem']}: {p['path']}: {p['detail']}"))
        raise typer.Exit(EXIT_PROBLEMS)
    typer.echo(f"ok: {res.n_files} files, signature valid (key {(res.key_fingerprint or '')[:16]})")
    own = {"match": "it is your own signing key", "differs": "it is NOT your own signing key",
           "none": "you have no signing key to compare with"}[res.own_key]
    if res.key_source == "folder":
        typer.echo(f"  checked against the public key shipped in the folder; {own}. The folder key proves "
                   "integrity, not origin: pass --public-key with a key you trust.")
    else:
        typer.echo(_safe(f"  checked against {public_key}; {own}."))
