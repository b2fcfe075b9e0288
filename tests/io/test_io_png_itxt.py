"""PNG synthetic marking: iTXt provenance, standard text keys, XMP digital source type (issue #11 item 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from radsynth.io import (
    ALGORITHMIC_MEDIA,
    SYNTHETIC_NOTE,
    TRAINED_ALGORITHMIC_MEDIA,
    digital_source_type,
)
from radsynth.io.png import (
    PROVENANCE_KEY,
    XMP_KEY,
    png_chunks,
    read_png_marking,
    write_mask_preview,
    write_png16,
)

PIX = (np.arange(24 * 32).reshape(24, 32) * 37 % 65536).astype(np.uint16)


def _prov(gen: str) -> dict:
    return {"generator": gen, "generator_version": "1.2", "config_hash": "c" * 64, "seed": 7,
            "note": "Ünïcode ✓ stays UTF-8"}


def _text_chunks(path) -> dict[str, bytes]:
    return {data.split(b"\x00", 1)[0].decode("latin-1"): ctype for ctype, data in png_chunks(path)
            if ctype in (b"tEXt", b"iTXt")}


def test_provenance_is_itxt_utf8_and_standard_keys_present(tmp_path):
    p = write_png16(tmp_path / "a.png", PIX, provenance=_prov("ddpm-2d"), description="sample 3")
    kinds = _text_chunks(p)
    assert kinds[PROVENANCE_KEY] == b"iTXt" and kinds[XMP_KEY] == b"iTXt"
    assert {kinds["Software"], kinds["Description"], kinds["Comment"]} == {b"tEXt"}
    with Image.open(p) as im:
        doc = json.loads(im.text[PROVENANCE_KEY])
        assert im.text["Comment"] == SYNTHETIC_NOTE and "sample 3" in im.text["Description"]
    assert doc["synthetic"] is True and doc["seed"] == 7
    assert doc["provenance"]["note"] == "Ünïcode ✓ stays UTF-8"  # not mangled to '?' as tEXt would
    m = read_png_marking(p)
    assert m["marking"] == doc and m["marking_chunk"] == "iTXt" and not m["c2pa"] and not m["label_mask"]
    assert m["software"].startswith("radsynth ")


@pytest.mark.parametrize("gen,dst", [("ddpm-2d", TRAINED_ALGORITHMIC_MEDIA), ("learned-2d", TRAINED_ALGORITHMIC_MEDIA),
                                     ("radsynth.ldm", TRAINED_ALGORITHMIC_MEDIA), ("mri-brain", ALGORITHMIC_MEDIA),
                                     ("ct-chest", ALGORITHMIC_MEDIA), ("xray-chest", ALGORITHMIC_MEDIA),
                                     ("organic", ALGORITHMIC_MEDIA)])
def test_xmp_digital_source_type(tmp_path, gen, dst):
    assert digital_source_type({"generator": gen}) == dst
    p = write_png16(tmp_path / "a.png", PIX, provenance=_prov(gen))
    assert read_png_marking(p)["digital_source_type"] == dst
    with Image.open(p) as im:
        xmp = im.text[XMP_KEY]
    assert "Iptc4xmpExt:DigitalSourceType" in xmp and xmp.startswith("<?xpacket begin=")


def test_deterministic_and_mask_flag(tmp_path):
    a = write_png16(tmp_path / "a.png", PIX, provenance=_prov("ct-chest"))
    b = write_png16(tmp_path / "b.png", PIX, provenance=_prov("ct-chest"))
    assert a.read_bytes() == b.read_bytes()
    m = write_mask_preview(tmp_path / "m.png", np.ones((4, 4, 3), dtype=np.uint8), provenance=_prov("ct-chest"))
    assert read_png_marking(m)["label_mask"] is True
    assert not list(tmp_path.glob(".*tmp*"))


def test_read_png_marking_rejects_non_png(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"not a png at all")
    with pytest.raises(ValueError):
        read_png_marking(p)
    good = write_png16(tmp_path / "g.png", PIX)
    (tmp_path / "t.png").write_bytes(good.read_bytes()[:60])
    with pytest.raises(ValueError):
        read_png_marking(tmp_path / "t.png")
