"""Slice helpers shared by the families trained on simulated brain MRI (mask-guided generation, contrast
translation): area resizing of a slice to the model's square frame, and the brain / lesion masks of a simulated
``mri-brain`` subject. Imports no generator family."""

from __future__ import annotations

from typing import Any

import numpy as np


def resize_area(a: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad a 2-D array to a centred square and area-resize it to ``size`` x ``size`` (float32)."""
    import torch
    import torch.nn.functional as F

    h, w = a.shape
    n = max(h, w)
    sq = np.zeros((n, n), np.float32)
    sq[(n - h) // 2:(n - h) // 2 + h, (n - w) // 2:(n - w) // 2 + w] = a
    t = torch.from_numpy(sq)[None, None]
    if n % size == 0 or n > size:
        out = F.interpolate(t, size=(size, size), mode="area")
    else:
        out = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return out[0, 0].numpy().astype(np.float32)


def brain_and_lesion(rec: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label map, brain mask, lesion mask) of a simulated ``mri-brain`` subject: brain = labels 1-499 and lesion
    labels (>= 1000); lesion = the union of its ``tumour_whole`` and ``infarct`` masks (empty when it has neither)."""
    names = {m.name for m in rec.masks}
    lab = np.asarray(rec.mask("labels").array)
    brain3 = ((lab > 0) & (lab < 500)) | (lab >= 1000)
    lesion3 = np.zeros(lab.shape, bool)
    for n in ("tumour_whole", "infarct"):
        if n in names:
            lesion3 |= np.asarray(rec.mask(n).array) > 0
    return lab, brain3, lesion3


def training_plan(i: int, seed: int) -> tuple[Any, np.random.Generator]:
    """The ``mri-brain`` subject plan of simulated training subject ``i`` (seed ``seed + i``): a glioma when ``i``
    is even, an ischaemic stroke when ``i % 3 != 0``, age 20-84 drawn from ``[seed, i]``; and that generator,
    after the age draw, for the caller's own choices (slice picks)."""
    from radsynth.cohort.generator import SubjectPlan

    rng = np.random.default_rng([seed, i])
    return SubjectPlan(index=i, subject_id=f"sub-{i + 1:04d}", seed=seed + i,
                       labels={"tumour": i % 2 == 0, "stroke": i % 3 != 0},
                       attributes={"age_years": int(rng.integers(20, 85)), "sex": "F" if i % 2 else "M"},
                       formats=("nifti",)), rng
