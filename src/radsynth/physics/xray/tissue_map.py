"""Anatomy -> material map: structure -> material, per-voxel density from the real CT's HU.

**Chest CT** (:func:`material_volume_from_ct`): each labelled structure has a material
(lung lobes -> lung; trachea -> air; heart and vessels -> blood; solid organs, oesophagus,
thyroid, spinal cord -> soft tissue; autochthon, iliopsoas, gluteal muscles -> muscle;
bones -> cancellous bone; costal cartilage -> soft tissue; kidney cysts -> water; brain
-> brain). HU rules refine it per voxel, with documented thresholds:

* in bones and cartilage, voxels above :data:`CORTICAL_HU` (400 HU) are cortical bone (the
  compact shell; cancellous bone/marrow is ~100-300 HU, cortex > ~500 HU at typical
  kVp);
* in soft-tissue, blood and muscle structures, voxels below -250 HU are gas (air: bowel
  and stomach gas, airway partial volume) and -250..-30 HU fat (adipose: epicardial and
  mediastinal fat inside loose labels);
* unlabelled voxels outside the body outline (largest connected component of HU > -500,
  holes filled per slice; :func:`radsynth.anatomy.body_habitus.body_mask`) are air at
  its reference density (table, blankets and padding removed); inside the body HU < -250
  -> air (gas), -250..-30 -> adipose, -30..400 -> soft tissue (incl. unlabelled muscle:
  pectoral, intercostal; soft tissue and muscle differ by < 0.5 % in composition),
  > 400 -> cortical bone.

Fat window -190..-30 HU: Kvist et al., Am J Clin Nutr 48:1351-1361 (1988); the -250 HU
fat/gas boundary leaves room for partial volume of fat with air.

Density: the real CT's HU in every voxel become a density of the voxel's material at which
that material has that CT number at ``reference_energy_kev``
(:func:`radsynth.physics.xray.materials.density_for_hu`, the stoichiometric calibration
idea of Schneider, Pedroni & Lomax, Phys. Med. Biol. 41:111-124, 1996), so the real texture
inside each structure is kept, and a CT simulated at that effective energy reproduces the
source HU. Densities are clipped to :data:`DENSITY_RANGE_G_CM3` (physical ranges of each
material; the clip only bites on noise and artefacts). Pass the CT simulator's effective
energy as ``reference_energy_kev``.

The shipped chest CT is contrast-enhanced (heart/aorta ~330-400 HU): blood is modelled
as "blood" at a raised density by default (HU reproduced at the reference energy); pass
``blood_material="iodinated_blood"`` for an iodine-containing mixture (correct energy
dependence of the enhancement).

**Head CT** (:func:`material_volume_from_head_labels`): SynthSeg tissue classes
(:func:`radsynth.core.labels.tissue_of`) -> material at a typical non-contrast head CT
number (:data:`HEAD_TISSUE_CT`): grey matter ~38 HU, white matter ~28 HU, CSF ~8 HU,
blood ~42 HU, muscle ~50 HU, fat ~-90 HU (typical values, e.g. grey matter 37-45, white
matter 20-30, CSF 0-15 HU: Lev & Gonzalez, "CT angiography and CT perfusion imaging", in
Brain Mapping: The Methods, 2nd ed., Academic Press 2002); skull bone -> cortical bone and
diploe -> cancellous bone at their ICRU reference densities; air at its density.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import numpy as np

from radsynth.anatomy.body_habitus import body_mask
from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import LABEL_NAMES, tissue_of
from radsynth.core.material_volume import MaterialVolume
from radsynth.physics.xray.materials import MATERIALS, check_energies, density_for_hu, get_material

#: Voxels of bone structures above this CT number are cortical bone (HU).
CORTICAL_HU = 400.0
#: Below this CT number a non-lung voxel is gas (HU).
GAS_HU = -250.0
#: Upper end of the fat window (Kvist et al. 1988) (HU).
FAT_UPPER_HU = -30.0

#: Physical density range (g/cm^3) per material; per-voxel densities are clipped to it.
DENSITY_RANGE_G_CM3: Mapping[str, tuple[float, float]] = MappingProxyType({
    "air": (0.0, 0.9),
    "lung": (0.0, 1.2),
    "adipose": (0.75, 1.0),
    "soft_tissue": (0.85, 1.6),
    "muscle": (0.85, 1.6),
    "blood": (0.85, 2.0),
    "iodinated_blood": (0.85, 2.0),
    "water": (0.85, 1.3),
    "brain": (0.85, 1.3),
    "cancellous_bone": (0.7, 1.6),
    "cortical_bone": (0.8, 2.3),
})

_BLOOD = frozenset({
    "heart", "aorta", "pulmonary_vein", "brachiocephalic_trunk", "subclavian_artery_right", "subclavian_artery_left",
    "common_carotid_artery_right", "common_carotid_artery_left", "brachiocephalic_vein_left", "brachiocephalic_vein_right",
    "atrial_appendage_left", "superior_vena_cava", "inferior_vena_cava", "portal_vein_and_splenic_vein",
    "iliac_artery_left", "iliac_artery_right", "iliac_vena_left", "iliac_vena_right",
})
_SOFT = frozenset({
    "spleen", "kidney_right", "kidney_left", "gallbladder", "liver", "stomach", "pancreas", "adrenal_gland_right",
    "adrenal_gland_left", "esophagus", "thyroid_gland", "small_bowel", "duodenum", "colon", "urinary_bladder",
    "prostate", "spinal_cord", "costal_cartilages",
})
_WATER = frozenset({"kidney_cyst_left", "kidney_cyst_right"})
_MUSCLE_PREFIXES = ("autochthon_", "iliopsoas_", "gluteus_")
_BONE_PREFIXES = ("vertebrae_", "rib_", "humerus_", "scapula_", "clavicula_", "femur_", "hip_")
_BONE = frozenset({"sternum", "sacrum", "skull", "carpal"})
_LUNG_PREFIX = "lung_"
_AIR = frozenset({"trachea"})

#: Material order of chest material volumes.
CHEST_MATERIALS = ("air", "lung", "adipose", "soft_tissue", "muscle", "blood", "water", "brain",
                   "cancellous_bone", "cortical_bone")


def structure_material(name: str) -> str:
    """Base material of a chest structure name; unknown names raise RadsynthInputError."""
    if name.startswith(_LUNG_PREFIX):
        return "lung"
    if name in _AIR:
        return "air"
    if name in _BLOOD:
        return "blood"
    if name in _SOFT:
        return "soft_tissue"
    if name in _WATER:
        return "water"
    if name == "brain":
        return "brain"
    if name.startswith(_MUSCLE_PREFIXES):
        return "muscle"
    if name.startswith(_BONE_PREFIXES) or name in _BONE:
        return "cancellous_bone"
    raise RadsynthInputError("structure", name, "a chest structure name of structures.csv (TotalSegmentator classes)",
                             "Add it to radsynth.physics.xray.tissue_map.")


def _density(material: str, hu: np.ndarray, energy_kev: float) -> np.ndarray:
    lo, hi = DENSITY_RANGE_G_CM3.get(material, (0.0, 25.0))
    return np.clip(density_for_hu(material, hu, energy_kev), lo, hi).astype(np.float32)


def material_volume_from_ct(hu: np.ndarray, labels: np.ndarray, affine: np.ndarray, label_names: Mapping[int, str],
                            reference_energy_kev: float = 60.0, blood_material: str = "blood") -> MaterialVolume:
    """Material map of a labelled chest CT (see module docstring); densities keep the real HU texture."""
    hu = np.asarray(hu, dtype=np.float32)
    labels = np.asarray(labels)
    if hu.shape != labels.shape or hu.ndim != 3:
        raise RadsynthInputError("hu/labels", f"{hu.shape} vs {labels.shape}", "a 3D HU volume and label map of one shape")
    e = float(check_energies([reference_energy_kev], "reference_energy_kev")[0])
    if blood_material not in ("blood", "iodinated_blood"):
        raise RadsynthInputError("blood_material", blood_material, "'blood' or 'iodinated_blood'")
    names = list(CHEST_MATERIALS) + (["iodinated_blood"] if blood_material == "iodinated_blood" else [])
    idx = {n: i for i, n in enumerate(names)}
    lab = labels.astype(np.int64)
    n_lut = max(int(lab.max()) + 1 if lab.size else 1, max((int(k) for k in label_names), default=0) + 1)
    lut = np.full(n_lut, idx["soft_tissue"], dtype=np.uint8)
    soft_like = np.zeros(n_lut, dtype=bool)
    bone_like = np.zeros(n_lut, dtype=bool)
    present = set(np.unique(lab).tolist()) - {0}
    unknown = sorted(k for k in present if k not in label_names)
    if unknown:
        raise RadsynthInputError("labels", unknown[:5], "label ids named in label_names")
    for k, name in label_names.items():
        k = int(k)
        if k == 0 or k >= n_lut:
            continue
        m = structure_material(name)
        if m == "blood":
            m = blood_material
        lut[k] = idx[m]
        soft_like[k] = m in ("soft_tissue", "muscle", "blood", "iodinated_blood", "water", "brain")
        bone_like[k] = m == "cancellous_bone" or name == "costal_cartilages"
    mat = lut[lab]
    soft = soft_like[lab]
    mat[soft & (hu < FAT_UPPER_HU)] = idx["adipose"]
    mat[soft & (hu < GAS_HU)] = idx["air"]
    mat[bone_like[lab] & (hu > CORTICAL_HU)] = idx["cortical_bone"]
    unl = lab == 0
    body = body_mask(hu)
    inside = unl & body
    mat[inside] = idx["soft_tissue"]
    mat[inside & (hu < FAT_UPPER_HU)] = idx["adipose"]
    mat[inside & (hu < GAS_HU)] = idx["air"]
    mat[inside & (hu > CORTICAL_HU)] = idx["cortical_bone"]
    outside = unl & ~body
    mat[outside] = idx["air"]
    dens = np.empty(hu.shape, dtype=np.float32)
    for m, i in idx.items():
        sel = mat == i
        if sel.any():
            dens[sel] = _density(m, hu[sel], e)
    dens[outside] = np.float32(MATERIALS["air"].density_g_cm3)
    names_used = {int(k): str(v) for k, v in label_names.items() if int(k) in present}
    return MaterialVolume(mat, dens, names, np.asarray(affine, dtype=np.float64), labels.astype(np.int16), names_used)


# --------------------------------------------------------------------------- head
#: SynthSeg tissue class -> (material, CT number in HU or None for the reference density).
HEAD_TISSUE_CT: Mapping[str, tuple[str, float | None]] = MappingProxyType({
    "air": ("air", None),
    "csf": ("water", 8.0),
    "gm": ("brain", 38.0),
    "deep_gm": ("brain", 36.0),
    "wm": ("brain", 28.0),
    "blood": ("blood", 42.0),
    "fat": ("adipose", -90.0),
    "muscle": ("muscle", 50.0),
    "skin": ("soft_tissue", 40.0),
    "bone": ("cortical_bone", None),
    "marrow": ("cancellous_bone", None),
    "vitreous": ("water", 10.0),
    "dura": ("soft_tissue", 50.0),
    "tumour_necrosis": ("water", 15.0),
    "tumour_enhancing": ("brain", 40.0),
    "oedema": ("brain", 20.0),
    "infarct": ("brain", 20.0),
})
#: Standard deviation (HU) of the optional smooth texture, and its smoothing (voxels).
HEAD_TEXTURE_STD_HU = 3.0
HEAD_TEXTURE_SIGMA_VOX = 1.5


def material_volume_from_head_labels(labels: np.ndarray, affine: np.ndarray, rng_or_texture=None,
                                     reference_energy_kev: float = 60.0) -> MaterialVolume:
    """Material map of a SynthSeg head label map (see module docstring).

    rng_or_texture: None (no texture), a ``numpy.random.Generator`` (smooth Gaussian HU
    texture, std HEAD_TEXTURE_STD_HU, added to all tissues with a CT number) or a float
    array of the labels' shape (HU offsets added the same way).
    """
    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise RadsynthInputError("labels", f"array of shape {labels.shape}", "a 3D label map")
    e = float(check_energies([reference_energy_kev], "reference_energy_kev")[0])
    present = np.unique(labels).astype(np.int64)
    names: list[str] = []
    lut_mat = np.zeros(int(present.max()) + 1, dtype=np.uint8)
    lut_hu = np.zeros(int(present.max()) + 1, dtype=np.float32)
    lut_ref = np.zeros(int(present.max()) + 1, dtype=bool)
    for k in present:
        try:
            tissue = tissue_of(int(k))
        except KeyError:
            raise RadsynthInputError("labels", int(k), "FreeSurfer/SynthSeg label ids known to radsynth.core.labels") from None
        m, h = HEAD_TISSUE_CT[tissue]
        get_material(m)
        if m not in names:
            names.append(m)
        lut_mat[k] = names.index(m)
        lut_ref[k] = h is None
        lut_hu[k] = 0.0 if h is None else h
    lab = labels.astype(np.int64)
    mat = lut_mat[lab]
    hu = lut_hu[lab]
    ref = lut_ref[lab]
    if rng_or_texture is not None:
        if isinstance(rng_or_texture, np.random.Generator):
            from scipy import ndimage

            tex = ndimage.gaussian_filter(rng_or_texture.standard_normal(labels.shape, dtype=np.float32),
                                          HEAD_TEXTURE_SIGMA_VOX)
            s = float(tex.std())
            tex *= np.float32(HEAD_TEXTURE_STD_HU / s) if s > 0 else np.float32(0.0)
        else:
            tex = np.asarray(rng_or_texture, dtype=np.float32)
            if tex.shape != labels.shape:
                raise RadsynthInputError("rng_or_texture", f"array of shape {tex.shape}",
                                         f"None, a numpy Generator or an HU texture of shape {labels.shape}")
        hu = np.where(ref, hu, hu + tex)
    dens = np.empty(labels.shape, dtype=np.float32)
    for i, m in enumerate(names):
        sel = mat == i
        sref = sel & ref
        sh = sel & ~ref
        if sref.any():
            dens[sref] = np.float32(MATERIALS[m].density_g_cm3)
        if sh.any():
            dens[sh] = _density(m, hu[sh], e)
    label_names = {int(k): LABEL_NAMES.get(int(k), str(int(k))) for k in present}
    return MaterialVolume(mat, dens, names, np.asarray(affine, dtype=np.float64), labels.astype(np.int16), label_names)
