"""Acceptance benchmark of the invisible watermark (``radsynth.provenance.watermark``, scheme radsynth-tss-v1).

What it measures, per image family and overall:

1. **Image set** (``--n-images``, default 500, seeded): real chest X-rays (``cxr-pneumonia`` train + test,
   224 px grey uint8), real brain MRI slices (``brain-mri-real``, grey uint8; images whose smaller side is
   < 192 px are skipped), real chest CT axial slices in HU (float32, ``chest-ct/cxr.nii.gz``; the 3 mm
   ``ct-samples/example_ct.nii.gz`` is too small in-plane and is only used for false positives), and
   synthetic images from the shipped physics generators: 16-bit PNG radiographs, CT axial slices (float32
   HU) and MRI axial slices (float32) from small cohorts built once with ``radsynth cohort build``
   (``examples/*.yaml`` with ``outputs.watermark: false``) into ``--synthetic-dir``. Every image is marked
   in its native dtype with a random 64-bit payload.
2. **Robustness** of each marked image to: none, JPEG q75, resize x0.5 and back, crop to 80 % per side
   (seeded position, kept at the cropped size), Gaussian noise (sigma 2 % of the range), a window/level
   change (p5-p95 stretched to the full output range; HU slices holding tissue: W400/L40 rendered to
   8-bit) and 16 -> 8-bit conversion (8-bit sources: scaled x257 to uint16, re-marked in uint16, then
   converted). Two readings: identification against 1,000 candidate payloads holding the true one, and
   blind decoding. Rates with Wilson 95 % CIs, median / min detection score.
3. **False positives**: ``--n-fp`` unmarked real images (CXR train + test, brain MRI, CT slices) through
   identification (1,000 fresh random candidates) and blind detection at the default threshold 1e-6.
4. **Imperceptibility**: PSNR (``psnr_db``, peak = the unmarked image's range) and SSIM (data range = the
   unmarked image's range) of marked vs unmarked.
5. **Classifier AUC**: the shipped ``cxr-classifier-64`` on the 624 ``cxr-pneumonia/test`` images, unmarked
   vs marked (marked at native 224 px, grey uint8), with a paired patient-level bootstrap CI of the change.

Identification speed: ``detect_watermark(image, payload=<1,000 ids>)`` rebuilds 1,000 candidate tiles on
every call (~1 s), too slow for 8,500 calls. :class:`Identifier` therefore uses the identity that a
candidate's correlation surface is the linear combination (its tile's pattern weights) of the K + 1 pattern
surfaces of the same fold, with the module's own fold and its standardisation / p-value rules (mirrored
from ``wm._detect_known``). ``--api-check`` marked images (x7 attacks) and twice as many FP images also go
through ``detect_watermark(..., payload=candidates)``; any disagreement is printed (if the module's rules
change, update :class:`Identifier` or run with ``--api``, which calls ``detect_watermark`` for every call:
exact, ~10x slower). Blind detection always calls ``detect_watermark``.

Run (2 cores shared: keep it nice; RADSYNTH_CONFIG_DIR keeps the cohort builds' signing key out of ~):

    RADSYNTH_CONFIG_DIR=$(mktemp -d) nice .venv/bin/python bench/bench_watermark.py [--quick]
        [--n-images 500] [--n-fp 5000] [--seed 0] [--threads 1] [--synthetic-dir DIR] [--out FILE.json]

``--threads N`` runs the per-image stages in N worker processes (and N torch threads for the classifier).
The synthetic cohorts are built once per ``--synthetic-dir`` (default: a fixed folder in the temp dir) and
reused. The JSON of every number (per-image rows included) goes to ``--out`` (default: a new temp folder).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # parallelism is per process (--threads); no BLAS oversubscription
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from radsynth.provenance import watermark as wm  # noqa: E402
from radsynth.provenance import watermark_code as wm_code  # noqa: E402
from radsynth.provenance import watermark_signal as wm_signal  # noqa: E402

# the code this run measures
MODULE_SHA256 = hashlib.sha256(b"".join(Path(m.__file__).read_bytes() for m in (wm, wm_code, wm_signal))).hexdigest()

FAMILIES = ("cxr-real", "mri-real", "ct-real", "xr-synth", "ct-synth", "mri-synth")
SHARE = {"cxr-real": 0.50, "mri-real": 0.10, "ct-real": 0.10, "xr-synth": 0.06, "ct-synth": 0.12, "mri-synth": 0.12}
EIGHT_BIT = {"cxr-real", "mri-real"}
HU = {"ct-real", "ct-synth"}
ATTACKS = ("none", "jpeg75", "resize0.5", "crop80", "noise2%", "window", "16to8")
MIN_SIDE = 192  # real brain MRI below this smaller side are skipped (wm.VERIFIABLE_SIDE_2D)
# the images a mark is required to verify in (wm.verifiable: smaller side >= 192 px; the simulated brain MRI
# slices, 208 x 176, are marked and counted in "all" but are below it), reported as their own column
VERIFIABLE = "all>=192px"
N_CANDIDATES = 1000
COHORTS = {"xr": "chest-xray", "ct": "chest-ct", "mri": "brain-mri"}


# ----------------------------------------------------------------------------- data


def shared_data() -> Path:
    env = os.environ.get("RADSYNTH_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data"]:
        if (cand / "cxr-pneumonia" / "test").is_dir():
            return cand
    sys.exit("bench_watermark: no shared data (set RADSYNTH_SHARED_DATA to the folder holding cxr-pneumonia/)")


@dataclass(frozen=True)
class Item:
    """One image: ``kind`` png8 / png16 / nifti (``path`` and axial display slice ``z``)."""

    family: str
    kind: str
    path: str
    z: int = -1

    @property
    def name(self) -> str:
        return f"{Path(self.path).name}" + (f"[z={self.z}]" if self.z >= 0 else "")


@lru_cache(maxsize=4)
def _volume(path: str) -> np.ndarray:
    import nibabel as nib

    from radsynth.io.png import axial_display_stack

    v = np.asarray(nib.load(path).dataobj, dtype=np.float32)
    return np.ascontiguousarray(axial_display_stack(v))


def load(item: Item) -> np.ndarray:
    """The image in its native dtype: grey uint8, uint16 (16-bit PNG) or float32 (NIfTI slice)."""
    from PIL import Image

    if item.kind == "nifti":
        return _volume(item.path)[item.z].copy()
    with Image.open(item.path) as im:
        if item.kind == "png16":
            return np.array(im, dtype=np.uint16)
        return np.array(im.convert("L"), dtype=np.uint8)


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p.is_file())


def nifti_slices(path: Path, family: str, keep) -> list[Item]:
    vol = _volume(str(path))
    return [Item(family, "nifti", str(path), z) for z in range(vol.shape[0]) if keep(vol[z])]


def holds_tissue(x: np.ndarray) -> bool:
    return float(np.mean((x > -160) & (x < 240))) >= 0.05


def holds_brain(x: np.ndarray) -> bool:
    return float(np.mean(x > 0.05 * max(float(x.max()), 1e-6))) >= 0.2


def random_payloads(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` random 64-bit payloads, 16 hex digits each."""
    return [f"{int(v):016x}" for v in rng.integers(0, 2**64, n, dtype=np.uint64)]


