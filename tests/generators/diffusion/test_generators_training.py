"""Training loop: exact resume (same loss curve), budget stop, checkpoint contents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from gen_fixtures import TINY, check_exact_resume
from gen_fixtures import two_class_images as _data

from radsynth.core.errors import RadsynthError, RadsynthInputError
from radsynth.generators.common.checkpoint import load_checkpoint
from radsynth.generators.common.config_base import count_parameters
from radsynth.generators.common.train_config import TrainConfig
from radsynth.generators.diffusion.ddpm import DDPMConfig, build_unet
from radsynth.generators.diffusion.training import train


CFG = DDPMConfig.create(**TINY, classes=("dark", "bright"), num_train_timesteps=100)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_resume_continues_the_same_loss_curve(tmp_path: Path, precision: str) -> None:
    full = check_exact_resume(train, CFG, tmp_path, 6, precision=precision)
    assert [s for s, _ in full.val_curve] == [4, 8, 12]


def test_checkpoint_contents_and_mismatch(tmp_path: Path) -> None:
    x, y = _data()
    tc = TrainConfig(batch_size=4, max_steps=3, warmup_steps=0, precision="fp32")
    train(CFG, tc, x, y, tmp_path / "ck", extra_meta={"data_fingerprint": "abc"})
    tensors, meta = load_checkpoint(tmp_path / "ck")
    assert meta["step"] == 3
    assert any(k.startswith("opt.state.") and k.endswith("exp_avg_sq") for k in tensors)
    assert "rng.generator" in tensors and "ema.n_averaged" in tensors
    assert int(tensors["ema.n_averaged"]) == 3
    assert tensors["history.loss"].shape == (3,)
    json.dumps(meta)  # plain JSON
    with pytest.raises(RadsynthError, match="another extra"):
        train(CFG, tc.model_copy(update={"max_steps": 5}), x, y, tmp_path / "ck", resume=True,
              extra_meta={"data_fingerprint": "other"})
    with pytest.raises(RadsynthError, match="another train invariant"):
        train(CFG, tc.model_copy(update={"max_steps": 5, "lr": 1e-3}), x, y, tmp_path / "ck", resume=True,
              extra_meta={"data_fingerprint": "abc"})
    with pytest.raises(RadsynthInputError, match="--resume"):
        train(CFG, tc, x, y, tmp_path / "none", resume=True)


def test_wall_clock_budget_stops_and_checkpoints(tmp_path: Path) -> None:
    x, y = _data()
    tc = TrainConfig(batch_size=4, max_steps=10_000, max_minutes=1e-6, precision="fp32")
    r = train(CFG, tc, x, y, tmp_path / "b")
    assert r.stopped == "max_minutes" and r.step < 10_000
    assert load_checkpoint(tmp_path / "b")[1]["step"] == r.step


def test_config_errors() -> None:
    with pytest.raises(RadsynthInputError, match="--image-size"):
        DDPMConfig.create(**{**TINY, "image_size": 18, "channels": (8, 16, 16), "attention_levels": (0, 0, 0)})
    with pytest.raises(RadsynthInputError, match="channels"):
        DDPMConfig.create(**{**TINY, "norm_num_groups": 3})
    with pytest.raises(RadsynthInputError, match="p_uncond"):
        DDPMConfig.create(**TINY, p_uncond=1.5)
    cfg = DDPMConfig.create(**TINY, classes=("NORMAL", "PNEUMONIA"))
    assert cfg.null_label == 2 and cfg.label_index("pneumonia") == 1
    with pytest.raises(RadsynthInputError, match="normal, pneumonia"):
        cfg.label_index("covid")
    # the U-Net reserves one extra class embedding for the CFG null class
    net = build_unet(cfg)
    assert net.class_embedding.num_embeddings == 3
    assert 30_000 < count_parameters(net) < 60_000


def test_ema_warmup_decay() -> None:
    """decay_n = min(decay, (1 + n) / (10 + n)) (diffusers EMAModel.get_decay); first update copies."""
    from torch.optim.swa_utils import AveragedModel

    from radsynth.generators.common.ema import ema_warmup_multi_avg_fn

    lin = torch.nn.Linear(1, 1, bias=False)
    ema = AveragedModel(lin, multi_avg_fn=ema_warmup_multi_avg_fn(0.999), use_buffers=True)
    values = [2.0, 4.0, 8.0]
    expected = None
    for i, v in enumerate(values):
        with torch.no_grad():
            lin.weight.fill_(v)
        ema.update_parameters(lin)
        if i == 0:
            expected = v
        else:
            d = min(0.999, (1 + i) / (10 + i))  # n_averaged == i before this update
            expected = d * expected + (1 - d) * v
    assert float(ema.module.weight.detach()) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx((2 * 2 / 11 + 4 * 9 / 11) * 3 / 12 + 8 * 9 / 12)


def test_lr_decay_schedule_warmup_constant_then_linear() -> None:
    from pydantic import ValidationError

    from radsynth.generators.common.loop import lr_at

    tc = TrainConfig(lr=1e-3, warmup_steps=4, max_steps=20, lr_decay_steps=5)
    lrs = [lr_at(s, tc) for s in range(20)]
    assert lrs[:4] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3])  # warm-up
    assert lrs[4:15] == pytest.approx([1e-3] * 11)  # constant until the last 5 steps
    assert lrs[15:] == pytest.approx([1e-3, 8e-4, 6e-4, 4e-4, 2e-4])  # linear, last step lr / N
    assert lr_at(19, tc.model_copy(update={"lr_decay_steps": 0})) == 1e-3  # default: no decay
    with pytest.raises(ValidationError, match="lr_decay_steps"):
        TrainConfig(max_steps=10, lr_decay_steps=11)


def test_resume_into_a_decay_phase_matches_one_run(tmp_path: Path) -> None:
    """A run stopped before its decay phase and resumed with --max-steps/--lr-decay-steps follows the
    exact curve of one uninterrupted run with that schedule (the schedule depends on the step only)."""
    x, y = _data()
    tc = TrainConfig(batch_size=5, max_steps=10, lr_decay_steps=4, warmup_steps=2, ckpt_every=100, lr=1e-3)
    full = train(CFG, tc, x, y, tmp_path / "full")
    first = train(CFG, tc.model_copy(update={"max_steps": 6, "lr_decay_steps": 0}), x, y, tmp_path / "split")
    res = train(CFG, tc, x, y, tmp_path / "split", resume=True)
    assert first.losses == full.losses[:6] and res.losses == full.losses
    flat = train(CFG, tc.model_copy(update={"lr_decay_steps": 0}), x, y, tmp_path / "flat")
    # decayed lr from step index 7 on (3 steps left < 4); its first effect is on the loss of index 8
    assert flat.losses[:8] == full.losses[:8] and flat.losses[8] != full.losses[8]
