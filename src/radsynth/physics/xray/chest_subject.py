"""One synthetic chest: real labelled CT anatomy -> per-subject variation -> materials -> pathology.

Shared by the ``ct-chest`` and ``xray-chest`` generators, so a CT and a radiograph of the
same (spec, subject) see the same body. Steps (each random draw from its own named
stream of the subject's seed, recorded in ``sampled``):

1. anatomy: the shipped chest CT (:func:`radsynth.anatomy.chest_ct.load_chest_anatomy`);
   :class:`~radsynth.anatomy.chest_ct.RandomChestVariation` -> inspiration level, body
   habitus (left-right / anterior-posterior scale, subcutaneous fat) and an affine +
   elastic deformation;
2. plausibility: structure volumes, centroids and left/right relations against the ranges
   of the real anatomy (:mod:`radsynth.anatomy.plausibility`, reference ``chest``);
3. materials: structure -> material, per-voxel density from the real CT's HU at the
   scanner's effective energy (:func:`radsynth.physics.xray.tissue_map.material_volume_from_ct`),
   so the real texture inside every structure is kept;
4. pathology (by the subject's labels): lung nodule, lobar consolidation, pleural effusion
   (gravity-dependent: ``upright`` for PA / lateral radiographs, ``supine`` for CT and AP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from radsynth.core.material_volume import MaterialVolume
from radsynth.core.rng import child_rng

LOBES = ("lung_upper_lobe_left", "lung_lower_lobe_left", "lung_upper_lobe_right", "lung_middle_lobe_right",
         "lung_lower_lobe_right")
CHEST_LABELS = frozenset({"nodule", "consolidation", "effusion"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoduleParams(_Strict):
    diameter_mm: tuple[float, float] = Field((6.0, 25.0), description="diameter range (mm), within 3-30")
    subtypes: list[Literal["solid", "part-solid", "ground-glass"]] = Field(
        default_factory=lambda: ["solid", "part-solid", "ground-glass"], min_length=1)
    spiculation_probability: float = Field(0.3, ge=0, le=1)

    @field_validator("diameter_mm")
    @classmethod
    def _diam(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (3.0 <= v[0] <= v[1] <= 30.0):
            raise ValueError("a (low, high) diameter range with 3 <= low <= high <= 30 mm (a nodule is <= 30 mm)")
        return v


class ConsolidationParams(_Strict):
    lobes: list[Literal[LOBES]] = Field(default_factory=lambda: list(LOBES), min_length=1)  # type: ignore[valid-type]
    lobe_fraction: tuple[float, float] = Field((0.5, 1.0), description="fraction of the lobe consolidated")

    @field_validator("lobe_fraction")
    @classmethod
    def _frac(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0.05 <= v[0] <= v[1] <= 1.0):
            raise ValueError("a (low, high) fraction with 0.05 <= low <= high <= 1")
        return v


class EffusionParams(_Strict):
    volume_ml: tuple[float, float] = Field((200.0, 1200.0), description="fluid volume range (mL)")
    sides: list[Literal["left", "right"]] = Field(default_factory=lambda: ["left", "right"], min_length=1)

    @field_validator("volume_ml")
    @classmethod
    def _vol(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (10.0 <= v[0] <= v[1] <= 3000.0):
            raise ValueError("a (low, high) volume range with 10 <= low <= high <= 3000 mL")
        return v


class ChestAnatomyParams(_Strict):
    """Anatomy and pathology of a synthetic chest (shared by ``ct-chest`` and ``xray-chest``)."""

    anatomy_dir: str | None = Field(None, description="folder with a labelled chest CT; default: the shipped one")
    variation: bool = Field(True, description="per-subject inspiration, habitus and deformation")
    contrast: bool = Field(True, description="keep the source CT's iodine contrast in the blood pool (false: unenhanced "
                                             "blood at its ICRU 44 density)")
    variation_ranges: dict[str, Any] = Field(default_factory=dict,
                                             description="overrides of RandomChestVariation (inspiration, habitus, deformation)")
    nodule: NoduleParams = Field(default_factory=NoduleParams)
    consolidation: ConsolidationParams = Field(default_factory=ConsolidationParams)
    effusion: EffusionParams = Field(default_factory=EffusionParams)

    @field_validator("variation_ranges")
    @classmethod
    def _ranges(cls, v: dict[str, Any]) -> dict[str, Any]:
        from radsynth.anatomy.chest_ct import RandomChestVariation
        from radsynth.core.errors import RadsynthInputError

        try:
            RandomChestVariation.from_dict(v)
        except RadsynthInputError as exc:
            raise ValueError(str(exc)) from None
        return v


@dataclass
class ChestSubject:
    """A chest ready for imaging: its material volume, lesion masks (3D uint8) and records."""

    volume: MaterialVolume
    findings: list[dict[str, Any]]
    lesion_masks: dict[str, np.ndarray]
    sampled: dict[str, Any]
    plausibility: dict[str, Any]
    anatomy_masks: dict[str, np.ndarray] = field(default_factory=dict)


def _variation(params: ChestAnatomyParams) -> Any:
    from radsynth.anatomy.chest_ct import RandomChestVariation

    return RandomChestVariation.from_dict(params.variation_ranges)


def build_chest_subject(params: ChestAnatomyParams, seed: int, labels: dict[str, bool], energy_kev: float,
                        position: Literal["upright", "supine"]) -> ChestSubject:
    """Build one chest for a subject seed and its labels (see module docstring).

    ``energy_kev``: the effective energy at which CT numbers are read as densities - of the
    real source CT and of the clinical HU ranges that define lesions (both refer to a
    standard 120 kVp scan: :func:`radsynth.physics.ct.ct_scan.reference_energy_kev`), not the
    energy of the simulated beam, so that a kVp sweep changes contrast as physics says.
    """
    from radsynth.anatomy.chest_ct import load_chest_anatomy
    from radsynth.anatomy.plausibility import check_plausibility
    from radsynth.physics.xray.tissue_map import material_volume_from_ct

    anatomy = load_chest_anatomy(params.anatomy_dir)
    sampled: dict[str, Any] = {}
    if params.variation:
        variation = _variation(params).sample(child_rng(seed, "anatomy"))
        sampled["variation"] = variation.to_dict()
        hu, lab, affine = variation.apply(anatomy)
    else:
        hu, lab, affine = (np.array(anatomy.hu, copy=True), np.array(anatomy.labels, copy=True),
                           np.array(anatomy.affine, copy=True))
    flags = check_plausibility(lab, affine, anatomy.label_names, "chest")
    # the source CT is contrast-enhanced (heart ~330 HU, aorta ~400 HU): its blood pool is iodinated blood,
    # so its attenuation keeps iodine's energy dependence (K-edge 33.2 keV) when kVp changes
    volume = material_volume_from_ct(hu, lab, affine, anatomy.label_names, reference_energy_kev=energy_kev,
                                     blood_material="iodinated_blood")
    if not params.contrast:
        from radsynth.physics.xray.materials import MATERIALS

        volume.set_region(volume.mask_of("iodinated_blood"), "blood", MATERIALS["blood"].density_g_cm3)
    ids = {v: k for k, v in anatomy.label_names.items()}
    lobes = {n: lab == ids[n] for n in LOBES if n in ids}
    lung = np.zeros(lab.shape, dtype=bool)
    for m in lobes.values():
        lung |= m
    findings: list[dict[str, Any]] = []
    lesion_masks: dict[str, np.ndarray] = {}
    if labels.get("consolidation"):
        from radsynth.pathology.lobar_consolidation import RandomLobarConsolidation

        c = params.consolidation
        choice = {n: lobes[n] for n in c.lobes if n in lobes}
        model = RandomLobarConsolidation(lobe_names=tuple(choice), fraction=tuple(c.lobe_fraction)).sample(
            choice, affine, child_rng(seed, "consolidation"))
        sampled["consolidation"] = model.to_dict()
        mask, finding = model.apply(volume, choice, energy_kev=energy_kev)
        lesion_masks["consolidation"] = mask
        findings.append({**finding, "mask": "consolidation"})
    if labels.get("effusion"):
        from radsynth.pathology.pleural_effusion import RandomPleuralEffusion

        e = params.effusion
        hemithorax = {"left": lab_any(lab, [ids[n] for n in LOBES[:2] if n in ids]),
                      "right": lab_any(lab, [ids[n] for n in LOBES[2:] if n in ids])}
        model = RandomPleuralEffusion(volume_ml=tuple(e.volume_ml), sides=tuple(e.sides), positions=(position,)).sample(
            hemithorax, affine, child_rng(seed, "effusion"))
        sampled["effusion"] = model.to_dict()
        mask, finding = model.apply(volume, hemithorax, energy_kev=energy_kev)
        lesion_masks["effusion"] = mask
        findings.append({**finding, "mask": "effusion"})
    if labels.get("nodule"):
        from radsynth.pathology.lung_nodule import RandomLungNodule

        n = params.nodule
        # a nodule sits in aerated lung: not inside consolidation or fluid drawn above
        aerated = lung & ~np.isin(volume.labels, [f["label"] for f in findings if "label" in f])
        model = RandomLungNodule(diameter_mm=tuple(n.diameter_mm), subtypes=tuple(n.subtypes),
                                 spiculation_probability=n.spiculation_probability).sample(
            aerated, affine, child_rng(seed, "nodule"))
        sampled["nodule"] = model.to_dict()
        mask, finding = model.apply(volume, aerated, lobes=lobes, energy_kev=energy_kev)
        lesion_masks["nodule"] = mask
        findings.append({**finding, "mask": "nodule"})
    vertebrae = [k for k, v in anatomy.label_names.items() if v.startswith("vertebrae_")]
    mid_thoracic = [k for k, v in anatomy.label_names.items() if v in {f"vertebrae_T{i}" for i in range(4, 13)}]
    anatomy_masks = {"lungs": lung, "heart": lab == ids.get("heart", -1), "spine": lab_any(lab, vertebrae),
                     "thoracic_spine": lab_any(lab, mid_thoracic)}
    return ChestSubject(volume, findings, lesion_masks, sampled, {"reference": "chest", "flags": flags}, anatomy_masks)


def lab_any(labels: np.ndarray, ids: list[int]) -> np.ndarray:
    return np.isin(labels, np.asarray(ids, dtype=labels.dtype))
