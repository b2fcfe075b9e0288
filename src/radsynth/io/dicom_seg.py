"""Deterministic DICOM Segmentation (SEG, BINARY) of lesion masks with highdicom.

One segment per *binary* mask (label maps are skipped: the SEG carries the
lesion ground truth). Frames of 3D masks are built exactly as
:mod:`radsynth.io.dicom_series` builds the source MR/CT frames (same canonical
reorientation, same pixel order), and the plane positions are checked against
the source files' Image Position (Patient). 2D ``(x, z)`` masks over a DX
(:mod:`radsynth.io.dicom_dx`) make a single-frame SEG in the DX's display
orientation (:func:`radsynth.io.png.projection_for_display`), without Frame of
Reference, like its source.

Segment coding (SNOMED CT, DICOM CID 7150/7151): category "Morphologically
Abnormal Structure" (49755003) with type Neoplasm (108369006) for tumour
masks, Necrosis (6574001), Edema (79654002), Infarct (55641003), else Lesion
(52988006); chest/head CT lesions: Nodule (27925004), Hemorrhage (50960005)
(both Morphologically Abnormal Structure), Pleural effusion (60046008) and Lung
consolidation (95436008) (category Finding, 404684003); "brain"/"anatomy" masks
get "Anatomical Structure" (91723000) / Brain (12738006), "lung" masks Lung
(39607008), "heart" masks Heart (80891009). The algorithm is AUTOMATIC, identified as
``radsynth <generator>`` with a private family code (scheme ``99RADSYNTH``):
the mask is simulation ground truth, not the output of an image-analysis method.

Determinism: highdicom stamps ``datetime.now()`` into InstanceCreationDate/Time,
ContentDate/Time and the Contributing Equipment's ContributionDateTime, and draws
a random DimensionOrganizationUID. We pass a fixed Content Date/Time
(:data:`SEG_CONTENT_DATE` / :data:`SEG_CONTENT_TIME`, Type 1 in the SEG IOD: a
constant placeholder, not a real date), delete the creation date/time and the
contribution datetime (Type 3) and replace the dimension organisation UID by a
name-based one.

Synthetic marking: Conversion Type SYN (outside the SEG IOD: a dciodvfy
warning, kept for uniform filtering), Patient Identity Removed YES, the RADSYNTH
private block, Content Label ``SYNTHETIC``, Content Description and Series
Description saying so. Image Type is fixed by the IOD (DERIVED\\PRIMARY).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import MaskRecord
from radsynth.io import RADSYNTH_VERSION, synthetic_marking
from radsynth.io.atomic import atomic_write_bytes
from radsynth.io.dicom_series import (
    add_synthetic_marking,
    canonicalize,
    check_dicom_text,
    dataset_bytes,
    series_geometry,
    volume_to_frames,
)
from radsynth.io.dicom_uids import uid_from
from radsynth.io.png import projection_for_display

#: Fixed Content Date/Time (Type 1 in SEG): a constant placeholder, never "now".
SEG_CONTENT_DATE = "20000101"
SEG_CONTENT_TIME = "000000"

_MAS = codes.SCT.MorphologicallyAbnormalStructure
_INFARCT = hd.sr.CodedConcept("55641003", "SCT", "Infarct")
_ANATOMY = hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure")
_BRAIN = hd.sr.CodedConcept("12738006", "SCT", "Brain")
_CONSOLIDATION = hd.sr.CodedConcept("95436008", "SCT", "Lung consolidation")
ALGORITHM_FAMILY = hd.sr.CodedConcept("SIMULATION", "99RADSYNTH", "Simulation ground truth")

_RULES: tuple[tuple[tuple[str, ...], Any, Any], ...] = (
    (("infarct", "stroke", "ischaem", "ischem"), _MAS, _INFARCT),
    (("necro",), _MAS, codes.SCT.Necrosis),
    (("oedema", "edema"), _MAS, codes.SCT.Edema),
    (("tumour", "tumor", "neoplasm", "glioma", "enhanc", "mass"), _MAS, codes.SCT.Neoplasm),
    (("nodule",), _MAS, codes.SCT.Nodule),
    (("haemorrhage", "hemorrhage", "bleed"), _MAS, codes.SCT.Hemorrhage),
    (("effusion",), codes.SCT.Finding, codes.SCT.PleuralEffusion),
    (("consolidation", "pneumonia"), codes.SCT.Finding, _CONSOLIDATION),
    (("brain", "anatomy", "parenchyma"), _ANATOMY, _BRAIN),
    (("lung",), _ANATOMY, codes.SCT.Lung),
    (("heart",), _ANATOMY, codes.SCT.Heart),
)


def segment_codes(name: str) -> tuple[Any, Any]:
    """(segmented property category, type) for a mask name (see module docstring)."""
    low = name.lower()
    for keys, category, kind in _RULES:
        if any(k in low for k in keys):
            return category, kind
    return _MAS, codes.SCT.Lesion


def _read_sources(source_paths: Sequence[str | os.PathLike[str]]) -> list[pydicom.Dataset]:
    if not source_paths:
        raise RadsynthInputError("source_paths", [], "the MR/CT slice files or the DX file radsynth wrote")
    datasets = [pydicom.dcmread(os.fspath(p), stop_before_pixels=True) for p in source_paths]
    series = {str(ds.SeriesInstanceUID) for ds in datasets}
    if len(series) != 1:
        raise RadsynthInputError("source_paths", sorted(series), "files of one series")
    return sorted(datasets, key=lambda ds: int(ds.InstanceNumber))


def _frames_3d(binary: Sequence[MaskRecord], sources: list[pydicom.Dataset], affine: np.ndarray) -> np.ndarray:
    """(slices, rows, cols, segments) frames of 3D masks, checked against the source series geometry."""
    src = sources[0]
    frames = []
    can_affine = affine
    for m in binary:
        vol, can_affine = canonicalize(np.asarray(m.array) != 0, affine)
        frames.append(volume_to_frames(vol))
    pixel_array = np.stack(frames, axis=-1).astype(np.uint8)  # (slices, rows, cols, segments)
    n_slices, rows, cols, _ = pixel_array.shape
    if (n_slices, rows, cols) != (len(sources), int(src.Rows), int(src.Columns)):
        raise RadsynthInputError(
            "masks shape", binary[0].array.shape,
            f"the source series grid ({len(sources)} slices of {src.Rows}x{src.Columns})",
        )  # fmt: skip
    geom = series_geometry(can_affine, vol.shape)
    src_pos = np.array([[float(v) for v in ds.ImagePositionPatient] for ds in sources])
    if not np.allclose(src_pos, geom.positions_lps, atol=1e-3):
        raise RadsynthInputError(
            "affine", affine.tolist(), "the affine of the image the source series was written from"
        )
    return pixel_array


def _frames_2d(binary: Sequence[MaskRecord], sources: list[pydicom.Dataset]) -> np.ndarray:
    """(1, rows, cols, segments) frame of 2D (x, z) masks over one 2D source image (e.g. a DX written by
    :func:`radsynth.io.dicom_dx.write_dx`), in the same display orientation as that image's frame."""
    src = sources[0]
    if len(sources) != 1 or "ImagePositionPatient" in src:
        raise RadsynthInputError("source_paths", len(sources), "one 2D image (DX) for 2D masks")
    frames = [projection_for_display(np.asarray(m.array) != 0) for m in binary]
    pixel_array = np.stack(frames, axis=-1)[np.newaxis].astype(np.uint8)
    if pixel_array.shape[1:3] != (int(src.Rows), int(src.Columns)):
        raise RadsynthInputError(
            "masks shape", binary[0].array.shape,
            f"the source image grid ({src.Columns}x{src.Rows} as (x, z))",
        )  # fmt: skip
    return pixel_array


