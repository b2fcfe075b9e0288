"""A small, fast cohort spec for build tests (2 mm anatomy grid, few sequences)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

FAST_SPEC = {
    "name": "fast",
    "seed": 11,
    "n_subjects": 4,
    "generator": {
        "name": "mri-brain",
        "params": {
            "sequences": ["T1w", "FLAIR"],
            "work_resolution_mm": 2,
            "voxel_size_mm": [2.0, 2.0, 2.0],
        },
    },
    "labels": {"tumour": 0.5, "stroke": 0.25},
    "attributes": {
        "age_years": {"distribution": "uniform", "low": 20, "high": 85, "integer": True},
        "sex": {"distribution": "categorical", "values": {"F": 0.5, "M": 0.5}},
    },
    "outputs": {"formats": ["nifti", "png", "dicom"], "dicom_subjects": 1},
}


def write_spec(folder: Path, **overrides) -> Path:
    spec = copy.deepcopy(FAST_SPEC)
    spec.update(overrides)
    p = folder / "spec.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p
