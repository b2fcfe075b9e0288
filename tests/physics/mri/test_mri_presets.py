"""Named sequences: clinical contrast ordering on the tissue tables, names, errors."""

from __future__ import annotations

import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.contrast_agent import apply_contrast_to_table, contrast_agent
from radsynth.physics.mri.presets import SEQUENCES, get_sequence
from radsynth.physics.mri.tissue import tissue_table


def _signals(name, b0, contrast=False):
    model, needs = get_sequence(name, b0)
    table = tissue_table(b0)
    if needs or contrast:
        table = apply_contrast_to_table(table, contrast_agent("gadobutrol", b0))
    return {t: float(model.signal(p.pd, p.t1_ms, p.t2_ms, p.t2star_ms)) for t, p in table.items()}


@pytest.mark.parametrize("b0", [1.5, 3.0])
def test_clinical_contrast_ordering(b0):
    s = _signals("T1w", b0)
    assert s["wm"] > s["gm"] > s["csf"]
    assert s["fat"] > s["wm"]  # fat bright on T1w
    s = _signals("T2w", b0)
    assert s["csf"] > s["gm"] > s["wm"]
    assert s["oedema"] > s["gm"]  # oedema bright on T2w
    s = _signals("PD", b0)
    assert s["gm"] > s["wm"]
    s = _signals("FLAIR", b0)
    assert s["csf"] < 0.1 * min(s["gm"], s["wm"])  # CSF suppressed
    assert s["oedema"] > s["gm"] > s["wm"]  # lesions bright on FLAIR
    assert s["infarct"] > s["gm"]
    for name in ("T1-IR", "GRE-T1", "MPRAGE"):
        s = _signals(name, b0)
        assert s["wm"] > s["gm"] > s["csf"], name
    s = _signals("T1-IR", b0)
    assert s["csf"] < 0.1 * s["wm"]  # CSF near its null (T1-FLAIR)


@pytest.mark.parametrize("b0", [1.5, 3.0])
def test_t1c_enhancement(b0):
    pre, post = _signals("T1w", b0), _signals("T1c", b0)
    assert post["tumour_enhancing"] > 1.5 * pre["tumour_enhancing"]
    assert post["tumour_enhancing"] > post["wm"]
    assert post["blood"] > 2 * pre["blood"]
    assert post["tumour_necrosis"] == pre["tumour_necrosis"]  # no contrast in the necrotic core
    assert post["csf"] == pre["csf"]
    assert post["wm"] < 1.05 * pre["wm"]  # intact blood-brain barrier


def test_t1c_is_t1w_with_contrast():
    for b0 in (1.5, 3.0):
        m1, c1 = get_sequence("T1w", b0)
        mc, cc = get_sequence("T1c", b0)
        assert m1 == mc and not c1 and cc


def test_all_sequences_exist_at_both_fields_and_case_insensitive():
    for name in SEQUENCES:
        for b0 in (1.5, 3.0, 3):
            model, _ = get_sequence(name, b0)
            assert model.acquisition_params()["tr_ms"] > 0
    assert get_sequence("flair", 3.0) == get_sequence("FLAIR", 3.0)


def test_unknown_sequence_lists_accepted_names():
    with pytest.raises(RadsynthInputError, match="sequence") as e:
        get_sequence("DWI", 3.0)
    for name in SEQUENCES:
        assert name in str(e.value)
    with pytest.raises(RadsynthInputError, match="field_strength_t"):
        get_sequence("T1w", 7.0)
