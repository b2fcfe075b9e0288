"""``radsynth evaluate --slices/--sequence``: spec parsing, orientation from the affine, square pixels, empty
slices, group ids per subject, sequence filter on cohort folders, and the CLI end to end on a built cohort."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.core.errors import RadsynthInputError
from radsynth.evaluate.sets import load_eval_set
from radsynth.evaluate.slicing import SliceSpec, parse_slices, select_indices, volume_slices

S = 16  # evaluation size used in most tests

# canonical RAS+ test volume: 40 x 50 x 30 voxels of 1 x 1 x 2 mm, voxel (i, j, k) at (i - 20, j - 25, 2k - 30) mm
SHAPE, SPACING, ORIGIN = (40, 50, 30), (1.0, 1.0, 2.0), (-20.0, -25.0, -30.0)
MARKER_MM = (8.0, 10.0, 6.0)  # right, anterior, superior of the centre: voxel (28, 35, 18)


def _ras_affine() -> np.ndarray:
    return np.array([[SPACING[0], 0, 0, ORIGIN[0]], [0, SPACING[1], 0, ORIGIN[1]], [0, 0, SPACING[2], ORIGIN[2]],
                     [0, 0, 0, 1]], float)


def _head(seed: int = 0, marker: bool = True) -> np.ndarray:
    """An ellipsoid 'head' (0.5 + noise; background exactly 0) with a bright 5 mm cube (1.0) at MARKER_MM."""
    rng = np.random.default_rng(seed)
    i, j, k = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    x, y, z = i * SPACING[0] + ORIGIN[0], j * SPACING[1] + ORIGIN[1], k * SPACING[2] + ORIGIN[2]
    vol = np.where((x / 15) ** 2 + (y / 20) ** 2 + (z / 24) ** 2 <= 1, 0.5 + rng.normal(0, 0.02, SHAPE), 0.0)
    if marker:
        box = (abs(x - MARKER_MM[0]) <= 2) & (abs(y - MARKER_MM[1]) <= 2) & (abs(z - MARKER_MM[2]) <= 2)
        vol[box] = 1.0
    return vol.astype(np.float32)


def _save(path: Path, data: np.ndarray, affine: np.ndarray, label: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(data, affine)
    if label:
        img.header.set_intent("label")
    nib.save(img, path)
    return path


def _as_slp(vol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same volume stored as (S, L, P) voxel axes (a permuted LPS-like order) with the matching affine:
    stored[a, b, c] = canonical[X-1-b, Y-1-c, a]."""
    x, y, _ = SHAPE
    stored = np.ascontiguousarray(vol.transpose(2, 0, 1)[:, ::-1, ::-1])
    aff = np.array([[0, -SPACING[0], 0, (x - 1) * SPACING[0] + ORIGIN[0]],
                    [0, 0, -SPACING[1], (y - 1) * SPACING[1] + ORIGIN[1]],
                    [SPACING[2], 0, 0, ORIGIN[2]], [0, 0, 0, 1]], float)
    return stored, aff


def _raises(field: str, fn, *args, **kw) -> str:
    with pytest.raises(RadsynthInputError) as ei:
        fn(*args, **kw)
    assert field in str(ei.value)
    return str(ei.value)


def _centroid(img: np.ndarray, thr: float) -> tuple[float, float]:
    r, c = np.nonzero(img > thr)
    return float(r.mean()), float(c.mean())


# ---------------------------------------------------------------- spec


@pytest.mark.parametrize("text, want, canonical", [
    ("axial:0.3-0.7:4", SliceSpec("axial", 0.3, 0.7, 4), "axial:0.3-0.7:4"),
    ("Coronal", SliceSpec("coronal"), "coronal:0-1:1"),
    ("sagittal:0.5", SliceSpec("sagittal", 0.5, 0.5), "sagittal:0.5:1"),
    ("axial:0.2-0.8:5mm", SliceSpec("axial", 0.2, 0.8, 5.0, "mm"), "axial:0.2-0.8:5mm"),
    ("axial::2:full:keep-empty", SliceSpec("axial", step=2, extent="full", keep_empty=True), "axial:0-1:2:full:keep-empty"),
    (" axial : .25-1 : 2.5mm : keep-empty", SliceSpec("axial", 0.25, 1.0, 2.5, "mm", keep_empty=True),
     "axial:0.25-1:2.5mm:keep-empty"),
])
def test_parse_good_specs(text, want, canonical) -> None:
    spec = parse_slices(text)
    assert spec == want and str(spec) == canonical
    assert parse_slices(canonical) == spec  # the canonical text (fingerprint input) parses back
    d = spec.to_dict()
    assert json.loads(json.dumps(d)) == d and d["spec"] == canonical


