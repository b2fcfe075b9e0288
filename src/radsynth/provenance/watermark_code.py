"""The watermark's code book: scheme parameters, key and payload handling, Reed-Solomon coding and the
keyed pattern tables (see :mod:`radsynth.provenance.watermark` for the scheme)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError

SCHEME = "radsynth-tss-v1"
#: The public default key: anyone can detect radsynth's watermark with it.
DEFAULT_KEY = b"radsynth public watermark key v1"
PAYLOAD_BYTES = 8
#: Default decision threshold on the p-value.
DEFAULT_THRESHOLD = 1e-6
#: Embedder-only settings: they leave the patterns, the scrambler and the detector as they are (not in the seeds).
EMBED_ONLY = ("mask_model",)
MASK_MODELS = ("joint", "ssim", "texture")
#: Smallest in-plane side (pixels) at which ``radsynth verify`` requires the declared mark to be found:
#: a 2D image, and a volume's slices (they are folded together). Smaller images are marked all the
#: same (from one tile, 64 px). Measured (bench/bench_watermark.py, unattacked, identification among
#: 1,000 candidates, ``joint`` map): 100 % of 224^2 radiographs and 512^2 CT slices, 98 % of real brain MRI
#: slices >= 192 px, 100 % of the shipped spec's 198-220 px simulated MRI slices (the ``ssim`` map: 94 % of the
#: real ones, 80 % of 1 mm-spec 208 x 176 simulated slices); a volume's slices folded together are found.
VERIFIABLE_SIDE_2D = 192
VERIFIABLE_SIDE_3D = 128


def verifiable(shape: tuple[int, ...]) -> bool:
    """Whether a mark in an image / (slices, rows, cols) stack of this shape is required to be found."""
    side = min(shape[-2:])
    return side >= (VERIFIABLE_SIDE_3D if len(shape) == 3 and shape[0] > 1 else VERIFIABLE_SIDE_2D)


@dataclass(frozen=True)
class WatermarkConfig:
    """Scheme parameters (JSON round-trip with :meth:`to_json` / :meth:`from_json`)."""

    tile: int = 64
    band_lo: float = 0.12  # cycles / pixel
    band_hi: float = 0.24  # cycles / pixel (survives a x0.5 resize and back)
    psnr_db: float = 45.3  # target PSNR against the unmarked image (peak = the image's data range)
    pilot_share: float = 0.25
    nsym: int = 8  # Reed-Solomon parity bytes
    mask_sigma_px: float = 2.0
    detect_lo_sigma_px: float = 0.7
    detect_hi_sigma_px: float = 3.0
    norm_sigma_px: float = 4.0
    cancel_share: float = 0.3  # share of the energy budget spent cancelling the host (informed embedding)
    mask_power: float = 1.0
    detector: str = "mask-matched"  # or "normalise" (see _weight)
    avoid_block_grid: bool = True  # no pattern energy at multiples of 1/8 cycle/pixel (JPEG block edges)
    ssim_min: float = 0.995  # per plane: the mark is weakened until SSIM against the unmarked plane is at least this
    # where the embedder puts the mark's amplitude (the detector is the same for all, so marks made with any are
    # found): "joint" (default) spends both budgets, PSNR and SSIM, where they buy the most detection, per plane
    # (watermark_signal.joint_mask); "ssim" spends the SSIM budget alone that way (the default until 2026-12-07
    # session 7); "texture": s^2 / (s^2 + tau^2) of the band detail s (before that)
    mask_model: str = "joint"

    def __post_init__(self) -> None:
        checks = [
            ("tile", self.tile, 16 <= self.tile <= 256 and self.tile % 2 == 0, "an even number of pixels, 16-256"),
            ("band_lo", self.band_lo, 0.0 < self.band_lo < self.band_hi, "cycles/pixel, 0 < band_lo < band_hi"),
            ("band_hi", self.band_hi, self.band_hi <= 0.5, "cycles/pixel, at most 0.5 (Nyquist)"),
            ("psnr_db", self.psnr_db, 30.0 <= self.psnr_db <= 80.0, "dB, 30-80"),
            ("pilot_share", self.pilot_share, 0.0 < self.pilot_share < 1.0, "a fraction, 0-1 exclusive"),
            ("detector", self.detector, self.detector in ("mask-matched", "normalise"), "mask-matched or normalise"),
            ("ssim_min", self.ssim_min, 0.0 <= self.ssim_min < 1.0, "an SSIM floor in [0, 1)"),
            ("cancel_share", self.cancel_share, 0.0 <= self.cancel_share < 1.0, "a fraction of the energy budget, 0 <= x < 1"),
            ("mask_model", self.mask_model, self.mask_model in MASK_MODELS, " or ".join(MASK_MODELS)),
            ("nsym", self.nsym, 2 <= self.nsym <= 32 and self.nsym % 2 == 0, "an even number of parity bytes, 2-32"),
        ]
        for name, value, ok, accepted in checks:
            if not ok:
                raise RadsynthInputError(f"watermark.{name}", value, accepted)

    @property
    def n_bits(self) -> int:
        return 8 * (PAYLOAD_BYTES + self.nsym)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> WatermarkConfig:
        doc = json.loads(text) if isinstance(text, str) else dict(text)
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(doc) - known)
        if unknown:
            raise RadsynthInputError("watermark config", unknown[0], f"one of {sorted(known)}")
        return cls(**doc)


@dataclass
class WatermarkResult:
    """What :func:`detect_watermark` found. ``payload`` is 16 hex digits when decoded."""

    found: bool
    payload: str | None
    p_value: float
    p_sync: float
    p_code: float
    score: float
    shift: tuple[int, int]
    bytes_corrected: int | None
    threshold: float
    scheme: str = SCHEME
    n_slices: int = 1
    key_id: str = ""
    #: known payloads: the identification guard's p-value (``n_candidates Q(z)`` of the payload part against the
    #: random payloads' scores at the same shift; must be at most ``watermark.ID_ALPHA``); None in blind decoding
    p_identity: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shift"] = list(self.shift)
        return d


@dataclass
class EmbedRecord:
    """What :func:`embed_watermark` did: goes into the image's provenance (``watermark``)."""

    scheme: str
    payload: str
    key_id: str
    psnr_db: float
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- keys and payloads


