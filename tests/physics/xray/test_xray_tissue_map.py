"""Structure -> material map and HU -> density calibration on the shipped chest CT and head maps.

Simulation-free sanity check of the calibration: the median density of each tissue, from
the real CT's HU through the stoichiometric inversion (Schneider et al. 1996), lies in a
documented range around the ICRU 44/46 reference densities (MATERIALS):

* lung 0.08-0.35 g/cm^3: ICRU 46 inflated lung 0.26; healthy lung on CT is -900..-650 HU
  (shipped asset median -872 HU -> ~0.13);
* adipose 0.90-0.97 (ICRU 44: 0.95); muscle 1.02-1.08 (1.05); liver 1.03-1.09 (ICRU soft
  tissue 1.06);
* heart / aorta blood 1.0-1.45: ICRU whole blood 1.06, but this CT is contrast-enhanced
  (heart ~330 HU), which the default "blood" model carries as raised density;
* cancellous bone (bone labels <= 400 HU) 0.9-1.25 (ICRU 46 spongiosa 1.18);
* cortical bone (bone labels > 400 HU) 0.9-2.0 (ICRU 44: 1.92; at 1.4 x 1.4 x 2.5 mm the
  thin cortex is partial-volumed: median ~535 HU).
"""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.anatomy.chest_ct import load_chest_anatomy
from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap_cached
from radsynth.core.errors import RadsynthInputError
from radsynth.physics.xray.materials import MATERIALS, hounsfield_units
from radsynth.physics.xray.tissue_map import (
    CORTICAL_HU,
    material_volume_from_ct,
    material_volume_from_head_labels,
    structure_material,
)

E_KEV = 60.0


@pytest.fixture(scope="module")
def chest():
    return load_chest_anatomy()


@pytest.fixture(scope="module")
def mv(chest):
    return material_volume_from_ct(chest.hu, chest.labels, chest.affine, chest.label_names, E_KEV)


RANGES = {
    "lung": ("lung", 0.08, 0.35),
    "adipose": (None, 0.90, 0.97),
    "muscle": ("autochthon", 1.02, 1.08),
    "liver": ("liver", 1.03, 1.09),
    "heart": ("heart", 1.0, 1.45),
    "cancellous_bone": ("bone_low", 0.9, 1.25),
    "cortical_bone": ("bone_high", 0.9, 2.0),
}


def test_median_densities_near_icru(chest, mv):
    bone = chest.mask("bone")
    masks = {
        "lung": chest.mask("lung"),
        "adipose": mv.mask_of("adipose") & (chest.labels == 0),
        "muscle": chest.mask("autochthon_left") | chest.mask("autochthon_right"),
        "liver": chest.mask("liver"),
        "heart": chest.mask("heart"),
        "cancellous_bone": bone & (chest.hu <= CORTICAL_HU),
        "cortical_bone": bone & (chest.hu > CORTICAL_HU),
    }
    for key, (_, lo, hi) in RANGES.items():
        med = float(np.median(mv.density_g_cm3[masks[key]]))
        assert lo <= med <= hi, (key, med)
    assert mv.mask_of("cortical_bone")[bone & (chest.hu > CORTICAL_HU)].all()
    assert float(np.median(mv.density_g_cm3[mv.mask_of("adipose")])) == pytest.approx(MATERIALS["adipose"].density_g_cm3, abs=0.03)


def test_hu_round_trip_keeps_texture(chest, mv):
    """A voxel's density reproduces its real HU at the reference energy (inside the clip ranges)."""
    rng = np.random.default_rng(0)
    for name in ("liver", "heart", "lung_lower_lobe_left"):
        idx = np.argwhere(chest.mask(name))
        for i, j, k in idx[rng.integers(0, len(idx), 5)]:
            m = mv.names[mv.material[i, j, k]]
            hu = hounsfield_units(m, E_KEV, float(mv.density_g_cm3[i, j, k]))
            if 0.0 < mv.density_g_cm3[i, j, k]:
                assert hu == pytest.approx(float(chest.hu[i, j, k]), abs=1.0)


def test_outside_body_is_air_and_labels_kept(chest, mv):
    body = chest.mask("body")
    out = ~body & (chest.labels == 0)
    assert mv.mask_of("air")[out].all()
    assert np.all(mv.density_g_cm3[out] == np.float32(MATERIALS["air"].density_g_cm3))
    assert np.array_equal(mv.labels, chest.labels)
    assert mv.mask_of("lung")[chest.mask("lung")].all()
    assert mv.mask_of("air")[chest.mask("trachea")].mean() > 0.9


def test_mapping_and_errors(chest):
    assert structure_material("lung_middle_lobe_right") == "lung"
    assert structure_material("aorta") == "blood"
    assert structure_material("autochthon_left") == "muscle"
    assert structure_material("rib_right_7") == "cancellous_bone"
    assert structure_material("thyroid_gland") == "soft_tissue"
    with pytest.raises(RadsynthInputError):
        structure_material("flux_capacitor")
    small = (chest.hu[:, :, 60:62], chest.labels[:, :, 60:62], chest.affine)
    bad = dict(chest.label_names)
    bad[51] = "not_an_organ"
    with pytest.raises(RadsynthInputError):
        material_volume_from_ct(*small, bad)
    with pytest.raises(RadsynthInputError):
        material_volume_from_ct(*small, chest.label_names, reference_energy_kev=200.0)
    iod = material_volume_from_ct(*small, chest.label_names, blood_material="iodinated_blood")
    assert "iodinated_blood" in iod.names and iod.mask_of("blood").sum() == 0


def test_head_materials_and_ct_numbers():
    lab, aff = load_labelmap_cached(available_labelmaps()[0])
    mv = material_volume_from_head_labels(lab, aff, None, E_KEV)
    def hu_of(label):
        sel = lab == label
        m = mv.names[int(mv.material[sel][0])]
        return m, hounsfield_units(m, E_KEV, float(np.median(mv.density_g_cm3[sel])))

    assert hu_of(3) == ("brain", pytest.approx(38.0, abs=0.5))  # cortex
    assert hu_of(2) == ("brain", pytest.approx(28.0, abs=0.5))  # white matter
    assert hu_of(4)[0] == "water"
    m, _ = hu_of(515)
    assert m == "cortical_bone" and np.all(mv.density_g_cm3[lab == 515] == np.float32(1.92))
    assert hu_of(516)[0] == "cancellous_bone" and hu_of(507)[0] == "adipose" and hu_of(0)[0] == "air"
    t1 = material_volume_from_head_labels(lab, aff, np.random.default_rng(4), E_KEV)
    t2 = material_volume_from_head_labels(lab, aff, np.random.default_rng(4), E_KEV)
    assert t1.density_g_cm3.tobytes() == t2.density_g_cm3.tobytes()
    assert 0.0 < float(np.std(t1.density_g_cm3[lab == 2])) < 0.01
    bad = np.array(lab)
    bad[0, 0, 0] = 999
    with pytest.raises(RadsynthInputError):
        material_volume_from_head_labels(bad, aff)
    with pytest.raises(RadsynthInputError):
        material_volume_from_head_labels(lab, aff, np.zeros((2, 2, 2)))
