"""Approximate arterial territories of the brain, defined from the label map itself.

Source of the territory layout: Tatu, Moulin, Bogousslavsky, Duvernoy,
"Arterial territories of the human brain: cerebral hemispheres", Neurology
50:1699-1708 (1998) (with the companion brainstem/cerebellum paper, Neurology
1996), and the digital atlas derived from it by Kim et al., "Digital atlas of
cerebral arterial territories", 2019 (also Liu et al., Scientific Data 2023,
"Digital 3D brain MRI arterial territories atlas"). No atlas image is shipped:
the territories are *approximated by rules* in a brain-relative frame, so they
follow any subject's anatomy without registration. This is a coarse model
(watershed zones are sharp planes, individual variation is ignored) meant for
realistic-looking synthetic infarcts, not for clinical use.

Frame (per hemisphere, world mm, RAS+): ``y_n``, ``z_n`` are the antero-posterior
and infero-superior positions normalised to [0, 1] over the hemisphere's
cerebral parenchyma (0.1-99.9 percentiles); ``m`` is the lateral distance (mm)
from the midsagittal plane, which is fitted as a plane through the midpoints
between the left and right hemisphere labels (so a yawed head is handled);
``m_n = m / (99.9th percentile of m)``. ``z_cc`` is the roof of the lateral
ventricle body (95th percentile of its z; the corpus callosum lies on it) and
``y_genu`` the tip of its frontal horn (99th percentile of y).

Rules (cerebral cortex and white matter; evaluated in this order, so the
territories of one hemisphere are disjoint by construction):

* deep grey matter first: thalamus, hippocampus, ventral diencephalon -> PCA
  (thalamoperforating / thalamogeniculate and hippocampal branches; Tatu 1998);
  caudate, putamen, pallidum, accumbens, amygdala -> MCA (lenticulostriate
  arteries; the anterior choroidal artery and Heubner's artery are not
  modelled separately);
* PCA: occipital lobe, ``y_n < 0.20 - 0.06 m_n`` (parieto-occipital sulcus at
  MNI y ~ -70 medially, pre-occipital notch y ~ -80 laterally), plus the
  inferomedial temporal lobe ``z_n < 0.30, y_n < 0.55, m_n < 0.6`` (fusiform and
  parahippocampal gyri, inferior temporal branches);
* ACA: the medial (parasagittal) strip ``m < 12 mm`` widening to 22 mm at the
  vertex (superior frontal gyrus, paracentral lobule, precuneus, cingulate gyrus
  and the corpus callosum), above the corpus callosum level ``z > z_cc - 3 mm``,
  or at any height anterior to the genu ``y > y_genu`` (medial orbitofrontal
  cortex, gyrus rectus);
* MCA: everything else of the hemisphere (lateral convexity of the frontal,
  parietal and temporal lobes, insula, centrum semiovale, temporal pole).

Extra territory ``CEREBELLAR``: the cerebellar hemisphere of that side (SCA,
AICA and PICA together; posterior circulation). The brainstem is not lateralised
in the label map and belongs to no territory here.

:func:`lobe_of` uses the same frame for a coarse lobe name of a point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.core.labels import LEFT_HEMISPHERE, PARENCHYMA, RIGHT_HEMISPHERE
from radsynth.pathology.lesion_shape import (
    box_around,
    check_ras,
    label_mask,
    voxel_spacing_mm,
    voxel_to_world,
    world_to_voxel,
)

__all__ = [
    "TERRITORIES",
    "SIDES",
    "HemisphereFrame",
    "territory_map",
    "territory_mask",
    "lobe_of",
    "check_territory",
    "check_side",
]

#: Accepted territory names and their codes in :func:`territory_map`.
TERRITORIES = ("MCA", "ACA", "PCA", "CEREBELLAR")
_CODE = {name: i + 1 for i, name in enumerate(TERRITORIES)}
SIDES = ("left", "right")

_HEMI = {"left": LEFT_HEMISPHERE, "right": RIGHT_HEMISPHERE}
_CEREBRAL_PARENCHYMA = {s: frozenset(v & PARENCHYMA) for s, v in _HEMI.items()}
_CORTEX_WM = {"left": frozenset({2, 3}), "right": frozenset({41, 42})}
_DEEP_PCA = {"left": frozenset({10, 17, 28}), "right": frozenset({49, 53, 60})}
_DEEP_MCA = {"left": frozenset({11, 12, 13, 18, 26}), "right": frozenset({50, 51, 52, 54, 58})}
_CEREBELLUM = {"left": frozenset({7, 8}), "right": frozenset({46, 47})}
_LAT_VENTRICLE_BODY = {"left": frozenset({4}), "right": frozenset({43})}
#: Deep grey nuclei (both sides) for the "deep" region of :func:`lobe_of`.
DEEP_NUCLEI = frozenset({10, 11, 12, 13, 26, 49, 50, 51, 52, 58})


def check_side(side: str) -> str:
    """Normalise ``side`` ("left"/"right", case-insensitive) or raise RadsynthInputError."""
    s = str(side).lower() if isinstance(side, str) else side
    if s not in SIDES:
        raise RadsynthInputError("side", side, ", ".join(SIDES))
    return s


def check_territory(territory: str) -> str:
    """Normalise ``territory`` (case-insensitive) or raise RadsynthInputError listing the accepted names."""
    t = territory.upper() if isinstance(territory, str) else territory
    if t not in _CODE:
        raise RadsynthInputError("territory", territory, ", ".join(TERRITORIES))
    return t


@dataclass(frozen=True)
class HemisphereFrame:
    """Brain-relative coordinate frame of one cerebral hemisphere (all lengths in world mm)."""

    side: str
    y_range_mm: tuple[float, float]
    z_range_mm: tuple[float, float]
    midline: tuple[float, float, float]  # x_mid = a + b*y + c*z
    lateral_max_mm: float
    callosal_z_mm: float
    genu_y_mm: float

    @classmethod
    def from_labels(cls, labels: np.ndarray, affine: np.ndarray, side: str) -> HemisphereFrame:
        side = check_side(side)
        aff = check_ras(affine)
        midline = _fit_midline(labels, aff)
        idx = np.argwhere(label_mask(labels, _CEREBRAL_PARENCHYMA[side]))
        if len(idx) < 100:
            raise RadsynthInputError(
                "labels", f"{len(idx)} {side} cerebral voxels", "a label map with both cerebral hemispheres"
            )
        pts = voxel_to_world(aff, idx)
        ylo, yhi = np.quantile(pts[:, 1], [0.001, 0.999])
        zlo, zhi = np.quantile(pts[:, 2], [0.001, 0.999])
        lat = _lateral(pts, midline, side)
        lmax = float(max(np.quantile(lat, 0.999), 1.0))
        vent = np.argwhere(label_mask(labels, _LAT_VENTRICLE_BODY[side]))
        if len(vent) >= 20:
            vpts = voxel_to_world(aff, vent)
            zcc = float(np.quantile(vpts[:, 2], 0.95))
            ygenu = float(np.quantile(vpts[:, 1], 0.99))
        else:  # no ventricle label: typical adult proportions
            zcc = float(zlo + 0.6 * (zhi - zlo))
            ygenu = float(ylo + 0.7 * (yhi - ylo))
        return cls(side, (float(ylo), float(yhi)), (float(zlo), float(zhi)), midline, lmax, zcc, ygenu)

    def normalise(self, pts_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(y_n, z_n, m_mm, m_n) of world points (N, 3)."""
        pts = np.asarray(pts_mm, dtype=np.float64).reshape(-1, 3)
        (ylo, yhi), (zlo, zhi) = self.y_range_mm, self.z_range_mm
        y_n = (pts[:, 1] - ylo) / max(yhi - ylo, 1e-6)
        z_n = (pts[:, 2] - zlo) / max(zhi - zlo, 1e-6)
        m = _lateral(pts, self.midline, self.side)
        return y_n, z_n, m, m / self.lateral_max_mm

    def aca_width_mm(self, z_n: np.ndarray) -> np.ndarray:
        """Lateral extent (mm) of the ACA strip: 12 mm at the callosum, 22 mm at the vertex."""
        zcc_n = (self.callosal_z_mm - self.z_range_mm[0]) / max(self.z_range_mm[1] - self.z_range_mm[0], 1e-6)
        ramp = np.clip((z_n - zcc_n) / max(1.0 - zcc_n, 1e-6), 0.0, 1.0)
        return 12.0 + 10.0 * ramp


