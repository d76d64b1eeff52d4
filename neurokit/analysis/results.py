"""Persisting analysis results: one Zarr store with a group per result, tidy tables (CSV, LaTeX), progress.

Results are small (per-neuron scores at most), so they are computed once, together — a single pass over the
activation stores, since dask shares the reads of all requested results — and then written. Writes go to a
temporary sibling that is renamed into place at the end, so a failed run leaves nothing half-written. On an
object store (a URL: no atomic rename there) the results are written in place with the root attribute
:data:`COMPLETE_ATTR` false and set true last; :func:`load_results` refuses a store where it is false.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import overload

import dask
import pandas as pd
import xarray as xr
import zarr
from dask.base import get_scheduler
from dask.callbacks import Callback
from dask.system import CPU_COUNT
from tqdm.auto import tqdm

from neurokit.analysis.scheduler import compute_on_cluster, distributed_client
from neurokit.errors import StoreError
from neurokit.storage import Location, locate, require_local

#: Tables longer than this get a CSV only: a LaTeX table is meant for a paper, not for every neuron.
LATEX_MAX_ROWS = 200

#: dask threads per CPU core when the user has not chosen a scheduler. A task reads a chunk (the thread waits
#: on the disk), then decompresses and analyses it; with one thread per core no read is in flight while every
#: thread computes. Two per core overlap the reads with the computing; each extra thread holds about one more
#: chunk in memory (``open_run``'s ``chunk_bytes``). docs/benchmarks.md measures both.
THREADS_PER_CORE = 2

#: Root attribute of a results store: false while it is being written, true once every group is written.
COMPLETE_ATTR = "complete"


def scheduler_options() -> dict:
    """Keywords for ``dask.compute``: none where the user chose a scheduler (a ``dask.distributed`` Client,
    ``dask.config`` scheduler or ``num_workers``), else dask's threads, :data:`THREADS_PER_CORE` per core."""
    if get_scheduler() is not None or dask.config.get("num_workers", None) is not None:
        return {}
    return {"scheduler": "threads", "num_workers": THREADS_PER_CORE * CPU_COUNT}


class _TqdmCallback(Callback):
    """A tqdm bar over the tasks of a dask computation (local schedulers; for a cluster see
    :func:`~neurokit.analysis.scheduler.compute_on_cluster`)."""

    def __init__(self, description: str, enabled: bool = True) -> None:
        super().__init__()
        self._description = description
        self._enabled = enabled
        self._bar: tqdm | None = None

    def _start_state(self, graph, state) -> None:
        total = sum(len(state[key]) for key in ("ready", "waiting", "running", "finished"))
        self._bar = tqdm(total=total, desc=self._description, unit="task", disable=not self._enabled)

    def _posttask(self, key, result, graph, state, worker_id) -> None:
        assert self._bar is not None  # dask calls _start_state before any task
        self._bar.update(1)

    def _finish(self, graph, state, errored) -> None:
        if self._bar is not None:  # None when the computation failed before it started
            self._bar.close()


def result_groups(results: xr.DataTree | Mapping[str, xr.Dataset]) -> dict[str, xr.Dataset]:
    """The result groups by name (``"sst2/skill"``): the nodes of a DataTree that hold variables (names relative
    to its root), or the items of a mapping from group name to Dataset."""
    if isinstance(results, xr.DataTree):
        return {("/" if node is results else node.relative_to(results)): node.to_dataset(inherit=False)
                for node in results.subtree if node.has_data}
    return dict(results)


def result_group(results: xr.DataTree | Mapping[str, xr.Dataset], name: str) -> xr.Dataset | None:
    """The Dataset of the group ``name`` (``"sst2/null"``) of results (a DataTree, or a mapping from group name
    to Dataset), or None where they have none (a DataTree's ``get`` and ``in`` see only its direct children, not
    paths)."""
    if not isinstance(results, xr.DataTree):
        return results.get(name)
    try:
        node = results[name]
    except KeyError:
        return None
    return node.to_dataset() if isinstance(node, xr.DataTree) else None


@overload
def compute_results(results: xr.DataTree, description: str = ..., progress: bool = ...) -> xr.DataTree: ...


@overload
def compute_results(results: Mapping[str, xr.Dataset], description: str = ...,
                    progress: bool = ...) -> dict[str, xr.Dataset]: ...


