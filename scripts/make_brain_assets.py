"""Build the brain label maps shipped in src/radsynth/data/brain.

Converts six of the twenty SynthSeg training label maps (Billot et al., Medical Image
Analysis 2023; Apache-2.0) to int16 NIfTI on radsynth's working grid (1 mm RAS+,
WORK_SHAPE, cropped around the brain by radsynth.anatomy.load_labelmap), writes them
with deterministic gzip, copies the Apache-2.0 LICENSE and writes a README.md.

Usage:
    .venv/bin/python scripts/make_brain_assets.py [--source DIR] [--dest DIR]

DIR defaults: $RADSYNTH_SHARED_DATA/brain-labelmaps or ../shared/data/brain-labelmaps;
dest: src/radsynth/data/brain. Running it twice gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from radsynth.anatomy.labelmaps import WORK_SHAPE, load_labelmap, save_labelmap  # noqa: E402
from radsynth.core.labels import LABEL_NAMES  # noqa: E402

SUBJECTS = ("01", "03", "05", "08", "12", "17")

README = """# Brain label maps shipped with radsynth

Six whole-head label maps of real brain MRI, used as the anatomy of synthetic subjects.

| file | source file | kept labels | brain+CSF volume (mL) |
|---|---|---|---|
{rows}

## Source
SynthSeg training label maps `training_seg_{{01,03,05,08,12,17}}.nii.gz` from the SynthSeg
repository (https://github.com/BBillot/SynthSeg, folder `data/training_label_maps`),
distributed under the Apache License 2.0 (copy in `LICENSE` here).

Please cite:
B. Billot, D. N. Greve, O. Puonti, A. Thielscher, K. Van Leemput, B. Fischl, A. V. Dalca,
J. E. Iglesias. SynthSeg: Segmentation of brain MRI scans of any contrast and resolution
without retraining. Medical Image Analysis 86:102789 (2023). doi:10.1016/j.media.2023.102789

## What was changed (Apache-2.0 section 4(b): modified files)
- reoriented to RAS+ (`nibabel.as_closest_canonical`); already 1 mm isotropic, not resampled;
- cropped/padded from 256^3 to {shape} voxels around the brain (x, y centred on the
  brain; top of the window {margin:.0f} mm above the top of the brain): parts of the face
  and the neck are cut;
- re-encoded from float32 to int16 label ids (values unchanged), gzip with mtime 0;
- the affine is the source affine composed with the crop offset, so world coordinates of
  every voxel are those of the source.

Label ids are FreeSurfer's (cerebral structures) plus SynthSeg's extra-cerebral classes
(136/137/163/164 and 5xx); their meaning, as identified for radsynth, is in
`radsynth.core.labels`. Made by `scripts/make_brain_assets.py`.
"""


def default_source() -> Path:
    env = os.environ.get("RADSYNTH_SHARED_DATA")
    base = Path(env) if env else REPO.parent / "shared" / "data"
    return base / "brain-labelmaps"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=default_source())
    ap.add_argument("--dest", type=Path, default=REPO / "src" / "radsynth" / "data" / "brain")
    args = ap.parse_args(argv)
    src: Path = args.source
    dest: Path = args.dest
    if not src.is_dir():
        print(f"source folder {src} not found (set RADSYNTH_SHARED_DATA or use --source)", file=sys.stderr)
        return 2
    dest.mkdir(parents=True, exist_ok=True)
    rows = []
    from radsynth.core.labels import BRAIN

    brain = np.array(sorted(BRAIN), dtype=np.int16)
    for sid in SUBJECTS:
        in_path = src / f"training_seg_{sid}.nii.gz"
        labels, affine = load_labelmap(in_path, WORK_SHAPE)
        unknown = sorted(set(np.unique(labels).tolist()) - set(LABEL_NAMES))
        if unknown:
            print(f"warning: {in_path.name} has labels without a name: {unknown}", file=sys.stderr)
        out = save_labelmap(dest / f"synthseg_head_{sid}.nii.gz", labels, affine)
        n_labels = len(np.unique(labels))
        vol_ml = float(np.isin(labels, brain).sum()) / 1000.0
        digest = hashlib.sha256(out.read_bytes()).hexdigest()[:12]
        rows.append(f"| `{out.name}` | `{in_path.name}` | {n_labels} | {vol_ml:.0f} |")
        print(f"{out.name}: {out.stat().st_size / 1e6:.2f} MB, {n_labels} labels, sha256 {digest}")
    shutil.copyfile(src / "LICENSE", dest / "LICENSE")
    (dest / "README.md").write_text(
        README.format(rows="\n".join(rows), shape="x".join(map(str, WORK_SHAPE)), margin=_margin()),
        encoding="utf-8",
    )
    total = sum(p.stat().st_size for p in dest.iterdir() if p.is_file())
    print(f"total {total / 1e6:.2f} MB in {dest}")
    return 0


def _margin() -> float:
    from radsynth.anatomy.labelmaps import VERTEX_MARGIN_MM

    return VERTEX_MARGIN_MM


if __name__ == "__main__":
    raise SystemExit(main())
