"""Deterministic classic DICOM MR Image Storage series (one file per axial slice).

Geometry. The volume is first reoriented to the closest canonical RAS+ voxel
order (``nibabel.orientations``, like ``as_closest_canonical``; a no-op for
radsynth volumes). Slice ``k`` (inferior -> superior) becomes a frame with pixel ``(r, c)`` =
``volume[X-1-c, Y-1-r, k]``: columns run from the patient's right to left and
rows from anterior to posterior, i.e. Image Orientation (Patient) ~ 1\\0\\0\\0\\1\\0
in DICOM's LPS frame (radiological display, like scanner axials). DICOM
coordinates are LPS: ``LPS = diag(-1, -1, 1) @ RAS``. Image Position
(Patient) is the LPS centre of pixel (0, 0); Pixel Spacing is (row spacing,
column spacing); Spacing Between Slices is the slice step projected on the slice
normal; Slice Thickness is ``acquisition["slice_thickness_mm"]`` or that step.

Pixel values. Float values are stored as 16-bit integers with one linear scale
for the whole series (Rescale Slope/Intercept, intercept 0): non-negative data
as uint16 with slope = max/65000 rounded *up* to 4 significant digits (<= 65000
levels, max relative error ~1e-5 of the series maximum); data with negative
values as int16 with slope = max|v|/32000 rounded up likewise. The slope is
written as a short exact decimal string and the stored integers are computed
from that exact value, so ``stored * slope`` is what any reader gets. (Rescale
Slope/Intercept are outside the classic MR IOD: dciodvfy warns, readers such as
pydicom/ITK/dcm2niix apply them, as for Philips classic MR.)

Synthetic marking (on every file): Conversion Type (0008,0064) = SYN
(optionally Synthetic Data (0008,001C) = YES, see
:data:`SYNTHETIC_DATA_TAG_NOTE`), Image Type DERIVED\\SECONDARY\\OTHER, Patient
Identity Removed = YES with De-identification Method, Patient's Name
``SYNTHETIC^<subject_id>``, no dates at all, Burned In Annotation NO, Image
Comments/Derivation Description saying so, and a private block (group 0x0011,
creator ``"RADSYNTH 1.0"``) with generator, versions, config sha256, seed and
the full provenance JSON (UT). UIDs are name-based (:func:`uid_from`) on
(config hash, subject id, study key, series number, instance number).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import nibabel.orientations as nibo
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import format_number_as_ds

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import ImageRecord, canonical_json
from radsynth.io import RADSYNTH_VERSION, SYNTHETIC_NOTE, synthetic_marking
from radsynth.io.atomic import atomic_write_bytes
from radsynth.io.dicom_uids import uid_from
from radsynth.io.png import auto_window

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
PRIVATE_GROUP = 0x0011
PRIVATE_CREATOR = "RADSYNTH 1.0"
#: Private element offsets in the RADSYNTH block (tag = (0011, 10xx)).
PRIVATE_ELEMENTS = {
    "generator": (0x01, "LO"),
    "generator_version": (0x02, "LO"),
    "config_sha256": (0x03, "LO"),
    "seed": (0x04, "LO"),
    "radsynth_version": (0x05, "LO"),
    "synthetic_note": (0x06, "LO"),
    "provenance_json": (0x10, "UT"),
}
IMPLEMENTATION_CLASS_UID = uid_from("radsynth", "implementation-class-uid")
IMPLEMENTATION_VERSION_NAME = f"RADSYNTH_{RADSYNTH_VERSION}"[:16]
#: Why Synthetic Data (0008,001C) is off by default.
SYNTHETIC_DATA_TAG_NOTE = (
    "Synthetic Data (0008,001C), SOP Common module, is the standard's own flag for synthetic "
    "instances (in pydicom's current dictionary) but dicom3tools 2022 (Debian bookworm dciodvfy) "
    "reports it as an unrecognised standard attribute (an Error); pass synthetic_data_tag=True "
    "once validators know it."
)
DEIDENTIFICATION_METHOD = "radsynth synthetic: no real patient"
#: Proton gyromagnetic ratio / 2pi in MHz/T (CODATA 2018: 42.577 478 518 MHz/T).
PROTON_GAMMA_MHZ_PER_T = 42.577478518
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
_SEX = {"m": "M", "male": "M", "f": "F", "female": "F", "o": "O", "other": "O"}


# ----------------------------------------------------------------- helpers shared with dicom_seg
def check_dicom_text(field: str, value: str, max_len: int) -> str:
    """ASCII, no backslash/control characters, at most ``max_len`` characters."""
    value = str(value)
    if len(value) > max_len or not value.isascii() or "\\" in value or any(ord(ch) < 32 for ch in value):
        raise RadsynthInputError(field, value, f"printable ASCII without '\\', at most {max_len} characters")
    return value


def uid_namespace(provenance: dict[str, Any] | None) -> str:
    """The part of every UID that separates cohorts: the config hash ('' if absent)."""
    return str((provenance or {}).get("config_hash", ""))


def study_instance_uid(subject_id: str, study_key: str, provenance: dict[str, Any] | None) -> str:
    return uid_from("radsynth", uid_namespace(provenance), subject_id, study_key, "study")


def frame_of_reference_uid(subject_id: str, study_key: str, provenance: dict[str, Any] | None) -> str:
    """Shared by every series (and the SEG) of one subject's study: they share anatomy."""
    return uid_from("radsynth", uid_namespace(provenance), subject_id, study_key, "frame-of-reference")


