"""Figures of neuron scores: predictivity by layer, and the layer × neuron skill map."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd
import seaborn as sns
import xarray as xr
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from neurokit.analysis import Selection
from neurokit.analysis.skill import DEFAULT_FRACTION
from neurokit.dims import FRACTION, LAYER, NEURON, RUN, TASK
from neurokit.plots import _inputs as inputs
from neurokit.plots._inputs import PlotInputError
from neurokit.plots.style import (
    BINARY_COLORS,
    FONT_SIZES,
    MARK_COLOR,
    MARK_OUTLINE,
    PALETTE,
    REFERENCE_COLOR,
    REFERENCE_STYLE,
    SEQUENTIAL_CMAP,
    Width,
    as_width,
    legend_above,
    new_figure,
    paper_style,
    root_figure,
)
from neurokit.validation import one_of

_KINDS = ("box", "violin", "boxen")
_ORDERS = ("score", "natural")


def _stacked_tasks(scores: Mapping[str, object], figure: str) -> xr.DataArray:
    """Scores of several tasks (name → skill result or score) along a new ``task`` dim."""
    if not scores:
        raise PlotInputError(f"{figure} got an empty mapping of tasks")
    arrays = [inputs.neuron_scores(inputs.as_array(value, figure, ("score",)), figure).reset_coords(drop=True)
              for value in scores.values()]
    try:
        return xr.concat(arrays, dim=pd.Index([str(name) for name in scores], name=TASK), join="exact")
    except ValueError:
        raise PlotInputError(f"{figure}: the tasks' scores have different layers or neurons") from None


def _scores_with_hue(scores, hue: str | None, figure: str) -> tuple[xr.DataArray, str | None]:
    """The neuron scores to draw, (hue dim, layer, neuron), and the hue dim (None without hue)."""
    if isinstance(scores, Mapping) and not isinstance(scores, (xr.Dataset, xr.DataTree)):
        if hue not in (None, TASK):
            raise PlotInputError(f"{figure}: several tasks are drawn with hue='task', got hue={hue!r}")
        return _stacked_tasks(scores, figure), TASK
    if hue is None:
        return inputs.neuron_scores(inputs.as_array(scores, figure, ("score",)), figure), None
    dim = RUN if hue in ("prompt", RUN) else hue
    values = inputs.as_array(scores, figure, ("run_score", "score") if dim == RUN else ("score",))
    if dim not in values.dims and hue in values.coords and len(values[hue].dims) == 1:
        dim = str(values[hue].dims[0])  # a coordinate naming the entries of a dim
    inputs.require_dims(values, [dim], figure)
    return inputs.neuron_scores(values, figure, keep=(dim,)), dim


def _long_table(values: xr.DataArray, hue_dim: str | None) -> tuple[pd.DataFrame, list[str], list[str] | None]:
    """One row per (hue entry, layer, neuron) with a finite score; the layer and hue labels in order."""
    layers = [str(layer) for layer in values[LAYER].values]
    n_layers, n_neurons = values.sizes[LAYER], values.sizes[NEURON]
    data = values.values.reshape(-1, n_layers, n_neurons)
    frame = {"layer": np.tile(np.repeat(layers, n_neurons), data.shape[0]), "predictivity": data.ravel()}
    hue_labels = None
    if hue_dim is not None:
        hue_labels = inputs.labels_of(values, hue_dim)
        frame["hue"] = np.repeat(hue_labels, n_layers * n_neurons)
    table = pd.DataFrame(frame)
    return table[np.isfinite(table["predictivity"])], layers, hue_labels


def _chance_line(ax: Axes, level: float, label: str = "chance") -> None:
    ax.axhline(level, **REFERENCE_STYLE)
    ax.text(1.0, level, f"{label} ", transform=blended_transform_factory(ax.transAxes, ax.transData),
            ha="right", va="bottom", fontsize=FONT_SIZES["annotation"], color=REFERENCE_COLOR)


def predictivity_by_layer(scores, *, hue: str | None = None, kind: str = "box", chance: float | None = 0.5,
                          width: Width | str = Width.ONE, ax: Axes | None = None) -> Figure:
    """Distribution of neuron predictivity in every layer (one box, violin or boxen per layer), with the
    chance level (0.5 for a binary sub-task) as a dashed line.

    ``scores``: a ``<task>/skill`` result (its ``score``; with ``hue="prompt"`` its ``run_score``), a score
    DataArray with dims (layer, neuron) plus the hue dim, or a mapping task name → skill result (drawn with
    ``hue="task"``). A multi-class task's sub-tasks are reduced to the best one unless ``hue="subtask"``.
    ``hue``: None, "prompt" (or "run"), "task", "subtask", or any other dim of the scores.
    """
    figure_name = "predictivity_by_layer"
    one_of(kind, _KINDS, "kind")
    width = as_width(width)
    values, hue_dim = _scores_with_hue(scores, hue, figure_name)
    table, layers, hue_labels = _long_table(values, hue_dim)
    if table.empty:
        raise PlotInputError(f"{figure_name}: every score is NaN, nothing to draw")
    with paper_style():
        axes = inputs.axes_for(ax, 1, figure_name)
        figure, (target,) = new_figure(width) if axes is None else (root_figure(axes[0]), axes)
        common = {"data": table, "x": "layer", "y": "predictivity", "order": layers, "ax": target}
        if hue_labels is None:
            common |= {"color": PALETTE[0]}
        else:
            common |= {"hue": "hue", "hue_order": hue_labels, "palette": list(PALETTE[: len(hue_labels)])
                       if len(hue_labels) <= len(PALETTE) else sns.color_palette("husl", len(hue_labels))}
        if kind == "box":
            with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11's deprecated vert=
                warnings.filterwarnings("ignore", message="vert: bool was deprecated")
                sns.boxplot(**common, linewidth=0.6, fliersize=1.0, width=0.75,
                            flierprops={"marker": ".", "alpha": 0.5, "rasterized": True})
        elif kind == "violin":
            sns.violinplot(**common, linewidth=0.5, cut=0, density_norm="width", inner="quart", width=0.85)
        else:
            sns.boxenplot(**common, linewidth=0.5, width=0.75, flier_kws={"s": 1.0, "rasterized": True})
        if chance is not None:
            _chance_line(target, chance)
        target.set_xlabel("layer")
        target.set_ylabel("predictivity")
        if len(layers) > 16:
            target.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
        if hue_labels is not None:
            seaborn_legend = target.get_legend()
            assert seaborn_legend is not None  # seaborn draws one whenever hue is given
            legend_above(target, seaborn_legend.legend_handles, title="prompt" if hue_dim == RUN else hue_dim,
                         labels=[text.get_text() for text in seaborn_legend.get_texts()])
    return figure


# ----- skill map -----

def _select_fraction(mask: xr.DataArray, fraction: float, figure: str) -> xr.DataArray:
    if FRACTION not in mask.dims:
        return mask
    available = np.asarray(mask[FRACTION].values, dtype=float)
    hits = np.flatnonzero(np.isclose(available, fraction, rtol=0, atol=1e-9))
    if hits.size == 0:
        listed = ", ".join(f"{value:g}" for value in available)
        raise PlotInputError(f"{figure}: the skill masks have no fraction {fraction:g} (they have {listed})")
    return mask.isel({FRACTION: int(hits[0])}, drop=True)


def _mask_like(mask: xr.DataArray, scores: xr.DataArray | None, fraction: float, figure: str) -> xr.DataArray:
    mask = inputs.neuron_scores(_select_fraction(mask, fraction, figure), figure)
    if mask.dtype != bool:
        raise PlotInputError(f"{figure}: the skill mask must be boolean, got dtype {mask.dtype}")
    if scores is not None:
        for dim in (LAYER, NEURON):
            if not np.array_equal(mask[dim].values, scores[dim].values):
                raise PlotInputError(f"{figure}: the skill mask and the scores have different {dim} coordinates")
    return mask


def _top_mask(raw: xr.DataArray, fraction: float, selection: str, figure: str) -> xr.DataArray:
    """The analysis's skill mask of raw scores (:func:`neurokit.analysis.skill.skill_set`: a multi-class
    task's rule follows the scores' ``subtask_scheme``), as (layer, neuron)."""
    from neurokit.analysis.skill import skill_set

    inputs.require_dims(raw, [LAYER, NEURON], figure)
    top = skill_set(raw, [fraction], selection).isel({FRACTION: 0}, drop=True)
    return inputs.neuron_scores(top, figure)


def _skill_inputs(scores, mask, fraction: float, selection: str | None,
                  figure: str) -> tuple[xr.DataArray | None, xr.DataArray, str]:
    """(scores (layer, neuron) or None, boolean mask (layer, neuron), legend label of the mask)."""
    raw, given_mask = None, mask
    if isinstance(scores, xr.DataArray):
        attrs = scores.attrs
        if scores.dtype == bool:
            given_mask = scores if given_mask is None else given_mask
        else:
            raw = scores.load()
    else:
        ds = inputs.as_dataset(scores, figure)
        attrs = ds.attrs
        if "score" not in ds.data_vars and "skill" not in ds.data_vars:
            inputs.variable(ds, "score", figure)  # raises, naming the variable
        if "score" in ds.data_vars:
            raw = ds["score"].load()
        if given_mask is None and "skill" in ds.data_vars:
            given_mask = ds["skill"].load()
    score_values = inputs.neuron_scores(raw, figure) if raw is not None else None
    selection = selection or str(attrs.get("selection", Selection.PER_LAYER.value))
    top = f"top {inputs.percent(fraction)} {'per layer' if selection == Selection.PER_LAYER.value else 'overall'}"
    if given_mask is not None:
        label = f"skill neurons: {top}" if FRACTION in given_mask.dims else "skill neurons"
        return score_values, _mask_like(given_mask, score_values, fraction, figure), label
    assert raw is not None  # inputs without scores have a mask (refused above otherwise)
    return score_values, _top_mask(raw, fraction, selection, figure), f"skill neurons: {top}"


def _integer_ticks(values: np.ndarray) -> np.ndarray:
    """Coordinate values for tick labels: integers as they are, anything else by position."""
    values = np.asarray(values)
    return values if values.dtype.kind in "iu" else np.arange(values.size)


def _axes_height(ax: Axes) -> float:
    """Height of ``ax`` in inches (before layout: its share of the figure)."""
    return ax.get_position().height * root_figure(ax).get_figheight()


def _sorted_rows(values: np.ndarray, marks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row reordered: marked neurons first, then by descending value; NaN last; ties by neuron index."""
    order = np.empty(values.shape, dtype=np.int64)
    index = np.arange(values.shape[1])
    for row in range(values.shape[0]):
        descending = -np.nan_to_num(values[row], nan=-np.inf)
        order[row] = np.lexsort((index, descending, ~marks[row]))
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(marks, order, axis=1)


