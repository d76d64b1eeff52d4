import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import xarray as xr

from neurokit.errors import StoreError
from neurokit.extract import ActivationStoreWriter, check_store, open_run
from tests.helpers import store_fixtures
from tests.helpers.store_fixtures import (
    assert_same_store,
    fill_store,
    make_spec,
    synthetic_run,
    write_blocks,
)

FIXTURES = Path(store_fixtures.__file__)
# 22 examples in blocks of 4: six blocks, the last one partial; a train store, so statistics are resumed too.
CRASH_SPEC = dict(n_examples=22, block_size=4, compute_train_stats=True, stored_dtype="bfloat16")


def run_writer(path, spec=CRASH_SPEC, **config) -> subprocess.Popen:
    """Start a writer process on ``path`` (see store_fixtures.main)."""
    payload = json.dumps({"path": str(path), "spec": spec, **config})
    return subprocess.Popen([sys.executable, str(FIXTURES), payload], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The store of an uninterrupted single-process run."""
    path = tmp_path_factory.mktemp("reference") / "s.zarr"
    assert fill_store(path, make_spec(**CRASH_SPEC))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    "point, at",
    [
        ("after_write_block", 3),  # between blocks, with blocks possibly still queued
        ("mid_block", 2),  # activation shard of block 1 written, its labels not
        ("torn_shard", 3),  # zarr killed halfway through a shard file
        ("mid_snapshot", 2),  # progress snapshot written to its temporary file, not yet renamed
        ("mid_finalize", 1),  # statistics written, store not yet marked complete
        ("before_cleanup", 1),  # store marked complete, progress files not yet removed
    ],
)
def test_sigkill_then_resume_gives_the_uninterrupted_store(tmp_path, reference, point, at):
    path = tmp_path / "s.zarr"
    process = run_writer(path, kill={"point": point, "at": at})
    _, stderr = process.communicate()
    assert process.returncode == -9, stderr
    if point != "before_cleanup":
        with pytest.raises(StoreError, match="incomplete"):
            open_run(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # progress files do not disturb plain xarray, not even with a warning
        assert xr.open_zarr(path).sizes["example"] == 22
    assert fill_store(path, make_spec(**CRASH_SPEC))
    assert_same_store(path, reference)
    assert check_store(path) == []


def test_close_and_reopen_resumes_pending_blocks(tmp_path, reference):
    spec = make_spec(**CRASH_SPEC)
    run = synthetic_run(spec)
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        assert writer.pending_blocks() == [0, 1, 2, 3, 4, 5]
        write_blocks(writer, run, blocks=[0, 1])
        assert writer.finalize() is False
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        assert writer.pending_blocks() == [2, 3, 4, 5]
        write_blocks(writer, run)
        assert writer.finalize() is True
        assert writer.finalize() is True  # idempotent
    assert_same_store(tmp_path / "s.zarr", reference)
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        assert writer.pending_blocks() == [] and writer.finalize()


@pytest.mark.slow
def test_two_processes_fill_disjoint_shards(tmp_path, reference):
    processes = [run_writer(tmp_path / "s.zarr", shard=[index, 2]) for index in range(2)]
    outcomes = []
    for process in processes:
        stdout, stderr = process.communicate()
        assert process.returncode == 0, stderr
        outcomes.append(json.loads(stdout)["complete"])
    assert any(outcomes)  # whichever finished last completed the store
    # Each shard sums its own blocks; merging the two sums rounds differently from one running sum.
    assert_same_store(tmp_path / "s.zarr", reference, exact_stats=False)
    assert check_store(tmp_path / "s.zarr") == []


@pytest.mark.slow
def test_resume_with_another_shard_count_after_a_crash(tmp_path, reference):
    path = tmp_path / "s.zarr"
    process = run_writer(path, kill={"point": "after_write_block", "at": 3})
    process.communicate()
    spec = make_spec(**CRASH_SPEC)
    assert fill_store(path, spec, shard=(0, 2)) is False
    assert fill_store(path, spec, shard=(1, 2)) is True
    assert_same_store(path, reference, exact_stats=False)


def test_shard_writers_exclude_each_other(tmp_path):
    spec = make_spec()
    path = tmp_path / "s.zarr"
    with ActivationStoreWriter.create_or_resume(path, spec, shard=(0, 2)):
        with pytest.raises(StoreError, match="already being written"):
            ActivationStoreWriter.create_or_resume(path, spec, shard=(0, 2))
        with pytest.raises(StoreError, match="writers of 2 shards"):
            ActivationStoreWriter.create_or_resume(path, spec, shard=(0, 3))
        with ActivationStoreWriter.create_or_resume(path, spec, shard=(1, 2)) as other:
            assert other.pending_blocks() == [1]


def test_fingerprint_mismatch_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "s.zarr"
    fill_store(path, make_spec())
    other = make_spec(prompt_sha256="c" * 64)
    with pytest.raises(StoreError, match=r"holds another run \(prompt_sha256 .*overwrite=True"):
        ActivationStoreWriter.create_or_resume(path, other)
    assert fill_store(path, other, seed=1, overwrite=True) is True
    assert fill_store(path, other, seed=1) is True  # resume of a complete store is a no-op
    with pytest.raises(StoreError, match="holds another run"):
        ActivationStoreWriter.create_or_resume(path, make_spec())
    with ActivationStoreWriter.create_or_resume(path, make_spec(), overwrite=True) as writer:
        assert writer.pending_blocks() == [0, 1, 2]
    assert open_run(path, allow_incomplete=True).attrs["prompt_sha256"] == "b" * 64
    assert not list(tmp_path.glob(".s.zarr.*"))  # no temporary or retired copies left next to it


def test_overwrite_never_replaces_something_else(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "important.txt").write_text("keep me")
    with pytest.raises(StoreError, match="not touching it"):
        ActivationStoreWriter.create_or_resume(tmp_path / "notes", make_spec(), overwrite=True)
    assert (tmp_path / "notes" / "important.txt").exists()


def test_overwrite_refused_while_a_writer_is_alive(tmp_path):
    path = tmp_path / "s.zarr"
    with ActivationStoreWriter.create_or_resume(path, make_spec()):
        with pytest.raises(StoreError, match="still filling it"):
            ActivationStoreWriter.create_or_resume(path, make_spec(split="test"), overwrite=True)