def series_instance_uid(subject_id: str, study_key: str, series_number: int, provenance: dict[str, Any] | None) -> str:
    return uid_from("radsynth", uid_namespace(provenance), subject_id, study_key, "series", str(int(series_number)))


def sop_instance_uid(
    subject_id: str, study_key: str, series_number: int, instance_number: int, provenance: dict[str, Any] | None
) -> str:
    return uid_from(
        "radsynth", uid_namespace(provenance), subject_id, study_key, "series", str(int(series_number)),
        "instance", str(int(instance_number)),
    )  # fmt: skip


def add_synthetic_marking(
    ds: Dataset,
    provenance: dict[str, Any] | None,
    *,
    conversion_type: bool = True,
    synthetic_data_tag: bool = False,
) -> None:
    """Conversion Type, identity-removed flags, the RADSYNTH private block and
    optionally Synthetic Data (0008,001C) = YES (see :data:`SYNTHETIC_DATA_TAG_NOTE`)."""
    marking = synthetic_marking(provenance)
    if synthetic_data_tag:
        ds.SyntheticData = "YES"
    if conversion_type:
        ds.ConversionType = "SYN"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = DEIDENTIFICATION_METHOD
    ds.BurnedInAnnotation = "NO"
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    values = {
        "generator": marking["generator"][:64],
        "generator_version": marking["generator_version"][:64],
        "config_sha256": marking["config_hash"][:64],
        "seed": "" if marking["seed"] is None else str(marking["seed"]),
        "radsynth_version": RADSYNTH_VERSION,
        "synthetic_note": SYNTHETIC_NOTE[:64],
        "provenance_json": canonical_json(marking),
    }
    for key, (offset, vr) in PRIVATE_ELEMENTS.items():
        value = values[key]
        if vr == "LO":
            value = value.replace("\\", "/")
        block.add_new(offset, vr, value)


def add_patient_study(
    ds: Dataset,
    *,
    subject_id: str,
    study_uid: str,
    patient_sex: str | None,
    patient_age_years: int | None,
) -> None:
    """Patient, General Study and Patient Study modules: synthetic names, no dates."""
    check_dicom_text("subject_id", subject_id, 54)
    ds.PatientName = f"SYNTHETIC^{subject_id}"
    ds.PatientID = subject_id
    ds.PatientBirthDate = ""
    if patient_sex is None:
        ds.PatientSex = ""
    else:
        sex = _SEX.get(str(patient_sex).strip().lower())
        if sex is None:
            raise RadsynthInputError("patient_sex", patient_sex, "M, F, O (or male/female/other) or None")
        ds.PatientSex = sex
    if patient_age_years is not None:
        age = int(patient_age_years)
        if age != patient_age_years or not 0 <= age <= 999:
            raise RadsynthInputError("patient_age_years", patient_age_years, "an integer 0..999 or None")
        ds.PatientAge = f"{age:03d}Y"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = "SYNTHETIC"
    ds.AccessionNumber = ""
    ds.StudyDescription = "radsynth SYNTHETIC study"


def add_equipment(ds: Dataset, provenance: dict[str, Any] | None) -> None:
    """General Equipment module: the manufacturer is radsynth itself."""
    marking = synthetic_marking(provenance)
    ds.Manufacturer = "radsynth"
    ds.ManufacturerModelName = f"radsynth {marking['generator']}".strip()[:64]
    generator = f"{marking['generator']} {marking['generator_version']}".strip()[:64] or "unknown"
    ds.SoftwareVersions = [f"radsynth {RADSYNTH_VERSION}"[:64], generator]


