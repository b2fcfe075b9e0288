"""Write one generated subject to disk in the requested formats.

Layout (BIDS-like) inside the subject folder::

    anat/<sid>_<seq>.nii.gz        images (NIfTI, synthetic-marked header; 2D images: <sid>_dx.nii.gz)
    masks/<sid>_<mask>.nii.gz      label map and lesion masks, same grid
    png/<sid>_<seq>_axial.png      16-bit previews (and mask previews); 2D images: png/<sid>_dx.png, whole image
    dicom/<seq>/NNNN.dcm           MR series (when the subject has DICOM)
    dicom/seg/seg.dcm              DICOM SEG of the lesion masks
    subject.json                   plan, labels, attributes, findings, provenance, files

Returns the subject metadata (also saved as subject.json) listing every file with its sha256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.cohort.generator import SubjectPlan
from radsynth.core.records import SubjectRecord, canonical_json


def _file_entry(subject_dir: Path, path: Path, **kw: Any) -> dict[str, Any]:
    from radsynth.io.atomic import sha256_file

    entry = {"path": path.relative_to(subject_dir).as_posix(), "sha256": sha256_file(path), "modality": "", "sequence": ""}
    entry.update(kw)
    return entry


def write_subject(subject: SubjectRecord, plan: SubjectPlan, subject_dir: Path) -> dict[str, Any]:
    """Write ``subject`` under ``subject_dir`` (a temp folder the caller renames).

    Returns the subject metadata also written to ``subject.json``; its ``files``
    list (paths relative to the subject folder, sha256) feeds the manifest.
    """
    from radsynth.io.nifti import write_nifti
    from radsynth.io.png import write_mask_preview, write_preview

    sid = subject.subject_id
    prov = subject.provenance.to_dict()
    files: list[tuple[Path, dict[str, Any]]] = []

    if "nifti" in plan.formats:
        (subject_dir / "anat").mkdir(parents=True, exist_ok=True)
        if subject.masks:
            (subject_dir / "masks").mkdir(parents=True, exist_ok=True)
        for im in subject.images:
            p = subject_dir / "anat" / f"{sid}_{_stem(im)}.nii.gz"
            write_nifti(p, im.array, im.affine, description=f"{im.modality} {im.sequence}", provenance=prov,
                        quantise=True)
            files.append((p, dict(kind="image", format="nifti", modality=im.modality, sequence=im.sequence)))
        for m in subject.masks:
            p = subject_dir / "masks" / f"{sid}_{m.name}.nii.gz"
            write_nifti(p, m.array, subject.affine, description=f"mask {m.name}", intent="label", provenance=prov)
            files.append((p, dict(kind="mask", format="nifti", modality="SEG", sequence=m.name)))

    if "png" in plan.formats:
        (subject_dir / "png").mkdir(parents=True, exist_ok=True)
        centre = _preview_index(subject)
        for im in subject.images:
            if im.array.ndim == 2:  # a 2D image (e.g. DX): the whole image, full 16-bit range, not a preview
                p = subject_dir / "png" / f"{sid}_{_stem(im)}.png"
                _write_png_2d(p, im, prov)
                files.append((p, dict(kind="image", format="png", modality=im.modality, sequence=im.sequence)))
                continue
            p = subject_dir / "png" / f"{sid}_{im.sequence}_axial.png"
            write_preview(p, im.array, plane="axial", index=centre, provenance=prov)
            files.append((p, dict(kind="preview", format="png", modality=im.modality, sequence=im.sequence)))
        for m in subject.masks:
            p = subject_dir / "png" / f"{sid}_{m.name}_axial.png"
            write_mask_preview(p, m.array, plane="axial", index=centre, provenance=prov)
            files.append((p, dict(kind="preview", format="png", modality="SEG", sequence=m.name)))

    if "dicom" in plan.formats:
        from radsynth.io.dicom_seg import write_seg
        from radsynth.io.dicom_series import write_mr_series

        source_paths: list[Path] = []
        for n, im in enumerate(subject.images, start=1):
            paths = write_mr_series(
                subject_dir / "dicom" / im.sequence,
                im,
                subject_id=sid,
                study_key=f"{prov['config_hash']}/{sid}",
                series_number=n,
                series_description=f"SYNTHETIC {im.sequence}",
                provenance=prov,
                patient_sex=_sex(subject.attributes.get("sex")),
                patient_age_years=_age(subject.attributes.get("age_years")),
            )
            files += [(p, dict(kind="dicom_series", format="dicom", modality=im.modality, sequence=im.sequence)) for p in paths]
            if n == 1:
                source_paths = paths
        lesion_masks = [m for m in subject.masks if not m.is_labelmap and np.any(m.array)]
        if lesion_masks:
            seg = write_seg(
                subject_dir / "dicom" / "seg" / "seg.dcm",
                source_paths,
                lesion_masks,
                affine=subject.affine,
                series_number=len(subject.images) + 1,
                provenance=prov,
            )
            if seg is not None:
                files.append((Path(seg), dict(kind="dicom_seg", format="dicom", modality="SEG", sequence="lesions")))

    meta = {
        "subject_id": sid,
        "subject_index": subject.subject_index,
        "seed": int(plan.seed),
        "labels": subject.labels,
        "attributes": subject.attributes,
        "findings": subject.findings,
        "provenance": prov,
        "formats": list(plan.formats),
        "images": [
            {"sequence": im.sequence, "modality": im.modality, "units": im.units, "acquisition": im.acquisition,
             "shape": list(im.array.shape), "spacing_mm": list(im.spacing_mm)}
            for im in subject.images
        ],
        "masks": [{"name": m.name, "description": m.description, "properties": m.properties} for m in subject.masks],
        "affine": np.asarray(subject.affine).tolist(),
    }
    meta["files"] = [_file_entry(subject_dir, p, **kw) for p, kw in files]
    meta_path = subject_dir / "subject.json"
    meta_path.write_text(json.dumps(json.loads(canonical_json(meta)), indent=1, sort_keys=True) + "\n")
    return meta


def _stem(im: Any) -> str:
    """File-name part of an image: its sequence, or its modality (lower case) when it has none (2D DX)."""
    return im.sequence or im.modality.lower()


def _write_png_2d(path: Path, im: Any, prov: dict[str, Any]) -> None:
    """16-bit PNG of a 2D (x, z) image in display orientation; [0, 1] images map 0 -> 0, 1 -> 65535."""
    from radsynth.io.png import projection_for_display, write_png16

    a = np.asarray(im.array)
    lo, hi = float(a.min()), float(a.max())
    window = (0.0, 1.0) if 0.0 <= lo and hi <= 1.0 else (lo, hi if hi > lo else lo + 1.0)
    write_png16(path, projection_for_display(a), window, provenance=prov,
                description=f"{im.modality} {a.shape[0]}x{a.shape[1]}, window [{window[0]:.6g}, {window[1]:.6g}]")


def _preview_index(subject: SubjectRecord) -> int | None:
    """Axial slice through the largest lesion's centre, else the volume centre."""
    for m in subject.masks:
        if not m.is_labelmap and m.array.ndim == 3 and np.any(m.array):
            zs = np.nonzero(m.array.any(axis=(0, 1)))[0]
            return int((zs[0] + zs[-1]) // 2)
    return None


def _sex(v: Any) -> str | None:
    return {"M": "M", "F": "F", "male": "M", "female": "F"}.get(str(v), "O") if v is not None else None


def _age(v: Any) -> int | None:
    return int(v) if v is not None else None
