"""Shared parameter checks (one-line RadsynthInputError messages naming field, value, accepted)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError


def positive(name: str, value: Any, unit: str = "") -> float:
    """``value`` as float; raise unless finite and > 0."""
    v = _as_float(name, value)
    if not (math.isfinite(v) and v > 0):
        raise RadsynthInputError(name, value, f"a finite number > 0{' ' + unit if unit else ''}")
    return v


def non_negative(name: str, value: Any, unit: str = "") -> float:
    v = _as_float(name, value)
    if not (math.isfinite(v) and v >= 0):
        raise RadsynthInputError(name, value, f"a finite number >= 0{' ' + unit if unit else ''}")
    return v


def in_range(name: str, value: Any, lo: float, hi: float, unit: str = "", lo_open: bool = False) -> float:
    v = _as_float(name, value)
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v <= hi
    if not ok:
        bracket = "(" if lo_open else "["
        raise RadsynthInputError(name, value, f"a number in {bracket}{lo}, {hi}]{' ' + unit if unit else ''}")
    return v


def range_pair(name: str, value: Any, lo: float, hi: float) -> tuple[float, float]:
    """A (low, high) pair inside [lo, hi] with low <= high; a scalar means (v, v)."""
    if np.isscalar(value):
        value = (value, value)
    try:
        a, b = (float(x) for x in value)
    except (TypeError, ValueError):
        raise RadsynthInputError(name, value, f"a number or a (low, high) pair in [{lo}, {hi}]") from None
    if not (math.isfinite(a) and math.isfinite(b) and lo <= a <= b <= hi):
        raise RadsynthInputError(name, value, f"a (low, high) pair with {lo} <= low <= high <= {hi}")
    return a, b


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise RadsynthInputError(name, value, "a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RadsynthInputError(name, value, "a number") from None


def f32(x: Any) -> np.ndarray:
    """Input parameter map as a float32 array (no copy when already float32)."""
    return np.asarray(x, dtype=np.float32)


def check_dataclass_keys(field: str, d: Any, cls: type, required: tuple[str, ...] = ()) -> None:
    """Raise unless mapping ``d`` uses only ``cls``'s dataclass fields and has ``required`` ones.

    Shared by the ``from_dict`` of every replayable (deterministic-twin) component.
    """
    known = set(cls.__dataclass_fields__)
    extra = sorted(set(d) - known)
    missing = [k for k in required if k not in d]
    if extra or missing:
        need = f" including {', '.join(repr(k) for k in required)}" if required else ""
        raise RadsynthInputError(field, extra or sorted(d), f"keys among {sorted(known)}{need}")
