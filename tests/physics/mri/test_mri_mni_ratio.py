"""T1w GM/WM contrast of the simulator vs the real MNI152 2009a T1 template.

Acceptance requirement: the simulated T1w GM/WM mean-intensity ratio on real anatomy
(SynthSeg training label map, Billot et al. 2023) is within 15 % of the ratio measured on
the ICBM152 2009a nonlinear symmetric T1 template (Fonov V et al., NeuroImage 2011;
54:313-327) over voxels with GM resp. WM probability > 0.9. Skips when the data is absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radsynth.core.labels import TISSUES
from radsynth.physics.mri import Acquisition, simulate
from radsynth.physics.mri.tissue import label_tissue_index

nib = pytest.importorskip("nibabel")


def mni_gm_wm_ratio(data: Path) -> float:
    mni = data / "mni152"
    files = [mni / f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("t1", "gm", "wm")]
    if not all(f.exists() for f in files):
        pytest.skip(f"MNI152 template not found under {mni}")
    t1, gm, wm = (np.asarray(nib.load(str(f)).dataobj) for f in files)
    # probability maps are stored as uint8 0..255 (255 = probability 1)
    assert gm.dtype == np.uint8 and gm.max() == 255
    p_gm, p_wm = gm / 255.0, wm / 255.0
    return float(t1[p_gm > 0.9].mean() / t1[p_wm > 0.9].mean())


def test_mni_template_ratio_value(shared_data):
    # measured once: 0.745 (GM 165.6 / WM 222.1 on the 0..255 template)
    assert mni_gm_wm_ratio(shared_data) == pytest.approx(0.745, abs=0.01)


@pytest.mark.parametrize("field_strength_t", [1.5, 3.0])
def test_simulated_t1w_gm_wm_ratio_within_15_percent_of_mni(shared_data, field_strength_t):
    ref = mni_gm_wm_ratio(shared_data)
    labelmap = shared_data / "brain-labelmaps" / "training_seg_01.nii.gz"
    if not labelmap.exists():
        pytest.skip(f"label map not found: {labelmap}")
    img = nib.as_closest_canonical(nib.load(str(labelmap)))
    labels = np.rint(np.asarray(img.dataobj)).astype(np.int16)[40:216, 24:232, 40:216]
    # bias-free like the (intensity-corrected) template; realistic noise, SNR 30 in WM
    rec, _ = simulate(labels, img.affine, "T1w", field_strength_t,
                      acquisition=Acquisition(snr=30.0, bias_field_strength=0.0), rng=np.random.default_rng(0))
    tissue = np.take(label_tissue_index(), labels)
    gm = rec.array[tissue == TISSUES.index("gm")].mean()
    wm = rec.array[tissue == TISSUES.index("wm")].mean()
    sim = gm / wm
    print(f"MNI GM/WM = {ref:.3f}; simulated T1w at {field_strength_t} T = {sim:.3f}")
    assert gm < wm
    assert abs(sim / ref - 1.0) < 0.15
