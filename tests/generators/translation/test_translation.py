"""Contrast translation (generators/translation): tiny models, seeded, fast.

The simulated pairs share the anatomy and carry each contrast's physics (CSF dark in T1w, bright in T2w); the
slice normalisation; the histogram-matching baseline (monotone, onto the target's quantiles, background kept);
a tiny translator learns a contrast inversion the baseline cannot make; the model folder's round trip, the
``radsynth translate`` command (marked output, bad input -> exit 2 and nothing written) and the zoo kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.translation.model import (
    TranslationConfig,
    histogram_match,
    load_model,
    save_model,
    train_translator,
    translate_file,
    translate_slices,
)
from radsynth.generators.translation.pairs import ContrastPairsConfig, normalise_slice, simulate_contrast_pairs

TINY = dict(image_size=16, channels=(8, 16, 32), num_res_units=0, disc_channels=8, disc_layers=2, batch_size=8)


def _pairs(n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Source: a bright disc (tissue) with a dark core (fluid) on air; target: the core bright, the rim dark
    (an inversion inside the foreground: no monotone grey-level map makes it)."""
    rng = np.random.default_rng(seed)
    i, j = np.mgrid[:16, :16]
    src, tgt = [], []
    for _ in range(n):
        cy, cx = rng.uniform(6, 10, 2)
        r = np.hypot(i - cy, j - cx)
        rim, core = (r < 6) & (r >= 2.5), r < 2.5
        src.append(np.where(rim, 1.0, np.where(core, -0.6, -1.0)))
        tgt.append(np.where(core, 1.0, np.where(rim, -0.4, -1.0)))
    return np.asarray(src, np.float32), np.asarray(tgt, np.float32)


@pytest.fixture(scope="module")
def trained() -> tuple[object, TranslationConfig, dict]:
    torch.set_num_threads(1)
    src, tgt = _pairs()
    cfg = TranslationConfig.create(**TINY, max_steps=300, lr=5e-3, seed=0)
    return train_translator(src, tgt, cfg)


def test_config_checks() -> None:
    with pytest.raises(RadsynthInputError, match="target"):
        TranslationConfig.create(source="T1w", target="T1w")
    with pytest.raises(RadsynthInputError, match="source"):
        TranslationConfig.create(source="PD", target="T2w")
    with pytest.raises(RadsynthInputError, match="image_size"):
        TranslationConfig.create(image_size=18, channels=(8, 16, 32))


def test_normalise_slice_scales_by_the_foreground_and_keeps_air() -> None:
    x = np.zeros((20, 20))
    x[5:15, 5:15] = 1000.0
    x[8:10, 8:10] = 3000.0  # a few bright pixels: 4 of 104 foreground pixels, above the 99.5th percentile
    y = normalise_slice(x)
    assert y.dtype == np.float32 and y[0, 0] == -1.0 and y[8, 8] == 1.0
    np.testing.assert_allclose(normalise_slice(7.0 * x), y)  # no absolute scale in MR
    assert np.all(normalise_slice(np.zeros((8, 8))) == -1.0)


def test_strip_to_brain_sets_air_outside_and_renormalises() -> None:
    from radsynth.generators.translation.model import strip_to_brain

    x = np.full((1, 16, 16), -1.0, np.float32)
    x[0, 2:14, 2:14] = 1.0  # bright scalp ring
    x[0, 5:11, 5:11] = 0.0  # mid-grey brain
    brain = np.zeros((1, 16, 16), bool)
    brain[0, 5:11, 5:11] = True
    y = strip_to_brain(x, brain)
    assert np.all(y[~brain] == -1.0) and np.allclose(y[brain], 1.0)  # the brain is now the bright end
    with pytest.raises(RadsynthInputError, match="brain"):
        train_translator(np.zeros((2, 16, 16), np.float32), np.zeros((2, 16, 16), np.float32),
                         TranslationConfig.create(**TINY, max_steps=1), brain=np.zeros((2, 8, 8), bool))


def test_histogram_match_is_monotone_onto_the_target_quantiles() -> None:
    rng = np.random.default_rng(0)
    src = np.where(rng.random((2, 16, 16)) < 0.7, rng.uniform(-0.5, 1.0, (2, 16, 16)), -1.0).astype(np.float32)
    q = tuple(np.linspace(-0.8, 0.9, 101))
    out = histogram_match(src, q)
    fg = src > -0.9
    assert np.all(out[~fg] == -1.0)
    for s, o, f in zip(src, out, fg):
        order = np.argsort(s[f])
        assert np.all(np.diff(o[f][order]) >= -1e-9)  # monotone: it cannot invert a contrast
        assert -0.8 - 1e-6 <= o[f].min() and o[f].max() <= 0.9 + 1e-6
    with pytest.raises(RadsynthInputError, match="target_quantiles"):
        histogram_match(src, ())


def test_tiny_translator_learns_an_inversion_the_baseline_cannot(trained) -> None:
    net, cfg, summary = trained
    assert summary["steps"] == 300 and len(cfg.target_quantiles) == 101
    src, tgt = _pairs(16, seed=1)  # unseen
    pred = translate_slices(net, cfg, src, seed=0)
    base = histogram_match(src, cfg.target_quantiles)
    fg, core = tgt > -1, tgt > 0.5
    err_model, err_base = np.abs(pred - tgt)[fg].mean(), np.abs(base - tgt)[fg].mean()
    assert err_model < 0.6 * err_base, (err_model, err_base)  # measured 0.11 vs 0.25
    assert pred[core].mean() > 0.5 and base[core].mean() < 0  # the core turns bright; a monotone map keeps it dark
    np.testing.assert_array_equal(pred, translate_slices(net, cfg, src, seed=0))  # same seed, same bytes
    with pytest.raises(RadsynthInputError, match="image"):
        translate_slices(net, cfg, np.zeros((1, 8, 8), np.float32))


