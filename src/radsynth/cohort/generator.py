"""The interface every cohort generator follows.

A generator is constructed from its validated config (a pydantic model, so its
constructor arguments serialise to JSON and reload from it) and turns one
:class:`SubjectPlan` into a :class:`~radsynth.core.records.SubjectRecord`. It
must be a pure function of (config, plan): all randomness comes from
``plan.seed`` via :mod:`radsynth.core.rng`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from radsynth.core.records import SubjectRecord


@dataclass(frozen=True)
class SubjectPlan:
    """Everything decided about one subject before it is generated."""

    index: int
    subject_id: str
    seed: int
    labels: dict[str, bool]
    attributes: dict[str, Any]
    formats: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Generator(Protocol):
    name: ClassVar[str]
    version: ClassVar[str]
    Config: ClassVar[type[BaseModel]]
    supported_labels: ClassVar[frozenset[str]]
    #: attributes the generator understands (others are recorded but unused).
    supported_attributes: ClassVar[frozenset[str]]

    def __init__(self, config: BaseModel) -> None: ...

    def generate(self, plan: SubjectPlan) -> SubjectRecord: ...
