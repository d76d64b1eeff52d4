"""Figures of skill neurons under attack (Ackermann & Ohmer 2024) and against an untuned prompt."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import seaborn as sns
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from neurokit.analysis import Selection
from neurokit.analysis.skill import DEFAULT_FRACTION
from neurokit.dims import FRACTION, LAYER, NEURON, RUN
from neurokit.plots import _inputs as inputs
from neurokit.plots._inputs import PlotInputError
from neurokit.plots.style import (
    FONT_SIZES,
    PALETTE,
    REFERENCE_STYLE,
    SEQUENTIAL_CMAP,
    Width,
    as_width,
    colormap,
    legend_above,
    new_figure,
    paper_style,
    root_figure,
)
from neurokit.validation import several_of

_OTHER_COLOR = "0.72"
_MAX_LAYER_LEGEND = 6


def _panel_figure(width: Width, panels: Sequence[str], ax, figure: str) -> tuple[Figure, list[Axes]]:
    """One Axes per panel: the caller's, or a new figure with panels side by side (two columns) or stacked
    (one column)."""
    axes = inputs.axes_for(ax, len(panels), figure)
    if axes is not None:
        return root_figure(axes[0]), axes
    if width is Width.TWO:
        return new_figure(width, 1, len(panels))
    return new_figure(width, len(panels), 1, height=len(panels) * width.panel_height * 0.85)


def _check_panels(panels: Sequence[str] | str, known: Sequence[str], figure: str) -> list[str]:
    return list(several_of(panels, known, f"{figure} panels", distinct=True))


def _prompt_colors(count: int) -> list:
    return list(PALETTE[:count]) if count <= len(PALETTE) else sns.color_palette("husl", count)


def _percent_axis(target: Axes, fractions: np.ndarray) -> np.ndarray:
    target.set_xlabel("top n % of neurons (n)")
    percents = fractions * 100
    target.set_xticks(percents if percents.size <= 6 else percents[1::2])
    pad = 0.04 * max(float(percents.max() - percents.min()), 1.0)
    target.set_xlim(float(percents.min()) - pad, float(percents.max()) + pad)
    return percents


def _layer_lines(target: Axes, values: xr.DataArray, percents: np.ndarray) -> None:
    """One line per layer coloured along the sequential colormap; a legend for few layers, else a colorbar."""
    layers = [str(layer) for layer in values[LAYER].values]
    cmap = colormap(SEQUENTIAL_CMAP)
    shades = cmap(np.linspace(0.0, 0.9, len(layers)))
    for index, layer in enumerate(layers):
        target.plot(percents, values.isel({LAYER: index}).values, color=shades[index], marker="o", markersize=2,
                    linewidth=0.9, label=f"layer {layer}")
    if len(layers) <= _MAX_LAYER_LEGEND:
        target.legend(loc="best", ncol=1 if len(layers) < 4 else 2, handlelength=1.2, borderaxespad=0.2)
        return
    # Many layers: a discrete colorbar, one colour band per layer, instead of a long legend.
    mappable = ScalarMappable(norm=BoundaryNorm(np.arange(len(layers) + 1) - 0.5, len(layers)),
                              cmap=ListedColormap(shades))
    bar = root_figure(target).colorbar(mappable, ax=target, pad=0.02, fraction=0.06)
    bar.set_label("layer")
    ticks = np.unique(np.linspace(0, len(layers) - 1, min(len(layers), 5)).round().astype(int))
    bar.set_ticks(ticks.tolist(), labels=[layers[tick] for tick in ticks])
    bar.ax.tick_params(length=0)


def _overlap_panel(target: Axes, ds: xr.Dataset, figure: str) -> None:
    overlap = inputs.variable(ds, "overlap", figure, group="clean-vs-adversarial results")
    chance = inputs.variable(ds, "chance_overlap", figure, group="clean-vs-adversarial results")
    inputs.require_dims(overlap, [FRACTION], figure)
    inputs.require_dims(chance, [FRACTION], figure)
    if RUN in overlap.dims:
        overlap = overlap.mean(RUN)
    percents = _percent_axis(target, np.asarray(overlap[FRACTION].values, dtype=float))
    if LAYER in overlap.dims:
        _layer_lines(target, overlap.transpose(LAYER, FRACTION), percents)
    else:
        target.plot(percents, overlap.values, color=PALETTE[0], marker="o", markersize=2, label="all layers")
    chance_values = chance.sel({FRACTION: overlap[FRACTION].values}).values
    target.plot(percents, chance_values, **REFERENCE_STYLE)
    target.annotate("chance", (percents[-1], chance_values[-1]), xytext=(0, -3), textcoords="offset points",
                    ha="right", va="top", fontsize=FONT_SIZES["annotation"], color=REFERENCE_STYLE["color"])
    target.set_ylabel("overlap clean ∩ adversarial")
    target.set_ylim(0, 1.02)


def _predictivity_panel(target: Axes, ds: xr.Dataset, figure: str) -> None:
    group = "clean-vs-adversarial results"
    top = inputs.variable(ds, "adversarial_predictivity", figure, group=group)
    everyone = inputs.variable(ds, "adversarial_predictivity_all", figure, group=group)
    inputs.require_dims(top, [FRACTION], figure)
    if RUN not in top.dims:
        top, everyone = top.expand_dims(RUN), everyone.expand_dims(RUN)
    labels = inputs.labels_of(top, RUN)
    colors = _prompt_colors(len(labels))
    percents = _percent_axis(target, np.asarray(top[FRACTION].values, dtype=float))
    top = top.transpose(RUN, FRACTION)
    for index, label in enumerate(labels):
        target.plot(percents, top.values[index], color=colors[index], marker="o", markersize=2, label=label)
        target.axhline(float(everyone.values[index]), color=colors[index], linestyle=":", linewidth=0.8)
    target.axhline(0.5, **REFERENCE_STYLE)
    target.set_ylabel("adversarial predictivity\nof clean top n %")
    handles = target.get_legend_handles_labels()[0] if len(labels) > 1 else \
        [Line2D([], [], color=colors[0], marker="o", markersize=2, label="clean top n %")]
    handles += [Line2D([], [], color="0.3", linestyle=":", linewidth=0.8, label="all neurons"),
                _reference_handle("chance")]
    legend_above(target, handles, title="prompt" if len(labels) > 1 else None, ncol=min(len(handles), 3))


def _scores_pair(clean, adversarial, figure: str) -> tuple[xr.DataArray, xr.DataArray]:
    pair = []
    for name, value in (("clean", clean), ("adversarial", adversarial)):
        if value is None:
            raise PlotInputError(f"{figure}: the scatter panel needs both clean and adversarial neuron scores "
                                 f"(the {name} scores are missing)")
        pair.append(inputs.neuron_scores(inputs.as_array(value, figure, ("score",)), figure))
    for dim in (LAYER, NEURON):
        if not np.array_equal(pair[0][dim].values, pair[1][dim].values):
            raise PlotInputError(f"{figure}: clean and adversarial scores have different {dim} coordinates")
    return pair[0], pair[1]


def _scatter_panel(target: Axes, clean: xr.DataArray, adversarial: xr.DataArray, fraction: float,
                   selection: str) -> None:
    from neurokit.analysis.skill import top_fraction

    top = top_fraction(clean, [fraction], selection).isel({FRACTION: 0}, drop=True).values
    x, y = clean.values, adversarial.values
    many = x.size > 2000
    target.scatter(x[~top], y[~top], s=2, color=_OTHER_COLOR, linewidths=0, rasterized=many, label="other neurons")
    target.scatter(x[top], y[top], s=4, color=PALETTE[0], linewidths=0, rasterized=many,
                   label=f"clean top {inputs.percent(fraction)}")
    values = inputs.finite(np.concatenate([x.ravel(), y.ravel()]))
    low = min(0.5, float(values.min())) if values.size else 0.5
    high = max(1.0, float(values.max())) if values.size else 1.0
    pad = 0.02 * (high - low)
    target.plot([low, high], [low, high], **REFERENCE_STYLE)
    target.set_xlim(low - pad, high + pad)
    target.set_ylim(low - pad, high + pad)
    target.set_aspect("equal", adjustable="box")
    target.set_xlabel("clean predictivity")
    target.set_ylabel("adversarial predictivity")
    target.legend(loc="upper left", handletextpad=0.2, borderaxespad=0.2, markerscale=2)


def clean_vs_adversarial_figure(result, *, clean=None, adversarial=None, fraction: float = DEFAULT_FRACTION,
                         panels: Sequence[str] | str | None = None, width: Width | str = Width.ONE,
                         ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Are skill neurons still predictive on adversarial data, and are they the same neurons?

    ``result``: the ``<task>/clean_vs_adversarial`` result of :func:`neurokit.analysis.clean_vs_adversarial`.
    Panels: "scatter" — clean vs adversarial score of every neuron, the clean top ``fraction`` highlighted,
    y = x dashed (needs ``clean`` and ``adversarial``: the ``<task>/skill`` and ``<task>/adversarial_skill``
    results or their ``score``); "overlap" — |top-n %(clean) ∩ top-n %(adversarial)| / |top-n %| per layer
    (averaged over prompts) against n, with the chance overlap ``chance_overlap``; "predictivity" — mean
    adversarial score of the clean top-n % neurons per prompt, dotted: over all neurons. Default: scatter and
    overlap when scores are given, else overlap and predictivity.
    """
    figure_name = "clean_vs_adversarial"
    known = ("scatter", "overlap", "predictivity")
    if panels is None:
        panels = ("scatter", "overlap") if clean is not None or adversarial is not None else ("overlap", "predictivity")
    panels = _check_panels(panels, known, figure_name)
    width = as_width(width)
    ds = inputs.as_dataset(result, figure_name)
    pair = _scores_pair(clean, adversarial, figure_name) if "scatter" in panels else None
    # Check every input before drawing anything: a refusal leaves no half-drawn axes behind.
    for panel, names in (("overlap", ("overlap", "chance_overlap")),
                         ("predictivity", ("adversarial_predictivity", "adversarial_predictivity_all"))):
        if panel in panels:
            for name in names:
                inputs.variable(ds, name, figure_name, group="clean-vs-adversarial results")
    selection = str(ds.attrs.get("selection", Selection.PER_LAYER.value))
    with paper_style():
        figure, axes = _panel_figure(width, panels, ax, figure_name)
        for target, panel in zip(axes, panels, strict=True):
            if panel == "scatter":
                assert pair is not None  # read above whenever the scatter panel is drawn
                _scatter_panel(target, *pair, fraction, selection)
            elif panel == "overlap":
                _overlap_panel(target, ds, figure_name)
            else:
                _predictivity_panel(target, ds, figure_name)
    return figure


