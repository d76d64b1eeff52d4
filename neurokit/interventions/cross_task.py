"""Cross-task perturbation (Wang et al. 2022, §6): perturb task A's skill neurons, evaluate on task B.

For every target task B (its own prompt, verbaliser and split) and every source task A, the skill sets of A
(top fractions of A's neuron scores) and size-matched random sets are perturbed as in
:class:`~neurokit.interventions.SkillAblationExperiment`, and B's accuracy drop is recorded. The diagonal (A = B) is the
single-task experiment. Wang et al. find that the skill neurons of tasks of the same type as B hurt B more
than those of tasks of other types; :func:`cross_task_ablation` summarises the matrix that way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import xarray as xr

from neurokit.dims import DRAW, FRACTION, SELECTION, SOURCE_TASK, TARGET_TASK
from neurokit.errors import ConfigError, NeurokitError
from neurokit.interventions.ablation import SkillAblationExperiment
from neurokit.interventions.effects import with_effects
from neurokit.models import Backbone
from neurokit.prompts.data import EncodedSplit
from neurokit.prompts.soft_prompt import SoftPrompt
from neurokit.tasks.spec import TaskSpec

# Attributes of a single-task result that belong to its target (prompt, verbaliser) or source (skill): kept
# per task as coordinates or dropped, not as attributes of the whole matrix.
_PER_PAIR_ATTRS = ("prompt_length", "verbalizer", "skill_source")


@dataclasses.dataclass(frozen=True)
class CrossTaskTarget:
    """One target task: its spec, its own prompt, and the split to evaluate on."""

    task: TaskSpec
    prompt: SoftPrompt
    split: EncodedSplit


def cross_task_ablation(ablation: SkillAblationExperiment, backbone: Backbone, skills: Mapping[str, xr.DataArray],
                        targets: Sequence[CrossTaskTarget],
                        values: Mapping[str, xr.DataArray] | None = None,
                        source_types: Mapping[str, str] | None = None) -> xr.Dataset:
    """Accuracy drops of every target task with every source task's skill neurons (and random sets) perturbed.

    ``ablation``: the settings (method, positions, fractions, draws, seed, …), used unprepared as a template:
    each target is prepared on a copy. ``skills``: per source task name, neuron scores or masks as
    :meth:`SkillAblationExperiment.run` takes them (they must yield the same fractions). ``targets``: the target tasks.
    ``values``: per target task name, the replacement values of ``mean`` or the donor pool of ``resample``
    (from the target prompt's train store). ``source_types``: task type of each source (default: from the task
    registry, ``neurokit.tasks.get_task``).

    Returns an ``xr.Dataset``:

    - ``accuracy``, ``accuracy_drop`` (source_task, target_task, selection, fraction, draw): as
      :meth:`SkillAblationExperiment.run` for each pair; the (A, A) entries are the single-task results;
    - ``reference_accuracy``, ``n_examples`` (target_task); ``n_perturbed`` (source_task, fraction, layer);
    - ``own_drop``, ``same_type_drop``, ``other_type_drop`` (target_task, fraction): skill-set drop (mean over
      draws) with the target's own skill neurons, and the mean over the *other* source tasks of the same type
      as the target, and over source tasks of other types (NaN where there are none); ``n_same_type``,
      ``n_other_type`` (target_task) count those sources;
    - coordinates ``source_type`` (source_task), ``target_type`` (target_task); attributes those of
      :meth:`SkillAblationExperiment.run` shared by all pairs.
    """
    if not skills or not targets:
        raise ConfigError("a cross-task ablation needs at least one source task and one target task")
    names = [target.task.name for target in targets]
    if len(set(names)) != len(names):
        raise ConfigError(f"target tasks repeat: {', '.join(names)}")
    values = dict(values or {})
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"values given for {unknown[0]!r}, which is not a target task")
    if source_types is None:
        from neurokit.tasks import get_task

        source_types = {name: get_task(name).task_type for name in skills}
    sources = list(skills)
    results = []
    for target in targets:
        prepared = dataclasses.replace(ablation).prepare(backbone, target.prompt,
                                                   backbone.verbalizer(target.task.label_words), target.split,
                                                   values.get(target.task.name))
        # Each pair with its skill-minus-random effect, interval and one-sided p (interventions.effects).
        results.append([with_effects(prepared.run(skills[source]), seed=ablation.seed) for source in sources])
    fractions = results[0][0][FRACTION].values
    for row in results:
        for result in row:
            if not np.array_equal(result[FRACTION].values, fractions):
                raise NeurokitError("the source tasks' skill neurons give different fractions; give masks with the "
                                    "same fractions or scores")

    def stacked(variable: str, by_target: bool = True) -> xr.DataArray:
        per_target = [xr.concat([result[variable] for result in row], SOURCE_TASK, coords="minimal")
                      for row in results]
        return xr.concat(per_target, TARGET_TASK, coords="minimal") if by_target else per_target[0]

    coords = {SOURCE_TASK: sources, TARGET_TASK: names,
              "source_type": (SOURCE_TASK, [str(source_types[source]) for source in sources]),  # StrEnum: value
              "target_type": (TARGET_TASK, [str(target.task.task_type) for target in targets])}
    accuracy = stacked("accuracy").transpose(SOURCE_TASK, TARGET_TASK, SELECTION, FRACTION, DRAW)
    matrix = xr.Dataset(
        {"accuracy": accuracy,
         "accuracy_drop": stacked("accuracy_drop").transpose(*accuracy.dims),
         "reference_accuracy": (TARGET_TASK, [float(row[0]["reference_accuracy"]) for row in results]),
         "n_examples": (TARGET_TASK, [int(row[0]["n_examples"]) for row in results]),
         "n_perturbed": stacked("n_perturbed", by_target=False),
         "effect": stacked("effect").transpose(SOURCE_TASK, TARGET_TASK, FRACTION),
         "effect_interval": stacked("effect_interval").transpose(SOURCE_TASK, TARGET_TASK, FRACTION, ...),
         "p_value": stacked("p_value").transpose(SOURCE_TASK, TARGET_TASK, FRACTION)},
        attrs={key: value for key, value in results[0][0].attrs.items() if key not in _PER_PAIR_ATTRS},
    ).assign_coords(coords)
    return matrix.merge(_type_summary(matrix))


def _type_summary(matrix: xr.Dataset) -> xr.Dataset:
    """Own, same-type and other-type skill-set drops per target (mean over draws, then over sources)."""
    drop = matrix["accuracy_drop"].sel({SELECTION: "skill"}).mean(DRAW)  # (source_task, target_task, fraction)
    source = matrix[SOURCE_TASK]
    target = matrix[TARGET_TASK]
    same_type = matrix["source_type"] == matrix["target_type"]  # (source_task, target_task)
    own = source == target
    same, other = same_type & ~own, ~same_type

    def mean_over(chosen: xr.DataArray) -> xr.DataArray:  # NaN, without a warning, where nothing is chosen
        count = chosen.sum(SOURCE_TASK)
        return drop.where(chosen, 0.0).sum(SOURCE_TASK) / count.where(count > 0)

    return xr.Dataset({"own_drop": mean_over(own), "same_type_drop": mean_over(same),
                       "other_type_drop": mean_over(other), "n_same_type": same.sum(SOURCE_TASK),
                       "n_other_type": other.sum(SOURCE_TASK)})
