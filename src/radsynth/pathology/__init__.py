"""Brain pathology painted into label maps, with clinical constraints.

* :class:`RandomGlioma` / :class:`Glioma`: intra-axial tumour (necrosis 1001,
  enhancing rim 1002, oedema 1003) with mass effect (:class:`MassEffect`).
* :class:`RandomIschaemicStroke` / :class:`IschaemicStroke`: infarct (1010)
  inside one arterial territory (:func:`territory_mask`).

Every ``Random*`` class draws a frozen parameter dataclass with ``to_dict`` /
``from_dict`` and a deterministic ``apply(labels, affine) -> (labels, finding)``.
Label maps are int16, RAS+ canonical, with a 4x4 voxel->world affine (mm).
"""

from radsynth.pathology.glioma import Glioma, RandomGlioma
from radsynth.pathology.ischaemic_stroke import IschaemicStroke, RandomIschaemicStroke
from radsynth.pathology.mass_effect import MassEffect, jacobian_determinant
from radsynth.pathology.vascular_territories import TERRITORIES, lobe_of, territory_map, territory_mask

__all__ = [
    "Glioma",
    "RandomGlioma",
    "IschaemicStroke",
    "RandomIschaemicStroke",
    "MassEffect",
    "jacobian_determinant",
    "TERRITORIES",
    "territory_map",
    "territory_mask",
    "lobe_of",
]
