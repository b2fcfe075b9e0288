"""Projection radiography geometry: point source, flat detector, patient in between.

A :class:`RadiographGeometry` is a frozen, JSON-serialisable description of one view:

* ``view``: ``"PA"`` (posterior-anterior: source behind the patient, detector in front;
  the standard erect chest view), ``"AP"`` (anterior-posterior: source in front, detector
  behind; the portable / supine view) or ``"LAT"`` (left lateral: beam enters the
  patient's right side, detector at the patient's left).
* ``source_to_image_mm`` (SID): focal spot to detector plane along the central ray
  (PA chest 1800 mm; AP portable ~1000 mm).
* ``object_to_image_mm`` (OID): patient centre (the isocentre, see below) to detector
  plane (PA chest ~150 mm: the chest is against the detector).
* ``detector_rows`` x ``detector_cols`` pixels of pitch ``pixel_mm``.
* ``centre_offset_mm``: shift (RAS mm) of the isocentre from the centre of the volume box
  (patient positioning).

Derived: ``source_to_object_mm`` (SOD) = SID - OID and ``magnification`` = SID / SOD of
an object at the isocentre.

World frame: RAS+ mm (+x = patient's right, +y = anterior, +z = superior; the world
frame of every radsynth affine). The isocentre is the centre of the volume's voxel box
(``affine @ (shape - 1) / 2``) plus ``centre_offset_mm``. The central ray runs from the
source through the isocentre, perpendicular to the detector, and hits the detector
centre.

Detector axes are chosen so that projections come out DISPLAY-ORIENTED (how a reader
hangs the film; rows top to bottom, columns left to right):

=====  ================  ==============  ===================================  ================
view   source            detector        columns run (image left -> right)    rows run
=====  ================  ==============  ===================================  ================
PA     posterior (-y)    anterior (+y)   patient's right -> left (-x world)   superior -> inferior
AP     anterior (+y)     posterior (-y)  patient's right -> left (-x world)   superior -> inferior
LAT    right (+x)        left (-x)       anterior -> posterior (-y world)     superior -> inferior
=====  ================  ==============  ===================================  ================

PA and AP are both shown as if the viewer faces the patient (patient's right on the
image left), which is the display convention for frontal chest films regardless of beam
direction; the detector-side (raw) image of an AP view is therefore the left-right mirror
of what the detector "sees" from behind. LAT is shown as seen from the detector side
(anterior on image left), the sagittal convention of :mod:`radsynth.io.png`. For PA/AP
these match :func:`radsynth.io.png.projection_for_display`: a display array ``D`` stored
in an ImageRecord as ``a = display_to_xz(D)`` has ``a[i, j] = D[rows-1-j, cols-1-i]``,
i.e. i runs along +x (towards the patient's right) and j along +z (superior), the
(x, z) layout that ``projection_affine`` describes.

Non-physical geometry raises :class:`~radsynth.core.errors.RadsynthInputError` naming the
field: SID <= 0, OID < 0 or >= SID (patient at or behind the source), pixel pitch <= 0,
and (checked against a volume by :meth:`RadiographGeometry.frame`) a volume box that
reaches the source. A detector plane that cuts the volume box is allowed: rays end at
the detector, so anything beyond it (usually air or the table) is not projected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from radsynth.core.checks import check_dataclass_keys
from radsynth.core.errors import RadsynthInputError

VIEWS = ("PA", "AP", "LAT")
_ALIASES = {"PA": "PA", "AP": "AP", "LAT": "LAT", "LATERAL": "LAT", "LL": "LAT"}

#: Per view: (beam direction, detector column step direction, detector row step direction), RAS.
_AXES = {
    "PA": ((0.0, 1.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "AP": ((0.0, -1.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "LAT": ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, -1.0)),
}
#: DICOM View Position (0018,5101) of each view.
DICOM_VIEW_POSITION = {"PA": "PA", "AP": "AP", "LAT": "LL"}


class RayFrame(NamedTuple):
    """World (RAS mm) description of a geometry placed on a volume.

    ``pixel(r, c) = origin_mm + c * col_step_mm + r * row_step_mm`` is the centre of
    detector pixel (row r, column c).
    """

    source_mm: np.ndarray
    origin_mm: np.ndarray
    col_step_mm: np.ndarray
    row_step_mm: np.ndarray
    beam_dir: np.ndarray
    isocentre_mm: np.ndarray

    def pixel_mm(self, row: float, col: float) -> np.ndarray:
        return self.origin_mm + col * self.col_step_mm + row * self.row_step_mm


def volume_centre_mm(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """World (RAS mm) centre of a volume's voxel box: ``affine @ (shape - 1) / 2``."""
    a = np.asarray(affine, dtype=np.float64)
    c = (np.asarray(shape[:3], dtype=np.float64) - 1.0) / 2.0
    return a[:3, :3] @ c + a[:3, 3]


