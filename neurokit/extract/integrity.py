"""Integrity on read: every reader refuses a store with a missing or corrupt chunk, in one line.

Two checks, both cheap against the read itself (docs/benchmarks.md measures them):

- **Missing chunks** (:func:`missing_chunk_problem`): a store's chunk files are listed once, directory by
  directory, and compared with the grid the store must hold (every written block, and the statistics of a
  complete train store). The writer always writes a chunk, even one that equals the fill value
  (``write_empty_chunks``), so a missing file is always damage, never an empty region; without this check
  zarr reads a missing chunk as the fill value (NaN activations, label −1) without a word.
- **Corrupt chunks** (:class:`CheckedArray`): stores written since checksums were introduced carry zarr's
  ``crc32c`` codec after zstd on every chunk (and the shard index has one by default), so zarr verifies every
  chunk it decodes; older stores have only what zstd notices. Whatever zarr raises while decoding becomes one
  :class:`~neurokit.errors.StoreError` line naming the store, the variable and the block.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import zarr
from zarr.core.array_spec import ArrayConfig
from zarr.core.metadata import ArrayV3Metadata
from zarr.storage import StorePath

from neurokit.dims import EXAMPLE, LAYER
from neurokit.errors import StoreError
from neurokit.extract.checksum import fast_checksums
from neurokit.extract.schema import array_dims, open_array
from neurokit.storage import Location


def _storage_grid(array: zarr.Array) -> tuple[int, ...]:
    """The number of chunk files (shards for a sharded array) along each dim."""
    storage = array.shards or array.chunks
    return tuple(-(-size // chunk) for size, chunk in zip(array.shape, storage, strict=True))


def _listed_keys(directory: Path | Location) -> set[str]:
    """The relative keys ('c/0/0/0/0') of every file under an array's ``directory`` (a local folder or an
    object-store prefix), but its metadata."""
    keys: set[str] = set()
    if isinstance(directory, Location) and directory.local is not None:
        directory = directory.local
    if isinstance(directory, Location):  # an object-store prefix
        prefix = directory.fs_path.rstrip("/") + "/"
        keys.update(key[len(prefix):] for key in directory.fs.find(directory.fs_path) if key.startswith(prefix))
    else:
        for root, _, files in os.walk(directory):
            relative = os.path.relpath(root, directory)
            keys.update(name if relative == "." else f"{relative}/{name}".replace(os.sep, "/") for name in files)
    keys.discard("zarr.json")
    return keys


def missing_blocks(path: Path | Location, array: zarr.Array, name: str,
                   blocks: set[int] | None) -> list[tuple[int, ...]]:
    """Grid indices (in storage chunks) of variable ``name`` whose chunk file is absent, sorted.

    ``blocks``: for a variable along ``example`` (its chunk files are one per block), the blocks that must be
    on disk; ``None`` for one that must be whole (the train statistics). One directory listing per variable."""
    listed = _listed_keys(path.join(name) if isinstance(path, Location) else path / name)
    ranges: list[Sequence[int]] = [range(size) for size in _storage_grid(array)]
    if blocks is not None:
        ranges[0] = sorted(block for block in blocks if block < len(ranges[0]))
    return [index for index in itertools.product(*ranges)
            if array.metadata.encode_chunk_key(index) not in listed]


def _where(name: str, index: tuple[int, ...], dims: tuple[str, ...]) -> str:
    """A chunk's place for a message: 'block 3' for per-example variables, else 'chunk (class 0, layer 2)'."""
    if dims and dims[0] == EXAMPLE:
        return f"block {index[0]}"
    # strict=False: an array without dimension names (dims ()) is still named, as 'chunk ()', not refused.
    return "chunk (" + ", ".join(f"{dim} {i}" for dim, i in zip(dims, index, strict=False)) + ")"


def missing_chunk_problem(path: Path | Location, group: zarr.Group, names: list[str], blocks: set[int]) -> str | None:
    """The first variable of ``names`` with a chunk file missing, as one line; None if all are there.

    ``blocks``: the blocks written (all of them for a complete store); variables along ``example`` must hold
    those, the others must be whole."""
    for name in names:
        array = open_array(group, name)
        dims = array_dims(array)
        absent = missing_blocks(path, array, name, blocks if dims[:1] == (EXAMPLE,) else None)
        if absent:
            more = f" and {len(absent) - 1} more" if len(absent) > 1 else ""
            return (f"{path} is damaged: variable {name!r} has no data on disk for {_where(name, absent[0], dims)}"
                    f"{more}; re-extract the store (`neurokit check {path}` lists every problem)")
    return None


