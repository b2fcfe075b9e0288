"""Encoders for feature-space metrics: PixelEncoder block means, TorchEncoder batching / mode / threads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.features import Encoder, PixelEncoder, TorchEncoder, check_features, check_images, encode


def _images(n: int = 10, size: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, (n, size, size))


def test_pixel_encoder_is_exact_block_mean() -> None:
    x = _images()
    f = PixelEncoder(8)(x)
    want = x.reshape(10, 8, 4, 8, 4).mean(axis=(2, 4)).reshape(10, 64)
    assert f.shape == (10, 64) and f.dtype == np.float64
    np.testing.assert_allclose(f, want, rtol=0, atol=1e-14)
    assert isinstance(PixelEncoder(), Encoder)


def test_pixel_encoder_bad_input() -> None:
    with pytest.raises(RadsynthInputError, match="size"):
        PixelEncoder(0)
    with pytest.raises(RadsynthInputError, match="size"):
        PixelEncoder(64)(_images(2, 32))
    with pytest.raises(RadsynthInputError, match="images"):
        PixelEncoder(4)(_images(2, 32)[0])  # (H, W) instead of (N, H, W)
    with pytest.raises(RadsynthInputError, match=r"\[0, 1\]"):
        check_images(_images(2, 8) * 2.0)
    with pytest.raises(RadsynthInputError, match="rows"):
        check_features(np.zeros((1, 3)), min_rows=2)


class _Net(torch.nn.Module):
    """Conv + BatchNorm: output depends on train/eval mode; returns (N, D, h, w) to exercise pooling."""

    def __init__(self, in_ch: int = 1) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = torch.nn.Conv2d(in_ch, 6, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
        self.bn = torch.nn.BatchNorm2d(6)
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape))
        return torch.relu(self.bn(self.conv(x)))


def test_torch_encoder_batches_eval_nograd_threads() -> None:
    net = _Net()
    net.train()
    threads = torch.get_num_threads()
    x = _images(10, 16)
    f3 = TorchEncoder(net, batch_size=3)(x)
    f10 = TorchEncoder(net, batch_size=10)(x)
    assert f3.shape == (10, 6) and f3.dtype == np.float64
    np.testing.assert_allclose(f3, f10, rtol=1e-5, atol=1e-6)  # batching does not change features (eval BN)
    np.testing.assert_array_equal(f3, TorchEncoder(net, batch_size=3)(x))  # repeatable
    assert net.training and torch.get_num_threads() == threads  # state restored
    assert [s[0] for s in net.seen[:4]] == [3, 3, 3, 1]
    # global average pooling of (N, D, h, w) outputs, computed by hand in eval mode
    net.eval()
    with torch.no_grad():
        want = net(torch.from_numpy(x.astype(np.float32))[:, None]).mean(dim=(2, 3)).double().numpy()
    np.testing.assert_allclose(f10, want, rtol=1e-5, atol=1e-6)


def test_torch_encoder_resize_channels_preprocess() -> None:
    net = _Net(in_ch=3)
    calls: list[float] = []

    def pre(t: torch.Tensor) -> torch.Tensor:
        calls.append(float(t.max()))
        return (t - 0.5) / 0.25

    enc = TorchEncoder(net, size=24, channels=3, preprocess=pre, name="tiny")
    f = encode(enc, _images(4, 16))
    assert f.shape == (4, 6) and enc.name == "tiny"
    assert net.seen[-1] == (4, 3, 24, 24) and calls and calls[0] <= 1.0


def test_torch_encoder_bad_input() -> None:
    with pytest.raises(RadsynthInputError, match="module"):
        TorchEncoder(lambda x: x)  # type: ignore[arg-type]
    with pytest.raises(RadsynthInputError, match="batch_size"):
        TorchEncoder(_Net(), batch_size=0)

    class _Tuple(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return x, x

    with pytest.raises(RadsynthInputError, match="module output"):
        TorchEncoder(_Tuple())(_images(2, 8))
    with pytest.raises(RadsynthInputError, match="one feature row per image"):
        encode(lambda x: np.zeros((len(x) + 1, 3)), _images(2, 8))
