"""Small, deterministic PNG figures for the evaluation report.

Every function returns PNG bytes for :class:`radsynth.report.model.Figure`. Figures are
drawn on a :class:`matplotlib.figure.Figure` attached to its own
:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`: no pyplot, no global
figure manager, no change of the process-wide backend, so the functions are safe in
libraries, threads and headless runs. Output is byte-identical for the same input:
fixed size and dpi, explicit font sizes, and ``metadata={"Software": None}`` so the
PNG carries no matplotlib version string.

Colours follow the Okabe-Ito palette, chosen to stay distinguishable under the
common colour-vision deficiencies (Okabe & Ito, "Color Universal Design", 2008;
Wong, "Points of view: Color blindness", Nature Methods 8:441, 2011). Series also
differ by line style or hatch so the figures still read when printed in grey.

Non-finite values (NaN, inf) are dropped point by point rather than failing the whole
figure: an evaluation arm that could not be trained at one data fraction leaves a gap,
not a crash.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from radsynth.core.errors import RadsynthInputError

#: Okabe-Ito colours, ordered so that "real" (first) and "synthetic" (second) contrast most.
PALETTE: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000",
                            "#F0E442")
LINESTYLES: tuple[str, ...] = ("-", "--", "-.", ":")
HATCHES: tuple[str, ...] = ("", "//", "..", "xx", "\\\\", "++", "oo", "--")
DPI = 100
FIGSIZE = (5.0, 3.0)
FONT = 9.0
SMALL = 7.5


def _figure(figsize: tuple[float, float] = FIGSIZE) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


def _style(ax: Any, xlabel: str = "", ylabel: str = "") -> None:
    ax.set_xlabel(xlabel, fontsize=FONT)
    ax.set_ylabel(ylabel, fontsize=FONT)
    ax.tick_params(which="both", labelsize=SMALL)
    ax.grid(True, which="major", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _legend(ax: Any, *, above: bool = False) -> None:
    handles = ax.get_legend_handles_labels()[0]
    if not handles:
        return
    if above:
        ax.legend(fontsize=SMALL, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncol=min(len(handles), 4))
    else:
        ax.legend(fontsize=SMALL, frameon=False)


def _no_data(ax: Any, text: str = "no finite values to plot") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=FONT, color="#555555", transform=ax.transAxes)


def _vec(name: str, x: Any, n: int | None = None) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise RadsynthInputError(name, type(x).__name__, "a 1-D sequence of numbers") from e
    if a.ndim != 1:
        raise RadsynthInputError(f"{name} shape", a.shape, "a 1-D sequence of numbers")
    if n is not None and a.size != n:
        raise RadsynthInputError(f"{name} length", a.size, f"{n} values (one per x / group)")
    return a


def _value_range(value_range: Any) -> tuple[float, float]:
    lo, hi = map(float, value_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise RadsynthInputError("value_range", value_range, "(low, high) with high > low, both finite")
    return lo, hi


def image_grid_png(rows: Sequence[tuple[str, np.ndarray]], *, value_range: tuple[float, float] = (0.0, 1.0),
                   zoom: int = 2) -> bytes:
    """Contact sheet (one labelled row per group of grey images ``(n, h, w)``) as PNG bytes.

    Thin wrapper over :func:`radsynth.io.grid.grid_image` (one fixed window for all rows,
    so brightness differences between rows stay visible), encoded with Pillow.
    """
    from PIL import Image

    from radsynth.io.grid import grid_image

    if int(zoom) < 1:
        raise RadsynthInputError("zoom", zoom, "an integer >= 1")
    arr = grid_image(rows, _value_range(value_range), zoom=int(zoom))
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def pairs_png(queries: np.ndarray, matches: np.ndarray, captions: Sequence[str], *,
              value_range: tuple[float, float] = (0.0, 1.0), query_label: str = "synthetic",
              match_label: str = "nearest training", max_pairs: int = 16, per_row: int = 8) -> bytes:
    """Query images above their nearest training images, each pair captioned (memorisation check).

    ``queries`` and ``matches`` are ``(n, h, w)`` stacks in the same order; ``captions[i]``
    (e.g. ``"d=0.12\\npatient X"``) is printed under pair ``i``. At most ``max_pairs`` pairs
    are drawn (the first ones: pass them closest first), ``per_row`` pairs per row.
    """
    q = np.asarray(queries, dtype=np.float64)
    m = np.asarray(matches, dtype=np.float64)
    if q.ndim != 3 or q.shape != m.shape:
        raise RadsynthInputError("queries/matches shape", (q.shape, m.shape), "two (n, h, w) stacks of equal shape")
    if len(captions) != q.shape[0]:
        raise RadsynthInputError("captions length", len(captions), f"{q.shape[0]} captions (one per pair)")
    if int(max_pairs) < 1 or int(per_row) < 1:
        raise RadsynthInputError("max_pairs/per_row", (max_pairs, per_row), "integers >= 1")
    lo, hi = _value_range(value_range)
    n = min(q.shape[0], int(max_pairs))
    if n == 0:
        fig = _figure((4.0, 1.2))
        _no_data(fig.add_subplot(1, 1, 1), "no pairs to show")
        fig.axes[0].set_axis_off()
        return _png(fig)
    ncol = min(n, int(per_row))
    nblock = math.ceil(n / ncol)
    aspect = q.shape[1] / max(q.shape[2], 1)
    cell_w, left_in, cap_in = 1.1, 0.9, 0.42  # inches: image cell, row-label margin, caption strip
    img_h = cell_w * 0.94 * aspect
    width = left_in + cell_w * ncol + 0.1
    fig = _figure((width, nblock * (2 * img_h + cap_in) + 0.15))
    grid = fig.add_gridspec(3 * nblock, ncol, height_ratios=[img_h, img_h, cap_in] * nblock, left=left_in / width,
                            right=1.0 - 0.1 / width, top=0.99, bottom=0.0, hspace=0.05, wspace=0.06)
    for b in range(nblock):
        for c in range(ncol):
            i = b * ncol + c
            for r, (stack, label) in enumerate(((q, query_label), (m, match_label))):
                ax = fig.add_subplot(grid[3 * b + r, c])
                ax.set_xticks([])
                ax.set_yticks([])
                if i >= n:
                    ax.set_axis_off()
                    continue
                ax.imshow(np.nan_to_num(stack[i], nan=lo), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
                if c == 0:
                    ax.set_ylabel(str(label).replace(" ", "\n"), fontsize=SMALL, rotation=0, ha="right",
                                  va="center", labelpad=4)
                if r == 1:
                    ax.set_xlabel(str(captions[i]), fontsize=6.5, labelpad=2)
    return _png(fig)


def histogram_png(bin_edges: Sequence[float], hist_real: Sequence[float], hist_synthetic: Sequence[float], *,
                  xlabel: str = "grey value (normalised)", labels: tuple[str, str] = ("real", "synthetic")) -> bytes:
    """Two histograms on common bins as step curves, each rescaled to a density (area 1).

    Counts, probability masses and densities are all accepted (rescaling is idempotent);
    non-finite bin values count as 0.
    """
    edges = _vec("bin_edges", bin_edges)
    if edges.size < 2 or not np.all(np.isfinite(edges)) or not np.all(np.diff(edges) > 0):
        raise RadsynthInputError("bin_edges", f"{edges.size} values", "at least 2 finite, strictly increasing edges")
    widths = np.diff(edges)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    drawn = False
    for k, (name, h) in enumerate(((labels[0], hist_real), (labels[1], hist_synthetic))):
        v = _vec(f"hist {name}", h, widths.size)
        v = np.where(np.isfinite(v), v, 0.0)
        if np.any(v < 0):
            raise RadsynthInputError(f"hist {name}", "negative values", "non-negative counts or densities")
        area = float(np.sum(v * widths))
        if area <= 0:
            continue
        ax.stairs(v / area, edges, label=str(name), color=PALETTE[k], linestyle=LINESTYLES[k], linewidth=1.5)
        drawn = True
    if not drawn:
        _no_data(ax)
    _style(ax, xlabel, "density")
    _legend(ax)
    fig.tight_layout()
    return _png(fig)


def spectrum_png(freqs: Sequence[float], power_real: Sequence[float], power_synthetic: Sequence[float], *,
                 labels: tuple[str, str] = ("real", "synthetic")) -> bytes:
    """Radially averaged power spectra on log-log axes (x in cycles/pixel).

    Points with zero frequency, non-positive or non-finite power are skipped (log axes).
    """
    f = _vec("freqs", freqs)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    drawn = False
    for k, (name, p) in enumerate(((labels[0], power_real), (labels[1], power_synthetic))):
        v = _vec(f"power {name}", p, f.size)
        ok = np.isfinite(f) & np.isfinite(v) & (f > 0) & (v > 0)
        if not ok.any():
            continue
        ax.plot(f[ok], v[ok], label=str(name), color=PALETTE[k], linestyle=LINESTYLES[k], linewidth=1.5)
        drawn = True
    if drawn:
        from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        _no_data(ax)
    _style(ax, "spatial frequency (cycles/pixel)", "power")
    _legend(ax)
    fig.tight_layout()
    return _png(fig)


def _band(name: str, triple: Any, n: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    if not isinstance(triple, (tuple, list)) or len(triple) != 3:
        raise RadsynthInputError(f"series {name!r}", type(triple).__name__,
                                 "a (mean, lo, hi) triple; lo/hi may be None")
    mean = _vec(f"series {name!r} mean", triple[0], n)
    lo = None if triple[1] is None else _vec(f"series {name!r} lo", triple[1], n)
    hi = None if triple[2] is None else _vec(f"series {name!r} hi", triple[2], n)
    return mean, lo, hi


def curves_png(x: Sequence[float], series: Mapping[str, tuple[Any, Any, Any]], *, xlabel: str, ylabel: str,
               xlog: bool = True) -> bytes:
    """Learning curves: one line per series with a shaded (lo, hi) confidence band.

    ``series[name] = (mean, lo, hi)`` arrays aligned with ``x``; ``lo``/``hi`` may be None
    (no band). Non-finite points are skipped (the line joins the remaining points); with
    ``xlog`` non-positive x values are skipped too.
    """
    xv = _vec("x", x)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    drawn = False
    xok = np.isfinite(xv) & ((xv > 0) if xlog else True)
    for k, (name, triple) in enumerate(series.items()):
        mean, lo, hi = _band(str(name), triple, xv.size)
        colour = PALETTE[k % len(PALETTE)]
        ok = xok & np.isfinite(mean)
        if lo is not None and hi is not None:
            bok = xok & np.isfinite(lo) & np.isfinite(hi)
            if bok.any():
                ax.fill_between(xv[bok], lo[bok], hi[bok], color=colour, alpha=0.18, linewidth=0)
                drawn = True
        if ok.any():
            ax.plot(xv[ok], mean[ok], label=str(name), color=colour, linestyle=LINESTYLES[k % len(LINESTYLES)],
                    marker="o", markersize=3.5, linewidth=1.5)
            drawn = True
    if drawn and xlog:
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

        ax.set_xscale("log")
        ticks = np.unique(xv[xok])
        if 1 <= ticks.size <= 12:  # label the measured x values themselves (e.g. data fractions)
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    if not drawn:
        _no_data(ax)
    _style(ax, xlabel, ylabel)
    _legend(ax)
    fig.tight_layout()
    return _png(fig)


def scores_png(scores_a: Sequence[float], scores_b: Sequence[float], *, labels: tuple[str, str] = ("real", "synthetic"),
               xlabel: str = "judge score", bins: int = 30) -> bytes:
    """Two overlaid density histograms on shared bins (C2ST out-of-fold scores, membership distances).

    Non-finite scores are dropped; the legend gives how many scores each histogram holds.
    """
    if int(bins) < 1:
        raise RadsynthInputError("bins", bins, "an integer >= 1")
    vals = []
    for name, s in ((labels[0], scores_a), (labels[1], scores_b)):
        v = _vec(f"scores {name}", s)
        vals.append(v[np.isfinite(v)])
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    both = np.concatenate(vals)
    if both.size == 0:
        _no_data(ax)
    else:
        lo, hi = float(both.min()), float(both.max())
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, int(bins) + 1)
        for k, (name, v) in enumerate(zip(labels, vals, strict=True)):
            if v.size == 0:
                continue
            ax.hist(v, bins=edges, density=True, histtype="stepfilled", alpha=0.35, color=PALETTE[k],
                    hatch=HATCHES[k], edgecolor=PALETTE[k], linewidth=0.0)
            ax.hist(v, bins=edges, density=True, histtype="step", color=PALETTE[k], linestyle=LINESTYLES[k],
                    linewidth=1.4, label=f"{name} (n={v.size})")
    _style(ax, xlabel, "density")
    _legend(ax)
    fig.tight_layout()
    return _png(fig)


def bars_png(groups: Sequence[str], series: Mapping[str, tuple[Any, Any, Any]], *, ylabel: str) -> bytes:
    """Grouped bars (one bar per series within each group) with (lo, hi) confidence whiskers.

    ``series[name] = (values, lo, hi)`` aligned with ``groups``; ``lo``/``hi`` may be None.
    A non-finite value draws no bar and an "n/a" mark instead.
    """
    labels = [str(g) for g in groups]
    n = len(labels)
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    k_series = max(len(series), 1)
    width = 0.8 / k_series
    xs = np.arange(n, dtype=np.float64)
    drawn = False
    for k, (name, triple) in enumerate(series.items()):
        vals, lo, hi = _band(str(name), triple, n)
        colour = PALETTE[k % len(PALETTE)]
        pos = xs - 0.4 + width * (k + 0.5)
        ok = np.isfinite(vals)
        if ok.any():
            ax.bar(pos[ok], vals[ok], width=width * 0.92, color=colour, alpha=0.85, hatch=HATCHES[k % len(HATCHES)],
                   edgecolor="white", linewidth=0.5, label=str(name))
            drawn = True
        if lo is not None and hi is not None:
            wok = ok & np.isfinite(lo) & np.isfinite(hi)
            if wok.any():
                err = np.vstack([np.clip(vals[wok] - lo[wok], 0, None), np.clip(hi[wok] - vals[wok], 0, None)])
                ax.errorbar(pos[wok], vals[wok], yerr=err, fmt="none", ecolor="#222222", elinewidth=1.0, capsize=2.5)
        for p in pos[~ok]:
            ax.text(p, 0.0, "n/a", ha="center", va="bottom", fontsize=6.5, color="#555555", rotation=90)
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=SMALL, rotation=30 if n > 4 else 0, ha="right" if n > 4 else "center")
    if n:
        ax.set_xlim(-0.6, n - 0.4)
    if not drawn:
        _no_data(ax)
    _style(ax, "", ylabel)
    ax.tick_params(axis="x", labelsize=SMALL)
    ax.grid(False, axis="x")
    _legend(ax, above=True)
    fig.tight_layout()
    return _png(fig)
