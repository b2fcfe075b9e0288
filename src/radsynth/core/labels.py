"""Label taxonomy shared by anatomy, physics and pathology.

Anatomical labels follow FreeSurfer's look-up table as used by the SynthSeg
training label maps (Billot et al., Medical Image Analysis 2023). Labels in the
5xx range are SynthSeg's extra-cerebral classes; lesion labels live at 1000+.
Each label maps to one *tissue class*; MRI relaxation parameters are defined per
tissue class (see :mod:`radsynth.physics.mri.tissue`).
"""

from __future__ import annotations

from types import MappingProxyType

# --- lesion labels (written into the label map by radsynth.pathology) ---
TUMOUR_NECROSIS = 1001
TUMOUR_ENHANCING = 1002
TUMOUR_OEDEMA = 1003
INFARCT = 1010

LESION_LABELS = frozenset({TUMOUR_NECROSIS, TUMOUR_ENHANCING, TUMOUR_OEDEMA, INFARCT})

# --- radsynth's own anatomical labels (written by radsynth.anatomy.meninges / scalp_layers; not in the SynthSeg maps) ---
DURA_LABEL = 517
DEEP_SOFT_TISSUE_LABEL = 518

_NAMES = {
    0: "background",
    2: "left cerebral white matter",
    3: "left cerebral cortex",
    4: "left lateral ventricle",
    5: "left inferior lateral ventricle",
    7: "left cerebellum white matter",
    8: "left cerebellum cortex",
    10: "left thalamus",
    11: "left caudate",
    12: "left putamen",
    13: "left pallidum",
    14: "3rd ventricle",
    15: "4th ventricle",
    16: "brain-stem",
    17: "left hippocampus",
    18: "left amygdala",
    24: "csf",
    25: "left lesion",
    26: "left accumbens area",
    28: "left ventral DC",
    30: "left vessel",
    41: "right cerebral white matter",
    42: "right cerebral cortex",
    43: "right lateral ventricle",
    44: "right inferior lateral ventricle",
    46: "right cerebellum white matter",
    47: "right cerebellum cortex",
    49: "right thalamus",
    50: "right caudate",
    51: "right putamen",
    52: "right pallidum",
    53: "right hippocampus",
    54: "right amygdala",
    57: "right lesion",
    58: "right accumbens area",
    60: "right ventral DC",
    62: "right vessel",
    72: "5th ventricle",
    85: "optic chiasm",
    # 136/137/163/164 and 5xx: identified by location in the 20 SynthSeg training maps
    # (see the evidence note in _TISSUE below).
    136: "left choroid plexus (lateral ventricle body/atrium)",
    137: "left choroid plexus (temporal horn)",
    163: "right choroid plexus (lateral ventricle body/atrium)",
    164: "right choroid plexus (temporal horn)",
    502: "arteries (internal carotid, vertebral)",
    506: "eyeballs (vitreous)",
    507: "extracranial soft tissue (subcutaneous and orbital fat, muscles of face and neck)",
    508: "extraocular muscles",
    509: "nasal cavity soft tissue (turbinates, mucosa)",
    511: "skin (outer layer of scalp, face and neck)",
    512: "spinal cord",
    514: "dural venous sinuses and large veins",
    515: "bone (skull tables, vertebrae, mandible)",
    516: "bone marrow (diploe, vertebral bodies, mandible)",
    530: "optic nerves",
    DURA_LABEL: "dura mater and arachnoid lining the inner table (radsynth.anatomy.meninges, from CSF 24)",
    DEEP_SOFT_TISSUE_LABEL: "deep extracranial soft tissue: temporalis and other muscles, galea "
                            "(radsynth.anatomy.scalp_layers, from 507)",
    TUMOUR_NECROSIS: "tumour necrotic core",
    TUMOUR_ENHANCING: "tumour enhancing rim",
    TUMOUR_OEDEMA: "peritumoural oedema",
    INFARCT: "ischaemic infarct",
}
LABEL_NAMES = MappingProxyType(_NAMES)

#: Tissue classes that carry MR parameters.
TISSUES = (
    "air", "csf", "gm", "wm", "deep_gm", "blood", "fat", "muscle", "skin", "bone",
    "marrow", "vitreous", "dura",
    "tumour_necrosis", "tumour_enhancing", "oedema", "infarct",
)