def pick(rng: np.random.Generator, items: list, n: int) -> list:
    idx = rng.choice(len(items), size=min(n, len(items)), replace=False)
    return [items[i] for i in sorted(idx)]


def build_cohorts(synth_dir: Path, sizes: dict[str, int], log: list[str]) -> dict[str, Path]:
    """Small cohorts of the shipped examples, unwatermarked, built once into ``synth_dir`` (reused while the example
    spec is unchanged: the folder name carries a hash of its text)."""
    import yaml

    exe = Path(sys.executable).with_name("radsynth")
    env = dict(os.environ)
    env.setdefault("RADSYNTH_CONFIG_DIR", tempfile.mkdtemp(prefix="bench-wm-config-"))
    out = {}
    for key, example in COHORTS.items():
        text = (REPO / "examples" / f"{example}.yaml").read_text()
        # the cache is keyed by the example's text too: a changed shipped spec is rebuilt, never measured stale
        dest = synth_dir / f"{example}-n{sizes[key]}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"
        out[key] = dest
        if (dest / "manifest.parquet").is_file():
            log.append(f"{example}: cached {dest}")
            continue
        spec = yaml.safe_load(text)
        spec["n_subjects"] = sizes[key]
        spec["outputs"] = {"formats": ["nifti", "png"], "watermark": False}
        synth_dir.mkdir(parents=True, exist_ok=True)
        spec_path = dest.with_suffix(".yaml")
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        t = time.perf_counter()
        cmd = [str(exe) if exe.exists() else "radsynth", "cohort", "build", str(spec_path), "--out", str(dest),
               "--workers", "1"] + (["--resume"] if dest.exists() else [])
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"bench_watermark: cohort build failed ({' '.join(cmd)}):\n{r.stderr[-2000:]}")
        log.append(f"{example}: built {sizes[key]} subjects in {time.perf_counter() - t:.0f} s -> {dest}")
    return out


def select_images(data: Path, cohorts: dict[str, Path], n: int, rng: np.random.Generator) -> tuple[list[Item], dict]:
    counts = {f: max(1, round(SHARE[f] * n)) for f in FAMILIES}
    cxr = [Item("cxr-real", "png8", str(p)) for s in ("train", "test") for p in image_files(data / "cxr-pneumonia" / s)]
    mri_all = image_files(data / "brain-mri-real")
    mri_ok, skipped = [], []
    from PIL import Image

    for p in mri_all:
        with Image.open(p) as im:
            (mri_ok if min(im.size) >= MIN_SIDE else skipped).append(p)
    mri = [Item("mri-real", "png8", str(p)) for p in mri_ok]
    ct = nifti_slices(data / "chest-ct" / "cxr.nii.gz", "ct-real", holds_tissue)
    small_ct = data / "ct-samples" / "example_ct.nii.gz"
    small_shape = _volume(str(small_ct)).shape if small_ct.is_file() else None
    xr = [Item("xr-synth", "png16", str(p)) for p in sorted(cohorts["xr"].glob("subjects/*/png/*_PA.png"))]
    cts = [it for p in sorted(cohorts["ct"].glob("subjects/*/anat/*_CT*.nii.gz"))
           for it in nifti_slices(p, "ct-synth", holds_tissue)]
    mris = [it for p in sorted(cohorts["mri"].glob("subjects/*/anat/*.nii.gz"))
            for it in nifti_slices(p, "mri-synth", holds_brain)]
    pools = {"cxr-real": cxr, "mri-real": mri, "ct-real": ct, "xr-synth": xr, "ct-synth": cts, "mri-synth": mris}
    chosen = [it for f in FAMILIES for it in pick(rng, pools[f], counts[f])]
    info = {
        "asked": counts, "pool": {f: len(v) for f, v in pools.items()},
        "mri_real_skipped_small": len(skipped), "mri_real_total": len(mri_all),
        "example_ct_slice_shape": list(small_shape[1:]) if small_shape else None,
        "example_ct_used_for_marking": bool(small_shape and min(small_shape[1:]) >= MIN_SIDE),
    }
    return chosen, info


