"""Gadolinium relaxivity model (Rohrer et al., Invest Radiol 2005)."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.contrast_agent import (
    DEFAULT_CONCENTRATION_MM,
    ContrastAgent,
    apply_contrast,
    apply_contrast_to_table,
    contrast_agent,
)
from radsynth.physics.mri.tissue import parameter_maps, tissue_table


def test_relaxivity_values():
    # Rohrer 2005, plasma 37 C: gadobutrol r1 5.2 / 5.0, r2 6.1 / 7.1 at 1.5 / 3 T
    assert contrast_agent("gadobutrol", 1.5) == ContrastAgent(5.2, 6.1, "gadobutrol")
    assert contrast_agent("gadobutrol", 3.0) == ContrastAgent(5.0, 7.1, "gadobutrol")
    assert contrast_agent("gadoterate", 3.0).r1_per_mM_s == 3.5
    with pytest.raises(RadsynthInputError, match="contrast_agent"):
        contrast_agent("ferumoxytol", 3.0)
    with pytest.raises(RadsynthInputError, match="field_strength_t"):
        contrast_agent("gadobutrol", 7.0)


def test_shortening_formula():
    # 1/T1' = 1/T1 + r1 C : T1 1000 ms, r1 5 /mM/s, C 0.2 mM -> 1 + 1 = 2 /s -> 500 ms
    t1, t2, t2s = ContrastAgent(5.0, 10.0).shorten(1000.0, 100.0, 50.0, 0.2)
    assert float(t1) == pytest.approx(500.0, rel=1e-6)
    assert float(t2) == pytest.approx(1 / (1 / 100 + 2.0 / 1000), rel=1e-6)
    assert float(t2s) == pytest.approx(1 / (1 / 50 + 2.0 / 1000), rel=1e-6)
    t1, _, _ = ContrastAgent(5.0, 10.0).shorten(1000.0, 100.0, 50.0, 0.0)
    assert float(t1) == pytest.approx(1000.0, rel=1e-6)


def test_maps_and_table_agree():
    table = tissue_table(3.0)
    agent = contrast_agent("gadobutrol", 3.0)
    labels = np.array([[2, 3, 4, 30, 1001, 1002, 1003, 502]], dtype=np.int16)
    post_maps = apply_contrast(parameter_maps(labels, table), labels, agent)
    post_table = parameter_maps(labels, apply_contrast_to_table(table, agent))
    for key in post_maps:
        np.testing.assert_allclose(post_maps[key], post_table[key], rtol=1e-6)
    # enhancing tumour (1002) T1 strongly shortened; necrosis (1001) unchanged
    pre = parameter_maps(labels, table)
    assert post_maps["t1_ms"][0, 5] < 0.5 * pre["t1_ms"][0, 5]
    assert post_maps["t1_ms"][0, 4] == pre["t1_ms"][0, 4]
    assert DEFAULT_CONCENTRATION_MM["tumour_necrosis"] == 0.0 and DEFAULT_CONCENTRATION_MM["csf"] == 0.0


def test_bad_concentrations():
    with pytest.raises(RadsynthInputError):
        apply_contrast_to_table(tissue_table(3.0), contrast_agent(), {"brain": 0.1})
    with pytest.raises(RadsynthInputError):
        apply_contrast_to_table(tissue_table(3.0), contrast_agent(), {"wm": -0.1})
