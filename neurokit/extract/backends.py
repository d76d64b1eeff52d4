"""Where the writers of a store meet: the local disk or an object store (docs/store-format.md, "Writing").

:class:`~neurokit.extract.writer.ActivationStoreWriter` fills a store the same way everywhere: blocks written
whole by exactly one writer, a per-shard progress snapshot listing the blocks done, the completion mark set
last. What a storage offers to make that safe differs, and lives here, behind one small interface
(:class:`StoreBackend`):

=====================  ==========================================  ===============================================
step                   local disk (:class:`LocalBackend`)          object store (:class:`ObjectStoreBackend`)
=====================  ==========================================  ===============================================
create the store       built under a hidden name, renamed into     skeleton built in a local temporary folder,
                       place; writers serialised by a flock on     uploaded object by object, the root
                       the parent folder                           ``zarr.json`` last and create-exclusively: the
                                                                   first writer creates, the others resume
one writer per shard   flock on ``shard-i-of-n.lock`` (the kernel  lease object ``shard-i-of-n.lease``
                       drops it when the process dies)             created exclusively (``If-None-Match: *``)
progress snapshot      temporary file + ``os.replace``             one object per shard, rewritten whole
finish the store       under a flock on the store                  no lock: each finishing writer computes the same
                                                                   statistics from the same snapshots; the
                                                                   ``complete`` attribute is written last
=====================  ==========================================  ===============================================

Conditional ("create only if absent") writes are used where the fsspec plugin makes them atomic: s3fs
(``If-None-Match: *`` on PutObject) and the in-process ``memory://`` filesystem. Elsewhere a store can
still be written by one writer; several ``shard`` writers are refused, since they could not exclude each other.

A lease records its writer's host, pid namespace, process id and process start time. A lease whose process is
gone on this host (and pid namespace) is stale and taken over silently, so a resume after a kill just works; a
lease held from elsewhere cannot be checked, and is taken over only when the caller says so
(``overwrite=True``, ``--overwrite``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from zarr.core.sync import sync

from neurokit.errors import StoreError
from neurokit.extract.progress import (
    PROGRESS_DIR,
    ClassStats,
    ShardLock,
    exclusive_lock,
    live_writers,
    load_snapshots,
    parse_shard_name,
    save_snapshot,
    shard_file,
    shard_name,
    snapshot_bytes,
)
from neurokit.extract.schema import create_skeleton
from neurokit.extract.spec import StoreSpec
from neurokit.provenance import utc_now
from neurokit.storage import Location, locate

Snapshots = dict[tuple[int, int], tuple[set[int], ClassStats | None]]

#: fsspec protocols whose "create only if absent" write is atomic: s3fs sends ``If-None-Match: *`` (AWS S3 and
#: S3-compatible servers that honour it, e.g. MinIO, moto); ``memory://`` lives in one process, where a lock
#: makes it atomic. gcsfs and adlfs are left out until their exclusive create is checked against a server.
_CONDITIONAL_CREATE_PROTOCOLS = frozenset({"s3", "s3a", "memory"})
_CREATE_ATTEMPTS = 3  # a create that lost a race is retried this often before the error is the user's
_RACE_WAIT_SECONDS = 0.2  # times the attempt: how long a lost create waits for the winner's object to show
_MEMORY_CREATE_LOCK = threading.Lock()
_ROOT = "zarr.json"
_LEASE = ".lease"


class StoreBackend(ABC):
    """How the writers of one store create it, exclude each other and record their progress."""

    #: The store's place, as messages and ``ActivationStoreWriter.path`` show it.
    where: Path | Location
    #: Whether writers can exclude each other (several ``shard`` writers are refused otherwise).
    conditional_writes: bool

    @abstractmethod
    def zarr_store(self) -> Any:
        """What ``zarr.open_group`` takes to write the store."""

    @abstractmethod
    def check_parent(self) -> None:
        """StoreError unless a store can be created here."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether something is at the store's place that a new store is not simply built over: locally,
        anything at the path; on an object store, a root ``zarr.json`` (the other objects under the prefix are
        checked one by one by :meth:`build`)."""

    def creation_lock(self) -> AbstractContextManager[None]:
        """Held while a writer creates, checks or replaces the store (none where conditional writes decide)."""
        return nullcontext()

    def store_lock(self) -> AbstractContextManager[None]:
        """Held while a writer registers and while it finishes the store (none on object stores)."""
        return nullcontext()

    @abstractmethod
    def build(self, spec: StoreSpec, attrs: dict, replace: bool) -> bool:
        """Create the store's skeleton with root ``attrs``, never visible half-built; ``replace``: a store of
        another run is there and goes first. Returns False if another writer created the store first."""

    @abstractmethod
    def claim_shard(self, shard: tuple[int, int], take_over: bool) -> Any:
        """This process's exclusive right to write ``shard`` (an object with ``release()``); StoreError if
        a live writer holds it. ``take_over``: also take it from writers that cannot be checked."""

    @abstractmethod
    def live_writers(self, taking_over: bool = False) -> list[tuple[int, int]]:
        """The shards (i, n) whose writer holds its claim, sorted; ``taking_over``: leave out those that
        :meth:`claim_shard` with ``take_over`` would take."""

    @abstractmethod
    def save_snapshot(self, shard: tuple[int, int], blocks: set[int], stats: ClassStats | None) -> None:
        """Replace ``shard``'s progress snapshot whole."""

    def load_snapshots(self) -> Snapshots:
        """Every shard's snapshot, by shard, sorted."""
        return load_snapshots(self.where)

    @abstractmethod
    def finish(self) -> None:
        """Remove the progress records of a completed store (and what a killed writer left behind)."""

    @abstractmethod
    def remove(self) -> None:
        """Delete the store."""