# ----- null comparison -----

def _reference_handle(label: str) -> Line2D:
    return Line2D([], [], **REFERENCE_STYLE, label=label)


def _quantile_panel(target: Axes, ds: xr.Dataset, reference: float, figure: str) -> None:
    group = "null-comparison results"
    tuned = inputs.variable(ds, "tuned_quantile", figure, group=group)
    null = inputs.variable(ds, "null_quantile", figure, group=group)
    inputs.require_dims(tuned, ["quantile"], figure)
    inputs.require_dims(null, ["quantile"], figure)
    levels = np.asarray(tuned["quantile"].values, dtype=float)
    null = null.sel(quantile=levels)
    positions = np.arange(levels.size)
    target.plot(positions, tuned.values, color=PALETTE[0], marker="o", label="tuned")
    target.plot(positions, null.values, color=PALETTE[1], marker="s", label="untuned")
    target.set_xticks(positions, [f"{level * 100:g}" for level in levels])
    target.set_xlim(-0.4, levels.size - 0.6)
    target.set_xlabel("percentile over neurons")
    target.set_ylabel("predictivity")
    target.axhline(0.5, **REFERENCE_STYLE)
    legend_above(target, [*target.get_legend_handles_labels()[0], _reference_handle("chance")])


def _share_limits(target: Axes, values: np.ndarray, reference: float) -> None:
    """From 0 to a little above the largest share, never hiding the level expected under the null."""
    peak = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
    target.set_ylim(0, min(1.02, max(peak * 1.15, (1.0 - reference) * 3, 0.05)))


