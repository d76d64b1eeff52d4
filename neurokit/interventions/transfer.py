"""Prompt transfer (Su et al. 2022; Ackermann & Ohmer 2024): a prompt tuned on task A, evaluated unchanged on B.

For a source prompt ``p`` (tuned on task A) and a target task B:

- ``accuracy(p, B)``: accuracy on B's examples (rendered with B's template) with p in its own layout (where it
  was tuned: before or after the input, :class:`~neurokit.models.PromptLayout`), read out with
  B's verbaliser — or, when a label map from A's classes to B's classes is given, with A's verbaliser and
  the predicted A class mapped to its B class (needed when the class counts differ);
- ``own_accuracy(B)``: mean accuracy on B of the prompts tuned on B itself (for an adversarial B, the prompts
  of its clean task); NaN when none is among the sources;
- ``relative(p, B) = accuracy(p, B) / own_accuracy(B)`` (Ackermann & Ohmer report it × 100, averaged over
  the prompts of each source task: :func:`by_source_task`);
- ``p_value(p, B)``: exact one-sided binomial test of "above chance", ``P(K ≥ k)`` for ``K ~ Binomial(n, 1/C)``
  with k correct of n examples and C classes of B, and ``p_adjusted``, its Benjamini–Hochberg adjustment over
  all (source, target) cells (*our choice*: the papers report no test; methods.md §3).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from neurokit.analysis.compare import binomial_p_value
from neurokit.analysis.resampling import benjamini_hochberg
from neurokit.dims import SOURCE, SOURCE_TASK, TARGET
from neurokit.errors import ConfigError, NeurokitError
from neurokit.models import Backbone
from neurokit.prompts.checkpoint import PromptCheckpoint
from neurokit.prompts.data import EncodedSplit
from neurokit.prompts.trainer import evaluate

if TYPE_CHECKING:
    from neurokit.tasks.spec import TaskSpec

#: (source task, target task) -> {source class name: target class name}
LabelMaps = Mapping[tuple[str, str], Mapping[str, str]]
#: (prompt label, target task) -> (label words to score with, target class of each source class or None)
TransferPlan = dict[tuple[str, str], tuple[tuple[str, ...], "torch.Tensor | None"]]


def _source_labels(name: str, checkpoint: PromptCheckpoint) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(task name, class names, label words) the prompt was tuned with, from its metadata or its task."""
    metadata = checkpoint.metadata
    task = metadata.task
    if not task:
        raise NeurokitError(f"prompt {name} records no task; transfer needs to know what it was tuned on "
                            "(import it with --task)")
    label_names, label_words = metadata.label_names, metadata.label_words
    if not label_names or not label_words:
        from neurokit.tasks import get_task

        spec = get_task(task)
        label_names, label_words = label_names or spec.label_names, label_words or spec.label_words
    return str(task), tuple(label_names), tuple(label_words)


def _check_same_model(prompts: Mapping[str, PromptCheckpoint]) -> None:
    seen: dict[str, str] = {}
    for name, checkpoint in prompts.items():
        weights = checkpoint.metadata.weights_sha256
        if weights:
            seen.setdefault(weights, name)
    if len(seen) > 1:
        (weights_a, name_a), (weights_b, name_b) = list(seen.items())[:2]
        model_a = prompts[name_a].metadata.model_id
        model_b = prompts[name_b].metadata.model_id
        raise NeurokitError(f"prompts were tuned on different models: {name_a} on {model_a!r} (weights "
                            f"{weights_a[:12]}…), {name_b} on {model_b!r} (weights {weights_b[:12]}…)")


def _label_map(mapping: Mapping[str, str], source_task: str, source_labels: tuple[str, ...],
               target: TaskSpec) -> torch.Tensor:
    """Target class index for each source class index."""
    unknown = sorted(set(mapping) - set(source_labels))
    if unknown:
        raise ConfigError(f"label map {source_task}->{target.name} names {unknown[0]!r}, not a class of "
                          f"{source_task} ({', '.join(source_labels)})")
    missing = [label for label in source_labels if label not in mapping]
    if missing:
        raise ConfigError(f"label map {source_task}->{target.name} leaves class {missing[0]!r} of {source_task} "
                          "unmapped")
    outside = sorted(set(mapping.values()) - set(target.label_names))
    if outside:
        raise ConfigError(f"label map {source_task}->{target.name} maps to {outside[0]!r}, not a class of "
                          f"{target.name} ({', '.join(target.label_names)})")
    return torch.tensor([target.label_names.index(mapping[label]) for label in source_labels])


def plan_transfer(prompts: Mapping[str, PromptCheckpoint], targets: Sequence[TaskSpec],
                  label_maps: LabelMaps | None = None) -> TransferPlan:
    """Check that every prompt can be read on every target task, before any model is loaded.

    Returns, per (prompt label, target task name), the label words to score with and, with a label map, the
    target class index of each source class (``None``: the target's own label words, classes aligned).
    Refuses prompts tuned on different models, unknown or incomplete label maps, and class counts that
    differ without a label map.
    """
    label_maps = dict(label_maps or {})
    names = [task.name for task in targets]
    if not prompts or not targets:
        raise ConfigError("transfer needs at least one prompt and one target task")
    if len(set(names)) != len(names):
        raise ConfigError(f"target tasks repeat: {', '.join(names)}")
    _check_same_model(prompts)
    sources = {name: _source_labels(name, checkpoint) for name, checkpoint in prompts.items()}
    plans: TransferPlan = {}
    used: set[tuple[str, str]] = set()
    for name, (task, labels, words) in sources.items():
        for target in targets:
            # An adversarial set has its clean task's classes, so the clean task's map serves it too.
            key = next((key for key in ((task, target.name), (task, target.adversarial_of)) if key in label_maps),
                       None)
            if key is not None:
                used.add(key)
                plans[name, target.name] = (words, _label_map(label_maps[key], task, labels, target))
            elif len(labels) != target.num_labels:
                raise NeurokitError(f"prompt {name} was tuned on {task} ({len(labels)} classes) and cannot be read "
                                    f"on {target.name} ({target.num_labels} classes) without a label map "
                                    f"{task}->{target.name}")
            else:
                plans[name, target.name] = (target.label_words, None)
    unused = sorted(set(label_maps) - used)
    if unused:
        raise ConfigError(f"label map {unused[0][0]}->{unused[0][1]} matches no source prompt and target task")
    return plans


