"""Shortcut ("no-cheat") test: view functions, a planted corner marker is found, clean data are not flagged.

Toy images (16 px): a centre disc (radius 4 px) +0.2 for class 1 and -0.2 for class 0 on
mid-grey with white noise sd 0.1; the disc lies inside the default ROI box (central 60 %,
pixels 3-12), so the ROI-masked and border views of clean images hold noise only. The
"cheating" set adds a bright 3x3 marker in the top-left corner of every class-1 image.

Null criterion for "clean data does not flag": with 45 images per class the AUC of
label-free scores has standard error sqrt((n1 + n2 + 1) / (12 n1 n2)) = 0.061 under H0
(Hanley & McNeil, Radiology 143:29-36, 1982), so a 95 % CI lower bound above 0.6 needs
an AUC near 0.72, about 3.6 SE above chance (false flag ~2e-4 per view if the CV scores
were independent). On 3 data seeds the clean null views gave AUC 0.45-0.59 and the marker
views 0.97-1.00.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.shortcut import (
    ShortcutTest,
    border_only,
    default_roi_mask,
    make_view,
    mask_roi,
    noise_residual,
)

S = 16
YY, XX = np.mgrid[:S, :S]
DISC = ((YY - 7.5) ** 2 + (XX - 7.5) ** 2) < 4.0**2


def _toy(n: int, rng: np.random.Generator, marker: bool = False) -> tuple[np.ndarray, np.ndarray]:
    y = np.arange(n) % 2
    x = 0.5 + 0.1 * rng.standard_normal((n, S, S))
    x[:, DISC] += np.where(y == 1, 0.2, -0.2)[:, None]
    if marker:
        x[y == 1, 0:3, 0:3] = 0.95
    return np.clip(x, 0, 1).astype(np.float32), y


def _test(**kw) -> ShortcutTest:
    cfg = dict(folds=3, seed=0, image_size=S, net_channels=(8, 16), net_strides=(2, 2), epochs=6, batch_size=16,
               n_boot=300, border_fraction=0.125)
    cfg.update(kw)
    return ShortcutTest(**cfg)


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(0)
    return _toy(90, rng), _toy(90, rng, marker=True)


# ---------------------------------------------------------------- views


def test_default_roi_box():
    m = default_roi_mask(16, 0.6)
    assert m.sum() == 10 * 10 and m[3:13, 3:13].all() and not m[2].any() and not m[:, 13].any()
    assert DISC[~m].sum() == 0  # the toy's label disc lies inside the ROI
    with pytest.raises(RadsynthInputError, match="^roi_fraction"):
        default_roi_mask(16, 1.0)


def test_mask_roi_and_border_fill_with_kept_mean():
    rng = np.random.default_rng(1)
    x = rng.random((4, 16, 16)).astype(np.float32)
    m = default_roi_mask(16)
    v = mask_roi(x, m)
    assert np.array_equal(v[:, ~m], x[:, ~m])
    for i in range(4):
        assert np.allclose(v[i, m], x[i, ~m].mean(), atol=1e-6)
    b = border_only(x, 2)
    frame = np.ones((16, 16), bool)
    frame[2:-2, 2:-2] = False
    assert np.array_equal(b[:, frame], x[:, frame])
    assert np.allclose(b[0, 2:-2, 2:-2], x[0, frame].mean(), atol=1e-6)
    with pytest.raises(RadsynthInputError, match="^border_width"):
        border_only(x, 8)
    with pytest.raises(RadsynthInputError, match="^roi_masks"):
        mask_roi(x, np.ones((16, 16), bool))


def test_noise_residual_removes_smooth_content():
    # A Gaussian filter reproduces constant and linear images away from the borders, so the residual is 0 there
    # (0.5 after the shift); white noise survives.
    ramp = np.tile(np.linspace(0.2, 0.8, 16, dtype=np.float32), (16, 1))[None]
    r = noise_residual(ramp, sigma=1.0)
    assert np.allclose(r[0, 4:-4, 4:-4], 0.5, atol=1e-5)
    assert np.allclose(noise_residual(np.full((1, 16, 16), 0.3, np.float32)), 0.5, atol=1e-6)
    noise = np.random.default_rng(2).random((1, 16, 16)).astype(np.float32)
    assert noise_residual(noise).std() > 0.05
    assert make_view(noise, "full") is not None and make_view(noise, "roi_masked").shape == noise.shape
    with pytest.raises(RadsynthInputError, match="^view"):
        make_view(noise, "lungs")


# ---------------------------------------------------------------- the test


def test_corner_marker_detected_and_attributed_to_generator(sets):
    clean, cheat = sets
    res = _test()(cheat[0], cheat[1], real=clean[0], real_labels=clean[1])
    syn = {r["view"]: r for r in res.rows if r["set"] == "synthetic"}
    real = {r["view"]: r for r in res.rows if r["set"] == "real"}
    assert syn["roi_masked"]["flagged"] and syn["border"]["flagged"]
    assert syn["roi_masked"]["auc_ci"][0] > 0.6 and syn["border"]["auc_ci"][0] > 0.6
    assert res.shortcut and res.real_shortcut is False
    assert not real["roi_masked"]["flagged"] and not real["border"]["flagged"]
    assert real["full"]["auc"] > 0.9  # the disc is learnable: the test has power
    assert "SHORTCUT" in res.verdict and "generator introduced" in res.verdict
    for r in res.rows:
        assert 0.0 <= r["auc_ci"][0] <= r["auc"] <= r["auc_ci"][1] <= 1.0 and len(r["fold_aucs"]) == 3
    json.dumps(res.to_dict())


def test_clean_synthetic_not_flagged(sets):
    clean, _ = sets
    res = _test(views=("full", "roi_masked", "border"))(clean[0], clean[1])
    assert not res.shortcut and res.real_shortcut is None
    assert not any(r["flagged"] for r in res.rows)
    assert res.row("synthetic", "full")["auc"] > 0.9
    assert "No shortcut found" in res.verdict


def test_real_shortcut_reported_as_inherited(sets):
    _, cheat = sets
    rng = np.random.default_rng(7)
    cheat2 = _toy(90, rng, marker=True)
    res = _test(views=("border",))(cheat[0], cheat[1], real=cheat2[0], real_labels=cheat2[1])
    assert res.shortcut and res.real_shortcut
    assert "inherited from the real data" in res.verdict and "REAL images have shortcut" in res.verdict


def test_per_image_roi_masks(sets):
    # A mask that covers the marker corner too hides the shortcut from the ROI-masked view.
    _, cheat = sets
    m = np.zeros((90, 16, 16), bool)
    m[:, 3:13, 3:13] = True
    m[:, 0:4, 0:4] = True
    res = _test(views=("roi_masked",))(cheat[0], cheat[1], roi_masks=m)
    assert not res.shortcut and res.settings["roi"] == "per-image roi_masks"
    # masks given at another resolution are resized with the images; any touched pixel stays ROI
    big = np.repeat(np.repeat(cheat[0][:6], 2, axis=1), 2, axis=2)
    mbig = np.zeros((6, 32, 32), bool)
    mbig[:, 0:1, 0:1] = True
    x, _, _, mm, _ = _test()._prepare(big, cheat[1][:6], None, mbig, "synthetic")
    assert x.shape == mm.shape == (6, 16, 16) and mm[:, 0, 0].all()
    assert not mm[:, 3:, :].any() and not mm[:, :, 3:].any()


def test_bad_input_names_the_field(sets):
    clean, _ = sets
    t = _test(views=("border",))
    with pytest.raises(RadsynthInputError, match="^synthetic_labels"):
        t(clean[0], None)
    with pytest.raises(RadsynthInputError, match="^synthetic_labels"):
        t(clean[0], clean[1][:-1])
    with pytest.raises(RadsynthInputError, match="^synthetic"):
        t(clean[0][:0], clean[1][:0])
    with pytest.raises(RadsynthInputError, match="^roi_masks"):
        t(clean[0], clean[1], roi_masks=np.ones((3, 16, 16), bool))
    with pytest.raises(RadsynthInputError, match="^real_labels"):
        t(clean[0], clean[1], real=clean[0], real_labels=None)
    with pytest.raises(RadsynthInputError, match="^real"):
        t(clean[0], clean[1], real_labels=clean[1])
    with pytest.raises(RadsynthInputError, match="^null_views"):
        ShortcutTest(views=("full",), null_views=("border",))
    with pytest.raises(RadsynthInputError, match="^auc_threshold"):
        ShortcutTest(auc_threshold=0.4)
