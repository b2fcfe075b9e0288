"""k-space apodisation filter, as scanners apply in reconstruction (Hamming, Hann or Fermi).

Clinical scanners do not reconstruct the raw truncated k-space: they multiply it by a
smooth window that falls towards the edge of the acquired matrix, trading a little
resolution for much weaker Gibbs ringing and a softer noise texture (Bernstein MA, King KF,
Zhou XJ, Handbook of MRI Pulse Sequences, Elsevier 2004, sec. 13.1.2 "Fermi filter";
Harris FJ, Proc IEEE 1978;66:51-83 for the Hamming and Hann windows). With r = |k| / K,
K the half-width of the acquired matrix in lines (the Gibbs-truncated width when k-space
is also truncated, else n / 2):

* ``hamming``: w(r) = 0.54 + 0.46 cos(pi r)
* ``hann``:    w(r) = 0.5 + 0.5 cos(pi r)
* ``fermi``:   w(r) = 1 / (1 + exp((r - r0) / width)), r0 = ``fermi_radius``, ``width`` = ``fermi_width``

``strength`` s in [0, 1] blends the window with no filter: 1 - s (1 - w(r)) (vendors expose
filter strength levels). The filter acts on the in-plane axes only (``axes``): a 2D multi-slice
acquisition has no k-space along the slice axis. Applied with the other k-space weights in
:func:`radsynth.physics.mri.acquisition.acquire`, before the noise: scanner noise is added in
k-space before the filter, which filters it too, but the acquisition pipeline here adds noise
in image space after all k-space steps; the filtered-noise texture is modelled by the noise
being added to the filtered signal at the SNR of the filtered image (documented limit).

Why not scipy.signal.windows: those windows are defined on N points of a symmetric frame;
here the window is a function of the signed k-space line index in FFT order and of the
acquired half-width (which differs from n / 2 after truncation), so it is written out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.checks import in_range, range_pair
from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri._kspace import line_index

WINDOWS = ("hamming", "hann", "fermi")


def window_profile(r: np.ndarray, window: str, fermi_radius: float = 0.9, fermi_width: float = 0.05) -> np.ndarray:
    """Window value at normalised k-space radius ``r`` = |k| / K (0 at the centre, 1 at the matrix edge)."""
    r = np.asarray(r, dtype=np.float64)
    if window == "hamming":
        w = 0.54 + 0.46 * np.cos(np.pi * np.clip(r, 0.0, 1.0))
    elif window == "hann":
        w = 0.5 + 0.5 * np.cos(np.pi * np.clip(r, 0.0, 1.0))
    elif window == "fermi":
        w = 1.0 / (1.0 + np.exp((r - fermi_radius) / fermi_width))
    else:
        raise RadsynthInputError("kspace_filter.window", window, f"one of {list(WINDOWS)}")
    return np.where(r <= 1.0, w, 0.0)


@dataclass(frozen=True)
class KSpaceFilter:
    """Deterministic apodisation filter (see the module docstring)."""

    window: str = "hamming"
    strength: float = 1.0
    axes: tuple[int, ...] = (0, 1)
    fermi_radius: float = 0.9
    fermi_width: float = 0.05

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise RadsynthInputError("kspace_filter.window", self.window, f"one of {list(WINDOWS)}")
        object.__setattr__(self, "strength", in_range("kspace_filter.strength", self.strength, 0.0, 1.0))
        object.__setattr__(self, "fermi_radius", in_range("kspace_filter.fermi_radius", self.fermi_radius, 0.1, 1.0))
        object.__setattr__(self, "fermi_width", in_range("kspace_filter.fermi_width", self.fermi_width, 0.005, 0.5))
        axes = tuple(self.axes)
        if not axes or any(int(a) != a or not 0 <= a <= 2 for a in axes) or len(set(axes)) != len(axes):
            raise RadsynthInputError("kspace_filter.axes", self.axes, "distinct array axes in 0..2 (the in-plane axes)")
        object.__setattr__(self, "axes", tuple(int(a) for a in axes))

    def kspace_weights(self, shape: Sequence[int], half_width: Mapping[int, float] | None = None) -> dict[int, np.ndarray]:
        """{axis: real weights in FFT order}; ``half_width[axis]`` = acquired half-width in lines (default n / 2)."""
        out = {}
        for ax in self.axes:
            if ax >= len(shape):
                continue
            n = int(shape[ax])
            k_half = float((half_width or {}).get(ax, n / 2.0))
            r = np.abs(line_index(n)) / max(k_half, 0.5)
            w = window_profile(r, self.window, self.fermi_radius, self.fermi_width)
            out[ax] = (1.0 - self.strength * (1.0 - w)).astype(np.complex64)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "strength": float(self.strength), "axes": list(self.axes),
                "fermi_radius": float(self.fermi_radius), "fermi_width": float(self.fermi_width)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> KSpaceFilter:
        return cls(window=d["window"], strength=float(d["strength"]), axes=tuple(d["axes"]),
                   fermi_radius=float(d["fermi_radius"]), fermi_width=float(d["fermi_width"]))


@dataclass(frozen=True)
class RandomKSpaceFilter:
    """Window drawn uniformly from ``windows``; strength, Fermi radius and width uniform in their ranges."""

    windows: tuple[str, ...] = WINDOWS
    strength_range: tuple[float, float] = (0.5, 1.0)
    fermi_radius_range: tuple[float, float] = (0.75, 0.95)
    fermi_width_range: tuple[float, float] = (0.03, 0.1)
    axes: tuple[int, ...] = (0, 1)

    def __post_init__(self) -> None:
        ws = tuple(self.windows)
        if not ws or any(w not in WINDOWS for w in ws):
            raise RadsynthInputError("kspace_filter", list(ws), f"a non-empty list of {list(WINDOWS)}")
        object.__setattr__(self, "windows", ws)
        object.__setattr__(self, "strength_range", range_pair("kspace_filter_strength", self.strength_range, 0.0, 1.0))
        object.__setattr__(self, "fermi_radius_range", range_pair("fermi_radius_range", self.fermi_radius_range, 0.1, 1.0))
        object.__setattr__(self, "fermi_width_range", range_pair("fermi_width_range", self.fermi_width_range, 0.005, 0.5))

    def sample(self, rng: np.random.Generator) -> KSpaceFilter:
        window = self.windows[int(rng.integers(len(self.windows)))]
        s = float(rng.uniform(*self.strength_range))
        r0 = float(rng.uniform(*self.fermi_radius_range))
        wd = float(rng.uniform(*self.fermi_width_range))
        return KSpaceFilter(window=window, strength=s, axes=self.axes, fermi_radius=r0, fermi_width=wd)
