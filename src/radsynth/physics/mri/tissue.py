"""Tissue MR parameters (T1, T2, T2*, proton density) at 1.5 T and 3 T, and label -> parameter maps.

Values are in vivo human brain/head literature values at body temperature. Where one
source reports several regions, a representative region is used (frontal WM, cortical
GM, putamen/caudate for deep GM). Values for tissues without a consensus source
(skin, dura, vitreous, lesions) are marked *approximate*: they are chosen to give the
clinically known contrast (bright/dark relative to WM and GM on each sequence) and
sit inside the ranges reported in the cited work; they are not measurements.

Main sources
------------
[Wright08]  Wright PJ et al. Water proton T1 measurements in brain tissue at 7, 3, and
            1.5 T using IR-EPI, IR-TSE, and MPRAGE. MAGMA 2008;21:121-130
            (MPRAGE-based T1: WM 646/838 ms, cortical GM 1197/1607 ms, putamen 1084/1332 ms,
            caudate 1109/1395 ms at 1.5/3 T).
[Stanisz05] Stanisz GJ et al. T1, T2 relaxation and magnetization transfer in tissue at 3T.
            MRM 2005;54:507-512 (Table 1: 1.5 T and 3 T T1/T2 of WM, GM, muscle, blood).
[Wansapura99] Wansapura JP et al. NMR relaxation times in the human brain at 3.0 tesla.
            JMRI 1999;9:531-538 (T2* of GM ~66 ms, WM ~53 ms at 3 T).
[Gelman99]  Gelman N et al. MR imaging of human brain at 3.0 T: preliminary report on
            transverse relaxation rates and relation to estimated iron content.
            Radiology 1999;210:759-767 (deep GM has shorter T2/T2* than cortex; iron).
[Rooney07]  Rooney WD et al. Magnetic field and tissue dependencies of human brain
            longitudinal 1H2O relaxation in vivo. MRM 2007;57:308-318 (CSF T1 ~4.3-4.4 s,
            field independent).
[Lu05]      Lu H et al. Routine clinical brain MRI sequences for use at 3.0 Tesla.
            JMRI 2005;22:13-22 (T1 14-30 % longer, T2 12-19 % shorter at 3 T than 1.5 T).
[Gold04]    Gold GE et al. Musculoskeletal MRI at 3.0 T: relaxation times and image
            contrast. AJR 2004;183:343-351 (subcutaneous fat, marrow).
[Neeb06]    Neeb H et al. A new method for fast quantitative mapping of absolute water
            content in vivo. NeuroImage 2006;31:1156-1168 (water content WM ~0.69, GM ~0.80).
[Bojorquez17] Bojorquez JZ et al. What are normal relaxation times of tissues at 3 T?
            MRI 2017;35:69-80 (review; ranges for tissues without a single source).
[Du13]      Du J, Bydder GM. Qualitative and quantitative ultrashort-TE MRI of cortical
            bone. NMR Biomed 2013;26:489-506 (cortical bone T2* ~0.3-0.5 ms).
[Badve17]   Badve C et al. MR fingerprinting of adult brain tumors: initial experience.
            AJNR 2017;38:492-499 (3 T T1/T2 of solid tumour and peritumoural WM elevated
            relative to normal WM).
[Blystad17] Blystad I et al. Quantitative MRI for analysis of peritumoral edema in
            malignant gliomas. PLoS One 2017;12:e0177135 (oedema: prolonged T1, T2, high PD).
[Yablonskiy94] Yablonskiy DA, Haacke EM. Theory of NMR signal behavior in magnetically
            inhomogeneous tissues: the static dephasing regime. MRM 1994;32:749-763
            (R2' = 1/T2* - 1/T2 scales linearly with B0): used to derive 1.5 T T2* from 3 T.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from functools import lru_cache
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import LABEL_TO_TISSUE, TISSUES, tissue_of

FIELD_STRENGTHS_T = (1.5, 3.0)
PARAMETER_KEYS = ("pd", "t1_ms", "t2_ms", "t2star_ms")


@dataclass(frozen=True)
class TissueParams:
    """MR parameters of one tissue: relaxation times in ms, proton density relative to water (CSF ~1)."""

    t1_ms: float
    t2_ms: float
    t2star_ms: float
    pd: float

    def __post_init__(self) -> None:
        for name in ("t1_ms", "t2_ms", "t2star_ms"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise RadsynthInputError(name, v, "a finite relaxation time > 0 ms")
        if not (math.isfinite(self.pd) and self.pd >= 0):
            raise RadsynthInputError("pd", self.pd, "a finite proton density >= 0 (fraction of water)")

    def to_dict(self) -> dict[str, float]:
        return {"t1_ms": float(self.t1_ms), "t2_ms": float(self.t2_ms), "t2star_ms": float(self.t2star_ms), "pd": float(self.pd)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TissueParams:
        return cls(float(d["t1_ms"]), float(d["t2_ms"]), float(d["t2star_ms"]), float(d["pd"]))


# Per tissue: (T1 1.5 T, T2 1.5 T, T1 3 T, T2 3 T, T2* 3 T, PD), times in ms.
# T2* at 1.5 T is derived from the 3 T value by keeping R2' = 1/T2* - 1/T2 proportional
# to B0 [Yablonskiy94] (see _t2star_at).
_VALUES: dict[str, tuple[float, float, float, float, float, float]] = {
    # air: no signal (PD 0); relaxation times only need to be valid numbers.
    "air": (1.0, 1.0, 1.0, 1.0, 1.0, 0.0),
    # CSF: T1 ~4.3 s at both fields [Rooney07]; T2 very long (free-water-like, 1.5-2.2 s
    # reported in vivo, [Bojorquez17]); PD 1 by definition of the scale.
    "csf": (4300.0, 2000.0, 4300.0, 2000.0, 1000.0, 1.00),
    # cortical GM: T1 1197/1607 ms [Wright08]; T2 95/99 ms [Stanisz05]; T2* 66 ms at 3 T
    # [Wansapura99]; water content 0.80 [Neeb06].
    "gm": (1197.0, 95.0, 1607.0, 99.0, 66.0, 0.80),
    # frontal WM: T1 646/838 ms [Wright08]; T2 72/69 ms [Stanisz05]; T2* 53.2 ms [Wansapura99];
    # water content 0.69 [Neeb06].
    "wm": (646.0, 72.0, 838.0, 69.0, 53.2, 0.69),
    # deep GM (mean of putamen and caudate T1 [Wright08]); T2 between WM and cortex and
    # short, iron-weighted T2* [Gelman99]; approximate PD.
    "deep_gm": (1097.0, 80.0, 1364.0, 73.0, 42.0, 0.78),
    # whole blood: T1 1441/1932 ms, T2 290/275 ms [Stanisz05]; T2* mixed arterial/venous
    # (approximate); PD ~0.87 (water content of blood). Flow effects are not modelled.
    "blood": (1441.0, 290.0, 1932.0, 275.0, 50.0, 0.87),
    # subcutaneous fat: T1 343/382 ms, T2 58/68 ms [Gold04]; chemical shift not modelled;
    # approximate T2* and PD.
    "fat": (343.0, 58.0, 382.0, 68.0, 35.0, 0.90),
    # skeletal muscle: T1 1008/1412 ms, T2 44/50 ms [Stanisz05]; approximate T2*, PD.
    "muscle": (1008.0, 44.0, 1412.0, 50.0, 28.0, 0.75),
    # scalp skin (dermis, collagen-rich, short T2): approximate, within [Bojorquez17] ranges.
    "skin": (800.0, 40.0, 1000.0, 35.0, 25.0, 0.70),
    # cortical bone: ultrashort T2/T2* ~0.4 ms [Du13] -> no signal at clinical TE.
    "bone": (220.0, 0.5, 250.0, 0.5, 0.4, 0.15),
    # diploic (fatty) marrow: T1 close to fat [Gold04]; T2* short from trabecular
    # susceptibility; approximate T2, PD.
    "marrow": (300.0, 60.0, 370.0, 50.0, 10.0, 0.85),
    # vitreous humour: ~99 % water, slightly shorter T1/T2 than CSF (approximate).
    "vitreous": (3800.0, 1000.0, 4000.0, 900.0, 500.0, 0.99),
    # dura mater (fibrous connective tissue): short T2, low PD (approximate).
    "dura": (800.0, 45.0, 1000.0, 40.0, 25.0, 0.60),
    # --- lesions (approximate; relative ordering from [Badve17], [Blystad17], [Lu05]) ---
    # necrotic core: fluid-like, T1/T2 long but below CSF.
    "tumour_necrosis": (2500.0, 300.0, 3000.0, 250.0, 150.0, 0.95),
    # enhancing (solid) tumour before contrast: T1, T2 elevated relative to WM [Badve17].
    "tumour_enhancing": (1200.0, 110.0, 1550.0, 100.0, 60.0, 0.85),
    # vasogenic oedema: prolonged T1 and T2, high water content [Blystad17].
    "oedema": (1150.0, 140.0, 1450.0, 125.0, 80.0, 0.86),
    # (sub)acute ischaemic infarct: cytotoxic/vasogenic oedema, T1 and T2 prolonged vs WM.
    "infarct": (1100.0, 130.0, 1400.0, 115.0, 75.0, 0.85),
}


def _t2star_at(t2_ms: float, t2_3t: float, t2star_3t: float, field_t: float) -> float:
    """T2* at ``field_t`` keeping R2' = 1/T2* - 1/T2 proportional to B0 [Yablonskiy94]."""
    r2prime_3t = max(1.0 / t2star_3t - 1.0 / t2_3t, 0.0)
    return 1.0 / (1.0 / t2_ms + r2prime_3t * field_t / 3.0)


