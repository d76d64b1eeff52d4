"""``neurokit plot RESULTS --out DIR``: publication figures from a results store of ``neurokit analyze``.

Every figure the store supports is drawn, per task and across tasks; figures whose inputs are absent are
skipped with a note on stderr. Written paths go to stdout, one per line. Files are named
``<task>__<figure>.<format>`` (``tasks__…`` for figures across tasks), like the analysis's tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neurokit.dims import FRACTION, RUN, TASK
from neurokit.errors import ConfigError, NeurokitError
from neurokit.storage import (
    add_storage_argument,
    locate,
    storage_options_from_args,
    upload,
)
from neurokit.validation import FRACTION_RANGE, POSITIVE, real

if TYPE_CHECKING:  # imported on use: the CLI starts without xarray and matplotlib
    import xarray as xr
    from matplotlib.figure import Figure

#: Figure names (``--figures``, file names): the drawing function's name, except ``clean_vs_adversarial`` and
#: ``null_comparison``, named after their result groups and drawn by ``clean_vs_adversarial_figure`` and
#: ``null_comparison_figure`` (the analysis functions of those groups own the plain names).
FIGURES = ("predictivity_by_layer", "skill_map", "task_overlap", "prompt_consistency", "clean_vs_adversarial",
           "null_comparison", "ablation_curve", "transfer_heatmap")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot", help="publication figures from a results store of 'neurokit analyze'",
        description="Draw every figure a results store supports (predictivity by layer, skill maps, task "
                    "overlap, prompt consistency, clean vs adversarial, tuned vs untuned prompt) as PDF, SVG "
                    "and PNG files sized for one or two paper columns.",
    )
    parser.add_argument("results", metavar="RESULTS",
                        help="results store (Zarr) written by 'neurokit analyze': a local path or a URL")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for the figure files: a local path or a URL (each file uploaded when drawn)")
    parser.add_argument("--formats", default="pdf,svg,png", help="comma-separated file formats (default pdf,svg,png)")
    parser.add_argument("--width", default="one", choices=["one", "two"],
                        help="figure width: one column (~3.3 in) or two columns (~6.9 in)")
    parser.add_argument("--figures", default="all",
                        help=f"comma-separated figures to draw (default all): {', '.join(FIGURES)}")
    parser.add_argument("--fraction", type=float, default=None,
                        help="top fraction marked as skill neurons in skill maps and scatter plots (default: the "
                             "analysis's --fraction)")
    parser.add_argument("--dpi", type=int, default=300, help="resolution of PNG output (default 300)")
    add_storage_argument(parser)
    parser.set_defaults(handler=handler)


@dataclass(frozen=True)
class PlannedFigure:
    stem: str
    figure: str
    draw: Callable[..., Figure]  # called without arguments; `...` admits lambdas that bind loop values


def _split(text: str, what: str) -> list[str]:
    items = [item.strip().lower() for item in text.split(",") if item.strip()]
    if not items:
        raise ConfigError(f"--{what} is empty")
    return items


def parse_figures(text: str) -> list[str]:
    names = _split(text, "figures")
    if names == ["all"]:
        return list(FIGURES)
    unknown = [name for name in names if name not in FIGURES]
    if unknown:
        raise ConfigError(f"unknown figure {unknown[0]!r}: choose from {', '.join(FIGURES)} (or all)")
    return [name for name in FIGURES if name in names]


def parse_formats(text: str) -> list[str]:
    from matplotlib.figure import Figure

    formats = list(dict.fromkeys(item.lstrip(".") for item in _split(text, "formats")))
    supported = Figure().canvas.get_supported_filetypes()
    unknown = [fmt for fmt in formats if fmt not in supported]
    if unknown:
        raise ConfigError(f"unsupported figure format {unknown[0]!r}: choose from {', '.join(sorted(supported))}")
    return formats


def task_groups(tree: xr.DataTree) -> dict[str, dict[str, xr.DataTree]]:
    """Result groups by their parent: {"sst2": {"skill": node, ...}, "tasks": {"agreement": node, ...}}."""
    groups: dict[str, dict[str, xr.DataTree]] = {}
    for node in tree.subtree:
        if node.parent is None or not node.has_data:
            continue
        parent = node.parent.path.strip("/")
        if parent:
            assert node.name is not None  # only the root has no name
            groups.setdefault(parent, {})[node.name] = node
    return groups


def _default_fraction(tree, given: float | None) -> float:
    from neurokit.analysis.skill import DEFAULT_FRACTION

    if given is not None:
        return given
    try:
        return float(json.loads(tree.attrs.get("settings", "{}")).get("fraction", DEFAULT_FRACTION))
    except (TypeError, ValueError):
        return DEFAULT_FRACTION


def _skill_for_fraction(skill, fraction: float):
    """The skill result for a skill map at ``fraction``: without its stored masks when they lack that fraction
    (the map then selects the top fraction from the scores, as the analysis does)."""
    import numpy as np

    ds = skill
    if "skill" in ds and FRACTION in ds["skill"].dims and \
            not np.isclose(np.asarray(ds[FRACTION].values, dtype=float), fraction, rtol=0, atol=1e-9).any():
        return ds.drop_vars("skill")
    return ds


def plan(tree, names: list[str], fraction: float, width: str) -> tuple[list[PlannedFigure], list[str]]:
    """The figures to draw from a results tree, and a note for each requested figure that cannot be drawn.

    Reads the layout of :mod:`neurokit.analysis.groups`, which ``analyze``, ``ablate``, ``transfer``, the demo
    and the study write: ``<task>/skill`` (and the task's other analyses), ``tasks/…``, ``<task>/ablation`` and
    ``transfer/prompts``.
    """
    from neurokit.analysis.groups import (
        ABLATION,
        ACROSS_TASKS,
        ADVERSARIAL_SKILL,
        AGREEMENT,
        CLEAN_VS_ADVERSARIAL,
        CROSS_TASK,
        NULL,
        PROMPT_AGREEMENT,
        PROMPTS,
        SKILL,
        TRANSFER,
        group_path,
    )
    from neurokit.plots import agreement, interventions, neurons, robustness

    groups = task_groups(tree)
    across = groups.get(ACROSS_TASKS, {}) if SKILL not in groups.get(ACROSS_TASKS, {}) else {}
    tasks = {task: found for task, found in groups.items() if SKILL in found}
    ablations = {task: found[ABLATION] for task, found in groups.items()
                 if ABLATION in found and task not in (ACROSS_TASKS, TRANSFER, CROSS_TASK)}
    transfer = groups.get(TRANSFER, {}).get(PROMPTS)
    planned: list[PlannedFigure] = []
    notes: list[str] = []
    if not tasks and not across and not ablations and transfer is None:
        wanted = ", ".join(repr(group_path(*parts)) for parts in (("<task>", SKILL), ("<task>", ABLATION),
                                                                 (TRANSFER, PROMPTS)))
        raise NeurokitError(f"the results store has no analysis results to plot (no group {wanted})")

    def add(stem: str, figure: str, draw: Callable[..., Figure]) -> None:
        if figure in names:
            planned.append(PlannedFigure(stem, figure, draw))

    def skip(figure: str, where: str, reason: str) -> None:
        if figure in names:
            notes.append(f"skipped {figure} for {where}: {reason}")

    for task, found in tasks.items():
        stem = task.replace("/", "__")
        skill = found[SKILL].to_dataset()
        hue = "prompt" if "run_score" in skill.data_vars and skill.sizes.get(RUN, 1) > 1 else None
        add(f"{stem}__predictivity_by_layer", "predictivity_by_layer",
            lambda skill=skill, hue=hue: neurons.predictivity_by_layer(skill, hue=hue, width=width))
        add(f"{stem}__skill_map", "skill_map",
            lambda skill=skill: neurons.skill_map(_skill_for_fraction(skill, fraction), fraction=fraction,
                                                  width=width))
        if PROMPT_AGREEMENT in found:
            add(f"{stem}__prompt_consistency", "prompt_consistency",
                lambda result=found[PROMPT_AGREEMENT]: agreement.prompt_consistency(result, width=width))
        else:
            skip("prompt_consistency", task,
                 f"no group {group_path(task, PROMPT_AGREEMENT)} (needs several prompts)")
        if CLEAN_VS_ADVERSARIAL in found:
            attacked = found.get(ADVERSARIAL_SKILL)
            add(f"{stem}__clean_vs_adversarial", "clean_vs_adversarial",
                lambda result=found[CLEAN_VS_ADVERSARIAL], clean=skill, attacked=attacked:
                robustness.clean_vs_adversarial_figure(result, clean=clean if attacked is not None else None,
                                                       adversarial=attacked, fraction=fraction, width=width))
        else:
            skip("clean_vs_adversarial", task,
                 f"no group {group_path(task, CLEAN_VS_ADVERSARIAL)} (analyze with --adversarial)")
        if NULL in found:
            add(f"{stem}__null_comparison", "null_comparison",
                lambda result=found[NULL]: robustness.null_comparison_figure(result, width=width))
        else:
            skip("null_comparison", task, f"no group {group_path(task, NULL)} (analyze with --null)")
    if len(tasks) > 1:
        add(f"{ACROSS_TASKS}__predictivity_by_layer", "predictivity_by_layer",
            lambda: neurons.predictivity_by_layer({task: found[SKILL] for task, found in tasks.items()},
                                                  hue=TASK, width=width))
    if AGREEMENT in across:
        add(f"{ACROSS_TASKS}__task_overlap", "task_overlap",
            lambda: agreement.task_overlap(across[AGREEMENT], width=width))
    else:
        skip("task_overlap", "the tasks",
             f"no group {group_path(ACROSS_TASKS, AGREEMENT)} (needs results of several tasks)")
    for task, ablation in ablations.items():
        add(f"{task.replace('/', '__')}__ablation_curve", "ablation_curve",
            lambda ablation=ablation: interventions.ablation_curve(ablation, width=width))
    if transfer is not None:
        add(f"{TRANSFER}__transfer_heatmap", "transfer_heatmap",
            lambda: interventions.transfer_heatmap(transfer, width=width))
    return planned, notes


def draw_figures(results: str | Path, out: str | Path, figures: Sequence[str] = FIGURES,
                 formats: Sequence[str] = ("pdf", "svg", "png"), width: str = "one", fraction: float | None = None,
                 dpi: int = 300, storage_options: Mapping[str, Any] | None = None) -> tuple[list[Path], list[str]]:
    """Draw every requested figure that the results store at ``results`` (a local path or a URL,
    ``storage_options`` for its filesystem) supports into the local folder ``out``.

    ``fraction`` marks skill neurons (default: the analysis's). Returns the files written and a note for each
    figure that could not be drawn; raises :class:`~neurokit.errors.NeurokitError` when none could.
    """
    from neurokit.analysis.groups import ACROSS_TASKS
    from neurokit.analysis.results import check_writable, load_results
    from neurokit.plots._inputs import PlotInputError
    from neurokit.plots.style import as_width, save_figure

    column_width = as_width(width)
    check_writable(out, overwrite=True)  # an existing file or a read-only folder fails now, not after drawing
    real(dpi, "--dpi", POSITIVE)
    if fraction is not None:  # None: the results' own fraction
        real(fraction, "--fraction", FRACTION_RANGE)
    tree = load_results(results, storage_options)
    planned, notes = plan(tree, list(figures), _default_fraction(tree, fraction), column_width.value)
    written: list[Path] = []
    for item in planned:
        try:
            figure = item.draw()
        except PlotInputError as error:
            if item.stem.startswith(f"{ACROSS_TASKS}__") and item.figure == "predictivity_by_layer":
                notes.append(f"skipped predictivity_by_layer across tasks: {error}")
                continue
            raise
        written += save_figure(figure, Path(out) / item.stem, formats=formats, dpi=dpi)
    if not written:
        raise NeurokitError(f"no figure drawn from {results}: the requested figures need results it lacks")
    return written, notes


def handler(args: argparse.Namespace) -> int:
    storage_options = storage_options_from_args(args)
    destination = locate(args.out, storage_options)
    # Figures for a URL are drawn into a local staging folder first, then each file is uploaded whole.
    with tempfile.TemporaryDirectory(prefix="neurokit-figures-") as staging:
        folder = destination.local if destination.local is not None else Path(staging)
        drawn, notes = draw_figures(args.results, folder, parse_figures(args.figures), parse_formats(args.formats),
                                    args.width, args.fraction, args.dpi, storage_options)
        written = [str(path) for path in drawn] if destination.local is not None else upload(drawn, destination)
    for path in written:
        print(path)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0
