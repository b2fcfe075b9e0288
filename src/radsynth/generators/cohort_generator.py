"""``learned-2d`` / ``ddpm-2d``: a trained 2D generator as a cohort generator.

Each subject is ONE 2D image (e.g. a chest X-ray) sampled from a model folder
written by ``radsynth train`` (found by name through the model zoo, or a path).
``learned-2d`` takes any architecture (DDPM, LDM, GAN, VAE); ``ddpm-2d`` only
diffusion models (pixel DDPM or latent diffusion). ``sampler``/``steps``/``guidance``
apply to diffusion models only.

Class of a subject (class-conditional models): the model class mapped from the
subject's positive label (``class_label_map``; by default the class whose name
equals the label, case-insensitive, e.g. ``pneumonia -> PNEUMONIA``), or
``negative_class`` when all its labels are negative (by default the one model
class no label maps to). More than one label needs them in one
``exclusive_labels`` group, so a subject never has two classes. An unconditional
model takes no labels.

Determinism: every subject is sampled alone (batch of one) from a torch
generator seeded with the subject's seed, with ``torch.set_num_threads(1)``
for the duration of :meth:`DDPMCohortGenerator.generate` (restored after), in
fp32 by default. CPU kernels may reduce in a thread-count dependent order, so
pinning one thread makes the bytes independent of the number of workers and of
the caller's thread setting (same machine, same torch build).

Geometry: the model's image (rows top->bottom, columns left->right, as displayed)
is stored as a 2D array in (x, z) order, like a frontal (coronal) projection in
radiological display (patient's right on image left, superior at top), with a
nominal ``pixel_spacing_mm`` (the model has no physical scale). Values are in
[0, 1] (the model's [-1, 1] mapped linearly), units "a.u.", modality DX; DICOM
output is a DX For Presentation with only what is known (no view, kVp or
distances; Imager Pixel Spacing = the nominal pixel size).
"""

from __future__ import annotations

import hashlib
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radsynth import __version__
from radsynth.cohort.generator import SubjectPlan
from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import ImageRecord, Provenance, SubjectRecord
from radsynth.io.png import display_to_xz  # noqa: F401 - re-exported (inverse of projection_for_display)


class AnyLabel:
    """``supported_labels`` accepting every name: the real check needs the model (:meth:`check_spec`)."""

    def __contains__(self, item: object) -> bool:
        return True

    def __iter__(self):  # noqa: ANN204
        return iter(())

    def __repr__(self) -> str:
        return "AnyLabel()"


