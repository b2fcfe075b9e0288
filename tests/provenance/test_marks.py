"""Per-file-type synthetic-mark checks (radsynth.provenance.marks), each shown to fail when the mark is gone."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from marked_folder import (
    DCM,
    MASK_NII,
    MASK_PNG,
    NII,
    PNG,
    PROV,
    make_folder,
    write_dicom,
)

from radsynth.io.png import write_png16
from radsynth.provenance.marks import (
    check_file,
    check_marks,
    check_watermarks,
    declared_watermark,
    image_kind,
)


def _details(problems):
    return [(p["problem"], p["path"]) for p in problems]


def test_marked_folder_passes_and_masks_are_known(tmp_path):
    root = make_folder(tmp_path / "d")
    rels = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    items, problems = check_marks(root, rels)
    assert problems == []
    kinds = {i.rel: (i.kind, i.is_mask) for i in items}
    assert kinds == {PNG: ("png", False), MASK_PNG: ("png", True), NII: ("nifti", False), MASK_NII: ("nifti", True),
                     DCM: ("dicom", False)}  # sidecars, build.json, subject.json are not images
    assert all(i.marking and i.marking["seed"] == 5 for i in items)


def test_unmarked_png(tmp_path):
    root = tmp_path
    p = write_png16(root / "a.png", np.zeros((4, 4), np.uint16), provenance=PROV)
    from PIL import Image

    with Image.open(p) as im:
        im.load()
        im.save(root / "plain.png")  # Pillow drops the radsynth text chunks
    _, bad = check_file(root, "plain.png")
    assert _details(bad) == [("mark", "plain.png")]
    (root / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x07" * 50)
    _, bad = check_file(root, "junk.png")
    assert _details(bad) == [("mark", "junk.png")] and "readable" in bad[0]["detail"]


def test_nifti_missing_sidecar_descrip_or_extension(tmp_path):
    root = make_folder(tmp_path / "d")
    (root / NII).with_name("sub-0001_T1w.json").unlink()
    _, bad = check_file(root, NII)
    assert len(bad) == 1 and "sidecar" in bad[0]["detail"]
    side = (root / MASK_NII).with_name("sub-0001_tumour.json")
    side.write_text(json.dumps({"SyntheticData": False}))
    _, bad = check_file(root, MASK_NII)
    assert len(bad) == 1 and "SyntheticData" in bad[0]["detail"]
    # rewrite the header: descrip changed, extension dropped
    import nibabel as nib

    img = nib.load(root / NII)
    img.header["descrip"] = b"real scan"
    img.header.extensions.clear()
    raw = img.to_bytes() if hasattr(img, "to_bytes") else None
    (root / NII).write_bytes(gzip.compress(raw))
    _, bad = check_file(root, NII)
    details = " | ".join(b["detail"] for b in bad)
    assert "descrip" in details and "extension" in details


def test_dicom_unmarked(tmp_path):
    write_dicom(tmp_path / "x.dcm", marked=False)
    _, bad = check_file(tmp_path, "x.dcm")
    assert len(bad) == 2 and all(b["problem"] == "mark" for b in bad)
    write_dicom(tmp_path / "noext", marked=True)
    assert image_kind(tmp_path / "noext") == "dicom"
    assert check_file(tmp_path, "noext")[1] == []


def test_jpeg_without_c2pa_is_unmarked(tmp_path):
    from PIL import Image

    Image.new("L", (8, 8)).save(tmp_path / "a.jpg")
    _, bad = check_file(tmp_path, "a.jpg")
    assert _details(bad) == [("mark", "a.jpg")]


def test_watermark_hook_skips_without_declaration(tmp_path):
    root = make_folder(tmp_path / "d")
    items, _ = check_marks(root, [PNG, MASK_PNG, NII])
    assert declared_watermark(items[0].marking) is None
    assert check_watermarks(root, items) == []  # nothing declared: nothing to detect
    assert declared_watermark({"provenance": {"watermark": {"payload": "ab"}}}) == {"payload": "ab"}
