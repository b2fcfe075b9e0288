"""Write one generated subject to disk in the requested formats.

Layout (BIDS-like) inside the subject folder::

    anat/<sid>_<seq>.nii.gz        images (NIfTI, synthetic-marked header; 2D images: <sid>_dx.nii.gz)
    masks/<sid>_<mask>.nii.gz      label map and lesion masks, same grid (2D masks: 2D NIfTI)
    png/<sid>_<seq>_axial.png      16-bit previews (and mask previews); 2D images and masks: png/<sid>_dx.png,
                                   png/<sid>_<mask>.png, whole image in display orientation
    dicom/<seq>/slice_NNNN.dcm     MR or CT series (by the image's modality), when the subject has DICOM
    dicom/<seq>/image.dcm          DX radiograph (modality DX/CR, 2D image)
    dicom/seg/seg.dcm              DICOM SEG of the binary masks over the first image on their grid (a mask
                                   named <seq>_<name> goes with image <seq>, e.g. PA_lung_nodule); masks
                                   of another image: dicom/seg/seg_<seq>.dcm
    subject.json                   plan, labels, attributes, findings, provenance, files

A longitudinal subject (``SubjectRecord.sessions``, e.g. a growing tumour) has one BIDS session folder
per timepoint holding the layout above, files prefixed ``<sid>_ses-<label>``, one DICOM study each::

    ses-t000/anat/<sid>_ses-t000_<seq>.nii.gz, ses-t000/masks/..., ses-t060/..., ...
    <sid>_sessions.tsv             session_id, time_days and the measurements of each timepoint
    subject.json                   as above; ``sessions`` lists each timepoint, files carry session/time_days

<seq> is the image's sequence, or its modality in lower case when it has none
("dx", "ct"); a repeated name gets "_<n>" (n = image number, 1-based).

Returns the subject metadata (also saved as subject.json) listing every file with its sha256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from radsynth.cohort.generator import SubjectPlan
from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import SubjectRecord, canonical_json


def watermark_subject(subject: SubjectRecord, dataset_id: str | None) -> tuple[SubjectRecord, dict[str, Any] | None]:
    """``subject`` with an invisible watermark in every image (masks untouched) and the watermark
    declaration for its provenance (scheme, payload, key id, per-image PSNR); unchanged when
    ``dataset_id`` is None. The payload is the first 64 bits of the dataset id (the spec hash).

    The mark is laid in display orientation, as the files show the image: each axial slice of a
    volume (NIfTI, DICOM and PNG previews all keep it) and the whole of a 2D projection.
    """
    if not dataset_id:
        return subject, None
    from dataclasses import replace

    from radsynth.io.png import axial_display_stack, axial_display_unstack, display_to_xz, projection_for_display
    from radsynth.provenance import watermark as wm

    payload = wm.payload_from_id(dataset_id[:16])
    cfg = wm.WatermarkConfig()
    images, psnrs = [], []
    for im in subject.images:
        a = np.asarray(im.array)
        if a.ndim == 3 and min(a.shape[:2]) >= cfg.tile:
            stack, rec = wm.embed_volume(axial_display_stack(a), payload, config=cfg, axis=0)
            marked = axial_display_unstack(stack)
        elif a.ndim == 2 and min(a.shape) >= cfg.tile:
            disp, rec = wm.embed_watermark(projection_for_display(a), payload, config=cfg)
            marked = display_to_xz(disp)
        else:
            images.append(im)
            psnrs.append(None)
            continue
        images.append(replace(im, array=marked.astype(a.dtype, copy=False)))
        psnrs.append(rec.psnr_db)
    declared = {"scheme": wm.SCHEME, "payload": payload, "key_id": wm.key_id(),
                "orientation": "axial display slices; 2D images in display orientation",
                "psnr_db": psnrs}
    return replace(subject, images=images), declared


def _file_entry(subject_dir: Path, path: Path, **kw: Any) -> dict[str, Any]:
    from radsynth.io.atomic import sha256_file

    entry = {"path": path.relative_to(subject_dir).as_posix(), "sha256": sha256_file(path), "modality": "", "sequence": ""}
    entry.update(kw)
    return entry


def write_subject(subject: SubjectRecord, plan: SubjectPlan, subject_dir: Path) -> dict[str, Any]:
    """Write ``subject`` under ``subject_dir`` (a temp folder the caller renames).

    Returns the subject metadata also written to ``subject.json``; its ``files``
    list (paths relative to the subject folder, sha256) feeds the manifest. A
    longitudinal subject (``subject.sessions``) is written by :func:`_write_sessions`.
    """
    prov = subject.provenance.to_dict()
    if subject.sessions:
        return _write_sessions(subject, plan, subject_dir, prov)
    sid = subject.subject_id
    subject, watermark = watermark_subject(subject, plan.extra.get("watermark_payload"))
    if watermark:
        prov["watermark"] = watermark
    files = _write_files(subject, plan, subject_dir, sid, prov, study_key=f"{prov['config_hash']}/{sid}")
    meta = _meta(subject, plan, prov)
    meta.update(images=_image_meta(subject.images), masks=_mask_meta(subject.masks),
                affine=np.asarray(subject.affine).tolist())
    return _finish(meta, subject_dir, [_file_entry(subject_dir, p, **kw) for p, kw in files])


def _meta(subject: SubjectRecord, plan: SubjectPlan, prov: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject_id": subject.subject_id,
        "subject_index": subject.subject_index,
        "seed": int(plan.seed),
        "labels": subject.labels,
        "attributes": subject.attributes,
        "findings": subject.findings,
        "plausibility": subject.plausibility,
        "provenance": prov,
        "formats": list(plan.formats),
    }


def _image_meta(images: list[Any], **extra: Any) -> list[dict[str, Any]]:
    return [{"sequence": im.sequence, "modality": im.modality, "units": im.units, "acquisition": im.acquisition,
             "shape": list(im.array.shape), "spacing_mm": list(im.spacing_mm), **extra} for im in images]


def _mask_meta(masks: list[Any], **extra: Any) -> list[dict[str, Any]]:
    return [{"name": m.name, "description": m.description, "properties": m.properties, **extra} for m in masks]


def _finish(meta: dict[str, Any], subject_dir: Path, files: list[dict[str, Any]]) -> dict[str, Any]:
    meta["files"] = files
    meta_path = subject_dir / "subject.json"
    meta_path.write_text(json.dumps(json.loads(canonical_json(meta)), indent=1, sort_keys=True) + "\n")
    return meta


#: Columns of ``<sid>_sessions.tsv`` after session_id and time_days (per-session measurements).
SESSION_TSV_COLUMNS = ("target_core_volume_ml", "core_volume_ml", "core_volume_error_pct", "core_volume_output_grid_ml",
                       "radius_mm", "mass_effect_mm", "oedema_extent_mm", "ventricle_displacement_mm",
                       "ventricle_mean_displacement_mm", "ventricle_wall_shift_mm", "ventricle_centroid_shift_mm",
                       "ventricle_volume_ml")


def _write_sessions(subject: SubjectRecord, plan: SubjectPlan, subject_dir: Path, prov: dict[str, Any]) -> dict[str, Any]:
    """A longitudinal subject: one BIDS session folder per timepoint, each with its own images and masks::

        ses-<label>/anat/<sid>_ses-<label>_<seq>.nii.gz, ses-<label>/masks/..., ses-<label>/png/...,
        ses-<label>/dicom/... (one DICOM study per session), <sid>_sessions.tsv, subject.json

    Every file's provenance carries ``session`` (id, time_days, measurements, scan-level draws); file
    entries (and so the manifest rows) carry ``session`` and ``time_days``.
    """
    from dataclasses import replace

    sid = subject.subject_id
    files: list[dict[str, Any]] = []
    sessions, images, masks, findings, psnrs = [], [], [], [], []
    declared = None
    for ses in subject.sessions:
        view = replace(subject, affine=ses.affine, images=ses.images, masks=ses.masks, findings=ses.findings,
                       sessions=[])
        view, watermark = watermark_subject(view, plan.extra.get("watermark_payload"))
        ses_prov = dict(prov, session={"session": ses.session_id, "time_days": ses.time_days,
                                       "measurements": ses.measurements, "sampled": ses.sampled})
        if watermark:
            ses_prov["watermark"] = watermark
            declared = watermark
            psnrs += watermark["psnr_db"]
        where = dict(session=ses.session_id, time_days=float(ses.time_days))
        written = _write_files(view, plan, subject_dir / ses.session_id, f"{sid}_{ses.session_id}", ses_prov,
                               study_key=f"{prov['config_hash']}/{sid}/{ses.session_id}",
                               series_suffix=f" {ses.session_id}")
        files += [_file_entry(subject_dir, p, **kw, **where) for p, kw in written]
        images += _image_meta(ses.images, **where)
        masks += _mask_meta(ses.masks, **where)
        findings += ses.findings
        sessions.append({**where, "measurements": ses.measurements, "sampled": ses.sampled,
                         "affine": np.asarray(ses.affine).tolist()})
    if declared is not None:
        prov["watermark"] = {**declared, "psnr_db": psnrs}
    tsv = subject_dir / f"{sid}_sessions.tsv"
    rows = ["\t".join(("session_id", "time_days") + SESSION_TSV_COLUMNS)]
    for ses in subject.sessions:
        vals = [ses.measurements.get(k) for k in SESSION_TSV_COLUMNS]
        rows.append("\t".join([ses.session_id, f"{ses.time_days:g}"]
                              + ["n/a" if v is None else f"{float(v):.6g}" for v in vals]))
    tsv.write_text("\n".join(rows) + "\n")
    files.append(_file_entry(subject_dir, tsv, kind="metadata", format="tsv"))
    meta = _meta(subject, plan, prov)
    meta.update(findings=findings, images=images, masks=masks, sessions=sessions,
                affine=np.asarray(subject.affine).tolist())
    return _finish(meta, subject_dir, files)


def _write_files(
    subject: SubjectRecord, plan: SubjectPlan, folder: Path, prefix: str, prov: dict[str, Any], study_key: str,
    series_suffix: str = "",
) -> list[tuple[Path, dict[str, Any]]]:
    """Images, masks, previews and DICOM of ``subject`` (already watermarked) under ``folder``, files named
    ``<prefix>_<stem>...``; returns (path, manifest fields) per file."""
    from radsynth.io.nifti import write_nifti
    from radsynth.io.png import write_mask_preview, write_preview

    files: list[tuple[Path, dict[str, Any]]] = []
    stems = _stems(subject)
    if "nifti" in plan.formats:
        (folder / "anat").mkdir(parents=True, exist_ok=True)
        if subject.masks:
            (folder / "masks").mkdir(parents=True, exist_ok=True)
        for im, stem in zip(subject.images, stems):
            p = folder / "anat" / f"{prefix}_{stem}.nii.gz"
            write_nifti(p, im.array, im.affine, description=f"{im.modality} {im.sequence}", provenance=prov,
                        quantise=True, display_window=im.acquisition.get("display_window"))
            files.append((p, dict(kind="image", format="nifti", modality=im.modality, sequence=im.sequence)))
        for m in subject.masks:
            p = folder / "masks" / f"{prefix}_{m.name}.nii.gz"
            write_nifti(p, m.array, subject.affine, description=f"mask {m.name}", intent="label", provenance=prov)
            files.append((p, dict(kind="mask", format="nifti", modality="SEG", sequence=m.name)))

    if "png" in plan.formats:
        (folder / "png").mkdir(parents=True, exist_ok=True)
        centre = _preview_index(subject)
        for im, stem in zip(subject.images, stems):
            if im.array.ndim == 2:  # a 2D image (e.g. DX): the whole image, full 16-bit range, not a preview
                p = folder / "png" / f"{prefix}_{stem}.png"
                _write_png_2d(p, im, prov)
                files.append((p, dict(kind="image", format="png", modality=im.modality, sequence=im.sequence)))
                continue
            p = folder / "png" / f"{prefix}_{im.sequence}_axial.png"
            write_preview(p, im.array, plane="axial", index=centre, provenance=prov)
            files.append((p, dict(kind="preview", format="png", modality=im.modality, sequence=im.sequence)))
        for m in subject.masks:
            if m.array.ndim == 2:  # a 2D (x, z) mask: whole, in the display orientation of its 2D image
                p = folder / "png" / f"{prefix}_{m.name}.png"
                # an (x, 1, z) volume's coronal slice 0 is exactly projection_for_display(mask)
                write_mask_preview(p, np.asarray(m.array)[:, None, :], plane="coronal", index=0, provenance=prov)
                files.append((p, dict(kind="mask", format="png", modality="SEG", sequence=m.name)))
                continue
            p = folder / "png" / f"{prefix}_{m.name}_axial.png"
            write_mask_preview(p, m.array, plane="axial", index=centre, provenance=prov)
            files.append((p, dict(kind="preview", format="png", modality="SEG", sequence=m.name)))

    if "dicom" in plan.formats:
        files += _write_dicom(subject, folder, stems, prov, study_key, series_suffix)
    return files


def _write_dicom(
    subject: SubjectRecord, subject_dir: Path, stems: list[str], prov: dict[str, Any], study_key: str,
    series_suffix: str = "",
) -> list[tuple[Path, dict[str, Any]]]:
    """DICOM by modality (MR -> MR series, CT -> CT series, DX/CR -> DX), then SEG(s) of the lesion masks.

    ``study_key`` names the study (one per subject; one per session of a longitudinal subject);
    ``series_suffix`` is appended to each series description (e.g. `` ses-t060``)."""
    from radsynth.io.dicom_seg import write_seg

    sid = subject.subject_id
    files: list[tuple[Path, dict[str, Any]]] = []
    common = dict(subject_id=sid, study_key=study_key, provenance=prov,
                  patient_sex=_sex(subject.attributes.get("sex")),
                  patient_age_years=_age(subject.attributes.get("age_years")))
    sources: list[tuple[tuple[int, ...], list[Path], Any]] = []  # (grid shape, files, image) per image
    for n, (im, stem) in enumerate(zip(subject.images, stems), start=1):
        folder = subject_dir / "dicom" / stem
        if im.modality == "MR":
            from radsynth.io.dicom_series import write_mr_series

            paths = write_mr_series(folder, im, series_number=n,
                                    series_description=f"SYNTHETIC {im.sequence}{series_suffix}", **common)
            kind = "dicom_series"
        elif im.modality == "CT":
            from radsynth.io.dicom_ct import write_ct_series

            desc = f"SYNTHETIC {im.sequence}" if "CT" in im.sequence.upper() else f"SYNTHETIC CT {im.sequence}".strip()
            paths = write_ct_series(folder, im, series_number=n, series_description=desc, **common)
            kind = "dicom_series"
        elif im.modality in ("DX", "CR"):
            from radsynth.io.dicom_dx import write_dx

            desc = f"SYNTHETIC radiograph {im.sequence}".strip()
            paths = [write_dx(folder / "image.dcm", im, series_number=n, series_description=desc, **common)]
            kind = "image"
        else:
            raise RadsynthInputError(f"images[{n - 1}].modality", im.modality, "MR, CT, DX or CR for DICOM output")
        files += [(p, dict(kind=kind, format="dicom", modality=im.modality, sequence=im.sequence)) for p in paths]
        sources.append((tuple(im.array.shape), paths, im))

    lesion_masks = [m for m in subject.masks if not m.is_labelmap and np.any(m.array)]
    groups: dict[int, list[Any]] = {}  # source image index -> its masks, in order of first appearance
    for m in lesion_masks:
        groups.setdefault(_mask_source(m, sources), []).append(m)
    for g, (n, masks) in enumerate(groups.items()):
        _, paths, im = sources[n]
        seg = write_seg(
            subject_dir / "dicom" / "seg" / ("seg.dcm" if g == 0 else f"seg_{stems[n]}.dcm"),
            paths,
            masks,
            affine=im.affine if im.array.ndim == 2 else subject.affine,
            series_number=len(subject.images) + 1 + g,
            provenance=prov,
        )
        if seg is not None:
            files.append((Path(seg), dict(kind="dicom_seg", format="dicom", modality="SEG", sequence="lesions")))
    return files


def _mask_source(mask: Any, sources: list[tuple[tuple[int, ...], list[Path], Any]]) -> int:
    """Index of the image a mask's SEG references: among the images on the mask's grid, the one whose
    sequence prefixes the mask name (``PA_lung_nodule`` -> the ``PA`` radiograph), else the first."""
    shape = tuple(mask.array.shape)
    match = [n for n, (grid, _, _) in enumerate(sources) if grid == shape]
    if not match:
        raise RadsynthInputError(f"mask {mask.name!r} shape", list(shape),
                                 f"the grid of one of the subject's images {[list(s[0]) for s in sources]}")
    named = [n for n in match if sources[n][2].sequence and mask.name.startswith(f"{sources[n][2].sequence}_")]
    return named[0] if named else match[0]


def _stems(subject: SubjectRecord) -> list[str]:
    """File-name part of each image (:func:`_stem`), made unique by appending ``_<n>`` to a repeated one."""
    out: list[str] = []
    for n, im in enumerate(subject.images, start=1):
        stem = _stem(im)
        out.append(stem if stem not in out else f"{stem}_{n}")
    return out


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
