"""Tissue table: literature values, contrast ordering, label look-up, jitter twins."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import LABEL_TO_TISSUE, TISSUES, tissue_of
from radsynth.physics.mri.tissue import (
    RandomTissueJitter,
    TissueJitter,
    TissueParams,
    TissueTable,
    parameter_maps,
    tissue_table,
)


@pytest.mark.parametrize("b0", [1.5, 3.0])
def test_table_covers_every_tissue(b0):
    t = tissue_table(b0)
    assert list(t) == list(TISSUES)
    assert t.field_strength_t == b0


@pytest.mark.parametrize("bad", [7.0, 0.0, "3T", None])
def test_unsupported_field_strength_names_the_field(bad):
    with pytest.raises(RadsynthInputError, match="field_strength_t"):
        tissue_table(bad)


def test_literature_values():
    t15, t3 = tissue_table(1.5), tissue_table(3.0)
    # Wright et al. MAGMA 2008 (MPRAGE): WM 646/838 ms, GM 1197/1607 ms at 1.5/3 T
    assert (t15["wm"].t1_ms, t3["wm"].t1_ms) == (646.0, 838.0)
    assert (t15["gm"].t1_ms, t3["gm"].t1_ms) == (1197.0, 1607.0)
    # Stanisz et al. MRM 2005: WM T2 72/69 ms, GM 95/99 ms
    assert (t15["wm"].t2_ms, t3["wm"].t2_ms) == (72.0, 69.0)
    # Wansapura et al. JMRI 1999: T2* at 3 T, GM 66 ms > WM 53 ms
    assert t3["gm"].t2star_ms == 66.0 and t3["wm"].t2star_ms == 53.2
    # Neeb et al. NeuroImage 2006 water content
    assert (t3["csf"].pd, t3["gm"].pd, t3["wm"].pd) == (1.0, 0.80, 0.69)


@pytest.mark.parametrize("b0", [1.5, 3.0])
def test_physical_ordering(b0):
    t = tissue_table(b0)
    assert t["csf"].t1_ms > t["gm"].t1_ms > t["deep_gm"].t1_ms > t["wm"].t1_ms > t["fat"].t1_ms
    assert t["csf"].t2_ms > t["gm"].t2_ms > t["wm"].t2_ms
    assert t["csf"].pd > t["gm"].pd > t["wm"].pd
    for p in t.values():
        assert p.t2star_ms <= p.t2_ms <= p.t1_ms or p.pd == 0
    # lesions: prolonged T1 and T2 relative to WM; necrosis approaching CSF
    for lesion in ("oedema", "infarct", "tumour_enhancing", "tumour_necrosis"):
        assert t[lesion].t1_ms > t["wm"].t1_ms and t[lesion].t2_ms > t["wm"].t2_ms
    assert t["gm"].t2_ms < t["tumour_necrosis"].t2_ms < t["csf"].t2_ms


def test_field_dependence():
    t15, t3 = tissue_table(1.5), tissue_table(3.0)
    for tissue in ("gm", "wm", "deep_gm", "muscle", "blood"):
        # T1 14-30 % (or more) longer at 3 T (Lu et al. JMRI 2005)
        assert t3[tissue].t1_ms > 1.1 * t15[tissue].t1_ms
    for tissue in ("gm", "wm", "deep_gm"):
        # R2' ~ B0 (Yablonskiy & Haacke 1994): T2* shortens more than T2 at 3 T
        assert t3[tissue].t2star_ms < t15[tissue].t2star_ms


def test_parameter_maps_match_tissue_of_per_label():
    table = tissue_table(3.0)
    labels = np.array(sorted(LABEL_TO_TISSUE), dtype=np.int16).reshape(1, -1)
    maps = parameter_maps(labels, table)
    for key in ("pd", "t1_ms", "t2_ms", "t2star_ms"):
        assert maps[key].dtype == np.float32 and maps[key].shape == labels.shape
    for j, lab in enumerate(labels[0]):
        p = table[tissue_of(int(lab))]
        assert maps["t1_ms"][0, j] == np.float32(p.t1_ms)
        assert maps["pd"][0, j] == np.float32(p.pd)


def test_parameter_maps_reject_unknown_and_float_labels():
    table = tissue_table(1.5)
    with pytest.raises(RadsynthInputError, match="labels"):
        parameter_maps(np.array([[2, 1]], dtype=np.int16), table)  # label 1 has no tissue
    with pytest.raises(RadsynthInputError, match="labels"):
        parameter_maps(np.array([[2, -3]], dtype=np.int16), table)
    with pytest.raises(RadsynthInputError, match="int16"):
        parameter_maps(np.array([[2.0, 3.0]], dtype=np.float32), table)


def test_table_round_trip_and_validation():
    t = tissue_table(3.0)
    assert TissueTable.from_dict(t.to_dict()) == t
    with pytest.raises(RadsynthInputError):
        TissueTable({"wm": t["wm"]}, 3.0)
    with pytest.raises(RadsynthInputError):
        TissueParams(-1.0, 10.0, 5.0, 0.5)


def test_jitter_twin_replay_and_effect():
    table = tissue_table(3.0)
    jitter = RandomTissueJitter(rel_std=0.05).sample(np.random.default_rng(7))
    again = TissueJitter.from_dict(jitter.to_dict())
    assert again == jitter
    a, b = jitter.apply(table), again.apply(table)
    assert a == b
    i = TISSUES.index("wm")
    assert a["wm"].t1_ms == pytest.approx(table["wm"].t1_ms * jitter.t1[i])
    assert a["wm"].pd == pytest.approx(table["wm"].pd * jitter.pd[i])
    # T2* follows T2 with R2' fixed
    r2p = 1 / table["wm"].t2star_ms - 1 / table["wm"].t2_ms
    assert 1 / a["wm"].t2star_ms - 1 / a["wm"].t2_ms == pytest.approx(r2p)
    # factors have the requested spread (log-normal, rel_std 0.05)
    f = np.log(np.array([RandomTissueJitter(0.05).sample(np.random.default_rng(s)).t1 for s in range(200)]))
    assert f.std() == pytest.approx(0.05, rel=0.1)
    assert TissueJitter.identity().apply(table) == table