def key_id(key: bytes | None = None) -> str:
    """Public fingerprint of a watermark key (first 16 hex digits of its sha256)."""
    return hashlib.sha256(b"radsynth-watermark-key-id|" + (key or DEFAULT_KEY)).hexdigest()[:16]


def payload_from_id(identifier: str) -> str:
    """The 64-bit payload (16 hex digits) of a dataset / job id: the id itself when it is 16 hex
    digits, else the first 8 bytes of its sha256."""
    text = str(identifier).strip()
    if len(text) == 2 * PAYLOAD_BYTES and all(c in "0123456789abcdefABCDEF" for c in text):
        return text.lower()
    if not text:
        raise RadsynthInputError("payload", identifier, "16 hex digits or any non-empty dataset / job id")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[: 2 * PAYLOAD_BYTES]


def payload_bytes(payload: str) -> bytes:
    text = payload_from_id(payload)
    return bytes.fromhex(text)


def _seed(key: bytes, purpose: str, cfg: WatermarkConfig) -> int:
    scheme = {k: v for k, v in asdict(cfg).items() if k not in EMBED_ONLY}
    h = hashlib.sha256(key + b"|" + purpose.encode() + b"|" + json.dumps(scheme, sort_keys=True).encode()).digest()
    return int.from_bytes(h[:8], "little")


