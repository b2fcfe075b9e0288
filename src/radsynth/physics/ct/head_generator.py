"""``ct-head``: physics-based non-contrast head CT from real whole-head label maps.

One subject (all random draws from the subject's seed, recorded in ``provenance.sampled``):

1. anatomy: one real SynthSeg whole-head label map (the six shipped maps, or a folder),
   chosen by the seed; per-subject affine + elastic deformation (head size by sex) as in
   ``mri-brain``; plausibility against the real maps' ranges (reference ``brain``);
2. materials (:func:`radsynth.physics.xray.tissue_map.material_volume_from_head_labels`):
   skull -> cortical bone, marrow -> cancellous bone, grey / white matter -> brain at their
   typical CT numbers, CSF -> water, scalp -> soft tissue / fat, air outside;
3. pathology: acute intraparenchymal haemorrhage (hyperdense 50-90 HU) inside brain
   parenchyma (:mod:`radsynth.pathology.intraparenchymal_haemorrhage`);
4. acquisition as ``ct-chest`` (:mod:`radsynth.physics.ct.ct_scan`), 5 mm slices and a brain
   window (40 / 80 HU) by default.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from radsynth import __version__
from radsynth.cohort.generator import SubjectPlan
from radsynth.core.records import Provenance, SubjectRecord
from radsynth.core.rng import child_rng
from radsynth.physics.ct.chest_generator import CTAcquisitionParams, acquire_ct


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HaemorrhageParams(_Strict):
    volume_ml: tuple[float, float] = Field((3.0, 40.0), description="haematoma volume range (mL)")
    hu: tuple[float, float] = Field((50.0, 90.0), description="acute blood CT number range (HU)")

    @field_validator("volume_ml")
    @classmethod
    def _vol(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0.5 <= v[0] <= v[1] <= 150.0):
            raise ValueError("a (low, high) range with 0.5 <= low <= high <= 150 mL")
        return v

    @field_validator("hu")
    @classmethod
    def _hu(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (40.0 <= v[0] <= v[1] <= 100.0):
            raise ValueError("a (low, high) range with 40 <= low <= high <= 100 HU (acute blood)")
        return v


def _head_acquisition() -> CTAcquisitionParams:
    return CTAcquisitionParams(mas=(150.0, 300.0), slice_thickness_mm=5.0, kernel="shepp-logan")


class HeadCTConfig(_Strict):
    """Parameters of the ``ct-head`` generator (JSON-serialisable)."""

    acquisition: CTAcquisitionParams = Field(default_factory=_head_acquisition)
    labelmap_dir: str | None = Field(None, description="folder of whole-head label maps; default: the shipped six")
    rotation_deg: float = Field(6.0, ge=0, le=30)
    elastic_std_mm: float = Field(2.0, ge=0, le=8)
    haemorrhage: HaemorrhageParams = Field(default_factory=HaemorrhageParams)

    @field_validator("acquisition")
    @classmethod
    def _slices(cls, v: CTAcquisitionParams) -> CTAcquisitionParams:
        if abs(v.slice_thickness_mm - round(v.slice_thickness_mm)) > 1e-6:
            raise ValueError("slice_thickness_mm: a whole number of mm for head CT (the label maps are 1 mm)")
        return v


class HeadCTGenerator:
    """Physics-based head CT generator (see module docstring)."""

    name: ClassVar[str] = "ct-head"
    version: ClassVar[str] = "0.1.0"
    Config: ClassVar[type[BaseModel]] = HeadCTConfig
    supported_labels: ClassVar[frozenset[str]] = frozenset({"haemorrhage"})
    supported_attributes: ClassVar[frozenset[str]] = frozenset({"sex"})

    def __init__(self, config: HeadCTConfig) -> None:
        self.config = config

    @cached_property
    def _labelmap_paths(self) -> list:
        from radsynth.anatomy.labelmaps import available_labelmaps

        return available_labelmaps(self.config.labelmap_dir)

    def config_dict(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    def describe(self) -> str:
        a = self.config.acquisition
        return "\n".join([
            "- Anatomy: real SynthSeg whole-head label maps (skull, marrow, scalp, brain structures, CSF), one per"
            f" subject, deformed by a random affine (rotation <= {self.config.rotation_deg:g} deg, head size by sex) and a"
            f" B-spline elastic field (std {self.config.elastic_std_mm:g} mm).",
            "- Materials: ICRU 44 brain, cortical / cancellous bone, soft tissue, adipose, water (CSF); grey and white"
            " matter at typical non-contrast CT numbers.",
            "- Pathology: acute intraparenchymal haemorrhage (hyperdense, inside brain parenchyma).",
            f"- Acquisition: {a.kvp:g} kVp, {a.mas[0]:g}-{a.mas[1]:g} mAs, {a.n_views} parallel-beam views, polychromatic,"
            f" Poisson + electronic noise, water beam-hardening correction (bone beam hardening remains), FBP"
            f" ({a.kernel}), {a.slice_thickness_mm:g} mm slices, HU.",
        ])

    def limits(self) -> list[str]:
        return [
            "- Head anatomy comes from MRI-derived label maps: bone and scalp follow their segmentation (no sutures,",
            "  sinuses or calcifications); brain texture is a smooth model, not measured CT texture.",
            "- Parallel-beam axial geometry, no scatter, ideal detector; CTDIvol is a body-phantom estimate.",
        ]

    def licences(self) -> list[str]:
        return ["- Anatomy: SynthSeg training label maps (Apache-2.0, Billot et al., Medical Image Analysis 2023)."]

    def generate(self, plan: SubjectPlan) -> SubjectRecord:
        from radsynth.anatomy.deformation import RandomHeadDeformation
        from radsynth.anatomy.labelmaps import load_labelmap_cached
        from radsynth.anatomy.plausibility import check_plausibility
        from radsynth.core import labels as L
        from radsynth.physics.ct.reference import reference_energy_kev
        from radsynth.physics.xray.tissue_map import material_volume_from_head_labels

        cfg = self.config
        acq = cfg.acquisition
        sampled: dict[str, Any] = {}
        paths = self._labelmap_paths
        src = int(child_rng(plan.seed, "anatomy").integers(len(paths)))
        sampled["labelmap"] = {"index": src, "name": paths[src].name}
        labels, affine = load_labelmap_cached(str(paths[src]))
        labels = np.array(labels, dtype=np.int16, copy=True)
        affine = np.array(affine, dtype=np.float64, copy=True)
        deformation = RandomHeadDeformation(rotation_deg=cfg.rotation_deg, elastic_std_mm=cfg.elastic_std_mm).sample(
            child_rng(plan.seed, "deformation"), sex=plan.attributes.get("sex"))
        sampled["deformation"] = deformation.to_dict()
        labels = deformation.apply(labels, affine)
        names = {int(k): v for k, v in L.LABEL_NAMES.items()}
        flags = check_plausibility(labels, affine, names, "brain")

        e_ref = reference_energy_kev()
        volume = material_volume_from_head_labels(labels, affine, child_rng(plan.seed, "texture"),
                                                  reference_energy_kev=e_ref)
        findings: list[dict[str, Any]] = []
        lesion = None
        if plan.labels.get("haemorrhage"):
            from radsynth.pathology.intraparenchymal_haemorrhage import RandomIntraparenchymalHaemorrhage

            parenchyma = np.isin(labels, np.asarray(sorted(L.PARENCHYMA), dtype=np.int16))
            h = cfg.haemorrhage
            model = RandomIntraparenchymalHaemorrhage(volume_ml=tuple(h.volume_ml), hu=tuple(h.hu)).sample(
                parenchyma, affine, child_rng(plan.seed, "haemorrhage"))
            sampled["haemorrhage"] = model.to_dict()
            lesion, finding = model.apply(volume, parenchyma, energy_kev=e_ref)
            findings.append(finding)

        out = acquire_ct(volume, acq, plan.seed, {"haemorrhage": lesion} if "haemorrhage" in plan.labels else {},
                         "head structures (FreeSurfer/SynthSeg labels) and lesion labels",
                         {**names, **volume.label_names},
                         {"window_center_hu": [40.0, 600.0], "window_width_hu": [80.0, 2800.0],
                          "window_explanation": ["BRAIN", "BONE"], "body_part": "HEAD"})
        images, masks, out_affine = out.images, out.masks, out.affine
        sampled.update(out.sampled)
        provenance = Provenance(generator=self.name, generator_version=self.version, config=self.config_dict(),
                                seed=plan.seed, sampled=sampled, radsynth_version=__version__)
        return SubjectRecord(
            subject_id=plan.subject_id, subject_index=plan.index, affine=out_affine, images=images, masks=masks,
            labels=dict(plan.labels), attributes={**plan.attributes, "anatomy_source": sampled["labelmap"]["name"]},
            provenance=provenance, findings=findings, plausibility={"reference": "brain", "flags": flags})
