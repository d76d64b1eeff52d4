"""What every analysis needs from a store: its identity, its runs, its positions, and slab-shaped chunks.

A store (one extraction run) or a lazily combined set of runs (leading ``run`` dim) is described by
:class:`RunInfo`. Analyses normalise every input to carry a ``run`` dim, so one code path serves a single
prompt and several prompts; the per-run identity (prompt hash, task, split, model) is read from coordinates
on ``run`` where the combination put them and from the dataset attributes otherwise.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from neurokit.dims import CLASS, LAYER, NEURON, POSITION, POSITION_ROLE, RUN, SUBTASK
from neurokit.errors import ConfigError, StoreError
from neurokit.validation import UNIT, as_enum, real

# Dask chunks of the slabs that need every example of a neuron at once (AUROC, resampling). 128 MiB keeps a
# worker well inside the 2 GB a >RAM benchmark allows while making the per-slab Python overhead negligible.
DEFAULT_SLAB_BYTES = 128 * 2**20


class PositionSet(enum.Enum):
    """Which token positions a neuron score may take its maximum over."""

    PROMPT = "prompt"  # roles "mask" and "prompt_*": the positions both papers use
    ALL = "all"  # every stored position, including the input summaries


class RunAggregation(enum.Enum):
    """How the neuron scores of several prompts (the ``run`` dim) of one task are combined."""

    MEAN = "mean"
    MIN = "min"


class Selection(enum.Enum):
    """Where the top fraction of neurons is taken."""

    PER_LAYER = "per-layer"  # Wang et al.: the same fraction in every layer
    GLOBAL = "global"  # over all layers at once


@dataclass(frozen=True)
class RunInfo:
    """Identity of a (possibly combined) store: enough to refuse analyses that mix unrelated data.

    Per-run tuples have one entry per element of the ``run`` dim (one entry for an uncombined store).
    """

    model_id: str
    weights_sha256: str
    task_name: str
    #: The task whose train baselines apply: the clean task of an adversarial task, else ``task_name``.
    clean_task_name: str
    task_type: str
    label_names: tuple[str, ...]
    prompts: tuple[str, ...]
    splits: tuple[str, ...]

    def attrs(self) -> dict[str, str]:
        """What results carry to say where they come from: model, weights and task (JSON text)."""
        task = {"name": self.task_name, "task_type": self.task_type, "label_names": list(self.label_names)}
        return {"model_id": self.model_id, "weights_sha256": self.weights_sha256, "task": json.dumps(task)}


def _per_run_values(ds: xr.Dataset, coords: Sequence[str], attr: str | None = None) -> list[str] | None:
    """Values of one identity field per run: a coordinate on ``run`` (the first of ``coords`` present) if
    the runs differ in it, else the attribute they share."""
    for coord in coords:
        if coord in ds.coords and RUN in ds[coord].dims:
            return [str(value) for value in np.atleast_1d(ds[coord].values)]
    if attr is not None and attr in ds.attrs:
        return [str(ds.attrs[attr])] * ds.sizes.get(RUN, 1)
    return None


def _single(values: list[str] | None, what: str) -> str:
    if values is None:
        raise StoreError(f"store has no {what} (neither an attribute nor a coordinate on 'run')")
    distinct = sorted(set(values))
    if len(distinct) != 1:
        raise StoreError(f"the combined runs come from different {what}s: {', '.join(distinct)}")
    return distinct[0]


def _parse_task(text: str) -> dict:
    """A task description: JSON text with at least ``name`` (a bare name is accepted as the name alone)."""
    if not text.lstrip().startswith("{"):
        return {"name": text}
    try:
        task = json.loads(text)
    except json.JSONDecodeError as error:
        raise StoreError(f"store's task description is not valid JSON: {error}") from None
    if "name" not in task:
        raise StoreError("store's task description has no 'name'")
    return task


def describe(ds: xr.Dataset) -> RunInfo:
    """Read and check the identity of a store or of runs combined along ``run``.

    Identity fields the runs share are attributes; fields that differ between combined runs are coordinates
    on ``run`` (``prompt_sha256`` or ``prompt``, ``task``, ``split``, …). The class names come from the task
    description's ``label_names`` or else from the ``class`` coordinate (label-index order). Raises
    :class:`~neurokit.errors.StoreError` when a field is missing or when combined runs come from different
    models or tasks (prompts and splits may differ between runs).
    """
    tasks = [_parse_task(text) for text in _per_run_values(ds, ["task"], "task") or []]
    if not tasks:
        raise StoreError("store has no 'task' attribute describing its task")
    task_name = _single([str(task["name"]) for task in tasks], "task")
    task = tasks[0]
    classes = [str(name) for name in ds[CLASS].values] if CLASS in ds.coords else None
    label_names = [str(name) for name in task.get("label_names", classes or [])]
    if not label_names:
        raise StoreError("store names no classes (no label_names in its task description, no 'class' coordinate)")
    if classes is not None and classes != label_names:
        raise StoreError(f"store's class coordinate {classes} differs from its task's label_names {label_names}")
    prompts = _per_run_values(ds, ["prompt", "prompt_sha256"], "prompt_sha256")
    if prompts is None:
        raise StoreError("store has no prompt identity (prompt_sha256 attribute or coordinate)")
    return RunInfo(
        model_id=_single(_per_run_values(ds, ["model_id"], "model_id"), "model_id"),
        weights_sha256=_single(_per_run_values(ds, ["weights_sha256"], "weights_sha256"), "weights_sha256"),
        task_name=task_name,
        clean_task_name=str(task.get("adversarial_of") or task_name),
        task_type=str(task.get("task_type", "")),
        label_names=tuple(label_names),
        prompts=tuple(prompts),
        splits=tuple(_per_run_values(ds, ["split"], "split") or ["unknown"] * ds.sizes.get(RUN, 1)),
    )


def check_same_model(*identities: RunInfo | Mapping[str, Any], what: str = "stores") -> None:
    """Refuse to relate activations or scores of different backbones (or of different weights of one backbone).

    ``identities``: the :class:`RunInfo` of stores, or the attributes of results (a missing ``model_id`` or
    ``weights_sha256`` is not compared); ``what`` names them in the message."""
    for field in ("model_id", "weights_sha256"):
        values = sorted({str(identity[field]) if isinstance(identity, Mapping) else getattr(identity, field)
                         for identity in identities
                         if not isinstance(identity, Mapping) or field in identity})
        if len(values) > 1:
            raise StoreError(f"the {what} come from different models ({field} {' vs '.join(values)})")


def check_same_task(train: RunInfo, other: RunInfo, role: str = "eval") -> None:
    """Refuse baselines of one task applied to another task's data (or to differently ordered labels); an
    adversarial variant of the train task is the same task (Ackermann & Ohmer score it with clean baselines)."""
    if train.task_name != other.clean_task_name:
        raise StoreError(f"train store is task {train.task_name!r} but the {role} store is task {other.task_name!r}")
    if train.label_names != other.label_names:
        raise StoreError(
            f"train and {role} stores of task {train.task_name!r} have different labels: "
            f"{list(train.label_names)} vs {list(other.label_names)}"
        )


def with_runs(ds: xr.Dataset, info: RunInfo) -> xr.Dataset:
    """The dataset with a ``run`` dim (size 1 added for an uncombined store) labelled by ``prompt`` alone.

    The other per-run identity coordinates (task, model, split) are dropped once :func:`describe` has
    checked them: they are constant within an analysis and would clash between train and eval runs.
    """
    if RUN not in ds.dims:
        ds = ds.expand_dims(RUN)
    if RUN not in ds.coords:
        ds = ds.assign_coords({RUN: np.arange(ds.sizes[RUN])})
    identity = [name for name in ds.coords if name != RUN and ds[name].dims == (RUN,)]
    return ds.drop_vars(identity).assign_coords(prompt=(RUN, np.array(info.prompts, dtype=object)))


def check_same_layout(train: xr.Dataset | xr.DataArray, other: xr.Dataset, role: str = "eval") -> None:
    """Refuse stores whose layers, positions (and their roles) or neurons differ: baselines would misalign."""
    for dim in (LAYER, POSITION, NEURON):
        if not np.array_equal(train[dim].values, other[dim].values):
            raise StoreError(f"train and {role} stores have different {dim} coordinates")
    if not np.array_equal(train[POSITION_ROLE].values, other[POSITION_ROLE].values):
        raise StoreError(f"train and {role} stores have different position roles")


def prompt_position_mask(roles: Sequence[str]) -> np.ndarray:
    """True at the positions both papers read: the mask slot and the soft-prompt vectors."""
    return np.array([role == "mask" or role.startswith("prompt_") for role in roles], dtype=bool)


def check_prompt_sees_input(ds: xr.Dataset) -> None:
    """Refuse to analyse the prompt positions of a store whose prompt never saw the input.

    Extraction refuses to store such positions (a prompt placed before the input of a causal model), and a store
    says where its prompt was in the ``prompt_layout`` attribute. A store written before layouts were recorded
    had its prompt in front of the input, so for it the model family decides (importing the model adapters,
    and with them torch, only then).
    """
    if _per_run_values(ds, ["prompt_layout"], "prompt_layout") is not None:
        return
    model_type = json.loads(ds.attrs.get("model_config") or "{}").get("model_type")
    if model_type:
        from neurokit.models.adapters import LEGACY_LAYOUT, adapter_for

        adapter_for(model_type).check_prompt_sees_input(LEGACY_LAYOUT, "analyse prompt positions")


def select_positions(ds: xr.Dataset, positions: PositionSet | Sequence[str]) -> xr.Dataset:
    """The positions whose roles are chosen: the prompt positions, all, or an explicit list of roles; prompt
    positions that never saw the input are refused (:func:`check_prompt_sees_input`)."""
    roles = [str(role) for role in ds[POSITION_ROLE].values]
    if isinstance(positions, PositionSet):
        if positions is PositionSet.ALL:
            keep = np.ones(len(roles), dtype=bool)
        else:
            keep = prompt_position_mask(roles)
    else:
        wanted = set(positions)
        keep = np.array([role in wanted for role in roles], dtype=bool)
    if not keep.any():
        raise StoreError(f"store has no positions with the requested roles ({positions})")
    if (keep & prompt_position_mask(roles)).any():
        check_prompt_sees_input(ds)
    if keep.all():
        return ds
    indices = np.flatnonzero(keep)
    if indices[-1] - indices[0] + 1 == len(indices):
        # A run of positions (the prompt positions are) is a slice: a view of each chunk, where a list of
        # indices would copy every chunk of activations once more before the analysis reads it.
        return ds.isel({POSITION: slice(int(indices[0]), int(indices[-1]) + 1)})
    return ds.isel({POSITION: indices})


def as_position_set(positions: PositionSet | str | Sequence[str]) -> PositionSet | tuple[str, ...]:
    """Accept the enum, its value, or a sequence of position roles."""
    if isinstance(positions, PositionSet):
        return positions
    if isinstance(positions, str):
        return as_enum(positions, PositionSet, "positions (unless a list of roles)")
    roles = tuple(str(role) for role in positions)
    if not roles:
        raise ConfigError("positions: the list of roles is empty")
    return roles


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """A sweep of top fractions as floats: at least one, each in [0, 1] (0: no neuron, 1: every neuron)."""
    values = tuple(fractions)
    if not values:
        raise ConfigError("fractions must be a non-empty list of numbers in [0, 1], got []")
    return tuple(real(fraction, "fractions", UNIT) for fraction in values)


def top_count(fraction: float, size: int) -> int:
    """How many of ``size`` neurons form the top ``fraction``: ⌊fraction·size⌋, never more than the fraction.

    The tolerance absorbs binary rounding (0.29·100 = 28.999…) so that a fraction written in percent selects
    exactly that percentage when it is a whole number of neurons.
    """
    return int(math.floor(fraction * size + 1e-9))


def single_chunk(obj: xr.DataArray, dims: Sequence[str]) -> xr.DataArray:
    """Merge the chunks of ``dims`` (a no-op for numpy-backed data): apply_ufunc needs whole core dims."""
    if obj.chunks is None:
        return obj
    return obj.chunk({dim: -1 for dim in dims})


def computed_once(array):
    """A dask array's blocks behind a materialized layer: each block is computed once, however many tasks
    use it.

    dask fuses a chain of blockwise layers into the tasks that consume them. A block that many consumers
    share, such as the baselines of one layer that every example chunk of that layer is compared with, would
    then be recomputed (train statistics read again, thresholds prepared again) in each consumer; a
    materialized layer of aliases is where that fusion stops.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
    from dask.typing import Key

    name = "computed-once-" + tokenize(array)
    aliases: dict[Key, Any] = {(name, *index): (array.name, *index) for index in np.ndindex(*array.numblocks)}
    graph = HighLevelGraph.from_collections(name, aliases, dependencies=[array])
    return da.Array(graph, name, chunks=array.chunks, meta=array._meta)


def slab_chunks(activation: xr.DataArray, whole_dims: Sequence[str], bytes_per_neuron: int,
                slab_bytes: int) -> xr.DataArray:
    """Chunks for a kernel that needs ``whole_dims`` entire: those dims in one chunk, the other dims (layer,
    run) one element per chunk, and as many neurons as fit ``slab_bytes`` given the kernel's working memory
    ``bytes_per_neuron`` (at least one neuron). Numpy-backed data is returned unchanged: it is in memory.
    """
    if activation.chunks is None:
        return activation
    neuron_chunk = max(1, min(activation.sizes[NEURON], slab_bytes // max(bytes_per_neuron, 1)))
    chunks = {dim: (-1 if dim in whole_dims else 1) for dim in activation.dims} | {NEURON: neuron_chunk}
    return activation.chunk(chunks)


def task_level(score: xr.DataArray) -> xr.DataArray:
    """One score per neuron and task: the best of a multi-class task's binary sub-tasks.

    The skill set of a multi-class task is the union of its sub-tasks' tops, so a neuron counts for the task
    as much as for the sub-task it serves best.
    """
    if SUBTASK in score.dims:
        return score.max(SUBTASK, skipna=False)
    return score