class CheckedArray:
    """A zarr array read through dask (``dask.array.from_array``) whose decoding errors name the chunk.

    ``shape``, ``dtype``, ``ndim`` and ``__getitem__`` with basic indices, as dask needs. A read that zarr
    cannot decode (checksum mismatch, truncated or corrupt zstd frame, damaged shard index) raises one
    StoreError line naming the store, the variable and the first chunk of the selection that fails.
    """

    def __init__(self, path: Path | Location, name: str, array: zarr.Array):
        self.path, self.name, self.array = path, name, array
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __reduce__(self) -> tuple:
        # Sent to a dask.distributed worker: zarr's sharding codec looks its inner codecs up by name again
        # when unpickled, which would fall back to zarr's slower crc32c class; rebuilt from the metadata
        # inside fast_checksums, the array keeps neurokit's (no I/O: the metadata travels with it).
        array = self.array.async_array
        return _rebuilt, (self.path, self.name, array.metadata.to_dict(), array.store_path, array.config)

    def __getitem__(self, key):
        try:
            return self.array[key]
        except Exception as error:  # noqa: BLE001 - zarr's and the codecs' errors vary with the damage
            raise StoreError(self._message(key, error)) from None

    def _message(self, key, error: Exception) -> str:
        dims = array_dims(self.array)
        chunk_index = self._first_bad_chunk(key)
        where = "a chunk" if chunk_index is None else _where(self.name, chunk_index, dims)
        if chunk_index is not None and dims[:2] == (EXAMPLE, LAYER) and self.array.shards:
            where += f", layer {chunk_index[1]}"
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        return (f"{self.path} is damaged: variable {self.name!r} at {where} cannot be read ({reason[:200]}); "
                f"re-extract the store (`neurokit check {self.path}` lists every problem)")

    def _first_bad_chunk(self, key) -> tuple[int, ...] | None:
        """The first inner chunk within the selection ``key`` (a tuple of slices) that fails to read."""
        keys = tuple(key) if isinstance(key, tuple) else (key,)
        keys += (slice(None),) * (len(self.shape) - len(keys))
        ranges = []
        # strict=False: indices beyond the array's dims (a selection zarr has just refused) are left out here.
        for size, chunk, part in zip(self.shape, self.array.chunks, keys, strict=False):
            start, stop, _ = part.indices(size) if isinstance(part, slice) else (int(part), int(part) + 1, 1)
            ranges.append(range(start // chunk, -(-stop // chunk)))
        for index in itertools.product(*ranges):
            selection = tuple(slice(i * c, min((i + 1) * c, s))
                              for i, c, s in zip(index, self.array.chunks, self.shape, strict=True))
            try:
                self.array[selection]
            except Exception:  # noqa: BLE001 - any failure marks the chunk
                return index
        return None


def _rebuilt(path: Path | Location, name: str, metadata: dict, store_path: StorePath,
             config: ArrayConfig) -> CheckedArray:
    """The :class:`CheckedArray` that ``CheckedArray.__reduce__`` describes."""
    with fast_checksums():  # parsing the metadata picks the codec classes
        array = zarr.Array(zarr.AsyncArray(ArrayV3Metadata.from_dict(metadata), store_path, config))
    return CheckedArray(path, name, array)


def checked_dask_array(path: Path | Location, name: str, array: zarr.Array, chunks: tuple[tuple[int, ...], ...],
                       token: str):
    """Variable ``name`` of the store at ``path`` as a dask array with ``chunks``, read through
    :class:`CheckedArray`; ``token`` makes the graph's name unique to the store's contents."""
    import dask.array as da

    return da.from_array(CheckedArray(path, name, array), chunks=chunks, name=f"{name}-{token}", lock=False,
                         asarray=False, meta=np.empty((0,) * array.ndim, dtype=array.dtype))
