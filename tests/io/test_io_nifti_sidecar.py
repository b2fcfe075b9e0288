"""NIfTI JSON sidecar (BIDS-style "SyntheticData": true) written atomically next to every image (issue #11)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.io import ALGORITHMIC_MEDIA, SYNTHETIC_NOTE
from radsynth.io.nifti import read_nifti_marking, sidecar_path, write_nifti

AFF = np.diag([1.0, 1.0, 2.0, 1.0])
PROV = {"generator": "mri-brain", "generator_version": "0.3", "config_hash": "ab" * 32, "seed": 42}


def test_sidecar_path():
    assert sidecar_path("/a/sub-01_T1w.nii.gz").name == "sub-01_T1w.json"
    assert sidecar_path("x.NII").name == "x.json"
    with pytest.raises(RadsynthInputError):
        sidecar_path("x.png")


def test_sidecar_written_with_marking(tmp_path):
    arr = np.random.default_rng(0).normal(size=(4, 5, 6)).astype(np.float32)
    p = write_nifti(tmp_path / "img.nii.gz", arr, AFF, description="MR T1w", provenance=PROV)
    assert p == tmp_path / "img.nii.gz"  # returns the image path, as before
    doc = json.loads(sidecar_path(p).read_text())
    assert doc["SyntheticData"] is True and doc["Note"] == SYNTHETIC_NOTE
    assert (doc["Generator"], doc["GeneratorVersion"], doc["ConfigHash"], doc["Seed"]) == (
        "mri-brain", "0.3", "ab" * 32, 42)
    assert doc["Description"] == "MR T1w" and doc["DigitalSourceType"] == ALGORITHMIC_MEDIA and doc["Intent"] == "image"
    info = read_nifti_marking(p)
    assert info["descrip"].startswith("radsynth SYNTHETIC") and info["marking"]["seed"] == 42
    assert info["sidecar"] == doc
    m = write_nifti(tmp_path / "mask.nii", (arr > 0).astype(np.uint8), AFF, intent="label", provenance=PROV)
    assert json.loads(sidecar_path(m).read_text())["Intent"] == "label" and read_nifti_marking(m)["intent"] == 1002


def test_sidecar_deterministic_optional_and_atomic(tmp_path):
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = write_nifti(tmp_path / "a" / "x.nii.gz", arr, AFF, provenance=PROV)
    b = write_nifti(tmp_path / "b" / "x.nii.gz", arr, AFF, provenance=PROV)
    assert sidecar_path(a).read_bytes() == sidecar_path(b).read_bytes() and a.read_bytes() == b.read_bytes()
    c = write_nifti(tmp_path / "c" / "x.nii.gz", arr, AFF, provenance=PROV, sidecar=False)
    assert not sidecar_path(c).exists()
    with pytest.raises(RadsynthInputError):
        write_nifti(tmp_path / "d" / "x.nii.gz", arr, np.eye(3), provenance=PROV)
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())  # bad input: nothing written