def test_simulated_pairs_share_anatomy_and_follow_each_contrast() -> None:
    d = simulate_contrast_pairs(ContrastPairsConfig(n_subjects=1, size=32, seed=3, slice_stride=4))
    t1, t2, fl = d.images["T1w"], d.images["T2w"], d.images["FLAIR"]
    assert t1.shape == t2.shape == fl.shape and t1.shape[1:] == (32, 32) and len(d.brain) == len(t1)
    # same anatomy: the same pixels are air in every contrast
    air1, air2 = t1 < -0.9, t2 < -0.9
    assert air1.mean() > 0.1 and np.mean(air1 == air2) > 0.95
    # physics: inside the brain, the darkest T1w pixels (CSF) are brighter than average in T2w
    b = d.brain
    dark = b & (t1 < np.percentile(t1[b], 10))
    assert t2[dark].mean() > t2[b].mean()


def test_model_folder_and_translate_command(tmp_path: Path, trained) -> None:
    from PIL import Image
    from typer.testing import CliRunner

    from radsynth.cli.main import app
    from radsynth.generators.zoo import describe_model

    net, cfg, _ = trained
    folder = save_model(tmp_path / "tiny-t1-t2", net, cfg)
    net2, cfg2, doc = load_model(folder)
    assert cfg2 == cfg and doc["kind"] == "translator" and describe_model(folder).kind == "translator"
    src, _ = _pairs(1, seed=2)
    Image.fromarray(((src[0] + 1) * 127.5).astype(np.uint8)).resize((40, 40)).save(tmp_path / "in.png")
    out = translate_file(tmp_path / "in.png", tmp_path / "out.png", to="T2w", model=folder)
    with Image.open(out) as im:
        assert im.size == (16, 16) and "synthetic" in str(im.info).lower()
    r = CliRunner().invoke(app, ["translate", str(tmp_path / "in.png"), "--to", "T2w", "--model", str(folder),
                                 "--method", "histogram-match", "--out", str(tmp_path / "base.nii.gz")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "base.nii.gz").is_file()
    for args, field in ((["--to", "FLAIR", "--model", str(folder)], "--to"),
                        (["--to", "T2w", "--model", str(folder), "--method", "magic"], "--method"),
                        (["--to", "PD"], "--to")):
        r = CliRunner().invoke(app, ["translate", str(tmp_path / "in.png"), *args, "--out", str(tmp_path / "x.png")])
        assert r.exit_code == 2 and field in r.output and not (tmp_path / "x.png").exists(), (args, r.output)
    r = CliRunner().invoke(app, ["translate", str(tmp_path / "in.png"), "--to", "T2w", "--model", str(folder),
                                 "--out", str(tmp_path / "out.png")])
    assert r.exit_code == 2 and "--out" in r.output  # never overwrites
    (tmp_path / "bad.png").write_bytes(b"not an image")
    r = CliRunner().invoke(app, ["translate", str(tmp_path / "bad.png"), "--to", "T2w", "--model", str(folder),
                                 "--out", str(tmp_path / "y.png")])
    assert r.exit_code == 2 and "image" in r.output and not (tmp_path / "y.png").exists()


def _t1_phantom() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A skull-stripped T1w-like axial phantom (64 x 64): cortex ring (GM, mid grey) around white matter (bright)
    with two ventricles (CSF, dark)."""
    i, j = np.mgrid[:64, :64]
    r = np.hypot((i - 32) / 26.0, (j - 32) / 21.0)
    brain, wm = r < 1, r < 0.8
    csf = (np.hypot((i - 30) / 7.0, (j - 27) / 2.5) < 1) | (np.hypot((i - 30) / 7.0, (j - 37) / 2.5) < 1)
    x = np.where(csf, 0.25, np.where(wm, 1.0, np.where(brain, 0.65, 0.0)))
    return x, wm & ~csf, brain & ~wm, csf


def test_shipped_translators_invert_or_suppress_as_their_contrast_does() -> None:
    # the shipped models on a flat phantom they never saw (bench, real MNI152 T1: T2w CSF > GM > WM, FLAIR CSF darkest).
    # T2w: white matter, the brightest T1w tissue, becomes the darkest (measured WM -0.26, GM 0.25, CSF 0.16);
    # FLAIR: CSF suppressed (measured -0.92 vs WM 0.26, GM -0.02)
    from radsynth.generators.translation.model import prepare_slice, shipped_for

    torch.set_num_threads(1)
    x, wm, gm, csf = _t1_phantom()
    net, cfg, _ = load_model(shipped_for("T1w", "T2w"))
    inp, shape = prepare_slice(x, cfg.image_size)
    assert shape == (64, 64) and inp[wm].mean() > inp[gm].mean() > inp[csf].mean()
    out = translate_slices(net, cfg, inp, seed=0)[0]
    assert min(out[csf].mean(), out[gm].mean()) > out[wm].mean() + 0.3
    base = histogram_match(inp[None], cfg.target_quantiles)[0]
    assert base[wm].mean() > base[gm].mean() > base[csf].mean()  # the baseline keeps T1w's order
    net, cfg, _ = load_model(shipped_for("T1w", "FLAIR"))
    out = translate_slices(net, cfg, inp, seed=0)[0]
    assert out[csf].mean() < min(out[gm].mean(), out[wm].mean()) - 0.5
    with pytest.raises(RadsynthInputError, match="--to"):
        shipped_for("T1w", "PD")
