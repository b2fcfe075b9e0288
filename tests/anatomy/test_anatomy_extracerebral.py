"""The identities given to SynthSeg's extra-cerebral labels in radsynth.core.labels hold
on the shipped maps (location/volume evidence; see the note in core/labels.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap_cached
from radsynth.core.labels import tissue_of


@pytest.fixture(scope="module")
def head():
    lab, _ = load_labelmap_cached(available_labelmaps()[0])
    return np.array(lab)


def _neighbours(lab, label):
    m = lab == label
    ring = ndimage.binary_dilation(m) & ~m
    u, c = np.unique(lab[ring], return_counts=True)
    return dict(zip(u.tolist(), c.tolist()))


def test_skin_is_the_outer_shell_and_bone_borders_csf(head):
    outer = ndimage.binary_dilation(head == 0) & (head != 0)
    u, c = np.unique(head[outer], return_counts=True)
    assert u[np.argmax(c)] == 511 and tissue_of(511) == "skin"
    nb = _neighbours(head, 24)  # around extra-cerebral CSF: cortex, then bone (dura not labelled)
    extra = {k: v for k, v in nb.items() if k >= 500}
    assert max(extra, key=extra.get) == 515 and tissue_of(515) == "bone"
    assert max(_neighbours(head, 516), key=_neighbours(head, 516).get) == 515  # marrow inside bone


def test_eyes_are_two_globes_of_eyeball_volume(head):
    comps, n = ndimage.label(head == 506)
    sizes = np.sort(np.bincount(comps.ravel())[1:])[::-1]
    # adult eyeball ~6.5-7.5 mL (axial length ~24 mm); label maps include partial volume
    assert 2 <= n and 4000 < sizes[1] <= sizes[0] < 9000
    c = [np.argwhere(comps == i + 1).mean(0) for i in np.argsort(np.bincount(comps.ravel())[1:])[::-1][:2]]
    assert abs(c[0][0] - c[1][0]) > 45  # left and right orbit (interpupillary ~60 mm)
    assert tissue_of(506) == "vitreous"


def test_spinal_cord_continues_the_brainstem(head):
    assert _neighbours(head, 512).get(16, 0) > 0 and tissue_of(512) == "wm"
    z512 = np.argwhere(head == 512)[:, 2].mean()
    z16 = np.argwhere(head == 16)[:, 2].mean()
    assert z512 < z16


def test_choroid_plexus_lies_in_the_lateral_ventricles(head):
    for plexus, ventricle in ((136, 4), (163, 43)):
        nb = _neighbours(head, plexus)
        assert max(nb, key=nb.get) == ventricle


def test_venous_sinus_runs_along_the_midline_inner_table(head):
    sup = np.argwhere(head == 514)
    top = sup[sup[:, 2] > np.percentile(np.argwhere(np.isin(head, [2, 41]))[:, 2], 90)]
    assert len(top) > 100
    assert abs(np.median(top[:, 0]) - (head.shape[0] - 1) / 2) < 10  # superior sagittal sinus
    assert tissue_of(514) == "blood" and tissue_of(502) == "blood"