def compute_results(results: xr.DataTree | Mapping[str, xr.Dataset], description: str = "analysis",
                    progress: bool = True) -> xr.DataTree | dict[str, xr.Dataset]:
    """Compute all results in one dask computation (shared reads), with a progress bar unless ``progress`` is off,
    on the user's dask scheduler or else on :data:`THREADS_PER_CORE` threads per core (:func:`scheduler_options`).
    On a ``dask.distributed`` cluster (a Client, e.g. from :func:`~neurokit.analysis.scheduler.use_scheduler`)
    the bar is fed by the cluster's scheduler.

    The variables' dask arrays are computed directly rather than the Datasets: ``dask.compute`` on Datasets
    whose variables depend on each other loses graph dependencies in the installed xarray/dask
    (pydata/xarray#11329), while the arrays themselves compute correctly.

    ``results``: a DataTree (as :func:`~neurokit.analysis.analyze_stores` returns) or a mapping from group name
    to Dataset; the computed results come back in the same form (a tree keeps its root attributes).
    """
    computed = {name: ds.copy(deep=False) for name, ds in result_groups(results).items()}
    lazy = [variable for ds in computed.values() for variable in ds.variables.values()
            if dask.is_dask_collection(variable.data)]
    client = distributed_client()
    if client is not None:  # a dask.distributed cluster: local callbacks never see its tasks
        values = compute_on_cluster(client, [variable.data for variable in lazy], description, progress)
    else:
        with _TqdmCallback(description, progress):
            values = dask.compute(*(variable.data for variable in lazy), **scheduler_options())
    for variable, value in zip(lazy, values, strict=True):
        variable.data = value
    if isinstance(results, xr.DataTree):
        tree = xr.DataTree.from_dict(computed)
        tree.attrs.update(results.attrs)
        return tree
    return computed


def _storable(ds: xr.Dataset) -> xr.Dataset:
    """Strings as Python objects, which Zarr v3 stores as variable-length strings (it has no spec for numpy's
    fixed-width unicode, kind "U", nor a mapping for numpy's StringDType, kind "T", that pandas indexes use)."""
    def convert(variable: xr.DataArray) -> xr.DataArray:
        return variable.astype(object) if variable.dtype.kind in "UT" else variable

    ds = ds.map(convert, keep_attrs=True)
    return ds.assign_coords({name: convert(coord) for name, coord in ds.coords.items()})


def check_target(path: str | Path | Location, overwrite: bool,
                 storage_options: Mapping | None = None) -> Location:
    """Where a results store will go (a local path or a URL); refuses an existing one unless ``overwrite``
    (checked before long computations start)."""
    location = locate(path, storage_options)
    if location.local is not None:
        _check_local_output(location.local, overwrite)
    elif location.exists() and not overwrite:
        raise StoreError(f"{location} exists: choose another output or allow overwriting (--overwrite)")
    return location


def check_writable(path: str | Path, overwrite: bool) -> Path:
    """A local output (a folder or file) as a Path: refuses a URL, an existing path unless ``overwrite``, an
    existing file, a parent that is a file, or a folder that is not writable (read-only), before long
    computations start."""
    local = require_local(path, "this output", "give a local path (copy it to object storage afterwards)")
    return _check_local_output(local, overwrite)


def _check_local_output(path: Path, overwrite: bool) -> Path:
    if path.exists() and not overwrite:
        raise StoreError(f"{path} exists: choose another output or allow overwriting (--overwrite)")
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} is an existing file, not a folder to write into")
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise StoreError(f"cannot write {path}: {ancestor} is a file, not a folder")
    if not os.access(ancestor, os.W_OK):
        raise StoreError(f"cannot write {path}: {ancestor} is not writable (read-only file system or permissions)")
    return path


def _write_tree(tree: xr.DataTree, store) -> None:
    """Write ``tree`` to a zarr ``store`` with every chunk on disk, its root's :data:`COMPLETE_ATTR` false until
    every group is written."""
    tree.attrs[COMPLETE_ATTR] = False
    tree.to_zarr(store, mode="w", consolidated=False, write_empty_chunks=True)
    zarr.open_group(store, mode="r+").attrs[COMPLETE_ATTR] = True


def _remove_partial(partial: Path) -> None:
    """Remove a temporary output; again if it reappears, since zarr's write tasks that were already running
    when one of them failed (e.g. a full disk) may still create files for a moment."""
    for _ in range(5):
        shutil.rmtree(partial, ignore_errors=True)
        if not partial.exists():
            time.sleep(0.05)
            if not partial.exists():
                return


