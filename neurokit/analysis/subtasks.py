"""Binary sub-tasks of a classification task, as in Wang et al. (2022) for multi-class data.

Predictivity is defined for binary labels (``1[a > baseline] == y``). A task with two classes is its own
sub-task (class index 1 is the positive side). A 3-way task with one class whose name contains "neutral"
becomes positive-vs-negative (the neutral examples dropped) and neutral-vs-rest; any other multi-class task
becomes one-vs-rest per class. The skill set of a multi-class task is the union of its sub-tasks' tops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xarray as xr

from neurokit.analysis._common import CLASS, SUBTASK
from neurokit.errors import StoreError


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


def subtasks_for(label_names: Sequence[str]) -> tuple[SubTask, ...]:
    """The binary sub-tasks of a task with these class names (in label-index order)."""
    names = [str(name) for name in label_names]
    if len(names) < 2:
        raise StoreError(f"a task needs at least two classes for predictivity, got {names}")
    if len(names) == 2:
        return (SubTask(f"{names[1]}-vs-{names[0]}", positive=(1,), negative=(0,)),)
    neutral = [index for index, name in enumerate(names) if "neutral" in name.lower()]
    if len(names) == 3 and len(neutral) == 1:
        (middle,) = neutral
        low, high = (index for index in range(3) if index != middle)
        return (
            SubTask(f"{names[high]}-vs-{names[low]}", positive=(high,), negative=(low,)),
            SubTask(f"{names[middle]}-vs-rest", positive=(middle,), negative=(low, high)),
        )
    return tuple(
        SubTask(f"{name}-vs-rest", positive=(index,), negative=tuple(i for i in range(len(names)) if i != index))
        for index, name in enumerate(names)
    )


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
