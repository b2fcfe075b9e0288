"""What every evaluation section sees: the three sets, the settings, shared features and results.

Sections are functions ``run(ctx) -> SectionResult`` (one file each in this package). The
context loads the feature encoder once and encodes each set once (fidelity and the
feature-space memorisation audit share the features), keeps the results of sections that
ran before (fairness reads the utility study's test scores through ``artifacts``), and
offers the small helpers every section needs (seeded subsets, CI formatting).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError
from radsynth.evaluate.config import EvaluateConfig
from radsynth.evaluate.sets import EvalSet


class SectionSkipped(Exception):
    """A section cannot run on these inputs; the message (one sentence) goes into the report."""


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class EvalContext:
    config: EvaluateConfig
    real: EvalSet
    synthetic: EvalSet
    test: EvalSet | None
    notes: list[str] = field(default_factory=list)
    log: Callable[[str], None] | None = _stderr
    progress: bool = True
    #: arrays a section leaves for later sections (saved beside the section's resume cache)
    artifacts: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    _encoder: Any = field(default=None, repr=False)
    _features: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def say(self, msg: str) -> None:
        if self.log:
            self.log(msg)

    # ------------------------------------------------------------ sets

    def sets(self) -> dict[str, EvalSet]:
        out = {"real": self.real, "synthetic": self.synthetic}
        if self.test is not None:
            out["test"] = self.test
        return out

    def require_test(self, why: str) -> EvalSet:
        if self.test is None:
            raise SectionSkipped(f"no held-out real set was given (--test); {why}")
        return self.test

    def require_labels(self, why: str, *, binary: bool = True, roles: tuple[str, ...] = ("real", "synthetic")) -> None:
        for role in roles:
            s = self.sets().get(role)
            if s is None:
                raise SectionSkipped(f"the {role} set is missing; {why}")
            if s.labels is None:
                raise SectionSkipped(f"the {role} set has no class labels ({s.source}); {why}")
            present = np.unique(s.labels)
            if binary and (len(s.classes) != 2 or present.size != 2):
                raise SectionSkipped(
                    f"the {role} set has classes {list(s.classes)} with images in {present.size}; {why} "
                    "(binary tasks only: exactly two classes, both with images)")

    def subset_index(self, n: int, k: int, salt: int, labels: np.ndarray | None = None) -> np.ndarray:
        """Sorted seeded subset of ``k`` of ``n`` rows (class-stratified when labels are given); all when k >= n."""
        if k >= n:
            return np.arange(n)
        rng = np.random.default_rng([self.config.seed, salt])
        if labels is None:
            return np.sort(rng.choice(n, size=k, replace=False))
        from radsynth.metrics.patient_sampling import stratified_subset

        return np.sort(stratified_subset(np.asarray(labels), k, rng))

    # ------------------------------------------------------------ features

    def encoder(self) -> Any:
        if self._encoder is None:
            from radsynth.metrics.encoder import load_encoder
            from radsynth.metrics.features import PixelEncoder

            name = self.config.encoder
            self._encoder = PixelEncoder() if name == "pixel" else load_encoder(
                name, num_threads=self.config.threads or 1)
        return self._encoder

    def features(self, role: str) -> np.ndarray:
        """Encoder features ``(N, D)`` of every image of a set (computed once)."""
        if role not in self._features:
            from radsynth.metrics.features import encode

            s = self.sets().get(role)
            if s is None:
                raise RadsynthInputError("set", role, f"one of {sorted(self.sets())}")
            self.say(f"encoding {len(s.images)} {role} images ({getattr(self.encoder(), 'name', 'encoder')})")
            self._features[role] = encode(self.encoder(), s.images, f"{role} images")
        return self._features[role]


# ---------------------------------------------------------------- formatting


def ci_text(value: float | None, ci: Any, digits: int = 3) -> str:
    """``0.612 [0.580, 0.640]``; '-' for a missing value."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if ci is None or any(c is None for c in ci):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"
