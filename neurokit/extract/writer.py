"""Filling a store block by block: :class:`ActivationStoreWriter`.

Design (docs/store-format.md, "Writing"): the examples are cut into blocks of ``spec.block_size``; block b
is one zarr shard of ``activation`` and one chunk of each per-example variable, so every block is written
whole by exactly one writer. Writer i of n owns the blocks with ``b % n == i``. A block is done once a
progress snapshot lists it (see :mod:`neurokit.extract.progress`); a writer killed at any moment loses at
most the blocks written since its last snapshot, and redoing them rewrites identical bytes. Compression and
IO run on one background thread fed through a bounded queue, so the caller (the model's forward passes)
keeps working while host memory stays bounded by a few blocks. How the writers create the store, exclude
each other and record their progress, on the local disk or on an object store, is the part of the store
backend (:mod:`neurokit.extract.backends`).
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import zarr

from neurokit.errors import ConfigError, NeurokitError, StoreError
from neurokit.extract.backends import StoreBackend, store_backend
from neurokit.extract.checksum import fast_checksums
from neurokit.extract.progress import ClassStats, covered_blocks
from neurokit.extract.schema import (
    ACTIVATION,
    INPUT_LENGTH,
    LABEL,
    NO_LABEL,
    PER_EXAMPLE,
    PREDICTION,
    TRAIN_COUNT,
    TRAIN_SUM,
    TRAIN_SUMSQ,
    nonfinite_by_example_layer,
    open_array,
    read_store_attrs,
    to_stored,
)
from neurokit.extract.spec import STORE_VERSION, StoredDtype, StoreSpec
from neurokit.provenance import utc_now
from neurokit.storage import Location
from neurokit.validation import integer

# A snapshot of the class statistics can be large (C x L x P x N float64, twice); it is saved whenever the
# time since the last one exceeds this multiple of how long the last one took, which caps its share of the
# writer thread's time at about 1 / (1 + multiple) without a setting to tune. Small snapshots (stores
# without statistics) are thus saved after every block.
_SNAPSHOT_SPACING = 9.0
_FLOAT16_MAX = float(np.finfo(np.float16).max)


@dataclass(frozen=True)
class _Block:
    """One validated block, ready to be written: ``stored`` (B, L, P, N) in the zarr dtype."""

    index: int
    stored: np.ndarray
    label: np.ndarray
    prediction: np.ndarray
    logits: np.ndarray
    input_length: np.ndarray


_FLUSH = "flush"  # queue markers, handled in order after the blocks queued before them
_STOP = "stop"


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def run_mismatch(attrs: dict, spec: StoreSpec) -> str | None:
    """None if a store with root ``attrs`` holds ``spec``'s run, else one line saying how the runs differ."""
    if attrs["run_fingerprint"] == spec.fingerprint():
        return None
    stored = json.loads(attrs.get("run_identity", "{}"))
    wanted = spec.identity()
    differences = [
        f"{key} {_short(stored.get(key))} (store) vs {_short(wanted[key])} (requested)"
        for key in sorted(wanted)
        if stored.get(key) != wanted[key]
    ]
    return "; ".join(differences[:3]) or "different fingerprint"


def _new_store_attrs(spec: StoreSpec) -> dict:
    return {
        "neurokit_store_version": STORE_VERSION,
        **spec.provenance.to_attrs(),
        "positions": list(spec.position_roles),
        "layers": list(spec.layers),
        "stored_dtype": spec.stored_dtype.value,
        "block_size": int(spec.block_size),
        "started_at": utc_now(),
        "finished_at": None,
        "complete": False,
        "run_fingerprint": spec.fingerprint(),
        "run_identity": json.dumps(spec.identity(), sort_keys=True),
    }


