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
    136: "left extra-cerebral (136)",
    137: "left extra-cerebral (137)",
    163: "right extra-cerebral (163)",
    164: "right extra-cerebral (164)",
    502: "extra-cerebral 502",
    506: "extra-cerebral 506",
    507: "extra-cerebral 507",
    508: "extra-cerebral 508",
    509: "extra-cerebral 509",
    511: "extra-cerebral 511",
    512: "extra-cerebral 512",
    514: "extra-cerebral 514",
    515: "extra-cerebral 515",
    516: "extra-cerebral 516",
    530: "extra-cerebral 530",
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
    # SynthSeg extra-cerebral classes; mapping checked by location/volume in
    # radsynth.anatomy (see tests/anatomy): refined there if needed.
    136: "gm", 137: "gm", 163: "gm", 164: "gm",
    502: "dura", 506: "vitreous", 507: "fat", 508: "blood", 509: "muscle", 511: "bone",
    512: "blood", 514: "muscle", 515: "skin", 516: "marrow", 530: "blood",
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
BRAIN = PARENCHYMA | VENTRICLES | EXTRACEREBRAL_CSF | LESION_LABELS | {30, 62, 85, 25, 57}


def tissue_of(label: int) -> str:
    """Tissue class of a label; unknown labels raise a KeyError naming the label."""
    try:
        return _TISSUE[int(label)]
    except KeyError:
        raise KeyError(
            f"label {int(label)} has no tissue class; known labels: {sorted(_TISSUE)}. "
            "Add it to radsynth.core.labels or remap your label map."
        ) from None
