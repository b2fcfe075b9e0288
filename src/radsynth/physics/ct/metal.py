"""A dense metal implant (titanium, pedicle-screw-like cylinder) inserted into a material volume.

Only the material map changes: the implant's voxels become ``titanium`` at its density,
which :func:`radsynth.physics.xray.basis.basis_for` turns into an extra titanium basis
channel. Metal artefacts (dark/bright streaks between and around implants) then arise
from the CT physics itself: photon starvation (counts clamp at 1 after Poisson and
electronic noise), beam hardening that the water-only correction cannot undo, and the
edge/aliasing of a very high-contrast object through FBP (De Man et al., "Metal streak
artifacts in X-ray computed tomography: a simulation study", IEEE Trans. Nucl. Sci.
46:691, 1999).

``RandomMetalImplant.sample(rng, host_mask, affine)`` draws a :class:`MetalImplant`
(frozen, JSON-serialisable) whose centre lies in a given host mask (e.g. a vertebra);
``MetalImplant.apply(volume)`` returns a modified copy, deterministically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.checks import check_dataclass_keys, in_range, positive, range_pair
from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.physics.xray.materials import get_material

#: Titanium (and Ti-6Al-4V, 4.43 g/cm^3) density (g/cm^3).
TITANIUM_DENSITY_G_CM3 = 4.506


def _vec3(name: str, v: Any) -> tuple[float, float, float]:
    try:
        out = tuple(float(x) for x in v)
    except (TypeError, ValueError):
        raise RadsynthInputError(name, v, "three numbers") from None
    if len(out) != 3 or not all(math.isfinite(x) for x in out):
        raise RadsynthInputError(name, v, "three finite numbers")
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class MetalImplant:
    """A solid cylinder of metal.

    Attributes:
        center_mm: centre in world (RAS) mm.
        direction: axis direction (normalised on construction).
        radius_mm: cylinder radius (0.5-15 mm).
        length_mm: cylinder length (1-200 mm).
        material: implant material (default titanium).
        density_g_cm3: its density.
        label: structure id written into the volume's labels (None: labels unchanged).
    """

    center_mm: tuple[float, float, float]
    direction: tuple[float, float, float] = (0.0, 1.0, 0.0)
    radius_mm: float = 3.0
    length_mm: float = 45.0
    material: str = "titanium"
    density_g_cm3: float = TITANIUM_DENSITY_G_CM3
    label: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "center_mm", _vec3("center_mm", self.center_mm))
        d = np.asarray(_vec3("direction", self.direction))
        norm = float(np.linalg.norm(d))
        if norm < 1e-9:
            raise RadsynthInputError("direction", self.direction, "a non-zero 3-vector")
        set_(self, "direction", tuple(float(x) for x in d / norm))
        set_(self, "radius_mm", in_range("radius_mm", self.radius_mm, 0.5, 15.0, unit="mm"))
        set_(self, "length_mm", in_range("length_mm", self.length_mm, 1.0, 200.0, unit="mm"))
        get_material(self.material)
        set_(self, "density_g_cm3", positive("density_g_cm3", self.density_g_cm3, "g/cm^3"))
        if self.label is not None:
            set_(self, "label", int(self.label))

    def mask(self, shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
        """Voxels (x, y, z) whose centre lies inside the cylinder."""
        aff = np.asarray(affine, dtype=np.float64)
        c = np.asarray(self.center_mm)
        u = np.asarray(self.direction)
        half = 0.5 * self.length_mm
        ends = np.stack([c - half * u, c + half * u])
        inv = np.linalg.inv(aff)
        reach = self.radius_mm / np.asarray([max(s, 1e-9) for s in np.sqrt((aff[:3, :3] ** 2).sum(axis=0))])
        ijk = (inv[:3, :3] @ ends.T + inv[:3, 3:4]).T
        lo = np.maximum(np.floor(ijk.min(axis=0) - reach - 1).astype(int), 0)
        hi = np.minimum(np.ceil(ijk.max(axis=0) + reach + 1).astype(int), np.asarray(shape) - 1)
        out = np.zeros(shape, dtype=bool)
        if np.any(hi < lo):
            return out
        g = np.meshgrid(*(np.arange(a, b + 1) for a, b in zip(lo, hi)), indexing="ij")
        pts = np.stack([x.ravel() for x in g]).astype(np.float64)
        world = aff[:3, :3] @ pts + aff[:3, 3:4] - c[:, None]
        along = u @ world
        radial2 = (world ** 2).sum(axis=0) - along ** 2
        inside = (np.abs(along) <= half) & (radial2 <= self.radius_mm ** 2)
        sub = out[lo[0]:hi[0] + 1, lo[1]:hi[1] + 1, lo[2]:hi[2] + 1]
        sub[...] = inside.reshape(sub.shape)
        return out

    def apply(self, volume: MaterialVolume) -> MaterialVolume:
        """A copy of ``volume`` with the implant's voxels made of its material."""
        out = volume.copy()
        m = self.mask(volume.shape, volume.affine)
        out.set_region(m, self.material, self.density_g_cm3, self.label,
                       "metal_implant" if self.label is not None else None)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"center_mm": list(self.center_mm), "direction": list(self.direction), "radius_mm": self.radius_mm,
                "length_mm": self.length_mm, "material": self.material, "density_g_cm3": self.density_g_cm3,
                "label": self.label}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "MetalImplant":
        check_dataclass_keys("metal_implant", d, cls, required=("center_mm",))
        return cls(**d)


