"""The three job kinds and the library entry points they call (the same the CLI calls).

* ``cohort-build``: the spec ``radsynth cohort build`` takes -> :func:`radsynth.cohort.runner.build_cohort`
  (resumable: finished subjects are kept).
* ``sample``: the options of ``radsynth sample`` -> :func:`radsynth.generators.cli.sample_command`
  (not resumable: a job interrupted by a restart is failed with the reason).
* ``evaluate``: the options of ``radsynth evaluate`` -> :func:`radsynth.evaluate.runner.evaluate`
  (resumable: finished sections are reused).

Every path in a sample or evaluate spec is relative to the data root and must stay inside it
(no ``..``, no absolute paths, no links out); the output folder is always ``jobs/<id>``.
Validation happens at submission, before anything is stored; errors name ``spec.<field>``.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from radsynth.core.errors import RadsynthInputError
from radsynth.core.records import canonical_json, config_hash

KINDS: tuple[str, ...] = ("cohort-build", "sample", "evaluate")
RESUMABLE: tuple[str, ...] = ("cohort-build", "evaluate")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SampleSpec(_Strict):
    """Options of ``radsynth sample`` (no --out: the job folder; no --device: CPU unless the host has CUDA)."""

    model: str = Field(..., min_length=1, max_length=512,
                       description="A shipped/search-path model name (e.g. cxr-ddpm-64) or a model folder relative "
                                   "to the data root.")
    n: int = Field(..., ge=1, le=10_000)
    label: Optional[str] = None
    attribute: Optional[list[str]] = None
    prompt: Optional[str] = Field(None, max_length=500, description="What to sample in words, e.g. \"chest x-ray, "
                                  "pneumonia\" (read into label / attribute; not with them).")
    guidance: Optional[float] = None
    steps: Optional[int] = Field(None, ge=1, le=10_000)
    sampler: Optional[str] = None
    seed: int = 0
    batch_size: int = Field(64, ge=1, le=4096)
    precision: Literal["bf16", "fp32"] = "bf16"
    watermark: bool = True


class EvaluateSpec(_Strict):
    """Options of ``radsynth evaluate`` (no --out: the job folder). Paths are relative to the data root."""

    real: str = Field(..., min_length=1, max_length=1024)
    synthetic: str = Field(..., min_length=1, max_length=1024)
    test: Optional[str] = Field(None, min_length=1, max_length=1024)
    preset: Literal["full", "quick"] = "full"
    sections: Optional[list[str]] = None
    image_size: Optional[int] = Field(None, ge=8, le=1024)
    encoder: Optional[str] = None
    fairness_attributes: Optional[list[str]] = None
    modality: Optional[str] = None
    slices: Optional[str] = None
    sequence: Optional[str] = None
    seed: int = 0


def _pydantic_error(exc: ValidationError) -> RadsynthInputError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    field = f"spec.{loc}" if loc else "spec"
    return RadsynthInputError(field, err.get("input", "?") if loc else "?", err.get("msg", "invalid"))


def inside(data_root: Path, rel: str, field: str, *, must_exist: bool = True) -> Path:
    """``data_root/rel`` (file or folder) when it stays inside the data root; else :class:`RadsynthInputError`."""
    accepted = "a path relative to the data root, inside it (no '..', no absolute paths, no links out)"
    if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/") or rel.startswith("~"):
        raise RadsynthInputError(field, rel, accepted)
    parts = PurePosixPath(rel).parts
    if any(p == ".." for p in parts) or (parts and ":" in parts[0]):
        raise RadsynthInputError(field, rel, accepted)
    base = data_root.resolve()
    try:
        target = (base / Path(*parts)).resolve(strict=must_exist)
    except FileNotFoundError:
        raise RadsynthInputError(field, rel, "an existing file or folder under the data root") from None
    except (OSError, RuntimeError):
        raise RadsynthInputError(field, rel, accepted) from None
    if not target.is_relative_to(base) or target == base / "service.sqlite":
        raise RadsynthInputError(field, rel, accepted)
    return target


def _load_mapping(spec: Any) -> Any:
    import yaml

    if isinstance(spec, str):
        try:
            return yaml.safe_load(spec)
        except RecursionError:
            raise RadsynthInputError("spec", "<text>", "YAML nested less than ~300 levels deep") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise RadsynthInputError("spec", "<text>", f"valid YAML or JSON (parse error{where})") from None
    return spec


class Validated:
    """A submission checked by the library: canonical JSON to store, its hash, the work count."""

    def __init__(self, kind: str, doc: dict[str, Any], spec_hash: str, n_total: int) -> None:
        self.kind, self.doc, self.hash, self.n_total = kind, doc, spec_hash, n_total

    def json(self) -> str:
        return canonical_json(self.doc)


def validate(kind: str, spec: Any, data_root: Path, *, allow_plugins: bool = False,
             max_subjects: int | None = None) -> Validated:
    """Validate a submission of ``kind``; :class:`RadsynthInputError` naming ``kind`` or ``spec.<field>``."""
    if kind not in KINDS:
        raise RadsynthInputError("kind", kind, f"one of {list(KINDS)}")
    if kind == "cohort-build":
        from radsynth.cohort.spec import spec_json

        parsed = load_cohort_spec(spec, allow_plugins=allow_plugins, max_subjects=max_subjects)
        return Validated(kind, json.loads(spec_json(parsed)), parsed.hash, parsed.n_subjects)
    data = _load_mapping(spec)
    if not isinstance(data, dict):
        raise RadsynthInputError("spec", type(data).__name__, f"a mapping of the options of `radsynth {kind}`")
    if kind == "sample":
        try:
            s = SampleSpec.model_validate(data)
        except ValidationError as exc:
            raise _pydantic_error(exc) from None
        from radsynth.generators.zoo import resolve_model

        if "/" in s.model or s.model.startswith("."):
            folder = inside(data_root, s.model, "spec.model")
            entry = resolve_model(folder, "spec.model", generator=True)
        else:
            entry = resolve_model(s.model, "spec.model", generator=True)
        if s.prompt is not None:
            from radsynth.generators.prompts import conditions_from_prompt

            if s.label is not None or s.attribute:
                raise RadsynthInputError("spec.prompt", s.prompt, "either prompt or label / attribute, not both")
            try:
                conditions_from_prompt(s.prompt, entry.path, field="spec.prompt")
            except RadsynthInputError as exc:  # the API's field is the option; the condition goes in the message
                cond = exc.field.removeprefix("spec.prompt").strip()
                raise RadsynthInputError("spec.prompt", exc.value, exc.accepted,
                                         f"({cond}) {exc.hint}" if cond else exc.hint) from None
        doc = s.model_dump(mode="json")
        if doc["prompt"] is None:  # specs without a prompt keep the hash they had before the option existed
            del doc["prompt"]
        return Validated(kind, doc, config_hash(doc), s.n)
    try:
        e = EvaluateSpec.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_error(exc) from None
    for name in ("real", "synthetic", "test"):
        v = getattr(e, name)
        if v is not None:
            inside(data_root, v, f"spec.{name}")
    cfg = evaluate_config(e)
    if e.slices is not None:
        from radsynth.evaluate.slicing import parse_slices

        try:
            parse_slices(e.slices)
        except RadsynthInputError as exc:
            raise RadsynthInputError("spec.slices", exc.value, exc.accepted, exc.hint) from None
    doc = e.model_dump(mode="json")
    return Validated(kind, doc, config_hash(doc), len(cfg.sections))


def evaluate_config(e: EvaluateSpec) -> Any:
    """The library's :class:`EvaluateConfig` for these options (as ``radsynth evaluate`` builds it)."""
    from radsynth.evaluate.config import EvaluateConfig

    over: dict[str, Any] = {"seed": e.seed}
    if e.sections:
        over["sections"] = tuple(e.sections)
    if e.image_size is not None:
        over["image_size"] = e.image_size
    if e.encoder:
        over["encoder"] = e.encoder
    if e.fairness_attributes:
        over["fairness_attributes"] = tuple(e.fairness_attributes)
    try:
        return EvaluateConfig.preset(e.preset, **over)
    except RadsynthInputError as exc:
        field = exc.field.lstrip("-").replace("-", "_")
        field = {"utility_max_total_minutes": "preset"}.get(field, field)
        raise RadsynthInputError(f"spec.{field}", exc.value, exc.accepted, exc.hint) from None