def store_backend(location: str | os.PathLike | Location) -> StoreBackend:
    """The backend of the store at ``location`` (a path, URL or :class:`~neurokit.storage.Location`)."""
    location = locate(location)
    if location.local is not None:
        return LocalBackend(Path(os.path.abspath(location.local)))
    return ObjectStoreBackend(location)


class LocalBackend(StoreBackend):
    """The local disk: atomic renames and flock."""

    conditional_writes = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self.where = path

    def zarr_store(self) -> Path:
        return self.path

    def check_parent(self) -> None:
        if not self.path.parent.is_dir():
            raise StoreError(f"cannot create store {self.path}: {self.path.parent} is not an existing directory")

    def exists(self) -> bool:
        return self.path.exists()

    def creation_lock(self) -> AbstractContextManager[None]:
        return exclusive_lock(self.path.parent)

    def store_lock(self) -> AbstractContextManager[None]:
        return exclusive_lock(self.path)

    def build(self, spec: StoreSpec, attrs: dict, replace: bool) -> bool:
        """Build the store under a hidden temporary name next to it and rename it into place; a replaced
        store is first renamed aside, then deleted. The caller holds :meth:`creation_lock`, so any temporary
        left there by a killed process is an orphan and is removed first."""
        path = self.path
        for pattern in (f".{path.name}.building-*", f".{path.name}.retired-*"):
            for orphan in path.parent.glob(pattern):
                shutil.rmtree(orphan, ignore_errors=True)
        building = path.parent / f".{path.name}.building-{uuid.uuid4().hex}"
        try:
            create_skeleton(building, spec, attrs)
            if path.exists():
                retired = path.parent / f".{path.name}.retired-{uuid.uuid4().hex}"
                os.rename(path, retired)
                os.rename(building, path)
                shutil.rmtree(retired)
            else:
                os.rename(building, path)
        except BaseException:
            _await_pending_zarr_writes()
            raise
        finally:
            shutil.rmtree(building, ignore_errors=True)
        return True

    def claim_shard(self, shard: tuple[int, int], take_over: bool) -> ShardLock:
        (self.path / PROGRESS_DIR).mkdir(exist_ok=True)
        try:
            return ShardLock(shard_file(self.path, shard, ".lock"))
        except BlockingIOError:
            raise StoreError(f"shard {shard} of {self.path} is already being written by another process") from None

    def live_writers(self, taking_over: bool = False) -> list[tuple[int, int]]:
        return live_writers(self.path)

    def save_snapshot(self, shard: tuple[int, int], blocks: set[int], stats: ClassStats | None) -> None:
        save_snapshot(shard_file(self.path, shard, ".npz"), blocks, stats)

    def finish(self) -> None:
        # zarr writes each file under a temporary name first; a writer killed mid-write leaves those behind.
        for leftover in self.path.rglob("*.partial"):
            leftover.unlink()
        shutil.rmtree(self.path / PROGRESS_DIR, ignore_errors=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _await_pending_zarr_writes() -> None:
    """Wait until zarr's event loop has no write left in flight.

    zarr gathers the writes of one call without cancelling the others when one fails, so after an error
    some may still be running and would recreate files in a folder being removed.
    """
    async def settle() -> None:
        current = asyncio.current_task()
        await asyncio.gather(*(task for task in asyncio.all_tasks() if task is not current), return_exceptions=True)

    sync(settle())


class ObjectStoreBackend(StoreBackend):
    """An fsspec object store: whole-object writes, create-exclusively where the plugin offers it."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.where = location
        self.fs = location.fs
        self.conditional_writes = _creates_exclusively(self.fs)
        self._progress = location.join(PROGRESS_DIR).fs_path

    def zarr_store(self) -> Any:
        return self.location.zarr_store(read_only=False)

    def check_parent(self) -> None:
        """Nothing to check: an object store has no folders to create first (a missing bucket fails the
        first write with the plugin's own message)."""

    def exists(self) -> bool:
        # Not the prefix: while the first of several writers uploads the skeleton, the others find objects but
        # no root, and must build (the same bytes) and lose the root's create-exclusively, not refuse.
        return self.location.join(_ROOT).exists()

    def _key(self, relative: str) -> str:
        return f"{self.location.fs_path}/{relative}"

    def _keys(self) -> set[str]:
        """The keys below the store's prefix, relative to it."""
        self.fs.invalidate_cache(self.location.fs_path)
        prefix = self.location.fs_path + "/"
        return {key[len(prefix):] for key in self.fs.find(self.location.fs_path) if key.startswith(prefix)}

    def _create(self, key: str, data: bytes) -> bool:
        """Write ``data`` at ``key`` (a full fs path) unless something is there (then False); a plain
        whole-object write where conditional writes are not available."""
        if not self.conditional_writes:
            self.fs.pipe_file(key, data)
            return True
        for attempt in range(_CREATE_ATTEMPTS):
            try:
                if "memory" in self.fs.protocol:
                    with _MEMORY_CREATE_LOCK:
                        self.fs.pipe_file(key, data, mode="create")
                else:
                    self.fs.pipe_file(key, data, mode="create")
            except FileExistsError:
                return False
            except OSError:
                # S3 answers 409 (ConditionalRequestConflict) to a create racing another create of the same key;
                # whichever won, the object is there now, or the create is retried.
                self.fs.invalidate_cache(key)
                if self.fs.exists(key):
                    return False
                if attempt == _CREATE_ATTEMPTS - 1:
                    raise
                continue
            return True
        raise AssertionError("unreachable: the last attempt returns or raises")

    def build(self, spec: StoreSpec, attrs: dict, replace: bool) -> bool:
        """Upload a skeleton built locally: every object but the root first, then the root ``zarr.json``
        create-exclusively, so that a store is visible only once whole and only one writer creates it.

        An object already there must hold the same bytes (a writer of the same run creating it too, or
        killed while creating it), else StoreError: another run is being created here. Objects that are no
        part of a store are never overwritten or deleted.
        """
        if replace:
            self.remove()
        with tempfile.TemporaryDirectory(prefix="neurokit-skeleton-") as folder:
            skeleton = Path(folder) / "store.zarr"
            create_skeleton(skeleton, spec, attrs)
            objects = {file.relative_to(skeleton).as_posix(): file.read_bytes()
                       for file in sorted(skeleton.rglob("*")) if file.is_file()}
        foreign = sorted(key for key in self._keys() - set(objects) if not key.startswith(f"{PROGRESS_DIR}/"))
        if foreign:
            raise StoreError(f"{self.location} holds objects that are not part of a store ({foreign[0]}); "
                             "not touching it: remove them or choose another --out")
        root = objects.pop(_ROOT)
        for relative, data in objects.items():
            found = self._create_or_read(self._key(relative), data)
            if found is not None and found != data:
                raise StoreError(f"{self.location} is being created by a writer of another run, or holds what "
                                 f"one left when it was killed ({relative} differs); remove it or choose another --out")
        # Lost, the root is read back too: the caller opens the winner's store next, so it must be visible.
        return self._create_or_read(self._key(_ROOT), root) is None

    def _create_or_read(self, key: str, data: bytes) -> bytes | None:
        """Create ``key`` with ``data``: None when this call created it, else the bytes already there.

        A create that lost a race may find nothing to read yet: S3 can report the conflict while the winner's
        upload is still under way, or fail both racers. Then the create is tried again, a few times with a
        short wait, before the error is the user's.
        """
        for attempt in range(_CREATE_ATTEMPTS):
            if self._create(key, data):
                return None
            try:
                return bytes(self.fs.cat_file(key))
            except FileNotFoundError:
                self.fs.invalidate_cache(key)
                time.sleep(_RACE_WAIT_SECONDS * (attempt + 1))
        raise StoreError(f"{self.location}: {key} could neither be created nor read (another writer is racing for "
                         "it); run the command again")

    def _lease_key(self, shard: tuple[int, int]) -> str:
        return f"{self._progress}/{shard_name(shard, _LEASE)}"

    def _read_lease(self, key: str) -> dict | None:
        try:
            return json.loads(bytes(self.fs.cat_file(key)))
        except FileNotFoundError:
            return None
        except ValueError:  # not JSON: a lease is written whole, so never torn; treat as held by nobody known
            return {}

    def claim_shard(self, shard: tuple[int, int], take_over: bool) -> _Lease:
        key = self._lease_key(shard)
        token = uuid.uuid4().hex
        record = json.dumps({**_this_process(), "since": utc_now(), "token": token}).encode()
        for _ in range(3):
            if self._create(key, record):
                return _Lease(self.fs, key, token)
            holder = self._read_lease(key)
            if holder is None:  # released meanwhile
                continue
            if not _takeable(holder, take_over):
                raise StoreError(
                    f"shard {shard} of {self.location} is already being written by another process "
                    f"({_describe(holder)}); if that writer is gone, pass --overwrite (overwrite=True) to take over"
                )
            self.fs.rm_file(key)  # then compete for it with a create-exclusively like any other writer
        raise StoreError(f"shard {shard} of {self.location} is already being written by another process "
                         "(its lease changed hands while this one tried to take it)")

    def live_writers(self, taking_over: bool = False) -> list[tuple[int, int]]:
        self.fs.invalidate_cache(self._progress)
        alive = []
        for key in sorted(self.fs.find(self._progress)):
            shard = parse_shard_name(key.rsplit("/", 1)[-1], _LEASE)
            holder = self._read_lease(key) if shard is not None else None
            if shard is not None and holder is not None and not _takeable(holder, taking_over):
                alive.append(shard)
        return alive

    def save_snapshot(self, shard: tuple[int, int], blocks: set[int], stats: ClassStats | None) -> None:
        self.fs.pipe_file(f"{self._progress}/{shard_name(shard, '.npz')}", snapshot_bytes(blocks, stats))

    def finish(self) -> None:
        self.fs.invalidate_cache(self._progress)
        self._delete(self.fs.find(self._progress))

    def remove(self) -> None:
        keys = self._keys()
        if _ROOT in keys:  # the root first: what remains for a moment is no store, not a damaged one
            self.fs.rm_file(self._key(_ROOT))
        self._delete([self._key(key) for key in sorted(keys - {_ROOT})])

    def _delete(self, keys: list[str]) -> None:
        """Delete ``keys`` (full fs paths); those already gone (another writer finishing too) are no error."""
        if keys:
            try:
                self.fs.rm(keys)
            except FileNotFoundError:
                pass


def _creates_exclusively(fs: Any) -> bool:
    """Whether ``fs.pipe_file(..., mode="create")`` is an atomic create-only-if-absent: a protocol known to make
    it one, in a plugin version that has the ``mode`` argument (s3fs: since its exclusive write, fsspec/s3fs#917)."""
    protocols = {fs.protocol} if isinstance(fs.protocol, str) else set(fs.protocol)
    pipe_file = getattr(type(fs), "_pipe_file", None) if getattr(fs, "async_impl", False) else type(fs).pipe_file
    return bool(protocols & _CONDITIONAL_CREATE_PROTOCOLS) and pipe_file is not None and (
        "mode" in inspect.signature(pipe_file).parameters)


class _Lease:
    """A held lease object; :meth:`release` deletes it unless another writer has taken it over."""

    def __init__(self, fs: Any, key: str, token: str) -> None:
        self.fs, self.key = fs, key
        self.token: str | None = token

    def release(self) -> None:
        if self.token is None:
            return
        try:
            if json.loads(bytes(self.fs.cat_file(self.key))).get("token") == self.token:
                self.fs.rm_file(self.key)
        except (FileNotFoundError, ValueError):
            pass  # removed with the progress records of the finished store, or taken over
        self.token = None


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, Linux), which tells a reused pid apart;
    None where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]  # a zombie has exited: only its exit status is left


def _pid_namespace() -> str | None:
    """This process's pid namespace (Linux): containers may share a host name but not their process ids."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _this_process() -> dict:
    return {"host": socket.gethostname(), "pid_namespace": _pid_namespace(), "pid": os.getpid(),
            "process_start": _process_start(os.getpid())}


def _takeable(holder: dict, take_over: bool) -> bool:
    """Whether the lease ``holder`` may be taken: its process is gone (known only on this host, in this pid
    namespace), or it is held from elsewhere (or unreadable) and the caller said ``take_over``."""
    here = holder.get("host") == socket.gethostname() and holder.get("pid_namespace") == _pid_namespace()
    if not here or not isinstance(holder.get("pid"), int):
        return take_over
    pid = holder["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, under another user
    recorded, current = holder.get("process_start"), _process_start(pid)
    return recorded is not None and current != recorded


def _describe(holder: dict) -> str:
    if not holder:
        return "unreadable lease"
    return f"host {holder.get('host')}, pid {holder.get('pid')}, since {holder.get('since')}"

