"""Seed inputs for the fuzz harness: small valid DICOM, NIfTI, PNG files, cohort specs and a signed folder.

Shared by ``tests/fuzz`` (small Hypothesis counts) and ``bench/bench_fuzz.py`` (the full count).
Everything is deterministic: fixed arrays, fixed pydicom test files, the shipped ``examples/*.yaml``.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]

#: pydicom's own test files (small, varied: explicit/implicit VR, big endian, RLE, RGB, no meta, RT plan).
PYDICOM_SEEDS = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "MR_small_RLE.dcm", "SC_rgb.dcm",
                 "MR_small_bigendian.dcm", "no_meta.dcm", "liver_1frame.dcm")


@dataclass
class Seeds:
    """name -> bytes per format; ``spec`` values are YAML bytes."""

    dicom: dict[str, bytes] = field(default_factory=dict)
    nifti: dict[str, bytes] = field(default_factory=dict)  # names end in .nii or .nii.gz
    png: dict[str, bytes] = field(default_factory=dict)
    spec: dict[str, bytes] = field(default_factory=dict)


def _image(h: int = 24, w: int = 20) -> np.ndarray:
    rng = np.random.default_rng(20240611)
    a = rng.random((h, w)).astype(np.float32)
    a[0, 0] = 1.0
    return a


def _provenance() -> dict:
    from radsynth.core.records import Provenance

    return Provenance(generator="fuzz", generator_version="0.1", config={"n": 1}, seed=1, sampled={}).to_dict()


def radsynth_dicom(tmp: Path) -> bytes:
    """A DX For Presentation file written by radsynth (synthetic marks, private provenance block)."""
    from radsynth.core.records import ImageRecord
    from radsynth.io.dicom_dx import write_dx

    aff = np.zeros((4, 4))
    aff[0, 0] = aff[2, 1] = 0.4
    aff[1, 2] = aff[3, 3] = 1.0
    acq = {"view": "PA", "sid_mm": 1800.0, "sod_mm": 1600.0, "pixel_mm": 0.4, "kvp": 125, "mas": 2.5,
           "body_part": "chest", "detector_type": "scintillator"}
    rec = ImageRecord(_image(20, 24), aff, "DX", "", "a.u.", acq)
    p = write_dx(tmp / "radsynth_dx.dcm", rec, subject_id="sub-0001", study_key="ses-01", series_number=1,
                 provenance=_provenance(), patient_sex="F", patient_age_years=30)
    return Path(p).read_bytes()


def radsynth_nifti(gz: bool, slices: int = 4) -> bytes:
    """A small 3D (``slices`` > 1) or 2D NIfTI-1 as radsynth writes it (provenance extension), optionally
    gzipped (mtime 0)."""
    import gzip

    from radsynth.io.nifti import nifti_bytes

    vol = (np.stack([_image(12, 10)] * slices, axis=-1) * 900.0).astype(np.float32)
    vol = vol if slices > 1 else vol[:, :, 0]
    raw = nifti_bytes(vol, np.diag([1.0, 1.0, 2.0, 1.0]), description="fuzz", provenance=_provenance())
    return gzip.compress(raw, mtime=0) if gz else raw


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)


def bomb_png(width: int = 20000, height: int = 20000) -> bytes:
    """A greyscale 8-bit PNG declaring width x height (400 Mpx by default) of zeros, ~400 kB compressed."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", body) + _png_chunk(b"IEND", b"")


def tiny_bomb_png() -> bytes:
    """A PNG whose IHDR declares 100000 x 100000 pixels but carries one tiny IDAT (header-only bomb)."""
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


def pil_pngs() -> dict[str, bytes]:
    """8-bit grey, 16-bit grey, RGB, palette and RGBA PNGs (Pillow), plus a JPEG."""
    from PIL import Image

    a = _image()
    out = {}
    for name, im in (
        ("grey8.png", Image.fromarray((a * 255).astype(np.uint8))),
        ("grey16.png", Image.fromarray((a * 65535).astype(np.uint16))),
        ("rgb.png", Image.fromarray((np.stack([a] * 3, -1) * 255).astype(np.uint8))),
        ("rgba.png", Image.fromarray((np.stack([a] * 4, -1) * 255).astype(np.uint8))),
        ("palette.png", Image.fromarray((a * 255).astype(np.uint8)).convert("P")),
        ("grey.jpg", Image.fromarray((a * 255).astype(np.uint8))),
    ):
        buf = io.BytesIO()
        im.save(buf, format="JPEG" if name.endswith(".jpg") else "PNG")
        out[name] = buf.getvalue()
    return out


def radsynth_png(tmp: Path) -> bytes:
    """A 16-bit PNG as radsynth writes it (iTXt/XMP synthetic marks)."""
    from radsynth.io.png import write_png16

    return Path(write_png16(tmp / "radsynth16.png", _image(), provenance=_provenance(),
                            description="fuzz")).read_bytes()


def build_seeds(tmp: Path) -> Seeds:
    """All seeds (``tmp``: scratch folder for the radsynth writers)."""
    import pydicom.data

    tmp.mkdir(parents=True, exist_ok=True)
    s = Seeds()
    for name in PYDICOM_SEEDS:
        p = pydicom.data.get_testdata_file(name)
        if p is not None:
            s.dicom[name] = Path(p).read_bytes()
    s.dicom["radsynth_dx.dcm"] = radsynth_dicom(tmp)
    s.nifti["radsynth.nii"] = radsynth_nifti(False)
    s.nifti["radsynth.nii.gz"] = radsynth_nifti(True)
    s.nifti["radsynth2d.nii.gz"] = radsynth_nifti(True, slices=1)  # 2D: `evaluate` reads it (volumes are refused)
    s.png.update(pil_pngs())
    s.png["radsynth16.png"] = radsynth_png(tmp)
    s.png["tiny_bomb.png"] = tiny_bomb_png()
    for p in sorted((REPO / "examples").glob("*.yaml")):
        s.spec[p.name] = p.read_bytes()
    return s


def signed_folder(dest: Path, seeds: Seeds, private_key) -> Path:  # type: ignore[no-untyped-def]
    """A small folder signed by ``private_key`` that verifies: a build.json marker (so marks are checked), a
    marked PNG, NIfTI (+ JSON sidecar) and DICOM, and a text file."""
    import json

    from radsynth.io.nifti import sidecar_dict
    from radsynth.provenance.signing import sign_dataset

    dest.mkdir(parents=True, exist_ok=True)
    (dest / "build.json").write_text('{"fuzz": true}\n')
    (dest / "images").mkdir(exist_ok=True)
    (dest / "images" / "a.png").write_bytes(seeds.png["radsynth16.png"])
    (dest / "images" / "b.nii.gz").write_bytes(seeds.nifti["radsynth.nii.gz"])
    (dest / "images" / "b.json").write_text(json.dumps(sidecar_dict(_provenance(), "fuzz"), sort_keys=True) + "\n")
    (dest / "images" / "c.dcm").write_bytes(seeds.dicom["radsynth_dx.dcm"])
    (dest / "notes.txt").write_text("hello\n")
    sign_dataset(dest, private_key=private_key)
    return dest
