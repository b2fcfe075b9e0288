"""Titanium implant (radsynth.physics.ct.metal): geometry, replay, and metal streaks from the physics."""

import math

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.core.material_volume import MaterialVolume
from radsynth.physics.ct.ct_scan import CTScan, simulate_ct
from radsynth.physics.ct.metal import MetalImplant, RandomMetalImplant

N, PX = 96, 2.5


def phantom(nz: int = 1, dz: float = 2.5) -> MaterialVolume:
    x = (np.arange(N) - (N - 1) / 2) * PX
    X, Y = np.meshgrid(x, x, indexing="ij")
    mat = np.zeros((N, N, nz), np.uint8)
    dens = np.full((N, N, nz), 0.001205, np.float32)
    w = np.broadcast_to((X ** 2 + Y ** 2 < 100 ** 2)[..., None], mat.shape)
    mat[w], dens[w] = 1, 1.0
    aff = np.diag([PX, PX, dz, 1.0])
    aff[:3, 3] = [-(N - 1) / 2 * PX, -(N - 1) / 2 * PX, 0.0]
    return MaterialVolume(mat, dens, ["air", "water"], aff, np.zeros(mat.shape, np.int16))


def test_cylinder_volume_matches_pi_r2_l():
    vol = phantom(nz=60, dz=1.0)
    imp = MetalImplant(center_mm=(0.0, 0.0, 30.0), direction=(0.0, 0.3, 1.0), radius_mm=6.0, length_mm=40.0)
    m = imp.mask(vol.shape, vol.affine)
    ml = m.sum() * vol.voxel_ml
    assert ml == pytest.approx(math.pi * 6.0 ** 2 * 40.0 / 1000.0, rel=0.08)


def test_apply_copies_and_adds_titanium():
    vol = phantom()
    imp = MetalImplant(center_mm=(30.0, 0.0, 0.0), direction=(0, 1, 0), radius_mm=3.0, length_mm=40.0, label=99)
    out = imp.apply(vol)
    assert "titanium" not in vol.names and "titanium" in out.names
    ti = out.mask_of("titanium")
    assert ti.sum() > 0 and np.all(out.density_g_cm3[ti] == pytest.approx(4.506))
    assert np.all(out.labels[ti] == 99) and out.label_names[99] == "metal_implant"


def test_metal_produces_streaks():
    # Two screws in a water cylinder: photon starvation + beam hardening streak the water between them.
    vol = phantom()
    for cx in (-25.0, 25.0):
        vol = MetalImplant(center_mm=(cx, 0.0, 0.0), direction=(0, 1, 0), radius_mm=4.0, length_mm=50.0).apply(vol)
    scan = CTScan(n_views=240, mas=50.0)
    clean = simulate_ct(phantom(), scan, noise_free=True)[..., 0]
    metal = simulate_ct(vol, scan, noise_free=True)[..., 0]
    x = (np.arange(N) - (N - 1) / 2) * PX
    X, Y = np.meshgrid(x, x, indexing="ij")
    ring = (X ** 2 + Y ** 2 < 80 ** 2) & (X ** 2 + Y ** 2 > 45 ** 2)
    assert float(metal[ring].std()) > 5 * float(clean[ring].std()) + 5.0
    assert float(metal[np.abs(X) < 8][np.abs(Y[np.abs(X) < 8]) < 8].mean()) < -20  # dark band between them
    assert float(metal[(X - 25) ** 2 + Y ** 2 < 2 ** 2].mean()) > 3000


def test_random_twin_replays_and_stays_in_host():
    vol = phantom(nz=20, dz=2.0)
    host = np.zeros(vol.shape, bool)
    host[60:66, 40:50, 8:12] = True
    r = RandomMetalImplant(label=7)
    a = r.sample(np.random.default_rng(1), host, vol.affine)
    assert a == r.sample(np.random.default_rng(1), host, vol.affine)
    assert MetalImplant.from_dict(a.to_dict()) == a
    assert RandomMetalImplant.from_dict(r.to_dict()) == r
    ijk = np.linalg.inv(vol.affine) @ np.r_[a.center_mm, 1.0]
    assert host[tuple(np.round(ijk[:3]).astype(int))]
    assert 2.5 <= a.radius_mm <= 3.5 and 35 <= a.length_mm <= 50


def test_bad_input():
    with pytest.raises(RadsynthInputError, match="radius_mm"):
        MetalImplant(center_mm=(0, 0, 0), radius_mm=0.0)
    with pytest.raises(RadsynthInputError, match="material"):
        MetalImplant(center_mm=(0, 0, 0), material="unobtainium")
    with pytest.raises(RadsynthInputError, match="host_mask"):
        RandomMetalImplant().sample(np.random.default_rng(0), np.zeros((4, 4, 4), bool), np.eye(4))
    with pytest.raises(RadsynthInputError, match="direction"):
        MetalImplant(center_mm=(0, 0, 0), direction=(0, 0, 0))
