import errno

import numpy as np
import pytest
import torch
from zarr.storage import LocalStore

from neurokit.errors import NeurokitError, StoreError
from neurokit.extract import ActivationStoreWriter, check_store, open_run
from tests.helpers.store_fixtures import (
    fill_store,
    make_spec,
    synthetic_run,
    write_blocks,
)


def write_one(writer, run, block, **changes):
    rows = writer.spec.block_slice(block)
    values = {name: run[name][rows] for name in run}
    values.update(changes)
    writer.write_block(block, values.pop("activation"), **values)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
@pytest.mark.parametrize("as_bfloat16_tensor", [False, True])
def test_nonfinite_block_is_refused_naming_examples_and_layer(tmp_path, bad_value, as_bfloat16_tensor):
    spec = make_spec(stored_dtype="float32")
    run = synthetic_run(spec)
    run["activation"][5, 2, 1, 3] = bad_value  # block 1 holds examples 4..7
    if as_bfloat16_tensor:
        run["activation"] = torch.from_numpy(run["activation"]).to(torch.bfloat16)
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        write_one(writer, run, 0)
        message = r"block 1: NaN or infinite values at layer 2 \(encoder\.layer\.2\.ffn\) for examples \['ex-005'\]"
        with pytest.raises(NeurokitError, match=message):
            write_one(writer, run, 1)
        assert writer.pending_blocks() == [1, 2]  # nothing of the bad block was taken


def test_float16_overflow_is_named(tmp_path):
    spec = make_spec(stored_dtype="float16")
    run = synthetic_run(spec)
    run["activation"][0, 1, 0, 0] = 70000.0
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        with pytest.raises(NeurokitError, match=r"beyond the float16 range.*layer 1 .*'ex-000'.*float32 or bfloat16"):
            write_one(writer, run, 0, activation=torch.from_numpy(run["activation"][:4]))


def test_a_new_store_that_fails_before_its_first_block_is_removed(tmp_path):
    spec = make_spec()
    run = synthetic_run(spec)
    run["activation"][0] = np.nan
    with pytest.raises(NeurokitError):
        with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
            write_blocks(writer, run)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(label=np.array([0, 1, 2, 0])), r"label outside \[-1, 2\) for examples \['ex-002'\]"),
        (dict(prediction=np.array([0, -1, 1, 0])), r"prediction outside \[0, 2\)"),
        (dict(input_length=np.array([3, 0, 1, 1])), "input_length < 1"),
        (dict(logits=np.full((4, 2), np.nan, dtype=np.float32)), "non-finite logits"),
    ],
)
def test_bad_per_example_values_are_refused(tmp_path, changes, message):
    spec = make_spec()
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        with pytest.raises(NeurokitError, match=message):
            write_one(writer, synthetic_run(spec), 0, **changes)


def test_train_stores_need_labels(tmp_path):
    spec = make_spec(compute_train_stats=True)
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        with pytest.raises(NeurokitError, match=r"label outside \[0, 2\)"):
            write_one(writer, synthetic_run(spec), 0, label=np.array([0, -1, 1, 1]))


def test_wrong_shapes_are_caller_bugs(tmp_path):
    spec = make_spec()
    run = synthetic_run(spec)
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        with pytest.raises(ValueError, match="expected"):
            write_one(writer, run, 0, activation=run["activation"][:3])
        with pytest.raises(ValueError, match="integers"):
            write_one(writer, run, 0, label=np.zeros(4))


def test_blocks_outside_the_shard_or_already_written_are_refused(tmp_path):
    spec = make_spec()
    run = synthetic_run(spec)
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec, shard=(0, 2)) as writer:
        with pytest.raises(StoreError, match="belongs to shard 1"):
            write_one(writer, run, 1)
        with pytest.raises(StoreError, match="does not exist"):
            writer.write_block(7, run["activation"][:4], label=run["label"][:4], prediction=run["prediction"][:4],
                               logits=run["logits"][:4], input_length=run["input_length"][:4])
        write_one(writer, run, 0)
        with pytest.raises(StoreError, match="already written"):
            write_one(writer, run, 0)


def test_unusable_paths_give_one_line(tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(StoreError, match="not an existing directory"):
        ActivationStoreWriter.create_or_resume(tmp_path / "a_file" / "s.zarr", make_spec())
    with pytest.raises(StoreError, match="not an existing directory"):
        ActivationStoreWriter.create_or_resume(tmp_path / "missing" / "s.zarr", make_spec())


def test_invalid_shard_is_a_config_error(tmp_path):
    with pytest.raises(NeurokitError, match="shard must be"):
        ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", make_spec(), shard=(2, 2))


def fail_writes(monkeypatch, prefixes: tuple[str, ...]) -> None:
    """Writes of store keys starting with ``prefixes`` fail as on a full disk."""
    original_set = LocalStore.set

    async def set_(self, key, value):
        if key.startswith(prefixes):
            raise OSError(errno.ENOSPC, "No space left on device")
        await original_set(self, key, value)

    monkeypatch.setattr(LocalStore, "set", set_)


@pytest.mark.parametrize(
    "failing, message",
    [
        (("example/",), r"cannot create or open store .*s\.zarr: \[Errno 28\] No space left on device"),
        (("activation/c/",), r"writing block 0 of .* failed: \[Errno 28\] No space left on device"),
    ],
)
def test_full_disk_on_a_new_store_leaves_nothing(tmp_path, monkeypatch, failing, message):
    spec = make_spec()
    fail_writes(monkeypatch, failing)
    with pytest.raises(StoreError, match=message):
        with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
            write_blocks(writer, synthetic_run(spec))
            writer.flush()
    assert list(tmp_path.iterdir()) == []


def test_full_disk_later_keeps_the_written_blocks_for_resuming(tmp_path, monkeypatch):
    spec = make_spec()
    run = synthetic_run(spec)
    path = tmp_path / "s.zarr"
    with ActivationStoreWriter.create_or_resume(path, spec) as writer:
        write_blocks(writer, run, blocks=[0])
    fail_writes(monkeypatch, ("label/c/",))
    with pytest.raises(StoreError, match="No space left"):
        with ActivationStoreWriter.create_or_resume(path, spec) as writer:
            write_blocks(writer, run)
            writer.finalize()
    monkeypatch.undo()
    with ActivationStoreWriter.create_or_resume(path, spec) as writer:
        assert writer.pending_blocks() == [1, 2]
    assert fill_store(path, spec)
    assert check_store(path) == []
    np.testing.assert_array_equal(open_run(path)["label"].values, run["label"])