def _share_label(reference: float) -> str:
    return f"share above untuned\n{reference * 100:g}th percentile"


def _layer_panel(target: Axes, ds: xr.Dataset, reference: float, figure: str) -> None:
    share = inputs.variable(ds, "share_above_null_by_layer", figure, group="null-comparison results")
    inputs.require_dims(share, [LAYER], figure)
    layers = [str(layer) for layer in share[LAYER].values]
    positions = np.arange(len(layers))
    target.bar(positions, share.values, color=PALETTE[0], width=0.75, label="tuned neurons")
    step = 1 if len(layers) <= 8 else int(np.ceil(len(layers) / 6))
    target.set_xticks(positions[::step], layers[::step])
    target.axhline(1.0 - reference, **REFERENCE_STYLE)
    target.set_xlabel("layer")
    target.set_ylabel(_share_label(reference))
    _share_limits(target, share.values, reference)
    legend_above(target, [*target.get_legend_handles_labels()[0],
                          _reference_handle(f"null: {inputs.percent(1.0 - reference)}")])


def _skill_panel(target: Axes, ds: xr.Dataset, reference: float, figure: str) -> None:
    group = "null-comparison results"
    share = inputs.variable(ds, "skill_share_above_null", figure, group=group)
    overall = inputs.variable(ds, "share_above_null", figure, group=group)
    inputs.require_dims(share, [FRACTION], figure)
    percents = _percent_axis(target, np.asarray(share[FRACTION].values, dtype=float))
    target.plot(percents, share.values, color=PALETTE[0], marker="o", markersize=2, label="skill neurons")
    target.axhline(float(overall.values), color=PALETTE[2], linestyle=":", linewidth=0.9, label="all neurons")
    target.axhline(1.0 - reference, **REFERENCE_STYLE)
    target.set_ylabel(_share_label(reference))
    _share_limits(target, np.append(share.values, float(overall.values)), reference)
    legend_above(target, [*target.get_legend_handles_labels()[0],
                          _reference_handle(f"null: {inputs.percent(1.0 - reference)}")])


