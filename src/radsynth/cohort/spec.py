"""Cohort specification: a YAML file validated by pydantic.

Example (see ``examples/brain-mri.yaml``)::

    name: brain-mri-demo
    seed: 2026
    n_subjects: 12
    generator:
      name: mri-brain
      params: {field_strength_t: 3.0, sequences: [T1w, T2w, FLAIR]}
    labels: {tumour: 0.3, stroke: 0.2}
    attributes:
      age_years: {distribution: uniform, low: 20, high: 85}
      sex: {distribution: categorical, values: {F: 0.5, M: 0.5}}
    outputs: {formats: [nifti, png, dicom], dicom_subjects: 4}

Validation reports the first problem as one line naming the field, the value and
what is accepted (:class:`~radsynth.core.errors.RadsynthInputError`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import canonical_json, config_hash

FORMATS = ("nifti", "png", "dicom")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UniformDist(_Strict):
    distribution: Literal["uniform"]
    low: float
    high: float
    integer: bool = False

    @model_validator(mode="after")
    def _order(self) -> "UniformDist":
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


class NormalDist(_Strict):
    distribution: Literal["normal"]
    mean: float
    std: float = Field(ge=0)
    low: float | None = None
    high: float | None = None


class CategoricalDist(_Strict):
    distribution: Literal["categorical"]
    values: dict[str, float]

    @field_validator("values")
    @classmethod
    def _probs(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("needs at least one category")
        if any(p < 0 for p in v.values()):
            raise ValueError("probabilities must be >= 0")
        total = sum(v.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"probabilities must sum to 1 (they sum to {total:g})")
        return v


class ConstantDist(_Strict):
    distribution: Literal["constant"]
    value: float | str


AttributeSpec = Annotated[
    Union[UniformDist, NormalDist, CategoricalDist, ConstantDist], Field(discriminator="distribution")
]


class GeneratorSpec(_Strict):
    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class OutputSpec(_Strict):
    formats: list[Literal["nifti", "png", "dicom"]] = Field(default_factory=lambda: ["nifti", "png"], min_length=1)
    #: how many subjects also get DICOM (chosen by a seeded draw); default: all when "dicom" is in formats.
    dicom_subjects: int | None = Field(default=None, ge=0)
    #: invisible watermark in every image (payload: this cohort's id, the spec hash); see radsynth.provenance.watermark
    watermark: bool = True


class PlausibilitySpec(_Strict):
    """Anatomy plausibility checks (generators with anatomy: structure volumes, centroids, left/right).

    Every checked subject's flags go into its ``subject.json``, the manifest (``plausibility_flags``)
    and the dataset card. With ``reject: true`` a flagged subject is redrawn from a seed derived
    deterministically from its own (``redraw:1``, ``redraw:2``, ...), at most ``max_redraws`` times.
    """

    reject: bool = False
    max_redraws: int = Field(10, ge=1, le=100)


class CohortSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    description: str = ""
    seed: int = Field(ge=0, le=2**63 - 1)
    n_subjects: int = Field(ge=1, le=1_000_000)
    generator: GeneratorSpec
    labels: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(default_factory=dict)
    #: groups of labels no subject may have together (e.g. [[tumour, stroke]]);
    #: the group's prevalences must then sum to <= 1.
    exclusive_labels: list[list[str]] = Field(default_factory=list)
    attributes: dict[str, AttributeSpec] = Field(default_factory=dict)
    outputs: OutputSpec = Field(default_factory=OutputSpec)
    plausibility: PlausibilitySpec = Field(default_factory=PlausibilitySpec)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, v: dict[str, float]) -> dict[str, float]:
        for k in v:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", k):
                raise ValueError(f"label name {k!r} must be lower-case letters, digits and _")
        return v

    def check_exclusive(self) -> None:
        """Groups name known labels, once each, with prevalences summing to <= 1."""
        seen: set[str] = set()
        for gi, group in enumerate(self.exclusive_labels):
            for name in group:
                if name not in self.labels:
                    raise RadsynthInputError(f"exclusive_labels[{gi}]", name, f"labels named in `labels`: {sorted(self.labels)}")
                if name in seen:
                    raise RadsynthInputError(f"exclusive_labels[{gi}]", name, "each label in at most one group, once")
                seen.add(name)
            total = sum(self.labels[n] for n in group)
            if total > 1.0 + 1e-9:
                raise RadsynthInputError(f"exclusive_labels[{gi}]", group, f"labels whose prevalences sum to <= 1 (they sum to {total:g})")

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @property
    def hash(self) -> str:
        return config_hash(self.to_dict())


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("uniform", "normal", "categorical", "constant") and out.startswith("attributes"):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "spec"


def raise_from_validation(exc: ValidationError, prefix: str = "") -> None:
    """Turn pydantic's first error into a one-line RadsynthInputError."""
    err = exc.errors()[0]
    field = _format_loc(tuple(err["loc"]))
    if prefix:
        field = f"{prefix}.{field}" if field != "spec" else prefix
    accepted = err["msg"]
    ctx = err.get("ctx") or {}
    if err["type"] == "literal_error" and "expected" in ctx:
        accepted = f"one of {ctx['expected']}"
    elif err["type"] == "extra_forbidden":
        accepted = "no such field (check spelling; see `radsynth cohort validate --help`)"
    elif err["type"] == "missing":
        accepted = "a value (this field is required)"
    value = err.get("input", None) if err["type"] != "missing" else None
    if isinstance(value, dict) and err["type"] != "extra_forbidden":
        value = "{...}"
    raise RadsynthInputError(field, value, accepted.removeprefix("Value error, ")) from None


