"""Fuzz the image readers with mutated DICOM, NIfTI and PNG/JPEG (bounded, derandomised Hypothesis).

Every mutant must give a result or a one-line radsynth error (or, for the io marking helpers, their
documented one-line ValueError/OSError), never another exception, never run past the per-input limit.
The full count (>= 10,000 inputs) is bench/bench_fuzz.py.
"""

from __future__ import annotations

import io
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_mutators import MUTATORS, mutate_nifti, mutate_png
from fuzz_targets import READER_TARGETS, guarded

LIMIT_S = 10.0
pytestmark = pytest.mark.filterwarnings("ignore")  # pydicom/nibabel warn on every mutant
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _run_all(fmt: str, name: str, data: bytes, work) -> None:  # type: ignore[no-untyped-def]
    bad = []
    for tname, fn in READER_TARGETS[fmt].items():
        out = guarded(lambda fn=fn: fn(work, name, data), LIMIT_S)
        if out.kind not in ("ok", "clean"):
            bad.append(f"{tname}: {out.kind}: {out.detail}")
    assert not bad, f"{name} mutant ({len(data)} bytes): {bad}"


@pytest.mark.parametrize("fmt", ["dicom", "nifti", "png"])
def test_mutated_images_give_a_result_or_one_line_error(fmt, seeds, tmp_path_factory):
    pool = sorted(getattr(seeds, fmt).items())
    work = tmp_path_factory.mktemp(f"fuzz_{fmt}")

    @FUZZ
    @given(rng=st.randoms(use_true_random=False), k=st.integers(0, len(pool) - 1))
    def check(rng: random.Random, k: int) -> None:
        name, data = pool[k]
        _run_all(fmt, name, MUTATORS[fmt](rng, data), work)

    check()


def test_mutators_change_the_input_and_are_seeded(seeds):
    for fmt in ("dicom", "nifti", "png", "spec"):
        name, data = sorted(getattr(seeds, fmt).items())[0]
        a = [MUTATORS[fmt](random.Random(s), data) for s in range(20)]
        assert a == [MUTATORS[fmt](random.Random(s), data) for s in range(20)], fmt  # same seed -> same mutant
        assert sum(m != data for m in a) >= 15, fmt


def test_the_readers_accept_the_unmutated_seeds(seeds, tmp_path):
    """The harness can fail: the seeds themselves must read (else every mutant would be a trivial refusal)."""
    from radsynth.generators.common.data import read_image

    for fmt in ("dicom", "nifti", "png"):
        for name, data in getattr(seeds, fmt).items():
            if name in ("tiny_bomb.png", "rtplan.dcm", "no_meta.dcm"):  # no pixels / no DICM preamble: refused
                continue
            p = tmp_path / name
            p.write_bytes(data)
            assert read_image(p).ndim == 2, name


def test_header_only_png_bomb_is_a_one_line_error(seeds, tmp_path):
    _run_all("png", "tiny_bomb.png", seeds.png["tiny_bomb.png"], tmp_path)
    from radsynth.core.errors import RadsynthInputError
    from radsynth.generators.common.data import read_image

    p = tmp_path / "bomb.png"
    p.write_bytes(seeds.png["tiny_bomb.png"])
    with pytest.raises(RadsynthInputError, match="image file"):
        read_image(p)


def test_png_with_huge_declared_size_and_fixed_crc(seeds, tmp_path):
    from fuzz_mutators import png_chunks, png_join

    chunks = png_chunks(seeds.png["grey16.png"])
    chunks[0][1] = struct.pack(">II", 0x7FFFFFFF, 0x7FFFFFFF) + chunks[0][1][8:]
    _run_all("png", "huge.png", png_join(chunks), tmp_path)


def test_gzip_and_header_mutants_of_nifti(seeds, tmp_path):
    for s in range(10):
        _run_all("nifti", "m.nii.gz", mutate_nifti(random.Random(s), seeds.nifti["radsynth.nii.gz"]), tmp_path)
        _run_all("png", "m.png", mutate_png(random.Random(s), seeds.png["radsynth16.png"]), tmp_path)


def _bad_group_length_dicom(seeds) -> bytes:
    """CT_small with File Meta Information Group Length (0002,0000) UL given 5 bytes instead of 4."""
    data = seeds.dicom["CT_small.dcm"]
    i = data.index(b"\x02\x00\x00\x00UL\x04\x00")
    return data[: i + 6] + b"\x05\x00" + data[i + 8: i + 12] + b"\x00" + data[i + 12:]


def test_regression_marks_check_of_dicom_with_bad_value_length(seeds, tmp_path):
    """pydicom raised BytesLengthException (a RuntimeError) out of provenance.marks.check_file."""
    import pydicom
    from pydicom.errors import BytesLengthException

    from radsynth.provenance.marks import check_file

    data = _bad_group_length_dicom(seeds)
    with pytest.raises(BytesLengthException):  # the input really is the one that crashed
        pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    (tmp_path / "x.dcm").write_bytes(data)
    item, problems = check_file(tmp_path, "x.dcm")
    assert problems and "not a readable DICOM file" in problems[0]["detail"]


@pytest.mark.parametrize("case", ["truncated_gz", "bad_deflate", "not_gzip", "nan_slope", "huge_dims", "bad_vox_offset"])
def test_regression_read_nifti_bad_files_are_one_line_errors(case, seeds, tmp_path):
    """read_nifti let nibabel, gzip and zlib errors escape (809 crash inputs of bench_fuzz seed 0)."""
    import gzip

    from radsynth.core.errors import RadsynthInputError
    from radsynth.io.nifti import read_nifti

    gz = seeds.nifti["radsynth.nii.gz"]
    raw = bytearray(gzip.decompress(gz))
    if case == "truncated_gz":
        data, name = gz[: len(gz) // 2], "x.nii.gz"
    elif case == "bad_deflate":  # reserved block type: zlib.error
        data, name = gz[:10] + b"\xff" * (len(gz) - 18) + gz[-8:], "x.nii.gz"
    elif case == "not_gzip":
        data, name = bytes(raw), "x.nii.gz"
    else:
        name = "x.nii"
        if case == "nan_slope":
            raw[112:116] = struct.pack("<f", 2.0)
            raw[116:120] = struct.pack("<f", float("inf"))
        elif case == "huge_dims":  # 32767^3 voxels declared in a few kB: refused before allocating
            raw[42:48] = struct.pack("<hhh", 32767, 32767, 32767)
        else:
            raw[108:112] = struct.pack("<f", -3.4e38)
        data = bytes(raw)
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(RadsynthInputError) as ei:
        read_nifti(p)
    msg = str(ei.value)
    assert msg.startswith("NIfTI file: ") and str(p) in msg and "accepted: a readable NIfTI" in msg
    assert "\n" not in msg


def test_read_nifti_still_reads_the_seeds(seeds, tmp_path):
    from radsynth.io.nifti import read_nifti

    for name, data in seeds.nifti.items():
        p = tmp_path / name
        p.write_bytes(data)
        arr, aff, info = read_nifti(p)
        assert arr.size and aff.shape == (4, 4) and info["synthetic"], name
