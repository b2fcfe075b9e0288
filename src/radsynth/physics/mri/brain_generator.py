"""``mri-brain``: physics-based brain MRI from real anatomy.

Pipeline for one subject (all random draws from the subject's seed, recorded in
``provenance.sampled`` so the subject replays bit-exactly):

1. anatomy: one real whole-head label map (SynthSeg training maps) chosen by the
   seed; per-subject affine + smooth elastic deformation (head size by sex);
   age-related atrophy (ventricles and sulcal CSF grow, cortex thins);
2. pathology: glioma (necrotic core, enhancing rim, oedema, mass effect) inside
   brain parenchyma, and/or ischaemic stroke confined to one vascular territory;
3. physics: literature T1/T2/PD at the field strength with per-subject jitter;
   signal equations per sequence (T1c: gadolinium T1 shortening); acquisition
   with partial volume, bias field, k-space artefacts and Rician noise at an SNR.

Masks (same grid as the images): ``labels`` (anatomy + lesion labels), and per
lesion type binary masks (``tumour_whole``, ``tumour_core``, ``tumour_enhancing``,
``infarct``), written for every subject of a cohort that has the label (empty
when the subject is negative), so segmentation datasets are complete.

Longitudinal subjects (``progression``): one head scanned at several timepoints while a glioma grows
along a documented growth model, one session (images + masks) per timepoint; see
:mod:`radsynth.physics.mri.brain_progression`.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from radsynth import __version__
from radsynth.cohort.generator import SubjectPlan
from radsynth.core import labels as L
from radsynth.core.records import MaskRecord, Provenance, SubjectRecord
from radsynth.core.rng import child_rng
from radsynth.physics.mri.brain_progression import ProgressionParams

SequenceName = Literal["T1w", "T2w", "PD", "FLAIR", "T1-IR", "T1c", "GRE-T1"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeformationParams(_Strict):
    rotation_deg: float = Field(6.0, ge=0, le=30, description="max rotation about each axis (deg)")
    scale_std: float = Field(0.04, ge=0, le=0.2, description="std of per-axis scale (fraction)")
    translation_mm: float = Field(4.0, ge=0, le=30)
    elastic_std_mm: float = Field(2.0, ge=0, le=8, description="std of control-point displacement (mm)")


class TumourParams(_Strict):
    radius_mm: tuple[float, float] = (10.0, 22.0)
    mass_effect: bool = True


class StrokeParams(_Strict):
    territories: list[Literal["MCA", "ACA", "PCA"]] = Field(default_factory=lambda: ["MCA", "ACA", "PCA"], min_length=1)


class ArtefactParams(_Strict):
    bias_field_strength: float = Field(0.25, ge=0, le=1, description="polynomial coefficient range of log-field")
    gibbs: bool = Field(True, description="k-space truncation ringing")
    motion_ghosting_probability: float = Field(0.15, ge=0, le=1)
    motion_ghost_amplitude: tuple[float, float] = Field(
        (0.02, 0.1), description="relative k-space modulation amplitude range of motion ghosts"
    )
    undersampling_acceleration: float | None = Field(None, ge=1, le=8)


class ProtocolParams(_Strict):
    """Clinical 2D multi-slice protocol ranges (:mod:`radsynth.physics.mri.clinical_protocol`), drawn per subject."""

    slice_thickness_mm: tuple[float, float] = Field((4.0, 6.0), description="slice thickness range (mm)")
    slice_gap_fraction: tuple[float, float] = Field((0.0, 0.3), description="gap as a fraction of the thickness")
    in_plane_mm: list[float] = Field(default_factory=lambda: [1.0], min_length=1,
                                     description="in-plane pixel sizes to draw from (mm)")
    fov_mm: tuple[float, float] = Field((220.0, 250.0), description="square in-plane field of view range (mm)")
    fov_offset_mm: float = Field(10.0, ge=0, le=100, description="max off-centre positioning per in-plane axis (mm)")
    phase_fov_fraction: tuple[float, float] = Field(
        (1.0, 1.0), description="rectangular FOV: left-right (phase) FOV as a fraction of fov_mm, range 0.5..1")

    @model_validator(mode="after")
    def _check(self) -> "ProtocolParams":
        self.sampler()  # one RadsynthInputError (a ValueError) naming the field for a bad range
        return self

    def sampler(self) -> Any:
        from radsynth.physics.mri.clinical_protocol import RandomClinicalProtocol

        return RandomClinicalProtocol(slice_thickness_mm=self.slice_thickness_mm, slice_gap_fraction=self.slice_gap_fraction,
                                      in_plane_mm=tuple(self.in_plane_mm), fov_mm=self.fov_mm,
                                      fov_offset_mm=self.fov_offset_mm, phase_fov_fraction=self.phase_fov_fraction)


class RealismParams(_Strict):
    """Clinical-realism components (issue #14), each drawn per subject or image and recorded; all off by default."""

    protocol: ProtocolParams | None = Field(None, description="clinical slice geometry; overrides voxel_size_mm")
    boundary_blur_mm: tuple[float, float] = Field(
        (0.0, 0.0), description="Gaussian sigma range (mm) of soft sub-voxel tissue boundaries; (0, 0): hard labels")
    kspace_filter: list[Literal["hamming", "hann", "fermi"]] | None = Field(
        None, description="reconstruction apodisation windows to draw from (in-plane); None: no filter")
    kspace_filter_strength: tuple[float, float] = Field((0.5, 1.0), description="filter strength range (0..1)")
    t1_variants: list[Literal["T1w", "T1-IR", "MPRAGE", "GRE-T1"]] | None = Field(
        None, description="signal equations to draw from per subject for T1w and T1c (spin echo, T1-FLAIR, MPRAGE, "
                          "spoiled GRE); None: the T1w spin echo")
    display_window_percentile: tuple[float, float] | None = Field(
        None, description="upper display-window percentile range of the intracranial voxels (NIfTI cal_max); "
                          "None: no window")

    display_median_grey: tuple[float, float] | None = Field(
        None, description="histogram auto-window instead: the head's median voxel at this grey level (range drawn "
                          "per image, 0.05..0.95); None: the percentile window (or none)")
    meninges_mm: tuple[float, float] | None = Field(
        None, description="thickness range (mm, 0..5) of the dura/arachnoid layer carved out of the extra-cerebral "
                          "CSF along the skull (radsynth.anatomy.meninges; label 517, dark on every weighting); "
                          "None: CSF up to the bone, as the SynthSeg maps have it")
    scalp_fat_mm: tuple[float, float] | None = Field(
        None, description="thickness range (mm, 0..20) of the subcutaneous fat kept under the skin; the deeper "
                          "extracranial soft tissue (temporalis, other muscles) becomes muscle, label 518, orbital fat "
                          "stays fat (radsynth.anatomy.scalp_layers); None: all of it fat, as the SynthSeg class 507")
    intensity_refiner: str | None = Field(
        None, description="learned grey-level refinement below the display window (a shipped table, e.g. "
                          "brain-mri-histogram-v1, or a path to a refiner JSON; radsynth.physics.mri.histogram_refiner); "
                          "needs a display window; None: off")

    @model_validator(mode="after")
    def _ranges(self) -> "RealismParams":
        if self.display_median_grey is not None:
            lo, hi = self.display_median_grey
            if not 0.05 <= lo <= hi <= 0.95:
                raise ValueError("display_median_grey must be [low, high] with 0.05 <= low <= high <= 0.95")
        if self.intensity_refiner is not None:
            if self.display_window_percentile is None and self.display_median_grey is None:
                raise ValueError("intensity_refiner works on the display grey: set display_median_grey or "
                                 "display_window_percentile too")
            self.refiner()  # one error naming the table now, not in a worker
        for name in ("boundary_blur_mm", "kspace_filter_strength", "display_window_percentile", "meninges_mm"):
            v = getattr(self, name)
            if v is not None and not v[0] <= v[1]:
                raise ValueError(f"{name} must be [low, high] with low <= high")
        if self.meninges_mm is not None and not (0 <= self.meninges_mm[0] and self.meninges_mm[1] <= 5):
            raise ValueError("meninges_mm must be within 0..5 mm")
        if self.scalp_fat_mm is not None and not (0 <= self.scalp_fat_mm[0] <= self.scalp_fat_mm[1] <= 20):
            raise ValueError("scalp_fat_mm must be [low, high] within 0..20 mm")
        if not (0 <= self.boundary_blur_mm[0] and self.boundary_blur_mm[1] <= 3):
            raise ValueError("boundary_blur_mm must be within 0..3 mm")
        if self.display_window_percentile is not None and not (50 <= self.display_window_percentile[0]
                                                               and self.display_window_percentile[1] <= 100):
            raise ValueError("display_window_percentile must be within 50..100")
        return self

    def refiner(self) -> Any:
        """The :class:`~radsynth.physics.mri.histogram_refiner.HistogramRefiner` named by ``intensity_refiner``."""
        from pathlib import Path

        from radsynth.physics.mri.histogram_refiner import SHIPPED, HistogramRefiner, shipped

        name = self.intensity_refiner
        if name in SHIPPED:
            return shipped(name)
        path = Path(str(name)).expanduser()
        if not path.is_file():
            raise ValueError(f"intensity_refiner {name!r} is neither a shipped table ({', '.join(sorted(SHIPPED))}) "
                             "nor a refiner JSON file")
        return HistogramRefiner.from_json(path.read_text())


class BrainMRIConfig(_Strict):
    """Parameters of the ``mri-brain`` generator (all JSON-serialisable)."""

    field_strength_t: Literal[1.5, 3.0] = 3.0
    sequences: list[SequenceName] = Field(default_factory=lambda: ["T1w", "T2w", "FLAIR"], min_length=1)
    add_t1c_for_tumour: bool = True
    voxel_size_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    work_resolution_mm: Literal[1, 2] = Field(1, description="anatomy grid; 2 = fast draft")
    snr: tuple[float, float] = Field((25.0, 40.0), description="SNR range (WM mean / noise sigma)")
    tissue_jitter: float = Field(0.05, ge=0, le=0.3, description="relative std of T1/T2/PD per subject")
    texture_std: float = Field(0.03, ge=0, le=0.3, description="relative std of within-tissue PD heterogeneity")
    labelmap_dir: str | None = Field(None, description="folder of label maps; default: shipped maps")
    atrophy: bool = True
    deformation: DeformationParams = Field(default_factory=DeformationParams)
    tumour: TumourParams = Field(default_factory=TumourParams)
    stroke: StrokeParams = Field(default_factory=StrokeParams)
    artefacts: ArtefactParams = Field(default_factory=ArtefactParams)
    realism: RealismParams = Field(default_factory=RealismParams)
    progression: ProgressionParams | None = Field(
        None, description="longitudinal subjects: one growing glioma scanned at several timepoints (sessions)")

    @field_validator("voxel_size_mm")
    @classmethod
    def _voxels(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(not (0.5 <= x <= 10) for x in v):
            raise ValueError("each voxel size must be within 0.5..10 mm")
        return v

    @field_validator("labelmap_dir")
    @classmethod
    def _labelmap_dir(cls, v: str | None) -> str | None:
        if v is not None:
            from pathlib import Path

            p = Path(v)
            if not p.is_dir() or not any(q.name.endswith((".nii", ".nii.gz")) for q in p.iterdir()):
                raise ValueError("a folder holding .nii/.nii.gz label maps (e.g. ../shared/data/brain-labelmaps)")
        return v

    @field_validator("sequences")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("sequences must not repeat")
        return v

    @model_validator(mode="after")
    def _snr(self) -> "BrainMRIConfig":
        lo, hi = self.snr
        if not (1 <= lo <= hi <= 1000):
            raise ValueError("snr must be [low, high] with 1 <= low <= high <= 1000")
        return self


class BrainMRIGenerator:
    """Physics-based brain MRI generator (see module docstring)."""

    name: ClassVar[str] = "mri-brain"
    version: ClassVar[str] = "0.1.0"
    Config: ClassVar[type[BaseModel]] = BrainMRIConfig
    supported_labels: ClassVar[frozenset[str]] = frozenset({"tumour", "stroke"})
    supported_attributes: ClassVar[frozenset[str]] = frozenset({"age_years", "sex"})

    def __init__(self, config: BrainMRIConfig) -> None:
        self.config = config

    @cached_property
    def _labelmap_paths(self) -> list:
        from radsynth.anatomy.labelmaps import available_labelmaps

        return available_labelmaps(self.config.labelmap_dir)

    def config_dict(self) -> dict[str, Any]:
        d = self.config.model_dump(mode="json")
        if d.get("progression") is None:
            d.pop("progression", None)  # configs without it hash as before the option existed
        return d

    @classmethod
    def check_spec(cls, spec: Any, config: BrainMRIConfig) -> None:
        """Cohort-level checks needing the whole spec (labels) for a progression cohort."""
        if config.progression is not None:
            from radsynth.physics.mri.brain_progression import check_progression_spec

            check_progression_spec(spec)

    def limits(self) -> list[str]:
        """Generator-specific limits for the dataset card."""
        return [
            "- Physics and anatomy are simplified models: tissue relaxation times are literature means with jitter;",
            "  lesions are parametric models with approximate vascular territories; scanner effects are modelled,",
            "  not measured. Distribution shift to real scanners is expected.",
            "- Anatomy comes from a small number of real label maps deformed per subject: subjects built from the",
            "  same source map are correlated; split train/test by `attr_anatomy_source` when that matters.",
            "- Demographic attributes only drive the modelled effects (age-related atrophy, head size); they do",
            "  not capture all real population variation.",
        ]

    def licences(self) -> list[str]:
        return [
            "- Anatomy: SynthSeg training label maps (Apache-2.0, Billot et al., Medical Image Analysis 2023);",
            "  the generated images are new data derived from them (see src/radsynth/data/brain/README.md).",
        ]

    def describe(self) -> str:
        """Plain-language description of how this configuration makes images (dataset card)."""
        from radsynth.physics.mri.presets import get_sequence

        cfg = self.config
        seq_lines = []
        for name in list(cfg.sequences) + (["T1c"] if cfg.add_t1c_for_tumour and "T1c" not in cfg.sequences else []):
            model, contrast = get_sequence(name, cfg.field_strength_t)
            params = ", ".join(f"{k} {v:g}" for k, v in model.acquisition_params().items() if isinstance(v, (int, float)))
            seq_lines.append(f"  - {name}: {type(model).__name__} ({params})" + (", after gadolinium" if contrast else ""))
        a = cfg.artefacts
        anatomy = "the label maps in `" + cfg.labelmap_dir + "`" if cfg.labelmap_dir else "the six shipped SynthSeg label maps"
        return "\n".join([
            f"- Anatomy: {anatomy} (real whole-head segmentations), one per subject chosen by its seed"
            f" (recorded as `attr_anatomy_source`), deformed by a random affine (rotation <= {cfg.deformation.rotation_deg:g} deg,"
            f" head size by sex) and a smooth B-spline elastic field (std {cfg.deformation.elastic_std_mm:g} mm);"
            + (" age-related atrophy from each map's apparent age (estimated from its ventricle/intracranial volume) to"
               " the subject's age: ventricles grow or shrink to the age-typical size, cortex thins, sulci widen."
               if cfg.atrophy else ""),
            "- Pathology: glioma (necrotic core, enhancing rim, oedema along white matter, mass effect) inside brain"
            " parenchyma; ischaemic stroke confined to one vascular territory (MCA/ACA/PCA, after Tatu et al. 1998).",
            f"- Physics at {cfg.field_strength_t:g} T: literature T1/T2/T2*/PD per tissue with {cfg.tissue_jitter:.0%} per-subject"
            f" jitter and {cfg.texture_std:.0%} smooth within-tissue PD heterogeneity; flow voids in vessels on spin-echo"
            " images; signal equations per sequence:",
            *seq_lines,
            f"- Acquisition: voxel {' x '.join(f'{v:g}' for v in cfg.voxel_size_mm)} mm (partial volume by area averaging),"
            f" Rician noise at SNR {cfg.snr[0]:g}-{cfg.snr[1]:g} (WM mean / sigma), bias field (strength {a.bias_field_strength:g}),"
            + (" Gibbs ringing (k-space truncation)," if a.gibbs else "")
            + f" motion ghosting in {a.motion_ghosting_probability:.0%} of subjects"
            + (f", Cartesian undersampling R={a.undersampling_acceleration:g}" if a.undersampling_acceleration else "") + ".",
            *self._realism_lines(),
            *([cfg.progression.describe()] if cfg.progression is not None else []),
        ])

    def _realism_lines(self) -> list[str]:
        r = self.config.realism
        out = []
        if r.protocol is not None:
            p = r.protocol
            out.append(f"- Clinical protocol per subject: axial 2D multi-slice, slice thickness {p.slice_thickness_mm[0]:g}-"
                       f"{p.slice_thickness_mm[1]:g} mm with a gap of {p.slice_gap_fraction[0]:.0%}-{p.slice_gap_fraction[1]:.0%}"
                       f" of it, in-plane {'/'.join(f'{v:g}' for v in p.in_plane_mm)} mm, FOV {p.fov_mm[0]:g}-"
                       f"{p.fov_mm[1]:g} mm" + (" square" if p.phase_fov_fraction == (1.0, 1.0) else
                                              f" (left-right phase FOV {p.phase_fov_fraction[0]:.0%}-"
                                              f"{p.phase_fov_fraction[1]:.0%} of it)") + f" positioned up to {p.fov_offset_mm:g} mm off-centre, random slice phase"
                       " (replaces the voxel size above; masks on the same grid).")
        if r.boundary_blur_mm[1] > 0:
            out.append(f"- Soft tissue boundaries: noise-free signal blurred with sigma {r.boundary_blur_mm[0]:g}-"
                       f"{r.boundary_blur_mm[1]:g} mm (soft tissue probabilities instead of hard labels).")
        if r.meninges_mm is not None:
            out.append(f"- Meninges: the extra-cerebral CSF within {r.meninges_mm[0]:g}-{r.meninges_mm[1]:g} mm of the skull "
                       "relabelled as dura/arachnoid (label 517, dark on every weighting) per subject.")
        if r.scalp_fat_mm is not None:
            out.append(f"- Scalp layers: subcutaneous fat {r.scalp_fat_mm[0]:g}-{r.scalp_fat_mm[1]:g} mm under the skin; the "
                       "deeper extracranial soft tissue (temporalis and other muscles) is muscle (label 518), orbital fat stays fat.")
        if r.kspace_filter:
            out.append(f"- Reconstruction filter: {'/'.join(r.kspace_filter)} k-space apodisation in-plane, strength "
                       f"{r.kspace_filter_strength[0]:g}-{r.kspace_filter_strength[1]:g} (noise filtered too).")
        if r.t1_variants:
            out.append(f"- T1 protocol per subject: T1w (and T1c) made with one of {', '.join(r.t1_variants)}"
                       " (recorded as `protocol_variant`), as sites' routine T1 sequences differ.")
        if r.display_median_grey is not None:
            out.append(f"- Display window: histogram auto-window, the head's median voxel at grey {r.display_median_grey[0]:g}-"
                       f"{r.display_median_grey[1]:g} of the window (per image), in the NIfTI header (cal_min/cal_max).")
        elif r.display_window_percentile is not None:
            out.append(f"- Display window: 0 to the {r.display_window_percentile[0]:g}-{r.display_window_percentile[1]:g}th"
                       " percentile of the intracranial voxels (brain, CSF, lesions), per image, in the NIfTI header"
                       " (cal_min/cal_max): scalp fat and marrow saturate as on clinical exports.")
        if r.intensity_refiner is not None:
            out.append(f"- Learned grey-level refinement `{r.intensity_refiner}` below the display window: one monotone map "
                       "per weighting fitted without pairs on real clinical exports (quantile mapping; no voxel moves, "
                       "masks unchanged; see its model card). Signal values are no longer plain signal-equation output.")
        return out

    # ------------------------------------------------------------------ anatomy
    def _anatomy(self, plan: SubjectPlan, sampled: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        from radsynth.anatomy.atrophy import RandomAtrophy
        from radsynth.anatomy.deformation import RandomHeadDeformation
        from radsynth.anatomy.labelmaps import load_labelmap_cached

        cfg = self.config
        paths = self._labelmap_paths
        rng = child_rng(plan.seed, "anatomy")
        src = int(rng.integers(len(paths)))
        sampled["labelmap"] = {"index": src, "name": paths[src].name}
        labels, affine = load_labelmap_cached(str(paths[src]))
        labels = np.array(labels, dtype=np.int16, copy=True)
        affine = np.array(affine, dtype=np.float64, copy=True)
        if cfg.work_resolution_mm == 2:
            labels = labels[::2, ::2, ::2].copy()
            affine = affine.copy()
            affine[:3, :3] = affine[:3, :3] * 2
        d = cfg.deformation
        deformation = RandomHeadDeformation(
            rotation_deg=d.rotation_deg, scale_std=d.scale_std, translation_mm=d.translation_mm,
            elastic_std_mm=d.elastic_std_mm,
        ).sample(child_rng(plan.seed, "deformation"), sex=plan.attributes.get("sex"))
        sampled["deformation"] = deformation.to_dict()
        labels = deformation.apply(labels, affine)
        age = plan.attributes.get("age_years")
        if cfg.atrophy and age is not None:
            from radsynth.anatomy.apparent_age import apparent_age_of_file

            # the map's own apparent age (cached per file) is the atrophy's starting point
            atrophy = RandomAtrophy().sample(float(age), child_rng(plan.seed, "atrophy"),
                                             reference_age_years=apparent_age_of_file(paths[src]))
            sampled["atrophy"] = atrophy.to_dict()
            labels = atrophy.apply(labels, affine)
        if cfg.realism.meninges_mm is not None:
            from radsynth.anatomy.meninges import RandomMeninges

            meninges = RandomMeninges(tuple(cfg.realism.meninges_mm)).sample(child_rng(plan.seed, "meninges"))
            sampled["meninges"] = meninges.to_dict()
            labels = meninges.apply(labels, affine)
        if cfg.realism.scalp_fat_mm is not None:
            from radsynth.anatomy.scalp_layers import RandomScalpLayers

            scalp = RandomScalpLayers(tuple(cfg.realism.scalp_fat_mm)).sample(child_rng(plan.seed, "scalp_layers"))
            sampled["scalp_layers"] = scalp.to_dict()
            labels = scalp.apply(labels, affine)
        return labels, affine

    # ---------------------------------------------------------------- pathology
    def _pathology(
        self, plan: SubjectPlan, labels: np.ndarray, affine: np.ndarray, sampled: dict[str, Any]
    ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        findings: list[dict[str, Any]] = []
        tumour_side = None
        if plan.labels.get("tumour"):
            from radsynth.pathology.glioma import RandomGlioma

            t = self.config.tumour
            ranges: dict[str, Any] = {"radius_mm": tuple(t.radius_mm)}
            if not t.mass_effect:
                ranges["mass_effect_mm"] = (0.0, 0.0)
            glioma = RandomGlioma(**ranges).sample(labels, affine, child_rng(plan.seed, "tumour"))
            sampled["tumour"] = glioma.to_dict()
            labels, finding = glioma.apply(labels, affine)
            tumour_side = finding.get("hemisphere")
            findings.append(finding)
        if plan.labels.get("stroke"):
            from radsynth.pathology.ischaemic_stroke import RandomIschaemicStroke

            # a stroke in a tumour-bearing subject goes to the other hemisphere
            sides = ("left", "right") if tumour_side is None else ({"left": "right", "right": "left"}[tumour_side],)
            stroke = RandomIschaemicStroke(territories=tuple(self.config.stroke.territories), sides=sides).sample(
                labels, affine, child_rng(plan.seed, "stroke")
            )
            sampled["stroke"] = stroke.to_dict()
            labels, finding = stroke.apply(labels, affine)
            findings.append(finding)
        return labels, findings

    # ------------------------------------------------------------------ physics
    def generate(self, plan: SubjectPlan) -> SubjectRecord:
        cfg = self.config
        if cfg.progression is not None:
            from radsynth.physics.mri.brain_progression import generate_progression

            return generate_progression(self, plan)
        sampled: dict[str, Any] = {}
        labels, affine = self._anatomy(plan, sampled)
        from radsynth.anatomy.plausibility import check_plausibility

        # anatomy plausibility (structure volumes, centroids, left/right) of the deformed, aged anatomy,
        # before lesions: tumours and their mass effect change structures by design
        flags = check_plausibility(labels, affine, L.LABEL_NAMES, "brain")
        labels, findings = self._pathology(plan, labels, affine, sampled)
        images, masks, out_affine = self._acquire(plan, labels, affine, findings, sampled)
        provenance = Provenance(
            generator=self.name,
            generator_version=self.version,
            config=self.config_dict(),
            seed=plan.seed,
            sampled=sampled,
            radsynth_version=__version__,
        )
        return SubjectRecord(
            subject_id=plan.subject_id,
            subject_index=plan.index,
            affine=out_affine,
            images=images,
            masks=masks,
            labels=dict(plan.labels),
            attributes={**plan.attributes, "anatomy_source": sampled["labelmap"]["name"]},
            provenance=provenance,
            findings=findings,
            plausibility={"reference": "brain", "flags": flags},
        )

    # ------------------------------------------------------------------ physics
    def _acquire(
        self, plan: SubjectPlan, labels: np.ndarray, affine: np.ndarray, findings: list[dict[str, Any]],
        sampled: dict[str, Any], scan: str = "", sampled_scan: dict[str, Any] | None = None,
    ) -> tuple[list[Any], list[MaskRecord], np.ndarray]:
        """Images, masks and their affine of one examination of the (pathology-painted) anatomy ``labels``.

        Subject-level draws (clinical protocol, soft-boundary width, tissue jitter, texture, T1 variant) use
        the subject's streams and go to ``sampled``. Scan-level draws (SNR, motion ghosting, and each
        sequence's noise, bias field and display window) use streams suffixed with ``scan`` ("" for a
        one-scan subject; ``"@ses-t060"`` for a session of a longitudinal subject, so each session is a
        new acquisition of the same head) and go to ``sampled_scan`` (default: ``sampled``).
        """
        from radsynth.physics.mri.acquisition import Acquisition
        from radsynth.physics.mri.partial_volume import resample_labels_to_voxel_size
        from radsynth.physics.mri.simulator import simulate
        from radsynth.physics.mri.tissue import RandomTissueJitter, tissue_table

        cfg = self.config
        per_scan = sampled if sampled_scan is None else sampled_scan
        real = cfg.realism
        geometry: dict[str, Any] = {"voxel_size_mm": tuple(cfg.voxel_size_mm)}
        if real.protocol is not None:
            protocol = real.protocol.sampler().sample(child_rng(plan.seed, "protocol"))
            sampled["protocol"] = protocol.to_dict()
            labels, affine = protocol.field_of_view(labels, affine)
            geometry = protocol.acquisition_geometry(affine)
        realism_rng = child_rng(plan.seed, "realism")
        lo_b, hi_b = real.boundary_blur_mm
        blur = float(lo_b + (hi_b - lo_b) * realism_rng.random()) if hi_b > 0 else 0.0
        if hi_b > 0:
            sampled["boundary_blur_mm"] = blur

        jitter = RandomTissueJitter(rel_std=cfg.tissue_jitter).sample(child_rng(plan.seed, "tissue"))
        sampled["tissue_jitter"] = jitter.to_dict()
        table = jitter.apply(tissue_table(cfg.field_strength_t))
        pd_modulation = None
        if cfg.texture_std > 0:
            from radsynth.physics.mri.tissue_texture import RandomTissueTexture

            texture = RandomTissueTexture(rel_std=cfg.texture_std).sample(child_rng(plan.seed, "texture"))
            sampled["texture"] = texture.to_dict()
            pd_modulation = texture.field(labels.shape, affine)

        acq_rng = child_rng(plan.seed, "acquisition" + scan)
        lo, hi = cfg.snr
        snr = float(lo + (hi - lo) * acq_rng.random())
        ghost = bool(acq_rng.random() < cfg.artefacts.motion_ghosting_probability)
        per_scan["acquisition"] = {"snr": snr, "motion_ghosting": ghost}
        in_plane = tuple(ax for ax in range(3) if ax != geometry.get("slice_axis", 2))
        acquisition = Acquisition(
            **geometry,
            kspace_filter=None if real.kspace_filter is None else tuple(real.kspace_filter),
            kspace_filter_strength_range=tuple(real.kspace_filter_strength),
            kspace_filter_axes=in_plane,
            snr=snr,
            bias_field_strength=cfg.artefacts.bias_field_strength,
            gibbs=cfg.artefacts.gibbs,
            motion_ghosting=ghost,
            ghost_amplitude_range=tuple(cfg.artefacts.motion_ghost_amplitude),
            undersampling_acceleration=cfg.artefacts.undersampling_acceleration,
        )
        sequences = list(cfg.sequences)
        if cfg.add_t1c_for_tumour and plan.labels.get("tumour") and "T1c" not in sequences:
            sequences.append("T1c")
        from radsynth.physics.mri.acquisition import gap_per_axis

        out_labels, _ = resample_labels_to_voxel_size(labels, affine, acquisition.voxel_size_mm,
                                                      gap_mm=gap_per_axis(acquisition, labels.ndim))
        t1_variant = None
        if real.t1_variants:
            t1_variant = real.t1_variants[int(child_rng(plan.seed, "t1_variant").integers(len(real.t1_variants)))]
            sampled["t1_variant"] = t1_variant
        images = []
        per_scan["sequences"] = {}
        refiner = real.refiner() if real.intensity_refiner is not None else None
        for seq in sequences:
            image, seq_sampled = simulate(
                labels, affine, seq, cfg.field_strength_t, table, acquisition,
                child_rng(plan.seed, f"sequence:{seq}{scan}"),
                pd_modulation=pd_modulation, boundary_blur_mm=blur,
                variant=t1_variant if seq in ("T1w", "T1c") and t1_variant not in (None, "T1w") else None,
            )
            if real.protocol is not None:
                image.acquisition["mr_acquisition_type"] = "2D"  # multi-slice (DICOM MRAcquisitionType)
            if real.display_window_percentile is not None or real.display_median_grey is not None:
                from radsynth.physics.mri.display_window import RandomDisplayWindow

                median = real.display_median_grey
                win = RandomDisplayWindow(tuple(real.display_window_percentile or (98.0, 99.9)),
                                          None if median is None else tuple(median)).sample(
                    child_rng(plan.seed, f"display_window:{seq}{scan}"))
                seq_sampled["display_window"] = win.to_dict()
                # percentile: over the intracranial voxels; median grey: over the whole head (labels > 0)
                ref = out_labels > 0 if median is not None else self._intracranial(out_labels)
                lo_w, hi_w = win.window(image.array, mask=ref)
                image.acquisition["display_window"] = [lo_w, hi_w]
                if refiner is not None and refiner.table_for(seq) is not None:
                    image.array = refiner.apply(image.array, hi_w, seq)
                    seq_sampled["intensity_refiner"] = {"name": real.intensity_refiner, "sha256": refiner.sha256}
            per_scan["sequences"][seq] = seq_sampled
            images.append(image)
        out_affine = images[0].affine
        return images, self._masks(plan, out_labels, out_affine, findings), out_affine

    @staticmethod
    def _intracranial(labels: np.ndarray) -> np.ndarray:
        """Brain, CSF and lesion voxels: the region a brain examination is windowed on."""
        keep = [k for k, t in L.LABEL_TO_TISSUE.items()
                if t in ("gm", "wm", "deep_gm", "csf", "oedema", "tumour_enhancing", "tumour_necrosis", "infarct")]
        return np.isin(labels, keep)

    @staticmethod
    def _masks(plan: SubjectPlan, labels: np.ndarray, affine: np.ndarray, findings: list[dict[str, Any]]) -> list[MaskRecord]:
        voxel_ml = float(abs(np.linalg.det(affine[:3, :3]))) / 1000.0
        present = {int(v) for v in np.unique(labels)}
        masks = [
            MaskRecord(
                name="labels",
                array=labels.astype(np.uint16),
                description="anatomy (FreeSurfer/SynthSeg labels) and lesion labels (1001-1010)",
                label_names={k: v for k, v in L.LABEL_NAMES.items() if k in present},
            )
        ]
        specs = []
        if "tumour" in plan.labels:
            specs += [
                ("tumour_whole", (L.TUMOUR_NECROSIS, L.TUMOUR_ENHANCING, L.TUMOUR_OEDEMA), "glioma: core + oedema"),
                ("tumour_core", (L.TUMOUR_NECROSIS, L.TUMOUR_ENHANCING), "glioma: necrosis + enhancing rim"),
                ("tumour_enhancing", (L.TUMOUR_ENHANCING,), "glioma: enhancing rim"),
            ]
        if "stroke" in plan.labels:
            specs.append(("infarct", (L.INFARCT,), "ischaemic infarct"))
        for name, values, desc in specs:
            arr = np.isin(labels, values).astype(np.uint8)
            masks.append(MaskRecord(name=name, array=arr, description=desc,
                                    properties={"volume_ml": round(float(arr.sum()) * voxel_ml, 3)}))
        return masks
