"""A material map: what each voxel is made of, at what density.

The common currency of X-ray physics in radsynth: anatomy builds a
:class:`MaterialVolume` (structure labels -> material names, per-voxel density with the
real CT's texture), pathology edits it (a nodule is soft tissue inside lung, a
haemorrhage is dense blood inside brain), and the projectors turn it into CT slices and
radiographs. Material names are keys of :data:`radsynth.physics.xray.materials.MATERIALS`
(checked where attenuation is computed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MaterialVolume:
    """Per-voxel material index and density on a grid.

    Attributes:
        material: uint8 (x, y, z) index into ``names``.
        density_g_cm3: float32 (x, y, z) density in g/cm^3.
        names: material name of each index.
        affine: 4x4 voxel-to-RAS world transform (mm).
        labels: int16 (x, y, z) anatomical structure ids (lesion ids added by pathology).
        label_names: structure id -> name.
    """

    material: np.ndarray
    density_g_cm3: np.ndarray
    names: list[str]
    affine: np.ndarray
    labels: np.ndarray
    label_names: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.material = np.asarray(self.material, dtype=np.uint8)
        self.density_g_cm3 = np.asarray(self.density_g_cm3, dtype=np.float32)
        self.affine = np.asarray(self.affine, dtype=np.float64)
        self.labels = np.asarray(self.labels, dtype=np.int16)
        self.names = list(self.names)
        shapes = {self.material.shape, self.density_g_cm3.shape, self.labels.shape}
        if len(shapes) != 1 or self.material.ndim != 3:
            raise ValueError(f"MaterialVolume arrays must share one 3D shape, got {sorted(shapes)}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.material.shape)  # type: ignore[return-value]

    @property
    def spacing_mm(self) -> tuple[float, float, float]:
        z = np.sqrt((self.affine[:3, :3] ** 2).sum(axis=0))
        return (float(z[0]), float(z[1]), float(z[2]))

    @property
    def voxel_ml(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3]))) / 1000.0

    def index_of(self, name: str) -> int:
        """Index of material ``name``, appended to ``names`` if new."""
        if name not in self.names:
            if len(self.names) >= 255:
                raise ValueError("a MaterialVolume holds at most 255 materials")
            self.names.append(name)
        return self.names.index(name)

    def mask_of(self, name: str) -> np.ndarray:
        """Voxels made of material ``name``."""
        if name not in self.names:
            return np.zeros(self.shape, dtype=bool)
        return self.material == self.names.index(name)

    def set_region(self, mask: np.ndarray, material: str, density_g_cm3: float | np.ndarray,
                   label: int | None = None, label_name: str | None = None) -> None:
        """Make the voxels in ``mask`` of ``material`` at ``density`` (scalar or full-shape array)."""
        mask = np.asarray(mask, dtype=bool)
        idx = self.index_of(material)
        self.material[mask] = idx
        d = np.asarray(density_g_cm3, dtype=np.float32)
        self.density_g_cm3[mask] = d[mask] if d.ndim == 3 else d
        if label is not None:
            self.labels[mask] = label
            if label_name:
                self.label_names[int(label)] = label_name

    def copy(self) -> "MaterialVolume":
        return MaterialVolume(self.material.copy(), self.density_g_cm3.copy(), list(self.names), self.affine.copy(),
                              self.labels.copy(), dict(self.label_names))
