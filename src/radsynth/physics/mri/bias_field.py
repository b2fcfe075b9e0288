"""Smooth multiplicative intensity non-uniformity (receive-coil bias field).

    field(x) = exp( sum_{0 < i+j+k <= order} c_ijk x^i y^j z^k ),   x, y, z in [-1, 1]

over normalised voxel coordinates of the image grid (each axis linearly from -1 at the
first voxel to +1 at the last). This is the model of TorchIO's BiasField / RandomBiasField
(Perez-Garcia F et al., Comput Methods Programs Biomed 2021;208:106236), itself following
the low-order polynomial (log-domain) bias model used in MR bias correction (e.g. Van
Leemput K et al., IEEE TMI 1999;18:885-896). Unlike TorchIO the constant term (0, 0, 0) is
left out, so the field never applies a pure global gain: image intensities stay on the
fixed physical scale of the simulator.

Coefficients are ordered like TorchIO's loops (first axis exponent outermost, ascending).
The polynomial is evaluated by nested Horner schemes over separable 1D powers, so a 3D
field costs ~2 * order full-volume passes plus one exp (float32).
Hand-written rather than calling TorchIO: not a dependency here, and we need a
deterministic twin with serialisable coefficients and float32 speed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.checks import non_negative


def exponents(order: int, ndim: int) -> list[tuple[int, ...]]:
    """Exponent tuples with 0 < total degree <= order, in TorchIO loop order."""
    def rec(prefix: tuple[int, ...], left: int, dims: int) -> list[tuple[int, ...]]:
        if dims == 0:
            return [prefix]
        out = []
        for e in range(left + 1):
            out += rec(prefix + (e,), left - e, dims - 1)
        return out

    return [e for e in rec((), order, ndim) if sum(e) > 0]


def n_coefficients(order: int, ndim: int) -> int:
    """Number of coefficients of a bias field of this order in ``ndim`` dimensions."""
    return len(exponents(order, ndim))


def _poly(coords: list[np.ndarray], terms: dict[tuple[int, ...], float]) -> np.ndarray:
    """sum c * prod(coords[a] ** e[a]) on the full grid, by Horner in the first axis (float32)."""
    x = coords[0]
    if len(coords) == 1:
        out = np.zeros(x.shape, dtype=np.float32)
        for (e,), c in terms.items():
            out += np.float32(c) * x**e
        return out
    rest_shape = tuple(c.size for c in coords[1:])
    by_power: dict[int, dict[tuple[int, ...], float]] = {}
    for e, c in terms.items():
        by_power.setdefault(e[0], {})[e[1:]] = c
    top = max(by_power) if by_power else 0
    xs = x.reshape((-1,) + (1,) * len(rest_shape))
    out = np.zeros((x.size,) + rest_shape, dtype=np.float32)
    for p in range(top, -1, -1):
        if p != top:
            out *= xs
        if p in by_power:
            out += _poly(coords[1:], by_power[p])
    return out


@dataclass(frozen=True)
class BiasField:
    """Bias field of polynomial ``order`` with ``coefficients`` (see :func:`exponents` for order)."""

    coefficients: tuple[float, ...]
    order: int = 3

    def __post_init__(self) -> None:
        if int(self.order) != self.order or not 0 <= self.order <= 8:
            raise RadsynthInputError("bias_order", self.order, "an integer in [0, 8]")
        if not all(math.isfinite(c) for c in self.coefficients):
            raise RadsynthInputError("bias_coefficients", self.coefficients, "finite numbers")

    def field(self, shape: Sequence[int]) -> np.ndarray:
        """The multiplicative field (float32) on a grid of ``shape``."""
        shape = tuple(int(s) for s in shape)
        exps = exponents(self.order, len(shape))
        if len(exps) != len(self.coefficients):
            raise RadsynthInputError(
                "bias_coefficients", f"{len(self.coefficients)} values",
                f"{len(exps)} values for order {self.order} in {len(shape)}D",
            )
        coords = [np.linspace(-1.0, 1.0, s, dtype=np.float32) if s > 1 else np.zeros(1, np.float32) for s in shape]
        terms = {e: float(c) for e, c in zip(exps, self.coefficients) if c != 0.0}
        if not terms:
            return np.ones(shape, dtype=np.float32)
        log_field = _poly(coords, terms)
        return np.exp(log_field, out=log_field)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """``image * field`` (real images stay float32, complex stay complex)."""
        image = np.asarray(image)
        f = self.field(image.shape)
        if np.iscomplexobj(image):
            return image * f
        return np.multiply(f, image, out=f)  # reuse the field's buffer (fewer page faults on big volumes)

    def to_dict(self) -> dict[str, Any]:
        return {"coefficients": [float(c) for c in self.coefficients], "order": int(self.order)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BiasField:
        return cls(tuple(float(c) for c in d["coefficients"]), int(d["order"]))


@dataclass(frozen=True)
class RandomBiasField:
    """Coefficients drawn uniformly from [-coefficient_range, coefficient_range] (TorchIO default 0.5)."""

    order: int = 3
    coefficient_range: float = 0.3

    def __post_init__(self) -> None:
        if int(self.order) != self.order or not 0 <= self.order <= 8:
            raise RadsynthInputError("bias_order", self.order, "an integer in [0, 8]")
        non_negative("bias_coefficient_range", self.coefficient_range)

    def sample(self, ndim: int, rng: np.random.Generator) -> BiasField:
        n = n_coefficients(self.order, ndim)
        c = rng.uniform(-self.coefficient_range, self.coefficient_range, size=n)
        return BiasField(tuple(float(x) for x in c), self.order)