def _lateral(pts: np.ndarray, midline: tuple[float, float, float], side: str) -> np.ndarray:
    a, b, c = midline
    xmid = a + b * pts[:, 1] + c * pts[:, 2]
    return (xmid - pts[:, 0]) if side == "left" else (pts[:, 0] - xmid)


def _fit_midline(labels: np.ndarray, aff: np.ndarray) -> tuple[float, float, float]:
    """Least-squares plane x = a + b*y + c*z through per-row midpoints between the hemispheres."""
    left = label_mask(labels, LEFT_HEMISPHERE)
    right = label_mask(labels, RIGHT_HEMISPHERE)
    nx = labels.shape[0]
    xs = np.arange(nx, dtype=np.int16).reshape(-1, 1, 1)
    lmax = np.where(left, xs, np.int16(-1)).max(axis=0)
    rmin = np.where(right, xs, np.int16(nx)).min(axis=0)
    ok = (lmax >= 0) & (rmin < nx)
    if ok.sum() < 10:
        raise RadsynthInputError(
            "labels", "no left/right hemisphere interface", "a label map with both cerebral hemispheres"
        )
    jj, kk = np.nonzero(ok)
    mid = (lmax[ok].astype(np.float64) + rmin[ok]) / 2.0
    w = voxel_to_world(aff, np.stack([mid, jj, kk], axis=1))
    design = np.stack([np.ones(len(w)), w[:, 1], w[:, 2]], axis=1)
    coef, *_ = np.linalg.lstsq(design, w[:, 0], rcond=None)
    return (float(coef[0]), float(coef[1]), float(coef[2]))