def save_results(results: xr.DataTree | Mapping[str, xr.Dataset], path: str | Path, overwrite: bool = False,
                 attrs: Mapping[str, str] | None = None, progress: bool = True,
                 storage_options: Mapping | None = None) -> Path | str:
    """Write results (a DataTree or a mapping from group name to Dataset) to one Zarr store, one group per result
    group (names may nest: ``"sst2/skill"``); ``attrs`` go to the root group (provenance). ``path`` is a local
    path or a URL (``storage_options`` for its filesystem).

    Lazy results are computed first. Refuses an existing path unless ``overwrite``. A local store appears
    only when complete (written beside it and renamed). On an object store, which has no atomic rename, the
    store is written in place (replacing an old one first) and its root attribute ``complete`` is set last:
    a reader of a store whose writer died sees it false and :func:`load_results` refuses it. Read it back
    with :func:`load_results`.
    """
    target = check_target(path, overwrite, storage_options)
    computed = result_groups(compute_results(results, description="computing results", progress=progress))
    tree = xr.DataTree.from_dict({name: _storable(ds) for name, ds in computed.items()})
    own = results.attrs if isinstance(results, xr.DataTree) else {}  # a tree's root attributes travel with it
    tree.attrs.update(own)
    tree.attrs.update(attrs or {})
    tree.attrs[WHOLE_CHUNKS_ATTR] = True
    if target.local is None:
        _write_tree(tree, target.zarr_store(read_only=False))
        return target.url
    path = target.local
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    _remove_partial(partial)
    try:
        _write_tree(tree, partial)
        if path.exists():
            shutil.rmtree(path)
        os.replace(partial, path)
    except OSError as error:  # a full disk, a read-only file system, a quota: nothing is left behind
        raise StoreError(f"cannot write results to {path}: {error.strerror or error}") from None
    finally:
        _remove_partial(partial)
    return path


#: Root attribute of results stores written with every chunk on disk (``write_empty_chunks``), so that a
#: missing chunk file is damage; older results stores lack it and are not listed.
WHOLE_CHUNKS_ATTR = "neurokit_every_chunk_written"


def load_results(path: str | Path | Location, storage_options: Mapping | None = None) -> xr.DataTree:
    """Open a results store written by :func:`save_results` (lazily, as a tree of groups) from a local path
    or a URL; StoreError when there is none or its writer has not finished (``complete`` false).

    A results store is a small summary, so it is verified whole here: every chunk file present (stores
    written since :data:`WHOLE_CHUNKS_ATTR`) and every chunk decodable; StoreError names the variable."""
    location = locate(path, storage_options)
    if not location.exists():
        raise StoreError(f"no results store at {location}")
    _verify_results(location)
    tree = xr.open_datatree(location.zarr_store(), engine="zarr", consolidated=False)
    # Stores written before the attribute existed were written locally and renamed: complete by construction.
    if tree.attrs.get(COMPLETE_ATTR) is False:
        raise StoreError(f"{location} is incomplete: the analysis writing it has not finished (or died); run it "
                         "again with --overwrite")
    return tree


def _verify_results(path: Location) -> None:
    from neurokit.extract.integrity import missing_blocks

    try:
        root = zarr.open_group(path.zarr_store(), mode="r")
        arrays = [(name, member) for name, member in root.members(max_depth=None) if isinstance(member, zarr.Array)]
    except Exception as error:  # noqa: BLE001 - damaged metadata: zarr's errors vary with the damage
        raise StoreError(f"{path} is not a readable results store ({' '.join(str(error).split())[:200]})") from None
    listed = bool(root.attrs.get(WHOLE_CHUNKS_ATTR))
    for name, array in arrays:
        if listed and missing_blocks(path, array, name, None):
            raise StoreError(f"{path} is damaged: {name!r} has chunk files missing; rerun the command that wrote it")
        try:
            array[...]
        except Exception as error:  # noqa: BLE001 - checksum mismatch, corrupt frame: errors vary with the damage
            reason = " ".join(f"{type(error).__name__}: {error}".split())[:200]
            raise StoreError(f"{path} is damaged: {name!r} cannot be read ({reason}); "
                             "rerun the command that wrote it") from None


def tidy_table(values: xr.DataArray) -> pd.DataFrame:
    """One row per element, one column per dim and coordinate, the value in a column named after the array."""
    name = values.name or "value"
    if values.ndim == 0:  # a single number: one row, its scalar coordinates as columns
        return pd.DataFrame([{**{key: coord.item() for key, coord in values.coords.items()}, name: values.item()}])
    return values.to_dataframe(name=name).reset_index()


def write_tables(results: xr.DataTree | Mapping[str, xr.Dataset], directory: str | Path,
                 latex_max_rows: int = LATEX_MAX_ROWS) -> list[Path]:
    """One tidy CSV per result variable, ``<group>__<variable>.csv`` (``/`` in group names becomes ``__``),
    and a LaTeX table beside it when it has at most ``latex_max_rows`` rows. Each file is written under a
    temporary name and renamed, so no table is ever half-written. Returns the files written."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot write tables to {directory}: {error.strerror or error}") from None
    written = []
    for group, ds in result_groups(results).items():
        for name, values in ds.data_vars.items():
            table = tidy_table(values.compute())
            stem = f"{group.replace('/', '__')}__{name}"
            written.append(_write_atomically(directory / f"{stem}.csv", table.to_csv(index=False)))
            if len(table) <= latex_max_rows:
                latex = table.to_latex(index=False, float_format="%.4f", na_rep="--", escape=True)
                written.append(_write_atomically(directory / f"{stem}.tex", latex))
    return written


def _write_atomically(path: Path, text: str) -> Path:
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text)
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise StoreError(f"cannot write table {path}: {error.strerror or error}") from None
    return path
