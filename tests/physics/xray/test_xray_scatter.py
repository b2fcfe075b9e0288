"""Scatter-kernel model: energy bookkeeping, kernel width, grid factors, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.xray.scatter import ScatterKernel


def _images(n: int = 64):
    rng = np.random.default_rng(0)
    primary = rng.uniform(100.0, 1000.0, size=(n, n))
    water = rng.uniform(50.0, 300.0, size=(n, n))
    return primary, water


@pytest.mark.parametrize("kernel", ["gaussian", "exponential"])
def test_scatter_energy_is_spr_times_primary(kernel):
    primary, water = _images()
    k = ScatterKernel(spr_per_cm=0.2, kernel=kernel, width_mm=30.0, grid=False)
    s = k.scatter(primary, water, pixel_mm=2.0)
    assert s.sum() == pytest.approx((k.spr(water) * primary).sum(), rel=1e-9)
    assert s.min() > 0 and s.std() < primary.std()  # broad: much smoother than its source


def test_uniform_field_and_spr_law():
    k = ScatterKernel(spr_per_cm=0.15, grid=False)
    assert float(k.spr(200.0)) == pytest.approx(3.0)  # 20 cm water -> SPR 3 (mediastinum-like)
    s = k.scatter(np.full((40, 40), 10.0), np.full((40, 40), 100.0), pixel_mm=2.0)
    np.testing.assert_allclose(s, 15.0, rtol=1e-9)  # reflect edges: a uniform field stays SPR * P


def test_kernel_width():
    p = np.zeros((201, 201))
    p[100, 100] = 1.0
    k = ScatterKernel(spr_per_cm=0.1, kernel="gaussian", width_mm=20.0, grid=False)
    s = k.scatter(p, np.full(p.shape, 10.0), pixel_mm=1.0)
    y = np.arange(201) - 100
    var = (s.sum(axis=1) * y ** 2).sum() / s.sum()
    assert np.sqrt(var) == pytest.approx(20.0, rel=0.02)
    e = ScatterKernel(spr_per_cm=0.1, kernel="exponential", width_mm=10.0, grid=False).scatter(p, np.full(p.shape, 10.0), 1.0)
    assert e[100, 100] > e[100, 110] > e[100, 130] > 0


def test_grid_factors():
    primary, water = _images(32)
    k = ScatterKernel(grid=True, grid_primary_transmission=0.7, grid_scatter_transmission=0.1)
    p, s = k.apply(primary, water, 2.0)
    np.testing.assert_allclose(p, 0.7 * primary)
    np.testing.assert_allclose(s, 0.1 * ScatterKernel(grid=False).scatter(primary, water, 2.0))
    p0, s0 = ScatterKernel(grid=False).apply(primary, water, 2.0)
    assert (s0 / p0).mean() > 5 * (s / p).mean()  # grid selectivity 7


def test_roundtrip_and_bad_params():
    k = ScatterKernel(spr_per_cm=0.12, kernel="exponential", width_mm=55.5, grid=False)
    assert ScatterKernel.from_dict(k.to_dict()) == k
    for kw, field in [({"spr_per_cm": -0.1}, "scatter.spr_per_cm"), ({"kernel": "box"}, "scatter.kernel"),
                      ({"width_mm": 0}, "scatter.width_mm"), ({"grid": "yes"}, "scatter.grid"),
                      ({"grid_primary_transmission": 0}, "scatter.grid_primary_transmission"),
                      ({"grid_scatter_transmission": 1.5}, "scatter.grid_scatter_transmission")]:
        with pytest.raises(RadsynthInputError) as e:
            ScatterKernel(**kw)
        assert e.value.field == field
    with pytest.raises(RadsynthInputError):
        ScatterKernel.from_dict({"spr": 1})
    with pytest.raises(RadsynthInputError):
        ScatterKernel().scatter(np.ones(5), np.ones(5), 1.0)
