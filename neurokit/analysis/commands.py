"""``neurokit analyze``: skill neurons and their comparisons from extraction stores to a results store.

Stores are grouped by task. For each task with eval data: predictivity and skill neurons (baselines from the
task's train stores, matched by prompt), the model's accuracy with a binomial test, control-task
selectivity, agreement across prompts (several prompts), clean vs adversarial consistency (``--adversarial``),
the comparison with an untuned prompt (``--null``: that run's train and eval stores) and, on request, AUROC,
bootstrap intervals and permutation tests. With several tasks: task selectivity and task × task agreement.
Everything is computed in one pass over the stores and written to one Zarr store, with tidy tables on request.
"""

from __future__ import annotations

import argparse

from neurokit.analysis.common import PositionSet, RunAggregation, Selection
from neurokit.analysis.pipeline import (
    AnalysisOptions,
    analysis_provenance,
    analyze_stores,
)
from neurokit.analysis.results import (
    check_target,
    check_writable,
    compute_results,
    result_groups,
    save_results,
    write_tables,
)
from neurokit.analysis.scheduler import (
    add_scheduler_arguments,
    scheduler_choice,
    use_scheduler,
)
from neurokit.analysis.subtasks import SubtaskScheme
from neurokit.cli import add_progress_argument
from neurokit.storage import (
    add_storage_argument,
    require_local,
    storage_options_from_args,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = AnalysisOptions()
    described = defaults.describe()  # the enum defaults as the strings the flags take
    parser = subparsers.add_parser(
        "analyze", help="skill neurons, selectivity and robustness from activation stores",
        description="Skill neurons (Wang et al. 2022) and their comparisons across tasks, prompts, adversarial "
                    "data and an untuned prompt, from extraction stores to one Zarr results store.",
    )
    parser.add_argument("--train", nargs="+", required=True, metavar="STORE",
                        help="train stores (statistics or raw activations) of every task and prompt")
    parser.add_argument("--eval", nargs="+", required=True, metavar="STORE", help="held-out stores to score")
    parser.add_argument("--adversarial", nargs="+", default=[], metavar="STORE",
                        help="adversarial stores of the same tasks and prompts (e.g. AdvGLUE)")
    parser.add_argument("--null", nargs="+", default=[], metavar="STORE",
                        help="an untuned (random) prompt's train and eval stores, per task")
    parser.add_argument("--out", required=True, metavar="RESULTS.zarr",
                        help="results store to write: a local path or a URL (s3://…, gs://…, az://…)")
    parser.add_argument("--tables", metavar="DIR", help="also write tidy CSV (and small LaTeX) tables to this local "
                                                        "folder")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing results store")
    parser.add_argument("--positions", default=described["positions"],
                        help="positions a neuron score maximises over: 'prompt' (default), 'all', or "
                             "comma-separated position roles")
    parser.add_argument("--over-runs", default=described["over_runs"],
                        choices=[item.value for item in RunAggregation], help="combine prompts' scores by")
    parser.add_argument("--selection", default=described["selection"],
                        choices=[item.value for item in Selection], help="top fraction per layer or global")
    parser.add_argument("--subtask-scheme", default=None, choices=[item.value for item in SubtaskScheme],
                        help="examples of a multi-class task's binary sub-tasks: 'balanced' (Wang et al.; the "
                             "default for 3-way tasks with a neutral class) or 'all-examples' (the default "
                             "and only choice otherwise)")
    parser.add_argument("--fraction", type=float, default=defaults.fraction,
                        help=f"top fraction compared across tasks and prompts (default {defaults.fraction:g})")
    parser.add_argument("--auroc", action="store_true", help="also compute AUROC per neuron and position")
    parser.add_argument("--bootstrap", type=int, default=defaults.bootstrap, metavar="N",
                        help="bootstrap resamples for score intervals (0: off)")
    parser.add_argument("--permutations", type=int, default=defaults.permutations, metavar="N",
                        help="label permutations for p-values with Benjamini-Hochberg q-values (0: off)")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of control labels, bootstrap and permutations")
    add_scheduler_arguments(parser)
    add_storage_argument(parser)
    add_progress_argument(parser)
    parser.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    positions = args.positions if args.positions in {item.value for item in PositionSet} else args.positions.split(",")
    options = AnalysisOptions(positions=positions, over_runs=args.over_runs, selection=args.selection,
                              scheme=args.subtask_scheme, fraction=args.fraction, auroc=args.auroc,
                              bootstrap=args.bootstrap, permutations=args.permutations, seed=args.seed)
    scheduler = scheduler_choice(args)
    storage_options = storage_options_from_args(args)
    check_target(args.out, args.overwrite, storage_options)
    if args.tables:
        tables = require_local(args.tables, "tables", "give a local folder (copy it to object storage afterwards)")
        check_writable(tables, overwrite=True)  # tables are replaced file by file
    results = analyze_stores(args.train, args.eval, args.adversarial, args.null, options, storage_options)
    with use_scheduler(scheduler):
        computed = compute_results(results, progress=not args.no_progress)
    save_results(computed, args.out, overwrite=args.overwrite, attrs=analysis_provenance(options),
                 storage_options=storage_options)
    if args.tables:
        write_tables(computed, args.tables)
    print(f"wrote {len(result_groups(computed))} results to {args.out}")
    return 0
