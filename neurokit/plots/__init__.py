"""Publication figures from analysis results: xarray results in, :class:`matplotlib.figure.Figure` out.

Every figure function takes results as ``neurokit analyze`` stores them (a group of the results store, its
Dataset, or a single variable), a ``width`` of one or two paper columns and an optional ``ax`` to draw into,
and returns the figure without showing it. Figures are built without pyplot (no display needed) inside
:func:`paper_style`, which restores every rcParam afterwards. :func:`save_figure` writes PDF, SVG and PNG.
See ``docs/plots.md``; ``neurokit plot RESULTS --out DIR`` draws them all.

The names below are imported on first use: matplotlib, seaborn and xarray take a second or two to import,
which ``neurokit --help`` (it imports :mod:`neurokit.plots.commands`) should not pay.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_EXPORTS = {
    "predictivity_by_layer": "neurokit.plots.neurons",
    "skill_map": "neurokit.plots.neurons",
    "task_overlap": "neurokit.plots.agreement",
    "prompt_consistency": "neurokit.plots.agreement",
    "clean_vs_adversarial_figure": "neurokit.plots.robustness",
    "null_comparison_figure": "neurokit.plots.robustness",
    "ablation_curve": "neurokit.plots.interventions",
    "transfer_heatmap": "neurokit.plots.interventions",
    "PlotInputError": "neurokit.plots._inputs",
    "draw_figures": "neurokit.plots.commands",
    "FIGURES": "neurokit.plots.commands",
    "DIVERGING_CMAP": "neurokit.plots.style",
    "FONT_SIZES": "neurokit.plots.style",
    "PALETTE": "neurokit.plots.style",
    "SEQUENTIAL_CMAP": "neurokit.plots.style",
    "Width": "neurokit.plots.style",
    "legend_above": "neurokit.plots.style",
    "new_figure": "neurokit.plots.style",
    "paper_style": "neurokit.plots.style",
    "save_figure": "neurokit.plots.style",
    "style_rc": "neurokit.plots.style",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names are imported lazily
    from neurokit.plots._inputs import PlotInputError
    from neurokit.plots.agreement import prompt_consistency, task_overlap
    from neurokit.plots.commands import FIGURES, draw_figures
    from neurokit.plots.interventions import ablation_curve, transfer_heatmap
    from neurokit.plots.neurons import predictivity_by_layer, skill_map
    from neurokit.plots.robustness import clean_vs_adversarial_figure, null_comparison_figure
    from neurokit.plots.style import (
        DIVERGING_CMAP,
        FONT_SIZES,
        PALETTE,
        SEQUENTIAL_CMAP,
        Width,
        legend_above,
        new_figure,
        paper_style,
        save_figure,
        style_rc,
    )


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
