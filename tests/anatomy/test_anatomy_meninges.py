"""Meninges carved out of the extra-cerebral CSF: exact geometry on a toy head, nothing else moves, the
layer grows with the thickness, and the generator draws, records and images it (dura dark on T2w, as the
dark band between scalp fat and subarachnoid CSF on clinical T2-weighted images)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.anatomy.meninges import Meninges, RandomMeninges
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import DURA_LABEL, LABEL_TO_TISSUE


def _slab(nx=30):
    """Bone at x 0-4, extra-cerebral CSF at x 5-19, cortex from x 20, a ventricle (4) touching the bone."""
    lab = np.zeros((nx, 8, 8), np.int16)
    lab[:5] = 515
    lab[5:20] = 24
    lab[20:] = 3
    lab[5:7, 0:2, 0:2] = 4
    return lab


def test_csf_within_the_thickness_of_bone_becomes_dura_exactly():
    lab = _slab()
    out = Meninges(2.0).apply(lab, np.eye(4))  # 1 mm voxels: CSF centres 1 and 2 mm from the bone: x = 5, 6
    dura = out == DURA_LABEL
    assert set(np.unique(np.nonzero(dura)[0])) == {5, 6}
    assert np.all(out[7:20][lab[7:20] == 24] == 24)
    np.testing.assert_array_equal(out[~dura], lab[~dura])  # nothing else moves
    assert np.all(out[lab == 4] == 4)  # ventricles keep their label, even next to bone
    # anisotropic voxels: 2 mm along x, so only the first CSF slice (2 mm from bone) is within 2 mm
    aff = np.diag([2.0, 1.0, 1.0, 1.0])
    assert set(np.unique(np.nonzero(Meninges(2.0).apply(lab, aff) == DURA_LABEL)[0])) == {5}
    np.testing.assert_array_equal(Meninges(0.0).apply(lab, np.eye(4)), lab)
    assert LABEL_TO_TISSUE[DURA_LABEL] == "dura"


@settings(max_examples=25, deadline=None)
@given(a=st.floats(0.0, 5.0), b=st.floats(0.0, 5.0))
def test_the_layer_is_nested_in_the_thickness(a, b):
    lo, hi = sorted((a, b))
    lab = _slab()
    d_lo = Meninges(lo).apply(lab, np.eye(4)) == DURA_LABEL
    d_hi = Meninges(hi).apply(lab, np.eye(4)) == DURA_LABEL
    assert np.all(d_hi[d_lo])
    assert d_hi.sum() == 8 * 8 * min(15, int(np.floor(hi + 1e-6))) - (2 * 2 * min(2, int(np.floor(hi + 1e-6))))


def test_random_twin_records_and_replays_and_errors():
    m = RandomMeninges((1.0, 2.0)).sample(np.random.default_rng(0))
    assert 1.0 <= m.thickness_mm <= 2.0 and Meninges.from_dict(m.to_dict()) == m
    with pytest.raises(RadsynthInputError, match="thickness_mm"):
        Meninges(6.0)
    with pytest.raises(RadsynthInputError, match="thickness_mm"):
        RandomMeninges((2.0, 1.0))
    with pytest.raises(RadsynthInputError, match="labels"):
        Meninges(1.0).apply(np.zeros((4, 4), np.int16), np.eye(4))


def test_generator_draws_records_and_images_the_meninges():
    from radsynth.cohort.generator import SubjectPlan
    from radsynth.physics.mri.brain_generator import BrainMRIConfig, BrainMRIGenerator

    plan = SubjectPlan(index=0, subject_id="sub-0001", seed=5, labels={"tumour": False, "stroke": False},
                       attributes={"age_years": 40, "sex": "F"}, formats=("nifti",))
    cfg = BrainMRIConfig(sequences=["T2w"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0),
                         realism={"meninges_mm": [2.0, 3.0]})
    rec = BrainMRIGenerator(cfg).generate(plan)
    assert 2.0 <= rec.provenance.sampled["meninges"]["thickness_mm"] <= 3.0
    lab = next(m for m in rec.masks if m.name == "labels").array
    img = rec.images[0].array
    assert (lab == DURA_LABEL).sum() > 0 and DURA_LABEL in next(m for m in rec.masks if m.name == "labels").label_names
    assert img[lab == DURA_LABEL].mean() < 0.6 * img[lab == 24].mean()  # dura dark against CSF on T2w
    with pytest.raises(Exception, match="meninges_mm"):
        BrainMRIConfig(realism={"meninges_mm": [1.0, 9.0]})