def volume_corners_mm(affine: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(8, 3) world corners of the voxel box (voxel faces, i.e. index -0.5 .. n - 0.5)."""
    a = np.asarray(affine, dtype=np.float64)
    n = np.asarray(shape[:3], dtype=np.float64)
    idx = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.float64)
    pts = -0.5 + idx * n
    return pts @ a[:3, :3].T + a[:3, 3]


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise RadsynthInputError(name, value, "a number")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise RadsynthInputError(name, value, "a number") from None
    if not math.isfinite(v):
        raise RadsynthInputError(name, value, "a finite number")
    return v


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) and not (
            isinstance(value, float) and value.is_integer()):
        raise RadsynthInputError(name, value, "an integer in [1, 8192]")
    v = int(value)
    if not 1 <= v <= 8192:
        raise RadsynthInputError(name, value, "an integer in [1, 8192]")
    return v


@dataclass(frozen=True)
class RadiographGeometry:
    """One projection view (see module docstring for frames and display orientation).

    Attributes:
        view: "PA", "AP" or "LAT" (left lateral).
        source_to_image_mm: SID, focal spot to detector (mm), in (0, 10000].
        object_to_image_mm: OID, isocentre to detector (mm), in [0, SID).
        detector_rows, detector_cols: detector size in pixels (1-8192).
        pixel_mm: detector pixel pitch (mm), in (0, 10].
        centre_offset_mm: isocentre shift from the volume-box centre (RAS mm).
    """

    view: str = "PA"
    source_to_image_mm: float = 1800.0
    object_to_image_mm: float = 150.0
    detector_rows: int = 256
    detector_cols: int = 256
    pixel_mm: float = 1.6
    centre_offset_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        view = _ALIASES.get(str(self.view).upper()) if isinstance(self.view, str) else None
        if view is None:
            raise RadsynthInputError("view", self.view, f"one of {list(VIEWS)}")
        set_(self, "view", view)
        sid = _finite("source_to_image_mm", self.source_to_image_mm)
        if not 0.0 < sid <= 10000.0:
            raise RadsynthInputError("source_to_image_mm", self.source_to_image_mm,
                                     "a distance in (0, 10000] mm (the detector must lie in front of the source)")
        set_(self, "source_to_image_mm", sid)
        oid = _finite("object_to_image_mm", self.object_to_image_mm)
        if not 0.0 <= oid < sid:
            raise RadsynthInputError("object_to_image_mm", self.object_to_image_mm,
                                     f"a distance in [0, source_to_image_mm={sid:g}) mm "
                                     "(the patient lies between source and detector)")
        set_(self, "object_to_image_mm", oid)
        set_(self, "detector_rows", _count("detector_rows", self.detector_rows))
        set_(self, "detector_cols", _count("detector_cols", self.detector_cols))
        pix = _finite("pixel_mm", self.pixel_mm)
        if not 0.0 < pix <= 10.0:
            raise RadsynthInputError("pixel_mm", self.pixel_mm, "a detector pitch in (0, 10] mm")
        set_(self, "pixel_mm", pix)
        try:
            off = tuple(_finite("centre_offset_mm", v) for v in self.centre_offset_mm)
        except TypeError:
            off = ()
        if len(off) != 3:
            raise RadsynthInputError("centre_offset_mm", self.centre_offset_mm, "three finite numbers (x, y, z) mm")
        set_(self, "centre_offset_mm", off)

    # ------------------------------------------------------------------ derived
    @property
    def source_to_object_mm(self) -> float:
        """SOD: focal spot to isocentre (mm)."""
        return self.source_to_image_mm - self.object_to_image_mm

    @property
    def magnification(self) -> float:
        """SID / SOD: magnification of an object at the isocentre."""
        return self.source_to_image_mm / self.source_to_object_mm

    @property
    def shape(self) -> tuple[int, int]:
        return (self.detector_rows, self.detector_cols)

    @property
    def detector_size_mm(self) -> tuple[float, float]:
        return (self.detector_rows * self.pixel_mm, self.detector_cols * self.pixel_mm)

    @property
    def pixel_at_isocentre_mm(self) -> float:
        """Detector pitch projected back to the isocentre plane (pixel_mm / magnification)."""
        return self.pixel_mm / self.magnification

    @property
    def dicom_view_position(self) -> str:
        return DICOM_VIEW_POSITION[self.view]

    # ------------------------------------------------------------------ placement
    def frame(self, affine: np.ndarray | None = None, shape: tuple[int, ...] | None = None,
              centre_mm: np.ndarray | None = None) -> RayFrame:
        """Place the geometry in the world.

        The isocentre is ``centre_mm`` if given, else the centre of the volume box of
        (``affine``, ``shape``), plus ``centre_offset_mm``. With a volume given, a box that
        reaches the source raises RadsynthInputError("source_to_image_mm", ...).
        """
        if centre_mm is None:
            if affine is None or shape is None:
                raise ValueError("frame() needs centre_mm or both affine and shape")
            centre = volume_centre_mm(affine, shape)
        else:
            centre = np.asarray(centre_mm, dtype=np.float64).reshape(3)
        iso = centre + np.asarray(self.centre_offset_mm, dtype=np.float64)
        beam, du, dv = (np.asarray(a, dtype=np.float64) for a in _AXES[self.view])
        source = iso - self.source_to_object_mm * beam
        det_centre = iso + self.object_to_image_mm * beam
        col_step = du * self.pixel_mm
        row_step = dv * self.pixel_mm
        origin = det_centre - (self.detector_cols - 1) / 2.0 * col_step - (self.detector_rows - 1) / 2.0 * row_step
        if affine is not None and shape is not None:
            corners = volume_corners_mm(affine, shape)
            depth = (corners - source) @ beam
            if float(depth.min()) <= 0.0:
                raise RadsynthInputError(
                    "source_to_image_mm", self.source_to_image_mm,
                    f"a source outside the patient volume: the volume box reaches {-float(depth.min()):.1f} mm "
                    f"behind the source at SOD={self.source_to_object_mm:g} mm",
                    "Increase source_to_image_mm or reduce object_to_image_mm.")
        return RayFrame(source, origin, col_step, row_step, beam, iso)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "source_to_image_mm": float(self.source_to_image_mm),
            "object_to_image_mm": float(self.object_to_image_mm),
            "detector_rows": int(self.detector_rows),
            "detector_cols": int(self.detector_cols),
            "pixel_mm": float(self.pixel_mm),
            "centre_offset_mm": [float(v) for v in self.centre_offset_mm],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RadiographGeometry":
        check_dataclass_keys("geometry", d, cls)
        return cls(**d)


#: Typical chest set-ups per view: (SID, OID) mm. PA erect at 180 cm with the chest on the
#: detector; AP portable (bedside) at ~100 cm with the detector behind the patient; left
#: lateral at 180 cm with ~half the chest width (~170-200 mm) between isocentre and detector.
TYPICAL_CHEST_MM = {"PA": (1800.0, 150.0), "AP": (1000.0, 150.0), "LAT": (1800.0, 200.0)}


def default_geometry(view: str = "PA", **overrides: Any) -> RadiographGeometry:
    """A :class:`RadiographGeometry` with the typical chest SID/OID of ``view`` (see TYPICAL_CHEST_MM)."""
    v = _ALIASES.get(str(view).upper())
    if v is None:
        raise RadsynthInputError("view", view, f"one of {list(VIEWS)}")
    sid, oid = TYPICAL_CHEST_MM[v]
    kw: dict[str, Any] = {"view": v, "source_to_image_mm": sid, "object_to_image_mm": oid}
    kw.update(overrides)
    return RadiographGeometry(**kw)