def count_done(kind: str, out: Path) -> int:
    """Work finished so far in a job folder: subjects (cohort build), images (sample), sections (evaluate)."""
    if kind == "cohort-build":
        from radsynth.cohort.runner import completed_subjects

        return len(completed_subjects(out))
    if kind == "sample":
        d = out / "images"
        return sum(1 for _ in d.glob("*.png")) if d.is_dir() else 0
    from radsynth.evaluate.runner import CACHE

    d = out / CACHE
    return sum(1 for _ in d.glob("*.json")) if d.is_dir() else 0


def run(kind: str, spec_text: str, out: Path, data_root: Path, *, workers: int = 1,
        ray_address: str | None = None) -> tuple[int, str]:
    """Run one job with the library (in the worker process); returns (work done, one summary line).
    ``ray_address``: cohort builds run on that Ray cluster (the library's ``backend="ray"``, as
    ``radsynth cohort build --backend ray --ray-address`` does); other kinds run in the worker process."""
    doc = json.loads(spec_text)
    if kind == "cohort-build":
        from radsynth.cohort.runner import build_cohort
        from radsynth.cohort.spec import parse_spec

        res = build_cohort(parse_spec(doc), out, backend="ray" if ray_address else "local", workers=workers,
                           resume=True, progress=False, ray_address=ray_address)
        return res.n_subjects, f"built {res.n_built}, kept {res.n_skipped} of {res.n_subjects} subjects"
    if kind == "sample":
        from radsynth.generators.cli import sample_command

        s = SampleSpec.model_validate(doc)
        model: Any = inside(data_root, s.model, "spec.model") if ("/" in s.model or s.model.startswith(".")) \
            else s.model
        sample_command(model=model, n=s.n, out=out, label=s.label, attribute=s.attribute, prompt=s.prompt,
                       guidance=s.guidance, steps=s.steps, sampler=s.sampler, seed=s.seed, batch_size=s.batch_size,
                       precision=s.precision,
                       progress=False, watermark=s.watermark, echo=lambda m: print(m, flush=True))
        return s.n, f"sampled {s.n} images"
    if kind == "evaluate":
        from radsynth.evaluate.runner import evaluate

        e = EvaluateSpec.model_validate(doc)
        res = evaluate(inside(data_root, e.real, "spec.real"), inside(data_root, e.synthetic, "spec.synthetic"),
                       inside(data_root, e.test, "spec.test") if e.test else None, out, config=evaluate_config(e),
                       resume=True, modality=e.modality, progress=False, slices=e.slices, sequence=e.sequence,
                       log=lambda m: print(m, flush=True))
        ran = sum(1 for sec in res.sections if sec.status != "not run")
        return len(evaluate_config(e).sections), f"evaluated {ran} sections -> {res.report}"
    raise RadsynthInputError("kind", kind, f"one of {list(KINDS)}")


