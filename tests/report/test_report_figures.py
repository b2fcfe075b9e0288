"""Report figures: valid, deterministic PNG bytes; NaN-tolerant; bad shapes rejected."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from radsynth.core.errors import RadsynthInputError
from radsynth.io.grid import grid_image
from radsynth.report import figures as F
from radsynth.report.model import Figure

PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _decode(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIG)
    im = Image.open(io.BytesIO(png))
    im.load()
    return im


def _calls(rng: np.random.Generator) -> dict[str, object]:
    edges = np.linspace(0.0, 1.0, 17)
    f = np.linspace(0.0, 0.5, 20)
    x = [0.05, 0.1, 0.5, 1.0]
    return {
        "grid": lambda: F.image_grid_png([("real", rng.random((3, 8, 8))), ("synthetic", rng.random((2, 8, 8)))]),
        "pairs": lambda: F.pairs_png(np.zeros((3, 8, 8)) + 0.2, np.ones((3, 8, 8)) * 0.7,
                                     [f"d={i / 10:.2f}\npatient P{i}" for i in range(3)]),
        "hist": lambda: F.histogram_png(edges, np.arange(16.0), np.arange(16.0)[::-1]),
        "spectrum": lambda: F.spectrum_png(f, 1.0 / (f + 0.01) ** 2, 1.0 / (f + 0.02) ** 2),
        "curves": lambda: F.curves_png(x, {"real": ([0.6, np.nan, 0.8, 0.9], [0.5, np.nan, 0.7, 0.85],
                                                    [0.7, np.nan, 0.9, 0.95]),
                                           "real+synthetic": ([0.7, 0.75, 0.8, 0.9], None, None)},
                                       xlabel="real fraction", ylabel="AUC"),
        "scores": lambda: F.scores_png(np.linspace(0.2, 0.6, 50), np.r_[np.linspace(0.4, 0.8, 50), np.nan]),
        "bars": lambda: F.bars_png(["F", "M", "age<40"], {"real": ([0.8, np.nan, 0.7], [0.75, np.nan, 0.6],
                                                                  [0.85, np.nan, 0.8]),
                                                         "synthetic": ([0.78, 0.8, 0.75], None, None)},
                                   ylabel="AUC"),
    }


@pytest.mark.parametrize("name", ["grid", "pairs", "hist", "spectrum", "curves", "scores", "bars"])
def test_figure_is_valid_png_and_deterministic(name: str) -> None:
    a = _calls(np.random.default_rng(1))[name]()
    b = _calls(np.random.default_rng(1))[name]()  # fresh inputs with the same values
    im = _decode(a)
    assert im.width > 50 and im.height > 30
    if name not in ("grid", "pairs"):
        assert im.size == (500, 300)  # small fixed-size plots: 5 x 3 inches at 100 dpi
    assert a == b, f"{name}: same input gave different PNG bytes"
    assert b"matplotlib" not in a.lower()  # no version metadata that would change between installs
    Figure(name, a)  # accepted by the report model


def test_image_grid_matches_grid_image() -> None:
    rows = [("a", np.linspace(0, 1, 2 * 6 * 5).reshape(2, 6, 5)), ("b", np.full((1, 6, 5), 0.5))]
    png = F.image_grid_png(rows, zoom=3)
    arr = np.asarray(_decode(png))
    np.testing.assert_array_equal(arr, grid_image(rows, (0.0, 1.0), zoom=3))


def test_image_grid_rejects_bad_range_and_zoom() -> None:
    rows = [("a", np.zeros((1, 4, 4)))]
    with pytest.raises(RadsynthInputError, match="value_range"):
        F.image_grid_png(rows, value_range=(1.0, 1.0))
    with pytest.raises(RadsynthInputError, match="zoom"):
        F.image_grid_png(rows, zoom=0)


def test_pairs_show_at_most_max_pairs_and_wrap() -> None:
    q = np.random.default_rng(2).random((5, 6, 6))
    caps = [str(i) for i in range(5)]
    first3 = F.pairs_png(q[:3], q[:3], caps[:3], per_row=2)
    capped = F.pairs_png(q, q, caps, max_pairs=3, per_row=2)
    assert capped == first3
    one_row = _decode(F.pairs_png(q[:2], q[:2], caps[:2], per_row=2))
    two_rows = _decode(first3)
    assert two_rows.height > 1.7 * one_row.height  # 3 pairs at 2 per row wrap onto a second row
    _decode(F.pairs_png(np.full((1, 6, 6), np.nan), np.zeros((1, 6, 6)), ["nan query"]))


def test_pairs_rejects_mismatched_inputs() -> None:
    q = np.zeros((2, 4, 4))
    with pytest.raises(RadsynthInputError, match="shape"):
        F.pairs_png(q, np.zeros((2, 4, 5)), ["a", "b"])
    with pytest.raises(RadsynthInputError, match="captions"):
        F.pairs_png(q, q, ["a"])


NAN3 = (np.nan, np.nan, np.nan)
ALL_NAN = {
    "curves": lambda: F.curves_png([0.1, 0.5, 1.0], {"a": (NAN3, NAN3, NAN3)}, xlabel="x", ylabel="y"),
    "scores": lambda: F.scores_png([np.nan], []),
    "bars": lambda: F.bars_png(["g1", "g2", "g3"], {"a": (NAN3, None, None)}, ylabel="AUC"),
    "spectrum": lambda: F.spectrum_png([0.0, 0.1], [0.0, np.nan], [np.inf, -1.0]),
    "hist": lambda: F.histogram_png([0.0, 0.5, 1.0], [np.nan, 0.0], [0.0, 0.0]),
}


@pytest.mark.parametrize("name", sorted(ALL_NAN))
def test_all_nan_inputs_still_draw(name: str) -> None:
    """Nothing finite to plot: a valid figure saying so, not an exception."""
    assert _decode(ALL_NAN[name]()).size == (500, 300)


def test_histogram_scale_invariant() -> None:
    """Counts and probability masses of the same histogram give the same density plot."""
    edges = np.linspace(0, 1, 9)
    counts = np.array([1.0, 3, 5, 7, 7, 5, 3, 1])
    assert F.histogram_png(edges, counts, counts[::-1]) == F.histogram_png(edges, counts / 32, counts[::-1] / 32)


def test_length_mismatches_and_bad_values_raise() -> None:
    with pytest.raises(RadsynthInputError, match="length"):
        F.histogram_png([0, 1, 2], [1, 2, 3], [1, 2])
    with pytest.raises(RadsynthInputError, match="bin_edges"):
        F.histogram_png([0, 2, 1], [1, 2], [1, 2])
    with pytest.raises(RadsynthInputError, match="negative"):
        F.histogram_png([0, 1, 2], [1, -2], [1, 2])
    with pytest.raises(RadsynthInputError, match="length"):
        F.curves_png([1, 2], {"a": ([1, 2, 3], None, None)}, xlabel="x", ylabel="y")
    with pytest.raises(RadsynthInputError, match="triple"):
        F.curves_png([1, 2], {"a": [1, 2]}, xlabel="x", ylabel="y")
    with pytest.raises(RadsynthInputError, match="length"):
        F.bars_png(["a", "b"], {"s": ([1.0], None, None)}, ylabel="y")
    with pytest.raises(RadsynthInputError, match="length"):
        F.spectrum_png([0.1, 0.2], [1.0], [1.0, 2.0])


def test_different_data_gives_different_png() -> None:
    x = [0.1, 1.0]
    a = F.curves_png(x, {"a": ([0.5, 0.6], None, None)}, xlabel="x", ylabel="y")
    b = F.curves_png(x, {"a": ([0.5, 0.9], None, None)}, xlabel="x", ylabel="y")
    assert a != b
