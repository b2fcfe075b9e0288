"""Every writer gives the same bytes in a fresh Python process (different pid, time, hash seed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import sys
from pathlib import Path
import numpy as np
from radsynth.core.records import ImageRecord, MaskRecord, Provenance
from radsynth.io.nifti import write_nifti
from radsynth.io.png import write_preview
from radsynth.io.dicom_series import write_mr_series
from radsynth.io.dicom_seg import write_seg
from radsynth.io.manifest import write_manifest, manifest_row

out = Path(sys.argv[1])
rng = np.random.default_rng(5)
vol = (rng.random((16, 16, 4)) * 500).astype(np.float32)
aff = np.diag([1.0, 1.0, 2.0, 1.0])
prov = Provenance("physics_mri", "0.1", {"a": 1}, 42).to_dict()
img = ImageRecord(vol, aff, "MR", "T2w", "a.u.", {"tr_ms": 4000.0, "te_ms": 90.0})
mask = np.zeros(vol.shape, np.uint8); mask[4:8, 4:8, 1:3] = 1
files = [write_nifti(out / "t2w.nii.gz", vol, aff, provenance=prov), write_preview(out / "t2w.png", vol, provenance=prov)]
files += write_mr_series(out / "dcm", img, subject_id="sub-1", study_key="s", series_number=1,
                         series_description="T2w", provenance=prov, patient_sex=None, patient_age_years=None)
files.append(write_seg(out / "seg.dcm", files[2:], [MaskRecord("tumour", mask)], affine=aff, series_number=2, provenance=prov))
rows = [manifest_row(out, f, subject="sub-1", kind="image", format="nifti", provenance=prov) for f in files]
write_manifest(out / "manifest.parquet", rows)
"""


def _run(out: Path, hash_seed: str) -> dict[str, bytes]:
    env = dict(os.environ, PYTHONHASHSEED=hash_seed, TZ="Pacific/Auckland" if hash_seed == "1" else "UTC")
    subprocess.run([sys.executable, "-c", SCRIPT, str(out)], check=True, env=env, timeout=120)
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_writers_byte_identical_across_processes(tmp_path):
    a = _run(tmp_path / "a", "1")
    b = _run(tmp_path / "b", "2")
    assert len(a) == 9 and a.keys() == b.keys()  # nifti + its JSON sidecar, png, 4 slices, seg, manifest
    assert "t2w.json" in a
    for name in a:
        assert a[name] == b[name], name
    assert not [n for n in a if ".tmp-" in n]