def _distribution_panel(target: Axes, tuned: xr.DataArray, null: xr.DataArray, reference: float) -> None:
    for values, color, label in ((tuned, PALETTE[0], "tuned"), (null, PALETTE[1], "untuned")):
        sns.ecdfplot(x=inputs.finite(values.values.ravel()), ax=target, color=color, label=label, linewidth=1.0)
    threshold = float(np.quantile(inputs.finite(null.values.ravel()), reference))
    target.axvline(threshold, **REFERENCE_STYLE)
    target.set_xlabel("predictivity")
    target.set_ylabel("share of neurons ≤ x")
    legend_above(target, [*target.get_legend_handles_labels()[0],
                          _reference_handle(f"untuned {reference * 100:g}th pct")])


def null_comparison_figure(result, *, tuned=None, null=None, panels: Sequence[str] | str | None = None,
                    width: Width | str = Width.ONE, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """A tuned prompt's neuron scores against an untuned (random) prompt's, the null distribution.

    ``result``: the ``<task>/null`` result of :func:`neurokit.analysis.null_comparison`. Panels:
    "quantiles" — percentiles of the scores over all neurons, tuned vs untuned (``tuned_quantile``,
    ``null_quantile``); "layers" — per layer, the share of tuned neurons above the untuned prompt's reference
    percentile (``share_above_null_by_layer``; under the null, 1 − reference); "skill" — that share among the
    tuned top-n % skill neurons (``skill_share_above_null``) and among all neurons (``share_above_null``);
    "distribution" — cumulative distributions of both score sets (needs ``tuned`` and ``null`` scores: the
    results store keeps only the quantiles of the untuned prompt). Default: quantiles (or distribution when
    scores are given) and layers.
    """
    figure_name = "null_comparison"
    known = ("distribution", "quantiles", "layers", "skill")
    if panels is None:
        panels = ("distribution" if tuned is not None and null is not None else "quantiles", "layers")
    panels = _check_panels(panels, known, figure_name)
    width = as_width(width)
    ds = inputs.as_dataset(result, figure_name)
    reference = float(ds.attrs.get("reference_quantile", 0.99))
    needs = {"quantiles": ("tuned_quantile", "null_quantile"), "layers": ("share_above_null_by_layer",),
             "skill": ("skill_share_above_null", "share_above_null")}
    for panel in panels:
        for name in needs.get(panel, ()):
            inputs.variable(ds, name, figure_name, group="null-comparison results")
    scores: tuple[xr.DataArray, xr.DataArray] | None = None
    if "distribution" in panels:
        if tuned is None or null is None:
            raise PlotInputError(f"{figure_name}: the distribution panel needs the tuned and the untuned prompt's "
                                 f"neuron scores (tuned=, null=)")
        tuned_scores, null_scores = (inputs.neuron_scores(inputs.as_array(value, figure_name, ("score",)), figure_name)
                                     for value in (tuned, null))
        scores = tuned_scores, null_scores
    draw = {"quantiles": _quantile_panel, "layers": _layer_panel, "skill": _skill_panel}
    with paper_style():
        figure, axes = _panel_figure(width, panels, ax, figure_name)
        for target, panel in zip(axes, panels, strict=True):
            if panel == "distribution":
                assert scores is not None  # read above whenever the distribution panel is drawn
                _distribution_panel(target, *scores, reference)
            else:
                draw[panel](target, ds, reference, figure_name)
    return figure
