"""Class fidelity: Wilson interval against published values, per-class agreement, classifier wrapper."""

from __future__ import annotations

import numpy as np
import pytest

from radsynth.core.errors import RadsynthInputError
from radsynth.metrics.class_fidelity import ClassFidelity, class_fidelity, wilson_interval


@pytest.mark.parametrize(
    "x, n, lo, hi",
    [
        # Wilson (1927) score interval, 95 %; values as tabulated by Newcombe, Stat Med 17:857-872 (1998), Table I
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_table(x: int, n: int, lo: float, hi: float) -> None:
    a, b = wilson_interval(x, n)
    assert a == pytest.approx(lo, abs=6e-5) and b == pytest.approx(hi, abs=6e-5)


def test_wilson_bad_input() -> None:
    with pytest.raises(RadsynthInputError, match="successes"):
        wilson_interval(5, 4)
    with pytest.raises(RadsynthInputError, match="n"):
        wilson_interval(0, 0)


def test_class_fidelity_counts() -> None:
    asked = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    pred = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]
    r = class_fidelity(pred, asked, ["NORMAL", "PNEUMONIA"])
    assert r["NORMAL"]["n"] == 4 and r["NORMAL"]["agree"] == 3 and r["NORMAL"]["rate"] == 0.75
    assert r["PNEUMONIA"]["agree"] == 4 and r["PNEUMONIA"]["rate"] == pytest.approx(4 / 6)
    lo, hi = r["NORMAL"]["ci"]
    assert lo < 0.75 < hi
    with pytest.raises(RadsynthInputError, match="predicted"):
        class_fidelity([0, 1], [0], ["a", "b"])
    with pytest.raises(RadsynthInputError, match="asked"):
        class_fidelity([0], [2], ["a", "b"])


class _BrightnessJudge:
    """Stand-in classifier: class 1 ("BRIGHT") when the mean grey value exceeds 0.5."""

    class_names = ("DARK", "BRIGHT")

    def predict(self, images: np.ndarray) -> np.ndarray:
        return (images.reshape(len(images), -1).mean(axis=1) > 0.5).astype(np.int64)


def test_class_fidelity_wrapper_maps_names_case_insensitively() -> None:
    imgs = np.concatenate([np.full((3, 8, 8), 0.9), np.full((2, 8, 8), 0.1), np.full((1, 8, 8), 0.8)])
    asked = ["bright", "bright", "bright", "dark", "dark", "dark"]
    r = ClassFidelity(_BrightnessJudge())(imgs, asked)
    assert r["bright"]["rate"] == 1.0 and r["dark"]["agree"] == 2 and r["dark"]["n"] == 3
    with pytest.raises(RadsynthInputError, match="class"):
        ClassFidelity(_BrightnessJudge())(imgs[:1], ["grey"])