def _field_key(field_strength_t: Any) -> float:
    try:
        b0 = float(field_strength_t)
    except (TypeError, ValueError):
        b0 = float("nan")
    for f in FIELD_STRENGTHS_T:
        if abs(b0 - f) < 1e-6:
            return f
    raise RadsynthInputError(
        "field_strength_t", field_strength_t, "1.5 or 3.0 (tesla)",
        "Tissue parameters are tabulated only at 1.5 T and 3 T.",
    )


class TissueTable(Mapping[str, TissueParams]):
    """Immutable mapping tissue name -> :class:`TissueParams` for every tissue in ``TISSUES``.

    ``field_strength_t`` records the field (T) the values belong to. The label look-up
    tables (:meth:`label_luts`) are built once per table and cached.
    """

    __slots__ = ("_params", "field_strength_t", "_luts")

    def __init__(self, params: Mapping[str, TissueParams], field_strength_t: float) -> None:
        missing = [t for t in TISSUES if t not in params]
        extra = sorted(set(params) - set(TISSUES))
        if missing or extra:
            raise RadsynthInputError(
                "tissue_table", {"missing": missing, "unknown": extra}, f"exactly the tissues {list(TISSUES)}"
            )
        self._params = {t: params[t] for t in TISSUES}
        self.field_strength_t = float(field_strength_t)
        self._luts: dict[str, np.ndarray] | None = None

    def __getitem__(self, tissue: str) -> TissueParams:
        return self._params[tissue]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TissueTable):
            return NotImplemented
        return self.field_strength_t == other.field_strength_t and self._params == other._params

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TissueTable(field_strength_t={self.field_strength_t}, tissues={len(self)})"

    def replace(self, changes: Mapping[str, TissueParams]) -> TissueTable:
        """A new table with some tissues' parameters replaced."""
        new = dict(self._params)
        for t, p in changes.items():
            if t not in new:
                raise RadsynthInputError("tissue", t, f"one of {list(TISSUES)}")
            new[t] = p
        return TissueTable(new, self.field_strength_t)

    def to_dict(self) -> dict[str, Any]:
        return {"field_strength_t": self.field_strength_t, "tissues": {t: p.to_dict() for t, p in self._params.items()}}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TissueTable:
        return cls({t: TissueParams.from_dict(p) for t, p in d["tissues"].items()}, float(d["field_strength_t"]))

    def label_luts(self) -> dict[str, np.ndarray]:
        """Per-label-value look-up tables: float32 arrays indexed by label value.

        Keys: ``pd``, ``t1_ms``, ``t2_ms``, ``t2star_ms`` (NaN for label values without a
        tissue class). Built once per table and cached (the table is immutable).
        """
        if self._luts is None:
            tissue_idx = label_tissue_index()
            known = tissue_idx >= 0
            luts: dict[str, np.ndarray] = {}
            for key in PARAMETER_KEYS:
                per_tissue = np.array([getattr(self._params[t], key) for t in TISSUES], dtype=np.float32)
                lut = np.full(tissue_idx.shape, np.nan, dtype=np.float32)
                lut[known] = per_tissue[tissue_idx[known]]
                lut.flags.writeable = False
                luts[key] = lut
            self._luts = luts
        return self._luts