@pytest.mark.parametrize("text", ["", "axiall:0.3-0.7:4", "transverse", "axial:0.7-0.3", "axial:0.3-1.2",
                                  "axial:-0.1-0.5", "axial:a-b", "axial:0.3-0.7:0", "axial:0.3-0.7:2.5",
                                  "axial:0.3-0.7:-4", "axial:0.3-0.7:4cm", "axial:0.3-0.7:4:9", "axial:full:0.3-0.7",
                                  "axial:0-1:1:full:full", "axial:0-1:1:thick"])
def test_parse_bad_specs_name_the_option_value_and_grammar(text) -> None:
    msg = _raises("--slices", parse_slices, text)
    assert msg.startswith("--slices: got") and repr(text) in msg
    assert "axial, coronal or sagittal" in msg and "START-END" in msg and "\n" not in msg


def test_spec_fields_are_checked_and_text_round_trips() -> None:
    _raises("--slices", SliceSpec, "oblique")
    _raises("--slices", SliceSpec, "axial", 0.7, 0.3)
    _raises("--slices", SliceSpec, "axial", step=1.5)
    spec = parse_slices(f"axial:{18 / 29:.10f}")
    assert parse_slices(str(spec)) == spec


def test_select_indices_slab_step_and_empty_rule() -> None:
    fg = np.array([0, 0, .5, .5, .5, 0, .5, .5, .5, .5, 0])  # foreground extent 2..9, slice 5 empty
    sel = lambda text, sp=1.0: select_indices(fg, parse_slices(text), sp)  # noqa: E731
    assert sel("axial") == [2, 3, 4, 6, 7, 8, 9]  # empty slices skipped by default
    assert sel("axial:0-1:1:keep-empty") == [2, 3, 4, 5, 6, 7, 8, 9]
    assert sel("axial:0-1:1:full:keep-empty") == list(range(11))  # the whole array extent
    assert sel("axial:0.5-1") == [6, 7, 8, 9]  # 2 + 0.5 * 7 = 5.5 -> first whole slice 6
    assert sel("axial:0-1:2") == [2, 4, 6, 8]  # every 2nd from the slab's first slice
    assert sel("axial:0-1:5mm", 2.0) == [2, 8]  # 5 mm / 2 mm -> every 3rd; 5 is empty
    assert sel("axial:0-1:3mm", 3.0) == sel("axial")  # 1 slice
    assert sel("axial:0.5") == [6]  # one position: the nearest slice (5.5 -> 6)
    assert sel("axial:0", 1.0) == [2] and sel("axial:1") == [9]
    empty = np.zeros(6)
    assert select_indices(empty, parse_slices("axial"), 1.0) == []
    assert select_indices(empty, parse_slices("axial:0-1:1:keep-empty"), 1.0) == list(range(6))  # falls back to full


# ---------------------------------------------------------------- orientation and geometry


def test_orientation_comes_from_the_affine_not_the_array_axes(tmp_path: Path) -> None:
    vol = _head()
    ras = _save(tmp_path / "ras.nii.gz", vol, _ras_affine())
    stored, aff = _as_slp(vol)
    assert nib.aff2axcodes(aff) == ("S", "L", "P")
    slp = _save(tmp_path / "slp.nii.gz", stored, aff)
    for text in ("axial:0-1:1:full:keep-empty", "coronal:0.1-0.9:3", "sagittal:0.2-0.8:4mm"):
        a, b = volume_slices(ras, parse_slices(text)), volume_slices(slp, parse_slices(text))
        assert [k for k, _ in a] == [k for k, _ in b] and a
        for (_, x), (_, y) in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_marker_lands_in_the_right_slice_and_place(tmp_path: Path) -> None:
    stored, aff = _as_slp(_head())
    path = _save(tmp_path / "slp.nii.gz", stored, aff)  # stored (S, L, P): the array axes say nothing
    # axial slice through the marker (k = 18 of 0..29): rows anterior -> posterior, columns patient right -> left
    (k, ax), = volume_slices(path, parse_slices(f"axial:{18 / 29:.6f}:1:full"))
    assert k == 18 and ax.shape == (50, 40)
    row, col = _centroid(ax, 0.99)
    assert (row, col) == (49 - 35, 39 - 28)  # anterior -> upper half, right side of the patient -> image left
    # coronal through the marker (j = 35): rows superior -> inferior (2 mm), columns right -> left resampled to 2 mm
    (j, co), = volume_slices(path, parse_slices(f"coronal:{35 / 49:.6f}:1:full"))
    assert j == 35 and co.shape == (30, 20)  # 60 mm x 40 mm: the physical aspect, square pixels
    row, col = _centroid(co, 0.75)
    assert abs(row - (29 - 18)) <= 0.5 and abs(col - 5.25) <= 1.0
    # sagittal through the marker (i = 28): rows superior -> inferior, columns anterior -> posterior
    (i, sa), = volume_slices(path, parse_slices(f"sagittal:{28 / 39:.6f}:1:full"))
    assert i == 28 and sa.shape == (30, 25)
    row, col = _centroid(sa, 0.75)
    assert abs(row - (29 - 18)) <= 0.5 and abs(col - 6.75) <= 1.0
    # a slice without the marker has none
    (_, far), = volume_slices(path, parse_slices("axial:0.5:1:full"))
    assert far.max() < 0.9


