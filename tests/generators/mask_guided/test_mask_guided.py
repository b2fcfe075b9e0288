"""Mask-guided DDPM (generators/mask_guided): tiny models, seeded, fast.

Shapes / dtypes, determinism (same seed -> same bytes, batch-independent), that the mask conditioning is used
(a tiny model trained on a trivially learnable pairing puts bright pixels on the mask), save / load round trip,
the Python API's input checks, the zoo kind, the simulated training pairs and the ``mask-guided-2d`` cohort generator.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.mask_guided.model import (
    MaskDDPMConfig,
    dice,
    generate_from_mask,
    load_model,
    prepare_mask,
    sample_from_masks,
    save_model,
    train_mask_ddpm,
)

TINY = dict(image_size=16, channels=(8, 16), attention_levels=(False, False), norm_num_groups=8,
            num_train_timesteps=100, sample_steps=5, batch_size=8, warmup_steps=5)


def _disc(n: int, cy: float, cx: float, r: float) -> np.ndarray:
    i, j = np.mgrid[:n, :n]
    return (i - cy) ** 2 + (j - cx) ** 2 < r ** 2


@pytest.fixture(scope="module")
def trained() -> tuple[object, MaskDDPMConfig, dict]:
    """A tiny model trained on image = +1 on the mask, -1 elsewhere (lesion masks are random discs)."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    les = np.stack([_disc(16, *rng.uniform(4, 12, 2), rng.uniform(2, 4)) for _ in range(64)])
    brain = np.ones_like(les)
    img = np.where(les, 1.0, -1.0).astype(np.float32)
    cfg = MaskDDPMConfig.create(**TINY, max_steps=60, lr=5e-3, seed=0)
    net, summary = train_mask_ddpm(img, les, brain, cfg)
    return net, cfg, summary


def test_config_checks() -> None:
    with pytest.raises(RadsynthInputError, match="attention_levels"):
        MaskDDPMConfig.create(channels=(8, 16), attention_levels=(False,), norm_num_groups=8)
    with pytest.raises(RadsynthInputError, match="channels"):
        MaskDDPMConfig.create(channels=(12, 16), attention_levels=(False, False), norm_num_groups=8)
    with pytest.raises(RadsynthInputError, match="sample_steps"):
        MaskDDPMConfig.create(**{**TINY, "sample_steps": 101})


def test_conditioning_is_used_and_training_lowers_the_loss(trained) -> None:
    net, cfg, summary = trained
    assert summary["steps"] == 60 and np.mean(summary["losses"][-20:]) < 0.5 * np.mean(summary["losses"][:10])
    masks = np.stack([_disc(16, 5, 5, 3), _disc(16, 10, 11, 3.5)])
    out = sample_from_masks(net, cfg, masks, np.ones_like(masks), seed=1)
    assert not (masks[0] & masks[1]).any()
    for img, m in zip(out, masks):
        assert img[m].mean() - img[~m].mean() > 0.4  # bright where the mask says (untrained: about 0)
    with_brain = sample_from_masks(net, cfg, masks, None, seed=1)  # other conditioning, same noise: other image
    assert not np.array_equal(with_brain, out)
    # the same noise with the masks swapped moves the bright blob
    swapped = sample_from_masks(net, cfg, masks[::-1], np.ones_like(masks), seed=1)
    assert swapped[0][masks[1]].mean() - swapped[0][masks[0]].mean() > 0.4
    assert out[0][masks[0]].mean() - out[0][masks[1]].mean() > 0.4

def test_shapes_dtypes_determinism_and_batch_independence(trained) -> None:
    net, cfg, _ = trained
    masks = np.stack([_disc(16, 8, 8, 3)] * 3)
    a = sample_from_masks(net, cfg, masks, None, seed=7)
    assert a.shape == (3, 16, 16) and a.dtype == np.float32 and a.min() >= -1 and a.max() <= 1
    np.testing.assert_array_equal(a, sample_from_masks(net, cfg, masks, None, seed=7))
    # image i's noise comes from seed + i: alone it is the same image (up to batch-size dependent float rounding)
    np.testing.assert_allclose(a[1], sample_from_masks(net, cfg, masks[1:2], None, seed=8)[0], atol=1e-4)
    assert not np.array_equal(a[0], a[1])  # different per-image seeds


