"""Display window of an MR image, as clinical exports carry it.

MR intensities have no physical unit, so every viewer and every export (DICOM Window Center/Width, the
8-bit PNG/JPEG a PACS writes) maps a window [lower, upper] to black..white. Scanners and PACS set it from
the image histogram, commonly with the upper limit at a high percentile of the tissue intensities so that
a few very bright voxels (vessels, fat, flow artefacts) saturate instead of darkening the brain (e.g.
Siemens/GE auto-windowing; the 0.5-99.5 % rule of :func:`radsynth.io.png.auto_window`). Real exported
slices therefore show brain tissue spread over most of the grey range; a per-volume min-max mapping of a
simulated volume does not.

:class:`DisplayWindow` (deterministic twin): lower = 0 (MR magnitude), upper = the ``upper_percentile``
of the reference voxels: a mask when given (the generator passes the intracranial voxels: a brain
examination is windowed on the brain, so scalp fat and marrow saturate as on clinical T1w exports), else
the foreground (above ``FOREGROUND_FRACTION`` of the 99.9th percentile). :class:`RandomDisplayWindow`
draws the percentile per image.

Histogram auto-windowing (``median_grey``): consoles and PACS exports commonly place the main tissue peak of
the histogram at a set grey level rather than at a percentile, so on every weighting the head's median voxel
lands near the same grey (measured on the real axial slices of ``brain-mri-real``: median foreground grey
0.29-0.50, 10th-90th centile over images, for T1/T1c, T2 and FLAIR alike, while a fixed percentile window
makes simulated T2w and FLAIR brighter than real because CSF or lesions take the top percentiles). With
``median_grey`` g the upper limit is median(reference voxels) / g. The window is metadata: the voxel values are not changed. Writers put it
in the NIfTI header (``cal_min``/``cal_max``, the NIfTI-1 display range) and ``radsynth evaluate
--slices ...:window=header`` honours it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from radsynth.core.checks import in_range, range_pair

#: foreground: voxels above this fraction of the image's 99.9th percentile
FOREGROUND_FRACTION = 0.1


@dataclass(frozen=True)
class DisplayWindow:
    """Window [0, percentile ``upper_percentile`` of the foreground] of an MR magnitude image."""

    upper_percentile: float = 99.0
    median_grey: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "upper_percentile",
                           in_range("display_window_percentile", self.upper_percentile, 50.0, 100.0))
        if self.median_grey is not None:
            object.__setattr__(self, "median_grey", in_range("display_median_grey", self.median_grey, 0.05, 0.95))

    def window(self, image: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
        """(lower, upper) in the image's units: the percentile over ``mask`` (bool, image shape) when it has
        voxels, else over the foreground; (0, 1) for an empty image."""
        a = np.asarray(image, dtype=np.float32)
        if mask is not None:
            m = np.asarray(mask, dtype=bool)
            if m.shape != a.shape:
                from radsynth.core.errors import RadsynthInputError

                raise RadsynthInputError("display_window mask", f"shape {m.shape}", f"the image shape {a.shape}")
            inside = a[m & np.isfinite(a)]
            if inside.size:
                hi = (float(np.median(inside.astype(np.float64))) / self.median_grey if self.median_grey is not None
                      else float(np.percentile(inside.astype(np.float64), self.upper_percentile)))
                if hi > 0:
                    return 0.0, hi
        a = a[np.isfinite(a)]
        if a.size == 0:
            return 0.0, 1.0
        top = float(np.percentile(a, 99.9))
        fg = a[a > FOREGROUND_FRACTION * top]
        if fg.size and self.median_grey is not None:
            hi = float(np.median(fg.astype(np.float64))) / self.median_grey
        else:
            hi = float(np.percentile(fg.astype(np.float64), self.upper_percentile)) if fg.size else float(a.max())
        return 0.0, hi if hi > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"upper_percentile": float(self.upper_percentile)}
        if self.median_grey is not None:
            d["median_grey"] = float(self.median_grey)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DisplayWindow:
        mg = d.get("median_grey")
        return cls(float(d["upper_percentile"]), None if mg is None else float(mg))


@dataclass(frozen=True)
class RandomDisplayWindow:
    """Upper percentile drawn uniformly from ``percentile_range`` per image."""

    percentile_range: tuple[float, float] = (98.0, 99.9)
    median_grey_range: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "percentile_range",
                           range_pair("display_window_percentile", self.percentile_range, 50.0, 100.0))
        if self.median_grey_range is not None:
            object.__setattr__(self, "median_grey_range",
                               range_pair("display_median_grey", self.median_grey_range, 0.05, 0.95))

    def sample(self, rng: np.random.Generator) -> DisplayWindow:
        q = float(rng.uniform(*self.percentile_range))
        g = None if self.median_grey_range is None else float(rng.uniform(*self.median_grey_range))
        return DisplayWindow(q, g)
