"""Reading stores as lazy xarray Datasets: :func:`open_run` and :func:`open_runs`."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr
import zarr
from dask.base import tokenize

from neurokit.dims import (
    CLASS,
    EXAMPLE,
    LAYER,
    NEURON,
    POSITION,
    POSITION_ROLE,
    RUN,
    SITE,
)
from neurokit.errors import ConfigError, StoreError
from neurokit.extract.checksum import fast_checksums
from neurokit.extract.integrity import checked_dask_array, missing_chunk_problem
from neurokit.extract.progress import covered_blocks
from neurokit.extract.schema import (
    ACTIVATION,
    PER_EXAMPLE,
    STRING_DTYPE,
    TRAIN_STATS,
    TRUE_DTYPE_ATTR,
    decode_stored,
    n_blocks,
    open_array,
    read_store_attrs,
)
from neurokit.extract.spec import StoredDtype
from neurokit.storage import Location, locate
from neurokit.validation import one_of

# Runs can only be stacked when their neurons are the same neurons.
_SAME_MODEL_ATTRS = ("model_id", "model_revision", "weights_sha256")
_SAME_COORDS = (LAYER, SITE, POSITION, POSITION_ROLE, NEURON, CLASS)


#: Dask chunks gather whole blocks along ``example`` up to about this many bytes of activations per layer.
#: One block and layer is a few MB at base-model sizes, and at that size dask's and zarr's bookkeeping per
#: chunk (a task, a request through zarr's event loop) is a sizeable part of an analysis's run time.
DEFAULT_CHUNK_BYTES = 24 * 2**20


def _example_chunks(group: zarr.Group, chunk_bytes: int) -> dict[str, int]:
    """``open_zarr``'s chunks: whole blocks (zarr's inner chunks along ``example``) up to ``chunk_bytes`` of
    activations per dask chunk; ``{}`` (the inner chunks themselves) when one block already fills it. Given
    to ``open_zarr`` rather than rechunked afterwards, which would copy every chunk once more. ``group`` is
    the store's root group, already open."""
    stored = group.get(ACTIVATION)
    if not isinstance(stored, zarr.Array):  # a train store of statistics only
        return {}
    blocks = chunk_bytes // max(1, math.prod(stored.chunks) * stored.dtype.itemsize)
    return {EXAMPLE: blocks * stored.chunks[0]} if blocks > 1 else {}


def open_run(path: str | os.PathLike | Location, *, allow_incomplete: bool = False,
             chunk_bytes: int = DEFAULT_CHUNK_BYTES, storage_options: Mapping[str, Any] | None = None) -> xr.Dataset:
    """One store as a lazy Dataset: Dask arrays chunked by layer and by as many whole blocks of examples as
    fit ``chunk_bytes`` (at least one block).

    ``path`` is a local path or an fsspec URL (``s3://bucket/run/dev.zarr``; ``storage_options`` such as
    credentials or an endpoint go to its filesystem, see :mod:`neurokit.storage`).
    bfloat16 activations (stored as uint16 bits) come back as float32, decoded lazily; float16 and float32
    come back as stored. An incomplete store (extraction still running or killed) raises StoreError unless
    ``allow_incomplete``; its unwritten examples then read as NaN activations and label -1.

    Integrity (neurokit.extract.integrity): a written block or statistic whose chunk file is missing raises
    StoreError here; a chunk that cannot be decoded (checksum mismatch, corrupt frame) raises StoreError when
    it is read. Both messages name the store, the variable and the block.
    """
    location = locate(path, storage_options)
    attrs = read_store_attrs(location)
    if not attrs["complete"] and not allow_incomplete:
        raise StoreError(
            f"{location} is incomplete ({len(covered_blocks(location))} of {n_blocks(attrs)} blocks written); "
            "finish or resume the extraction, or pass allow_incomplete=True"
        )
    store = location.zarr_store()
    with fast_checksums():  # the arrays keep the codec classes they are opened with
        group = zarr.open_group(store, mode="r")
    data_names = [name for name in (ACTIVATION, *PER_EXAMPLE, *TRAIN_STATS) if name in group]
    if attrs["complete"]:
        written = set(range(n_blocks(attrs)))
    else:  # the blocks that the progress snapshots of a running (or killed) extraction list
        written = covered_blocks(location)
    problem = missing_chunk_problem(location, group, data_names if attrs["complete"] else
                                    [name for name in data_names if name not in TRAIN_STATS], written)
    if problem:
        raise StoreError(problem)
    try:
        dataset = xr.open_zarr(store, chunks=_example_chunks(group, chunk_bytes))
    except Exception as error:  # noqa: BLE001 - damaged coordinates or metadata: zarr's errors vary
        raise StoreError(f"{location} is damaged and cannot be opened ({' '.join(str(error).split())[:200]})") from None
    # Data variables read through CheckedArray, so that a chunk zarr cannot decode raises one line naming it.
    identity = str(location.local.resolve()) if location.local is not None else location.url
    token = tokenize(identity, attrs["run_fingerprint"], attrs["finished_at"], len(written))
    for name in data_names:
        variable = dataset[name].variable
        data = checked_dask_array(location, name, open_array(group, name), variable.chunks, token)
        dataset[name] = xr.Variable(variable.dims, data, variable.attrs, variable.encoding)
    # The label coordinates are tiny: load them so that selecting by site or role needs no computation.
    dataset = dataset.assign_coords({SITE: dataset[SITE].load(), POSITION_ROLE: dataset[POSITION_ROLE].load()})
    if ACTIVATION in dataset and dataset[ACTIVATION].attrs.get(TRUE_DTYPE_ATTR) == StoredDtype.BFLOAT16.value:
        stored = dataset[ACTIVATION]
        decoded = stored.data.map_blocks(decode_stored, StoredDtype.BFLOAT16, dtype=np.float32)
        var_attrs = {key: value for key, value in stored.attrs.items() if key != TRUE_DTYPE_ATTR}
        dataset[ACTIVATION] = xr.Variable(stored.dims, decoded, var_attrs)
    return dataset


