"""Opening extraction stores for analysis, grouped by task: the one place that knows how stores are read.

Stores are opened by the extraction stage's readers (:func:`neurokit.extract.open_run` and
:func:`~neurokit.extract.open_runs`), which refuse incomplete stores and runs of different models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from neurokit.analysis.common import describe
from neurokit.errors import StoreError
from neurokit.extract.schema import TRAIN_COUNT, TRAIN_SUM
from neurokit.storage import Location, locate


def open_by_task(paths: Sequence[str | Path], by_clean_task: bool = False,
                 storage_options: Mapping[str, Any] | None = None) -> dict[str, xr.Dataset]:
    """The stores at ``paths`` (local paths or URLs, ``storage_options`` for their filesystems) grouped by task;
    a task's several stores (prompts) stacked along ``run`` in the order given, lazily. With ``by_clean_task``,
    adversarial stores are keyed by the clean task they attack. Raises :class:`~neurokit.errors.StoreError`
    for unreadable or unrelated stores."""
    from neurokit.extract import open_run, open_runs

    groups: dict[str, list[Location]] = {}
    for path in paths:
        location = locate(path, storage_options)
        info = describe(open_run(location))
        groups.setdefault(info.clean_task_name if by_clean_task else info.task_name, []).append(location)
    return {task: open_run(group[0]) if len(group) == 1 else open_runs(group) for task, group in groups.items()}


def open_null_runs(paths: Sequence[str | Path],
                   storage_options: Mapping[str, Any] | None = None) -> dict[str, tuple[xr.Dataset, xr.Dataset]]:
    """Per task, an untuned prompt's (train, eval) stores: the train store is the one with train statistics
    (or split "train"), the eval store the other; exactly one of each per task. ``storage_options`` as in
    :func:`open_by_task`."""
    from neurokit.extract import open_run

    groups: dict[str, dict[str, list[xr.Dataset]]] = {}
    for path in paths:
        store = open_run(path, storage_options=storage_options)
        info = describe(store)
        is_train = (TRAIN_SUM in store and TRAIN_COUNT in store) or info.splits == ("train",)
        groups.setdefault(info.task_name, {"train": [], "eval": []})["train" if is_train else "eval"].append(store)
    pairs = {}
    for task, roles in groups.items():
        if len(roles["train"]) != 1 or len(roles["eval"]) != 1:
            raise StoreError(f"--null needs one train and one eval store of the untuned prompt for task {task!r}, "
                             f"got {len(roles['train'])} and {len(roles['eval'])}")
        pairs[task] = (roles["train"][0], roles["eval"][0])
    return pairs