class ActivationStoreWriter:
    """Writes the blocks of one shard of a store; create it with :meth:`create_or_resume`.

    Use it as a context manager::

        with ActivationStoreWriter.create_or_resume(path, spec, shard=(i, n)) as writer:
            for block in writer.pending_blocks():
                ids = spec.example_ids[spec.block_slice(block)]
                ...  # forward passes over these examples
                writer.write_block(block, activation, label=..., prediction=..., logits=..., input_length=...)
            writer.finalize()

    Write the blocks in the order :meth:`pending_blocks` gives: the train statistics are float64 sums, and
    the same order makes a resumed run's sums bit-identical to an uninterrupted run's.
    """

    def __init__(self, backend: StoreBackend, spec: StoreSpec, shard: tuple[int, int], created: bool,
                 max_queued_blocks: int, take_over: bool) -> None:
        """Private: use :meth:`create_or_resume`. Registers this writer in the store's progress."""
        self.path = backend.where
        self.spec = spec
        self.shard = shard
        self._backend = backend
        self._created = created
        self._lock: Any = None  # this shard's claim (a flock, or a lease object), held until close
        self._stats: ClassStats | None = None
        self._recorded: set[int] = set()  # blocks in this writer's snapshot
        self._unrecorded: list[int] = []  # blocks written since the last snapshot
        self._last_snapshot_end = 0.0
        self._last_snapshot_seconds = 0.0
        self._error: tuple[int | None, BaseException] | None = None
        self._error_reported = False
        self._closed = False
        index, count = shard
        self._arrays: dict[str, zarr.Array] = {}
        try:
            with backend.store_lock():
                self.complete = bool(read_store_attrs(self.path)["complete"])
                covered = set(range(spec.n_blocks)) if self.complete else self._register(take_over)
            if not self.complete:
                with fast_checksums():  # the arrays keep the codec classes they are opened with
                    group = zarr.open_group(backend.zarr_store(), mode="r+")
                # write_empty_chunks: a block whose values all equal the fill value (e.g. an unlabelled split,
                # label -1 everywhere) must still leave its chunk on disk, so that a missing chunk always
                # means a missing block.
                self._arrays = {
                    name: open_array(group, name).with_config({"write_empty_chunks": True})
                    for name in (ACTIVATION, *PER_EXAMPLE)
                    if name in group
                }
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise
        self._pending = [block for block in range(index, spec.n_blocks, count) if block not in covered]
        self._pending_set = set(self._pending)
        self._queue: queue.Queue = queue.Queue(maxsize=max_queued_blocks)
        self._thread = threading.Thread(target=self._run, name=f"neurokit-store-writer-{index}", daemon=True)
        self._thread.start()

    def _register(self, take_over: bool) -> set[int]:
        """Claim this shard and load the progress of all shards; returns the blocks already done.

        Runs under the store lock where there is one (local disk), so that two writers starting together
        see each other's claims; without one (object stores) the other shard counts are looked at again once
        this writer's claim is visible, so that of two writers starting together at least one sees the other."""
        self._refuse_other_shard_counts()
        self._lock = self._backend.claim_shard(self.shard, take_over)
        self._refuse_other_shard_counts()
        snapshots = self._backend.load_snapshots()
        own_blocks, own_stats = snapshots.get(self.shard, (set(), None))
        self._recorded = set(own_blocks)
        if self.spec.compute_train_stats:
            shape = self.spec.activation_shape[1:]
            self._stats = own_stats or ClassStats.zeros(len(self.spec.class_names), shape)
        covered: set[int] = set()
        for blocks, _ in snapshots.values():
            covered |= blocks
        return covered

    def _refuse_other_shard_counts(self) -> None:
        others = [shard for shard in self._backend.live_writers() if shard[1] != self.shard[1]]
        if others:
            raise StoreError(
                f"{self.path} is being filled by writers of {others[0][1]} shards; "
                f"use shard=(i, {others[0][1]}) or wait for them to finish"
            )

    @classmethod
    def create_or_resume(
        cls,
        path: str | os.PathLike | Location,
        spec: StoreSpec,
        *,
        overwrite: bool = False,
        shard: tuple[int, int] = (0, 1),
        max_queued_blocks: int = 2,
    ) -> ActivationStoreWriter:
        """Open the store at ``path`` for writer ``shard`` = (i, n) of n, creating it if needed.

        ``path``: a local path, or a URL (a :class:`~neurokit.storage.Location`, which carries the storage
        options) on an object store; see :mod:`neurokit.extract.backends` for what each guarantees.
        A new ``path`` gets a complete skeleton (all metadata and coordinates, empty arrays). An existing store
        of the same run (same :meth:`StoreSpec.fingerprint`) is resumed; a store of another run is refused
        unless ``overwrite`` is set, and then replaced (never while a writer of it is known to be alive; on an
        object store ``overwrite`` also takes over the leases of writers on other hosts, which cannot be
        checked). Host memory holds at most ``max_queued_blocks`` blocks waiting for the writer thread, plus
        the one being written.
        """
        if not (len(shard) == 2 and all(isinstance(part, (int, np.integer)) for part in shard)
                and 0 <= shard[0] < shard[1]):
            raise ConfigError(f"shard must be (index, count) with 0 <= index < count, got {shard!r}")
        shard = (int(shard[0]), int(shard[1]))
        integer(max_queued_blocks, "max_queued_blocks")
        backend = store_backend(path)
        path = backend.where
        if shard[1] > 1 and not backend.conditional_writes:
            raise StoreError(f"cannot write shard {shard} of {path}: this storage offers no conditional writes, so "
                             "several writers could not exclude each other; extract with one writer")
        backend.check_parent()
        try:
            with backend.creation_lock():
                # Without a creation lock (object stores) two writers may both find no store: the first to
                # create its root wins, and the other one checks the run of that store like any existing one.
                created = not backend.exists() and backend.build(spec, _new_store_attrs(spec), replace=False)
                if not created:
                    try:
                        attrs = read_store_attrs(path)
                    except StoreError as error:
                        raise StoreError(f"{error}; not touching it: remove it or choose another path") from None
                    mismatch = run_mismatch(attrs, spec)
                    if mismatch is not None:
                        if not overwrite:
                            raise StoreError(
                                f"{path} holds another run ({mismatch}); pass overwrite=True to replace it"
                            )
                        alive = backend.live_writers(taking_over=True)
                        if alive:
                            raise StoreError(f"cannot replace {path}: writer {alive[0]} is still filling it")
                        created = backend.build(spec, _new_store_attrs(spec), replace=True)
                        if not created:
                            raise StoreError(f"{path} was created again by another writer while this one replaced "
                                             "it; run again to resume it")
                return cls(backend, spec, shard, created, max_queued_blocks, overwrite)
        except OSError as error:
            raise StoreError(f"cannot create or open store {path}: {error}") from error

    # --- caller side -------------------------------------------------------------------------------------

    def pending_blocks(self) -> list[int]:
        """The blocks this shard still has to write, in ascending order (the order to write them in)."""
        return list(self._pending)

    def write_block(self, block_index: int, activation, *, label, prediction, logits, input_length) -> None:
        """Queue block ``block_index`` for writing; returns once it is validated (the writing happens behind).

        ``activation``: (B, L, P, N) float numpy array or torch tensor (any device), B the block's number of
        examples, in store order. ``label``, ``prediction``: (B,) class indices (label -1 = unlabelled, not
        allowed in train stores); ``logits``: (B, C) class scores; ``input_length``: (B,) number of real input
        tokens. A block with NaN or infinite activations (including float16 overflow) raises NeurokitError
        naming the examples and layer, and nothing of it is written.
        """
        self._raise_if_unusable()
        if block_index not in self._pending_set:
            raise StoreError(self._not_pending_reason(block_index))
        block = self._validate(block_index, activation, label, prediction, logits, input_length)
        self._pending_set.discard(block_index)
        self._pending.remove(block_index)
        self._queue.put(block)

    def flush(self) -> None:
        """Wait until every queued block is written and recorded in this shard's snapshot."""
        self._raise_if_unusable()
        self._queue.put(_FLUSH)
        self._queue.join()
        self._raise_if_unusable()

    def finalize(self) -> bool:
        """Complete the store if every shard has written all its blocks; returns whether it is complete.

        Merges the shards' class statistics into ``train_count``/``train_sum``/``train_sumsq``, sets
        ``finished_at`` and ``complete``, and removes the progress files. Safe to call from every shard
        (the last one to finish completes the store) and again after a crash in the middle.
        """
        self.flush()
        with self._backend.store_lock():
            self.complete = _complete_store(self._backend, self.spec)
        return self.complete

    def close(self) -> None:
        """Write what is queued, save the snapshot, stop the writer thread and release the shard lock."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        if self._lock is not None:
            self._lock.release()
        self._raise_writer_error()

    def __enter__(self) -> ActivationStoreWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
            return
        try:
            self.close()
        except NeurokitError:
            pass  # the exception already propagating says what went wrong first
        finally:
            self._discard_if_never_written()

    def _discard_if_never_written(self) -> None:
        """Remove a store that this writer created, alone, and that failed before any block was recorded."""
        if self._created and self.shard[1] == 1 and not self.complete and not covered_blocks(self.path):
            self._backend.remove()

    def _raise_if_unusable(self) -> None:
        if self._closed:
            raise StoreError(f"the writer of {self.path} is closed")
        self._raise_writer_error()

    def _raise_writer_error(self) -> None:
        if self._error is None or self._error_reported:
            return
        self._error_reported = True
        block_index, error = self._error
        where = f"block {block_index}" if block_index is not None else "progress"
        raise StoreError(f"writing {where} of {self.path} failed: {error}") from error

    def _not_pending_reason(self, block_index: int) -> str:
        if not 0 <= block_index < self.spec.n_blocks:
            return f"block {block_index} does not exist (the store has {self.spec.n_blocks} blocks)"
        if block_index % self.shard[1] != self.shard[0]:
            return f"block {block_index} belongs to shard {block_index % self.shard[1]}, not {self.shard}"
        return f"block {block_index} is already written"

    def _validate(self, block_index, activation, label, prediction, logits, input_length) -> _Block:
        spec = self.spec
        rows = spec.block_slice(block_index)
        n_rows = rows.stop - rows.start
        expected = (n_rows, *spec.activation_shape[1:])
        if tuple(activation.shape) != expected:
            raise ValueError(
                f"block {block_index}: activation has shape {tuple(activation.shape)}, expected {expected}"
            )
        n_classes = len(spec.class_names)
        label = _integers(label, (n_rows,), LABEL, block_index)
        prediction = _integers(prediction, (n_rows,), PREDICTION, block_index)
        input_length = _integers(input_length, (n_rows,), INPUT_LENGTH, block_index).astype(np.int32)
        logits = np.array(_on_host(logits), dtype=np.float32)
        if logits.shape != (n_rows, n_classes):
            raise ValueError(f"block {block_index}: logits has shape {logits.shape}, expected {(n_rows, n_classes)}")
        lowest_label = 0 if spec.compute_train_stats else NO_LABEL
        ids = spec.example_ids[rows]
        for name, values, low in ((LABEL, label, lowest_label), (PREDICTION, prediction, 0)):
            bad = np.flatnonzero((values < low) | (values >= n_classes))
            if bad.size:
                raise NeurokitError(
                    f"block {block_index}: {name} outside [{low}, {n_classes}) for examples {_ids(ids, bad)}"
                )
        empty = np.flatnonzero(input_length < 1)
        if empty.size:
            raise NeurokitError(f"block {block_index}: input_length < 1 for examples {_ids(ids, empty)}")
        if not np.isfinite(logits).all():
            bad = np.flatnonzero(~np.isfinite(logits).all(axis=1))
            raise NeurokitError(f"block {block_index}: non-finite logits for examples {_ids(ids, bad)}")
        stored = to_stored(activation, spec.stored_dtype)
        bad = nonfinite_by_example_layer(stored, spec.stored_dtype)
        if bad.any():
            raise NeurokitError(self._nonfinite_message(block_index, activation, bad, ids))
        return _Block(block_index, stored, label, prediction, logits, input_length)

    def _nonfinite_message(self, block_index: int, activation, bad: np.ndarray, ids: Sequence[str]) -> str:
        """One line naming the first offending layer, its examples, and whether float16 overflow caused it."""
        bad_layers = np.flatnonzero(bad.any(axis=0))
        layer = bad_layers[0]
        examples = np.flatnonzero(bad[:, layer])
        source = activation[int(examples[0]), int(layer)]
        source_finite = bool(np.isfinite(_on_host(source)).all())
        if not source_finite:
            cause, advice = "NaN or infinite values", ""
        elif self.spec.stored_dtype is StoredDtype.FLOAT16:
            cause, advice = f"values beyond the float16 range (|x| > {_FLOAT16_MAX:g})", "store float32 or bfloat16; "
        else:
            cause, advice = f"values beyond the {self.spec.stored_dtype.value} range", ""
        more = f" (also layers {[self.spec.layers[i] for i in bad_layers[1:4]]})" if len(bad_layers) > 1 else ""
        return (
            f"block {block_index}: {cause} at layer {self.spec.layers[layer]} ({self.spec.sites[layer]}) "
            f"for examples {_ids(ids, examples)}{more}; {advice}nothing of this block was written"
        )

    # --- writer thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        """Write queued blocks until the stop marker; after an error, keep draining so that callers never block."""
        while True:
            item = self._queue.get()
            try:
                if self._error is None:
                    if isinstance(item, _Block):
                        self._write(item)
                    elif self._unrecorded:
                        self._snapshot()
            except BaseException as error:  # surfaced to the caller by _raise_writer_error
                self._error = (item.index if isinstance(item, _Block) else None, error)
            finally:
                self._queue.task_done()
            if item is _STOP:
                return

    def _write(self, block: _Block) -> None:
        rows = self.spec.block_slice(block.index)
        if ACTIVATION in self._arrays:
            self._arrays[ACTIVATION][rows] = block.stored
        for name in PER_EXAMPLE:
            self._arrays[name][rows] = getattr(block, name)
        if self._stats is not None:
            self._stats.add_block(block.stored, block.label, self.spec.stored_dtype)
        self._unrecorded.append(block.index)
        if time.monotonic() - self._last_snapshot_end >= _SNAPSHOT_SPACING * self._last_snapshot_seconds:
            self._snapshot()

    def _snapshot(self) -> None:
        started = time.monotonic()
        blocks = self._recorded | set(self._unrecorded)
        self._backend.save_snapshot(self.shard, blocks, self._stats)
        self._recorded = blocks
        self._unrecorded = []
        self._last_snapshot_end = time.monotonic()
        self._last_snapshot_seconds = self._last_snapshot_end - started


def _on_host(values):
    """A torch tensor (any device) as a numpy array, floats as float32 (numpy has no bfloat16); anything else
    unchanged."""
    if not hasattr(values, "detach"):
        return values
    host = values.detach().cpu()
    return (host.float() if host.is_floating_point() else host).numpy()


def _integers(values, shape: tuple[int, ...], name: str, block_index: int) -> np.ndarray:
    """A copy of ``values`` (numpy, torch or sequence) as int64 of ``shape``; floats or another shape are a
    caller bug."""
    array = np.asarray(_on_host(values))
    if array.shape != shape or array.dtype.kind not in "iu":
        raise ValueError(
            f"block {block_index}: {name} must be integers of shape {shape}, got {array.dtype} {array.shape}"
        )
    return array.astype(np.int64)


def _ids(ids: Sequence[str], rows: np.ndarray) -> str:
    """The example ids of ``rows``, the first five of them, for an error message."""
    shown = [ids[int(row)] for row in rows[:5]]
    return f"{shown}" + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def _complete_store(backend: StoreBackend, spec: StoreSpec) -> bool:
    """Finish the store if all blocks are recorded (caller holds the store lock); returns whether complete.

    Order matters for crash safety: the statistics are written and ``complete`` is set before the progress
    files (their source) are removed, so a crash anywhere here leaves a store that a later call finishes.
    Without a store lock (object stores) several writers may finish at once: each computes the same
    statistics from the same snapshots, so their writes agree, and ``complete`` is still set after them.
    """
    path = backend.where
    with fast_checksums():
        group = zarr.open_group(backend.zarr_store(), mode="r+")
    if not group.attrs["complete"]:
        snapshots = backend.load_snapshots()
        covered: set[int] = set()
        for shard, (blocks, _) in snapshots.items():
            if covered & blocks:
                raise StoreError(
                    f"{path}: blocks {sorted(covered & blocks)[:5]} were recorded by more than one writer "
                    f"(last {shard}); the statistics cannot be trusted, rerun with overwrite=True"
                )
            covered |= blocks
        if len(covered) < spec.n_blocks:  # or, without a store lock, another writer has just finished it
            return bool(read_store_attrs(path)["complete"])
        if spec.compute_train_stats:
            merged = ClassStats.zeros(len(spec.class_names), spec.activation_shape[1:])
            for shard, (_, stats) in snapshots.items():
                if stats is None:
                    raise StoreError(f"{path}: the progress snapshot of writer {shard} holds no class statistics "
                                     f"although this is a train store; rerun with overwrite=True")
                merged.add(stats)
            open_array(group, TRAIN_COUNT)[:] = merged.count
            open_array(group, TRAIN_SUM)[:] = merged.total
            open_array(group, TRAIN_SUMSQ)[:] = merged.total_sq
        group.attrs.update({"finished_at": utc_now(), "complete": True})
    backend.finish()
    return True

