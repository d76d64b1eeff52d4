"""Integrity on read: open_run refuses missing chunks and names corrupt ones, old stores still open."""

import json

import numpy as np
import pytest
import zarr

from neurokit.errors import StoreError
from neurokit.extract import check_store, open_run
from tests.helpers.store_fixtures import fill_store, make_spec, synthetic_run


@pytest.fixture
def store(tmp_path):
    spec = make_spec(compute_train_stats=True)
    path = tmp_path / "train.zarr"
    fill_store(path, spec)
    return path, spec


def _chunk_file(path, name, *index):
    return path / name / zarr.open_array(path / name, mode="r").metadata.encode_chunk_key(index)


@pytest.mark.parametrize(("name", "index", "where"), [
    ("activation", (1, 0, 0, 0), "block 1"),
    ("label", (2,), "block 2"),
    ("logits", (0, 0), "block 0"),
    ("train_sum", (1, 2, 0, 0), r"chunk \(class 1, layer 2, position 0, neuron 0\)"),
])
def test_a_missing_chunk_file_is_refused_on_open_naming_variable_and_block(store, name, index, where):
    path, _ = store
    _chunk_file(path, name, *index).unlink()
    with pytest.raises(StoreError, match=rf"{path} is damaged: variable '{name}' has no data on disk for {where}"):
        open_run(path)
    assert check_store(path, scan_values=False)  # check agrees: the same listing serves both


def test_a_flipped_bit_is_refused_on_read_naming_variable_block_and_layer(store):
    path, _ = store
    chunk = _chunk_file(path, "activation", 2, 0, 0, 0)
    data = bytearray(chunk.read_bytes())
    data[20] ^= 0x01  # inside layer 0's compressed chunk, the first inner chunk of the shard
    chunk.write_bytes(bytes(data))
    dataset = open_run(path)  # opening reads no activation
    with pytest.raises(StoreError, match=r"variable 'activation' at block 2, layer 0 cannot be read \("):
        _ = dataset["activation"].values
    _ = dataset["activation"].isel(example=slice(0, 8)).values  # other blocks still read


def test_every_chunk_carries_a_crc32c_checksum(store):
    path, _ = store
    for name in ("activation", "label", "train_sum"):
        metadata = json.loads((path / name / "zarr.json").read_text())
        codecs = metadata["codecs"]
        if codecs[0]["name"] == "sharding_indexed":
            codecs = codecs[0]["configuration"]["codecs"]
        assert [codec["name"] for codec in codecs][-2:] == ["zstd", "crc32c"], name


def test_a_store_without_checksums_still_opens_and_missing_chunks_are_still_found(tmp_path, monkeypatch):
    from zarr.codecs import ZstdCodec

    from neurokit.extract import schema

    monkeypatch.setattr(schema, "_COMPRESSORS", (ZstdCodec(level=3),))  # a store as written before checksums
    spec = make_spec()
    path = tmp_path / "old.zarr"
    fill_store(path, spec)
    assert "crc32c" not in (path / "label" / "zarr.json").read_text()
    np.testing.assert_array_equal(open_run(path)["label"].values, synthetic_run(spec)["label"])
    _chunk_file(path, "label", 0).unlink()
    with pytest.raises(StoreError, match="variable 'label' has no data on disk for block 0"):
        open_run(path)


def test_an_unlabelled_block_is_written_and_reads_back(tmp_path):
    """A block equal to the fill value (label -1 throughout) is still a file, so 'missing' is unambiguous."""
    spec = make_spec()
    path = tmp_path / "s.zarr"
    run = synthetic_run(spec)
    run["label"][:] = -1
    from neurokit.extract import ActivationStoreWriter
    from tests.helpers.store_fixtures import write_blocks

    with ActivationStoreWriter.create_or_resume(path, spec) as writer:
        write_blocks(writer, run)
        assert writer.finalize()
    assert (open_run(path)["label"].values == -1).all()
