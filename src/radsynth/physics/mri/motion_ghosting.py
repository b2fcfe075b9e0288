"""Motion ghosting: periodic modulation of k-space lines along the phase-encode axis.

Periodic motion or pulsation (respiration, cardiac pulsation, CSF/vessel flow) changes
the object between successive phase-encode lines; a modulation of the lines with
period P (in lines) replicates the object as ghosts displaced by multiples of FOV/P
(n/P pixels) along the phase-encode axis (Wood ML, Henkelman RM, MR image artifacts from
periodic motion, Med Phys 1985;12:143-151; Zaitsev M, Maclaren J, Herbst M, Motion
artifacts in MRI: a complex problem with many partial solutions, JMRI 2015;42:887-901).
TorchIO's RandomGhosting models the same effect by scaling every P-th k-space plane
(Perez-Garcia F et al. 2021).

Line k (signed index, k = 0 at the centre of k-space) is multiplied by

    w(k) = (1 + amplitude * s(k)) * exp(i * phase_rad * s(k)),   s(k) = sin(2 pi k / P + offset_rad)

Amplitude modulation gives first-order ghosts of relative height amplitude/2 at +-n/P
pixels; phase modulation adds Bessel-weighted ghosts at multiples of n/P.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.checks import in_range, non_negative, positive, range_pair
from radsynth.physics.mri._kspace import apply_kspace_weights, check_axis, line_index


@dataclass(frozen=True)
class MotionGhosting:
    """Periodic k-space modulation along ``axis``: period (lines), amplitude, phase (rad), offset (rad)."""

    axis: int
    period_lines: float
    amplitude: float
    phase_rad: float = 0.0
    offset_rad: float = 0.0

    def __post_init__(self) -> None:
        positive("ghost_period_lines", self.period_lines, "lines")
        in_range("ghost_amplitude", self.amplitude, 0.0, 1.0)
        non_negative("ghost_phase_rad", self.phase_rad, "rad")
        in_range("ghost_offset_rad", self.offset_rad, -2 * math.pi, 2 * math.pi)

    def kspace_weights(self, shape: Sequence[int]) -> dict[int, np.ndarray]:
        ax = check_axis(self.axis, len(shape))
        s = np.sin(2.0 * np.pi * line_index(shape[ax]) / self.period_lines + self.offset_rad)
        w = (1.0 + self.amplitude * s) * np.exp(1j * self.phase_rad * s)
        return {ax: w.astype(np.complex64)}

    def apply(self, image: np.ndarray) -> np.ndarray:
        """Ghosted image (complex64)."""
        return apply_kspace_weights(image, self.kspace_weights(np.shape(image)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "axis": int(self.axis), "period_lines": float(self.period_lines), "amplitude": float(self.amplitude),
            "phase_rad": float(self.phase_rad), "offset_rad": float(self.offset_rad),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MotionGhosting:
        return cls(int(d["axis"]), float(d["period_lines"]), float(d["amplitude"]), float(d["phase_rad"]), float(d["offset_rad"]))


@dataclass(frozen=True)
class RandomMotionGhosting:
    """Period, amplitude and phase drawn uniformly from their ranges; offset uniform in [0, 2 pi)."""

    axis: int = 1
    period_range: tuple[float, float] = (2.0, 16.0)
    amplitude_range: tuple[float, float] = (0.0, 0.2)
    phase_range_rad: tuple[float, float] = (0.0, 0.5)

    def __post_init__(self) -> None:
        object.__setattr__(self, "period_range", range_pair("ghost_period_range", self.period_range, 1e-3, 1e6))
        object.__setattr__(self, "amplitude_range", range_pair("ghost_amplitude_range", self.amplitude_range, 0.0, 1.0))
        object.__setattr__(self, "phase_range_rad", range_pair("ghost_phase_range_rad", self.phase_range_rad, 0.0, 2 * math.pi))

    def sample(self, rng: np.random.Generator) -> MotionGhosting:
        u = rng.random(4)
        (p0, p1), (a0, a1), (f0, f1) = self.period_range, self.amplitude_range, self.phase_range_rad
        return MotionGhosting(
            self.axis, float(p0 + u[0] * (p1 - p0)), float(a0 + u[1] * (a1 - a0)), float(f0 + u[2] * (f1 - f0)),
            float(u[3] * 2 * math.pi),
        )
