import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neurokit.extract import ActivationStoreWriter, check_store, open_run
from neurokit.extract.schema import to_stored
from tests.helpers.store_fixtures import (
    ROLES,
    fill_store,
    make_spec,
    synthetic_run,
    write_blocks,
)

# Over the fast tier's budget (CONTRIBUTING.md): stores written and read back whole.
pytestmark = pytest.mark.slow

TORCH_DTYPES = {"float16": torch.float16, "float32": torch.float32, "bfloat16": torch.bfloat16}


def expected_values(activation: np.ndarray, stored_dtype: str) -> np.ndarray:
    """What the store must give back: the input rounded to the stored dtype by torch."""
    return torch.from_numpy(activation).to(TORCH_DTYPES[stored_dtype]).float().numpy()


@pytest.mark.parametrize("stored_dtype", ["float16", "float32", "bfloat16"])
def test_round_trip_is_exact(tmp_path, stored_dtype):
    spec = make_spec(stored_dtype=stored_dtype)
    run = synthetic_run(spec)
    assert fill_store(tmp_path / "s.zarr", spec)
    dataset = open_run(tmp_path / "s.zarr")
    activation = dataset["activation"].values
    assert activation.dtype == (np.float16 if stored_dtype == "float16" else np.float32)
    assert np.array_equal(activation.astype(np.float32), expected_values(run["activation"], stored_dtype))
    for name in ("label", "prediction", "logits", "input_length"):
        np.testing.assert_array_equal(dataset[name].values, run[name])
    assert dataset["input_length"].dtype == np.int32 and dataset["label"].dtype == np.int64
    assert list(dataset["example"].values) == list(spec.example_ids)


def test_bfloat16_is_stored_as_its_bits(tmp_path):
    spec = make_spec(stored_dtype="bfloat16")
    run = synthetic_run(spec)
    fill_store(tmp_path / "s.zarr", spec)
    plain = xr.open_zarr(tmp_path / "s.zarr")["activation"]
    assert plain.dtype == np.uint16 and plain.attrs["neurokit_true_dtype"] == "bfloat16"
    bits = torch.from_numpy(run["activation"]).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(plain.values, bits)
    assert "neurokit_true_dtype" not in open_run(tmp_path / "s.zarr")["activation"].attrs


@pytest.mark.parametrize("stored_dtype", ["float16", "float32", "bfloat16"])
@pytest.mark.parametrize("tensor_dtype", [torch.float32, torch.bfloat16])
def test_torch_tensors_are_accepted(tmp_path, stored_dtype, tensor_dtype):
    spec = make_spec(stored_dtype=stored_dtype, n_examples=4)
    run = synthetic_run(spec)
    tensor = torch.from_numpy(run["activation"]).to(tensor_dtype)
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        writer.write_block(0, tensor, label=torch.tensor(run["label"]), prediction=run["prediction"],
                           logits=run["logits"], input_length=run["input_length"])
        assert writer.finalize()
    expected = tensor.to(TORCH_DTYPES[stored_dtype]).float().numpy()
    assert np.array_equal(open_run(tmp_path / "s.zarr")["activation"].values.astype(np.float32), expected)


special = [0.0, -0.0, 1.0, 65504.0, 1e-40, 3.3895314e38, 3.4028235e38, np.inf, -np.inf, 1.00390625, 1.01171875]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 5)),
              elements=st.one_of(st.floats(width=32, allow_nan=False), st.sampled_from(special))))
def test_numpy_bfloat16_rounding_matches_torch(values):
    bits = to_stored(values, make_spec(stored_dtype="bfloat16").stored_dtype)
    assert np.array_equal(bits, torch.from_numpy(values).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16))