def territory_map(labels: np.ndarray, affine: np.ndarray, side: str) -> np.ndarray:
    """uint8 map of one hemisphere's territories: 0 none, 1 MCA, 2 ACA, 3 PCA, 4 CEREBELLAR (order of TERRITORIES).

    Only parenchyma voxels of that side are labelled (never ventricles, CSF,
    lesions or extra-cerebral tissue).
    """
    side = check_side(side)
    aff = check_ras(affine)
    frame = HemisphereFrame.from_labels(labels, aff, side)
    out = np.zeros(labels.shape, dtype=np.uint8)
    out[label_mask(labels, _CEREBELLUM[side])] = _CODE["CEREBELLAR"]

    idx = np.argwhere(label_mask(labels, _CEREBRAL_PARENCHYMA[side]))
    lab = labels[tuple(idx.T)]
    pts = voxel_to_world(aff, idx)
    y_n, z_n, m, m_n = frame.normalise(pts)
    code = np.full(len(idx), _CODE["MCA"], dtype=np.uint8)
    pca = (y_n < 0.20 - 0.06 * np.clip(m_n, 0.0, 1.0)) | ((z_n < 0.30) & (y_n < 0.55) & (m_n < 0.6))
    aca = (
        ~pca
        & (m < frame.aca_width_mm(z_n))
        & ((pts[:, 2] > frame.callosal_z_mm - 3.0) | (pts[:, 1] > frame.genu_y_mm))
    )
    cortex_wm = label_mask(lab, _CORTEX_WM[side])
    code[cortex_wm & pca] = _CODE["PCA"]
    code[cortex_wm & aca] = _CODE["ACA"]
    code[label_mask(lab, _DEEP_PCA[side])] = _CODE["PCA"]
    code[label_mask(lab, _DEEP_MCA[side])] = _CODE["MCA"]
    out[tuple(idx.T)] = code
    return out


def territory_mask(labels: np.ndarray, affine: np.ndarray, territory: str, side: str) -> np.ndarray:
    """Boolean mask of the parenchyma of ``territory`` (MCA, ACA, PCA, CEREBELLAR) in hemisphere ``side``."""
    code = _CODE[check_territory(territory)]
    return territory_map(labels, affine, side) == code


def lobe_of(labels: np.ndarray, affine: np.ndarray, point_mm, side: str) -> str:
    """Coarse region of a world point: "deep", "frontal", "parietal", "temporal" or "occipital".

    deep: within 5 mm of the deep grey nuclei (thalamus, basal ganglia) or in
    the corpus callosum (m < 8 mm, z_cc - 6 mm < z < z_cc + 8 mm). Lobes by the
    frame of the module docstring, thresholds from MNI landmarks: occipital
    y_n < 0.17; temporal z_n < 0.40 (Sylvian fissure), y_n < 0.72 (temporal pole),
    m_n > 0.3; frontal anterior to the central sulcus y_n > 0.54 - 0.09 z_n;
    parietal otherwise.
    """
    aff = check_ras(affine)
    side = check_side(side)
    p = np.asarray(point_mm, dtype=np.float64).reshape(1, 3)
    spacing = voxel_spacing_mm(aff)
    centre = world_to_voxel(aff, p)[0]
    box = box_around(centre, 5.0, spacing, labels.shape)
    near = np.argwhere(label_mask(labels[box], DEEP_NUCLEI))
    if len(near):
        near_mm = voxel_to_world(aff, near + np.array([s.start for s in box]))
        if float(np.min(np.linalg.norm(near_mm - p, axis=1))) <= 5.0:
            return "deep"
    frame = HemisphereFrame.from_labels(labels, aff, side)
    y_n, z_n, m, m_n = (float(v[0]) for v in frame.normalise(p))
    if m < 8.0 and frame.callosal_z_mm - 6.0 < p[0, 2] < frame.callosal_z_mm + 8.0:
        return "deep"
    if y_n < 0.17:
        return "occipital"
    if z_n < 0.40 and y_n < 0.72 and m_n > 0.3:
        return "temporal"
    if y_n > 0.54 - 0.09 * z_n:
        return "frontal"
    return "parietal"
