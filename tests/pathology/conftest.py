"""Fixtures for radsynth.pathology tests: a real 1 mm brain label map and a tiny phantom.

The real map is, in order of preference, a copy shipped with radsynth
(src/radsynth/data/brain/*.nii.gz) or SynthSeg training map 01 from the shared
data folder (env RADSYNTH_SHARED_DATA or <repo>/../shared/data), loaded with
radsynth.anatomy.labelmaps.load_labelmap when that exists; tests that need it
skip when neither file exists.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from radsynth.core.labels import BRAIN

REPO = Path(__file__).resolve().parents[2]


def _real_map_path() -> Path | None:
    shipped = sorted((REPO / "src" / "radsynth" / "data" / "brain").glob("*.nii.gz"))
    if shipped:
        return shipped[0]
    root = Path(os.environ.get("RADSYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
    p = root / "brain-labelmaps" / "training_seg_01.nii.gz"
    return p if p.exists() else None


def load_brain_map(margin: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(int16 RAS+ 1 mm label map, affine): radsynth's loader (176x208x176 working grid) when
    available, else the map cropped to the brain bounding box + ``margin`` voxels."""
    path = _real_map_path()
    if path is None:
        pytest.skip("no brain label map: neither src/radsynth/data/brain/*.nii.gz nor shared data brain-labelmaps/")
    try:
        from radsynth.anatomy.labelmaps import load_labelmap
    except ImportError:
        load_labelmap = None
    if load_labelmap is not None:
        lab, aff = load_labelmap(path)
        return np.array(lab, dtype=np.int16), np.array(aff, dtype=np.float64)

    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    lab = np.asarray(img.dataobj).astype(np.int16)
    aff = img.affine.copy()
    # brain without label 24, which follows the spinal canal far below the brain
    nz = np.argwhere(np.isin(lab, sorted(BRAIN - {24})))
    lo = np.maximum(nz.min(0) - margin, 0)
    hi = np.minimum(nz.max(0) + 1 + margin, lab.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    aff[:3, 3] = aff[:3, :3] @ lo + aff[:3, 3]
    return np.ascontiguousarray(lab[box]), aff


#: Skull, scalp, orbit and other extra-cranial SynthSeg labels (eyes 506, fat 507, muscle 509/514,
#: bone 511, skin 515, marrow 516): a brain lesion must never change them.
EXTRACRANIAL_LABELS = frozenset({506, 507, 509, 511, 514, 515, 516})


def extracranial_mask(lab: np.ndarray) -> np.ndarray:
    """Voxels that must never change: extra-cranial tissue and the background outside the head."""
    from scipy import ndimage

    comp, _ = ndimage.label(lab == 0)
    faces = np.unique(np.concatenate([comp[0].ravel(), comp[-1].ravel(), comp[:, 0].ravel(), comp[:, -1].ravel(),
                                      comp[:, :, 0].ravel(), comp[:, :, -1].ravel()]))
    outside = np.isin(comp, faces[faces > 0])
    return np.isin(lab, sorted(EXTRACRANIAL_LABELS)) | outside


@pytest.fixture
def extracranial():
    """The builder of the never-changing mask (see extracranial_mask)."""
    return extracranial_mask


_CACHE: dict = {}


@pytest.fixture(scope="session")
def brain_map() -> tuple[np.ndarray, np.ndarray]:
    if "brain" not in _CACHE:
        _CACHE["brain"] = load_brain_map()
    lab, aff = _CACHE["brain"]
    return lab.copy(), aff.copy()


def make_phantom(n: int = 64, spacing: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Tiny head: scalp 515, skull 511, CSF 24, cortex 3/42, WM 2/41, lateral ventricles 4/43."""
    c = (n - 1) / 2.0
    x, y, z = np.meshgrid(*(np.arange(n, dtype=np.float64) - c for _ in range(3)), indexing="ij")
    x, y, z = x * spacing, y * spacing, z * spacing
    r = np.sqrt(x**2 + y**2 + z**2)
    half = n * spacing / 2.0
    lab = np.zeros((n, n, n), dtype=np.int16)
    lab[r < 0.97 * half] = 515
    lab[r < 0.92 * half] = 511
    lab[r < 0.85 * half] = 24
    left = x < 0
    brain = r < 0.8 * half
    lab[brain & left] = 3
    lab[brain & ~left] = 42
    wm = r < 0.65 * half
    lab[wm & left] = 2
    lab[wm & ~left] = 41
    lab[(np.abs(x) < 0.6 * spacing) & brain] = 24  # interhemispheric fissure
    vent = ((np.abs(x) - 0.12 * half) / (0.06 * half)) ** 2 + (y / (0.3 * half)) ** 2 + (z / (0.1 * half)) ** 2 < 1
    lab[vent & left] = 4
    lab[vent & ~left] = 43
    aff = np.diag([spacing, spacing, spacing, 1.0])
    aff[:3, 3] = -c * spacing
    return lab, aff


@pytest.fixture
def phantom() -> tuple[np.ndarray, np.ndarray]:
    return make_phantom()


@pytest.fixture
def make_phantom_map():
    """The phantom builder, for tests that need another size or spacing."""
    return make_phantom