def _sparse_ticks(axis: Axis, values: npt.ArrayLike, nbins: int, always_first: bool = False) -> None:
    """Ticks at the centres of the cells whose (integer) value is a round number, about ``nbins`` of them;
    every cell when there are few."""
    values = np.asarray(values)
    if values.size <= nbins:
        positions = np.arange(values.size)
    else:
        rounds = MaxNLocator(nbins=nbins, integer=True).tick_values(values.min(), values.max())
        positions = np.flatnonzero(np.isin(values, np.asarray(rounds).astype(values.dtype)))
        if always_first and (positions.size == 0 or positions[0] != 0):
            positions = np.concatenate([[0], positions])
    axis.set_ticks(positions + 0.5, [str(values[position]) for position in positions])


def skill_map(scores, *, mask: xr.DataArray | None = None, fraction: float = DEFAULT_FRACTION,
              selection: str | None = None, order: str = "score", vmin: float | None = 0.5,
              vmax: float | None = None, width: Width | str = Width.ONE, ax: Axes | None = None) -> Figure:
    """Layer × neuron heatmap of neuron scores with the skill neurons marked.

    ``scores``: a ``<task>/skill`` result (``score``, and ``skill`` (fraction, layer, neuron) for the mask),
    a score DataArray (layer, neuron), or a boolean mask alone (drawn as a two-colour map). The mask is
    ``mask`` if given, else the result's ``skill`` at ``fraction``, else the top ``fraction`` of the scores
    (``selection`` "per-layer" or "global"; default: the result's setting). ``order="score"`` sorts each
    layer's neurons (skill neurons first, then by descending score) and marks the cut with a line;
    ``order="natural"`` keeps neuron indices and marks each skill neuron with a dot.
    """
    figure_name = "skill_map"
    one_of(order, _ORDERS, "order")
    width = as_width(width)
    score_values, mask_values, mask_label = _skill_inputs(scores, mask, fraction, selection, figure_name)
    reference = score_values if score_values is not None else mask_values
    marks = mask_values.values.astype(bool)
    data = score_values.values.astype(float) if score_values is not None else marks.astype(float)
    if order == "score":
        data, marks = _sorted_rows(data, marks)
        neuron_ticks = np.arange(1, data.shape[1] + 1)
        xlabel = "neuron rank within layer" if score_values is not None else "neuron, skill neurons first"
    else:
        neuron_ticks = _integer_ticks(reference[NEURON].values)
        xlabel = "neuron"
    layer_ticks = _integer_ticks(reference[LAYER].values)
    n_layers, n_neurons = data.shape
    with paper_style():
        axes = inputs.axes_for(ax, 1, figure_name)
        figure, (target,) = new_figure(width) if axes is None else (root_figure(axes[0]), axes)
        if score_values is not None:
            top = vmax if vmax is not None else (float(np.nanmax(data)) if np.isfinite(data).any() else 1.0)
            bottom = vmin if vmin is not None else float(np.nanmin(data))
            sns.heatmap(data, ax=target, cmap=SEQUENTIAL_CMAP, vmin=bottom, vmax=max(top, bottom + 1e-6),
                        xticklabels=False, yticklabels=False, rasterized=data.size > 4000,
                        cbar_kws={"label": "predictivity", "pad": 0.02, "fraction": 0.05})
        else:
            sns.heatmap(data, ax=target, cmap=ListedColormap(BINARY_COLORS), vmin=0, vmax=1, cbar=False,
                        xticklabels=False, yticklabels=False, rasterized=data.size > 4000)
        target.set_ylim(0, n_layers)  # first layer at the bottom, as depth grows upward
        outline = [patheffects.withStroke(linewidth=2.2, foreground=MARK_OUTLINE)]
        handles: list[Artist] = []
        if score_values is None:
            handles = [Patch(facecolor=BINARY_COLORS[1], label="skill neuron"),
                       Patch(facecolor=BINARY_COLORS[0], edgecolor="0.7", linewidth=0.4, label="other")]
        elif order == "score":
            counts = marks.sum(axis=1)
            segments = [[(count, row), (count, row + 1)] for row, count in enumerate(counts) if count > 0]
            target.add_collection(LineCollection(segments, colors=MARK_COLOR, linewidths=1.0,
                                                 path_effects=outline, zorder=3))
            handles = [Line2D([], [], color=MARK_COLOR, linewidth=1.0, path_effects=outline,
                              label=f"← {mask_label}")]
        else:
            # A short vertical bar per skill neuron: it keeps the height of a row however narrow the cells are.
            rows, columns = np.nonzero(marks)
            row_points = _axes_height(target) * 72 / max(n_layers, 1)
            size = float(np.clip(0.55 * row_points, 1.5, 6.0)) ** 2
            target.scatter(columns + 0.5, rows + 0.5, s=size, marker="|", c=MARK_COLOR, linewidths=0.6,
                           path_effects=[patheffects.withStroke(linewidth=1.6, foreground=MARK_OUTLINE)],
                           zorder=3, rasterized=rows.size > 2000)
            handles = [Line2D([], [], linestyle="", marker="|", markersize=5, markeredgewidth=0.8,
                              color=MARK_COLOR, path_effects=outline, label=mask_label)]
        legend_above(target, handles)
        _sparse_ticks(target.xaxis, neuron_ticks, nbins=6, always_first=order == "score")
        _sparse_ticks(target.yaxis, layer_ticks, nbins=12)
        target.tick_params(axis="x", rotation=0)
        target.tick_params(axis="y", rotation=0)
        target.set_xlabel(xlabel)
        target.set_ylabel("layer")
    return figure