def parse_spec(data: Any) -> CohortSpec:
    """Validate a spec mapping (top level and the generator's own parameters)."""
    if not isinstance(data, dict):
        raise RadsynthInputError("spec", type(data).__name__, "a YAML mapping with name, seed, n_subjects, generator")
    try:
        spec = CohortSpec.model_validate(data)
    except ValidationError as exc:
        raise_from_validation(exc)
    spec.check_exclusive()
    validate_generator(spec)
    return spec


def validate_generator(spec: CohortSpec) -> Any:
    """Check the generator exists, its params validate, and labels/attributes fit it."""
    from radsynth.cohort.registry import resolve_generator

    cls = resolve_generator(spec.generator.name)
    try:
        config = cls.Config.model_validate(spec.generator.params)
    except ValidationError as exc:
        raise_from_validation(exc, prefix="generator.params")
    for label in spec.labels:
        if label not in cls.supported_labels:
            raise RadsynthInputError(
                f"labels.{label}", label, f"labels supported by {cls.name}: {sorted(cls.supported_labels)}"
            )
    check = getattr(cls, "check_spec", None)  # optional hook: checks needing the whole spec (labels, formats)
    if check is not None:
        check(spec, config)
    return cls, config


def load_spec(path: str | os.PathLike[str]) -> CohortSpec:
    """Read and validate a YAML spec file."""
    p = Path(path)
    if not p.is_file():
        raise RadsynthInputError("SPEC", str(p), "an existing YAML file", hint="Check the path.")
    try:
        data = yaml.safe_load(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RadsynthInputError("SPEC", str(p), f"UTF-8 text (invalid byte at offset {exc.start})") from None
    except RecursionError:
        raise RadsynthInputError("SPEC", str(p), "YAML nested less than ~300 levels deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise RadsynthInputError("SPEC", str(p), f"valid YAML (parse error{where})") from None
    return parse_spec(data)


def spec_to_yaml(spec: CohortSpec) -> str:
    """Canonical YAML of a validated spec (stable bytes for the same spec)."""
    return yaml.safe_dump(spec.to_dict(), sort_keys=True, default_flow_style=False)


def spec_json(spec: CohortSpec) -> str:
    return canonical_json(spec.to_dict())