def test_empty_slices_skipped_unless_kept(tmp_path: Path) -> None:
    vol = _head(marker=False)
    vol[:, :, 15] = 0.0  # an all-background slice inside the head
    path = _save(tmp_path / "gap.nii.gz", vol, _ras_affine())
    kept = dict(volume_slices(path, parse_slices("axial:0-1:1:keep-empty")))
    skipped = dict(volume_slices(path, parse_slices("axial")))
    assert 15 in kept and kept[15].max() == 0.0 and 15 not in skipped
    assert set(kept) - set(skipped) == {15}
    assert min(skipped) > 0 and max(skipped) < SHAPE[2] - 1  # the foreground extent, not the array's


# ---------------------------------------------------------------- sets


def _bids(root: Path, subjects: list[str], seqs=("T1w", "FLAIR"), seed: int = 0, lps: bool = False) -> Path:
    for n, sub in enumerate(subjects):
        for m, seq in enumerate(seqs):
            vol = _head(seed + 10 * n + m)
            data, aff = _as_slp(vol) if lps else (vol, _ras_affine())
            _save(root / sub / "anat" / f"{sub}_{seq}.nii.gz", data, aff)
        _save(root / sub / "anat" / f"{sub}_dseg.nii.gz", (_head(n) > 0.4).astype(np.uint8), _ras_affine(), label=True)
    return root


def test_volumes_need_slices(tmp_path: Path) -> None:
    _bids(tmp_path / "d", ["sub-01"])
    msg = _raises("--real", load_eval_set, tmp_path / "d", "real", image_size=S)
    assert "--slices" in msg and "volume" in msg


def test_slices_are_grouped_by_subject_and_deterministic(tmp_path: Path) -> None:
    root = _bids(tmp_path / "bids", ["sub-01", "sub-02", "sub-03"], lps=True)
    s = load_eval_set(root, "real", image_size=S, slices="axial:0.3-0.7:3")
    vols = sorted({p.split("#")[0] for p in s.paths})
    assert len(vols) == 6 and not any("dseg" in p for p in vols)  # both sequences; label maps skipped
    assert s.labels is None and s.classes == ()  # BIDS subject folders are not classes
    assert s.images.shape[1:] == (S, S) and len(s) == s.slicing["slices"] and len(s) % 6 == 0
    for p, g in zip(s.paths, s.patients):
        assert g == Path(p.split("#")[0]).name.split("_")[0]  # every slice grouped with its subject
    assert sorted(set(s.patients)) == ["sub-01", "sub-02", "sub-03"]
    assert s.slicing == {"spec": "axial:0.3-0.7:3", "sequence": None, "sequence_not_recorded": False, "volumes": 6,
                         "slices": len(s), "images_2d": 0, "volumes_without_slices": 0}
    assert s.describe()["slicing"] == s.slicing
    # the C2ST fold splitter keeps a subject's slices in one fold
    from radsynth.metrics.c2st import stratified_group_folds

    folds = stratified_group_folds(np.zeros(len(s), np.int64), s.patients, 3)
    assert all(len(set(folds[s.patients == g])) == 1 for g in set(s.patients))
    # synthetic sets group the same way; same inputs -> same slices in the same order
    again = load_eval_set(root, "synthetic", image_size=S, slices="axial:0.3-0.7:3")
    assert again.paths == s.paths and list(again.patients) == list(s.patients)
    np.testing.assert_array_equal(again.images, s.images)
    assert again.fingerprint == s.fingerprint
    assert load_eval_set(root, "real", image_size=S, slices="axial:0.3-0.7:2").fingerprint != s.fingerprint
    # --sequence by BIDS file-name suffix, ignoring case
    t1 = load_eval_set(root, "real", image_size=S, slices="axial:0.3-0.7:3", sequence="t1w")
    assert t1.slicing["volumes"] == 3 and all("_T1w" in p for p in t1.paths)
    msg = _raises("--real --sequence", load_eval_set, root, "real", image_size=S, slices="axial", sequence="T2w")
    assert "FLAIR, T1w" in msg


