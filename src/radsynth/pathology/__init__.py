"""Pathology with clinical constraints: brain lesions in label maps, chest and head CT lesions in material maps.

* :class:`RandomGlioma` / :class:`Glioma`: intra-axial tumour (necrosis 1001,
  enhancing rim 1002, oedema 1003) with mass effect (:class:`MassEffect`).
* :class:`RandomTumourGrowth` / :class:`TumourGrowth`: Gompertz or exponential tumour volume (mL) over
  time (days); :class:`RandomGliomaProgression` / :class:`GliomaProgression`: one glioma grown to that
  volume at each timepoint, mass effect and oedema growing with it.
* :class:`RandomIschaemicStroke` / :class:`IschaemicStroke`: infarct (1010)
  inside one arterial territory (:func:`territory_mask`).

Chest and head CT (edit a :class:`~radsynth.core.material_volume.MaterialVolume` in place):

* :class:`RandomLungNodule` / :class:`LungNodule`: solid, part-solid, ground-glass, 3-30 mm, inside lung (1020).
* :class:`RandomLobarConsolidation` / :class:`LobarConsolidation`: within one lobe, air bronchograms (1030).
* :class:`RandomPleuralEffusion` / :class:`PleuralEffusion`: gravity-dependent fluid with meniscus (1040).
* :class:`RandomIntraparenchymalHaemorrhage` / :class:`IntraparenchymalHaemorrhage`: hyperdense blood
  inside brain parenchyma (1050), optional perihaematomal oedema (1051).

Every ``Random*`` class draws a frozen parameter dataclass with ``to_dict`` /
``from_dict`` and a deterministic ``apply(labels, affine) -> (labels, finding)``.
Label maps are int16, RAS+ canonical, with a 4x4 voxel->world affine (mm).
"""

from radsynth.pathology.glioma import Glioma, RandomGlioma
from radsynth.pathology.glioma_progression import GliomaProgression, RandomGliomaProgression, ventricle_mass_effect
from radsynth.pathology.intraparenchymal_haemorrhage import (
    IntraparenchymalHaemorrhage,
    RandomIntraparenchymalHaemorrhage,
)
from radsynth.pathology.ischaemic_stroke import IschaemicStroke, RandomIschaemicStroke
from radsynth.pathology.lobar_consolidation import LobarConsolidation, RandomLobarConsolidation
from radsynth.pathology.lung_nodule import LungNodule, RandomLungNodule
from radsynth.pathology.mass_effect import MassEffect, jacobian_determinant
from radsynth.pathology.pleural_effusion import PleuralEffusion, RandomPleuralEffusion
from radsynth.pathology.tumour_growth import RandomTumourGrowth, TumourGrowth
from radsynth.pathology.vascular_territories import TERRITORIES, lobe_of, territory_map, territory_mask

__all__ = [
    "Glioma",
    "RandomGlioma",
    "GliomaProgression",
    "RandomGliomaProgression",
    "ventricle_mass_effect",
    "TumourGrowth",
    "RandomTumourGrowth",
    "IschaemicStroke",
    "RandomIschaemicStroke",
    "MassEffect",
    "jacobian_determinant",
    "TERRITORIES",
    "territory_map",
    "territory_mask",
    "lobe_of",
    "LungNodule",
    "RandomLungNodule",
    "LobarConsolidation",
    "RandomLobarConsolidation",
    "PleuralEffusion",
    "RandomPleuralEffusion",
    "IntraparenchymalHaemorrhage",
    "RandomIntraparenchymalHaemorrhage",
]