def test_save_load_round_trip_and_api_checks(tmp_path: Path, trained) -> None:
    net, cfg, _ = trained
    folder = save_model(tmp_path / "tiny-mask", net, cfg, {"training": {"steps": 150}})
    doc = json.loads((folder / "config.json").read_text())
    assert doc["format"] == "radsynth-mask-ddpm/1" and doc["config"]["image_size"] == 16
    net2, cfg2, _ = load_model(folder)
    assert cfg2 == cfg
    m = _disc(40, 20, 14, 8)  # any size: padded / resized to the model's 16 x 16
    a = generate_from_mask(m, folder, seed=3)
    np.testing.assert_array_equal(a, generate_from_mask(m, (net, cfg), seed=3))
    small = prepare_mask(m, 16)
    assert a.shape == (16, 16) and a[small].mean() > a[~small].mean()
    with pytest.raises(RadsynthInputError, match="mask"):
        generate_from_mask(np.ones((4, 4, 4)), (net, cfg))
    with pytest.raises(RadsynthInputError, match="brain"):
        generate_from_mask(m, (net, cfg), brain=np.ones((10, 10)))
    with pytest.raises(RadsynthInputError, match="model"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text(json.dumps({"format": "radsynth-ct-denoiser/1"}))
    (tmp_path / "other" / "weights.safetensors").write_bytes(b"")
    with pytest.raises(RadsynthInputError, match="format"):
        load_model(tmp_path / "other")
    from radsynth.generators.zoo import describe_model

    assert describe_model(folder).kind == "mask-generator"


def test_simulated_pairs_and_cohort_generator(tmp_path: Path, trained) -> None:
    from radsynth.cohort.generator import SubjectPlan
    from radsynth.cohort.registry import resolve_generator
    from radsynth.generators.mask_guided.data import LesionSlicesConfig, simulate_lesion_slices

    d = simulate_lesion_slices(LesionSlicesConfig(n_subjects=1, size=32, seed=5, lesion_stride=3))
    assert d.images.shape[1:] == (32, 32) and d.images.dtype == np.float32
    assert d.images.min() >= -1 and d.images.max() <= 1 and not (d.lesion & ~d.brain).any()
    les = d.lesion.sum((1, 2)) > 0
    assert les.sum() >= 3 and (~les).sum() >= 1  # subject 0 has a glioma; a few slices without lesion
    assert d.images[d.lesion].mean() > d.images[d.brain & ~d.lesion].mean() + 0.3  # FLAIR: hyperintense lesion

    net, cfg, _ = trained
    folder = save_model(tmp_path / "tiny-mask", net, cfg)
    cls = resolve_generator("mask-guided-2d")
    gen = cls(cls.Config(model=str(folder), steps=3))
    plan = SubjectPlan(index=0, subject_id="sub-0001", seed=4, labels={"tumour": True, "stroke": False},
                       attributes={"age_years": 50, "sex": "F"}, formats=("nifti",))
    rec = gen.generate(plan)
    assert rec.images[0].array.shape == (16, 16) and rec.images[0].modality == "MR"
    lesion = rec.masks[0].array.astype(bool)
    assert rec.masks[0].name == "lesion" and lesion.any()
    img = rec.images[0].array
    assert img[lesion].mean() > img[~lesion].mean()  # the tiny model's bright blob follows the physics lesion
    with pytest.raises(RadsynthInputError, match="generator.params.model"):
        cls(cls.Config(model=str(tmp_path / "nowhere")))._entry  # noqa: B018


def test_cohort_spec_builds_with_mask_guided_2d(tmp_path: Path, trained) -> None:
    """A cohort spec reaches the generator: ``radsynth cohort build`` writes the images and the requested masks."""
    import yaml
    from typer.testing import CliRunner

    from radsynth.cli.main import app

    net, cfg, _ = trained
    folder = save_model(tmp_path / "tiny-mask", net, cfg)
    spec = {"name": "mask-guided-tiny", "seed": 3, "n_subjects": 2,
            "generator": {"name": "mask-guided-2d", "params": {"model": str(folder), "steps": 2}},
            "labels": {"tumour": 1.0}, "outputs": {"formats": ["nifti"]}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    r = CliRunner().invoke(app, ["cohort", "build", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "out"),
                                 "--no-progress"])
    assert r.exit_code == 0, (r.output, r.exception)
    files = sorted(p.name for p in (tmp_path / "out" / "subjects" / "sub-0001").rglob("*.nii.gz"))
    assert any("lesion" in f for f in files) and len(files) >= 3, files
    bad = {**spec, "generator": {"name": "mask-guided-2d", "params": {"model": "ct-denoiser-ld"}}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    r = CliRunner().invoke(app, ["cohort", "build", str(tmp_path / "bad.yaml"), "--out", str(tmp_path / "out2")])
    assert r.exit_code == 2 and "generator.params.model" in r.output and not (tmp_path / "out2").exists()
