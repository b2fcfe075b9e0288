"""``radsynth watermark embed IN OUT --payload ID`` and ``radsynth watermark detect FILE...``.

Images: PNG / JPEG (grey or RGB, 8 or 16 bit; a JPEG is written back as PNG, lossless), NIfTI (a
volume is marked and read as its stack of axial display slices, as radsynth's writers do), and
single-frame DICOM for ``detect``. Exit codes of ``detect``: 0 every file carries a mark, 1 some
file does not, 2 bad input (one line on stderr). ``embed`` writes OUT atomically and never
overwrites.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

watermark_app = typer.Typer(help="Invisible watermark: embed a 64-bit payload, detect it (payload and p-value).",
                            no_args_is_help=True)

_RASTER = (".png", ".jpg", ".jpeg")
_ACCEPTED = "a PNG, JPEG, NIfTI (.nii, .nii.gz) or DICOM image file"


def _kind(path: Path, field: str, dicom: bool) -> str:
    from radsynth.core.errors import RadsynthInputError

    low = path.name.lower()
    if low.endswith(_RASTER):
        return "raster"
    if low.endswith((".nii", ".nii.gz")):
        return "nifti"
    if dicom and (low.endswith(".dcm") or "." not in low):
        return "dicom"
    raise RadsynthInputError(field, str(path), _ACCEPTED if dicom else "a PNG, JPEG or NIfTI image file")


def _read_key(key_file: Path | None) -> bytes | None:
    from radsynth.core.errors import RadsynthInputError

    if key_file is None:
        return None
    try:
        data = key_file.read_bytes()
    except OSError as exc:
        raise RadsynthInputError("--key-file", str(key_file), "a readable file holding the watermark key",
                                 f"({exc.strerror or exc}).") from None
    text = b"".join(data.split())
    try:
        key = bytes.fromhex(text.decode("ascii")) if text and len(text) % 2 == 0 else data
    except (UnicodeDecodeError, ValueError):
        key = data
    if not 16 <= len(key) <= 4096:
        raise RadsynthInputError("--key-file", str(key_file), "16 to 4096 secret bytes (raw, or as hex text)",
                                 f"The file holds {len(key)} key bytes.")
    return key


def _load(path: Path, kind: str) -> tuple[Any, Any]:
    """(array for the watermark: 2D image or (z, rows, cols) stack, context to write it back)."""
    import numpy as np

    from radsynth.core.errors import RadsynthInputError

    if not path.is_file():
        raise RadsynthInputError("FILE", str(path), "an existing image file")
    try:
        if kind == "raster":
            from PIL import Image

            with Image.open(path) as im:
                im.load()
                mode = im.mode
                if mode in ("P", "PA", "LA", "RGBA", "CMYK", "YCbCr", "1"):
                    im = im.convert("RGB" if mode != "1" else "L")
                if mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = np.asarray(im).astype(np.uint16)
                else:
                    arr = np.asarray(im)
            return arr, None
        if kind == "nifti":
            import nibabel as nib

            from radsynth.io.png import axial_display_stack, projection_for_display

            img = nib.load(str(path))
            data = np.asanyarray(img.dataobj)
            sq = np.squeeze(data)
            if sq.ndim == 3:
                return axial_display_stack(sq), img
            if sq.ndim == 2:
                return projection_for_display(sq), img
            raise RadsynthInputError("FILE", str(path), "a 2D image or 3D volume", f"It has shape {data.shape}.")
        import pydicom

        ds = pydicom.dcmread(path)
        return np.asarray(ds.pixel_array), ds
    except RadsynthInputError:
        raise
    except Exception as exc:  # noqa: BLE001 - PIL/nibabel/pydicom raise many types for a damaged file
        raise RadsynthInputError("FILE", str(path), _ACCEPTED,
                                 f"It could not be read ({type(exc).__name__}).") from None


def embed(
    src: Path = typer.Argument(..., metavar="IN", help="Image to mark (PNG, JPEG, NIfTI)."),
    out: Path = typer.Argument(..., metavar="OUT", help="Marked copy (.png for PNG/JPEG input, .nii/.nii.gz for NIfTI); "
                               "must not exist."),
    payload: str = typer.Option(..., "--payload", help="16 hex digits, or any dataset / job id (hashed to 64 bits)."),
    key_file: Optional[Path] = typer.Option(None, "--key-file", help="Private watermark key (default: radsynth's "
                                            "public key, detectable by anyone)."),
    psnr: float = typer.Option(45.3, "--psnr", help="Target PSNR in dB against the unmarked image (30-80)."),
) -> None:
    """Embed an invisible watermark carrying PAYLOAD; prints the payload, key id and PSNR."""
    import numpy as np

    from radsynth.core.errors import RadsynthInputError
    from radsynth.io.atomic import atomic_path
    from radsynth.provenance import watermark as wm

    kind = _kind(src, "IN", dicom=False)
    out_kind = _kind(out, "OUT", dicom=False)
    if (kind == "nifti") != (out_kind == "nifti") or out.name.lower().endswith((".jpg", ".jpeg")):
        raise RadsynthInputError("OUT", str(out), ".png for a PNG/JPEG input (lossless), .nii/.nii.gz for a NIfTI input")
    if out.exists():
        raise RadsynthInputError("OUT", str(out), "a path that does not exist yet (nothing is overwritten)")
    cfg = wm.WatermarkConfig(psnr_db=psnr)
    key = _read_key(key_file)
    pay = wm.payload_from_id(payload)
    array, ctx = _load(src, kind)
    if array.ndim == 3 and kind == "nifti":
        marked, rec = wm.embed_volume(array, pay, key=key, config=cfg, axis=0)
    else:
        marked, rec = wm.embed_watermark(array, pay, key=key, config=cfg)
    with atomic_path(out) as tmp:
        if kind == "raster":
            from PIL import Image

            Image.fromarray(marked).save(tmp, format="PNG")
        else:
            from radsynth.io.png import axial_display_unstack, display_to_xz

            stored = np.asanyarray(ctx.dataobj)
            data = axial_display_unstack(marked) if marked.ndim == 3 else display_to_xz(marked)
            img = type(ctx)(data.reshape(stored.shape).astype(stored.dtype), ctx.affine, ctx.header)
            tmp.write_bytes(img.to_bytes() if not out.name.lower().endswith(".gz") else _gzip(img.to_bytes()))
    typer.echo(json.dumps({"out": str(out), **rec.to_dict()}, sort_keys=True))


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, compresslevel=6, mtime=0)


def detect(
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="Images (PNG, JPEG, NIfTI, DICOM)."),
    payload: Optional[list[str]] = typer.Option(None, "--payload", help="Look only for this payload's mark (repeatable: "
                                                "candidates, e.g. every dataset id you issued); far more robust "
                                                "than decoding it blind."),
    key_file: Optional[Path] = typer.Option(None, "--key-file", help="The key the mark was made with (default: "
                                            "radsynth's public key)."),
    threshold: float = typer.Option(1e-6, "--threshold", help="p-value at or below which a mark counts as found."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per file."),
) -> None:
    """Detect the watermark: payload and p-value per file. Exit 0 all marked, 1 some not, 2 bad input."""
    from radsynth.provenance import watermark as wm

    key = _read_key(key_file)
    kinds = [_kind(f, "FILE", dicom=True) for f in files]
    loaded = [_load(f, k)[0] for f, k in zip(files, kinds)]  # every file read before anything is printed
    missing = 0
    for f, k, array in zip(files, kinds, loaded):
        cand = list(payload) if payload else None
        if array.ndim == 3 and k == "nifti":
            res = wm.detect_volume(array, key=key, threshold=threshold, axis=0, payload=cand)
        else:
            res = wm.detect_watermark(array, key=key, threshold=threshold, payload=cand)
        missing += not res.found
        if as_json:
            typer.echo(json.dumps({"file": str(f), **res.to_dict()}, sort_keys=True))
        else:
            what = f"payload {res.payload}" if res.payload else ("mark found, payload not decoded" if res.found else "no mark")
            typer.echo(f"{'found' if res.found else 'not found'}: {f}: {what} (p = {res.p_value:.3g})")
    if missing:
        raise typer.Exit(1)


def register(app: typer.Typer, wrap) -> None:  # type: ignore[no-untyped-def]
    """Add the ``watermark`` sub-app (``embed``, ``detect``) to the main app (``wrap``: the user-error wrapper)."""
    watermark_app.command("embed")(wrap(embed))
    watermark_app.command("detect")(wrap(detect))
    app.add_typer(watermark_app, name="watermark")