def test_slice_size_guard_and_2d_images_pass_through(tmp_path: Path) -> None:
    root = _bids(tmp_path / "bids", ["sub-01"], seqs=("T1w",))
    # coronal slices are 30 x 20 px after squaring (2 mm): too small for 24 px
    msg = _raises("--real image size", load_eval_set, root, "real", image_size=24, slices="coronal")
    assert "coronal slices" in msg and "--image-size <= 20" in msg
    from PIL import Image

    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(root / "sub-01" / "anat" / "sub-01_T1w.png")
    s = load_eval_set(root, "real", image_size=S, slices="axial:0.5")
    assert s.slicing["volumes"] == 1 and s.slicing["slices"] == 1 and s.slicing["images_2d"] == 1 and len(s) == 2


def _fake_cohort(out: Path) -> Path:
    """A radsynth cohort folder as `cohort build` writes it: subjects/<id>/anat images, masks, manifest.parquet."""
    from radsynth.io.manifest import manifest_row, write_manifest

    rows = []
    for n, sub in enumerate(["sub-0001", "sub-0002", "sub-0003"]):
        seqs = ("T1w", "FLAIR", "T1c") if n == 2 else ("T1w", "FLAIR")
        for m, seq in enumerate(seqs):
            p = _save(out / "subjects" / sub / "anat" / f"{sub}_{seq}.nii.gz", _head(10 * n + m), _ras_affine())
            rows.append(manifest_row(out, p, subject=sub, kind="image", format="nifti", modality="MR", sequence=seq,
                                     labels={"tumour": n == 2}, attributes={"sex": "FM"[n % 2]}))
        p = _save(out / "subjects" / sub / "masks" / f"{sub}_labels.nii.gz", (_head(n) > 0.4).astype(np.uint8),
                  _ras_affine(), label=True)
        rows.append(manifest_row(out, p, subject=sub, kind="mask", format="nifti", modality="SEG", sequence="labels"))
    write_manifest(out / "manifest.parquet", rows)
    return out


def test_cohort_folder_sequence_filter_uses_image_rows_only(tmp_path: Path) -> None:
    out = _fake_cohort(tmp_path / "cohort")
    s = load_eval_set(out, "synthetic", image_size=S, slices="axial:0.4-0.6:2", sequence="T1w")
    assert {p.split("#")[0].rsplit("/", 1)[1] for p in s.paths} == {f"sub-000{n}_T1w.nii.gz" for n in (1, 2, 3)}
    assert sorted(set(s.patients)) == ["sub-0001", "sub-0002", "sub-0003"]
    assert s.modality == "MR" and set(s.attributes) == {"sex"}
    t1c = load_eval_set(out / "manifest.parquet", "synthetic", image_size=S, slices="axial:0.5", sequence="T1c")
    assert len(t1c) == 1 and set(t1c.patients) == {"sub-0003"}
    allseq = load_eval_set(out, "synthetic", image_size=S, slices="axial:0.5")
    assert allseq.slicing["volumes"] == 7 and not any("masks" in p for p in allseq.paths)
    msg = _raises("--synthetic --sequence", load_eval_set, out, "synthetic", image_size=S, slices="axial",
                  sequence="labels")
    assert "FLAIR, T1c, T1w" in msg  # masks are never candidates


# ---------------------------------------------------------------- CLI on a built cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """A real 6-subject cohort (2 mm brain MRI, T1w + FLAIR, NIfTI only): a few seconds."""
    from radsynth.cohort.runner import build_cohort
    from radsynth.cohort.spec import parse_spec

    out = tmp_path_factory.mktemp("cohort") / "out"
    spec = parse_spec({
        "name": "slices", "seed": 11, "n_subjects": 6,
        "generator": {"name": "mri-brain", "params": {"sequences": ["T1w", "FLAIR"], "work_resolution_mm": 2,
                                                      "voxel_size_mm": [2.0, 2.0, 2.0]}},
        "attributes": {"sex": {"distribution": "categorical", "values": {"F": 0.5, "M": 0.5}}},
        "outputs": {"formats": ["nifti"]},
    })
    build_cohort(spec, out, progress=False)
    return out


