"""Deterministic DICOM Digital X-Ray Image Storage - For Presentation (one file per radiograph).

SOP class 1.2.840.10008.5.1.4.1.1.1.1 (DX IOD, PS3.3 A.26), not CR: DX is the
IOD of digital radiography with an explicit presentation intent (a processed
image ready for display, which is what radsynth makes), the detector geometry
(Imager Pixel Spacing, Type 1) and positioning attributes; CR is the legacy
IOD of storage-phosphor plates and has none of these constraints to validate
against.

Frame. The stored image is a 2D ``(x, z)``-like array (``image.array[i, j]``, axes
given by the 2D affine's first two columns); the frame is its display
orientation, :func:`radsynth.io.png.projection_for_display` (frontal: patient's
right on image left, superior at top), MONOCHROME2 (bright = more attenuation).
Patient Orientation (0020,0020) is computed from the affine: the anatomical
direction of increasing column, then of increasing row (``L\\F`` for a PA/AP
chest in that display; letters of every direction cosine >= 0.1, largest first).

Pixel values. A [0, 1] image maps linearly 0 -> 0, 1 -> 65535 (the same scale as
the 16-bit PNG); any other range maps min -> 0, max -> 65535 (said in Derivation
Description). BitsStored 16, unsigned, Rescale Slope 1 / Intercept 0 / Type US
(the DX IOD fixes them), Presentation LUT Shape IDENTITY, Window 32767.5/65536
(the whole range) unless ``acquisition["window_center"/"window_width"]`` (stored
units) are given. Pixel Intensity Relationship LOG, sign -1 (a processed
radiograph: log-transmission, higher value = less X-ray intensity); override with
``pixel_intensity_relationship`` ('LIN'/'LOG') and ``pixel_intensity_sign`` (1/-1).

What is filled from ``image.acquisition`` (missing optional values are left out,
never invented; a learned-generator image has none of them and still validates):

====================================  ============================================  ====
key                                   DICOM attribute                               type
====================================  ============================================  ====
``view_position`` or ``view``: PA,    View Position (0018,5101), View Code          3
AP, LL/LAT/lateral, RL                Sequence (SCT, CID 4010), Positioner Type ""
``pixel_mm``, ``imager_pixel_spacing  Imager Pixel Spacing (0018,1164) (detector     1
_mm`` or ``pixel_spacing_mm``         pitch); default: the affine's spacing
(number or [row, col])                (nominal for a learned generator)
``sid_mm`` / ``source_to_image_mm``   Distance Source to Detector (0018,1110)       3
``sod_mm`` / ``source_to_object_mm``  Distance Source to Patient (0018,1111)        3
``magnification``, else SID / SOD     Estimated Radiographic Magnification Factor   3
``kvp``                               KVP (0018,0060)                               3
``mas`` (or ``exposure_uas``)         Exposure (0018,1152, IS) and Exposure in uAs  3
``tube_current_ma``                   X-Ray Tube Current (0018,1151)                3
``exposure_time_ms``                  Exposure Time (0018,1150)                     3
``body_part`` / ``body_part_examined``  Body Part Examined (0018,0015) and Anatomic  3/2
                                      Region Sequence (SCT code for CHEST, HEAD,
                                      SKULL, ABDOMEN, PELVIS; else empty)
``laterality``: R, L, U, B            Image Laterality (0020,0062); default U       1
``detector_type``: DIRECT,            Detector Type (0018,7004); empty if missing   2
SCINTILLATOR, STORAGE, FILM           (radsynth's ``detector`` = energy-integrating
                                      / counting says nothing about the conversion)
====================================  ============================================  ====

Always: Modality DX, Presentation Intent Type FOR PRESENTATION, Image Type
DERIVED\\SECONDARY, empty Acquisition Context Sequence (Type 2), no Frame of
Reference (optional in DX; a projection has no 3D patient frame), and the
synthetic marking of :func:`radsynth.io.dicom_series.add_synthetic_marking`
(Conversion Type SYN, identity removed, RADSYNTH private block, no dates).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import ImageRecord
from radsynth.io import SYNTHETIC_NOTE
from radsynth.io.atomic import atomic_write_bytes
from radsynth.io.dicom_series import (
    acquisition_number,
    add_equipment,
    add_series_frame,
    add_synthetic_marking,
    check_dicom_text,
    dataset_bytes,
    ds_str,
    file_meta,
    sop_instance_uid,
)
from radsynth.io.png import projection_for_display

DX_IMAGE_STORAGE_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
#: acquisition["view"] spellings -> View Position (0018,5101).
VIEWS = {"pa": "PA", "ap": "AP", "ll": "LL", "lateral": "LL", "left_lateral": "LL", "lat": "LL",
         "rl": "RL", "right_lateral": "RL"}  # fmt: skip
#: View Position -> View Code Sequence code (SNOMED CT, DICOM CID 4010, from pydicom's code dictionary).
VIEW_CODES = {"PA": codes.SCT.PosteroAnterior, "AP": codes.SCT.AnteroPosterior, "LL": codes.SCT.LeftLateral,
              "RL": codes.SCT.RightLateral}  # fmt: skip
#: Body Part Examined -> Anatomic Region Sequence code (SNOMED CT, CID 4031); others: empty sequence (Type 2).
REGION_CODES = {"CHEST": codes.SCT.Chest, "HEAD": codes.SCT.Head, "SKULL": codes.SCT.Skull,
                "ABDOMEN": codes.SCT.Abdomen, "PELVIS": codes.SCT.Pelvis}  # fmt: skip
LATERALITIES = ("R", "L", "U", "B")
DETECTOR_TYPES = ("DIRECT", "SCINTILLATOR", "STORAGE", "FILM")
#: RAS+ axis -> (letter of +direction, letter of -direction) in DICOM patient orientation.
_LETTERS = (("R", "L"), ("A", "P"), ("H", "F"))


def orientation_letters(direction_ras: np.ndarray, min_cosine: float = 0.1) -> str:
    """Patient-orientation letters of a RAS direction (components >= ``min_cosine``, largest first)."""
    d = np.asarray(direction_ras, dtype=np.float64)
    d = d / np.linalg.norm(d)
    order = np.argsort(-np.abs(d), kind="stable")
    return "".join(_LETTERS[a][0 if d[a] > 0 else 1] for a in order if abs(d[a]) >= min_cosine)


def display_geometry(affine: np.ndarray) -> tuple[list[str], tuple[float, float]]:
    """(Patient Orientation [row direction, column direction], (row spacing, column spacing) mm)
    of the :func:`projection_for_display` frame: D[r, c] = a[I-1-c, J-1-r]."""
    a = np.asarray(affine, dtype=np.float64)
    col_step, row_step = -a[:3, 0], -a[:3, 1]  # increasing column c: i decreases; row r: j decreases
    dc, dr = float(np.linalg.norm(col_step)), float(np.linalg.norm(row_step))
    if dc == 0 or dr == 0:
        raise RadsynthInputError("image.affine", a.tolist(), "a non-degenerate 2D voxel-to-world matrix")
    return [orientation_letters(col_step), orientation_letters(row_step)], (dr, dc)


def to_stored(image2d: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """(uint16 display frame, (lo, hi) mapped to 0..65535): [0, 1] stays [0, 1], else min..max."""
    a = np.nan_to_num(np.asarray(image2d, dtype=np.float64))
    lo, hi = float(a.min()), float(a.max())
    window = (0.0, 1.0) if 0.0 <= lo and hi <= 1.0 else (lo, hi if hi > lo else lo + 1.0)
    x = (a - window[0]) * (65535.0 / (window[1] - window[0]))
    frame = np.clip(np.rint(x), 0, 65535).astype(np.uint16)
    return np.ascontiguousarray(projection_for_display(frame)), window


def code_item(code: Any) -> Dataset:
    """A Code Sequence item (Code Value, Coding Scheme Designator, Code Meaning) of a pydicom Code."""
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme_designator
    item.CodeMeaning = code.meaning
    return item


def _first(acq: dict[str, Any], *keys: str) -> str:
    """The first of ``keys`` present (not None) in ``acq``, else the first key."""
    return next((k for k in keys if acq.get(k) is not None), keys[0])


def _number(acq: dict[str, Any], key: str, *aliases: str) -> float | None:
    return acquisition_number(acq, _first(acq, key, *aliases))


def _imager_spacing(acq: dict[str, Any], from_affine: tuple[float, float]) -> tuple[float, float]:
    for key in ("pixel_mm", "imager_pixel_spacing_mm", "pixel_spacing_mm"):
        v = acq.get(key)
        if v is None:
            continue
        vals = [float(x) for x in (v if isinstance(v, (list, tuple, np.ndarray)) else [v, v])]
        if len(vals) != 2 or not all(np.isfinite(x) and x > 0 for x in vals):
            raise RadsynthInputError(f"acquisition.{key}", v, "a positive number or [row, column] spacing in mm")
        return vals[0], vals[1]
    return from_affine


def _choice(acq: dict[str, Any], key: str, table: dict[str, str] | tuple[str, ...], default: str | None) -> str | None:
    v = acq.get(key)
    if v is None or str(v).strip() == "":
        return default
    low = str(v).strip().lower()
    options = table if isinstance(table, dict) else {t.lower(): t for t in table}
    if low not in options:
        raise RadsynthInputError(f"acquisition.{key}", v, ", ".join(sorted(set(options.values()))))
    return options[low]


def add_dx_acquisition(ds: Dataset, acq: dict[str, Any]) -> None:
    """Positioning, X-ray generation/dose and detector attributes known from ``acq`` (module docstring)."""
    view = _choice(acq, _first(acq, "view_position", "view"), VIEWS, None)
    if view is not None:  # DX Positioning module: Positioner Type (Type 2) unknown -> empty
        ds.ViewPosition = view
        ds.ViewCodeSequence = [code_item(VIEW_CODES[view])]
        ds.PositionerType = ""
    sid = _number(acq, "sid_mm", "source_to_image_mm")
    sod = _number(acq, "sod_mm", "source_to_object_mm")
    if sid is not None:
        ds.DistanceSourceToDetector = ds_str(sid)
    if sod is not None:
        ds.DistanceSourceToPatient = ds_str(sod)
    if sid is not None and sod is not None and sod > sid:
        raise RadsynthInputError(
            "acquisition.sod_mm", sod, f"<= sid_mm ({sid:g}): the patient is between source and detector"
        )
    magnification = _number(acq, "magnification")
    if magnification is None and sid is not None and sod is not None:
        magnification = sid / sod
    if magnification is not None:
        ds.EstimatedRadiographicMagnificationFactor = ds_str(round(magnification, 6))
    kvp = _number(acq, "kvp")
    if kvp is not None:
        ds.KVP = ds_str(kvp)
    mas = _number(acq, "mas")
    uas = _number(acq, "exposure_uas")
    if mas is None and uas is not None:
        mas = uas / 1000.0
    if mas is not None:
        ds.Exposure = str(int(round(mas)))
        ds.ExposureInuAs = str(int(round(mas * 1000.0 if uas is None else uas)))
    ma = _number(acq, "tube_current_ma")
    if ma is not None:
        ds.XRayTubeCurrent = str(int(round(ma)))
    t = _number(acq, "exposure_time_ms")
    if t is not None:
        ds.ExposureTime = str(int(round(t)))
    ds.DetectorType = _choice(acq, "detector_type", DETECTOR_TYPES, None) or ""  # not from "detector": see docstring


def write_dx(
    path: str | os.PathLike[str],
    image: ImageRecord,
    *,
    subject_id: str,
    study_key: str,
    series_number: int,
    provenance: dict[str, Any],
    series_description: str = "SYNTHETIC radiograph",
    patient_sex: str | None = None,
    patient_age_years: int | None = None,
    synthetic_data_tag: bool = False,
) -> Path:
    """Write the 2D ``image`` (modality DX or CR) as one DX For Presentation file at ``path`` (atomic).

    UIDs are name-based like the MR/CT series (instance number 1): images of one
    subject written with the same study key share the Study Instance UID.
    """
    if image.modality not in ("DX", "CR"):
        raise RadsynthInputError("image.modality", image.modality, "DX or CR", "Use the writer for that modality.")
    if image.array.ndim != 2:
        raise RadsynthInputError("image.array.shape", image.array.shape, "a 2D (x, z) image")
    series_number = int(series_number)
    if not 0 <= series_number <= 2**31 - 1:
        raise RadsynthInputError("series_number", series_number, "an integer 0..2147483647")
    check_dicom_text("series_description", series_description, 64)
    check_dicom_text("study_key", study_key, 1024)
    acq = image.acquisition

    frame, window = to_stored(image.array)
    orientation, spacing = display_geometry(image.affine)
    spacing = _imager_spacing(acq, spacing)

    ds = Dataset()
    ds.SOPClassUID = DX_IMAGE_STORAGE_PRESENTATION
    add_series_frame(
        ds, modality="DX", subject_id=subject_id, study_key=study_key, series_number=series_number,
        series_description=series_description, provenance=provenance, patient_sex=patient_sex,
        patient_age_years=patient_age_years, frame_of_reference=False, patient_position=None,
    )  # fmt: skip
    ds.PresentationIntentType = "FOR PRESENTATION"
    name = image.sequence or "radiograph"
    ds.ProtocolName = f"radsynth {name}"[:64]
    body = acq.get("body_part", acq.get("body_part_examined"))
    body = check_dicom_text("acquisition.body_part", str(body).strip().upper(), 16) if body else None
    if body:
        ds.BodyPartExamined = body
    # General Anatomy Required Macro (DX Anatomy Imaged): Type 2, empty when the region is not known
    ds.AnatomicRegionSequence = [code_item(REGION_CODES[body])] if body in REGION_CODES else []
    add_equipment(ds, provenance)
    # General Image / DX Anatomy Imaged / DX Image
    ds.InstanceNumber = "1"
    ds.PatientOrientation = orientation
    ds.ImageLaterality = _choice(acq, "laterality", LATERALITIES, "U")
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ImageComments = f"{SYNTHETIC_NOTE}. {name}"
    ds.DerivationDescription = (
        f"Synthetic radiograph ({name}) made by radsynth {provenance.get('generator', '')}; not acquired from a "
        f"patient; values [{window[0]:.6g}, {window[1]:.6g}] mapped linearly to 0..65535"
    )[:1024]
    ds.LossyImageCompression = "00"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in frame.shape)
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = _choice(acq, "pixel_intensity_relationship", ("LIN", "LOG"), "LOG")
    sign = int(acq.get("pixel_intensity_sign", -1))
    if sign not in (1, -1):
        raise RadsynthInputError("acquisition.pixel_intensity_sign", sign, "1 or -1")
    ds.PixelIntensityRelationshipSign = sign
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.ImagerPixelSpacing = [ds_str(spacing[0]), ds_str(spacing[1])]
    # VOI LUT (required for FOR PRESENTATION)
    centre, width = acq.get("window_center"), acq.get("window_width")
    ds.WindowCenter = ds_str(32767.5 if centre is None else float(centre))
    ds.WindowWidth = ds_str(65536.0 if width is None else max(float(width), 1.0))
    ds.AcquisitionContextSequence = []
    add_dx_acquisition(ds, acq)
    add_synthetic_marking(ds, provenance, synthetic_data_tag=synthetic_data_tag)

    sop_uid = sop_instance_uid(subject_id, study_key, series_number, 1, provenance)
    ds.SOPInstanceUID = sop_uid
    ds.PixelData = frame.astype("<u2", copy=False).tobytes()
    ds.file_meta = file_meta(DX_IMAGE_STORAGE_PRESENTATION, sop_uid)
    return atomic_write_bytes(path, dataset_bytes(ds))
