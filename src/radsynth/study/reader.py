"""Reader study logic: cases, blinded randomised order, ratings -> AUC with CI, time per case, CSV.

A study draws up to ``n_cases`` images, half from a real set and half from a synthetic set
(fewer where a set is smaller: both halves stay equal), each under a random case id that says nothing about its origin.
Each reader gets their own random order of all cases (seeded by the study seed and the reader's
name, so a reader who reloads the page sees the same sequence) and rates every image on a 5-point
scale: 1 = certainly real, 2 = probably real, 3 = unsure, 4 = probably synthetic, 5 = certainly synthetic.

Scores: the rating is the reader's score for "synthetic"; AUC (:func:`radsynth.metrics.roc.roc_auc`,
ties count one half) of rating against the hidden truth (synthetic = positive), with a stratified
bootstrap CI (:func:`radsynth.metrics.roc.bootstrap_auc_ci`). AUC 0.5: readers cannot tell; 1.0:
they always can. The pooled AUC treats every (reader, case) rating as one observation; its CI
resamples readers' ratings the same way (a simple pooled bootstrap, not a multi-reader
multi-case variance model such as Obuchowski-Rockette).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from radsynth.core.errors import RadsynthInputError

SCALE: tuple[tuple[int, str], ...] = (
    (1, "certainly real"), (2, "probably real"), (3, "unsure"), (4, "probably synthetic"), (5, "certainly synthetic"))
TRUTHS = ("real", "synthetic")
CSV_COLUMNS = ("study", "reader", "position", "case", "truth", "rating", "seconds", "image")


@dataclass(frozen=True)
class Case:
    case_id: str  # random, opaque
    source: str  # "real" or "synthetic" (hidden from readers)
    path: str  # image path relative to the data root (hidden from readers)


def draw_cases(real: Sequence[str], synthetic: Sequence[str], n_cases: int, seed: int) -> list[Case]:
    """Up to ``n_cases`` cases, as many real as synthetic (50 % prevalence; the smaller set caps both halves)."""
    if n_cases < 2:
        raise RadsynthInputError("n_cases", n_cases, "an integer >= 2")
    if not real:
        raise RadsynthInputError("real", "no images", "a set with at least one image")
    if not synthetic:
        raise RadsynthInputError("synthetic", "no images", "a set with at least one image")
    rng = np.random.default_rng(seed)
    n_real = n_syn = min(len(real), len(synthetic), n_cases // 2)
    pick_r = sorted(rng.choice(len(real), n_real, replace=False).tolist())
    pick_s = sorted(rng.choice(len(synthetic), n_syn, replace=False).tolist())
    # opaque ids from the same seeded generator: the study is reproducible from (sets, n_cases, seed), and an id
    # says nothing about its case's source to a reader who does not know the seed and the draw
    ids: list[str] = []
    while len(ids) < n_real + n_syn:
        x = f"{int(rng.integers(0, 2**63)):016x}"
        if x not in ids:
            ids.append(x)
    cases = [Case(ids[k], "real", real[i]) for k, i in enumerate(pick_r)]
    cases += [Case(ids[n_real + k], "synthetic", synthetic[i]) for k, i in enumerate(pick_s)]
    return sorted(cases, key=lambda c: c.case_id)


def reader_order(case_ids: Iterable[str], seed: int, reader: str) -> list[str]:
    """The reader's own random order of the cases (same reader, same study -> same order)."""
    ids = sorted(case_ids)
    digest = hashlib.sha256(f"{seed}\x00{reader}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    return [ids[i] for i in rng.permutation(len(ids))]


def check_rating(rating: Any) -> int:
    text = str(rating).strip() if not isinstance(rating, bool) else ""
    if text not in {str(k) for k, _ in SCALE}:
        raise RadsynthInputError("rating", rating, "an integer 1..5 (1 certainly real ... 5 certainly synthetic)")
    return int(text)


def _auc_block(ratings: list[int], truth: list[bool], seed: int, n_boot: int) -> dict[str, Any]:
    from radsynth.metrics.roc import bootstrap_auc_ci, roc_auc

    y = np.asarray(truth, dtype=bool)
    if y.size == 0 or y.all() or not y.any():
        return {"n": int(y.size), "auc": None, "ci": None,
                "note": "needs ratings of both real and synthetic cases"}
    s = np.asarray(ratings, dtype=np.float64)
    lo, hi = bootstrap_auc_ci(s, y, np.random.default_rng(seed), n_boot=n_boot)
    return {"n": int(y.size), "auc": roc_auc(s, y), "ci": [lo, hi], "note": ""}


def summarise(ratings: Sequence[dict[str, Any]], *, seed: int = 0, n_boot: int = 1000) -> dict[str, Any]:
    """Per-reader and pooled AUC (95% bootstrap CI) and time per case.

    ``ratings``: dicts with ``reader``, ``truth`` ("real"/"synthetic"), ``rating`` (1..5), ``seconds``.
    """
    by_reader: dict[str, list[dict[str, Any]]] = {}
    for r in ratings:
        by_reader.setdefault(str(r["reader"]), []).append(r)
    readers = []
    for name in sorted(by_reader):
        rs = by_reader[name]
        secs = np.asarray([float(r["seconds"]) for r in rs if r.get("seconds") is not None])
        block = _auc_block([int(r["rating"]) for r in rs], [r["truth"] == "synthetic" for r in rs], seed, n_boot)
        block.update(reader=name, seconds_median=float(np.median(secs)) if secs.size else None,
                     seconds_mean=float(secs.mean()) if secs.size else None)
        readers.append(block)
    pooled = _auc_block([int(r["rating"]) for r in ratings], [r["truth"] == "synthetic" for r in ratings], seed, n_boot)
    secs = np.asarray([float(r["seconds"]) for r in ratings if r.get("seconds") is not None])
    pooled.update(reader="pooled", seconds_median=float(np.median(secs)) if secs.size else None,
                  seconds_mean=float(secs.mean()) if secs.size else None)
    return {"readers": readers, "pooled": pooled, "scale": [list(s) for s in SCALE],
            "method": "AUC of rating (5 = certainly synthetic) vs truth (synthetic = positive), ties 1/2; "
                      f"95% stratified percentile bootstrap CI ({n_boot} resamples)"}


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """CSV of ratings (columns :data:`CSV_COLUMNS`), one line per (reader, case)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()
