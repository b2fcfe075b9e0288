"""Brain anatomy: real whole-head label maps, per-subject head deformation, age atrophy.

Typical use::

    path = available_labelmaps()[0]
    labels, affine = load_labelmap_cached(path)
    deform = RandomHeadDeformation().sample(rng, sex="F")
    labels = deform.apply(labels, affine)          # new array
    ref_age = apparent_age_of_file(path)           # the map's own apparent age
    labels = RandomAtrophy().sample(72.0, rng, reference_age_years=ref_age).apply(labels, affine)
"""

from radsynth.anatomy.apparent_age import apparent_age, apparent_age_of_file
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
    "apparent_age",
    "apparent_age_of_file",
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
