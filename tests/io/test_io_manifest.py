"""Parquet manifest: explicit schema, sorted rows, label/attribute columns, stable bytes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.io.manifest import MANIFEST_COLUMNS, manifest_row, read_manifest, write_manifest


def _rows(provenance):
    base = dict(
        modality="MR", sequence="T1w", seed=provenance["seed"], generator="physics_mri",
        generator_version="0.1", config_hash=provenance["config_hash"],
    )  # fmt: skip
    return [
        dict(base, subject="sub-0002", path="sub-0002/t1w.nii.gz", kind="image", format="nifti", sha256="b" * 64,
             labels={"tumour": False}, attributes={"age_years": 70, "sex": "F"}),
        dict(base, subject="sub-0001", path="sub-0001/t1w.nii.gz", kind="image", format="nifti", sha256="a" * 64,
             labels={"tumour": True, "infarct": False}, attributes={"age_years": 45.5, "sex": "M"}),
        dict(base, subject="sub-0001", path="sub-0001/dicom/t1w/slice_0001.dcm", kind="dicom_series",
             format="dicom", sha256="c" * 64, label_tumour=True, attr_age_years=45.5),
    ]  # fmt: skip


def test_manifest_schema_sort_and_columns(tmp_path, provenance):
    t = read_manifest(write_manifest(tmp_path / "manifest.parquet", _rows(provenance)))
    assert tuple(t.column_names[: len(MANIFEST_COLUMNS)]) == MANIFEST_COLUMNS
    assert t.column_names[len(MANIFEST_COLUMNS) :] == ["label_infarct", "label_tumour", "attr_age_years", "attr_sex"]
    assert t.schema.field("seed").type == pa.int64()
    assert t.schema.field("label_tumour").type == pa.bool_()
    assert t.schema.field("attr_age_years").type == pa.float64()
    assert t.schema.field("attr_sex").type == pa.string()
    d = t.to_pydict()
    assert d["path"] == ["sub-0001/dicom/t1w/slice_0001.dcm", "sub-0001/t1w.nii.gz", "sub-0002/t1w.nii.gz"]
    assert d["label_infarct"] == [None, False, None] and d["label_tumour"] == [True, True, False]
    assert d["attr_age_years"] == [45.5, 45.5, 70.0] and d["seed"] == [provenance["seed"]] * 3
    assert len(set(d["id"])) == 3


def test_manifest_deterministic(tmp_path, provenance):
    a = write_manifest(tmp_path / "a.parquet", _rows(provenance))
    b = write_manifest(tmp_path / "b.parquet", list(reversed(_rows(provenance))))
    assert a.read_bytes() == b.read_bytes()


def test_manifest_row_from_file(tmp_path, provenance):
    f = tmp_path / "sub-0001" / "x.png"
    f.parent.mkdir()
    f.write_bytes(b"abc")
    row = manifest_row(tmp_path, f, subject="sub-0001", kind="preview", format="png", provenance=provenance)
    assert row["path"] == "sub-0001/x.png"
    assert row["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc"), FIPS 180-2
    assert read_manifest(write_manifest(tmp_path / "m.parquet", [row])).num_rows == 1


@pytest.mark.parametrize(
    "change",
    [{"kind": "volume"}, {"format": "jpeg"}, {"path": "/abs/x.nii.gz"}, {"path": "../x"}, {"sha256": ""}, {"bogus": 1}],
)
def test_manifest_rejects_bad_rows(tmp_path, provenance, change):
    rows = _rows(provenance)
    rows[0].update(change)
    with pytest.raises(RadsynthInputError):
        write_manifest(tmp_path / "m.parquet", rows)


def test_manifest_rejects_duplicate_paths(tmp_path, provenance):
    rows = _rows(provenance)
    with pytest.raises(RadsynthInputError):
        write_manifest(tmp_path / "m.parquet", rows + rows[:1])