class DDPMCohortConfig(BaseModel):
    """Parameters of the ``ddpm-2d`` generator (spec ``generator.params``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="model name (see `radsynth models list`) or path to a model folder "
                                   "(a relative path is relative to the working directory of the build)")
    image_size: int | None = Field(None, ge=8, description="must equal the model's image size (pixels); default: it")
    sampler: Literal["ddim", "dpm++", "dpm++sde", "ddpm"] | None = Field(
        None, description="diffusion sampler; default: the model's measured default (model card), else dpm++")
    steps: int | None = Field(None, ge=1, description="sampler steps (ddim 50, dpm++/dpm++sde 25, ddpm all; "
                                                      "default: the model's)")
    guidance: float | None = Field(None, ge=0.0, le=50.0, description="classifier-free guidance w (1 = plain "
                                   "conditional; default: the model's measured default, else 1)")
    class_label_map: dict[str, str] = Field(default_factory=dict, description="spec label name -> model class")
    negative_class: str | None = Field(None, description="model class of subjects with no positive label")
    precision: Literal["fp32", "bf16"] = "fp32"
    pixel_spacing_mm: float = Field(1.0, gt=0, le=10, description="nominal pixel size written to the affine (mm)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def projection_affine(spacing_mm: float) -> np.ndarray:
    """Voxel (i, j) -> RAS mm for a coronal projection: i along x, j along z (superior)."""
    a = np.zeros((4, 4))
    a[0, 0] = spacing_mm
    a[2, 1] = spacing_mm
    a[1, 2] = 1.0  # the projected (out-of-plane) axis, nominal 1 mm
    a[3, 3] = 1.0
    return a


class LearnedCohortGenerator:
    """Learned 2D generator: one model sample per subject (see module docstring)."""

    name: ClassVar[str] = "learned-2d"
    #: architectures this generator name accepts
    archs: ClassVar[tuple[str, ...]] = ("ddpm", "ldm", "gan", "vae")
    version: ClassVar[str] = "0.1.0"
    Config: ClassVar[type[BaseModel]] = DDPMCohortConfig
    supported_labels: ClassVar[Any] = AnyLabel()
    supported_attributes: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: DDPMCohortConfig) -> None:
        self.config = config

    # ------------------------------------------------------------ validation
    @classmethod
    def check_spec(cls, spec: Any, config: DDPMCohortConfig) -> None:
        """Spec checks that need the model: model found, image size, labels -> classes.

        Every output format works: DICOM writes each image as a DX For Presentation
        (:func:`radsynth.io.dicom_dx.write_dx`, nominal Imager Pixel Spacing).
        """
        gen = cls(config)
        gen._model_entry  # noqa: B018 - resolves the model, raises RadsynthInputError
        gen.label_classes(sorted(spec.labels), spec.exclusive_labels)

    @cached_property
    def _model_entry(self) -> Any:
        from radsynth.generators.zoo import resolve_model

        entry = resolve_model(self.config.model, "generator.params.model", generator=True)
        size = entry.config["model"]["image_size"]
        if self.config.image_size is not None and self.config.image_size != size:
            raise RadsynthInputError("generator.params.image_size", self.config.image_size,
                                     f"{size} (the image size model {entry.name} was trained at)")
        if entry.config["model"].get("spatial_dims", 2) != 2:
            raise RadsynthInputError("generator.params.model", self.config.model, "a 2D model")
        if entry.arch not in self.archs:
            raise RadsynthInputError("generator.params.model", f"{self.config.model} ({entry.arch})",
                                     f"a model of architecture {', '.join(self.archs)} for generator {self.name}",
                                     "Use generator learned-2d for any architecture.")
        if not self._diffusion(entry.arch):
            c = self.config
            if c.steps is not None or c.guidance not in (None, 1.0) or c.sampler is not None:
                raise RadsynthInputError("generator.params", {"sampler": c.sampler, "steps": c.steps, "guidance": c.guidance},
                                         f"the defaults: a {entry.arch} model samples in one pass, without guidance")
        return entry

    @staticmethod
    def _diffusion(arch: str) -> bool:
        from radsynth.generators.archs import arch_module

        return "sampler" in getattr(arch_module(arch), "SAMPLING_OPTIONS", ())

    def _guidance(self) -> float:
        """Guidance weight used: the spec's, else the model's measured default (diffusion models), else 1."""
        if self.config.guidance is not None:
            return float(self.config.guidance)
        e = self._model_entry
        if not self._diffusion(e.arch):
            return 1.0
        return float(e.config.get("sampling_defaults", {}).get("guidance", 1.0))

    def _steps(self) -> int | None:
        """Sampler steps for a diffusion model (None for single-pass models)."""
        from radsynth.generators.archs import arch_sampler, config_from_dict

        e = self._model_entry
        if not self._diffusion(e.arch):
            return None
        mcfg = config_from_dict(e.config["model"])
        sampler, steps = self._sampler_steps()
        return arch_sampler(e.arch).resolve_sampling_steps(mcfg, sampler, steps)

    def _sampler_steps(self) -> tuple[str, int | None]:
        """(sampler, steps asked) of a diffusion model: the spec's, else the model's measured defaults."""
        from radsynth.generators.diffusion.samplers import model_sampler

        return model_sampler(self._model_entry.config, self.config.sampler, self.config.steps)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self._model_entry.config["model"].get("classes", ()))

    def _class_named(self, field: str, name: str) -> str:
        low = {c.lower(): c for c in self.classes}
        if name.lower() not in low:
            raise RadsynthInputError(field, name, f"a class of model {self._model_entry.name}: {list(self.classes)}")
        return low[name.lower()]

    def label_classes(self, labels: list[str], exclusive: list[list[str]] | None = None) -> tuple[dict[str, str], str | None]:
        """(spec label -> model class, negative class); RadsynthInputError naming the field at fault."""
        cfg = self.config
        for k in cfg.class_label_map:
            if k not in labels:
                raise RadsynthInputError(f"generator.params.class_label_map.{k}", k, f"a label named in `labels`: {labels}")
        if not self.classes:
            if labels:
                raise RadsynthInputError(f"labels.{labels[0]}", labels[0], "no labels: the model is unconditional")
            if cfg.negative_class is not None:
                raise RadsynthInputError("generator.params.negative_class", cfg.negative_class,
                                         "none: the model is unconditional")
            return {}, None
        mapping = {lab: self._class_named(f"generator.params.class_label_map.{lab}" if lab in cfg.class_label_map
                                          else f"labels.{lab}", cfg.class_label_map.get(lab, lab)) for lab in labels}
        if len(set(mapping.values())) != len(mapping):
            raise RadsynthInputError("generator.params.class_label_map", mapping, "a different model class for each label")
        if len(labels) > 1 and not any(set(labels) <= set(g) for g in (exclusive or [])):
            raise RadsynthInputError("exclusive_labels", exclusive or [], f"one group holding all labels {labels}",
                                     "Each subject is one image of one class.")
        if cfg.negative_class is not None:
            neg = self._class_named("generator.params.negative_class", cfg.negative_class)
            if neg in mapping.values():
                raise RadsynthInputError("generator.params.negative_class", cfg.negative_class,
                                         "a class no label maps to")
        else:
            rest = [c for c in self.classes if c not in mapping.values()]
            if len(rest) != 1:
                raise RadsynthInputError("generator.params.negative_class", None,
                                         f"one of {rest} (the class of subjects with no positive label)")
            neg = rest[0]
        return mapping, neg

    # ------------------------------------------------------------ description
    def config_dict(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    @cached_property
    def _model_facts(self) -> dict[str, Any]:
        e = self._model_entry
        return {
            "model_name": e.name,
            "model_weights_sha256": _sha256(e.path / "weights.safetensors"),
            "training_data_fingerprint": e.data_fingerprint,
            "model": e.config["model"],
        }

    def limits(self) -> list[str]:
        """Generator-specific limits for the dataset card."""
        return [
            "- Images come from a learned model: they reproduce its training data's distribution, biases and",
            "  artefacts, and may memorise training images; audit memorisation before sharing the data.",
            "- The class label is what the model was asked for, not a verified finding: check class fidelity",
            "  with an independent classifier on real data before relying on it.",
        ]

    def licences(self) -> list[str]:
        return ["- The model's training data licence applies to its samples (see the model card)."]

    def describe(self) -> str:
        from radsynth.generators.archs import ARCH_TITLES

        e, cfg = self._model_entry, self.config
        steps = self._steps()
        how = (f"{self._sampler_steps()[0]}, {steps} steps, classifier-free guidance w = {self._guidance():g}, {cfg.precision}"
               if steps is not None else f"one network pass, {cfg.precision}")
        return "\n".join([
            f"- Learned generator: {ARCH_TITLES.get(e.arch, e.arch)} `{e.name}` ({e.image_size}x{e.image_size}, classes "
            f"{', '.join(self.classes) or 'none (unconditional)'}), weights sha256 `{self._model_facts['model_weights_sha256']}`.",
            f"- Training data fingerprint `{e.data_fingerprint}` (see the model card: data source, split by patient, curve).",
            f"- Sampling: {how};"
            " one image per subject from its own seed (batch of one, one torch thread): replayable bit-exactly.",
            "- The model imitates its training images; it has no anatomy or physics model, and its images carry"
            " the biases and artefacts of its training data. Pixel spacing is nominal "
            f"({cfg.pixel_spacing_mm:g} mm).",
        ])

    # ------------------------------------------------------------ generation
    @cached_property
    def _net(self) -> Any:
        from radsynth.generators.model_dir import load_model

        cfg, net, _ = load_model(self._model_entry.path, device="cpu")
        return cfg, net

    def generate(self, plan: SubjectPlan) -> SubjectRecord:
        import torch

        from radsynth.generators.archs import arch_sampler

        cfg = self.config
        mapping, neg = self.label_classes(sorted(plan.labels))
        positive = [lab for lab in sorted(plan.labels) if plan.labels[lab]]
        cls = mapping[positive[0]] if positive else neg
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # bytes independent of worker count / caller threads (module docstring)
        try:
            mcfg, net = self._net
            steps = self._steps()
            labels = None if cls is None else [mcfg.label_index(cls)]
            how = {} if steps is None else {"sampler": self._sampler_steps()[0], "steps": steps,
                                            "guidance": self._guidance()}
            img = arch_sampler(mcfg.arch).sample(net, mcfg, labels, n=1, seed=plan.seed, batch_size=1,
                                                precision=cfg.precision, device="cpu", **how)[0]
        finally:
            torch.set_num_threads(threads)
        unit = np.clip((img.astype(np.float32) + np.float32(1.0)) * np.float32(0.5), 0.0, 1.0).astype(np.float32)
        affine = projection_affine(cfg.pixel_spacing_mm)
        image = ImageRecord(
            array=display_to_xz(unit), affine=affine, modality="DX", sequence="", units="a.u.",
            acquisition={"pixel_spacing_mm": cfg.pixel_spacing_mm, "architecture": mcfg.arch, **how},
        )
        prov = Provenance(
            generator=self.name, generator_version=self.version,
            config={"params": self.config_dict(), **self._model_facts},
            seed=plan.seed, sampled={"class": cls, "torch_seed": int(plan.seed)}, radsynth_version=__version__,
        )
        attributes = dict(plan.attributes)
        if cls is not None:
            attributes["class"] = cls
        return SubjectRecord(
            subject_id=plan.subject_id, subject_index=plan.index, affine=affine, images=[image], masks=[],
            labels=dict(plan.labels), attributes=attributes, provenance=prov,
        )


class DDPMCohortGenerator(LearnedCohortGenerator):
    """``ddpm-2d``: a diffusion model (pixel DDPM or latent diffusion) as a cohort generator."""

    name: ClassVar[str] = "ddpm-2d"
    archs: ClassVar[tuple[str, ...]] = ("ddpm", "ldm")