_TISSUE = {
    0: "air",
    2: "wm", 41: "wm", 7: "wm", 46: "wm", 16: "wm", 28: "wm", 60: "wm", 85: "wm",
    3: "gm", 42: "gm", 8: "gm", 47: "gm", 17: "gm", 18: "gm", 53: "gm", 54: "gm",
    10: "deep_gm", 49: "deep_gm", 11: "deep_gm", 50: "deep_gm", 12: "deep_gm", 51: "deep_gm",
    13: "deep_gm", 52: "deep_gm", 26: "deep_gm", 58: "deep_gm",
    4: "csf", 43: "csf", 5: "csf", 44: "csf", 14: "csf", 15: "csf", 24: "csf", 72: "csf",
    25: "wm", 57: "wm",
    30: "blood", 62: "blood",
    # SynthSeg extra-cerebral classes. Their meaning is undocumented; identified during
    # the radsynth.anatomy work by inspecting all 20 SynthSeg training maps (Billot et
    # al. 2023): volume, centroid, connected components, neighbouring labels and
    # rendered axial/coronal/sagittal slices. Volumes: range over the 20 maps.
    # - 136/163 (0.8-3.2 mL, left/right): inside the lateral-ventricle atrium/body, touching
    #   4/43 and the thalamus; 137/164 (0.1-0.4 mL) in the temporal horns next to 5/44 and
    #   the hippocampus. SynthSeg's own segmentation-label table maps 136->4, 137->5,
    #   163->43, 164->44. => choroid plexus (FreeSurfer 31/63). Vascular stroma with
    #   GM-like T1/T2: "gm" is the closest tissue class.
    # - 502 (4-12 mL, ~70 thin components): bilateral tubes in the carotid sheath running
    #   up the neck, petrous/cavernous course beside the sella => arteries: "blood".
    # - 506 (7-16 mL, two ~6.5 mL spheres in the orbits) => eyeballs: "vitreous".
    # - 507 (0.5-1.8 L, one component, fills all space between skin and bone): scalp
    #   subcutaneous layer, orbital fat, temporalis/masticatory/neck muscles, tongue =>
    #   generic soft tissue; "fat" gives the bright scalp/orbit of T1w (neck muscle
    #   too bright: a known limitation of this class).
    # - 508 (2-4 mL): thin bands along the globe's walls to the orbital apex =>
    #   extraocular muscles: "muscle".
    # - 509 (22-50 mL): midline, in the nasal cavity around air pockets => turbinates and
    #   nasal mucosa: "muscle" (soft tissue).
    # - 511 (0.24-0.44 L): uniform 3-5 mm outermost shell of the head; 40-67% of all
    #   head/air interface voxels (the rest: bone and mucosa around sinus air) => "skin"
    #   (was "bone").
    # - 512 (0.1-10 mL, one component): continues the brain-stem down the spinal canal
    #   inside CSF => spinal cord: "wm" (was "blood").
    # - 514 (10-43 mL): superior sagittal, straight and transverse sinuses along the inner
    #   table, jugular veins in the neck => venous blood: "blood" (was "muscle").
    # - 515 (0.3-0.54 L): shell between CSF and scalp (22-25% of the voxels bordering CSF
    #   24, the rest being cortex), walls of the sinuses, vertebrae, mandible => cortical
    #   bone: "bone" (was "skin").
    # - 516 (33-152 mL): enclosed by 515 (diploe of the calvaria, vertebral bodies) =>
    #   "marrow".
    # - 530 (0.6-1.3 mL): from the back of each globe to the orbital apex/chiasm =>
    #   optic nerves: "wm" (was "blood").
    136: "gm", 137: "gm", 163: "gm", 164: "gm",
    502: "blood", 506: "vitreous", 507: "fat", 508: "muscle", 509: "muscle", 511: "skin",
    512: "wm", 514: "blood", 515: "bone", 516: "marrow", 530: "wm",
    DURA_LABEL: "dura",
    DEEP_SOFT_TISSUE_LABEL: "muscle",
    TUMOUR_NECROSIS: "tumour_necrosis",
    TUMOUR_ENHANCING: "tumour_enhancing",
    TUMOUR_OEDEMA: "oedema",
    INFARCT: "infarct",
}
LABEL_TO_TISSUE = MappingProxyType(_TISSUE)

LEFT_LATERAL_VENTRICLE = frozenset({4, 5})
RIGHT_LATERAL_VENTRICLE = frozenset({43, 44})
VENTRICLES = frozenset({4, 5, 43, 44, 14, 15, 72})
EXTRACEREBRAL_CSF = frozenset({24})
CEREBRAL_WM = frozenset({2, 41})
CEREBRAL_CORTEX = frozenset({3, 42})
#: Brain parenchyma: where a tumour may grow (grey and white matter, deep nuclei,
#: cerebellum, brainstem), excluding CSF spaces and extra-cerebral tissue.
PARENCHYMA = frozenset(
    {2, 3, 7, 8, 10, 11, 12, 13, 16, 17, 18, 26, 28, 41, 42, 46, 47, 49, 50, 51, 52, 53, 54, 58, 60}
)
#: Supratentorial cerebral parenchyma by hemisphere (for territories and mass effect).
LEFT_HEMISPHERE = frozenset({2, 3, 10, 11, 12, 13, 17, 18, 26, 28, 4, 5})
RIGHT_HEMISPHERE = frozenset({41, 42, 49, 50, 51, 52, 53, 54, 58, 60, 43, 44})
CHOROID_PLEXUS = frozenset({136, 137, 163, 164})
BRAIN = PARENCHYMA | VENTRICLES | EXTRACEREBRAL_CSF | LESION_LABELS | CHOROID_PLEXUS | {30, 62, 85, 25, 57}


def tissue_of(label: int) -> str:
    """Tissue class of a label; unknown labels raise a KeyError naming the label."""
    try:
        return _TISSUE[int(label)]
    except KeyError:
        raise KeyError(
            f"label {int(label)} has no tissue class; known labels: {sorted(_TISSUE)}. "
            "Add it to radsynth.core.labels or remap your label map."
        ) from None
