"""Every analysis of one study in one call: the engine behind ``neurokit analyze`` and ``neurokit demo``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import xarray as xr

from neurokit.analysis.auc import auroc
from neurokit.analysis.common import (
    PositionSet,
    RunAggregation,
    Selection,
    as_position_set,
    check_same_model,
    describe,
)
from neurokit.analysis.compare import (
    ADVERSARIAL_FRACTIONS,
    clean_vs_adversarial,
    model_accuracy,
    null_comparison,
    pairwise_agreement,
    stack_scores,
    task_selectivity,
)
from neurokit.analysis.groups import (
    ACROSS_TASKS,
    ADVERSARIAL_ACCURACY,
    ADVERSARIAL_SKILL,
    AGREEMENT,
    AUROC,
    BOOTSTRAP,
    CLEAN_VS_ADVERSARIAL,
    CONTROL,
    MODEL_ACCURACY,
    NULL,
    PERMUTATION,
    PROMPT_AGREEMENT,
    SELECTIVITY,
    SKILL,
    group_path,
)
from neurokit.analysis.skill import DEFAULT_FRACTION, SkillNeurons, split_control
from neurokit.analysis.stores import open_by_task, open_null_runs
from neurokit.analysis.subtasks import SubtaskScheme
from neurokit.dims import RUN, TASK
from neurokit.errors import StoreError
from neurokit.provenance import command_line, package_versions, utc_now
from neurokit.validation import FRACTION_RANGE, as_enum, integer, real


def _per_prompt(skill: xr.Dataset) -> xr.DataArray:
    """Neuron scores per prompt: ``run_score`` with several runs, else the one run's ``score``."""
    return skill["run_score"] if "run_score" in skill else skill["score"]


@dataclass(frozen=True)
class AnalysisOptions:
    """Settings of :func:`analyze_stores` (the ``neurokit analyze`` flags), validated on construction."""

    positions: PositionSet | str | tuple[str, ...] = PositionSet.PROMPT
    over_runs: RunAggregation | str = RunAggregation.MEAN
    selection: Selection | str = Selection.PER_LAYER
    #: None: Wang et al.'s scheme per task (balanced for a 3-way task with a neutral class).
    scheme: SubtaskScheme | str | None = None
    fraction: float = DEFAULT_FRACTION
    auroc: bool = False
    bootstrap: int = 0
    permutations: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", as_position_set(self.positions))
        object.__setattr__(self, "over_runs", as_enum(self.over_runs, RunAggregation, "over_runs"))
        object.__setattr__(self, "selection", as_enum(self.selection, Selection, "selection"))
        if self.scheme is not None:
            object.__setattr__(self, "scheme", as_enum(self.scheme, SubtaskScheme, "scheme"))
        real(self.fraction, "fraction", FRACTION_RANGE)
        integer(self.bootstrap, "bootstrap", minimum=0)
        integer(self.permutations, "permutations", minimum=0)

    def describe(self) -> dict:
        positions = self.positions.value if isinstance(self.positions, PositionSet) else list(self.positions)
        # __post_init__ made over_runs, selection and scheme members; their types also admit users' strings
        over_runs, selection = cast(RunAggregation, self.over_runs), cast(Selection, self.selection)
        scheme = None if self.scheme is None else cast(SubtaskScheme, self.scheme).value
        return {"positions": positions, "over_runs": over_runs.value, "selection": selection.value,
                "subtask_scheme": scheme,
                "fraction": self.fraction, "seed": self.seed}


def _fractions(options: AnalysisOptions) -> tuple[float, ...]:
    """Ackermann & Ohmer's top-n % sweep (2, 4, …, 20 %) plus the fraction the options compare at."""
    return tuple(sorted({*ADVERSARIAL_FRACTIONS, options.fraction}))


def _task_results(task: str, model: SkillNeurons, data: xr.Dataset, options: AnalysisOptions,
                  adversarial: xr.Dataset | None, null: tuple[xr.Dataset, xr.Dataset] | None) -> dict[str, xr.Dataset]:
    # The control task's labels ride along in the same pass over the store as the real ones.
    skill, control = split_control(model.score(data, control_seed=options.seed))
    results = {
        group_path(task, SKILL): skill,
        group_path(task, MODEL_ACCURACY): model_accuracy(data),
        group_path(task, CONTROL): control,
    }
    if RUN in data.dims and data.sizes[RUN] > 1:
        results[group_path(task, PROMPT_AGREEMENT)] = pairwise_agreement(
            _per_prompt(skill), dim=RUN, fraction=options.fraction, selection=model.selection)
    if options.auroc:
        results[group_path(task, AUROC)] = auroc(data, positions=model.positions).to_dataset(name="auroc")
    if options.bootstrap:
        results[group_path(task, BOOTSTRAP)] = model.bootstrap(
            data, n_resamples=options.bootstrap, seed=options.seed).to_dataset(name="score_interval")
    if options.permutations:
        results[group_path(task, PERMUTATION)] = model.permutation_test(data, n_permutations=options.permutations,
                                                                seed=options.seed)
    if adversarial is not None:
        attacked = model.score(adversarial)
        results[group_path(task, ADVERSARIAL_SKILL)] = attacked
        results[group_path(task, ADVERSARIAL_ACCURACY)] = model_accuracy(adversarial)
        results[group_path(task, CLEAN_VS_ADVERSARIAL)] = clean_vs_adversarial(
            _per_prompt(skill), _per_prompt(attacked), fractions=_fractions(options), selection=model.selection)
    if null is not None:
        null_train, null_eval = null
        untuned = SkillNeurons(model.positions, model.over_runs, model.selection, model.fractions,
                               model.scheme).fit(null_train)
        results[group_path(task, NULL)] = null_comparison(skill["score"], untuned.score(null_eval)["score"],
                                                          fractions=_fractions(options), selection=model.selection)
    return results


