"""Crash-safe progress of a store being filled: per-shard snapshots, running class statistics, file locks.

Layout inside an unfinished store (removed when the store is finalized)::

    <store>/_neurokit_progress/shard-<i>-of-<n>.npz    snapshot of writer i of n
    <store>/_neurokit_progress/shard-<i>-of-<n>.lock   held (flock) while writer i of n is alive (local disk)
    <store>/_neurokit_progress/shard-<i>-of-<n>.lease  writer i of n's lease (object storage, see
                                                       neurokit.extract.backends)

A snapshot lists the blocks whose data that writer has finished writing and, for train stores, its running
per-class sums over exactly those blocks. It is replaced atomically (temporary file + ``os.replace``), so a
writer killed at any moment leaves either the old or the new snapshot, never a torn one. A block counts as
done only once a snapshot lists it; a block written but not yet listed is redone on resume, which rewrites
identical bytes. Locks are ``flock`` locks, which the kernel releases when a process dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import io
import os
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurokit.errors import StoreError
from neurokit.extract.schema import decode_stored
from neurokit.extract.spec import StoredDtype
from neurokit.storage import Location

PROGRESS_DIR = "_neurokit_progress"


def shard_name(shard: tuple[int, int], suffix: str) -> str:
    """``shard-<i>-of-<n><suffix>``: the name of a shard's progress file (or object) in :data:`PROGRESS_DIR`."""
    return f"shard-{shard[0]}-of-{shard[1]}{suffix}"


def shard_file(store: Path, shard: tuple[int, int], suffix: str) -> Path:
    """``<store>/_neurokit_progress/shard-<i>-of-<n><suffix>``."""
    return store / PROGRESS_DIR / shard_name(shard, suffix)


def parse_shard_name(name: str, suffix: str) -> tuple[int, int] | None:
    """(i, n) of a progress file named ``shard-<i>-of-<n><suffix>``; None for any other name."""
    match = re.fullmatch(rf"shard-(\d+)-of-(\d+){re.escape(suffix)}", name)
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass
class ClassStats:
    """Running per-class sums in float64: ``count`` (C,), ``total`` and ``total_sq`` (C, L, P, N).

    The mean of class c is ``total[c] / count[c]``; the variance follows from ``total_sq``. Summing a block
    adds its examples in order, so the same blocks added in the same order give bit-identical sums.
    """

    count: np.ndarray
    total: np.ndarray
    total_sq: np.ndarray

    @classmethod
    def zeros(cls, n_classes: int, shape: tuple[int, int, int]) -> ClassStats:
        """Empty sums for ``n_classes`` classes of activations of ``shape`` (L, P, N)."""
        return cls(
            np.zeros(n_classes, dtype=np.int64),
            np.zeros((n_classes, *shape), dtype=np.float64),
            np.zeros((n_classes, *shape), dtype=np.float64),
        )

    def add_block(self, stored: np.ndarray, labels: np.ndarray, stored_dtype: StoredDtype) -> None:
        """Add a stored block (B, L, P, N) whose examples have class ``labels`` (B,), one layer at a time
        so that the float64 temporaries stay at (B, P, N)."""
        for class_index in np.unique(labels):
            rows = labels == class_index
            self.count[class_index] += int(rows.sum())
            for layer in range(stored.shape[1]):
                values = decode_stored(stored[rows, layer], stored_dtype).astype(np.float64)
                self.total[class_index, layer] += values.sum(axis=0)
                self.total_sq[class_index, layer] += np.square(values).sum(axis=0)

    def add(self, other: ClassStats) -> None:
        self.count += other.count
        self.total += other.total
        self.total_sq += other.total_sq


def snapshot_bytes(blocks: set[int], stats: ClassStats | None) -> bytes:
    """A snapshot as the bytes of an ``.npz`` file: ``blocks`` (and ``stats`` for train stores)."""
    arrays = {"blocks": np.array(sorted(blocks), dtype=np.int64)}
    if stats is not None:
        arrays.update(count=stats.count, total=stats.total, total_sq=stats.total_sq)
    buffer = io.BytesIO()
    # allow_pickle=False: numeric arrays never need it, and naming it keeps **arrays from binding to it.
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def save_snapshot(path: Path, blocks: set[int], stats: ClassStats | None) -> None:
    """Atomically replace the snapshot at ``path`` with ``blocks`` (and ``stats`` for train stores)."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(snapshot_bytes(blocks, stats))
    os.replace(temporary, path)


def load_snapshot(source: Path | bytes, name: str | None = None) -> tuple[set[int], ClassStats | None]:
    """The blocks and (if saved) class statistics of one snapshot (a file, or its bytes named ``name`` in
    messages); never unpickles."""
    try:
        with np.load(io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False) as data:
            blocks = {int(block) for block in data["blocks"]}
            stats = ClassStats(data["count"], data["total"], data["total_sq"]) if "count" in data else None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        where = name if isinstance(source, bytes) else source
        raise StoreError(f"unreadable progress snapshot {where}: {error}") from error
    return blocks, stats


def load_snapshots(store: Path | Location) -> dict[tuple[int, int], tuple[set[int], ClassStats | None]]:
    """Every writer's snapshot in ``store`` (a local folder, or a store on an object store), by shard (i, n),
    in sorted order (the order they are merged in)."""
    if isinstance(store, Location):
        if store.local is None:
            return _load_object_snapshots(store.join(PROGRESS_DIR))
        store = store.local
    progress = store / PROGRESS_DIR
    found = {}
    if progress.is_dir():
        for entry in progress.iterdir():
            shard = parse_shard_name(entry.name, ".npz")
            if shard is not None:
                found[shard] = entry
    return {shard: load_snapshot(found[shard]) for shard in sorted(found)}


def _load_object_snapshots(progress: Location) -> dict[tuple[int, int], tuple[set[int], ClassStats | None]]:
    """The snapshots below the object-store prefix ``progress``: one listing, then one read per shard."""
    progress.fs.invalidate_cache(progress.fs_path)  # the listing must show snapshots written since the last one
    found = {}
    for key in progress.fs.find(progress.fs_path):
        shard = parse_shard_name(key.rsplit("/", 1)[-1], ".npz")
        if shard is not None:
            found[shard] = key
    snapshots = {}
    for shard, key in sorted(found.items()):
        try:
            data = bytes(progress.fs.cat_file(key))
        except FileNotFoundError:  # removed since the listing: another writer has just finished the store
            continue
        snapshots[shard] = load_snapshot(data, progress.join(shard_name(shard, ".npz")).url)
    return snapshots


def covered_blocks(store: Path | Location) -> set[int]:
    """The blocks that some snapshot in ``store`` lists as done."""
    covered: set[int] = set()
    for blocks, _ in load_snapshots(store).values():
        covered |= blocks
    return covered


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock on the existing file or directory ``path`` (waiting for it) inside the block."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing the descriptor releases the lock


class ShardLock:
    """A non-blocking exclusive flock on a lock file, held until :meth:`release` or process death."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._descriptor)
            self._descriptor = None
            raise

    def release(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def live_writers(store: Path) -> list[tuple[int, int]]:
    """The shards (i, n) whose writer process currently holds its lock in ``store``."""
    progress = store / PROGRESS_DIR
    alive = []
    if progress.is_dir():
        for entry in sorted(progress.iterdir()):
            shard = parse_shard_name(entry.name, ".lock")
            if shard is None:
                continue
            try:
                ShardLock(entry).release()
            except BlockingIOError:
                alive.append(shard)
    return alive
