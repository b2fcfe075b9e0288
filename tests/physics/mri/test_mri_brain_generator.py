"""Acceptance checks of the mri-brain generator on its own outputs (shipped anatomy).

Contrast orderings follow the relaxation-time orderings of brain tissue (e.g.
Stanisz et al., MRM 2005; Wansapura et al., JMRI 1999): on T1-weighted images
WM > GM > CSF, on T2-weighted CSF > GM > WM, and FLAIR nulls CSF.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from radsynth.cohort.generator import SubjectPlan
from radsynth.core import labels as L
from radsynth.physics.mri.brain_generator import BrainMRIConfig, BrainMRIGenerator


def _plan(seed=3, age=40, tumour=False, stroke=False, sex="F"):
    return SubjectPlan(index=0, subject_id="sub-0001", seed=seed, labels={"tumour": tumour, "stroke": stroke},
                       attributes={"age_years": age, "sex": sex}, formats=("nifti",))


def _tissue_mask(lab: np.ndarray, tissue: str) -> np.ndarray:
    ids = [k for k, v in L.LABEL_TO_TISSUE.items() if v == tissue]
    return np.isin(lab, ids)


@pytest.fixture(scope="module")
def lesion_subject():
    cfg = BrainMRIConfig(sequences=["T1w", "T2w", "FLAIR"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0))
    return BrainMRIGenerator(cfg).generate(_plan(tumour=True, stroke=True))


def test_contrast_orderings(lesion_subject):
    lab = lesion_subject.mask("labels").array
    means = {}
    for seq in ("T1w", "T2w", "FLAIR"):
        img = lesion_subject.image(seq).array
        means[seq] = {t: float(img[_tissue_mask(lab, t)].mean()) for t in ("wm", "gm", "csf")}
    t1, t2, fl = means["T1w"], means["T2w"], means["FLAIR"]
    assert t1["wm"] > t1["gm"] > t1["csf"], t1
    assert t2["csf"] > t2["gm"] > t2["wm"], t2
    assert fl["csf"] < 0.5 * fl["wm"] and fl["csf"] < 0.5 * fl["gm"], fl


def test_masks_align_with_images_and_lesions_have_expected_signal(lesion_subject):
    s = lesion_subject
    for m in s.masks:
        for im in s.images:
            assert m.array.shape == im.array.shape
            assert np.allclose(im.affine, s.affine)
    lab = s.mask("labels").array
    flair, t1c = s.image("FLAIR").array, s.image("T1c").array
    wm = _tissue_mask(lab, "wm")
    oedema = lab == L.TUMOUR_OEDEMA
    assert oedema.sum() > 0 and flair[oedema].mean() > 1.2 * flair[wm].mean()
    enh, nec = lab == L.TUMOUR_ENHANCING, lab == L.TUMOUR_NECROSIS
    assert enh.sum() > 0 and t1c[enh].mean() > t1c[wm].mean()
    if nec.sum() > 10:
        assert t1c[enh].mean() > 1.2 * t1c[nec].mean()
    infarct = s.mask("infarct").array.astype(bool)
    assert infarct.sum() > 0 and flair[infarct].mean() > flair[_tissue_mask(lab, "gm") & ~infarct].mean()
    np.testing.assert_array_equal(s.mask("tumour_whole").array.astype(bool), np.isin(lab, list(L.LESION_LABELS - {L.INFARCT})))


def test_measured_rician_snr_within_10_percent_of_requested():
    cfg = BrainMRIConfig(
        sequences=["T1w"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0), snr=(20.0, 20.0),
        artefacts={"gibbs": False, "motion_ghosting_probability": 0.0, "bias_field_strength": 0.0},
    )
    s = BrainMRIGenerator(cfg).generate(_plan(seed=9))
    img, lab = s.image("T1w").array, s.mask("labels").array
    from scipy import ndimage

    head = ndimage.binary_dilation(lab > 0, iterations=3)
    air = ~head
    assert air.sum() > 2000
    sigma = img[air].mean() / np.sqrt(np.pi / 2)  # Rayleigh mean in air (Gudbjartsson & Patz, MRM 1995)
    measured = img[_tissue_mask(lab, "wm")].mean() / sigma
    assert abs(measured - 20.0) / 20.0 < 0.10, measured


def test_ventricles_grow_monotonically_with_age_for_same_anatomy():
    cfg = BrainMRIConfig(sequences=["T1w"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0))
    gen = BrainMRIGenerator(cfg)
    vols = []
    for age in (20, 35, 50, 65, 80):
        s = gen.generate(_plan(seed=21, age=age))
        lab = s.mask("labels").array
        vols.append(int(np.isin(lab, list(L.LEFT_LATERAL_VENTRICLE | L.RIGHT_LATERAL_VENTRICLE | {14})).sum()))
    assert all(b > a for a, b in zip(vols, vols[1:])), vols


def test_subject_replays_bit_exactly():
    cfg = BrainMRIConfig(sequences=["T2w"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0))
    a = BrainMRIGenerator(cfg).generate(_plan(seed=5, tumour=True))
    b = BrainMRIGenerator(BrainMRIConfig.model_validate(cfg.model_dump(mode="json"))).generate(_plan(seed=5, tumour=True))
    for x, y in zip(a.images, b.images):
        assert x.array.tobytes() == y.array.tobytes()
    assert a.provenance.to_dict() == b.provenance.to_dict()
    c = BrainMRIGenerator(cfg).generate(_plan(seed=6, tumour=True))
    assert c.images[0].array.tobytes() != a.images[0].array.tobytes()


def test_user_labelmap_folder_uses_all_its_maps(shared_data):
    folder = shared_data / "brain-labelmaps"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    cfg = BrainMRIConfig(sequences=["T1w"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0), labelmap_dir=str(folder))
    gen = BrainMRIGenerator(cfg)
    assert len(gen._labelmap_paths) == 20
    s = gen.generate(_plan(seed=4))
    assert s.attributes["anatomy_source"].startswith("training_seg_")
    assert s.provenance.sampled["labelmap"]["name"] == s.attributes["anatomy_source"]


def test_missing_labelmap_folder_is_rejected_at_spec_validation(tmp_path):
    from radsynth.cohort.spec import parse_spec
    from radsynth.core.errors import RadsynthInputError

    spec = {"name": "x", "seed": 1, "n_subjects": 1,
            "generator": {"name": "mri-brain", "params": {"labelmap_dir": str(tmp_path / "nope")}}}
    with pytest.raises(RadsynthInputError) as ei:
        parse_spec(spec)
    assert ei.value.field == "generator.params.labelmap_dir"
    assert "nope" in str(ei.value) and ".nii" in str(ei.value)


REALISM = {"protocol": {"in_plane_mm": [2.0], "fov_mm": [220.0, 240.0]}, "boundary_blur_mm": [0.3, 0.8],
           "kspace_filter": ["hamming", "hann", "fermi"], "display_window_percentile": [95.0, 99.8]}


@pytest.fixture(scope="module")
def clinical_subject():
    cfg = BrainMRIConfig(sequences=["T1w", "T2w", "FLAIR"], work_resolution_mm=2, realism=REALISM)
    return BrainMRIGenerator(cfg).generate(_plan(seed=11, tumour=True))


def test_clinical_realism_keeps_masks_aligned_and_contrast(clinical_subject):
    """Protocol geometry, soft boundaries, k-space filter and display window: masks stay on the images' grid
    and the tissue contrast orderings of the module docstring still hold on the hard-label masks."""
    s = clinical_subject
    p = s.provenance.sampled["protocol"]
    spacing = np.sqrt((s.affine[:3, :3] ** 2).sum(axis=0))
    np.testing.assert_allclose(spacing, [2.0, 2.0, p["slice_thickness_mm"] + p["slice_gap_mm"]], rtol=1e-6)
    assert s.images[0].array.shape[:2] == (round(p["fov_mm"] / 2.0) // 1,) * 2
    for m in s.masks:
        for im in s.images:
            assert m.array.shape == im.array.shape and np.allclose(im.affine, s.affine)
    lab = s.mask("labels").array
    t1, t2 = s.image("T1w").array, s.image("T2w").array
    m = {t: _tissue_mask(lab, t) for t in ("wm", "gm", "csf")}
    assert t1[m["wm"]].mean() > t1[m["gm"]].mean() > t1[m["csf"]].mean()
    assert t2[m["csf"]].mean() > t2[m["gm"]].mean() > t2[m["wm"]].mean()
    enh = lab == L.TUMOUR_ENHANCING
    assert enh.sum() > 0 and s.image("T1c").array[enh].mean() > s.image("T1c").array[m["wm"]].mean()
    for im in s.images:
        lo, hi = im.acquisition["display_window"]
        assert lo == 0.0 and 0 < hi < float(im.array.max())
        assert im.acquisition["slice_thickness_mm"] == pytest.approx(p["slice_thickness_mm"])
    seq = s.provenance.sampled["sequences"]["T1w"]
    assert seq["acquisition"]["kspace_filter"]["axes"] == [0, 1] and "display_window" in seq
    assert 0.3 <= s.provenance.sampled["boundary_blur_mm"] <= 0.8


def test_clinical_realism_replays_bit_exactly(clinical_subject):
    cfg = BrainMRIConfig(sequences=["T1w", "T2w", "FLAIR"], work_resolution_mm=2, realism=REALISM)
    again = BrainMRIGenerator(cfg).generate(_plan(seed=11, tumour=True))
    assert again.provenance.sampled == clinical_subject.provenance.sampled
    for a, b in zip(clinical_subject.images, again.images):
        np.testing.assert_array_equal(a.array, b.array)


@pytest.mark.parametrize("realism, field", [
    ({"protocol": {"slice_thickness_mm": [6.0, 4.0]}}, "slice_thickness_mm"),
    ({"boundary_blur_mm": [0.0, 9.0]}, "boundary_blur_mm"),
    ({"kspace_filter": ["box"]}, "kspace_filter"),
    ({"display_window_percentile": [99.0, 90.0]}, "display_window_percentile"),
    ({"protocol": {"fov_mm": [50.0, 60.0]}}, "fov_mm"),
    ({"display_median_grey": [0.5, 0.99]}, "display_median_grey"),
    ({"t1_variants": ["SWI"]}, "t1_variants"),
])
def test_bad_realism_values_are_rejected_at_spec_validation(realism, field):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        BrainMRIConfig(realism=realism)


def test_t1_variants_change_the_signal_equation_not_the_sequence_name():
    """T1w as MPRAGE darkens CSF against WM compared with the spin echo (3 T presets: CSF/WM about 0.18 vs
    0.42 from the tissue table; Deichmann et al., NeuroImage 2000 for MPRAGE contrast)."""
    ratios = {}
    for variant in ("T1w", "MPRAGE"):
        cfg = BrainMRIConfig(sequences=["T1w"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0),
                             realism={"t1_variants": [variant]})
        s = BrainMRIGenerator(cfg).generate(_plan(seed=5))
        assert s.provenance.sampled["t1_variant"] == variant
        im = s.image("T1w")
        assert im.sequence == "T1w"
        assert im.acquisition.get("protocol_variant") == (None if variant == "T1w" else variant)
        lab = s.mask("labels").array
        ventricles = np.isin(lab, [4, 43])  # lateral ventricles: pure CSF away from partial volume
        ratios[variant] = im.array[ventricles].mean() / im.array[_tissue_mask(lab, "wm")].mean()
    assert ratios["MPRAGE"] < 0.75 * ratios["T1w"], ratios


def test_histogram_auto_window_puts_the_head_median_at_the_drawn_grey():
    cfg = BrainMRIConfig(sequences=["T2w", "FLAIR"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0),
                         realism={"display_median_grey": [0.3, 0.45]})
    s = BrainMRIGenerator(cfg).generate(_plan(seed=8))
    head = s.mask("labels").array > 0
    for im in s.images:
        g = s.provenance.sampled["sequences"][im.sequence]["display_window"]["median_grey"]
        assert 0.3 <= g <= 0.45
        assert np.median(im.array[head]) / im.acquisition["display_window"][1] == pytest.approx(g, rel=1e-4)


def test_intensity_refiner_maps_grey_below_the_window_and_keeps_masks(tmp_path):
    """realism.intensity_refiner: the same subject with and without the table; voxel order (hence any threshold
    segmentation) and masks unchanged, the head's display grey carried through the table, the table recorded."""
    from radsynth.physics.mri.histogram_refiner import HistogramRefiner

    table = HistogramRefiner({"T1": ((0.0, 0.2, 0.5, 1.0), (0.0, 0.3, 0.75, 1.0))})
    path = tmp_path / "refiner.json"
    path.write_text(table.to_json())
    base = {"display_median_grey": [0.3, 0.45]}
    subjects = {}
    for name, realism in (("off", base), ("on", {**base, "intensity_refiner": str(path)})):
        cfg = BrainMRIConfig(sequences=["T1w", "T2w"], work_resolution_mm=2, voxel_size_mm=(2.0, 2.0, 2.0),
                             realism=realism)
        subjects[name] = BrainMRIGenerator(cfg).generate(_plan(seed=8))
    off, on = subjects["off"], subjects["on"]
    np.testing.assert_array_equal(off.mask("labels").array, on.mask("labels").array)
    np.testing.assert_array_equal(on.image("T2w").array, off.image("T2w").array)  # no T2 table: unchanged
    a, b = off.image("T1w").array, on.image("T1w").array
    hi = off.image("T1w").acquisition["display_window"][1]
    assert on.image("T1w").acquisition["display_window"][1] == hi
    np.testing.assert_allclose(b / hi, np.where(a <= hi, table.grey(a / hi, "T1w"), a / hi), rtol=1e-5, atol=1e-6)
    assert not np.array_equal(a, b)
    rec = on.provenance.sampled["sequences"]["T1w"]["intensity_refiner"]
    assert rec == {"name": str(path), "sha256": table.sha256}
    assert "intensity_refiner" not in on.provenance.sampled["sequences"]["T2w"]


@pytest.mark.parametrize("realism, text", [
    ({"intensity_refiner": "brain-mri-histogram-v1"}, "display"),  # needs a display window
    ({"display_median_grey": [0.3, 0.4], "intensity_refiner": "no-such-table"}, "no-such-table"),
])
def test_bad_intensity_refiner_is_rejected_at_spec_validation(realism, text):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=text):
        BrainMRIConfig(realism=realism)


def test_shipped_refiner_table_loads_and_is_monotone():
    from radsynth.physics.mri.histogram_refiner import shipped

    ref = shipped("brain-mri-histogram-v1")
    assert set(ref.tables) == {"T1", "T2", "FLAIR"}
    g = np.linspace(0, 1, 501)
    for seq in ("T1w", "T1c", "T2w", "FLAIR"):
        assert np.all(np.diff(ref.grey(g, seq)) > 0)
    assert "train part" in ref.fit_info["real"]