def file_meta(sop_class_uid: str, sop_instance: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def dataset_bytes(ds: Dataset) -> bytes:
    """Serialise a dataset with its file meta (Part 10), deterministically."""
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def acquisition_number(acq: dict[str, Any], key: str, *, positive: bool = True) -> float | None:
    """``acq[key]`` as a float for a DICOM tag (None when absent); not finite or out of range -> one-line error."""
    v = acq.get(key)
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        x = float("nan")
    if not np.isfinite(x) or (positive and x <= 0) or (not positive and x < 0):
        raise RadsynthInputError(f"acquisition.{key}", v, "a finite positive number" if positive else ">= 0")
    return x


def ds_str(x: float) -> str:
    """Decimal String (<= 16 characters) for a float."""
    return format_number_as_ds(float(x))


# ----------------------------------------------------------------- geometry
@dataclass(frozen=True)
class SeriesGeometry:
    """DICOM geometry of a canonical RAS volume sliced along its third axis.

    ``frames[k]`` of :func:`volume_to_frames` sits at ``positions_lps[k]``.
    """

    orientation_lps: tuple[float, float, float, float, float, float]
    positions_lps: np.ndarray  # (n_slices, 3)
    pixel_spacing_mm: tuple[float, float]  # (between rows, between columns)
    slice_step_mm: float  # centre-to-centre along the slice normal
    normal_lps: np.ndarray


def canonicalize(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder/flip axes to the closest RAS+ orientation (no resampling)."""
    array = np.asarray(array)
    affine = np.asarray(affine, dtype=np.float64)
    ornt = nibo.io_orientation(affine)
    if np.array_equal(ornt, [[0, 1], [1, 1], [2, 1]]):
        return array, affine
    transform = nibo.ornt_transform(ornt, nibo.axcodes2ornt(("R", "A", "S")))
    out = nibo.apply_orientation(array, transform)
    return out, affine @ nibo.inv_ornt_aff(transform, array.shape)


def volume_to_frames(volume: np.ndarray) -> np.ndarray:
    """(Z, rows=Y, cols=X) frames; ``frames[k, r, c] = volume[X-1-c, Y-1-r, k]``."""
    return np.ascontiguousarray(np.asarray(volume).transpose(2, 1, 0)[:, ::-1, ::-1])


def series_geometry(affine: np.ndarray, shape: tuple[int, int, int]) -> SeriesGeometry:
    """Geometry of :func:`volume_to_frames` for a canonical RAS ``affine``."""
    a = np.asarray(affine, dtype=np.float64)
    nx, ny, nz = (int(s) for s in shape[:3])
    col_step = _RAS_TO_LPS @ (-a[:3, 0])  # increasing column c: voxel i decreases
    row_step = _RAS_TO_LPS @ (-a[:3, 1])  # increasing row r: voxel j decreases
    dx, dy = float(np.linalg.norm(col_step)), float(np.linalg.norm(row_step))
    if dx == 0 or dy == 0:
        raise RadsynthInputError("affine", a.tolist(), "a non-degenerate voxel-to-world matrix")
    row_dir, col_dir = col_step / dx, row_step / dy
    if abs(float(row_dir @ col_dir)) > 1e-4:
        raise RadsynthInputError(
            "affine", a.tolist(), "orthogonal in-plane axes (no shear)", "DICOM images cannot be sheared."
        )
    normal = np.cross(row_dir, col_dir)
    slice_vec = _RAS_TO_LPS @ a[:3, 2]
    step = float(slice_vec @ normal)
    if step <= 0:
        raise RadsynthInputError("affine", a.tolist(), "slices stacked along +normal (canonical RAS)")
    ks = np.arange(nz, dtype=np.float64)
    vox = np.stack([np.full(nz, nx - 1.0), np.full(nz, ny - 1.0), ks, np.ones(nz)], axis=0)
    positions = (_RAS_TO_LPS @ (a @ vox)[:3]).T
    orientation = tuple(float(v) for v in (*row_dir, *col_dir))
    return SeriesGeometry(orientation, positions, (dy, dx), step, normal)  # type: ignore[arg-type]


# ----------------------------------------------------------------- pixel scaling
def _nice_up(x: float) -> str:
    """Smallest 4-significant-digit decimal >= x, as a short fixed-point string."""
    d = Decimal(repr(float(x)))
    exp = d.adjusted() - 3
    mant = (d.scaleb(-exp)).to_integral_value(rounding="ROUND_CEILING")
    s = format(mant.scaleb(exp), "f")
    return s if len(s) <= 16 and float(s) > 0 else ds_str(x * (1 + 1e-12))


def choose_rescale(values: np.ndarray) -> tuple[str, str, np.dtype]:
    """(slope DS, intercept DS, stored dtype) for one series (see module docstring)."""
    v = np.asarray(values)
    finite = v[np.isfinite(v)]
    vmin = float(finite.min()) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 0.0
    if vmin >= 0:
        return (_nice_up(vmax / 65000.0) if vmax > 0 else "1"), "0", np.dtype(np.uint16)
    peak = max(abs(vmin), abs(vmax))
    return _nice_up(peak / 32000.0), "0", np.dtype(np.int16)


def quantise(values: np.ndarray, slope: str, intercept: str, dtype: np.dtype) -> np.ndarray:
    info = np.iinfo(dtype)
    x = (np.nan_to_num(np.asarray(values, dtype=np.float64)) - float(intercept)) / float(slope)
    return np.clip(np.rint(x), info.min, info.max).astype(dtype)


# ----------------------------------------------------------------- MR acquisition
_SE_NAMES = {"se", "spin_echo", "spinecho", "tse", "fse", "turbo_spin_echo", "t2w", "pdw", "pd", "t2"}
_GR_NAMES = {"gr", "gre", "gradient_echo", "spgr", "flash", "ge", "spoiled_gradient_echo", "t1w_gre", "swi", "t2star"}
_SE_IR_NAMES = {"ir", "inversion_recovery", "flair", "stir", "t2_flair", "ir_se"}
_GR_IR_NAMES = {"mprage", "mp-rage", "mp_rage", "ir_gre", "ir_spgr", "ir-spgr", "bravo", "ir_fspgr"}


def _multi(value: Any) -> list[str]:
    if isinstance(value, str):
        return [p for p in value.replace("/", "\\").split("\\") if p]
    return [str(p) for p in value]


def mr_sequence_codes(sequence: str, acquisition: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(Scanning Sequence, Sequence Variant) from the sequence name and parameters.

    Explicit ``acquisition["scanning_sequence"]`` / ``["sequence_variant"]`` win;
    otherwise ``acquisition["sequence_type"]`` or the sequence name is looked up
    (SE: spin echo, GR: gradient echo, IR: inversion recovery), falling back to
    TI > 0 -> IR and flip angle < 90 deg -> GR.
    """
    names = {str(acquisition.get(k, "")).strip().lower() for k in ("sequence_type", "pulse_sequence")}
    names.add(sequence.strip().lower())
    names.discard("")
    ti = acquisition.get("ti_ms")
    flip = acquisition.get("flip_deg")
    if names & _GR_IR_NAMES:
        scan = ["GR", "IR"]
    elif names & _SE_IR_NAMES:
        scan = ["SE", "IR"]
    elif names & _GR_NAMES:
        scan = ["GR"]
    elif names & _SE_NAMES:
        scan = ["SE"]
    else:
        scan = ["GR"] if flip is not None and float(flip) < 90 else ["SE"]
        if ti is not None and float(ti) > 0:
            scan.append("IR")
    if "scanning_sequence" in acquisition:
        scan = _multi(acquisition["scanning_sequence"])
    variant = (["SP"] if "GR" in scan else []) + (["MP"] if "IR" in scan else [])
    if "sequence_variant" in acquisition:
        variant = _multi(acquisition["sequence_variant"])
    return scan, variant or ["NONE"]


def add_mr_image_module(ds: Dataset, image: ImageRecord, slice_thickness_mm: float, step_mm: float) -> None:
    acq = image.acquisition
    scan, variant = mr_sequence_codes(image.sequence, acq)
    ds.ScanningSequence = scan
    ds.SequenceVariant = variant
    ds.ScanOptions = _multi(acq["scan_options"]) if acq.get("scan_options") else ""
    ds.MRAcquisitionType = str(acq.get("mr_acquisition_type", "3D"))
    ds.SequenceName = check_dicom_text("sequence_name", str(acq.get("sequence_name", image.sequence))[:16], 16)
    ds.AngioFlag = "N"

    def opt(key: str) -> str:
        v = acq.get(key)
        return "" if v is None else ds_str(v)

    ds.RepetitionTime = opt("tr_ms")
    ds.EchoTime = opt("te_ms")
    if "IR" in scan:
        ds.InversionTime = opt("ti_ms")
    ds.EchoTrainLength = str(int(acq.get("echo_train_length", 1)))
    if acq.get("number_of_averages") is not None:
        ds.NumberOfAverages = ds_str(acq["number_of_averages"])
    b0 = acq.get("field_strength_t")
    if b0 is not None:
        ds.MagneticFieldStrength = ds_str(b0)
        ds.ImagingFrequency = ds_str(round(PROTON_GAMMA_MHZ_PER_T * float(b0), 6))
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.SliceThickness = ds_str(slice_thickness_mm)
    ds.SpacingBetweenSlices = ds_str(step_mm)
    win = acq.get("display_window")
    if win is not None and len(win) == 2 and float(win[1]) > float(win[0]):
        # VOI LUT (PS3.3 C.11.2): the image's display window, in rescaled (output) units
        ds.WindowCenter = ds_str(round((float(win[0]) + float(win[1])) / 2.0, 4))
        ds.WindowWidth = ds_str(round(float(win[1]) - float(win[0]), 4))
    if acq.get("flip_deg") is not None:
        ds.FlipAngle = ds_str(acq["flip_deg"])
    if acq.get("pixel_bandwidth_hz") is not None:
        ds.PixelBandwidth = ds_str(acq["pixel_bandwidth_hz"])


# ----------------------------------------------------------------- writer
def write_mr_series(
    out_dir: str | os.PathLike[str],
    image: ImageRecord,
    *,
    subject_id: str,
    study_key: str,
    series_number: int,
    series_description: str,
    provenance: dict[str, Any],
    patient_sex: str | None = None,
    patient_age_years: int | None = None,
    synthetic_data_tag: bool = False,
) -> list[Path]:
    """Write ``image`` (3D, float, RAS affine) as MR Image Storage files, one per axial slice.

    Files are ``out_dir/slice_0001.dcm`` ... (instance number = slice index + 1,
    inferior to superior), each written atomically. ``study_key`` names the
    subject's study: series written with the same subject id, study key and
    config hash share Study Instance UID and Frame of Reference UID.
    ``synthetic_data_tag=True`` also writes Synthetic Data (0008,001C) = YES
    (off by default: see :data:`SYNTHETIC_DATA_TAG_NOTE`).
    Returns the paths in slice order.
    """
    if image.modality != "MR":
        raise RadsynthInputError("image.modality", image.modality, "MR", "Use the writer for that modality.")
    series_number = check_series_args(image, series_number, series_description, study_key)

    volume, affine = canonicalize(image.array, image.affine)
    geom = series_geometry(affine, volume.shape)
    slope, intercept, stored_dtype = choose_rescale(volume)
    frames = volume_to_frames(quantise(volume, slope, intercept, stored_dtype))
    thickness = float(image.acquisition.get("slice_thickness_mm", geom.slice_step_mm))

    base = Dataset()
    base.SOPClassUID = MR_IMAGE_STORAGE
    add_series_frame(
        base, modality="MR", subject_id=subject_id, study_key=study_key, series_number=series_number,
        series_description=series_description, provenance=provenance, patient_sex=patient_sex,
        patient_age_years=patient_age_years,
    )  # fmt: skip
    base.ProtocolName = f"radsynth {image.sequence}".strip()[:64]
    # Body Part Examined: an unpaired part, so Laterality (Type 2C) is not required.
    base.BodyPartExamined = check_dicom_text(
        "acquisition.body_part_examined", str(image.acquisition.get("body_part_examined", "HEAD")), 16
    )
    add_equipment(base, provenance)
    # General Image
    base.ImageType = ["DERIVED", "SECONDARY", "OTHER"]
    base.ImageComments = f"{SYNTHETIC_NOTE}. {image.sequence}".strip()
    base.DerivationDescription = (
        f"Synthetic {image.sequence} MR image simulated by radsynth; not acquired from a patient"[:1024]
    )
    add_plane_and_pixel(base, geom, frames, stored_dtype, slope, intercept)
    lo, hi = auto_window(volume)
    if hi - lo >= 1:  # Window Width shall be >= 1 (PS3.3 C.11.2.1.2)
        base.WindowCenter = ds_str((lo + hi) / 2)
        base.WindowWidth = ds_str(hi - lo)
    add_mr_image_module(base, image, thickness, geom.slice_step_mm)
    agent = image.acquisition.get("contrast_agent")
    if agent:  # Contrast/Bolus module (required when contrast was given)
        name = agent.get("name", "") if isinstance(agent, dict) else str(agent)
        base.ContrastBolusAgent = check_dicom_text("contrast_agent", str(name or "gadolinium")[:64], 64)
    add_synthetic_marking(base, provenance, synthetic_data_tag=synthetic_data_tag)
    return write_slices(
        out_dir, base, frames, geom, stored_dtype, subject_id=subject_id, study_key=study_key,
        series_number=series_number, provenance=provenance,
    )  # fmt: skip


# ----------------------------------------------------------------- series helpers (MR, CT)
def check_series_args(image: ImageRecord, series_number: int, series_description: str, study_key: str) -> int:
    """Checks shared by the axial-series writers; returns ``series_number`` as an int."""
    if image.array.ndim != 3:
        raise RadsynthInputError("image.array.shape", image.array.shape, "a 3D (x, y, z) volume")
    series_number = int(series_number)
    if not 0 <= series_number <= 2**31 - 1:
        raise RadsynthInputError("series_number", series_number, "an integer 0..2147483647")
    check_dicom_text("series_description", series_description, 64)
    check_dicom_text("study_key", study_key, 1024)
    return series_number


def add_series_frame(
    ds: Dataset,
    *,
    modality: str,
    subject_id: str,
    study_key: str,
    series_number: int,
    series_description: str,
    provenance: dict[str, Any] | None,
    patient_sex: str | None,
    patient_age_years: int | None,
    frame_of_reference: bool = True,
    patient_position: str | None = "HFS",
) -> None:
    """Patient, study, General Series and (optionally) Frame of Reference modules with name-based UIDs."""
    add_patient_study(
        ds, subject_id=subject_id, study_uid=study_instance_uid(subject_id, study_key, provenance),
        patient_sex=patient_sex, patient_age_years=patient_age_years,
    )  # fmt: skip
    ds.Modality = modality
    ds.SeriesInstanceUID = series_instance_uid(subject_id, study_key, series_number, provenance)
    ds.SeriesNumber = str(int(series_number))
    ds.SeriesDescription = series_description
    if patient_position is not None:
        ds.PatientPosition = patient_position
    if frame_of_reference:
        ds.FrameOfReferenceUID = frame_of_reference_uid(subject_id, study_key, provenance)
        ds.PositionReferenceIndicator = ""


def add_plane_and_pixel(
    ds: Dataset, geom: SeriesGeometry, frames: np.ndarray, stored_dtype: np.dtype, slope: str, intercept: str
) -> None:
    """Image Plane (all but the per-slice position) and Image Pixel modules, 16-bit MONOCHROME2, rescale."""
    ds.LossyImageCompression = "00"
    ds.PixelSpacing = [ds_str(geom.pixel_spacing_mm[0]), ds_str(geom.pixel_spacing_mm[1])]
    ds.ImageOrientationPatient = [ds_str(round(v, 10)) for v in geom.orientation_lps]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = int(frames.shape[1])
    ds.Columns = int(frames.shape[2])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0 if stored_dtype == np.uint16 else 1
    ds.RescaleIntercept = intercept
    ds.RescaleSlope = slope


def write_slices(
    out_dir: str | os.PathLike[str],
    base: Dataset,
    frames: np.ndarray,
    geom: SeriesGeometry,
    stored_dtype: np.dtype,
    *,
    subject_id: str,
    study_key: str,
    series_number: int,
    provenance: dict[str, Any] | None,
) -> list[Path]:
    """One file per frame, ``out_dir/slice_0001.dcm`` ..., each written atomically (SOP class from ``base``)."""
    out = Path(out_dir)
    paths: list[Path] = []
    for k in range(frames.shape[0]):
        instance = k + 1
        ds = base.copy()
        sop_uid = sop_instance_uid(subject_id, study_key, series_number, instance, provenance)
        ds.SOPInstanceUID = sop_uid
        ds.InstanceNumber = str(instance)
        pos = geom.positions_lps[k]
        ds.ImagePositionPatient = [ds_str(round(float(v), 6)) for v in pos]
        ds.SliceLocation = ds_str(round(float(pos @ geom.normal_lps), 6))
        ds.PixelData = frames[k].astype(stored_dtype.newbyteorder("<"), copy=False).tobytes()
        ds.file_meta = file_meta(str(base.SOPClassUID), sop_uid)
        path = out / f"slice_{instance:04d}.dcm"
        paths.append(atomic_write_bytes(path, dataset_bytes(ds)))
    return paths