def select_fp(data: Path, n: int, rng: np.random.Generator) -> list[Item]:
    cxr = [Item("cxr-real", "png8", str(p)) for s in ("train", "test") for p in image_files(data / "cxr-pneumonia" / s)]
    other = [Item("mri-real", "png8", str(p)) for p in image_files(data / "brain-mri-real")]
    other += nifti_slices(data / "chest-ct" / "cxr.nii.gz", "ct-real", lambda x: True)
    if (data / "ct-samples" / "example_ct.nii.gz").is_file():
        other += nifti_slices(data / "ct-samples" / "example_ct.nii.gz", "ct-real-3mm", lambda x: True)
    rest = pick(rng, other, max(1, n // 5))
    return rest + pick(rng, cxr, n - len(rest))


# ----------------------------------------------------------------------------- attacks


def span(x: np.ndarray) -> float:
    return float(np.max(x)) - float(np.min(x))


def to_dtype(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(x), info.min, info.max).astype(dtype)
    return x.astype(dtype)


def to_u8_minmax(x: np.ndarray) -> np.ndarray:
    a = x.astype(np.float64)
    lo, s = float(a.min()), span(a)
    return np.zeros(a.shape, np.uint8) if s <= 0 else np.rint((a - lo) / s * 255.0).astype(np.uint8)


def jpeg(x: np.ndarray, quality: int = 75) -> np.ndarray:
    from PIL import Image

    u8 = x if x.dtype == np.uint8 else to_u8_minmax(x)
    buf = io.BytesIO()
    Image.fromarray(u8, "L").save(buf, "JPEG", quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.array(im.convert("L"), dtype=np.uint8)


def resize_back(x: np.ndarray) -> np.ndarray:
    from skimage.transform import resize

    h, w = x.shape
    small = resize(x.astype(np.float64), (max(1, round(h / 2)), max(1, round(w / 2))), order=1,
                   anti_aliasing=True, preserve_range=True)
    return to_dtype(resize(small, (h, w), order=1, anti_aliasing=False, preserve_range=True), x.dtype)


def crop(x: np.ndarray, rng: np.random.Generator, frac: float = 0.8) -> np.ndarray:
    h, w = x.shape
    ch, cw = round(frac * h), round(frac * w)
    top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return x[top: top + ch, left: left + cw].copy()


def noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return to_dtype(x.astype(np.float64) + rng.normal(0.0, sigma, x.shape), x.dtype)


def window(x: np.ndarray, family: str) -> tuple[np.ndarray, str]:
    """A new display window: HU slices holding tissue -> W400/L40 in 8-bit; else p5-p95 stretched to the
    output range (integer images keep their dtype, float images are rendered to 8-bit)."""
    a = x.astype(np.float64)
    if family in HU and holds_tissue(a):
        lo, hi, how = -160.0, 240.0, "W400/L40"
    else:
        lo, hi = (float(v) for v in np.percentile(a, [5, 95]))
        how = "p5-p95"
    y = np.clip((a - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    if np.issubdtype(x.dtype, np.integer) and family not in HU:
        return to_dtype(y * np.iinfo(x.dtype).max, x.dtype), how
    return to_dtype(y * 255.0, np.uint8), how


# ----------------------------------------------------------------------------- identification


class Identifier:
    """``detect_watermark(image, payload=candidates)`` computed from the K + 1 pattern surfaces.

    A candidate's whole tile is ``sum_k beta_k pattern_k`` (``watermark_code.targets``, pilot included), so its
    correlation surface with the fold is ``sum_k beta_k surface_k``: one (n, K+1) @ (K+1, tile^2) product instead
    of n tile builds and FFTs. Standardisation (median / MAD over the shifts), argmax, the Bonferroni p-value, the
    identification guard and the blind-decoding check are the module's (``wm._surfaces`` / ``wm._detect_known`` /
    ``wm._identify``)."""

    def __init__(self, decoys: list[str], threshold: float, key: bytes | None = None,
                 config: wm.WatermarkConfig | None = None) -> None:
        self.cfg = config or wm.WatermarkConfig()
        self.key = key or wm.DEFAULT_KEY
        self.threshold = threshold
        self.fpats = np.fft.fft2(wm_code.patterns(self.key, self.cfg))
        self.decoys = [wm.payload_from_id(p) for p in decoys]
        self.rows = np.stack([self.row(p) for p in self.decoys])
        self.random_words = wm_code.decoy_targets(self.key, self.cfg)

    def row(self, payload: str) -> np.ndarray:
        return wm_code.targets(wm_code.bits_of(payload, self.key, self.cfg), self.cfg)

    def candidates(self, true: str | None, rng: np.random.Generator) -> tuple[list[str], np.ndarray]:
        """The candidate list: the decoys, with ``true`` (if any) replacing one at a random position."""
        names, rows = list(self.decoys), self.rows
        if true is not None:
            pos = int(rng.integers(0, len(names)))
            names[pos] = wm.payload_from_id(true)
            rows = rows.copy()
            rows[pos] = self.row(true)
        return names, rows

    @staticmethod
    def _median_inplace(a: np.ndarray) -> np.ndarray:
        """Row medians of ``a`` (even row length: the mean of the two middle values, as np.median);
        partitions ``a`` in place."""
        m = a.shape[1] // 2
        a.partition(m, axis=1)
        return (a[:, m] + a[:, :m].max(axis=1)) / 2.0 if a.shape[1] % 2 == 0 else a[:, m].copy()

    def _row_z(self, corr: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per candidate row: the largest standardised correlation, the shift where it lies (z is
        increasing in corr within a row), z at shift 0 and z at the shifts ``cols``. Overwrites ``corr``."""
        best = corr.argmax(axis=1)
        top, at0, atc = corr[np.arange(corr.shape[0]), best], corr[:, 0].copy(), corr[:, cols].copy()
        med = self._median_inplace(corr.copy())
        corr -= med[:, None]
        np.abs(corr, out=corr)
        mad = self._median_inplace(corr) * 1.4826 + 1e-30
        return (top - med) / mad, best, (at0 - med) / mad, (atc - med[:, None]) / mad[:, None]

    def __call__(self, image: np.ndarray, names: list[str], rows: np.ndarray, blind_result: dict,
                 exact_top: int = 8) -> dict:
        """Screen all candidates in float32, redo the ``exact_top`` best (over all shifts, at shift 0 and at the
        pilot's shifts) in float64 (the module's arithmetic), then the decision of ``wm._detect_known``: presence
        by three tests, each Bonferroni-corrected and tripled, the whole tile at shift 0 (``3 n Q(z)``) and over
        all shifts (``3 n tile^2 Q(z)``), the payload part at the pilot's ``wm.SYNC_SHIFTS`` highest shifts
        (``3 n SYNC_SHIFTS Q(z)``); identity by ``wm._identify`` at the shift found (``n Q(z_id) <= wm.ID_ALPHA``)."""
        from scipy.stats import norm

        t = self.cfg.tile
        fold = wm_signal.fold(wm_signal.grey_stack(np.asarray(image)[None]), self.cfg)  # as detect_watermark
        surf = np.fft.ifft2(np.conj(wm.whitened_spectrum(fold))[None] * self.fpats).real.reshape(self.fpats.shape[0], -1)
        top_pilot = wm._pilot_shifts(fold, self.key, self.cfg)  # as wm._detect_known
        part = rows.copy()
        part[:, 0] = 0.0
        s32 = surf.astype(np.float32)
        zmax32, _, z0_32, _ = self._row_z(rows.astype(np.float32) @ s32, top_pilot)
        _, _, _, zt32 = self._row_z(part.astype(np.float32) @ s32, top_pilot)
        keep = np.union1d(np.union1d(np.argsort(zmax32)[::-1][:exact_top], np.argsort(z0_32)[::-1][:exact_top]),
                          np.argsort(zt32.max(axis=1))[::-1][:exact_top])
        zmax, shift, z0, _ = self._row_z(rows[keep] @ surf, top_pilot)
        _, _, _, zt = self._row_z(part[keep] @ surf, top_pilot)
        n = len(names)
        a = int(np.argmax(z0))
        score, at = float(z0[a]), 0
        p = 3.0 * n * float(norm.sf(z0[a]))
        j = int(np.argmax(zmax))
        p_search = 3.0 * n * t * t * float(norm.sf(zmax[j]))
        if p_search < p:
            score, at, p = float(zmax[j]), int(shift[j]), p_search
        jt = int(np.argmax(zt))
        p_pilot = 3.0 * n * len(top_pilot) * float(norm.sf(zt.ravel()[jt]))
        if p_pilot < p:
            score, at, p = float(zt.ravel()[jt]), int(top_pilot[jt % len(top_pilot)]), p_pilot
        p = min(1.0, p)
        bits = surf[1:]
        med = np.median(bits, axis=1)
        mad = np.median(np.abs(bits - med[:, None]), axis=1) * 1.4826 + 1e-30
        bit_z = (bits[:, at] - med) / mad  # as wm._standardised, at the shift found
        which, z_id = wm._identify(bit_z, part, self.random_words)
        p_identity = min(1.0, n * float(norm.sf(z_id)))
        found = p <= self.threshold and p_identity <= wm.ID_ALPHA
        out = {"found": found, "payload": names[which] if found else None, "p": p if found or p > self.threshold else 1.0,
               "score": score, "shift": [at // t, at % t], "p_identity": p_identity}
        decoded = blind_result["payload"]  # wm._detect_known: blind decoding overrules another payload
        if found and decoded is not None and decoded != out["payload"]:
            if decoded in names:
                out.update(payload=decoded, p=blind_result["p"], score=blind_result["score"],
                           shift=list(blind_result["shift"]))
            else:
                out.update(found=False, payload=None, p=1.0)
        return out


def api_identify(image: np.ndarray, names: list[str], threshold: float) -> dict:
    r = wm.detect_watermark(image, threshold=threshold, payload=names)
    return {"found": r.found, "payload": r.payload, "p": r.p_value, "score": r.score, "shift": list(r.shift),
            "p_identity": r.p_identity}


def blind(image: np.ndarray, threshold: float) -> dict:
    r = wm.detect_watermark(image, threshold=threshold)
    return {"found": r.found, "payload": r.payload, "p": r.p_value, "score": r.score, "p_sync": r.p_sync,
            "p_code": r.p_code, "bytes_corrected": r.bytes_corrected, "shift": list(r.shift)}


def compare(fast: dict, api: dict) -> dict:
    lp = lambda p: math.log10(max(p, 1e-300))  # noqa: E731
    return {"found_same": fast["found"] == api["found"], "payload_same": fast["payload"] == api["payload"],
            "shift_same": fast["shift"] == api["shift"],
            "dlog10p": abs(lp(fast["p"]) - lp(api["p"])), "dscore": abs(fast["score"] - api["score"])}


# ----------------------------------------------------------------------------- per-image work

CTX: dict = {}  # set in main before any worker starts (inherited by forked workers)


def identify(image: np.ndarray, true: str | None, rng: np.random.Generator, ident: Identifier,
             check: bool, blind_result: dict) -> tuple[dict, dict | None]:
    names, rows = ident.candidates(true, rng)
    if CTX["api"]:
        return api_identify(image, names, ident.threshold), None
    fast = ident(image, names, rows, blind_result)
    return fast, (compare(fast, api_identify(image, names, ident.threshold)) if check else None)


def marked_job(task: tuple[int, Item, str, bool]) -> dict:
    from skimage.metrics import structural_similarity

    i, item, payload, check = task
    thr, ident = CTX["threshold"], CTX["ident_marked"]
    rng = np.random.default_rng([CTX["seed"], 1, i])
    img = load(item)
    t0 = time.perf_counter()
    marked, _ = wm.embed_watermark(img, payload)
    t_embed = time.perf_counter() - t0
    s = span(img)
    ref, mk = img.astype(np.float64), marked.astype(np.float64)
    row = {"i": i, "family": item.family, "name": item.name, "shape": list(img.shape), "dtype": str(img.dtype),
           "payload": payload, "psnr_db": wm.psnr_db(img, marked),
           "ssim": float(structural_similarity(ref, mk, data_range=s)) if s > 0 else float("nan"),
           "unchanged": bool(np.array_equal(img, marked)), "embed_s": t_embed, "attacks": {}, "api_check": []}
    attacked = {"none": marked, "jpeg75": jpeg(marked), "resize0.5": resize_back(marked), "crop80": crop(marked, rng),
                "noise2%": noise(marked, 0.02 * s, rng)}
    attacked["window"], row["window"] = window(marked, item.family)
    if item.family in EIGHT_BIT:  # 8-bit source: x257 to uint16, mark there, then back to 8 bits
        m16, _ = wm.embed_watermark(img.astype(np.uint16) * 257, payload)
        row["psnr_db_uint16_x257"] = wm.psnr_db(img.astype(np.uint16) * 257, m16)
        attacked["16to8"] = to_u8_minmax(m16)
    else:
        attacked["16to8"] = to_u8_minmax(marked)
    for name in ATTACKS:
        a = attacked[name]
        bl = blind(a, thr)
        idr, cmp_ = identify(a, payload, rng, ident, check, bl)
        row["attacks"][name] = {"ident": idr, "blind": bl, "shape": list(a.shape), "dtype": str(a.dtype),
                                "ident_ok": bool(idr["found"] and idr["payload"] == payload),
                                "blind_ok": bl["payload"] == payload}
        if cmp_:
            row["api_check"].append(cmp_)
    return row


def fp_job(task: tuple[int, Item, bool]) -> dict:
    i, item, check = task
    rng = np.random.default_rng([CTX["seed"], 2, i])
    img = load(item)
    bl = blind(img, CTX["threshold"])
    idr, cmp_ = identify(img, None, rng, CTX["ident_fp"], check, bl)
    return {"i": i, "family": item.family, "name": item.name, "shape": list(img.shape), "ident": idr, "blind": bl,
            "api_check": [cmp_] if cmp_ else []}


def cpu_now() -> float:
    """CPU seconds of this process and its finished children (cohort builds, worker processes)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ru.ru_utime + ru.ru_stime


def pmap(fn, tasks: list, threads: int, label: str) -> list:
    t0, out = time.perf_counter(), []
    step = max(1, len(tasks) // 10)
    if threads > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(threads) as pool:
            it = pool.imap(fn, tasks, chunksize=4)
            for k, r in enumerate(it, 1):
                out.append(r)
                if k % step == 0:
                    print(f"  {label}: {k}/{len(tasks)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        return out
    for k, task in enumerate(tasks, 1):
        out.append(fn(task))
        if k % step == 0:
            print(f"  {label}: {k}/{len(tasks)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return out


# ----------------------------------------------------------------------------- classifier


def classifier_auc(data: Path, n_limit: int | None, n_boot: int, seed: int, threads: int) -> dict:
    import torch
    from PIL import Image

    from radsynth.generators.common.data import patient_id
    from radsynth.metrics.classifier import load_shipped
    from radsynth.metrics.roc import bootstrap_auc_ci, roc_auc

    torch.set_num_threads(threads)
    clf = load_shipped("cxr-classifier-64")
    pos = clf.class_names.index("PNEUMONIA")
    files = [(p, int(p.parent.name == "PNEUMONIA")) for p in image_files(data / "cxr-pneumonia" / "test")]
    if n_limit:
        rng = np.random.default_rng([seed, 3])
        files = [files[i] for i in sorted(rng.choice(len(files), n_limit, replace=False))]
    prng = np.random.default_rng([seed, 4])
    plain, marked = [], []
    for p, _ in files:
        with Image.open(p) as im:
            u8 = np.array(im.convert("L"), dtype=np.uint8)
        plain.append(u8)
        marked.append(wm.embed_watermark(u8, random_payloads(prng, 1)[0])[0])
    y = np.array([c for _, c in files])
    p0 = clf.predict_proba(np.stack(plain).astype(np.float32) / 255.0)[:, pos]
    p1 = clf.predict_proba(np.stack(marked).astype(np.float32) / 255.0)[:, pos]
    auc0, auc1 = roc_auc(p0, y), roc_auc(p1, y)
    ci0 = bootstrap_auc_ci(p0, y, np.random.default_rng([seed, 5]), n_boot=n_boot)
    ci1 = bootstrap_auc_ci(p1, y, np.random.default_rng([seed, 5]), n_boot=n_boot)
    # paired bootstrap over patients, stratified by class (a patient's images share one class here)
    pats = np.array([patient_id(p.name) for p, _ in files])
    groups = {c: [np.flatnonzero(pats == q) for q in np.unique(pats[y == c])] for c in (0, 1)}
    brng = np.random.default_rng([seed, 6])
    diffs = np.empty(n_boot)
    for b in range(n_boot):
        idx = np.concatenate([groups[c][j] for c in (0, 1) for j in brng.integers(0, len(groups[c]), len(groups[c]))])
        diffs[b] = roc_auc(p1[idx], y[idx]) - roc_auc(p0[idx], y[idx])
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    pred0, pred1 = clf.predict(np.stack(plain) / 255.0), clf.predict(np.stack(marked) / 255.0)
    return {"n": int(y.size), "n_pneumonia": int(y.sum()), "n_patients": int(np.unique(pats).size),
            "auc_unmarked": auc0, "auc_unmarked_ci95": list(ci0), "auc_marked": auc1, "auc_marked_ci95": list(ci1),
            "delta_auc": auc1 - auc0, "delta_auc_ci95_patient_bootstrap": [float(lo), float(hi)], "n_boot": n_boot,
            "max_abs_dp": float(np.max(np.abs(p1 - p0))), "mean_abs_dp": float(np.mean(np.abs(p1 - p0))),
            "label_flips": int(np.sum(pred0 != pred1))}


# ----------------------------------------------------------------------------- summaries and tables


def rate(k: int, n: int) -> dict:
    from radsynth.metrics.class_fidelity import wilson_interval

    lo, hi = wilson_interval(k, n) if n else (float("nan"), float("nan"))
    return {"k": k, "n": n, "rate": k / n if n else float("nan"), "ci95": [lo, hi]}


def robustness(rows: list[dict]) -> dict:
    out: dict = {}
    for fam in FAMILIES + ("all", VERIFIABLE):
        sub = [r for r in rows if fam in ("all", r["family"]) or (fam == VERIFIABLE and wm.verifiable(tuple(r["shape"])))]
        if not sub:
            continue
        out[fam] = {}
        for a in ATTACKS:
            res = [r["attacks"][a] for r in sub]
            si = np.array([x["ident"]["score"] for x in res])
            sb = np.array([x["blind"]["score"] for x in res])
            out[fam][a] = {
                "ident": rate(sum(x["ident_ok"] for x in res), len(res)) | {
                    "score_median": float(np.median(si)), "score_min": float(si.min()),
                    "wrong_payload": sum(x["ident"]["found"] and not x["ident_ok"] for x in res)},
                "blind": rate(sum(x["blind_ok"] for x in res), len(res)) | {
                    "found": sum(x["blind"]["found"] for x in res),
                    "score_median": float(np.median(sb)), "score_min": float(sb.min()),
                    "wrong_payload": sum(x["blind"]["payload"] is not None and not x["blind_ok"] for x in res)},
            }
    return out


def imperceptibility(rows: list[dict]) -> dict:
    out = {}
    for fam in FAMILIES + ("all",):
        sub = [r for r in rows if fam in ("all", r["family"])]
        if not sub:
            continue
        ps = np.array([r["psnr_db"] for r in sub])
        ss = np.array([r["ssim"] for r in sub])
        fin = ps[np.isfinite(ps)]
        q = lambda v, k: float(np.percentile(v, k)) if v.size else float("nan")  # noqa: E731
        out[fam] = {"n": len(sub), "unchanged": sum(r["unchanged"] for r in sub),
                    "psnr_min": q(fin, 0), "psnr_p1": q(fin, 1), "psnr_median": q(fin, 50), "psnr_below_45": int((ps < 45).sum()),
                    "ssim_min": q(ss, 0), "ssim_p1": q(ss, 1), "ssim_median": q(ss, 50), "ssim_below_0995": int((ss < 0.995).sum())}
        x257 = [r["psnr_db_uint16_x257"] for r in sub if "psnr_db_uint16_x257" in r]
        if x257:
            out[fam]["psnr_uint16_x257_min"] = float(np.min(x257))
    return out


def false_positives(rows: list[dict]) -> dict:
    out = {"n": len(rows), "by_family": dict(Counter(r["family"] for r in rows))}
    for mode in ("ident", "blind"):
        found = [r for r in rows if r[mode]["found"]]
        pmin = min(rows, key=lambda r: r[mode]["p"])
        out[mode] = rate(len(found), len(rows)) | {
            "found_by_family": dict(Counter(r["family"] for r in found)), "found_names": [r["name"] for r in found][:50],
            "p_min": pmin[mode]["p"], "p_min_image": pmin["name"],
            "score_max": max(r[mode]["score"] for r in rows)}
    return out


def pct(r: dict) -> str:
    return f"{100 * r['rate']:.1f} ({100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f})"


def print_tables(info: dict, rob: dict, fp: dict, imp: dict, clf: dict | None, api: dict, timings: dict,
                 cpu: dict) -> None:
    fams = [f for f in FAMILIES if f in rob] + ["all"]
    print("\n### Image set (marked)\n")
    print("| family | n | dtype | shapes | pool |")
    print("|---|---|---|---|---|")
    for f in fams[:-1]:
        print(f"| {f} | {info['n'][f]} | {info['dtype'][f]} | {info['shapes'][f]} | {info['pool'][f]} |")
    print(f"\nbrain-mri-real: {info['mri_real_skipped_small']}/{info['mri_real_total']} skipped (smaller side < {MIN_SIDE}); "
          f"example_ct.nii.gz axial slices {info['example_ct_slice_shape']}: "
          f"{'used' if info['example_ct_used_for_marking'] else 'too small, FP set only'}; "
          f"16to8 on 8-bit families (cxr-real, mri-real): source x257, re-marked in uint16, min-max to uint8.")
    rfams = fams + [VERIFIABLE] if VERIFIABLE in rob else fams
    hdr = "| attack | " + " | ".join(rfams) + " |\n|---|" + "---|" * len(rfams)
    for mode, title in (("ident", f"Identification among {N_CANDIDATES} candidates"), ("blind", "Blind decoding")):
        print(f"\n### {title}: payload recovered % (Wilson 95 % CI) / median, min score\n")
        print(f"({VERIFIABLE}: the {rob[VERIFIABLE]['none']['ident']['n']} images of smaller side >= {MIN_SIDE} px, "
              "the size from which a mark is required to verify)\n" if VERIFIABLE in rob else "")
        print(hdr)
        for a in ATTACKS:
            cells = [f"{pct(rob[f][a][mode])} / {rob[f][a][mode]['score_median']:.1f}, {rob[f][a][mode]['score_min']:.1f}"
                     for f in rfams]
            print(f"| {a} | " + " | ".join(cells) + " |")
    print("\n### All images: found at p <= 1e-6 and wrong payloads (found with another payload)\n")
    print("| attack | ident found-wrong | blind found % | blind wrong payload |")
    print("|---|---|---|---|")
    for a in ATTACKS:
        r = rob["all"][a]
        print(f"| {a} | {r['ident']['wrong_payload']} | {100 * r['blind']['found'] / r['blind']['n']:.1f} | "
              f"{r['blind']['wrong_payload']} |")
    print(f"\n### False positives on {fp['n']} unmarked real images {fp['by_family']}\n")
    print("| detector | found | rate % (95 % CI) | smallest p | max score |")
    print("|---|---|---|---|---|")
    for mode, title in (("ident", f"{N_CANDIDATES} fresh candidates"), ("blind", "blind")):
        r = fp[mode]
        print(f"| {title} | {r['k']} {r['found_by_family'] or ''} | {pct(r)} | {r['p_min']:.3g} ({r['p_min_image']}) | "
              f"{r['score_max']:.2f} |")
    print("\n### Imperceptibility (marked vs unmarked; peak / data range = the unmarked image's range)\n")
    print("| family | n | PSNR dB min / p1 / median | < 45 dB | SSIM min / p1 / median | < 0.995 | unchanged |")
    print("|---|---|---|---|---|---|---|")
    for f in fams:
        m = imp[f]
        print(f"| {f} | {m['n']} | {m['psnr_min']:.2f} / {m['psnr_p1']:.2f} / {m['psnr_median']:.2f} | {m['psnr_below_45']} | "
              f"{m['ssim_min']:.4f} / {m['ssim_p1']:.4f} / {m['ssim_median']:.4f} | {m['ssim_below_0995']} | {m['unchanged']} |")
    if clf:
        print(f"\n### cxr-classifier-64 on cxr-pneumonia/test ({clf['n']} images, {clf['n_patients']} patients)\n")
        print("| unmarked AUC (95 % CI) | marked AUC (95 % CI) | delta AUC (paired patient bootstrap 95 % CI) | "
              "max abs dp | label flips |")
        print("|---|---|---|---|---|")
        print(f"| {clf['auc_unmarked']:.4f} ({clf['auc_unmarked_ci95'][0]:.4f}-{clf['auc_unmarked_ci95'][1]:.4f}) | "
              f"{clf['auc_marked']:.4f} ({clf['auc_marked_ci95'][0]:.4f}-{clf['auc_marked_ci95'][1]:.4f}) | "
              f"{clf['delta_auc']:+.4f} ({clf['delta_auc_ci95_patient_bootstrap'][0]:+.4f} to "
              f"{clf['delta_auc_ci95_patient_bootstrap'][1]:+.4f}) | {clf['max_abs_dp']:.4f} | {clf['label_flips']} |")
    if api.get("n"):
        bad = api["n"] - min(api["found_same"], api["payload_same"], api["shift_same"])
        print(f"\nIdentifier vs detect_watermark(payload=candidates) on {api['n']} calls: found same {api['found_same']}, "
              f"payload same {api['payload_same']}, shift same {api['shift_same']}, max |dlog10 p| {api['max_dlog10p']:.2g}, "
              f"max |dscore| {api['max_dscore']:.2g}" + (f"  ** {bad} DISAGREE: rerun with --api **" if bad else ""))
    print(f"\nwatermark modules sha256 {info['module_sha256'][:16]}; wall s: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items())
          + "; cpu s: " + ", ".join(f"{k} {v:.0f}" for k, v in cpu.items()))


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=500)
    ap.add_argument("--n-fp", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="tiny counts: a smoke run of every stage")
    ap.add_argument("--synthetic-dir", type=Path, default=Path(tempfile.gettempdir()) / "radsynth-bench-watermark-synthetic")
    ap.add_argument("--out", type=Path, default=None, help="JSON of every number (default: a new temp folder)")
    ap.add_argument("--api-check", type=int, default=None,
                    help="marked images (x7 attacks) and FP images also run through detect_watermark(payload=...)")
    ap.add_argument("--api", action="store_true", help="use detect_watermark(payload=candidates) for every call (slow)")
    ap.add_argument("--no-classifier", action="store_true")
    a = ap.parse_args()
    if a.quick:
        a.n_images, a.n_fp = min(a.n_images, 24), min(a.n_fp, 40)
    api_check = a.api_check if a.api_check is not None else (1 if a.quick else 10)
    n_boot = 200 if a.quick else 2000
    threshold = wm.DEFAULT_THRESHOLD
    t_all, c_all = time.perf_counter(), cpu_now()
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    data = shared_data()
    rng = np.random.default_rng([a.seed, 0])

    t, c = time.perf_counter(), cpu_now()
    n_xr = max(1, round(SHARE["xr-synth"] * a.n_images))
    sizes = {"xr": n_xr, "ct": 1 if a.n_images < 100 else 2, "mri": 1 if a.n_images < 100 else 2}
    build_log: list[str] = []
    cohorts = build_cohorts(a.synthetic_dir, sizes, build_log)
    timings["synthetic_build"], cpu["synthetic_build"] = time.perf_counter() - t, cpu_now() - c
    for line in build_log:
        print(line, file=sys.stderr)

    t, c = time.perf_counter(), cpu_now()
    items, info = select_images(data, cohorts, a.n_images, rng)
    info["module_sha256"] = MODULE_SHA256
    fp_items = select_fp(data, a.n_fp, rng)
    payloads = random_payloads(rng, len(items))
    decoy_pool = set(random_payloads(rng, 3 * N_CANDIDATES)) - set(payloads)
    decoys = sorted(decoy_pool)
    rng.shuffle(decoys)
    CTX.update(seed=a.seed, threshold=threshold, api=a.api,
               ident_marked=Identifier(decoys[:N_CANDIDATES], threshold),
               ident_fp=Identifier(decoys[N_CANDIDATES: 2 * N_CANDIDATES], threshold))
    check_m = set(rng.choice(len(items), min(api_check, len(items)), replace=False).tolist()) if not a.api else set()
    check_f = set(rng.choice(len(fp_items), min(2 * api_check, len(fp_items)), replace=False).tolist()) if not a.api else set()
    timings["select"], cpu["select"] = time.perf_counter() - t, cpu_now() - c

    t, c = time.perf_counter(), cpu_now()
    rows = pmap(marked_job, [(i, it, payloads[i], i in check_m) for i, it in enumerate(items)], a.threads, "marked")
    timings["marked_and_attacks"], cpu["marked_and_attacks"] = time.perf_counter() - t, cpu_now() - c
    t, c = time.perf_counter(), cpu_now()
    fp_rows = pmap(fp_job, [(i, it, i in check_f) for i, it in enumerate(fp_items)], a.threads, "false positives")
    timings["false_positives"], cpu["false_positives"] = time.perf_counter() - t, cpu_now() - c
    clf = None
    if not a.no_classifier:
        t, c = time.perf_counter(), cpu_now()
        clf = classifier_auc(data, 60 if a.quick else None, n_boot, a.seed, a.threads)
        timings["classifier"], cpu["classifier"] = time.perf_counter() - t, cpu_now() - c

    checks = [c for r in rows + fp_rows for c in r["api_check"]]
    api = {"n": len(checks), "found_same": sum(c["found_same"] for c in checks),
           "payload_same": sum(c["payload_same"] for c in checks), "shift_same": sum(c["shift_same"] for c in checks),
           "max_dlog10p": max((c["dlog10p"] for c in checks), default=0.0),
           "max_dscore": max((c["dscore"] for c in checks), default=0.0)}
    info["n"] = dict(Counter(r["family"] for r in rows))
    info["dtype"] = {f: ",".join(sorted({r["dtype"] for r in rows if r["family"] == f})) for f in info["n"]}
    info["shapes"] = {}
    for f in info["n"]:
        shp = Counter(tuple(r["shape"]) for r in rows if r["family"] == f)
        info["shapes"][f] = (f"{len(shp)} sizes, smaller side {min(min(s) for s in shp)}-{max(min(s) for s in shp)}"
                             if len(shp) > 3 else ", ".join(f"{s[0]}x{s[1]}" for s in shp))
    rob, imp, fp = robustness(rows), imperceptibility(rows), false_positives(fp_rows)
    timings["total"], cpu["total"] = time.perf_counter() - t_all, cpu_now() - c_all
    print_tables(info, rob, fp, imp, clf, api, timings, cpu)

    out = a.out or Path(tempfile.mkdtemp(prefix="bench-watermark-")) / "watermark.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
           "scheme": wm.SCHEME, "config": json.loads(wm.WatermarkConfig().to_json()), "threshold": threshold,
           "n_candidates": N_CANDIDATES, "identification": "api" if a.api else "pattern-surface (checked against api)",
           "image_set": info, "synthetic_build": build_log, "robustness": rob, "false_positives": fp,
           "imperceptibility": imp, "classifier": clf, "api_check": api, "timings_s": timings, "cpu_s": cpu,
           "images": rows, "fp_images": fp_rows}
    out.write_text(json.dumps(doc, indent=1, default=float, allow_nan=True))
    print(f"\nJSON: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
