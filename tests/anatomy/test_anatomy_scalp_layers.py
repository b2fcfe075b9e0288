"""Scalp layers carved out of SynthSeg's one extracranial soft-tissue class: a fat layer of the requested
thickness under the skin, muscle below it, orbital fat kept, nothing else moved; the generator draws and
records it and the deep muscle is darker than the subcutaneous fat on T1w and T2w (fat bright on both)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.anatomy.scalp_layers import RandomScalpLayers, ScalpLayers
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import DEEP_SOFT_TISSUE_LABEL, LABEL_TO_TISSUE


def _scalp(nx=30):
    """Skin at x 0-2, soft tissue (507) at x 3-14, bone from x 15; an eyeball (506) deep in the soft tissue at one end."""
    lab = np.zeros((nx, 40, 6), np.int16)
    lab[:3] = 511
    lab[3:15] = 507
    lab[15:] = 515
    lab[10:13, 36:40] = 506
    return lab


def test_fat_under_the_skin_muscle_below_orbit_kept():
    lab = _scalp()
    out = ScalpLayers(fat_mm=4.0, orbit_mm=5.0).apply(lab, np.eye(4))
    far = (slice(None), slice(0, 25))  # away from the eyeball
    col = out[far][:, 0, 0]
    assert list(col[3:7]) == [507] * 4  # 1-4 mm under the skin: subcutaneous fat
    assert list(col[7:15]) == [DEEP_SOFT_TISSUE_LABEL] * 8  # deeper: muscle
    near_eye = out[3:15, 33:36]  # within 5 mm of the eyeball: orbital fat stays fat
    assert np.all((near_eye == 507) | (near_eye == 506) | (lab[3:15, 33:36] != 507))
    changed = out != lab
    assert np.all(lab[changed] == 507) and np.all(out[changed] == DEEP_SOFT_TISSUE_LABEL)
    assert LABEL_TO_TISSUE[DEEP_SOFT_TISSUE_LABEL] == "muscle"
    # thicker than the soft tissue: nothing changes (the vertex, where the scalp is thin)
    np.testing.assert_array_equal(ScalpLayers(fat_mm=15.0).apply(lab, np.eye(4)), lab)


@settings(max_examples=25, deadline=None)
@given(a=st.floats(0.0, 20.0), b=st.floats(0.0, 20.0))
def test_more_fat_less_muscle(a, b):
    lo, hi = sorted((a, b))
    lab = _scalp()
    m_lo = ScalpLayers(lo).apply(lab, np.eye(4)) == DEEP_SOFT_TISSUE_LABEL
    m_hi = ScalpLayers(hi).apply(lab, np.eye(4)) == DEEP_SOFT_TISSUE_LABEL
    assert np.all(m_lo[m_hi])


def test_random_twin_and_errors():
    s = RandomScalpLayers((3.0, 5.0)).sample(np.random.default_rng(1))
    assert 3.0 <= s.fat_mm <= 5.0 and ScalpLayers.from_dict(s.to_dict()) == s
    with pytest.raises(RadsynthInputError, match="fat_mm"):
        ScalpLayers(fat_mm=-1.0)
    with pytest.raises(RadsynthInputError, match="fat_mm"):
        RandomScalpLayers((5.0, 3.0))
    with pytest.raises(RadsynthInputError, match="labels"):
        ScalpLayers().apply(np.zeros((3, 3), np.int16), np.eye(4))


def test_generator_draws_records_and_images_the_scalp_layers():
    from radsynth.cohort.generator import SubjectPlan
    from radsynth.physics.mri.brain_generator import BrainMRIConfig, BrainMRIGenerator

    plan = SubjectPlan(index=0, subject_id="sub-0001", seed=5, labels={"tumour": False, "stroke": False},
                       attributes={"age_years": 40, "sex": "M"}, formats=("nifti",))
    cfg = BrainMRIConfig(sequences=["T1w", "T2w"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0),
                         realism={"scalp_fat_mm": [4.0, 6.0]})
    rec = BrainMRIGenerator(cfg).generate(plan)
    assert 4.0 <= rec.provenance.sampled["scalp_layers"]["fat_mm"] <= 6.0
    lab = next(m for m in rec.masks if m.name == "labels").array
    assert (lab == DEEP_SOFT_TISSUE_LABEL).sum() > 0
    for img in rec.images:  # fat bright on T1w and on turbo-spin-echo T2w, muscle dark on both
        a = img.array
        assert a[lab == DEEP_SOFT_TISSUE_LABEL].mean() < 0.7 * a[lab == 507].mean(), img.sequence
    with pytest.raises(Exception, match="scalp_fat_mm"):
        BrainMRIConfig(realism={"scalp_fat_mm": [5.0, 3.0]})