def tissue_table(field_strength_t: float) -> TissueTable:
    """Literature tissue parameters at 1.5 T or 3 T (others raise RadsynthInputError)."""
    b0 = _field_key(field_strength_t)
    params = {}
    for t in TISSUES:
        t1_15, t2_15, t1_3, t2_3, t2s_3, pd = _VALUES[t]
        if b0 == 3.0:
            params[t] = TissueParams(t1_3, t2_3, t2s_3, pd)
        else:
            params[t] = TissueParams(t1_15, t2_15, _t2star_at(t2_15, t2_3, t2s_3, 1.5), pd)
    return TissueTable(params, b0)


@lru_cache(maxsize=1)
def label_tissue_index() -> np.ndarray:
    """int16 array indexed by label value: index into ``TISSUES`` of the label's tissue, -1 if none."""
    size = max(LABEL_TO_TISSUE) + 1
    idx = np.full(size, -1, dtype=np.int16)
    for label, tissue in LABEL_TO_TISSUE.items():
        idx[label] = TISSUES.index(tissue)
    idx.flags.writeable = False
    return idx


#: Lipid (triglyceride) share of the protons, per tissue; tissues not listed hold none. Used by the
#: turbo spin echo's bright fat (:mod:`radsynth.physics.mri.turbo_spin_echo`). Approximate: subcutaneous
#: adipose tissue 0.9 (chemical-shift-encoded fat-fraction MRI reports about 0.85-0.95 in adipose tissue),
#: adult diploic (yellow) marrow 0.7 (marrow fat fraction rises with age, about 0.4-0.8 in adults).
LIPID_FRACTION: Mapping[str, float] = MappingProxyType({"fat": 0.9, "marrow": 0.7})