def _cli(args: list[str]):
    return CliRunner().invoke(app, ["evaluate", "--preset", "quick", "--image-size", "32", "--encoder", "pixel",
                                    "--threads", "1", "--no-progress", *args])


def test_cli_evaluates_a_cohort_folder_end_to_end(cohort: Path, tmp_path: Path) -> None:
    real = _bids(tmp_path / "real", [f"sub-{n:02d}" for n in range(1, 7)], lps=True)
    test = _bids(tmp_path / "test", ["sub-05", "sub-06", "sub-07"], seed=100)
    out = tmp_path / "eval"
    r = _cli(["--real", str(real), "--synthetic", str(cohort), "--test", str(test), "--out", str(out),
              "--sections", "fidelity,detectability,memorisation", "--slices", "axial:0.3-0.7:4",
              "--sequence", "T1w"])
    assert r.exit_code == 0, r.output
    assert "c2st_auc" in r.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["slicing"]["spec"] == "axial:0.3-0.7:4" and m["slicing"]["sequence"] == "T1w"
    assert m["slicing"]["settings"]["step_unit"] == "slices" and m["slicing"]["settings"]["skip_empty"] is True
    sets = m["slicing"]["sets"]
    assert sets["synthetic"]["volumes"] == 6 and sets["real"]["volumes"] == 6 and sets["test"]["volumes"] == 3
    assert all(v["slices"] > v["volumes"] and v["images_2d"] == 0 for v in sets.values())
    by = {d["name"]: d for d in m["inputs"]}
    assert by["synthetic"]["images"] == sets["synthetic"]["slices"] and by["synthetic"]["patients"] == 6
    assert by["synthetic"]["slicing"]["spec"] == "axial:0.3-0.7:4" and by["synthetic"]["modality"] == "MR"
    assert m["status"]["detectability"] == "ok" and m["c2st_auc"] is not None
    assert m["status"]["memorisation"] == "ok"
    assert any("--slices axial:0.3-0.7:4" in n for n in m["notes"])


@pytest.mark.parametrize("bad", ["axial:0.7-0.3", "oblique", "axial:0.3-0.7:0"])
def test_cli_bad_slice_spec_is_one_line_exit_2_nothing_written(cohort: Path, tmp_path: Path, bad: str) -> None:
    out = tmp_path / "eval"
    r = _cli(["--real", str(cohort), "--synthetic", str(cohort), "--out", str(out), "--slices", bad])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --slices: got") and repr(bad) in lines[0]
    assert "axial, coronal or sagittal" in lines[0]
    assert not out.exists()