def test_plain_xarray_sees_the_documented_store(tmp_path):
    """The contract of docs/store-format.md, read by a process that never imports neurokit."""
    fill_store(tmp_path / "s.zarr", make_spec(compute_train_stats=True))
    script = (
        "import json, sys, xarray\n"
        f"ds = xarray.open_zarr({str(tmp_path / 's.zarr')!r})\n"
        "assert not any(name.startswith('neurokit') for name in sys.modules)\n"
        "print(json.dumps({'dims': dict(ds.sizes),\n"
        "    'vars': {k: [list(v.dims), str(v.dtype)] for k, v in ds.data_vars.items()},\n"
        "    'coords': {k: list(v.dims) for k, v in ds.coords.items()}, 'attrs': ds.attrs,\n"
        "    'roles': ds.position_role.values.tolist(), 'sites': ds.site.values.tolist()}))\n"
    )
    result = subprocess.run([sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, check=True)
    seen = json.loads(result.stdout)
    assert seen["dims"] == {"example": 10, "layer": 3, "position": 4, "neuron": 8, "class": 2}
    assert seen["vars"] == {
        "activation": [["example", "layer", "position", "neuron"], "float16"],
        "label": [["example"], "int64"], "prediction": [["example"], "int64"],
        "logits": [["example", "class"], "float32"], "input_length": [["example"], "int32"],
        "train_count": [["class"], "int64"],
        "train_sum": [["class", "layer", "position", "neuron"], "float64"],
        "train_sumsq": [["class", "layer", "position", "neuron"], "float64"],
    }
    assert seen["coords"] == {"example": ["example"], "layer": ["layer"], "site": ["layer"], "position": ["position"],
                              "position_role": ["position"], "neuron": ["neuron"], "class": ["class"]}
    assert seen["roles"] == list(ROLES) and seen["sites"][1] == "encoder.layer.1.ffn"
    attrs = seen["attrs"]
    for name in ("neurokit_store_version", "model_id", "model_revision", "weights_sha256", "model_config",
                 "prompt_sha256", "prompt_metadata", "task", "template", "verbalizer", "split", "positions", "layers",
                 "dtype_policy", "stored_dtype", "versions", "command", "started_at", "finished_at", "complete"):
        assert name in attrs, name
    assert attrs["complete"] is True and attrs["positions"] == list(ROLES) and attrs["layers"] == [0, 1, 2]
    assert json.loads(attrs["model_config"])["hidden_size"] == 8


@pytest.mark.parametrize("stored_dtype", ["float16", "bfloat16"])
def test_train_statistics_are_per_class_sums(tmp_path, stored_dtype):
    spec = make_spec(stored_dtype=stored_dtype, compute_train_stats=True, n_examples=11, block_size=3)
    run = synthetic_run(spec)
    fill_store(tmp_path / "s.zarr", spec)
    dataset = open_run(tmp_path / "s.zarr")
    values = expected_values(run["activation"], stored_dtype).astype(np.float64)
    for index in range(2):
        rows = run["label"] == index
        assert dataset["train_count"].values[index] == rows.sum()
        np.testing.assert_allclose(dataset["train_sum"].values[index], values[rows].sum(0), rtol=1e-12)
        np.testing.assert_allclose(dataset["train_sumsq"].values[index], (values[rows] ** 2).sum(0), rtol=1e-12)


def test_train_store_without_raw_activations(tmp_path):
    spec = make_spec(compute_train_stats=True, store_raw_activations=False)
    fill_store(tmp_path / "s.zarr", spec)
    dataset = open_run(tmp_path / "s.zarr")
    assert "activation" not in dataset
    assert int(dataset["train_count"].sum()) == spec.n_examples
    assert check_store(tmp_path / "s.zarr") == []


def test_unlabelled_split_keeps_every_block_on_disk(tmp_path):
    """Label -1 everywhere equals the fill value; the chunk must be written anyway."""
    spec = make_spec(split="test")
    run = synthetic_run(spec)
    run["label"][:] = -1
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        write_blocks(writer, run)
        writer.finalize()
    assert (open_run(tmp_path / "s.zarr")["label"].values == -1).all()
    assert check_store(tmp_path / "s.zarr") == []


def test_store_is_lazy_and_chunked_by_whole_blocks_and_layer(tmp_path):
    spec = make_spec(n_examples=10, block_size=4)
    fill_store(tmp_path / "s.zarr", spec)
    block_bytes = 4 * 1 * 4 * 8 * np.dtype(spec.stored_dtype).itemsize
    chunks = {size: open_run(tmp_path / "s.zarr", chunk_bytes=size)["activation"].chunks[0]
              for size in (1, block_bytes, 2 * block_bytes + 1, 100 * block_bytes)}
    assert chunks == {1: (4, 4, 2), block_bytes: (4, 4, 2), 2 * block_bytes + 1: (8, 2),
                      100 * block_bytes: (10,)}
    activation = open_run(tmp_path / "s.zarr", chunk_bytes=1)["activation"]
    assert activation.chunks == ((4, 4, 2), (1, 1, 1), (4,), (8,))
    array = zarr.open_group(tmp_path / "s.zarr", mode="r")["activation"]
    assert array.shards == (4, 3, 4, 8) and array.chunks == (4, 1, 4, 8)


@pytest.mark.parametrize("as_tensor", [False, True])
def test_caller_may_reuse_its_buffers_at_once(tmp_path, as_tensor):
    """write_block returns before the block is written; the caller's arrays must not be read later."""
    spec = make_spec(stored_dtype="float32", n_examples=8)
    run = synthetic_run(spec)
    buffers = {name: run[name][:4].copy() for name in run}
    if as_tensor:
        buffers = {name: torch.from_numpy(values) for name, values in buffers.items()}
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec, max_queued_blocks=4) as writer:
        for block in (0, 1):
            rows = spec.block_slice(block)
            for name in buffers:
                buffers[name][:] = torch.from_numpy(run[name][rows]) if as_tensor else run[name][rows]
            writer.write_block(block, buffers["activation"], label=buffers["label"], prediction=buffers["prediction"],
                               logits=buffers["logits"], input_length=buffers["input_length"])
        assert writer.finalize()
    dataset = open_run(tmp_path / "s.zarr")
    for name in run:
        np.testing.assert_array_equal(dataset[name].values, run[name])
