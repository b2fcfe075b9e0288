"""Deterministic classic DICOM CT Image Storage series (one file per axial slice).

Same geometry, UIDs and synthetic marking as the MR writer
(:mod:`radsynth.io.dicom_series`, whose helpers this module uses): canonical
RAS reorientation, pixel ``(r, c)`` of slice ``k`` = ``volume[X-1-c, Y-1-r, k]``,
LPS Image Position/Orientation, name-based UIDs on (config hash, subject,
study key, series number, instance number), Conversion Type SYN, no dates,
``SYNTHETIC^<id>`` patient name and the RADSYNTH private provenance block.

Pixel values. HU are rounded to the nearest integer and stored as signed
int16 with Rescale Slope 1, Intercept 0 and Rescale Type ``HU`` (so ``stored =
round(HU)``, read-back error <= 0.5 HU; values beyond -32768..32767 are clipped).

CT Image module (PS3.3 C.8.2.1). Image Type ``DERIVED\\SECONDARY\\AXIAL``,
MONOCHROME2, 16 bits, Gantry/Detector Tilt 0, Patient Position HFS,
Reconstruction Diameter = the field of view (columns x column spacing) unless
given. Acquisition values are read from ``image.acquisition`` (keys with units);
a missing optional one is left out, never invented:

=====================  ==========================================  ===========
key                    DICOM attribute                             type
=====================  ==========================================  ===========
``kvp``                KVP (0018,0060)                             2 (empty if missing)
``mas``                Exposure (0018,1152, mAs, IS rounded) and
                       Exposure in uAs (0018,1153)                 3
``tube_current_ma``    X-Ray Tube Current (0018,1151, IS)          3
``exposure_time_ms``   Exposure Time (0018,1150, IS)               3
``kernel``             Convolution Kernel (0018,1210, SH)          3
``ctdi_vol_mgy``       CTDIvol (0018,9345, FD, mGy) with CTDI
                       Phantom Type Code Sequence (0018,9346)      3
``ctdi_phantom``       'body' (32 cm) / 'head' (16 cm); default by
                       body part (HEAD/BRAIN -> head, else body)
``slice_thickness_mm`` Slice Thickness (default: slice step)       2
``reconstruction_diameter_mm``  Reconstruction Diameter            3
``sid_mm``/``sod_mm``  Distance Source to Detector / to Patient    3
``body_part``          Body Part Examined (also ``body_part_examined``)  3
``window_center_hu``,  Window Center / Width (a number or a list;  C (VOI LUT)
``window_width_hu``    ``window_explanation`` names them)
=====================  ==========================================  ===========

Without an explicit window the body part picks standard presets: CHEST ->
mediastinum 40/400 and lung -600/1500, HEAD/BRAIN -> brain 40/80 and bone
600/2800 (common radiology presets; the first is the default display window);
otherwise the 0.5-99.5 percentile window of the volume
(:func:`radsynth.io.png.auto_window`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import ImageRecord
from radsynth.io import SYNTHETIC_NOTE
from radsynth.io.dicom_series import (
    acquisition_number,
    add_equipment,
    add_plane_and_pixel,
    add_series_frame,
    add_synthetic_marking,
    canonicalize,
    check_dicom_text,
    check_series_args,
    ds_str,
    series_geometry,
    volume_to_frames,
    write_slices,
)
from radsynth.io.png import auto_window

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
#: Window presets (centre HU, width HU, explanation) by Body Part Examined.
WINDOW_PRESETS: dict[str, tuple[tuple[float, float, str], ...]] = {
    "CHEST": ((40.0, 400.0, "MEDIASTINUM"), (-600.0, 1500.0, "LUNG")),
    "HEAD": ((40.0, 80.0, "BRAIN"), (600.0, 2800.0, "BONE")),
    "BRAIN": ((40.0, 80.0, "BRAIN"), (600.0, 2800.0, "BONE")),
}
#: CTDI phantoms (DICOM CID 4052): name -> (DCM code, meaning).
CTDI_PHANTOMS = {"body": ("113691", "IEC Body Dosimetry Phantom"), "head": ("113690", "IEC Head Dosimetry Phantom")}
_INT16 = np.iinfo(np.int16)


def hu_to_stored(volume_hu: np.ndarray) -> np.ndarray:
    """int16 stored values (slope 1, intercept 0): HU rounded half to even, clipped, NaN -> 0."""
    x = np.nan_to_num(np.asarray(volume_hu, dtype=np.float64))
    return np.clip(np.rint(x), _INT16.min, _INT16.max).astype(np.int16)


def _as_list(v: Any) -> list[Any]:
    return list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]


def ct_windows(acquisition: dict[str, Any], volume_hu: np.ndarray) -> tuple[list[float], list[float], list[str]]:
    """(centres, widths, explanations) of the VOI LUT module (see module docstring)."""
    acq = acquisition
    if acq.get("window_center_hu") is not None or acq.get("window_width_hu") is not None:
        centres = [float(c) for c in _as_list(acq.get("window_center_hu"))]
        widths = [float(w) for w in _as_list(acq.get("window_width_hu"))]
        if len(centres) != len(widths) or any(not np.isfinite(c) for c in centres) or any(
            not (np.isfinite(w) and w >= 1) for w in widths
        ):
            raise RadsynthInputError(
                "acquisition.window_center_hu/window_width_hu",
                (acq.get("window_center_hu"), acq.get("window_width_hu")),
                "as many finite centres as widths, widths >= 1 HU",
            )  # fmt: skip
        expl = [str(e) for e in _as_list(acq.get("window_explanation", []))]
        return centres, widths, expl if len(expl) == len(centres) else []
    preset = WINDOW_PRESETS.get(_body_part(acq) or "")
    if preset:
        return [p[0] for p in preset], [p[1] for p in preset], [p[2] for p in preset]
    lo, hi = auto_window(volume_hu)
    return [(lo + hi) / 2], [max(hi - lo, 1.0)], ["AUTO"]


def _body_part(acq: dict[str, Any]) -> str | None:
    v = acq.get("body_part", acq.get("body_part_examined"))
    if v is None or str(v).strip() == "":
        return None
    return check_dicom_text("acquisition.body_part", str(v).strip().upper(), 16)


def add_ct_image_module(
    ds: Dataset, image: ImageRecord, slice_thickness_mm: float, step_mm: float, fov_mm: float
) -> None:
    """CT Image module values from ``image.acquisition`` (keys in the module docstring)."""
    acq = image.acquisition
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.RescaleType = "HU"
    kvp = acquisition_number(acq, "kvp")
    ds.KVP = "" if kvp is None else ds_str(kvp)
    ds.AcquisitionNumber = "1"
    ds.SliceThickness = ds_str(slice_thickness_mm)
    ds.SpacingBetweenSlices = ds_str(step_mm)
    diameter = acquisition_number(acq, "reconstruction_diameter_mm")
    ds.ReconstructionDiameter = ds_str(fov_mm if diameter is None else diameter)
    sid, sod = acquisition_number(acq, "sid_mm"), acquisition_number(acq, "sod_mm")
    if sid is not None:
        ds.DistanceSourceToDetector = ds_str(sid)
    if sod is not None:
        ds.DistanceSourceToPatient = ds_str(sod)
    ds.GantryDetectorTilt = "0"
    t = acquisition_number(acq, "exposure_time_ms")
    if t is not None:
        ds.ExposureTime = str(int(round(t)))
    ma = acquisition_number(acq, "tube_current_ma")
    if ma is not None:
        ds.XRayTubeCurrent = str(int(round(ma)))
    mas = acquisition_number(acq, "mas")
    if mas is not None:
        ds.Exposure = str(int(round(mas)))
        ds.ExposureInuAs = str(int(round(mas * 1000.0)))
    if acq.get("kernel"):
        ds.ConvolutionKernel = check_dicom_text("acquisition.kernel", str(acq["kernel"]), 16)
    ctdi = acquisition_number(acq, "ctdi_vol_mgy", positive=False)
    if ctdi is not None:
        ds.CTDIvol = ctdi
        ds.CTDIPhantomTypeCodeSequence = [_phantom_code(acq)]


def _phantom_code(acq: dict[str, Any]) -> Dataset:
    """CTDI Phantom Type Code Sequence item (CID 4052): ``acquisition["ctdi_phantom"]`` 'body' (32 cm)
    or 'head' (16 cm); default: head for a HEAD/BRAIN body part, else body."""
    phantom = acq.get("ctdi_phantom")
    if phantom is None:
        phantom = "head" if _body_part(acq) in ("HEAD", "BRAIN") else "body"
    phantom = str(phantom).strip().lower()
    if phantom not in CTDI_PHANTOMS:
        raise RadsynthInputError("acquisition.ctdi_phantom", phantom, ", ".join(CTDI_PHANTOMS))
    value, meaning = CTDI_PHANTOMS[phantom]
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def write_ct_series(
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
    """Write ``image`` (3D, units HU, RAS affine) as CT Image Storage files, one per axial slice.

    Files are ``out_dir/slice_0001.dcm`` ... (inferior to superior), written
    atomically; UIDs and study sharing as in
    :func:`radsynth.io.dicom_series.write_mr_series`. Returns the paths in slice order.
    """
    if image.modality != "CT":
        raise RadsynthInputError("image.modality", image.modality, "CT", "Use the writer for that modality.")
    if image.units != "HU":
        raise RadsynthInputError("image.units", image.units, "HU")
    series_number = check_series_args(image, series_number, series_description, study_key)

    volume, affine = canonicalize(image.array, image.affine)
    geom = series_geometry(affine, volume.shape)
    frames = volume_to_frames(hu_to_stored(volume))
    thickness = acquisition_number(image.acquisition, "slice_thickness_mm")
    fov_mm = float(frames.shape[2]) * geom.pixel_spacing_mm[1]

    base = Dataset()
    base.SOPClassUID = CT_IMAGE_STORAGE
    add_series_frame(
        base, modality="CT", subject_id=subject_id, study_key=study_key, series_number=series_number,
        series_description=series_description, provenance=provenance, patient_sex=patient_sex,
        patient_age_years=patient_age_years,
    )  # fmt: skip
    name = image.sequence or "CT"
    base.ProtocolName = f"radsynth {name}"[:64]
    body = _body_part(image.acquisition)
    if body is not None:  # unpaired parts (CHEST, HEAD, ...): Laterality (Type 2C) not required
        base.BodyPartExamined = body
    else:  # unknown part: Laterality (Type 2C, required unless the part is known unpaired) present, empty
        base.Laterality = ""
    add_equipment(base, provenance)
    base.ImageComments = f"{SYNTHETIC_NOTE}. {name}"
    base.DerivationDescription = f"Synthetic CT ({name}) simulated by radsynth; not acquired from a patient"[:1024]
    add_plane_and_pixel(base, geom, frames, np.dtype(np.int16), "1", "0")
    add_ct_image_module(base, image, geom.slice_step_mm if thickness is None else thickness, geom.slice_step_mm, fov_mm)
    centres, widths, expl = ct_windows(image.acquisition, volume)
    base.WindowCenter = [ds_str(c) for c in centres] if len(centres) > 1 else ds_str(centres[0])
    base.WindowWidth = [ds_str(w) for w in widths] if len(widths) > 1 else ds_str(widths[0])
    if expl:
        base.WindowCenterWidthExplanation = [check_dicom_text("acquisition.window_explanation", e, 64) for e in expl]
    agent = image.acquisition.get("contrast_agent")
    if agent:  # Contrast/Bolus module (required when contrast was given)
        agent_name = agent.get("name", "") if isinstance(agent, dict) else str(agent)
        base.ContrastBolusAgent = check_dicom_text("contrast_agent", str(agent_name or "iodine")[:64], 64)
    add_synthetic_marking(base, provenance, synthetic_data_tag=synthetic_data_tag)
    return write_slices(
        out_dir, base, frames, geom, np.dtype(np.int16), subject_id=subject_id, study_key=study_key,
        series_number=series_number, provenance=provenance,
    )  # fmt: skip
