"""Settings of ``radsynth evaluate``: which sections run and how much compute each may use.

One frozen pydantic model (:class:`EvaluateConfig`), serialised into ``metrics.json`` and
hashed into the resume key of every section, so a resumed run never mixes sections computed
under other settings. Two presets: ``full`` (the defaults, sized for the Kermany chest X-ray
set on 2 CPU cores: the utility study alone is budgeted at <= 60 min) and ``quick`` (tiny
epochs and subsets: a smoke test of the whole pipeline in about a minute; its numbers are
not meant to be read).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from radsynth.core.errors import RadsynthInputError
from radsynth.generators.common.config_base import ConfigCreateMixin

#: report order (the issue's order); the run order differs (fairness needs the utility scores)
SECTIONS: tuple[str, ...] = ("fidelity", "detectability", "utility", "shortcut", "fairness", "memorisation")
RUN_ORDER: tuple[str, ...] = ("fidelity", "detectability", "memorisation", "shortcut", "utility", "fairness")
PRESETS: tuple[str, ...] = ("full", "quick")


class EvaluateConfig(ConfigCreateMixin, BaseModel):
    """Every setting of an evaluation run (see the module docstring; units in the field descriptions)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sections: tuple[str, ...] = Field(SECTIONS, description="sections to run (others are reported as not run)")
    image_size: int = Field(64, ge=16, le=1024, description="square side in px all sets are resampled to")
    seed: int = Field(0, ge=0)
    encoder: str = Field("cxr-encoder-64", description="shipped encoder name, an encoder folder, or 'pixel'")
    n_boot: int = Field(2000, ge=10, description="bootstrap resamples for every CI")
    level: float = Field(0.95, gt=0.0, lt=1.0, description="confidence level of every CI")
    # fidelity
    fidelity_max_images: int = Field(5000, ge=10, description="per set, seeded subsample for the encoder metrics")
    kid_subsets: int = Field(100, ge=1)
    kid_subset_size: int = Field(1000, ge=2)
    prdc_k: int = Field(5, ge=1)
    grid_per_class: int = Field(8, ge=1, le=32, description="images per class in the sample grids")
    # detectability (C2ST)
    c2st_max_per_side: int = Field(2000, ge=8, description="real and synthetic images used, each side")
    c2st_folds: int = Field(5, ge=2)
    c2st_epochs: int = Field(15, ge=1)
    c2st_max_minutes: float = Field(2.0, gt=0.0, description="training budget per fold (min)")
    c2st_real_control: bool = Field(False, description="also run real-vs-real (training halves by patient)")
    c2st_repeats: int = Field(1, ge=1, le=20, description="repeated cross-validation: fold splits drawn this many times, "
                                                         "out-of-fold scores averaged (1: one k-fold run)")
    # utility
    utility_fractions: tuple[float, ...] = Field((0.05, 0.10, 0.25, 1.0))
    utility_seeds: int = Field(3, ge=1)
    utility_max_epochs: int = Field(10, ge=1)
    utility_min_steps: int = Field(150, ge=0)
    utility_max_minutes_per_model: float = Field(3.0, gt=0.0)
    utility_max_total_minutes: float = Field(60.0, gt=0.0, description="refuse to start above this estimate (min)")
    # shortcut
    shortcut_max_images: int = Field(2000, ge=8, description="per set, class-stratified subsample")
    shortcut_folds: int = Field(3, ge=2)
    shortcut_epochs: int = Field(10, ge=1)
    shortcut_max_minutes: float = Field(2.0, gt=0.0)
    # fairness
    fairness_attributes: tuple[str, ...] = Field((), description="test-set attribute columns; () = all of them")
    fairness_min_n: int = Field(30, ge=1, description="smaller groups are flagged and left out of the gap")
    # memorisation / membership
    memorisation_quantile: float = Field(0.001, gt=0.0, lt=0.5,
                                         description="held-out->training distance quantile used as copy threshold")
    memorisation_max_shift: int = Field(3, ge=0, le=8, description="px of shift invariance at image_size")
    memorisation_pairs: int = Field(16, ge=1, le=64, description="closest pairs shown")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (None: torch's default)")

    def check(self) -> None:
        bad = [s for s in self.sections if s not in SECTIONS]
        if bad or not self.sections or len(set(self.sections)) != len(self.sections):
            raise RadsynthInputError("sections", list(self.sections), f"distinct names from {list(SECTIONS)}")
        fr = self.utility_fractions
        if not fr or any(not 0.0 < f <= 1.0 for f in fr) or len(set(fr)) != len(fr):
            raise RadsynthInputError("utility_fractions", list(fr), "distinct numbers in (0, 1]")
        if self.image_size % 16:
            raise RadsynthInputError("image_size", self.image_size,
                                     "a multiple of 16 (the judge networks halve the image four times)")

    @classmethod
    def preset(cls, name: Literal["full", "quick"] | str, **overrides: Any) -> EvaluateConfig:
        """``full`` (defaults) or ``quick`` (smoke-test sizes), then ``overrides``."""
        if name not in PRESETS:
            raise RadsynthInputError("--preset", name, ", ".join(PRESETS))
        base: dict[str, Any] = {}
        if name == "quick":
            base = dict(
                n_boot=200, fidelity_max_images=400, kid_subsets=10, kid_subset_size=50, grid_per_class=4,
                c2st_max_per_side=120, c2st_folds=2, c2st_epochs=2, c2st_max_minutes=0.5,
                utility_fractions=(0.5, 1.0), utility_seeds=2, utility_max_epochs=2, utility_min_steps=4,
                utility_max_minutes_per_model=0.5, utility_max_total_minutes=10.0,
                shortcut_max_images=120, shortcut_folds=2, shortcut_epochs=2, shortcut_max_minutes=0.5,
                fairness_min_n=5, memorisation_pairs=8,
            )
        return cls.create(**(base | overrides))

    def to_json_dict(self) -> dict[str, Any]:
        return json.loads(self.model_dump_json())

    def section_key(self, section: str, fingerprints: dict[str, str]) -> str:
        """Resume key of one section: sha256 of the section name, these settings and the input fingerprints.

        The thread count is left out: it changes speed, not results that the report compares.
        """
        doc = {"section": section, "config": {k: v for k, v in self.to_json_dict().items() if k != "threads"},
               "inputs": dict(sorted(fingerprints.items()))}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
