"""Radiograph geometry: frames per view, magnification, serialisation and non-physical set-ups."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.xray.geometry import (
    RadiographGeometry,
    default_geometry,
    volume_centre_mm,
    volume_corners_mm,
)

AFF = np.diag([2.0, 2.0, 2.0, 1.0])
SHAPE = (20, 20, 20)


def test_defaults_and_magnification():
    g = RadiographGeometry()
    assert g.view == "PA" and g.source_to_object_mm == 1650.0
    assert g.magnification == pytest.approx(1800.0 / 1650.0)
    assert g.pixel_at_isocentre_mm == pytest.approx(1.6 * 1650.0 / 1800.0)
    assert default_geometry("AP").source_to_image_mm == 1000.0
    assert RadiographGeometry(view="lateral").view == "LAT"
    assert RadiographGeometry(view="LAT").dicom_view_position == "LL"


@pytest.mark.parametrize("view,beam,col,src_axis", [
    ("PA", (0, 1, 0), (-1, 0, 0), (0, -1, 0)),   # source posterior, detector anterior
    ("AP", (0, -1, 0), (-1, 0, 0), (0, 1, 0)),   # source anterior
    ("LAT", (-1, 0, 0), (0, -1, 0), (1, 0, 0)),  # source at the patient's right (+x in RAS)
])
def test_frames(view, beam, col, src_axis):
    g = RadiographGeometry(view=view, source_to_image_mm=1000, object_to_image_mm=100, detector_rows=5,
                           detector_cols=7, pixel_mm=2.0)
    f = g.frame(AFF, SHAPE)
    iso = volume_centre_mm(AFF, SHAPE)
    np.testing.assert_allclose(f.isocentre_mm, iso)
    np.testing.assert_allclose(f.beam_dir, beam)
    np.testing.assert_allclose(f.source_mm, iso + 900.0 * np.asarray(src_axis))
    np.testing.assert_allclose(f.col_step_mm, 2.0 * np.asarray(col))
    np.testing.assert_allclose(f.row_step_mm, (0, 0, -2.0))  # rows run superior -> inferior
    centre_px = f.pixel_mm(2, 3)
    np.testing.assert_allclose(centre_px, iso + 100.0 * np.asarray(beam))
    assert np.linalg.norm(centre_px - f.source_mm) == pytest.approx(1000.0)


def test_centre_offset_moves_isocentre():
    g = RadiographGeometry(centre_offset_mm=(10, 0, -5))
    f = g.frame(AFF, SHAPE)
    np.testing.assert_allclose(f.isocentre_mm - volume_centre_mm(AFF, SHAPE), (10, 0, -5))


def test_corners():
    c = volume_corners_mm(AFF, (2, 3, 4))
    np.testing.assert_allclose(c.min(axis=0), (-1, -1, -1))
    np.testing.assert_allclose(c.max(axis=0), (3, 5, 7))


def test_roundtrip():
    g = RadiographGeometry("AP", 1000.5, 120.25, 100, 90, 1.3, (1.5, -2.0, 0.0))
    d = json.loads(json.dumps(g.to_dict()))
    assert RadiographGeometry.from_dict(d) == g
    with pytest.raises(RadsynthInputError, match="geometry"):
        RadiographGeometry.from_dict({**d, "sid": 3})


@pytest.mark.parametrize("kw,field", [
    ({"view": "OBLIQUE"}, "view"),
    ({"source_to_image_mm": 0}, "source_to_image_mm"),
    ({"source_to_image_mm": -1000}, "source_to_image_mm"),
    ({"source_to_image_mm": float("nan")}, "source_to_image_mm"),
    ({"object_to_image_mm": 1800}, "object_to_image_mm"),
    ({"object_to_image_mm": 2000}, "object_to_image_mm"),
    ({"object_to_image_mm": -1}, "object_to_image_mm"),
    ({"pixel_mm": 0}, "pixel_mm"),
    ({"pixel_mm": -0.5}, "pixel_mm"),
    ({"detector_rows": 0}, "detector_rows"),
    ({"detector_cols": 2.5}, "detector_cols"),
    ({"centre_offset_mm": (1, 2)}, "centre_offset_mm"),
])
def test_non_physical_geometry(kw, field):
    with pytest.raises(RadsynthInputError) as e:
        RadiographGeometry(**kw)
    assert e.value.field == field


def test_volume_reaching_the_source():
    g = RadiographGeometry(source_to_image_mm=300, object_to_image_mm=150)  # SOD 150 mm
    big = (200, 200, 10)  # 400 mm box at 2 mm: reaches 200 mm behind the isocentre
    with pytest.raises(RadsynthInputError) as e:
        g.frame(AFF, big)
    assert e.value.field == "source_to_image_mm"
    g.frame(AFF, SHAPE)  # a 40 mm box is fine
