"""De-identify every DICOM file of pydicom's test data and the pydicom-data package (``data_store``).

Prints one row per file and a summary: attributes removed, surviving PS3.15 basic-profile values
(must be 0), new dciodvfy errors (output errors not in the input's error set), PixelData identical
(bytes) and decoded arrays equal (where pydicom can decode). Run: ``python bench/bench_deidentify.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def dciodvfy_errors(path: str) -> set[str] | None:
    exe = shutil.which("dciodvfy")
    if exe is None:
        return None
    r = subprocess.run([exe, "-new", path], capture_output=True, text=True, errors="replace", timeout=120)
    out = set()
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("Error"):
            out.add(re.sub(r"=\s*<[^>]*>", "= <>", line))  # values (UIDs, lengths) change; compare messages
    return out


def all_files() -> list[str]:
    from pydicom.data import get_testdata_files

    return sorted({f for f in get_testdata_files() if os.path.isfile(f)})


def main() -> int:
    warnings.simplefilter("ignore")
    from radsynth.privacy.deid_profile import surviving_values
    from radsynth.privacy.deidentify import DeidConfig, Deidentifier, _write, read_dicom

    deid = Deidentifier(DeidConfig(key=b"bench-key-0123456789abcdef"))
    tmp = Path(tempfile.mkdtemp())
    rows, t0 = [], time.perf_counter()
    print(f"{'file':44s} {'removed':>7s} {'surv':>4s} {'newerr':>6s} {'pixbytes':>8s} {'decoded':>7s}")
    for i, f in enumerate(all_files()):
        ds = read_dicom(f)
        if ds is None:
            continue
        orig = read_dicom(f)
        rep = deid.deidentify(ds)
        dst = tmp / f"{i}.dcm"
        _write(ds, dst)
        out = read_dicom(dst)
        surv = surviving_values(orig, out)
        pix = ("PixelData" in orig) == ("PixelData" in out) and (
            "PixelData" not in orig or orig.PixelData == out.PixelData)
        try:
            dec = "same" if np.array_equal(orig.pixel_array, out.pixel_array) else "DIFF"
        except Exception:
            dec = "n/a"
        e_in, e_out = dciodvfy_errors(f), dciodvfy_errors(str(dst))
        new = "n/a" if e_in is None else len(e_out - e_in)
        rows.append((f, len(rep.removed) + rep.private_removed, len(surv), new, pix, dec))
        print(f"{os.path.basename(f)[:44]:44s} {rows[-1][1]:7d} {len(surv):4d} {new!s:>6s} {pix!s:>8s} {dec:>7s}")
        for s in surv:
            print("   SURVIVES", s)
        if new not in ("n/a", 0):
            for e in sorted(e_out - e_in):
                print("   NEW", e)
    shutil.rmtree(tmp)
    n = len(rows)
    print(f"\nfiles {n}; attributes removed {sum(r[1] for r in rows)}; surviving basic-profile values "
          f"{sum(r[2] for r in rows)}; files with new dciodvfy errors "
          f"{sum(1 for r in rows if r[3] not in ('n/a', 0))}; PixelData identical {sum(r[4] for r in rows)}/{n}; "
          f"decoded equal {sum(r[5] == 'same' for r in rows)} (n/a {sum(r[5] == 'n/a' for r in rows)}, "
          f"DIFF {sum(r[5] == 'DIFF' for r in rows)}); {time.perf_counter() - t0:.0f} s")
    bad = sum(r[2] for r in rows) + sum(1 for r in rows if r[3] not in ("n/a", 0)) + sum(not r[4] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