@dataclass(frozen=True)
class RandomMetalImplant:
    """Ranges for a pedicle-screw-like implant; ``sample(rng, host_mask, affine)`` -> :class:`MetalImplant`.

    The centre is a uniformly drawn voxel of ``host_mask``; the axis is ``base_direction``
    (default anterior, +y) tilted by up to ``max_tilt_deg`` in a random azimuth.
    """

    radius_mm_range: tuple[float, float] = (2.5, 3.5)
    length_mm_range: tuple[float, float] = (35.0, 50.0)
    base_direction: tuple[float, float, float] = (0.0, 1.0, 0.0)
    max_tilt_deg: float = 20.0
    material: str = "titanium"
    density_g_cm3: float = TITANIUM_DENSITY_G_CM3
    label: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "radius_mm_range", range_pair("radius_mm_range", self.radius_mm_range, 0.5, 15.0))
        set_(self, "length_mm_range", range_pair("length_mm_range", self.length_mm_range, 1.0, 200.0))
        d = np.asarray(_vec3("base_direction", self.base_direction))
        if np.linalg.norm(d) < 1e-9:
            raise RadsynthInputError("base_direction", self.base_direction, "a non-zero 3-vector")
        set_(self, "base_direction", tuple(float(x) for x in d / np.linalg.norm(d)))
        set_(self, "max_tilt_deg", in_range("max_tilt_deg", self.max_tilt_deg, 0.0, 90.0, unit="deg"))
        get_material(self.material)
        set_(self, "density_g_cm3", positive("density_g_cm3", self.density_g_cm3, "g/cm^3"))

    def sample(self, rng: np.random.Generator, host_mask: np.ndarray, affine: np.ndarray) -> MetalImplant:
        idx = np.flatnonzero(np.asarray(host_mask, dtype=bool).ravel(order="C"))
        if idx.size == 0:
            raise RadsynthInputError("host_mask", "empty", "a mask with at least one voxel (where the implant goes)")
        v = np.asarray(np.unravel_index(int(idx[int(rng.integers(idx.size))]), np.shape(host_mask)), dtype=np.float64)
        aff = np.asarray(affine, dtype=np.float64)
        center = aff[:3, :3] @ v + aff[:3, 3]
        tilt = math.radians(float(rng.uniform(0.0, self.max_tilt_deg)))
        az = float(rng.uniform(0.0, 2.0 * math.pi))
        b = np.asarray(self.base_direction)
        helper = np.array([0.0, 0.0, 1.0]) if abs(b[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        e1 = np.cross(b, helper)
        e1 /= np.linalg.norm(e1)
        e2 = np.cross(b, e1)
        d = math.cos(tilt) * b + math.sin(tilt) * (math.cos(az) * e1 + math.sin(az) * e2)
        radius = float(rng.uniform(*self.radius_mm_range))
        length = float(rng.uniform(*self.length_mm_range))
        return MetalImplant(tuple(float(x) for x in center), tuple(float(x) for x in d), radius, length,
                            self.material, self.density_g_cm3, self.label)

    def to_dict(self) -> dict[str, Any]:
        return {"radius_mm_range": list(self.radius_mm_range), "length_mm_range": list(self.length_mm_range),
                "base_direction": list(self.base_direction), "max_tilt_deg": self.max_tilt_deg,
                "material": self.material, "density_g_cm3": self.density_g_cm3, "label": self.label}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RandomMetalImplant":
        check_dataclass_keys("random_metal_implant", d, cls)
        return cls(**d)
