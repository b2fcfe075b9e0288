"""Inpainting (RePaint, Lugmayr et al. 2022): pixels outside the mask untouched, determinism, the condition
reaches the masked region, built-in masks, input checks, and `radsynth inpaint` end to end on a tiny model.

The oracle denoiser (as in test_generators_sampling) predicts the exact noise for "the image is the constant
c_label", so its x_0 prediction is c_label everywhere: RePaint must return c_label inside the mask (the last
ancestral step has zero variance) and the input outside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusion_oracle import CFG, TARGET, Oracle
from gen_fixtures import make_class_folder
from PIL import Image
from typer.testing import CliRunner

from radsynth.cli.main import app
from radsynth.core.errors import RadsynthInputError
from radsynth.generators.diffusion.ddpm import build_unet
from radsynth.generators.diffusion.repaint import jump_schedule, network_evaluations, repaint
from radsynth.generators.diffusion.inpaint import REGIONS, paste_full_resolution, prepare_input, region_mask

FAST = dict(steps=10, jump_length=3, jump_n_sample=2, guidance=1.0)


def _inputs(n: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 16, 16)).astype(np.float32)
    m = np.zeros((n, 16, 16), bool)
    m[:, 4:11, 3:9] = True
    return x, m


def test_outside_mask_identical_and_seeded() -> None:
    torch.manual_seed(0)
    net = build_unet(CFG)  # untrained: the guarantee must not depend on the model
    x, m = _inputs()
    a = repaint(net, CFG, x, m, [1, 0, 1], seed=3, **(FAST | {"guidance": 2.0}))
    b = repaint(net, CFG, x, m, [1, 0, 1], seed=3, **(FAST | {"guidance": 2.0}))
    c = repaint(net, CFG, x, m, [1, 0, 1], seed=4, **(FAST | {"guidance": 2.0}))
    assert np.array_equal(a[~m], x[~m])
    assert np.array_equal(a, b)
    assert not np.array_equal(a[m], c[m]) and np.array_equal(c[~m], x[~m])
    assert np.abs(a).max() <= 1.0


@pytest.mark.parametrize("label", [0, 1])
def test_oracle_paints_the_requested_class_inside_the_mask(label: int) -> None:
    x, m = _inputs()
    out = repaint(Oracle(), CFG, x, m, [label] * 3, seed=0, **FAST)
    np.testing.assert_allclose(out[m], TARGET[label], atol=1e-3)
    assert np.array_equal(out[~m], x[~m])


@pytest.mark.parametrize("w, expected", [(0.0, 0.0), (1.5, 0.9)])
def test_guidance_in_the_masked_region(w: float, expected: float) -> None:
    x, m = _inputs(1)
    out = repaint(Oracle(), CFG, x, m, [1], seed=0, **(FAST | {"guidance": w}))
    np.testing.assert_allclose(out[m], expected, atol=1e-3)


def test_jump_schedule_resamples() -> None:
    ts = jump_schedule(1000, 50, 10, 3)
    assert ts[0] == 980 and ts[-1] == 0 and (np.diff(ts) > 0).sum() == 4 * 2 * 10  # 4 jump points, 2 extra passes
    assert network_evaluations(50, 10, 3) == 50 + 4 * 2 * 10
    assert network_evaluations(50, 10, 1) == 50  # jump_n_sample 1: plain strided DDPM


def test_repaint_argument_errors() -> None:
    x, m = _inputs(1)
    for kw, field in [(dict(steps=1), "--steps"), (dict(steps=10, jump_length=10), "--jump-length"),
                      (dict(jump_n_sample=0), "--jump-n-sample"), (dict(guidance=-1.0), "--guidance")]:
        with pytest.raises(RadsynthInputError, match=field):
            repaint(Oracle(), CFG, x, m, [1], **(FAST | kw))
    with pytest.raises(RadsynthInputError, match="masks"):
        repaint(Oracle(), CFG, x, m.astype(np.uint8), [1], **FAST)
    with pytest.raises(RadsynthInputError, match="images"):
        repaint(Oracle(), CFG, x * 3, m, [1], **FAST)


def test_region_masks() -> None:
    for name in REGIONS:
        r = region_mask(name, 64)
        assert r.shape == (64, 64) and r.dtype == bool and 100 < r.sum() < 64 * 64 / 2
    right, left = region_mask("right-lung", 64), region_mask("left-lung", 64)
    cols = np.arange(64)
    assert (right.sum(0) * cols).sum() / right.sum() < 32 < (left.sum(0) * cols).sum() / left.sum()  # image left = patient right
    assert np.array_equal(right | left, region_mask("both-lungs", 64))
    low = region_mask("right-lower-lung", 64)
    assert not (low & ~right).any() and 0 < low.sum() < right.sum()
    with pytest.raises(RadsynthInputError, match="--region"):
        region_mask("liver", 64)


def test_prepare_input_masks_and_full_resolution_paste() -> None:
    rng = np.random.default_rng(1)
    px = rng.integers(0, 256, (30, 40), dtype=np.uint8)  # non-square: the model sees the centre 30x30 square
    inp = prepare_input(px, 255, 16, region="right-lung")
    assert inp.crop == (0, 5, 30) and inp.mask.shape == (16, 16) and not inp.mask_full[:, :5].any()
    out = paste_full_resolution(inp, np.ones((16, 16), np.float32))
    assert out.dtype == np.uint8 and np.array_equal(out[~inp.mask_full], px[~inp.mask_full])
    assert (out[inp.mask_full] == 255).all()
    full = np.zeros((30, 40), bool)
    full[10:20, 12:20] = True
    inp2 = prepare_input(px, 255, 16, mask=full)
    assert np.array_equal(inp2.mask_full, full) and inp2.mask.any()
    for kw, needle in [(dict(mask=np.zeros((30, 40), bool)), "empty"), (dict(mask=np.ones((7, 7), bool)), "shape"),
                       (dict(), "neither"), (dict(mask=full, region="left-lung"), "both")]:
        with pytest.raises(RadsynthInputError, match=needle):
            prepare_input(px, 255, 16, **kw)
    edge = np.zeros((30, 40), bool)
    edge[5:10, 0:3] = True  # outside the centre square
    with pytest.raises(RadsynthInputError, match="outside the centre square"):
        prepare_input(px, 255, 16, mask=edge)


# ---------------------------------------------------------------- the command


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inpaint")
    data = make_class_folder(root / "data")
    model = root / "model"
    res = cli("train", "--data", data, "--out", model, "--max-steps", "2", "--image-size", "16", "--channels", "8,16",
              "--batch-size", "4", "--precision", "fp32", "--no-progress")
    assert res.exit_code == 0, (res.output, res.exception)
    rng = np.random.default_rng(0)
    image = root / "real.png"
    Image.fromarray(rng.integers(0, 256, (24, 20), dtype=np.uint8)).save(image)
    mask = root / "mask.png"
    m = np.zeros((24, 20), np.uint8)
    m[8:16, 4:12] = 255
    Image.fromarray(m).save(mask)
    return {"model": model, "image": image, "mask": mask, "root": root}


ARGS = ["--steps", "6", "--jump-length", "2", "--jump-n-sample", "2", "--no-progress"]


def test_cli_inpaint_end_to_end(setup: dict[str, Path], tmp_path: Path) -> None:
    from radsynth.io.png import read_png_marking
    from radsynth.provenance.signing import verify_dataset

    outs = []
    for name in ("a", "b"):
        res = cli("inpaint", "--model", setup["model"], "--image", setup["image"], "--mask", setup["mask"],
                  "--label", "bright", "--guidance", "2", "--seed", "7", "--out", tmp_path / name, *ARGS)
        assert res.exit_code == 0, (res.output, res.exception)
        outs.append(tmp_path / name)
    files = sorted(p.relative_to(outs[0]) for p in outs[0].rglob("*") if p.is_file())
    assert {"images/inpainted.png", "images/inpainted-64.png", "masks/mask.png", "masks/mask-64.png",
            "sampling.json", "manifest.parquet", "SHA256SUMS"} <= {f.as_posix() for f in files}
    for rel in files:  # same seed -> same bytes
        assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel
    assert list(verify_dataset(outs[0])) == []
    src = np.asarray(Image.open(setup["image"]))
    mask = np.asarray(Image.open(setup["mask"])) > 0
    with Image.open(outs[0] / "images" / "inpainted.png") as im:
        got = np.asarray(im)
        # a real image edited by a model: marked AI-modified (not "synthetic, not a real patient")
        assert im.mode == "L" and got.shape == src.shape and im.text["Description"].startswith("AI-MODIFIED by radsynth")
    assert np.array_equal(got[~mask], src[~mask])  # outside the mask: the input file's bytes
    assert np.array_equal(np.asarray(Image.open(outs[0] / "masks" / "mask.png")) > 0, mask)  # ground truth
    marking = read_png_marking(outs[0] / "images" / "inpainted.png")
    assert marking["marking"] is not None and marking["digital_source_type"].endswith("/compositeWithTrainedAlgorithmicMedia")
    doc = json.loads((outs[0] / "sampling.json").read_text())
    assert doc["task"] == "inpaint" and doc["label"] == "BRIGHT" or doc["label"].lower() == "bright"
    assert doc["mask"]["file"] == "mask.png" and doc["mask_pixels"]["full"] == int(mask.sum()) and doc["seed"] == 7


def test_cli_inpaint_region(setup: dict[str, Path], tmp_path: Path) -> None:
    res = cli("inpaint", "--model", setup["model"], "--image", setup["image"], "--region", "left-lower-lung",
              "--label", "dark", "--out", tmp_path / "r", *ARGS)
    assert res.exit_code == 0, (res.output, res.exception)
    doc = json.loads((tmp_path / "r" / "sampling.json").read_text())
    assert doc["mask"]["region"] == "left-lower-lung"


def test_cli_inpaint_bad_input_exit_2_nothing_written(setup: dict[str, Path], tmp_path: Path) -> None:
    bad_mask = setup["root"] / "small.png"
    Image.fromarray(np.full((5, 5), 255, np.uint8)).save(bad_mask)
    base = ["inpaint", "--model", setup["model"], "--image", setup["image"]]
    cases = [
        (["--region", "right-lung", "--label", "covid"], "--label"),
        (["--region", "liver", "--label", "bright"], "--region"),
        (["--mask", bad_mask, "--label", "bright"], "shape"),
        (["--mask", setup["mask"], "--region", "right-lung", "--label", "bright"], "--mask/--region"),
        (["--label", "bright"], "--mask/--region"),
        (["--region", "right-lung", "--label", "bright", "--steps", "1"], "--steps"),
        (["--region", "right-lung", "--label", "bright", "--steps", "6", "--jump-length", "6"], "--jump-length"),
        (["--mask", setup["root"] / "nope.png", "--label", "bright"], "--mask"),
    ]
    for extra, needle in cases:
        out = tmp_path / "o"
        res = cli(*base, *extra, "--out", out, "--no-progress")
        assert res.exit_code == 2, (extra, res.output, res.exception)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], (extra, res.stderr)
        assert not out.exists()
    res = cli("inpaint", "--model", setup["model"], "--image", setup["root"] / "missing.png", "--region", "right-lung",
              "--label", "bright", "--out", tmp_path / "o")
    assert res.exit_code == 2 and "--image" in res.stderr and not (tmp_path / "o").exists()
