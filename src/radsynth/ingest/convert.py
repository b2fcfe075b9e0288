"""Convert one source file into its de-identified output (worker side of :mod:`radsynth.ingest.ingest`).

A job carries everything it needs (the de-identification config with the key, the source path, the
labels-CSV fields), so it runs the same inline or in a worker process, and writes its output and a JSON
record into the work folder (output first, record last, both atomic): a record present means the job is
done, which is what ``--resume`` of an interrupted ingest relies on. Records hold the pseudonym, never the
real patient id, and the failure category separately from the reader's message (which may quote a path).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radsynth.generators.common.data import patient_id


@dataclass(frozen=True)
class Job:
    config: Any  # radsynth.privacy.deidentify.DeidConfig (holds the key)
    src: str  # absolute source path
    format: str  # png | jpeg | dicom | nifti
    name: str  # source file name (for the file-name patient patterns)
    csv_patient: str
    csv_modality: str
    work_stem: str  # work-folder path without suffix


def fallback_patient(name: str, csv_patient: str) -> str:
    """Patient id of a file without DICOM PatientID: the labels CSV, else a known file-name pattern, else the stem.

    The CSV comes before the file-name patterns: it is the user's explicit statement, the patterns a guess.
    """
    return csv_patient or patient_id(name)


def _convert(job: Job, deid: Any) -> tuple[bytes, str, dict[str, Any]]:
    if job.format == "dicom":
        from radsynth.ingest.dicom import convert_dicom

        r = convert_dicom(job.src, deid, fallback_patient(job.name, job.csv_patient))
        return r.data, ".dcm", {
            "patient": r.patient, "modality": r.modality or job.csv_modality or "unknown", "rows": r.rows,
            "columns": r.columns, "slices": r.frames if r.frames > 1 else None, "bits": r.bits,
            "deid_changes": r.changed, "pixel_sha256": r.pixel_sha256,
        }
    patient = deid.pseudonym(fallback_patient(job.name, job.csv_patient))
    if job.format == "nifti":
        from radsynth.ingest.nifti_clean import clean_nifti

        n = clean_nifti(job.src)
        dims = [s for s in n.shape if s > 1]
        if not dims:
            raise ValueError(f"NIfTI of shape {n.shape} holds no image")
        volume = len(n.shape) >= 3 and len(dims) >= 3
        return n.data, ".nii.gz", {
            "patient": patient, "modality": job.csv_modality or ("volume" if volume else "unknown"),
            "rows": n.shape[0], "columns": n.shape[1] if len(n.shape) > 1 else 1,
            "slices": n.shape[2] if volume else None, "bits": n.bits, "deid_changes": n.dropped,
            "pixel_sha256": n.pixel_sha256,
        }
    from radsynth.ingest.raster import convert_raster

    r = convert_raster(job.src)
    px = r.pixels
    digest = hashlib.sha256(f"{px.dtype.str}{px.shape}".encode() + px.tobytes()).hexdigest()
    return r.png, ".png", {
        "patient": patient, "modality": job.csv_modality or "unknown", "rows": int(px.shape[0]),
        "columns": int(px.shape[1]), "slices": None, "bits": r.bits, "deid_changes": r.dropped,
        "pixel_sha256": digest,
    }


def run_job(job: Job) -> dict[str, Any]:
    """Convert, write ``<work_stem><ext>`` and ``<work_stem>.json``; returns the record (also on failure)."""
    from radsynth.ingest.dicom import DeidFailedError, NotAnImageError
    from radsynth.io.atomic import atomic_write_bytes, sha256_file
    from radsynth.privacy.deidentify import Deidentifier

    rec: dict[str, Any]
    try:
        data, ext, fields = _convert(job, Deidentifier(job.config))
    except NotAnImageError as exc:
        rec = {"ok": False, "reason": "not an image", "detail": str(exc)}
    except DeidFailedError as exc:
        rec = {"ok": False, "reason": "de-identification failed", "detail": str(exc)}
    except (NotImplementedError, ImportError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt or unsupported file is skipped, not fatal
        msg = str(exc).splitlines()[0][:200] if str(exc) else ""
        rec = {"ok": False, "reason": f"unreadable ({type(exc).__name__})", "detail": msg}
    else:
        out = Path(job.work_stem + ext)
        atomic_write_bytes(out, data)
        rec = {"ok": True, "ext": ext, "work_file": out.name, "sha256": sha256_file(out), **fields}
    atomic_write_bytes(job.work_stem + ".json", (json.dumps(rec, sort_keys=True) + "\n").encode())
    return rec