def transfer_matrix(backbone: Backbone, prompts: Mapping[str, PromptCheckpoint] | Sequence[PromptCheckpoint],
                    targets: Sequence[tuple[TaskSpec, object]], label_maps: LabelMaps | None = None,
                    batch_size: int = 64, max_length: int = 128, bf16: bool | None = None,
                    progress: bool = True) -> xr.Dataset:
    """Accuracy of every prompt on every target task, and relative to the target's own prompts.

    ``prompts``: checkpoints by label (a sequence is labelled by the checkpoints' paths); all must be tuned on
    ``backbone`` (same weights). ``targets``: ``(TaskSpec, dataset)`` pairs, a dataset being a loaded split.
    ``label_maps[(A, B)]`` maps each class name of source task A to a class name of B (for an adversarial B,
    a map to its clean task serves too); without one, A and B must have the same number of classes (class i
    of B is read with B's label word i).

    Returns ``accuracy`` (source, target), ``own_accuracy`` (target), ``relative`` (source, target),
    ``n_correct`` (source, target), ``n_examples`` (target), ``chance`` (target: 1 / the target's number of
    classes), ``p_value`` (source, target: exact one-sided binomial test of accuracy above chance) and
    ``p_adjusted`` (source, target: Benjamini–Hochberg over all cells); coordinates ``source_task`` (source)
    and ``target`` (task names).
    """
    if not isinstance(prompts, Mapping):
        prompts = {str(checkpoint.path): checkpoint for checkpoint in prompts}
    plans = plan_transfer(prompts, [task for task, _ in targets], label_maps)
    target_names = [task.name for task, _ in targets]
    soft_prompts = {name: checkpoint.soft_prompt(backbone) for name, checkpoint in prompts.items()}
    splits = {task.name: EncodedSplit(backbone, task, dataset, max_length) for task, dataset in targets}

    counts = np.empty((len(prompts), len(targets)), dtype=np.int64)
    with tqdm(total=counts.size, desc="transfer", disable=not progress) as bar:
        for row, name in enumerate(prompts):
            for column, (target, _) in enumerate(targets):
                label_words, class_map = plans[name, target.name]
                split = splits[target.name]
                result = evaluate(backbone, soft_prompts[name], backbone.verbalizer(label_words), split,
                                  batch_size, bf16)
                predictions = result.predictions if class_map is None else class_map[result.predictions]
                counts[row, column] = int((predictions == split.labels).sum())
                bar.update(1)

    source_tasks = [_source_labels(name, checkpoint)[0] for name, checkpoint in prompts.items()]
    coords = {SOURCE: list(prompts), SOURCE_TASK: (SOURCE, source_tasks), TARGET: target_names}
    n_correct = xr.DataArray(counts, dims=(SOURCE, TARGET), coords=coords)
    n_examples = xr.DataArray([len(splits[name]) for name in target_names], dims=TARGET,
                              coords={TARGET: target_names})
    chance = xr.DataArray([1.0 / task.num_labels for task, _ in targets], dims=TARGET, coords={TARGET: target_names})
    accuracy = n_correct / n_examples  # float64: the same number as the mean of 0/1 outcomes
    p_value = binomial_p_value(n_correct, n_examples, chance)
    own = np.full(len(targets), np.nan)
    for column, (target, _) in enumerate(targets):
        own_task = target.name if target.name in source_tasks else target.adversarial_of
        own_rows = [row for row, task in enumerate(source_tasks) if task == own_task]
        if own_rows:
            own[column] = accuracy.values[own_rows, column].mean()
    own_accuracy = xr.DataArray(own, dims=TARGET, coords={TARGET: target_names})
    return xr.Dataset(
        {"accuracy": accuracy, "own_accuracy": own_accuracy, "relative": accuracy / own_accuracy,
         "n_correct": n_correct, "n_examples": n_examples, "chance": chance, "p_value": p_value,
         "p_adjusted": benjamini_hochberg(p_value, (SOURCE, TARGET))},
        attrs={"model_id": backbone.model_id, "weights_sha256": backbone.weights_sha256,
               "scoring": backbone.scoring.value,
               "label_maps": json.dumps({f"{a}->{b}": dict(m) for (a, b), m in (label_maps or {}).items()}),
               "relative": "accuracy / own_accuracy; own_accuracy = mean accuracy of the target task's own "
                           "prompts (for an adversarial target, its clean task's prompts)",
               "p_value": "exact one-sided binomial test, H0: accuracy <= chance = 1 / number of classes; "
                          "p_adjusted: Benjamini-Hochberg over all (source, target) cells"},
    )



def by_source_task(transfer: xr.Dataset) -> xr.Dataset:
    """Mean over the prompts of each source task: ``accuracy`` and ``relative`` (source_task, target)."""
    grouped = transfer[["accuracy", "relative"]].groupby(SOURCE_TASK).mean(SOURCE)
    return grouped.assign(n_prompts=transfer[SOURCE_TASK].groupby(SOURCE_TASK).count()).assign_attrs(transfer.attrs)
