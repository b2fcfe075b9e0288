"""``radsynth generate-from-mask``: PNG / NIfTI / .npy masks with a tiny model, synthetic marking, the audit record,
same seed -> same bytes, and bad input -> one error line naming the option, exit code 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from radsynth.cli.main import app


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from radsynth.generators.mask_guided.model import MaskDDPMConfig, build_network, save_model

    cfg = MaskDDPMConfig.create(image_size=16, channels=(8, 16), attention_levels=(False, False), norm_num_groups=8,
                                num_train_timesteps=50, sample_steps=3)
    return save_model(tmp_path_factory.mktemp("m") / "tiny-mask", build_network(cfg).eval(), cfg)


def _disc(n: int = 32) -> np.ndarray:
    i, j = np.mgrid[:n, :n]
    return ((i - 12) ** 2 + (j - 18) ** 2 < 25).astype(np.uint8)


def test_cli_generate_from_mask_png_nifti_npy_and_audit(tmp_path: Path, tiny_model: Path) -> None:
    import nibabel as nib
    from PIL import Image

    from radsynth.io.nifti import read_nifti_marking
    from radsynth.io.png import read_png_marking
    from radsynth.provenance.audit import AuditLog

    Image.fromarray(_disc() * 255).save(tmp_path / "mask.png")
    nib.save(nib.Nifti1Image(_disc()[:, :, None], np.eye(4)), str(tmp_path / "mask.nii.gz"))
    np.save(tmp_path / "mask.npy", _disc().astype(bool))
    audit_url = f"sqlite:///{tmp_path / 'audit.sqlite'}"
    run = CliRunner().invoke
    outs = []
    for src, out, seed in (("mask.png", "a.png", "3"), ("mask.png", "b.png", "3"), ("mask.nii.gz", "c.nii.gz", "0"),
                           ("mask.npy", "d.png", "0")):
        r = run(app, ["generate-from-mask", str(tmp_path / src), "--out", str(tmp_path / out), "--model", str(tiny_model),
                      "--seed", seed], env={"RADSYNTH_AUDIT_DB": audit_url})
        assert r.exit_code == 0, r.output
        assert "synthetic" in r.output
        outs.append(tmp_path / out)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()  # same mask + seed: same bytes
    assert np.asarray(Image.open(tmp_path / "a.png")).shape == (16, 16)
    mark = read_png_marking(tmp_path / "a.png")
    assert "mask-ddpm" in str(mark) and "trainedAlgorithmicMedia" in str(mark)
    assert nib.load(str(tmp_path / "c.nii.gz")).shape[:2] == (16, 16)
    assert "mask-ddpm" in str(read_nifti_marking(tmp_path / "c.nii.gz"))
    with AuditLog(audit_url) as log:
        rec = [x for x in log.records() if x["action"] == "sample"]
    assert len(rec) == 4 and rec[0]["inputs"]["seed"] == 3 and len(rec[0]["outputs"]["sha256"]) == 64


def test_cli_generate_from_mask_bad_input_exits_2_and_writes_nothing(tmp_path: Path, tiny_model: Path) -> None:
    from PIL import Image

    Image.fromarray(_disc() * 255).save(tmp_path / "mask.png")
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "empty.png")
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "brain20.png")
    np.save(tmp_path / "cube.npy", np.ones((8, 8, 8)))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "exists.png").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    m, x = str(tmp_path / "mask.png"), str(tmp_path / "x.png")
    cases = (
        ([str(tmp_path / "missing.png"), "--out", x], "mask"),
        ([str(tmp_path / "notes.txt"), "--out", x], "mask"),
        ([str(tmp_path / "broken.png"), "--out", x], "mask"),
        ([str(tmp_path / "empty.png"), "--out", x], "mask"),
        ([str(tmp_path / "cube.npy"), "--out", x], "mask shape"),
        ([m, "--out", str(tmp_path / "x.jpg")], "--out"),
        ([m, "--out", str(tmp_path / "exists.png")], "--out"),
        ([m, "--out", x, "--brain", str(tmp_path / "brain20.png")], "--brain"),
        ([m, "--out", x, "--steps", "-1"], "--steps"),
        ([m, "--out", x, "--model", "no-such-model"], "--model"),
        ([m, "--out", x, "--model", "ct-denoiser-ld"], "--model"),
    )
    before = sorted(p.name for p in tmp_path.iterdir())
    for args, field in cases:
        if "--model" not in args:
            args = [*args, "--model", str(tiny_model)]
        r = CliRunner().invoke(app, ["generate-from-mask", *args])
        assert r.exit_code == 2, (args, r.output)
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and field in lines[0] and "accepted" in lines[0], (args, r.output)
        assert sorted(p.name for p in tmp_path.iterdir()) == before, args
