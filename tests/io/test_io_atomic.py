"""Atomic writes: the final path appears only complete; nothing is left on error."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text, sha256_file, temp_path_for
from radsynth.io.nifti import write_nifti


def test_atomic_success_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "a.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new-content")
    assert target.read_bytes() == b"new-content"
    assert [p.name for p in target.parent.iterdir()] == ["a.bin"]
    assert temp_path_for(target).name.startswith(".a.bin.tmp-")


def test_atomic_error_removes_temp_and_keeps_old(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half written")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_atomic_error_before_first_write_creates_nothing(tmp_path):
    target = tmp_path / "never.nii.gz"
    with pytest.raises(RadsynthInputError):
        write_nifti(target, np.zeros((2, 2, 2)), np.eye(3))  # bad affine
    with pytest.raises(FileNotFoundError):
        with atomic_path(tmp_path / "empty.bin"):
            pass  # block wrote nothing
    assert list(tmp_path.iterdir()) == []


def test_sha256_file(tmp_path):
    data = bytes(range(256)) * 5000
    p = atomic_write_bytes(tmp_path / "d.bin", data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()