@lru_cache(maxsize=8)
def patterns(key: bytes, cfg: WatermarkConfig) -> np.ndarray:
    """(K + 1, tile, tile) orthogonal, unit-RMS, band-limited patterns; index 0 is the pilot."""
    t = cfg.tile
    rng = np.random.default_rng(_seed(key, "patterns", cfg))
    noise = rng.standard_normal((cfg.n_bits + 1, t, t))
    f = np.fft.fftfreq(t)
    radius = np.hypot(f[:, None], f[None, :])
    band = (radius >= cfg.band_lo) & (radius <= cfg.band_hi)
    if cfg.avoid_block_grid:
        # JPEG's 8 x 8 block edges put energy at multiples of 1/8 cycle/pixel along either axis, the same in
        # every tile (they add up in the fold): leave those frequencies out of the patterns
        k = np.rint(np.fft.fftfreq(t) * t).astype(int)
        on_grid = (k % (t // 8) == 0) if t % 8 == 0 else np.zeros(t, bool)
        band &= ~(on_grid[:, None] | on_grid[None, :])
    pats = np.fft.ifft2(np.fft.fft2(noise) * band).real.reshape(cfg.n_bits + 1, t * t)
    # orthonormalise (QR): no cross-talk between the bits; combinations stay in the band
    q, r = np.linalg.qr(pats.T)
    pats = (q * np.sign(np.diag(r))).T.reshape(cfg.n_bits + 1, t, t) * t
    # rounded: LAPACK's last bits may depend on the BLAS thread count; the patterns must not
    pats = np.round(pats, 9)
    pats.setflags(write=False)
    return pats


def scrambler(key: bytes, cfg: WatermarkConfig) -> np.ndarray:
    rng = np.random.default_rng(_seed(key, "scramble", cfg))
    return rng.integers(0, 2, cfg.n_bits, dtype=np.uint8)


def codec(nsym: int) -> Any:
    import reedsolo

    return reedsolo.RSCodec(nsym)


def bits_of(payload: str, key: bytes, cfg: WatermarkConfig) -> np.ndarray:
    code = bytes(codec(cfg.nsym).encode(payload_bytes(payload)))
    bits = np.unpackbits(np.frombuffer(code, dtype=np.uint8))
    return bits ^ scrambler(key, cfg)


def tile_pattern(payload: str, key: bytes | None = None, config: WatermarkConfig | None = None,
                 pilot: bool = True) -> np.ndarray:
    """The ``tile x tile`` watermark tile carrying ``payload``: ``sum_k beta_k pattern_k`` (:func:`targets`;
    the patterns are orthonormal and ``|beta| = 1``, so the tile has unit RMS). ``pilot=False``: the
    payload's own part only (:func:`payload_targets`), what tells one payload's mark from another's."""
    cfg = config or WatermarkConfig()
    k = key or DEFAULT_KEY
    bits = bits_of(payload, k, cfg)
    return np.tensordot(targets(bits, cfg) if pilot else payload_targets(bits, cfg), patterns(k, cfg), axes=1)


def targets(bits: np.ndarray, cfg: WatermarkConfig) -> np.ndarray:
    """Per-pattern amplitude of the unit watermark: pilot sqrt(share), each bit +-sqrt((1-share)/K)."""
    beta = (2.0 * bits.astype(np.float64) - 1.0) * math.sqrt((1.0 - cfg.pilot_share) / cfg.n_bits)
    return np.concatenate([[math.sqrt(cfg.pilot_share)], beta])


#: random payload parts in :func:`decoy_targets`: the empirical null of the identification guard
N_DECOYS = 512


@lru_cache(maxsize=8)
def decoy_targets(key: bytes, cfg: WatermarkConfig) -> np.ndarray:
    """(N_DECOYS, K + 1) payload parts of random sign words (pilot 0, each bit +-sqrt((1 - share) / K), as
    :func:`payload_targets`): payloads that were never issued. Their correlations at a shift are what a
    payload that is not in the image scores there, cross-talk from whatever mark is there included
    (``radsynth.provenance.watermark._identify``). Deterministic for a key and scheme; read-only."""
    rng = np.random.default_rng(_seed(key, "decoys", cfg))
    bits = rng.integers(0, 2, (N_DECOYS, cfg.n_bits))
    out = np.stack([payload_targets(b, cfg) for b in bits])
    out.setflags(write=False)
    return out


def payload_targets(bits: np.ndarray, cfg: WatermarkConfig) -> np.ndarray:
    """:func:`targets` without the pilot (its amplitude 0): the pilot is the same in every payload's mark,
    so a test for one payload that counted it would also answer to any other payload's mark."""
    out = targets(bits, cfg)
    out[0] = 0.0
    return out


@lru_cache(maxsize=8)
def tables(key: bytes, cfg: WatermarkConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Patterns flattened (n, t^2), transposed, squared-transposed, and each pattern's gain through
    the detector's band-pass (on the torus)."""
    from scipy.ndimage import gaussian_filter

    pats = patterns(key, cfg)
    t = cfg.tile
    flat = pats.reshape(pats.shape[0], -1)
    detail = np.stack([gaussian_filter(p, cfg.detect_lo_sigma_px, mode="wrap")
                       - gaussian_filter(p, cfg.detect_hi_sigma_px, mode="wrap") for p in pats])
    band_gain = np.einsum("kp,kp->k", detail.reshape(pats.shape[0], -1), flat) / (t * t)
    return flat, np.ascontiguousarray(flat.T), np.ascontiguousarray(flat.T**2), band_gain