def test_cli_volumes_without_slices_say_to_pass_slices(cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    r = _cli(["--real", str(cohort), "--synthetic", str(cohort), "--out", str(out)])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    assert "--slices" in r.output and not out.exists()


def test_file_sequence_only_reads_bids_style_names() -> None:
    from radsynth.evaluate.slicing import file_sequence

    assert file_sequence("sub-0001_T1w.nii.gz") == "T1w" and file_sequence("a/sub-01_ses-2_FLAIR.nii") == "FLAIR"
    assert file_sequence("10_no.jpg") is None and file_sequence("scan_ct.png") is None  # not a sequence
    assert file_sequence("sub-01.nii.gz") is None


def test_cli_sequence_keeps_a_real_set_that_records_no_sequence(cohort: Path, tmp_path: Path) -> None:
    # real clinical slices (no manifest, no BIDS names: "10_no.png") against one simulated sequence
    from PIL import Image

    real = tmp_path / "real"
    real.mkdir()
    rng = np.random.default_rng(3)
    for i in range(14):
        yy, xx = np.mgrid[:48, :48]
        disc = ((yy - 24) ** 2 + (xx - 24) ** 2 < (14 + i % 5) ** 2) * 150.0 + rng.normal(0, 12, (48, 48)) + 30
        Image.fromarray(np.clip(disc, 0, 255).astype(np.uint8)).save(real / f"{i}_no.png")
    out = tmp_path / "eval"
    r = _cli(["--real", str(real), "--synthetic", str(cohort), "--out", str(out), "--sections",
              "fidelity,detectability", "--slices", "axial:0.3-0.7:4", "--sequence", "T1w"])
    assert r.exit_code == 0, r.output
    m = json.loads((out / "metrics.json").read_text())
    sets = m["slicing"]["sets"]
    assert sets["real"]["sequence_not_recorded"] is True and sets["real"]["images_2d"] == 14
    assert sets["synthetic"]["sequence_not_recorded"] is False and sets["synthetic"]["volumes"] == 6
    assert any("record" in n and "no sequence" in n for n in m["notes"])


def test_fixed_window_gives_one_grey_per_value_across_volumes(tmp_path: Path) -> None:
    # two CT-like volumes in HU: tissue at 40 HU; one stored with -2048 outside the scan circle, one from -1000
    base = _head(marker=False)
    tissue = base > 0
    a = np.where(tissue, 40.0, -1000.0).astype(np.float32)
    b = a.copy()
    b[:2] = -2048.0  # padding outside the field of view
    b[tissue & (np.arange(SHAPE[0])[:, None, None] < SHAPE[0] // 2)] = 1200.0  # and bone on one side
    pa, pb = _save(tmp_path / "a.nii.gz", a, _ras_affine()), _save(tmp_path / "b.nii.gz", b, _ras_affine())
    spec = parse_slices("axial:0.5:1:window=-1000..1000")
    assert spec.window == (-1000.0, 1000.0) and str(spec) == "axial:0.5:1:window=-1000..1000"
    assert "window -1000..1000" in spec.to_dict()["intensity"]
    (_, ia), = volume_slices(pa, spec)
    (_, ib), = volume_slices(pb, spec)
    # 40 HU -> (40 + 1000) / 2000 = 0.52 in both; air (-1000) -> 0; bone clipped to 1
    assert np.isclose(np.median(ia[ia > 0.1]), 0.52, atol=1e-6) and ia.min() == 0.0
    assert np.isclose(ib[(ib > 0.1) & (ib < 0.9)].mean(), 0.52, atol=1e-6) and ib.max() == 1.0
    # per-volume min-max (no window) gives the same 40 HU two different greys
    (_, ma), = volume_slices(pa, parse_slices("axial:0.5:1"))
    (_, mb), = volume_slices(pb, parse_slices("axial:0.5:1"))
    assert np.isclose(np.median(ma[ma > 0.1]), 1.0)  # -1000..40 HU: tissue is the maximum
    assert np.any(np.isclose(mb, (40 + 2048) / (1200 + 2048), atol=1e-3)) and not np.any(np.isclose(mb, 1.0) & (ib < 0.9))
    for bad in ("axial:window=3..1", "axial:window=lo..hi", "axial:window=0..1:0.3-0.7"):
        assert "--slices" in _raises("--slices", parse_slices, bad)


def test_header_window_uses_each_volumes_nifti_display_range(tmp_path: Path) -> None:
    """``window=header``: cal_min..cal_max as written by radsynth's MR cohorts (display window), per volume."""
    from radsynth.io.nifti import write_nifti

    vol = _head(marker=True).astype(np.float32) * 1000.0  # tissue ~500, marker 1000
    p = write_nifti(tmp_path / "w.nii.gz", vol, _ras_affine(), display_window=(0.0, 600.0), sidecar=False)
    hdr = nib.load(p).header
    assert float(hdr["cal_min"]) == 0.0 and float(hdr["cal_max"]) == 600.0
    spec = parse_slices("axial:0.5:1:window=header")
    assert spec.window == "header" and str(spec) == "axial:0.5:1:window=header"
    assert "cal_min..cal_max" in spec.to_dict()["intensity"]
    (_, img), = volume_slices(p, spec)
    tissue = (img > 0.05) & (img < 0.99)
    assert np.isclose(np.median(img[tissue]), 500.0 / 600.0, atol=0.02)  # 500 / 600, not 500 / max
    bright = write_nifti(tmp_path / "b.nii.gz", np.where(vol > 0, 1000.0, 0.0).astype(np.float32), _ras_affine(),
                         display_window=(0.0, 600.0), sidecar=False)
    (_, sat), = volume_slices(bright, spec)
    assert sat.max() == 1.0 and np.all(sat[sat > 0] == 1.0)  # 1000 > cal_max saturates
    plain = _save(tmp_path / "plain.nii.gz", vol, _ras_affine())
    msg = _raises("--real file", volume_slices, plain, spec)
    assert "cal_min < cal_max" in msg and "window=header" in msg
