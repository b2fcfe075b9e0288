"""Anatomy plausibility: structure volumes, centroids and left/right relations vs real ranges.

Every generator's subject (MRI brain, CT head, chest CT, radiograph) is a deformed real
anatomy; a deformation gone wrong (3x scale, a mirrored heart, a left/right flip) must be
caught. :func:`check_plausibility` measures each structure of a label map and compares it
with a *reference*: ranges computed from the real anatomy the generator draws from
(:func:`build_reference`, run by ``scripts/ship_ct_anatomy.py``; shipped as JSON in
``radsynth/data/plausibility``, loaded by :func:`load_reference`).

Measured per structure (label id -> name through ``label_names``):

* ``volume_ml``: voxel count x voxel volume;
* ``centroid_mm``: centroid (RAS world mm) minus the subject's *centre* (centroid of the
  reference's centre structures, or of every labelled voxel), so a global translation does
  not count;
* ``left_of``: RAS +x is the patient's right, so a left-sided structure's centroid x should
  be below its right-sided twin's (``lung_upper_lobe_left`` vs ``lung_upper_lobe_right``,
  ``left cerebral cortex`` vs ``right cerebral cortex``...); "midline" stands for the x
  of the midline structures (the vertebrae in the chest): heart left of it, liver right;
* ``missing``: a structure present in every reference anatomy is absent.

Structures that touch the edge of the checked grid (cut by the field of view after a
shift or rotation) are not checked for volume, centroid or relations: their measures
reflect positioning, not anatomy.

Reference ranges (:func:`build_reference`), from N real anatomies (after the same centre
alignment):

* volume: [min x volume_factor[0], max x volume_factor[1]] over the N (per-structure
  overrides, e.g. ventricles, which age-related atrophy may enlarge ~3x);
* centroid offset per axis: [min - tol, max + tol] with tol = centroid_tol_mm +
  centroid_tol_frac x |offset| (larger for structures far from the centre, which a given
  scale moves more);
* relations: kept only where they hold in every reference anatomy by > 2 mm, in the
  direction the reference shows (``anatomical: false`` would mark a reference whose "left"
  structures lie at +x, i.e. mirrored labels or header; a flip relative to the reference is
  still caught);
* structures touching the grid boundary in any reference anatomy (cut by the field of
  view: their volume depends on positioning) or smaller than ``min_volume_ml`` are not
  checked.

A flag is ``{"structure", "check", "value", "allowed"}``; an empty list means plausible.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from radsynth.core.errors import RadsynthInputError

REFERENCE_NAMES = ("chest", "brain")
MIDLINE = "midline"
#: Minimal margin (mm) by which a relation must hold in the reference to be kept.
RELATION_MARGIN_MM = 2.0


def reference_dir() -> Path:
    return Path(str(resources.files("radsynth").joinpath("data", "plausibility")))


def load_reference(name: str) -> dict[str, Any]:
    """A shipped reference ('chest' or 'brain') as a dict (see module docstring)."""
    if name not in REFERENCE_NAMES:
        raise RadsynthInputError("plausibility_reference", name, f"one of {list(REFERENCE_NAMES)}")
    with open(reference_dir() / f"{name}.json") as fh:
        return json.load(fh)


def measure_structures(labels: np.ndarray, affine: np.ndarray) -> dict[int, dict[str, Any]]:
    """{label id: {"voxels", "volume_ml", "centroid_mm" (RAS world), "touches_boundary"}} for ids > 0.

    Centroids from per-slab label counts (one bincount per slab and axis: exact integer
    sums, no large index arrays).
    """
    lab = np.asarray(labels)
    if lab.ndim != 3:
        raise RadsynthInputError("labels", f"array of shape {lab.shape}", "a 3D label map")
    lab = lab.astype(np.int64, copy=False)
    if lab.size and int(lab.min()) < 0:
        raise RadsynthInputError("labels", int(lab.min()), "non-negative label ids")
    n = int(lab.max()) + 1 if lab.size else 1
    aff = np.asarray(affine, dtype=np.float64)
    counts = np.bincount(lab.ravel(), minlength=n).astype(np.float64)
    sums = np.zeros((3, n), dtype=np.float64)
    edge = np.zeros(n, dtype=bool)
    for ax in range(3):
        moved = np.moveaxis(lab, ax, 0)
        for i in range(moved.shape[0]):
            c = np.bincount(moved[i].ravel(), minlength=n)
            sums[ax] += i * c
            if i == 0 or i == moved.shape[0] - 1:
                edge |= c > 0
    voxel_ml = abs(float(np.linalg.det(aff[:3, :3]))) / 1000.0
    out: dict[int, dict[str, Any]] = {}
    for k in np.nonzero(counts)[0]:
        if k == 0:
            continue
        idx = sums[:, k] / counts[k]
        world = aff[:3, :3] @ idx + aff[:3, 3]
        out[int(k)] = {"voxels": int(counts[k]), "volume_ml": float(counts[k] * voxel_ml),
                       "centroid_mm": [float(v) for v in world], "touches_boundary": bool(edge[k])}
    return out


def _by_name(measures: Mapping[int, dict], label_names: Mapping[int, str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for k, m in measures.items():
        name = label_names.get(k, label_names.get(str(k)))  # type: ignore[arg-type]
        if name is not None:
            out[str(name)] = m
    return out


def _group_centroid(named: Mapping[str, dict], names: Iterable[str] | None) -> np.ndarray | None:
    items = list(named.values()) if names is None else [named[n] for n in names if n in named]
    w = sum(m["voxels"] for m in items)
    if w == 0:
        return None
    return sum(np.asarray(m["centroid_mm"]) * m["voxels"] for m in items) / w


def _centres(named: Mapping[str, dict], reference: Mapping[str, Any]) -> tuple[np.ndarray | None, float | None]:
    centre = _group_centroid(named, reference.get("centre_structures"))
    mid = _group_centroid(named, reference.get("midline_structures"))
    return centre, (None if mid is None else float(mid[0]))


def _x_of(name: str, named: Mapping[str, dict], midline_x: float | None) -> float | None:
    if name == MIDLINE:
        return midline_x
    m = named.get(name)
    return None if m is None or m["touches_boundary"] else float(m["centroid_mm"][0])


def check_plausibility(labels: np.ndarray, affine: np.ndarray, label_names: Mapping[int, str],
                       reference: Mapping[str, Any] | str) -> list[dict[str, Any]]:
    """Flags of a label map against a reference (dict or shipped name); [] = plausible."""
    ref = load_reference(reference) if isinstance(reference, str) else reference
    named = _by_name(measure_structures(labels, affine), label_names)
    centre, midline_x = _centres(named, ref)
    flags: list[dict[str, Any]] = []
    if centre is None:
        return [{"structure": "*", "check": "missing", "value": "no labelled voxels",
                 "allowed": "a label map with the reference's structures"}]
    for name, r in ref["structures"].items():
        m = named.get(name)
        if m is None:
            if r.get("required", False):
                flags.append({"structure": name, "check": "missing", "value": 0.0, "allowed": r["volume_ml"]})
            continue
        if m["touches_boundary"]:
            continue  # cut by the grid's edge (positioning), not an anatomical change: not checked
        lo, hi = r["volume_ml"]
        if not (lo <= m["volume_ml"] <= hi):
            flags.append({"structure": name, "check": "volume_ml", "value": round(m["volume_ml"], 3),
                          "allowed": [lo, hi]})
        off = np.asarray(m["centroid_mm"]) - centre
        olo, ohi = np.asarray(r["offset_mm_lo"]), np.asarray(r["offset_mm_hi"])
        if np.any(off < olo) or np.any(off > ohi):
            flags.append({"structure": name, "check": "centroid_mm", "value": [round(float(v), 2) for v in off],
                          "allowed": [olo.tolist(), ohi.tolist()]})
    for rel in ref.get("relations", []):
        a, b = rel["plus_x"], rel["minus_x"]
        xa, xb = _x_of(a, named, midline_x), _x_of(b, named, midline_x)
        if xa is None or xb is None:
            continue
        if not xa > xb:
            flags.append({"structure": b if b != MIDLINE else a, "check": "left_of",
                          "value": f"x({a})={xa:.1f} mm, x({b})={xb:.1f} mm",
                          "allowed": f"x({a}) > x({b}) as in the reference (RAS: +x = patient's right)"})
    return flags


# --------------------------------------------------------------------------- building
def _twin(name: str) -> str | None:
    """Name of the right-sided twin of a left-sided structure, or None."""
    for left, right in (("_left", "_right"), ("left ", "right ")):
        if left in name:
            return name.replace(left, right, 1)
    return None


def build_reference(samples: list[tuple[np.ndarray, np.ndarray, Mapping[int, str]]], name: str, *,
                    volume_factor: tuple[float, float], centroid_tol_mm: float, centroid_tol_frac: float,
                    min_volume_ml: float = 1.0, volume_factor_overrides: Mapping[str, tuple[float, float]] | None = None,
                    centre_structures: list[str] | None = None, midline_structures: list[str] | None = None,
                    extra_relations: Iterable[tuple[str, str]] = (), exclude_boundary: bool = True,
                    source: str = "") -> dict[str, Any]:
    """Reference ranges from real anatomies ``samples`` = [(labels, affine, label_names)]."""
    if not samples:
        raise RadsynthInputError("samples", 0, "at least one real anatomy")
    overrides = dict(volume_factor_overrides or {})
    per: list[dict[str, dict]] = []
    centres, mids = [], []
    stub = {"centre_structures": centre_structures, "midline_structures": midline_structures}
    for labels, affine, names in samples:
        named = _by_name(measure_structures(labels, affine), names)
        c, mx = _centres(named, stub)
        per.append(named)
        centres.append(c)
        mids.append(mx)
    all_names = sorted(set().union(*[set(p) for p in per]))
    structures: dict[str, Any] = {}
    for s in all_names:
        ms = [p[s] for p in per if s in p]
        if exclude_boundary and any(m["touches_boundary"] for m in ms):
            continue
        vols = [m["volume_ml"] for m in ms]
        if min(vols) < min_volume_ml:
            continue
        offs = np.array([np.asarray(p[s]["centroid_mm"]) - c for p, c in zip(per, centres) if s in p])
        tol = centroid_tol_mm + centroid_tol_frac * np.abs(offs).max(axis=0)
        flo, fhi = overrides.get(s, volume_factor)
        structures[s] = {
            "volume_ml": [round(min(vols) * flo, 3), round(max(vols) * fhi, 3)],
            "offset_mm_lo": [round(float(v), 2) for v in offs.min(axis=0) - tol],
            "offset_mm_hi": [round(float(v), 2) for v in offs.max(axis=0) + tol],
            "required": len(ms) == len(per),
            "reference_volume_ml": [round(min(vols), 3), round(max(vols), 3)],
        }
    relations = []
    candidates = [(s, _twin(s)) for s in structures if _twin(s) in structures] + list(extra_relations)
    for a, b in candidates:
        diffs = []
        for p, mx in zip(per, mids):
            xa, xb = _x_of(a, p, mx), _x_of(b, p, mx)
            diffs.append(np.nan if xa is None or xb is None else xa - xb)
        d = np.asarray(diffs)
        # a is the left-sided structure (or "heart" vs "midline", "midline" vs "liver"): in RAS it
        # lies at lower x than b
        if np.all(d < -RELATION_MARGIN_MM):
            relations.append({"plus_x": b, "minus_x": a, "anatomical": True})
        elif np.all(d > RELATION_MARGIN_MM):
            # the reference itself has the "left" structure at +x (mirrored header or labels):
            # keep the reference's direction so that a flip relative to it is still caught
            relations.append({"plus_x": a, "minus_x": b, "anatomical": False})
    return {
        "name": name,
        "source": source,
        "n_anatomies": len(samples),
        "method": {
            "volume_factor": list(volume_factor), "volume_factor_overrides": {k: list(v) for k, v in overrides.items()},
            "centroid_tol_mm": centroid_tol_mm, "centroid_tol_frac": centroid_tol_frac,
            "min_volume_ml": min_volume_ml, "exclude_boundary": exclude_boundary,
            "relation_margin_mm": RELATION_MARGIN_MM,
        },
        "centre_structures": centre_structures,
        "midline_structures": midline_structures,
        "structures": structures,
        "relations": relations,
    }
