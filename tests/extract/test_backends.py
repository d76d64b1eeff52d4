"""The object-store backend of the writer on ``memory://`` (fsspec's in-process object store): creation by the first
writer, leases, resume from the snapshot objects, replacement, and the refusal of several writers where a storage
offers no conditional writes. tests/storage/test_extract_s3.py runs the same protocol against a real S3 server."""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pytest

import neurokit.extract.backends as backends
from neurokit.errors import StoreError
from neurokit.extract import ActivationStoreWriter, open_run
from neurokit.extract.backends import store_backend
from neurokit.extract.schema import create_skeleton
from neurokit.storage import locate
from tests.helpers.store_fixtures import (
    fill_store,
    make_spec,
    store_contents,
    synthetic_run,
    write_blocks,
)

CRASH_SPEC = dict(n_examples=22, block_size=4, compute_train_stats=True, stored_dtype="bfloat16")


@pytest.fixture
def location():
    """A fresh store location on memory://, removed afterwards."""
    url = locate(f"memory://neurokit-tests/{uuid.uuid4().hex}/s.zarr")
    yield url
    if url.fs.exists(url.fs_path):
        url.fs.rm(url.fs_path, recursive=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("reference") / "s.zarr"
    assert fill_store(path, make_spec(**CRASH_SPEC))
    return path


def _keys(location) -> list[str]:
    location.fs.invalidate_cache(location.fs_path)
    return sorted(key.removeprefix(location.fs_path + "/") for key in location.fs.find(location.fs_path))


def _assert_same_store(location, reference) -> None:
    """The same arrays bit for bit, attributes but the times, and objects named as the reference's files."""
    arrays, attrs = store_contents(location.zarr_store())
    expected_arrays, expected_attrs = store_contents(reference)
    assert attrs == expected_attrs and sorted(arrays) == sorted(expected_arrays)
    for name, expected in expected_arrays.items():
        assert np.array_equal(arrays[name], expected, equal_nan=expected.dtype.kind == "f"), name
    assert _keys(location) == sorted(file.relative_to(reference).as_posix() for file in reference.rglob("*")
                                     if file.is_file())


def _lease(location, shard: str) -> str:
    return f"{location.fs_path}/_neurokit_progress/shard-{shard}.lease"


def test_the_first_writer_creates_the_store_and_later_ones_resume_it(location):
    spec, backend = make_spec(), store_backend(location)
    attrs = {"neurokit_store_version": 1}
    assert backend.build(spec, attrs, replace=False) is True
    assert backend.build(spec, attrs, replace=False) is False  # the root exists: created by someone else
    with pytest.raises(StoreError, match="being created by a writer of another run"):
        backend.build(make_spec(n_neurons=4), attrs, replace=False)
    # A creation killed before its root was written (or still under way in another writer): no store yet, and
    # a writer of the same run builds over the same bytes instead of refusing.
    location.fs.rm_file(f"{location.fs_path}/zarr.json")
    assert not backend.exists() and location.exists()
    assert fill_store(location, spec) is True


class _RacingWriterFs:
    """The location's filesystem, as a writer sees it while another writer of the same run creates ``key``: its
    create loses (FileExistsError) the first ``losses`` times, and its first ``hidden_reads`` reads find no
    object, as S3 can answer while the winner's upload is under way (or when the winner failed too)."""

    def __init__(self, fs, key: str, losses: int, hidden_reads: int) -> None:
        self._fs, self._key, self.losses, self.hidden_reads = fs, key, losses, hidden_reads

    def __getattr__(self, name):
        return getattr(self._fs, name)

    def pipe_file(self, path, data, **kwargs):
        if path == self._key and self.losses > 0:
            self.losses -= 1
            raise FileExistsError(path)
        return self._fs.pipe_file(path, data, **kwargs)

    def cat_file(self, path, *args, **kwargs):
        if path == self._key and self.hidden_reads > 0:
            self.hidden_reads -= 1
            raise FileNotFoundError(path)
        return self._fs.cat_file(path, *args, **kwargs)


def _skeleton_object(spec, relative: str) -> bytes:
    """The bytes a writer of ``spec`` uploads at ``relative`` (every writer of a run builds the same skeleton)."""
    with tempfile.TemporaryDirectory() as folder:
        create_skeleton(Path(folder) / "s.zarr", spec, {"neurokit_store_version": 1})
        return (Path(folder) / "s.zarr" / relative).read_bytes()


@pytest.mark.parametrize("relative", ["class/zarr.json", "zarr.json"], ids=["an array's object", "the root"])
@pytest.mark.parametrize("winner_failed", [True, False], ids=["the winner failed", "the winner's object shows late"])
def test_a_create_lost_to_a_racing_writer_before_its_object_shows_is_tried_again(location, monkeypatch,
                                                                                   winner_failed, relative):
    monkeypatch.setattr(backends, "_RACE_WAIT_SECONDS", 0)
    spec, backend = make_spec(), store_backend(location)
    key = f"{location.fs_path}/{relative}"
    if winner_failed:  # nothing there: the second attempt creates the object
        backend.fs = _RacingWriterFs(location.fs, key, losses=1, hidden_reads=1)
    else:  # the winner's object (the same bytes) is readable at the second look: this writer goes on
        location.fs.pipe_file(key, _skeleton_object(spec, relative))
        backend.fs = _RacingWriterFs(location.fs, key, losses=0, hidden_reads=1)
    created = backend.build(spec, {"neurokit_store_version": 1}, replace=False)
    # Whoever created the root created the store; a writer that lost it resumes the winner's.
    assert created is (winner_failed or relative != "zarr.json")
    assert backend.fs.hidden_reads == 0  # it read the object back until it showed
    assert location.fs.cat_file(key) == _skeleton_object(spec, relative)


def test_a_create_that_keeps_losing_without_an_object_is_a_one_line_error(location, monkeypatch):
    monkeypatch.setattr(backends, "_RACE_WAIT_SECONDS", 0)
    backend = store_backend(location)
    key = f"{location.fs_path}/class/zarr.json"
    attempts = backends._CREATE_ATTEMPTS
    backend.fs = _RacingWriterFs(location.fs, key, losses=attempts, hidden_reads=attempts)
    with pytest.raises(StoreError, match="could neither be created nor read"):
        backend.build(make_spec(), {"neurokit_store_version": 1}, replace=False)
    assert not backend.exists()


def test_a_resume_skips_the_blocks_in_the_snapshot_and_takes_over_a_dead_writers_lease(location, reference):
    spec = make_spec(**CRASH_SPEC)
    run = synthetic_run(spec)
    with ActivationStoreWriter.create_or_resume(location, spec) as writer:
        write_blocks(writer, run, blocks=[0, 1, 2])
        writer.flush()
    with pytest.raises(StoreError, match=r"incomplete \(3 of 6 blocks written\)"):
        open_run(location)
    # A lease of this host whose process is gone (here: this pid with another start time, i.e. a reused pid).
    location.fs.pipe_file(_lease(location, "0-of-1"), json.dumps(
        {**backends._this_process(), "process_start": "0", "since": "before"}).encode())
    with ActivationStoreWriter.create_or_resume(location, spec) as writer:
        assert writer.pending_blocks() == [3, 4, 5]
        write_blocks(writer, run)
        assert writer.finalize() is True
    _assert_same_store(location, reference)  # no snapshot or lease object left either


def test_a_live_writer_of_this_host_keeps_its_shard_even_with_overwrite(location):
    spec = make_spec()
    fill_store(location, spec, finalize=False)
    this_process = {**backends._this_process(), "since": "now"}
    location.fs.pipe_file(_lease(location, "0-of-1"), json.dumps(this_process).encode())
    for overwrite in (False, True):
        with pytest.raises(StoreError, match=r"shard \(0, 1\) of memory://.* is already being written"):
            ActivationStoreWriter.create_or_resume(location, spec, overwrite=overwrite)


def test_another_run_is_replaced_only_with_overwrite_and_foreign_objects_are_left_alone(location, tmp_path):
    fill_store(location, make_spec())
    other = make_spec(prompt_sha256="c" * 64)
    with pytest.raises(StoreError, match="holds another run"):
        ActivationStoreWriter.create_or_resume(location, other)
    assert fill_store(location, other, seed=1, overwrite=True) is True
    assert fill_store(tmp_path / "s.zarr", other, seed=1) is True
    _assert_same_store(location, tmp_path / "s.zarr")  # nothing of the replaced store is left
    notes = locate(f"{location.url}-notes")
    notes.fs.pipe_file(f"{notes.fs_path}/important.txt", b"keep me")
    with pytest.raises(StoreError, match="not touching it"):
        ActivationStoreWriter.create_or_resume(notes, make_spec(), overwrite=True)
    assert notes.fs.cat_file(f"{notes.fs_path}/important.txt") == b"keep me"
    notes.fs.rm(notes.fs_path, recursive=True)


def test_without_conditional_writes_one_writer_is_allowed_and_several_are_refused(location, monkeypatch):
    monkeypatch.setattr(backends, "_CONDITIONAL_CREATE_PROTOCOLS", frozenset())
    with pytest.raises(StoreError, match=r"shard \(0, 2\) of memory://.*no conditional writes"):
        ActivationStoreWriter.create_or_resume(location, make_spec(), shard=(0, 2))
    assert not location.exists()  # refused before anything was written
    assert fill_store(location, make_spec()) is True
