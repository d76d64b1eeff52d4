"""Figures of interventions: skill-neuron ablation (Wang et al. 2022) and prompt transfer (Ackermann & Ohmer 2024)."""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from neurokit.dims import BOUND, DRAW, FRACTION, SELECTION, SOURCE, TARGET
from neurokit.plots import _inputs as inputs
from neurokit.plots.style import (
    PALETTE,
    SEQUENTIAL_CMAP,
    Width,
    as_width,
    legend_above,
    new_figure,
    paper_style,
    root_figure,
)


def ablation_curve(result, *, width: Width | str = Width.ONE, ax: Axes | None = None) -> Figure:
    """Accuracy after perturbing the top-n % skill neurons vs as many random neurons, against n.

    ``result``: the Dataset of :meth:`neurokit.interventions.SkillAblationExperiment.run` (``accuracy`` (selection,
    fraction, draw), ``reference_accuracy``) with the statistics of
    :func:`neurokit.interventions.ablation_effects` (``accuracy_interval``), as ``neurokit ablate`` and the demo
    store them; from ``correct`` alone they are computed here with their defaults. Lines are means over draws,
    bands their paired bootstrap intervals (examples and draws resampled); the dashed line is the unperturbed
    accuracy.
    """
    figure_name = "ablation_curve"
    ds = inputs.as_dataset(result, figure_name)
    accuracy = inputs.variable(ds, "accuracy", figure_name, group="ablation results")
    inputs.require_dims(accuracy, (SELECTION, FRACTION, DRAW), figure_name)
    if "accuracy_interval" not in ds and "correct" in ds:
        from neurokit.interventions.effects import with_effects

        ds = with_effects(ds)
    interval = inputs.variable(ds, "accuracy_interval", figure_name, group="ablation results")
    inputs.require_dims(interval, (SELECTION, FRACTION, BOUND), figure_name)
    percents = np.asarray(accuracy[FRACTION].values, dtype=float) * 100
    with paper_style():
        axes = inputs.axes_for(ax, 1, figure_name)
        figure, (target,) = (root_figure(axes[0]), axes) if axes is not None else new_figure(width)
        # strict=False: the palette has more colours than the two selections drawn
        for color, selection in zip(PALETTE, ("skill", "random"), strict=False):
            label = "skill neurons" if selection == "skill" else "random neurons"
            target.plot(percents, accuracy.sel({SELECTION: selection}).mean(DRAW).values, marker="o", markersize=3,
                        color=color, label=label)
            bounds = interval.sel({SELECTION: selection, FRACTION: accuracy[FRACTION]})
            target.fill_between(percents, bounds.sel({BOUND: "lower"}).values, bounds.sel({BOUND: "upper"}).values,
                                color=color, alpha=0.2, linewidth=0)
        if "reference_accuracy" in ds:
            target.axhline(float(ds["reference_accuracy"]), color="0.4", linestyle="--", linewidth=0.8,
                           label="unperturbed")
        target.set_xlabel("perturbed neurons per layer (top n %)")
        level = interval.attrs.get("confidence")
        target.set_ylabel("accuracy" if level is None else f"accuracy (bands: {float(level):.0%} CI)")
        legend_above(target)
    return figure


def transfer_heatmap(result, *, value: str = "relative", width: Width | str = Width.ONE,
                     ax: Axes | None = None) -> Figure:
    """Source prompt × target task matrix of transfer ``value`` (``relative`` or ``accuracy``).

    ``result``: the Dataset of :func:`neurokit.interventions.transfer_matrix` (variables (source, target)).
    Rows are labelled by prompt, columns by target task (a prefix common to all rows or all columns, such as
    ``toy_``, is left out); cells are annotated when they are wide enough to read.
    """
    figure_name = "transfer_heatmap"
    ds = inputs.as_dataset(result, figure_name)
    values = inputs.variable(ds, value, figure_name, group="transfer results")
    inputs.require_dims(values, (SOURCE, TARGET), figure_name)
    rows, columns = (inputs.without_common_prefix([str(label) for label in values[dim].values])
                     for dim in (SOURCE, TARGET))
    width = as_width(width)
    with paper_style():
        axes = inputs.axes_for(ax, 1, figure_name)
        height = max(width.panel_height, 0.3 * len(rows) + 1.6)
        figure, (target,) = (root_figure(axes[0]), axes) if axes is not None else new_figure(width, height=height)
        readable = len(columns) <= (4 if width is Width.ONE else 9)
        sns.heatmap(values.transpose(SOURCE, TARGET).values, ax=target, cmap=SEQUENTIAL_CMAP, annot=readable,
                    fmt=".2f", xticklabels=columns, yticklabels=rows, cbar_kws={"label": value.replace("_", " ")},
                    annot_kws={"fontsize": 6})
        target.set_xlabel("target task")
        target.set_ylabel("source prompt")
        target.set_xticklabels(target.get_xticklabels(), rotation=40, ha="right", rotation_mode="anchor")
    return figure
