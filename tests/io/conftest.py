"""Fixtures for the output-writer tests: a tiny seeded MR volume and its provenance."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.core.records import ImageRecord, MaskRecord, Provenance


def _small_affine() -> np.ndarray:
    aff = np.diag([1.0, 1.2, 3.0, 1.0])
    aff[:3, 3] = [-8.0, -9.5, -6.0]
    return aff


@pytest.fixture
def affine() -> np.ndarray:
    """Anisotropic RAS affine (1.0 x 1.2 x 3.0 mm) with a non-zero origin."""
    return _small_affine()


@pytest.fixture
def provenance() -> dict:
    return Provenance(
        generator="physics_mri", generator_version="0.1", config={"n": 1, "seed": 7}, seed=123456789, sampled={"x": 0.5}
    ).to_dict()


@pytest.fixture
def volume() -> np.ndarray:
    rng = np.random.default_rng(20240601)
    vol = (rng.random((16, 16, 4)) * 900.0 + 50.0).astype(np.float32)
    vol[:2] = 0.0  # some background
    return vol


@pytest.fixture
def mr_image(volume) -> ImageRecord:
    return ImageRecord(
        array=volume,
        affine=_small_affine(),
        modality="MR",
        sequence="FLAIR",
        units="a.u.",
        acquisition={"tr_ms": 9000.0, "te_ms": 120.0, "ti_ms": 2500.0, "flip_deg": 90.0, "field_strength_t": 3.0},
    )


@pytest.fixture
def lesion_masks() -> list[MaskRecord]:
    tumour = np.zeros((16, 16, 4), np.uint8)
    tumour[3:7, 4:9, 1:3] = 1
    infarct = np.zeros((16, 16, 4), np.uint8)
    infarct[11:13, 2:5, 2] = 1
    return [MaskRecord("tumour", tumour), MaskRecord("infarct", infarct)]