@lru_cache(maxsize=1)
def label_lipid_lut() -> np.ndarray:
    """float32 array indexed by label value: the label tissue's lipid share (:data:`LIPID_FRACTION`; 0 if none)."""
    idx = label_tissue_index()
    per_tissue = np.array([LIPID_FRACTION.get(t, 0.0) for t in TISSUES], dtype=np.float32)
    lut = np.where(idx >= 0, per_tissue[np.maximum(idx, 0)], np.float32(0.0)).astype(np.float32)
    lut.flags.writeable = False
    return lut


@lru_cache(maxsize=1)
def _known_label_lut() -> np.ndarray:
    known = label_tissue_index() >= 0
    known.flags.writeable = False
    return known


def check_labels(labels: np.ndarray) -> None:
    """Raise RadsynthInputError unless ``labels`` is an integer array of known label values."""
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise RadsynthInputError(
            "labels", f"array of dtype {labels.dtype}", "an integer (int16) label map",
            "Convert with np.rint(labels).astype(np.int16) (NIfTI label maps are often stored as float).",
        )
    if labels.size == 0:
        raise RadsynthInputError("labels", "empty array", "a non-empty label map")
    idx = label_tissue_index()
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= idx.size or not bool(np.all(np.take(_known_label_lut(), labels))):
        present = np.unique(labels)
        for lab in present:
            try:
                tissue_of(int(lab))
            except KeyError as e:
                raise RadsynthInputError(
                    "labels", int(lab), "label values listed in radsynth.core.labels.LABEL_TO_TISSUE", str(e.args[0])
                ) from None


def parameter_maps(labels: np.ndarray, table: TissueTable) -> dict[str, np.ndarray]:
    """float32 maps ``pd``, ``t1_ms``, ``t2_ms``, ``t2star_ms`` of a label map (one gather per map)."""
    labels = np.asarray(labels)
    check_labels(labels)
    luts = table.label_luts()
    return {key: np.take(luts[key], labels) for key in PARAMETER_KEYS}


@dataclass(frozen=True)
class TissueJitter:
    """Per-tissue multiplicative factors on T1, T2 and PD (tuples in ``TISSUES`` order).

    T2* follows T2 with the tissue's reversible rate R2' = 1/T2* - 1/T2 kept fixed.
    """

    t1: tuple[float, ...]
    t2: tuple[float, ...]
    pd: tuple[float, ...]

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "pd"):
            f = getattr(self, name)
            if len(f) != len(TISSUES) or not all(math.isfinite(x) and x > 0 for x in f):
                raise RadsynthInputError(f"jitter.{name}", f, f"{len(TISSUES)} finite factors > 0 (one per tissue)")

    @classmethod
    def identity(cls) -> TissueJitter:
        one = (1.0,) * len(TISSUES)
        return cls(one, one, one)

    def apply(self, table: TissueTable) -> TissueTable:
        new = {}
        for i, t in enumerate(TISSUES):
            p = table[t]
            t2 = p.t2_ms * self.t2[i]
            r2prime = max(1.0 / p.t2star_ms - 1.0 / p.t2_ms, 0.0)
            new[t] = TissueParams(p.t1_ms * self.t1[i], t2, 1.0 / (1.0 / t2 + r2prime), p.pd * self.pd[i])
        return TissueTable(new, table.field_strength_t)

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {name: {t: float(v) for t, v in zip(TISSUES, getattr(self, name))} for name in ("t1", "t2", "pd")}

    @classmethod
    def from_dict(cls, d: Mapping[str, Mapping[str, float]]) -> TissueJitter:
        return cls(*(tuple(float(d[name].get(t, 1.0)) for t in TISSUES) for name in ("t1", "t2", "pd")))


@dataclass(frozen=True)
class RandomTissueJitter:
    """Log-normal per-tissue factors exp(rel_std * N(0, 1)) on T1, T2 and PD.

    Mimics inter-subject / inter-scanner variation of relaxation times (a few percent,
    e.g. the spreads in [Wright08], [Stanisz05]).
    """

    rel_std: float = 0.05

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rel_std) and 0.0 <= self.rel_std <= 0.5):
            raise RadsynthInputError("rel_std", self.rel_std, "a relative standard deviation in [0, 0.5]")

    def sample(self, rng: np.random.Generator) -> TissueJitter:
        z = rng.standard_normal((3, len(TISSUES)))
        f = np.exp(self.rel_std * z)
        return TissueJitter(*(tuple(float(x) for x in row) for row in f))
