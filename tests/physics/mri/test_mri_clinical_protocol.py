"""Clinical protocol geometry (thick slices with gaps, FOV, positioning), k-space apodisation, display window.

Analytic references: a slab of thickness w averages exactly w input voxels (box filter; the partial-volume
model of Santago & Gage, IEEE TMI 1993); the Hamming window is 0.54 + 0.46 cos(pi r), 1 at the k-space
centre and 0.08 at the edge (Harris, Proc IEEE 1978); a Fermi filter is 1/2 at its radius (Bernstein et al.,
Handbook of MRI Pulse Sequences 2004, sec. 13.1.2); filtered white noise keeps its variance when the filter
is divided by its RMS gain (Parseval).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsynth.core.errors import RadsynthInputError
from radsynth.physics.mri.acquisition import Acquisition, acquire
from radsynth.physics.mri.clinical_protocol import ClinicalProtocol, RandomClinicalProtocol, slice_axis_of
from radsynth.physics.mri.display_window import DisplayWindow, RandomDisplayWindow
from radsynth.physics.mri.kspace_filter import KSpaceFilter, RandomKSpaceFilter, window_profile
from radsynth.physics.mri.partial_volume import resample_labels_to_voxel_size, resample_to_voxel_size, slab_matrix
from radsynth.physics.mri.rician_noise import RicianNoise


def test_slab_matrix_averages_each_slice_over_its_thickness_and_skips_the_gap():
    m = slab_matrix(30, 6.0, 5.0).toarray()  # 5 mm slices every 6 mm on a 1 mm grid
    assert m.shape == (5, 30)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, rtol=1e-6)
    for j in range(5):
        np.testing.assert_allclose(m[j, 6 * j: 6 * j + 5], 0.2, rtol=1e-6)
        assert m[j, 6 * j + 5] == 0  # the gap voxel is not sampled
    # fractional thickness: 2.5 voxels -> weights 0.4, 0.4, 0.2
    np.testing.assert_allclose(slab_matrix(10, 4.0, 2.5).toarray()[1, 4:7], [0.4, 0.4, 0.2], rtol=1e-6)


def test_gap_resampling_keeps_constants_and_places_slice_centres():
    affine = np.eye(4)
    img = np.full((8, 8, 40), 3.0, np.float32)
    out, new = resample_to_voxel_size(img, affine, (1.0, 1.0, 5.0), gap_mm=[0.0, 0.0, 1.0])
    assert out.shape == (8, 8, 6)
    np.testing.assert_allclose(out, 3.0, rtol=1e-6)
    assert new[2, 2] == pytest.approx(6.0)  # spacing = thickness + gap
    assert new[2, 3] == pytest.approx(2.0)  # slice 0 averages voxels 0..4: centre at 2
    # a ramp along z: each slice's value is the mean of its own 5 voxels (the gap voxel is skipped)
    ramp = np.broadcast_to(np.arange(40, dtype=np.float32), (2, 2, 40)).copy()
    r, _ = resample_to_voxel_size(ramp, affine, (1.0, 1.0, 5.0), gap_mm=[0.0, 0.0, 1.0])
    np.testing.assert_allclose(r[0, 0], [6 * j + 2 for j in range(6)], rtol=1e-6)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), thick=st.floats(1.0, 6.0), gap=st.floats(0.0, 2.0))
def test_labels_resampled_with_gaps_align_with_the_image_of_their_indicator(seed, thick, gap):
    """Property: the majority label of each output voxel is 1 exactly where the resampled indicator > 1/2."""
    rng = np.random.default_rng(seed)
    lab = (rng.random((6, 5, 24)) < 0.5).astype(np.int16)
    lab = np.where(rng.random(lab.shape) < 0.5, lab, np.roll(lab, 1, axis=2))
    affine = np.eye(4)
    frac, a1 = resample_to_voxel_size(lab.astype(np.float32), affine, (1.0, 1.0, thick), gap_mm=[0, 0, gap])
    out, a2 = resample_labels_to_voxel_size(lab, affine, (1.0, 1.0, thick), gap_mm=[0, 0, gap])
    np.testing.assert_allclose(a1, a2)
    assert out.shape == frac.shape
    decided = np.abs(frac - 0.5) > 1e-5
    np.testing.assert_array_equal(out[decided] == 1, frac[decided] > 0.5)


def test_field_of_view_crops_and_pads_labels_without_moving_the_anatomy():
    lab = np.zeros((60, 70, 30), np.int16)
    lab[20:40, 25:45, 5:25] = 2
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = (-30, -35, -15)
    p = ClinicalProtocol(slice_thickness_mm=5, slice_gap_mm=1, in_plane_mm=1, fov_mm=100, fov_offset_mm=(4, -6),
                         slice_offset_mm=3)
    out, new = p.field_of_view(lab, affine)
    assert out.shape == (100, 100, 27)
    # same world position holds the same label (integer-voxel crop/pad: no interpolation)
    for ijk in [(25, 30, 10), (0, 0, 0), (39, 44, 24)]:
        world = affine @ np.array([*ijk, 1.0])
        idx = np.rint(np.linalg.solve(new, world)[:3]).astype(int)
        assert out[tuple(idx)] == lab[ijk]
    assert (out == 2).sum() == (lab == 2).sum()  # nothing cropped from the head: padding only
    # the head's centre sits at the FOV centre minus the positioning offset
    c = np.argwhere(out == 2).mean(axis=0)
    assert c[0] == pytest.approx(49.5 - 4, abs=0.6) and c[1] == pytest.approx(49.5 + 6, abs=0.6)
    geo = p.acquisition_geometry(new)
    assert geo == {"voxel_size_mm": (1.0, 1.0, 5.0), "slice_gap_mm": 1.0, "slice_axis": 2}


def test_rectangular_fov_narrows_the_left_right_axis_only():
    """Phase FOV 75 % of a 100 mm read-out FOV: 75 left-right pixels, 100 anterior-posterior, on any axis order
    (the left-right axis is the one closest to R in the affine); the square FOV record is unchanged."""
    lab = np.zeros((60, 70, 30), np.int16)
    lab[20:40, 25:45, 5:25] = 2
    p = ClinicalProtocol(slice_thickness_mm=5, slice_gap_mm=0, in_plane_mm=1, fov_mm=100, phase_fov_fraction=0.75)
    out, _ = p.field_of_view(lab, np.eye(4))
    assert out.shape[:2] == (75, 100) and (out == 2).sum() == (lab == 2).sum()
    swapped = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float)  # axis 1 is R
    out2, _ = p.field_of_view(lab, swapped)
    assert out2.shape[:2] == (100, 75)
    assert ClinicalProtocol.from_dict(p.to_dict()) == p
    assert "phase_fov_fraction" not in ClinicalProtocol().to_dict()
    with pytest.raises(RadsynthInputError, match="protocol.phase_fov_fraction"):
        ClinicalProtocol(phase_fov_fraction=0.3)


def test_square_fov_specs_draw_what_they_drew_before_the_phase_fov():
    """(1, 1) draws nothing: the stream (and every later draw) is as before the field existed."""
    a = RandomClinicalProtocol().sample(np.random.default_rng(9))
    rng = np.random.default_rng(9)
    b = RandomClinicalProtocol(phase_fov_fraction=(0.75, 0.9)).sample(rng)
    assert a.phase_fov_fraction == 1.0 and 0.75 <= b.phase_fov_fraction <= 0.9
    assert (a.slice_thickness_mm, a.fov_mm, a.slice_offset_mm) == (b.slice_thickness_mm, b.fov_mm, b.slice_offset_mm)


def test_slice_axis_follows_the_superior_direction():
    a = np.array([[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]], float)
    assert slice_axis_of(a) == 1
    assert slice_axis_of(np.eye(4)) == 2


def test_protocol_round_trips_and_rejects_bad_values():
    p = RandomClinicalProtocol().sample(np.random.default_rng(5))
    assert 4.0 <= p.slice_thickness_mm <= 6.0 and 0 <= p.slice_gap_mm <= 0.3 * p.slice_thickness_mm
    assert 220 <= p.fov_mm <= 250 and all(abs(x) <= 10 for x in p.fov_offset_mm)
    assert ClinicalProtocol.from_dict(p.to_dict()) == p
    with pytest.raises(RadsynthInputError, match="protocol.slice_thickness_mm"):
        ClinicalProtocol(slice_thickness_mm=0.1)
    with pytest.raises(RadsynthInputError, match="protocol.fov_mm"):
        RandomClinicalProtocol(fov_mm=(250.0, 220.0))
    with pytest.raises(RadsynthInputError, match="protocol.fov_offset_mm"):
        ClinicalProtocol(fov_offset_mm=(0.0, 500.0))


def test_kspace_windows_match_their_definitions():
    r = np.array([0.0, 0.5, 1.0, 1.2])
    np.testing.assert_allclose(window_profile(r, "hamming"), [1.0, 0.54, 0.08, 0.0], atol=1e-12)
    np.testing.assert_allclose(window_profile(r, "hann"), [1.0, 0.5, 0.0, 0.0], atol=1e-12)
    assert window_profile(np.array([0.8]), "fermi", 0.8, 0.05)[0] == pytest.approx(0.5)
    w = KSpaceFilter("hamming", strength=0.5, axes=(0,)).kspace_weights((64, 8))
    assert set(w) == {0} and w[0][0] == pytest.approx(1.0) and w[0][32].real == pytest.approx(1 - 0.5 * 0.92, abs=0.02)
    assert np.all(KSpaceFilter("hann", strength=0.0).kspace_weights((16, 16))[1] == 1)
    f = RandomKSpaceFilter(windows=("fermi",)).sample(np.random.default_rng(1))
    assert KSpaceFilter.from_dict(f.to_dict()) == f
    with pytest.raises(RadsynthInputError, match="kspace_filter.window"):
        KSpaceFilter("gaussian")


def test_filtered_noise_keeps_sigma_and_is_spatially_correlated():
    sigma = 2.0
    filt = KSpaceFilter("hann", strength=1.0, axes=(0, 1)).kspace_weights((256, 256))
    z = RicianNoise(sigma, 7).apply(np.zeros((256, 256), np.float32), noise_filter=filt)
    # Rayleigh background: mean sigma sqrt(pi/2) (Gudbjartsson & Patz, MRM 1995)
    assert z.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.03)
    white = RicianNoise(sigma, 7).apply(np.zeros((256, 256), np.float32))
    corr = lambda a: np.corrcoef(a[:, :-1].ravel(), a[:, 1:].ravel())[0, 1]  # noqa: E731
    assert corr(z) > 0.3 > 0.05 > abs(corr(white))


def test_acquisition_with_filter_and_gap_replays_bit_exactly():
    rng = np.random.default_rng(0)
    sig = np.zeros((32, 32, 30), np.float32)
    sig[8:24, 8:24, 5:25] = 100.0
    acq = Acquisition(voxel_size_mm=(1.0, 1.0, 4.0), slice_gap_mm=1.0, snr=20.0, gibbs=True,
                      kspace_filter=("hamming", "fermi"), kspace_filter_axes=(0, 1))
    img, aff, sampled = acquire(sig, np.eye(4), acq, rng=rng)
    assert img.shape == (32, 32, 6) and aff[2, 2] == pytest.approx(5.0)
    assert sampled["kspace_filter"]["window"] in ("hamming", "fermi")
    again, _, _ = acquire(sig, np.eye(4), acq, sampled=sampled)
    np.testing.assert_array_equal(img, again)
    with pytest.raises(RadsynthInputError, match="kspace_filter"):
        Acquisition(kspace_filter=("box",))
    with pytest.raises(RadsynthInputError, match="slice_gap_mm"):
        Acquisition(slice_gap_mm=-1.0)


def test_display_window_is_a_foreground_percentile():
    img = np.zeros((10, 10, 10), np.float32)
    img[2:8, 2:8, 2:8] = np.linspace(1, 100, 216, dtype=np.float32).reshape(6, 6, 6)
    lo, hi = DisplayWindow(90.0).window(img)
    fg = img[img > 0.1 * np.percentile(img, 99.9)]
    assert lo == 0.0 and hi == pytest.approx(np.percentile(fg, 90.0))
    # windowed on a mask (the generator's intracranial voxels): bright voxels outside it saturate
    mask = np.zeros_like(img, dtype=bool)
    mask[2:5, 2:8, 2:8] = True  # the lower half of the values
    lo, hi = DisplayWindow(99.0).window(img, mask=mask)
    assert hi == pytest.approx(np.percentile(img[mask], 99.0)) and hi < img.max() / 1.5
    with pytest.raises(RadsynthInputError, match="display_window mask"):
        DisplayWindow(99.0).window(img, mask=mask[0])
    # histogram auto-window: the reference median lands at the requested grey
    lo, hi = DisplayWindow(median_grey=0.4).window(img, mask=mask)
    assert np.median(img[mask]) / hi == pytest.approx(0.4)
    g = RandomDisplayWindow(median_grey_range=(0.3, 0.45)).sample(np.random.default_rng(2))
    assert 0.3 <= g.median_grey <= 0.45 and DisplayWindow.from_dict(g.to_dict()) == g
    with pytest.raises(RadsynthInputError, match="display_median_grey"):
        DisplayWindow(median_grey=1.5)
    w = RandomDisplayWindow((95.0, 99.0)).sample(np.random.default_rng(3))
    assert 95 <= w.upper_percentile <= 99 and DisplayWindow.from_dict(w.to_dict()) == w
    with pytest.raises(RadsynthInputError, match="display_window_percentile"):
        DisplayWindow(20.0)
