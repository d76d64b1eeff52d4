"""Binary sub-tasks of a classification task, as in Wang et al. (2022) for multi-class data.

Predictivity is defined for binary labels (``1[a > baseline] == y``). A task with two classes is its own
sub-task (class index 1 is the positive side). A 3-way task with one class whose name contains "neutral"
becomes positive-vs-negative (the neutral examples dropped) and neutral-vs-rest; any other multi-class task
becomes one-vs-rest per class.

Which examples of its classes a sub-task uses is the :class:`SubtaskScheme`: Wang et al.'s released code
balances each sub-task of a 3-way task (the first k examples of each side in example order, k the smaller
side's count, in train and eval alike); ``all-examples`` keeps every example of the sub-task's classes.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from neurokit.dims import CLASS, EXAMPLE, SUBTASK
from neurokit.errors import ConfigError, StoreError
from neurokit.validation import as_enum


class SubtaskScheme(enum.Enum):
    """Which examples of its classes each binary sub-task of a multi-class task uses."""

    #: Wang et al.: each side subsampled to the smaller side's count (first examples in example order), in
    #: train and eval; the baseline is the balanced train subset's mean; the skill set of fraction f is the
    #: first sub-task's top f/2, filled up to f from the second. Defined for 3-way tasks with a neutral class.
    BALANCED = "balanced"
    #: Every example of the sub-task's classes; pooled train mean; skill set = union of the sub-tasks' tops.
    ALL_EXAMPLES = "all-examples"


@dataclass(frozen=True)
class SubTask:
    """One binary problem: examples of ``positive`` classes are target 1, of ``negative`` classes target 0.

    Class indices refer to the task's ``label_names``; examples of other classes are left out.
    """

    name: str
    positive: tuple[int, ...]
    negative: tuple[int, ...]

    @property
    def classes(self) -> tuple[int, ...]:
        """The classes that take part (their train examples also form the sub-task's baseline)."""
        return tuple(sorted(self.positive + self.negative))


def _neutral_class(names: Sequence[str]) -> int | None:
    """The index of the one class named "…neutral…" of a 3-way task (Wang et al.'s layout), else None."""
    neutral = [index for index, name in enumerate(names) if "neutral" in name.lower()]
    return neutral[0] if len(names) == 3 and len(neutral) == 1 else None


def subtasks_for(label_names: Sequence[str]) -> tuple[SubTask, ...]:
    """The binary sub-tasks of a task with these class names (in label-index order)."""
    names = [str(name) for name in label_names]
    if len(names) < 2:
        raise StoreError(f"a task needs at least two classes for predictivity, got {names}")
    if len(names) == 2:
        return (SubTask(f"{names[1]}-vs-{names[0]}", positive=(1,), negative=(0,)),)
    middle = _neutral_class(names)
    if middle is not None:
        low, high = (index for index in range(3) if index != middle)
        return (
            SubTask(f"{names[high]}-vs-{names[low]}", positive=(high,), negative=(low,)),
            SubTask(f"{names[middle]}-vs-rest", positive=(middle,), negative=(low, high)),
        )
    return tuple(
        SubTask(f"{name}-vs-rest", positive=(index,), negative=tuple(i for i in range(len(names)) if i != index))
        for index, name in enumerate(names)
    )


def subtask_scheme(scheme: SubtaskScheme | str | None, label_names: Sequence[str]) -> SubtaskScheme:
    """The scheme to use for a task: ``None`` means Wang et al.'s — balanced where they defined it (a 3-way
    task with a neutral class), all examples otherwise (a binary task is its own sub-task; for other
    multi-class tasks the released code has no balanced scheme). Refuses ``balanced`` elsewhere."""
    defined = _neutral_class([str(name) for name in label_names]) is not None
    if scheme is None:
        return SubtaskScheme.BALANCED if defined else SubtaskScheme.ALL_EXAMPLES
    chosen: SubtaskScheme = as_enum(scheme, SubtaskScheme, "scheme")
    if chosen is SubtaskScheme.BALANCED and not defined:
        raise ConfigError(f"balanced sub-tasks are defined for 3-way tasks with a neutral class, not for classes "
                          f"{list(label_names)}: use scheme 'all-examples'")
    return chosen


def subtask_coords(subtasks: Sequence[SubTask], label_names: Sequence[str]) -> dict[str, tuple]:
    """Coordinates for a ``subtask`` dim: its names plus the class names on either side (readable tables)."""

    def joined(indices: tuple[int, ...]) -> str:
        return "+".join(label_names[index] for index in indices)

    return {
        SUBTASK: (SUBTASK, np.array([task.name for task in subtasks], dtype=object)),
        "subtask_positive": (SUBTASK, np.array([joined(task.positive) for task in subtasks], dtype=object)),
        "subtask_negative": (SUBTASK, np.array([joined(task.negative) for task in subtasks], dtype=object)),
    }


def _membership(labels: np.ndarray, groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """(…, group) bool: whether each label is one of each group's classes."""
    return np.stack([np.isin(labels, group) for group in groups], axis=-1)


def label_groups(labels: xr.DataArray, groups: Sequence[tuple[int, ...]], dim: str,
                 coords: dict) -> xr.DataArray:
    """(dim, …, example) bool: whether each label (class index) belongs to each group of classes.

    One lazy blockwise lookup with ``dim`` in a single chunk, so that each chunk of activations meets every
    group in one task. Labels outside every group (e.g. -1 for unlabelled) are False everywhere.
    """
    return xr.apply_ufunc(
        _membership, labels, kwargs={"groups": tuple(groups)}, output_core_dims=[[dim]], dask="parallelized",
        output_dtypes=[bool], dask_gufunc_kwargs={"output_sizes": {dim: len(groups)}},
    ).assign_coords(coords).transpose(dim, *labels.dims)


def class_sides(subtasks: Sequence[SubTask], label_names: Sequence[str]) -> tuple[xr.DataArray, xr.DataArray]:
    """(subtask, class) int 0/1: which classes are each sub-task's positive side, and which its negative."""
    sides = np.zeros((2, len(subtasks), len(label_names)), dtype=np.int64)
    for row, task in enumerate(subtasks):
        sides[0, row, list(task.positive)] = 1
        sides[1, row, list(task.negative)] = 1
    coords = {CLASS: np.array(label_names, dtype=object)} | subtask_coords(subtasks, label_names)
    return (xr.DataArray(sides[0], dims=(SUBTASK, CLASS), coords=coords),
            xr.DataArray(sides[1], dims=(SUBTASK, CLASS), coords=coords))


def class_onehot(labels: xr.DataArray, label_names: Sequence[str]) -> xr.DataArray:
    """(class, …, example) bool one-hot of the labels, with the class names as coordinate."""
    return label_groups(labels, [(index,) for index in range(len(label_names))], CLASS,
                        {CLASS: np.array(label_names, dtype=object)})


def balanced_weights(positive: np.ndarray, negative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first k examples of each side, k = the smaller side's total: weights (…, example) → weights.

    ``positive``/``negative`` say how often each example counts on either side (0/1 for a plain eval set,
    bootstrap draw counts for a resample, whose examples are taken in example order with their repeats). An
    example keeps as much of its weight as still fits under k after the earlier examples of its side; so
    with 0/1 weights, the first k examples of each side are kept.
    """
    k = np.minimum(positive.sum(axis=-1, keepdims=True), negative.sum(axis=-1, keepdims=True))
    return tuple(np.clip(k - (np.cumsum(side, axis=-1) - side), 0, side) for side in (positive, negative))


def _kept(labels: np.ndarray, subtasks: tuple[SubTask, ...], balanced: bool) -> np.ndarray:
    """(…, subtask, example) int64: each label where the example takes part in the sub-task, else -1."""
    result = np.full(labels.shape[:-1] + (len(subtasks),) + labels.shape[-1:], -1, dtype=np.int64)
    for number, task in enumerate(subtasks):
        sides = (np.isin(labels, task.positive).astype(np.int64), np.isin(labels, task.negative).astype(np.int64))
        if balanced:
            sides = balanced_weights(*sides)
        result[..., number, :] = np.where((sides[0] + sides[1]) > 0, labels, -1)
    return result


def subtask_labels(labels: xr.DataArray, subtasks: Sequence[SubTask], label_names: Sequence[str],
                   scheme: SubtaskScheme | str) -> xr.DataArray:
    """(…, subtask, example) int64 class indices of the examples each sub-task uses, -1 for the others.

    ``labels`` (…, example) class indices (-1 = unlabelled, never used). With :attr:`SubtaskScheme.BALANCED`
    each side keeps its first k examples in example order, k = the smaller side's count: the order of the
    split as extracted, so the subset is the same whatever the chunking, and it is what Wang et al.'s
    released code keeps (up to its off-by-one, see docs/analysis.md). Lazy for dask-backed labels (one chunk
    along ``example``: a few bytes per example).
    """
    whole = labels if labels.chunks is None else labels.chunk({EXAMPLE: -1})
    balanced = as_enum(scheme, SubtaskScheme, "scheme") is SubtaskScheme.BALANCED
    kept = xr.apply_ufunc(
        _kept, whole, input_core_dims=[[EXAMPLE]], output_core_dims=[[SUBTASK, EXAMPLE]],
        kwargs={"subtasks": tuple(subtasks), "balanced": balanced},
        dask="parallelized", output_dtypes=[np.int64],
        dask_gufunc_kwargs={"output_sizes": {SUBTASK: len(subtasks)}},
    )
    return kept.assign_coords(subtask_coords(subtasks, label_names))