def _as_coordinate_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def open_runs(
    paths: Sequence[str | os.PathLike | Location],
    *,
    join: Literal["exact", "inner", "outer"] = "exact",
    allow_incomplete: bool = False,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    storage_options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """Several stores of one model, stacked lazily along a new ``run`` dimension.

    The runs must share the model (id, revision, weights) and the layer, position, neuron and class
    coordinates; otherwise StoreError names the first difference. ``join`` decides what happens when the
    runs hold different examples: ``"exact"`` refuses, ``"inner"`` keeps the common examples, ``"outer"``
    keeps all (missing entries become NaN, so integer variables turn float). ``chunk_bytes`` and
    ``storage_options`` (for every URL among ``paths``) as in :func:`open_run`.

    Coordinates along ``run``: ``run`` (0..R-1), ``store`` (path or URL) and, for every attribute whose value
    differs between the runs (e.g. ``prompt_sha256``, ``task``, ``split``), one string coordinate of that
    name; attributes shared by all runs stay in ``attrs``.
    """
    one_of(join, ("exact", "inner", "outer"), "join")
    paths = [locate(path, storage_options) for path in paths]
    if not paths:
        raise ConfigError("open_runs needs at least one store")
    datasets = [open_run(path, allow_incomplete=allow_incomplete, chunk_bytes=chunk_bytes) for path in paths]
    first, first_path = datasets[0], paths[0]
    for dataset, path in zip(datasets[1:], paths[1:], strict=True):
        for name in _SAME_MODEL_ATTRS:
            if dataset.attrs.get(name) != first.attrs.get(name):
                raise StoreError(
                    f"cannot combine runs of different models: {name} is {first.attrs.get(name)!r} in "
                    f"{first_path} but {dataset.attrs.get(name)!r} in {path}"
                )
        for name in _SAME_COORDS:
            if not np.array_equal(dataset[name].values, first[name].values):
                raise StoreError(f"cannot combine {first_path} and {path}: their {name} coordinates differ")
        if join == "exact" and not np.array_equal(dataset[EXAMPLE].values, first[EXAMPLE].values):
            raise StoreError(
                f"{first_path} and {path} hold different examples; pass join='inner' or join='outer' to align them"
            )
    names = sorted(set().union(*(dataset.attrs for dataset in datasets)))
    differing = {
        name: [_as_coordinate_value(dataset.attrs.get(name)) for dataset in datasets]
        for name in names
        if any(dataset.attrs.get(name) != first.attrs.get(name) for dataset in datasets)
    }
    shared = {name: first.attrs[name] for name in names if name not in differing}
    combined = xr.concat(
        [dataset.drop_attrs(deep=False) for dataset in datasets],
        dim=RUN,
        join=join,
        data_vars="all",
        coords="minimal",
        compat="override",
        combine_attrs="drop",
    )
    run_coords = {
        name: (RUN, np.array(values, dtype=STRING_DTYPE))
        for name, values in {"store": [str(path) for path in paths], **differing}.items()
    }
    combined = combined.assign_coords({RUN: np.arange(len(datasets)), **run_coords})
    combined.attrs = shared
    return combined
