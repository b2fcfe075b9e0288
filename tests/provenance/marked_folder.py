"""Test helper: a small radsynth-like output folder whose every image is marked synthetic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from radsynth.io.dicom_series import add_synthetic_marking
from radsynth.io.nifti import write_nifti
from radsynth.io.png import write_mask_preview, write_png16

PROV = {"generator": "mri-brain", "generator_version": "0.1", "config_hash": "ab" * 32, "seed": 5}
AFF = np.diag([1.0, 1.0, 2.0, 1.0])
PNG = "subjects/sub-0001/png/sub-0001_T1w_axial.png"
MASK_PNG = "subjects/sub-0001/png/sub-0001_tumour_axial.png"
NII = "subjects/sub-0001/anat/sub-0001_T1w.nii.gz"
MASK_NII = "subjects/sub-0001/masks/sub-0001_tumour.nii.gz"
DCM = "subjects/sub-0001/dicom/T1w/slice_0001.dcm"


def write_dicom(path: Path, *, marked: bool = True) -> Path:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.999.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = np.arange(4, dtype="<u2").tobytes()
    if marked:
        add_synthetic_marking(ds, PROV)
    path.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def make_folder(root: Path) -> Path:
    """A folder like a cohort build (build.json marks it as a radsynth output)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "build.json").write_text(json.dumps({"spec_hash": "x", "n_subjects": 1}) + "\n")
    vol = np.random.default_rng(1).normal(100, 10, size=(8, 8, 4)).astype(np.float32)
    mask = (vol > 100).astype(np.uint8)
    write_png16(root / PNG, vol[:, :, 2], provenance=PROV)
    write_mask_preview(root / MASK_PNG, mask, provenance=PROV)
    write_nifti(root / NII, vol, AFF, description="MR T1w", provenance=PROV)
    write_nifti(root / MASK_NII, mask, AFF, description="mask tumour", intent="label", provenance=PROV)
    write_dicom(root / DCM)
    (root / "subjects/sub-0001/subject.json").write_text("{}\n")
    return root
