"""Brain anatomy: real whole-head label maps, per-subject head deformation, age atrophy.

Typical use::

    labels, affine = load_labelmap_cached(available_labelmaps()[0])
    deform = RandomHeadDeformation().sample(rng, sex="F")
    labels = deform.apply(labels, affine)          # new array
    labels = RandomAtrophy().sample(72.0, rng).apply(labels)
"""

from radsynth.anatomy.atrophy import Atrophy, RandomAtrophy
from radsynth.anatomy.deformation import (
    SEX_ICV_RATIO,
    HeadDeformation,
    RandomHeadDeformation,
    bspline_field,
)
from radsynth.anatomy.labelmaps import (
    WORK_SHAPE,
    available_labelmaps,
    load_labelmap,
    load_labelmap_cached,
    save_labelmap,
    shipped_labelmap_dir,
)

__all__ = [
    "WORK_SHAPE",
    "SEX_ICV_RATIO",
    "Atrophy",
    "HeadDeformation",
    "RandomAtrophy",
    "RandomHeadDeformation",
    "available_labelmaps",
    "bspline_field",
    "load_labelmap",
    "load_labelmap_cached",
    "save_labelmap",
    "shipped_labelmap_dir",
]
