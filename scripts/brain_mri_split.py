"""The fixed split of ``brain-mri-real`` behind ``brain-mri-encoder-64`` (its ``split.csv``), shared by
``scripts/train_brain_mri_encoder.py`` and the test that rebuilds the split from the images.

Byte-identical copies are folded into their first file; within each class the unique images are ordered by
``sha256(SPLIT_SALT + ":" + CLASS/FILE)`` and the first ``TRAIN_FRACTION`` go to train; a held-out image with a
near-duplicate in train (63-bit DCT perceptual hash within ``PHASH_MAX`` bits, also mirrored, or 32x32 pixel
correlation >= ``CORR_MIN``) is dropped; near-duplicates on one side form a group (connected components,
``scipy.sparse.csgraph``), kept together by group-aware sampling.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from radsynth.generators.common.data import read_image, resize_image

SIZE = 64
CLASSES = ("no", "yes")
TRAIN_FRACTION = 0.6  # not 0.7: 0.7 left 13-18 held-out slices per weighting for the bench (halves of 6-9)
SPLIT_SALT = "brain-mri-encoder-64/split-v1"
PHASH_MAX = 8  # bits of 63
CORR_MIN = 0.95
SPLIT_FIELDS = ("file", "sha256", "class", "part", "group", "note")


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def image_files(root: Path) -> list[Path]:
    return sorted((p for c in CLASSES for p in (root / c).iterdir()
                   if p.is_file() and p.suffix.lower() in (".png", ".jpg", ".jpeg")),
                  key=lambda p: p.relative_to(root).as_posix())


def phash(thumb: np.ndarray) -> np.ndarray:
    """63-bit DCT perceptual hash of a 32x32 thumbnail: 8x8 lowest DCT coefficients without DC vs their median."""
    from scipy.fft import dctn

    d = dctn(thumb.astype(np.float64), norm="ortho")[:8, :8].ravel()[1:]
    return d > np.median(d)


def near_duplicate_pairs(thumbs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash distance, mirrored hash distance, pixel correlation) matrices of 32x32 thumbnails ``(N, 32, 32)``."""
    h = np.stack([phash(t) for t in thumbs])
    hm = np.stack([phash(t[:, ::-1]) for t in thumbs])
    dist = (h[:, None, :] != h[None]).sum(-1)
    dist_m = (h[:, None, :] != hm[None]).sum(-1)
    z = thumbs.reshape(len(thumbs), -1).astype(np.float64)
    z = z - z.mean(1, keepdims=True)
    z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    return dist, dist_m, z @ z.T


def make_split(root: Path) -> tuple[list[dict[str, str]], dict[str, np.ndarray], int]:
    """The fixed split (module docstring): one row per file (:data:`SPLIT_FIELDS`), the 64x64 images of the
    representatives by relative file name, and the number of near-duplicate pairs among the representatives."""
    files = image_files(root)
    rows: list[dict[str, str]] = []
    first_of: dict[str, str] = {}
    for p in files:
        rel = p.relative_to(root).as_posix()
        digest = sha256_bytes(p.read_bytes())
        row = {"file": rel, "sha256": digest, "class": rel.split("/")[0], "part": "", "group": "", "note": ""}
        if digest in first_of:
            row.update(part="duplicate", note=f"byte-identical to {first_of[digest]}")
        else:
            first_of[digest] = rel
        rows.append(row)
    reps = [r for r in rows if r["part"] != "duplicate"]
    for c in CLASSES:
        rc = sorted((r for r in reps if r["class"] == c),
                    key=lambda r: sha256_bytes(f"{SPLIT_SALT}:{r['file']}".encode()))
        n_train = int(round(TRAIN_FRACTION * len(rc)))
        for k, r in enumerate(rc):
            r["part"] = "train" if k < n_train else "heldout"
    raw = {r["file"]: read_image(root / r["file"]) for r in reps}
    images = {f: resize_image(a, SIZE) for f, a in raw.items()}
    thumbs = np.stack([resize_image(raw[r["file"]], 32) for r in reps])
    dist, dist_m, corr = near_duplicate_pairs(thumbs)
    near = (np.minimum(dist, dist_m) <= PHASH_MAX) | (corr >= CORR_MIN)
    np.fill_diagonal(near, False)
    part = np.array([r["part"] for r in reps])
    for i, r in enumerate(reps):
        if part[i] != "heldout":
            continue
        hits = [j for j in np.flatnonzero(near[i]) if part[j] == "train"]
        if hits:
            j = min(hits, key=lambda j: (min(dist[i, j], dist_m[i, j]), -corr[i, j]))
            r["part"] = "heldout-dropped"
            r["note"] = (f"near-duplicate of train {reps[j]['file']} (hash distance {min(dist[i, j], dist_m[i, j])}"
                         f"{' mirrored' if dist_m[i, j] < dist[i, j] else ''}, correlation {corr[i, j]:.3f})")
    # groups: connected components of near-duplicates among the kept representatives of one side
    kept = [i for i, r in enumerate(reps) if r["part"] in ("train", "heldout")]
    kp = np.array([reps[i]["part"] for i in kept])
    # pairs (i < j) as the shipped split was built: the mirrored-hash test is not symmetric, so near[i, j] with
    # i < j decides each pair
    adj = np.triu(near[np.ix_(kept, kept)] & (kp[:, None] == kp[None, :]), 1)
    _, comp = connected_components(csr_matrix(adj), directed=False)
    members: dict[int, list[int]] = defaultdict(list)
    for i, c in zip(kept, comp):
        members[int(c)].append(i)
    for ms in members.values():
        gid = "g:" + min(reps[i]["file"] for i in ms)
        for i in ms:
            reps[i]["group"] = gid
            if len(ms) > 1:
                reps[i]["note"] = f"near-duplicate group of {len(ms)}"
    by_digest = {r["sha256"]: r for r in reps}
    for r in rows:
        if r["part"] == "duplicate":
            r["group"] = by_digest[r["sha256"]]["group"]
    return rows, images, int(np.triu(near, 1).sum())


def write_split(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(SPLIT_FIELDS), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