def _make_deterministic(seg: hd.seg.Segmentation, sop_uid: str) -> None:
    for kw in ("InstanceCreationDate", "InstanceCreationTime"):
        if kw in seg:
            delattr(seg, kw)
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            del item.ContributionDateTime
    old = {str(item.DimensionOrganizationUID) for item in seg.get("DimensionIndexSequence", [])}
    old |= {str(item.DimensionOrganizationUID) for item in seg.get("DimensionOrganizationSequence", [])}
    for n, uid in enumerate(sorted(old)):
        new = uid_from(sop_uid, "dimension-organization", str(n))
        for seq in ("DimensionIndexSequence", "DimensionOrganizationSequence"):
            for item in seg.get(seq, []):
                if str(item.DimensionOrganizationUID) == uid:
                    item.DimensionOrganizationUID = new


def write_seg(
    path: str | os.PathLike[str],
    source_paths: Sequence[str | os.PathLike[str]],
    masks: Sequence[MaskRecord],
    *,
    affine: np.ndarray,
    series_number: int,
    provenance: dict[str, Any],
    series_description: str = "radsynth SYNTHETIC lesion segmentation",
    series_instance_uid: str | None = None,
    sop_instance_uid: str | None = None,
    synthetic_data_tag: bool = False,
) -> Path | None:
    """Write the binary ``masks`` as one DICOM SEG over the MR/CT series or DX image ``source_paths``.

    ``affine`` is the voxel-to-RAS affine shared by the masks and the image the
    series was written from (masks carry no geometry of their own). 2D ``(x, z)``
    masks need one 2D source image (a DX) on the same grid: one frame in that
    image's display orientation, without Frame of Reference (as its source). UIDs default
    to name-based ones derived from the source series and ``series_number``.
    Returns ``None`` (and writes nothing) when there is no non-empty binary mask.
    """
    binary = [m for m in masks if not m.is_labelmap and np.any(m.array)]
    if not binary:
        return None
    check_dicom_text("series_description", series_description, 64)
    sources = _read_sources(source_paths)
    src = sources[0]
    affine = np.asarray(affine, dtype=np.float64)
    shape = binary[0].array.shape
    for m in binary:
        if m.array.shape != shape or m.array.ndim not in (2, 3):
            raise RadsynthInputError(
                f"mask {m.name!r} shape", m.array.shape, f"2D or 3D, same as the other masks {shape}"
            )
    if len(shape) == 2:
        pixel_array = _frames_2d(binary, sources)
    else:
        pixel_array = _frames_3d(binary, sources, affine)

    series_number = int(series_number)
    series_uid = series_instance_uid or uid_from("radsynth", str(src.SeriesInstanceUID), "seg", str(series_number))
    sop_uid = sop_instance_uid or uid_from(series_uid, "instance", "1")
    marking = synthetic_marking(provenance)
    algorithm = hd.AlgorithmIdentificationSequence(
        name=f"radsynth {marking['generator']}".strip()[:64],
        family=ALGORITHM_FAMILY,
        version=(marking["generator_version"] or RADSYNTH_VERSION)[:64],
        source="radsynth",
    )
    descriptions = []
    for number, m in enumerate(binary, start=1):
        category, kind = segment_codes(m.name)
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=check_dicom_text(f"mask {m.name!r} name", m.name, 64),
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                tracking_id=m.name,
                tracking_uid=uid_from(sop_uid, "segment", m.name),
            )
        )
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=pixel_array,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_uid,
        instance_number=1,
        manufacturer="radsynth",
        manufacturer_model_name=f"radsynth {marking['generator']}".strip()[:64],
        software_versions=f"radsynth {RADSYNTH_VERSION}",
        device_serial_number="SYNTHETIC",
        series_description=series_description,
        content_description="SYNTHETIC ground truth by radsynth; not a real patient",
        content_label="SYNTHETIC",
        content_creator_name="SYNTHETIC^radsynth",
        content_date=SEG_CONTENT_DATE,
        content_time=SEG_CONTENT_TIME,
        omit_empty_frames=True,
    )
    _make_deterministic(seg, sop_uid)
    if "FrameOfReferenceUID" not in seg and "PatientOrientation" in src:
        seg.PatientOrientation = src.PatientOrientation  # General Image, Type 2C without a patient frame
    add_synthetic_marking(seg, provenance, synthetic_data_tag=synthetic_data_tag)
    return atomic_write_bytes(path, dataset_bytes(seg))
