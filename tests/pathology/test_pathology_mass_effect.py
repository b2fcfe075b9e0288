"""Tests of radsynth.pathology.mass_effect: radial, fold-free, brain-confined warp."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import LEFT_LATERAL_VENTRICLE

EXTRACRANIAL_LABELS = frozenset({506, 507, 509, 511, 514, 515, 516})  # eyes, fat, muscle, bone, skin, marrow
from radsynth.pathology.lesion_shape import label_mask
from radsynth.pathology.mass_effect import (
    INTRACRANIAL,
    MAX_DISPLACEMENT_FRACTION,
    MIN_JACOBIAN,
    SUPPORT_DECAYS,
    MassEffect,
    jacobian_determinant,
)


@settings(max_examples=60, deadline=None)
@given(
    radius=st.floats(2.0, 40.0),
    frac=st.floats(0.0, MAX_DISPLACEMENT_FRACTION),
    decay=st.floats(1.0, 30.0),
)
def test_radial_profile_is_fold_free(radius, frac, decay):
    """For a radial backward map s(r) = r - u(r), det J = s'(r) (s/r)^2: positive iff s' > 0 and s/r > 0."""
    me = MassEffect((0.0, 0.0, 0.0), radius, frac * radius, decay)
    r = np.linspace(1e-3, me.support_mm + 5.0, 4001, dtype=np.float64)
    u = me.radial_displacement_mm(r).astype(np.float64)
    s = r - u
    assert np.all(np.diff(s) > 0)  # monotone: no radial fold
    assert np.all(s / r > 1.0 - MAX_DISPLACEMENT_FRACTION - 1e-5)  # no tangential fold
    # largest at the lesion boundary, exactly 0 beyond the support
    assert me.radial_displacement_mm(np.float32(radius)) == pytest.approx(frac * radius, rel=1e-5, abs=1e-5)
    assert np.all(u <= frac * radius * (1 + 1e-5) + 1e-6)
    assert np.all(u[r >= radius + SUPPORT_DECAYS * decay] == 0)


def test_backward_coordinates_sample_towards_the_centre(phantom):
    lab, aff = phantom
    c = (31.5, 31.5, 31.5)
    me = MassEffect(c, radius_mm=6.0, displacement_mm=3.0, decay_mm=4.0)
    coords = me.coords(lab, aff)
    assert coords.shape == (3, *lab.shape) and coords.dtype == np.float32
    # voxel 8.5 mm from the centre along +y samples 8.5 - u(8.5) mm from it (1 mm voxels)
    i, j, k = 31, 40, 31  # offset (-0.5, 8.5, -0.5)
    off = np.array([-0.5, 8.5, -0.5])
    r = np.linalg.norm(off)
    u = float(me.radial_displacement_mm(np.float32(r)))
    expect = np.array([i, j, k]) - off / r * u
    np.testing.assert_allclose(coords[:, i, j, k], expect, atol=1e-4)
    # identity beyond the support
    assert np.array_equal(coords[:, 0, 0, 0], np.zeros(3, dtype=np.float32))
    jac = jacobian_determinant(coords)
    assert jac.min() > 0
    brain = label_mask(lab, INTRACRANIAL)
    x, y, z = np.meshgrid(*(np.arange(64) - 31.5 for _ in range(3)), indexing="ij")
    outside = np.sqrt(x**2 + y**2 + z**2) >= 6.0
    assert jac[brain & outside].min() >= MIN_JACOBIAN


def test_skull_and_scalp_never_move(brain_map, extracranial):
    lab, aff = brain_map
    centre = np.argwhere(label_mask(lab, LEFT_LATERAL_VENTRICLE)).mean(0) + [-14, 0, 6]
    me = MassEffect(tuple(centre), radius_mm=15.0, displacement_mm=8.0, decay_mm=15.0)
    out = me.apply(lab, aff)
    static = extracranial(lab)
    assert np.array_equal(out[static], lab[static])
    assert not np.array_equal(out, lab)
    # no skull/scalp label copied inward
    moved = out != lab
    assert not label_mask(out[moved], EXTRACRANIAL_LABELS).any()
    # fold-free in the moving brain around the lesion
    jac = jacobian_determinant(me.coords(lab, aff))
    x, y, z = np.meshgrid(*(np.arange(n) - c for n, c in zip(lab.shape, centre)), indexing="ij")
    around = (np.sqrt(x**2 + y**2 + z**2) > me.radius_mm + 1.5) & label_mask(lab, INTRACRANIAL)
    assert jac[around].min() >= me.min_jacobian


def test_invalid_parameters_name_the_field():
    with pytest.raises(RadsynthInputError, match="displacement_mm"):
        MassEffect((0, 0, 0), radius_mm=5.0, displacement_mm=5.0, decay_mm=3.0)
    with pytest.raises(RadsynthInputError, match="radius_mm"):
        MassEffect((0, 0, 0), radius_mm=-1.0, displacement_mm=0.0, decay_mm=3.0)
    with pytest.raises(RadsynthInputError, match="decay_mm"):
        MassEffect((0, 0, 0), radius_mm=5.0, displacement_mm=1.0, decay_mm=0.0)


def test_twin_round_trip(phantom):
    lab, aff = phantom
    me = MassEffect((30.0, 33.0, 31.0), 7.0, 3.0, 5.0)
    again = MassEffect.from_dict(me.to_dict())
    assert again == me
    assert np.array_equal(again.apply(lab, aff), me.apply(lab, aff))


def test_rejects_non_ras_affine(phantom):
    lab, aff = phantom
    flipped = aff.copy()
    flipped[0, 0] = -1
    with pytest.raises(RadsynthInputError, match="affine"):
        MassEffect((30.0, 33.0, 31.0), 7.0, 3.0, 5.0).apply(lab, flipped)
