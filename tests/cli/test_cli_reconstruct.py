"""``radsynth reconstruct``: NIfTI and PNG round trips with a tiny model, the audit record, and bad input ->
one error line naming the option, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from radsynth.cli.main import app


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from radsynth.generators.enhancement.mri_recon import MRIReconConfig, build_network, save_recon

    cfg = MRIReconConfig.create(channels=(4, 8), strides=(2,), num_res_units=1, cascades=1)
    return save_recon(tmp_path_factory.mktemp("m") / "tiny-recon", build_network(cfg).eval(), cfg)


def _head(n: int = 32) -> np.ndarray:
    i, j = np.mgrid[:n, :n] - (n - 1) / 2
    img = np.where((i / (0.4 * n)) ** 2 + (j / (0.33 * n)) ** 2 < 1, 0.8, 0.0)
    img[(i - 3) ** 2 + j ** 2 < 16] = 0.3
    return img.astype(np.float32)


def _nifti(path: Path, arr: np.ndarray) -> Path:
    import nibabel as nib

    nib.save(nib.Nifti1Image(arr.astype(np.float32), np.eye(4)), str(path))
    return path


def test_cli_reconstruct_nifti_png_and_audit(tmp_path: Path, tiny_model: Path) -> None:
    from PIL import Image

    from radsynth.io.png import read_png_marking
    from radsynth.provenance.audit import AuditLog

    src = _nifti(tmp_path / "mr.nii.gz", np.stack([_head() * 900] * 2, axis=2))
    png = tmp_path / "mr.png"
    Image.fromarray((_head() * 255).astype(np.uint8)).save(png)
    audit_url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    run = CliRunner().invoke
    r = run(app, ["reconstruct", str(src), "--out", str(tmp_path / "rec.nii.gz"), "--model", str(tiny_model),
                  "--seed", "3"], env={"RADSYNTH_AUDIT_DB": audit_url})
    assert r.exit_code == 0, r.output
    assert (tmp_path / "rec.nii.gz").is_file() and (tmp_path / "rec_zerofilled.nii.gz").is_file()
    r = run(app, ["reconstruct", str(png), "--out", str(tmp_path / "rec.png"), "--zero-filled", str(tmp_path / "zf.png"),
                  "--model", str(tiny_model), "--acceleration", "2", "--center-fraction", "0.2"],
            env={"RADSYNTH_AUDIT_DB": audit_url})
    assert r.exit_code == 0, r.output
    assert np.asarray(Image.open(tmp_path / "rec.png")).shape == (32, 32)
    mark = read_png_marking(tmp_path / "zf.png")
    assert "retrospective-undersampling" in str(mark)
    with AuditLog(audit_url) as log:
        rec = [x for x in log.records() if x["action"] == "reconstruct"]
    assert len(rec) == 2 and rec[0]["inputs"]["seed"] == 3 and len(rec[0]["outputs"]["zero_filled_sha256"]) == 64


def test_cli_reconstruct_bad_input_exits_2_and_writes_nothing(tmp_path: Path, tiny_model: Path) -> None:
    good = _nifti(tmp_path / "mr.nii.gz", np.stack([_head() * 900] * 2, axis=2))
    ct = _nifti(tmp_path / "ct.nii.gz", np.stack([_head() * 1000 - 1000] * 2, axis=2))  # HU: negative air
    (tmp_path / "exists.nii.gz").write_bytes(b"x")
    x = str(tmp_path / "x.nii.gz")
    cases = (
        ([str(ct), "--out", x], "input values"),
        ([str(tmp_path / "missing.nii.gz"), "--out", x], "input"),
        ([str(tmp_path / "notes.txt"), "--out", x], "input"),
        ([str(good), "--out", str(tmp_path / "x.png")], "--out"),
        ([str(good), "--out", str(tmp_path / "exists.nii.gz")], "--out"),
        ([str(good), "--out", x, "--zero-filled", str(tmp_path / "exists.nii.gz")], "--zero-filled"),
        ([str(good), "--out", x, "--acceleration", "0.5"], "--acceleration"),
        ([str(good), "--out", x, "--center-fraction", "0.6"], "--center-fraction"),
        ([str(good), "--out", x, "--pattern", "radial"], "--pattern"),
        ([str(good), "--out", x, "--model", "no-such-model"], "--model"),
        ([str(good), "--out", x, "--model", "ct-denoiser-ld"], "--model"),
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, field in cases:
        if "--model" not in args:
            args = [*args, "--model", str(tiny_model)]
        r = CliRunner().invoke(app, ["reconstruct", *args])
        assert r.exit_code == 2, (args, r.output)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and field in lines[0] and "accepted" in lines[0], r.output
        assert sorted(p.name for p in tmp_path.iterdir()) == before, args