def load_cohort_spec(spec: Any, *, allow_plugins: bool = False, max_subjects: int | None = None) -> Any:
    """Validate a cohort spec given as a mapping or YAML/JSON text: the library's own validation.

    Raises :class:`RadsynthInputError` naming the field (``spec.<field>``). Plug-in generators
    (``module:Class``) are refused unless ``allow_plugins``: a remote user must not make the
    service import arbitrary modules.
    """
    from radsynth.cohort.spec import parse_spec

    data = _load_mapping(spec)
    if isinstance(data, dict) and not allow_plugins:
        gen = data.get("generator")
        name = gen.get("name") if isinstance(gen, dict) else None
        if isinstance(name, str) and ":" in name:
            from radsynth.cohort.registry import BUILTIN_GENERATORS

            raise RadsynthInputError("spec.generator.name", name, f"one of {sorted(BUILTIN_GENERATORS)}",
                                     "Plug-in generators are disabled on this service.")
    try:
        parsed = parse_spec(data)
    except RadsynthInputError as exc:
        field = exc.field if exc.field.startswith("spec") else f"spec.{exc.field}"
        raise RadsynthInputError(field, exc.value, exc.accepted, exc.hint) from None
    if max_subjects is not None and parsed.n_subjects > max_subjects:
        raise RadsynthInputError("spec.n_subjects", parsed.n_subjects, f"at most {max_subjects} on this service")
    return parsed
