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
import json
import xarray as xr

from neurokit.analysis._common import RUN, PositionSet, RunAggregation, Selection, as_position_set
from neurokit.analysis.auc import auroc
from neurokit.analysis.compare import (
    clean_vs_adversarial,
    model_accuracy,
    null_comparison,
    pairwise_agreement,
    stack_scores,
    task_selectivity,
)
from neurokit.analysis.results import check_writable, compute_results, save_results, write_tables
from neurokit.analysis.skill import SkillNeurons
from neurokit.analysis.stores import open_by_task, open_null_runs
from neurokit.errors import ConfigError, StoreError
from neurokit.provenance import command_line, package_versions, utc_now


def register(subparsers: argparse._SubParsersAction) -> None:
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
    parser.add_argument("--out", required=True, metavar="RESULTS.zarr", help="results store to write")
    parser.add_argument("--tables", metavar="DIR", help="also write tidy CSV (and small LaTeX) tables here")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing results store")
    parser.add_argument("--positions", default=PositionSet.PROMPT.value,
                        help="positions a neuron score maximises over: 'prompt' (default), 'all', or "
                             "comma-separated position roles")
    parser.add_argument("--over-runs", default=RunAggregation.MEAN.value,
                        choices=[item.value for item in RunAggregation], help="combine prompts' scores by")
    parser.add_argument("--selection", default=Selection.PER_LAYER.value,
                        choices=[item.value for item in Selection], help="top fraction per layer or global")
    parser.add_argument("--fraction", type=float, default=0.05,
                        help="top fraction compared across tasks and prompts (default 0.05)")
    parser.add_argument("--auroc", action="store_true", help="also compute AUROC per neuron and position")
    parser.add_argument("--bootstrap", type=int, default=0, metavar="N",
                        help="bootstrap resamples for score intervals (0: off)")
    parser.add_argument("--permutations", type=int, default=0, metavar="N",
                        help="label permutations for p-values with Benjamini-Hochberg q-values (0: off)")
    parser.add_argument("--seed", type=int, default=0, help="seed of control labels, bootstrap and permutations")
    parser.set_defaults(handler=handler)


def _positions(text: str) -> PositionSet | tuple[str, ...]:
    return as_position_set(text if text in {item.value for item in PositionSet} else text.split(","))


def _per_prompt(skill: xr.Dataset) -> xr.DataArray:
    """Neuron scores per prompt: ``run_score`` with several runs, else the one run's ``score``."""
    return skill["run_score"] if "run_score" in skill else skill["score"]


def _task_results(task: str, model: SkillNeurons, data: xr.Dataset, args: argparse.Namespace,
                  adversarial: xr.Dataset | None, null: tuple[xr.Dataset, xr.Dataset] | None) -> dict[str, xr.Dataset]:
    skill = model.score(data)
    results = {
        f"{task}/skill": skill,
        f"{task}/model_accuracy": model_accuracy(data),
        f"{task}/control": model.control_selectivity(data, seed=args.seed),
    }
    if RUN in data.dims and data.sizes[RUN] > 1:
        results[f"{task}/prompt_agreement"] = pairwise_agreement(
            _per_prompt(skill), dim=RUN, fraction=args.fraction, selection=model.selection)
    if args.auroc:
        results[f"{task}/auroc"] = auroc(data, positions=model.positions).to_dataset(name="auroc")
    if args.bootstrap:
        results[f"{task}/bootstrap"] = model.bootstrap(
            data, n_resamples=args.bootstrap, seed=args.seed).to_dataset(name="score_interval")
    if args.permutations:
        results[f"{task}/permutation"] = model.permutation_test(data, n_permutations=args.permutations, seed=args.seed)
    if adversarial is not None:
        attacked = model.score(adversarial)
        results[f"{task}/adversarial_skill"] = attacked
        results[f"{task}/adversarial_accuracy"] = model_accuracy(adversarial)
        results[f"{task}/clean_vs_adversarial"] = clean_vs_adversarial(
            _per_prompt(skill), _per_prompt(attacked), selection=model.selection)
    if null is not None:
        null_train, null_eval = null
        untuned = SkillNeurons(model.positions, model.over_runs, model.selection, model.fractions).fit(null_train)
        results[f"{task}/null"] = null_comparison(skill["score"], untuned.score(null_eval)["score"],
                                                  selection=model.selection)
    return results


def handler(args: argparse.Namespace) -> int:
    if not 0.0 < args.fraction <= 1.0:
        raise ConfigError(f"--fraction must be in (0, 1], got {args.fraction}")
    if args.bootstrap < 0 or args.permutations < 0:
        raise ConfigError("--bootstrap and --permutations must be ≥ 0")
    check_writable(args.out, args.overwrite)
    settings = {"positions": _positions(args.positions), "over_runs": args.over_runs, "selection": args.selection}
    train, evaluation = open_by_task(args.train), open_by_task(args.eval)
    adversarial, null = open_by_task(args.adversarial), open_null_runs(args.null)
    for task in [*adversarial, *null]:
        if task not in evaluation:
            raise StoreError(f"adversarial or null stores of task {task!r} but no eval store of that task")
    results: dict[str, xr.Dataset] = {}
    skills = {}
    for task, data in evaluation.items():
        if task not in train:
            raise StoreError(f"no train store for task {task!r}")
        model = SkillNeurons(**settings).fit(train[task])
        task_results = _task_results(task, model, data, args, adversarial.get(task), null.get(task))
        skills[task] = task_results[f"{task}/skill"]
        results |= task_results
    if len(skills) > 1:
        scores = stack_scores({task: skill["score"] for task, skill in skills.items()})
        results["tasks/selectivity"] = task_selectivity(scores).to_dataset(name="selectivity")
        results["tasks/agreement"] = pairwise_agreement(scores, dim="task", fraction=args.fraction,
                                                        selection=args.selection)
    computed = compute_results(results)
    provenance = {"command": command_line(), "created": utc_now(), "versions": json.dumps(package_versions()),
                  "settings": json.dumps({"positions": args.positions, "over_runs": args.over_runs,
                                          "selection": args.selection, "fraction": args.fraction,
                                          "seed": args.seed})}
    save_results(computed, args.out, overwrite=args.overwrite, attrs=provenance)
    if args.tables:
        write_tables(computed, args.tables)
    print(f"wrote {len(computed)} results to {args.out}")
    return 0
