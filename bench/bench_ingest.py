"""Throughput of `radsynth ingest` on a generated class folder (seeded random pixels, 3 images per patient).

Usage: python bench/bench_ingest.py [--n 400] [--size 256] [--formats png,jpeg,dicom] [--workers 1,2]

PNG (8-bit grey), JPEG (8-bit grey, quality 90) or DICOM (CT_small.dcm of pydicom with its pixels replaced
by size x size 16-bit noise and its own PatientID). Everything runs in a temporary folder with a temporary
radsynth config folder (signing key, audit log), never the user's. Prints one row per (format, workers):
images written, seconds, images/s, MB/s of source read; and checks that the repeat is byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def make_source(root: Path, fmt: str, n: int, size: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    src = root / f"src-{fmt}"
    template = None
    if fmt == "dicom":
        import pydicom
        from pydicom.data import get_testdata_file

        template = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    for i in range(n):
        d = src / ("A" if i % 2 else "B")
        d.mkdir(parents=True, exist_ok=True)
        stem = f"person{i // 3}_x_{i}"
        if fmt == "dicom":
            assert template is not None
            ds = template.copy()
            ds.PatientID = f"PAT{i // 3:05d}"
            ds.Rows = ds.Columns = size
            ds.PixelData = rng.integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
            ds.save_as(d / f"{stem}.dcm")
        else:
            im = Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8))
            im.save(d / f"{stem}.{'jpg' if fmt == 'jpeg' else 'png'}", **({"quality": 90} if fmt == "jpeg" else {}))
    return src


def tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--formats", default="png,jpeg,dicom")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="radsynth-bench-ingest-") as tmp:
        root = Path(tmp)
        os.environ["RADSYNTH_CONFIG_DIR"] = str(root / "config")  # signing key + audit log: not the user's
        from radsynth.ingest import ingest

        key = root / "deid.key"
        key.write_text("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n")
        warm = make_source(root / "warm", "png", 4, 16)  # imports and first-call costs out of the timings
        ingest(warm, root / "warm" / "out", key_file=key, progress=False)
        print(f"{'format':7s} {'workers':>7s} {'images':>7s} {'seconds':>8s} {'img/s':>7s} {'MB/s':>6s} repeat")
        for fmt in [f for f in args.formats.split(",") if f]:
            src = make_source(root, fmt, args.n, args.size)
            mb = sum(p.stat().st_size for p in src.rglob("*") if p.is_file()) / 1e6
            first = None
            for w in [int(x) for x in args.workers.split(",") if x]:
                out = root / f"out-{fmt}-{w}"
                t = time.perf_counter()
                res = ingest(src, out, key_file=key, workers=w, progress=False)
                dt = time.perf_counter() - t
                h = tree_hash(out)
                first = first or h
                print(f"{fmt:7s} {w:7d} {res.n_written:7d} {dt:8.2f} {res.n_written / dt:7.0f} {mb / dt:6.1f} "
                      f"{'identical' if h == first else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
