"""Typed records for generated data.

An :class:`ImageRecord` is one generated image (2D or 3D) with its geometry,
modality, sequence, units, labels, masks, attributes and provenance. A
:class:`SubjectRecord` groups the images of one synthetic subject that share
anatomy and masks (e.g. T1w, T2w and FLAIR of one head).

Geometry follows NIfTI conventions: ``affine`` maps voxel indices (i, j, k) to
RAS+ world coordinates in millimetres. ``spacing_mm`` is derived from it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: the form that is hashed."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"cannot serialise {type(o).__name__} to JSON")


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a configuration."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


@dataclass(frozen=True)
class Provenance:
    """How an item was made: enough to replay it bit-exactly.

    ``sampled`` holds every value a random component drew (deformation
    parameters, tissue jitter, lesion geometry, noise seeds...). Feeding the same
    config and sampled values to the deterministic components reproduces the item.
    """

    generator: str
    generator_version: str
    config: dict[str, Any]
    seed: int
    sampled: dict[str, Any] = field(default_factory=dict)
    radsynth_version: str = ""

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "generator_version": self.generator_version,
            "config": self.config,
            "config_hash": self.config_hash,
            "seed": int(self.seed),
            "sampled": self.sampled,
            "radsynth_version": self.radsynth_version,
        }


@dataclass
class MaskRecord:
    """A segmentation mask aligned voxel for voxel with its subject's images.

    ``array`` is uint8 (binary) or uint16 (label map, see ``label_names``).
    ``properties`` holds measured values with units in the key, e.g. ``volume_ml``.
    """

    name: str
    array: np.ndarray
    description: str = ""
    label_names: dict[int, str] | None = None
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def is_labelmap(self) -> bool:
        return self.label_names is not None


@dataclass
class ImageRecord:
    """One generated image.

    Attributes:
        array: float32 image, 2D (x, y) or 3D (x, y, z) in voxel order of ``affine``.
        affine: 4x4 voxel-to-RAS world transform in mm.
        modality: DICOM modality code ("MR", "CT", "CR"/"DX").
        sequence: acquisition name (e.g. "T1w", "FLAIR"); "" when not applicable.
        units: intensity units ("a.u." for MR magnitude, "HU" for CT).
        acquisition: sequence parameters with units in the keys (tr_ms, te_ms, ti_ms,
            flip_deg, field_strength_t, slice_thickness_mm, ...).
    """

    array: np.ndarray
    affine: np.ndarray
    modality: str
    sequence: str
    units: str
    acquisition: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.array.ndim not in (2, 3):
            raise ValueError(f"ImageRecord.array must be 2D or 3D, got shape {self.array.shape}")
        self.affine = np.asarray(self.affine, dtype=np.float64)
        if self.affine.shape != (4, 4):
            raise ValueError(f"ImageRecord.affine must be 4x4, got {self.affine.shape}")

    @property
    def spacing_mm(self) -> tuple[float, ...]:
        zooms = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return tuple(float(z) for z in zooms[: self.array.ndim])


@dataclass
class SessionRecord:
    """One timepoint (BIDS session) of a longitudinal subject: its own images, masks and findings.

    ``label`` is the BIDS session label without the ``ses-`` prefix (e.g. ``"t060"``); ``time_days``
    the time since the first session in days; ``measurements`` measured values of this timepoint with
    units in the keys (e.g. ``core_volume_ml``, ``ventricle_displacement_mm``); ``sampled`` the
    scan-level random draws (noise, bias field, ...) of this session. Images and masks share ``affine``.
    """

    label: str
    time_days: float
    affine: np.ndarray
    images: list[ImageRecord]
    masks: list[MaskRecord]
    findings: list[dict[str, Any]] = field(default_factory=list)
    measurements: dict[str, Any] = field(default_factory=dict)
    sampled: dict[str, Any] = field(default_factory=dict)

    @property
    def session_id(self) -> str:
        return f"ses-{self.label}"


@dataclass
class SubjectRecord:
    """All images and masks of one synthetic subject.

    ``labels`` are the subject-level ground-truth labels (e.g. ``{"tumour": True}``);
    ``attributes`` the demographic/anatomical attributes (``age_years``, ``sex``, ...);
    ``findings`` lists each lesion with its mask name, volume (mL), location and parameters.
    ``plausibility`` (generators with anatomy) holds the anatomy plausibility check:
    ``{"reference": name, "flags": [{structure, check, value, allowed}, ...], "redraws": n}``.
    Every image and mask shares ``affine`` and shape (2D images: 2D masks on their grid).
    A longitudinal subject (same anatomy scanned at several timepoints) holds its images, masks and
    findings in ``sessions`` (one :class:`SessionRecord` per timepoint, in time order) and leaves
    ``images``, ``masks`` and ``findings`` empty; ``affine`` is then the first session's.
    """

    subject_id: str
    subject_index: int
    affine: np.ndarray
    images: list[ImageRecord]
    masks: list[MaskRecord]
    labels: dict[str, bool]
    attributes: dict[str, Any]
    provenance: Provenance
    findings: list[dict[str, Any]] = field(default_factory=list)
    plausibility: dict[str, Any] | None = None
    sessions: list[SessionRecord] = field(default_factory=list)

    def image(self, sequence: str) -> ImageRecord:
        for im in self.images:
            if im.sequence == sequence:
                return im
        raise KeyError(f"subject {self.subject_id} has no sequence {sequence!r}; has {[i.sequence for i in self.images]}")

    def mask(self, name: str) -> MaskRecord:
        for m in self.masks:
            if m.name == name:
                return m
        raise KeyError(f"subject {self.subject_id} has no mask {name!r}; has {[m.name for m in self.masks]}")