def _task_paths(paths: Sequence[str | Path], task: str, storage_options: Mapping[str, Any] | None) -> list[str]:
    """Which of ``paths`` hold stores of ``task`` (for error messages)."""
    from neurokit.extract import open_run

    return [str(path) for path in paths if describe(open_run(path, storage_options=storage_options)).task_name == task]


def analyze_stores(train: Sequence[str | Path], evaluation: Sequence[str | Path],
                   adversarial: Sequence[str | Path] = (), null: Sequence[str | Path] = (),
                   options: AnalysisOptions | None = None,
                   storage_options: Mapping[str, Any] | None = None) -> xr.DataTree:
    """Every analysis of ``neurokit analyze`` over extraction stores (local paths or URLs, ``storage_options``
    for their filesystems: :mod:`neurokit.storage`), lazily: a DataTree with a group per result, as
    :func:`~neurokit.analysis.load_results` returns the stored results (``tree["sst2/skill"]``).

    Stores are grouped by task (several prompts of a task stack along ``run``). For each task with eval
    stores: ``<task>/skill``, ``model_accuracy``, ``control`` and, where the inputs allow, ``prompt_agreement``
    (several prompts), ``adversarial_skill``/``adversarial_accuracy``/``clean_vs_adversarial``
    (``adversarial`` stores), ``null`` (an untuned prompt's train and eval stores), ``auroc``, ``bootstrap``,
    ``permutation``; with several tasks ``tasks/selectivity`` and ``tasks/agreement``. Pass the result to
    :func:`~neurokit.analysis.save_results` (which computes it in one pass) or
    :func:`~neurokit.analysis.compute_results`.
    """
    options = options or AnalysisOptions()
    train_runs = open_by_task(train, storage_options=storage_options)
    evaluation_runs = open_by_task(evaluation, storage_options=storage_options)
    adversarial_runs = open_by_task(adversarial, by_clean_task=True, storage_options=storage_options)
    null_runs = open_null_runs(null, storage_options=storage_options)
    for task in [*adversarial_runs, *null_runs]:
        if task not in evaluation_runs:
            raise StoreError(f"adversarial or null stores of task {task!r} but no eval store of that task")
    for task, data in evaluation_runs.items():  # which stores go together, before what they hold
        if task not in train_runs:
            paths = data["store"].values.tolist() if "store" in data.coords else _task_paths(evaluation, task,
                                                                                             storage_options)
            have = (f"the --train stores are of {', '.join(map(repr, sorted(train_runs)))}" if train_runs
                    else "none given")
            raise StoreError(f"no train store for task {task!r} of eval store(s) {', '.join(map(str, paths))} "
                             f"({have}); pass the train-split store of the same prompt with --train")
    # Every comparison here (across tasks, prompts, clean vs adversarial, tuned vs untuned) relates neurons
    # by index: that means something only within one model.
    stores = [*train_runs.values(), *evaluation_runs.values(), *adversarial_runs.values(),
              *(store for pair in null_runs.values() for store in pair)]
    check_same_model(*(describe(store) for store in stores))
    results: dict[str, xr.Dataset] = {}
    skills = {}
    for task, data in evaluation_runs.items():
        model = SkillNeurons(positions=options.positions, over_runs=options.over_runs, selection=options.selection,
                             scheme=options.scheme).fit(train_runs[task])
        task_results = _task_results(task, model, data, options, adversarial_runs.get(task), null_runs.get(task))
        skills[task] = task_results[group_path(task, SKILL)]
        results |= task_results
    if len(skills) > 1:
        scores = stack_scores(skills)
        results[group_path(ACROSS_TASKS, SELECTIVITY)] = task_selectivity(scores).to_dataset(name="selectivity")
        results[group_path(ACROSS_TASKS, AGREEMENT)] = pairwise_agreement(
            scores, dim=TASK, fraction=options.fraction, selection=options.selection)
    return xr.DataTree.from_dict(results)


def analysis_provenance(options: AnalysisOptions) -> dict[str, str]:
    """Root attributes of a results store: command line, time, package versions and settings (JSON)."""
    return {"command": command_line(), "created": utc_now(), "versions": json.dumps(package_versions()),
            "settings": json.dumps(options.describe())}
