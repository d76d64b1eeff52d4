"""Pairwise agreement matrices: skill neurons shared between tasks, and between prompts of one task.

Both draw what :func:`neurokit.analysis.pairwise_agreement` returns (``tasks/agreement`` and
``<task>/prompt_agreement`` in a results store): square (dim, other_<dim>) matrices of ``jaccard``,
``overlap`` (with their chance values ``expected_jaccard``, ``expected_overlap``) and ``spearman``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import seaborn as sns
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from neurokit.dims import RUN, TASK
from neurokit.plots import _inputs as inputs
from neurokit.plots._inputs import PlotInputError
from neurokit.plots.style import (
    DIVERGING_CMAP,
    FONT_SIZES,
    SEQUENTIAL_CMAP,
    Width,
    as_width,
    new_figure,
    paper_style,
    root_figure,
)
from neurokit.validation import several_of

#: Metrics an agreement matrix can show, with the variable holding their chance value (None: no ratio).
METRICS = {"jaccard": "expected_jaccard", "overlap": "expected_overlap", "spearman": None}
#: Matrices larger than this are drawn without numbers in the cells by default.
ANNOTATE_MAX = 10


def _ratio_text(value: float, expected: float) -> str:
    if not (np.isfinite(value) and np.isfinite(expected)) or expected <= 0:
        return ""
    return f"\n×{value / expected:.1f}"


def _annotations(metric: str, values: np.ndarray, expected: np.ndarray | None) -> np.ndarray:
    """Cell texts: the value, and for overlaps a second line with the ratio to chance (×)."""
    texts = np.empty(values.shape, dtype=object)
    for index, value in np.ndenumerate(values):
        if not np.isfinite(value):
            texts[index] = ""
        elif metric in ("overlap", "jaccard"):
            assert expected is not None  # both have a chance matrix (METRICS)
            number = f"{value:.0f}" if metric == "overlap" else f"{value:.2f}"
            texts[index] = number + _ratio_text(value, float(expected[index]))
        else:
            texts[index] = f"{value:.2f}"
    return texts


def _title(metric: str, fraction) -> str:
    top = f"top {inputs.percent(fraction)}" if fraction is not None else "skill neurons"
    return {"jaccard": f"Jaccard, {top} (× chance)", "overlap": f"shared neurons, {top} (× chance)",
            "spearman": "Spearman ρ of scores"}[metric]


def _matrix(ds: xr.Dataset, name: str, dim: str, figure: str) -> np.ndarray:
    values = inputs.variable(ds, name, figure, group="agreement results")
    inputs.require_dims(values, [dim, f"other_{dim}"], figure)
    return values.transpose(dim, f"other_{dim}").values.astype(float)


def _agreement_figure(results, dim: str, figure: str, metrics: Sequence[str], annotate: bool | None,
                      width: Width | str, ax: Axes | Sequence[Axes] | None) -> Figure:
    metrics = list(several_of(metrics, tuple(METRICS), "metrics"))
    width = as_width(width)
    ds = inputs.as_dataset(results, figure)
    matrices = {metric: _matrix(ds, metric, dim, figure) for metric in metrics}
    expected = {metric: _matrix(ds, name, dim, figure) for metric in metrics if (name := METRICS[metric])}
    first = ds[metrics[0]]
    labels = inputs.labels_of(first, dim)
    other = f"other_{dim}"
    if other in first.coords and dim in first.coords and \
            not np.array_equal(first[dim].values, first[other].values):
        raise PlotInputError(f"{figure}: rows ({dim}) and columns ({other}) name different entries")
    annotate = len(labels) <= ANNOTATE_MAX if annotate is None else annotate
    fraction = ds.attrs.get("fraction")
    what = "prompt" if dim == RUN else dim
    with paper_style():
        axes = inputs.axes_for(ax, len(metrics), figure)
        if axes is None:
            side = width is Width.TWO and len(metrics) > 1
            rows, cols = (1, len(metrics)) if side else (len(metrics), 1)
            size = min(width.inches / cols * 0.82, 3.0) + 0.25 * (len(labels) > 4)
            figure_obj, axes = new_figure(width, rows, cols, height=rows * size)
        else:
            figure_obj = root_figure(axes[0])
        for target, metric in zip(axes, metrics, strict=True):
            values = matrices[metric]
            if metric == "spearman":
                scale = {"cmap": DIVERGING_CMAP, "vmin": -1.0, "vmax": 1.0}
            elif metric == "jaccard":
                scale = {"cmap": SEQUENTIAL_CMAP, "vmin": 0.0, "vmax": 1.0}
            else:
                peak = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
                scale = {"cmap": SEQUENTIAL_CMAP, "vmin": 0.0, "vmax": max(peak, 1.0)}
            texts = _annotations(metric, values, expected.get(metric)) if annotate else False
            sns.heatmap(values, ax=target, annot=texts, fmt="", square=True, linewidths=0.4, linecolor="white",
                        xticklabels=labels, yticklabels=labels, annot_kws={"fontsize": FONT_SIZES["annotation"]},
                        cbar_kws={"label": metric if metric != "spearman" else "ρ", "shrink": 0.85, "pad": 0.03},
                        **scale)
            target.set_title(_title(metric, fraction))
            target.set_xlabel(what)
            target.set_ylabel(what)
            target.tick_params(axis="x", rotation=90 if max(map(len, labels)) > 4 else 0, length=0)
            target.tick_params(axis="y", rotation=0, length=0)
    return figure_obj


def task_overlap(agreement, *, metrics: Sequence[str] | str = ("jaccard", "spearman"), annotate: bool | None = None,
                 width: Width | str = Width.ONE, ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Task × task heatmaps of skill-neuron agreement: one panel per metric.

    ``agreement``: the ``tasks/agreement`` result (``pairwise_agreement(scores, dim="task")``) with
    (task, other_task) variables. ``metrics``: any of "jaccard" (Jaccard index of the top-fraction sets;
    cells also show the ratio to the chance Jaccard ``expected_jaccard``), "overlap" (shared neurons, with the
    ratio to ``expected_overlap``) and "spearman" (rank correlation of all scores, diverging scale at 0).
    Cells carry numbers for up to 10 tasks unless ``annotate`` says otherwise. With ``ax``, pass one Axes per
    metric.
    """
    return _agreement_figure(agreement, TASK, "task_overlap", metrics, annotate, width, ax)


def prompt_consistency(agreement, *, metrics: Sequence[str] | str = ("jaccard", "spearman"),
                       annotate: bool | None = None, width: Width | str = Width.ONE,
                       ax: Axes | Sequence[Axes] | None = None) -> Figure:
    """Prompt × prompt heatmaps: do prompts of one task (seeds, initialisations) find the same skill neurons?

    ``agreement``: the ``<task>/prompt_agreement`` result (``pairwise_agreement(run_score, dim="run")``) with
    (run, other_run) variables; prompts are labelled by the ``prompt`` coordinate (long hashes cut to 8
    characters). ``metrics`` and the chance ratios as in :func:`task_overlap`.
    """
    return _agreement_figure(agreement, RUN, "prompt_consistency", metrics, annotate, width, ax)
