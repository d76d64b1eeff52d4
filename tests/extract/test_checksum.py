"""neurokit.extract.checksum: zarr's crc32c codec computed faster, same bytes, selected only for neurokit's opens."""

import pickle
import shutil
import sys

import google_crc32c
import numpy as np
import pytest
import zarr
from zarr.codecs import Crc32cCodec

from neurokit.errors import StoreError
from neurokit.extract import checksum, open_run
from neurokit.extract.checksum import FastCrc32cCodec
from neurokit.extract.integrity import CheckedArray
from tests.helpers.store_fixtures import fill_store, make_spec

ZARR_DEFAULT = zarr.config.get("codecs.crc32c")


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "train.zarr"
    fill_store(path, make_spec(compute_train_stats=True))
    return path


def _crc_classes(array: zarr.Array) -> set[type]:
    """The classes that compute the array's crc32c codecs: in its chain, and inside a shard and its index."""
    codecs = list(array.metadata.codecs)
    for codec in array.metadata.codecs:
        codecs += [*getattr(codec, "codecs", ()), *getattr(codec, "index_codecs", ())]
    return {type(codec) for codec in codecs if isinstance(codec, Crc32cCodec)}


def _chunk_files(path) -> dict[str, bytes]:
    return {str(file.relative_to(path)): file.read_bytes() for file in sorted(path.rglob("*"))
            if file.is_file() and file.name != "zarr.json" and "/c" in f"/{file.relative_to(path).as_posix()}"}


@pytest.mark.parametrize("size", [0, 1, 3, 4, 7, 64, 1001, 6 * 2**20 + 5])
def test_the_checksum_function_agrees_with_google_crc32c(size):
    data = np.random.default_rng(size).integers(0, 256, size + 1, dtype=np.uint8)[1:]  # unaligned start
    assert checksum.crc32c(data) == google_crc32c.value(data.tobytes())


def test_the_crc32c_package_is_used_where_it_is_installed():
    fast = pytest.importorskip("crc32c")
    assert checksum.crc32c is fast.crc32c


def test_a_store_reads_and_rewrites_byte_for_byte_with_zarrs_own_codec(store, tmp_path):
    # Every chunk rewritten by plain zarr (its default config, its own Crc32cCodec class): the same files.
    copy = tmp_path / "rewritten.zarr"
    shutil.copytree(store, copy)
    assert zarr.config.get("codecs.crc32c") == ZARR_DEFAULT
    group = zarr.open_group(copy, mode="r+")
    for name, array in group.arrays():
        assert _crc_classes(array) <= {Crc32cCodec}, name
        rewritten = array.with_config({"write_empty_chunks": True})
        rewritten[...] = array[...]
    assert _crc_classes(group["activation"]) == {Crc32cCodec}  # the test exercised zarr's class
    assert _chunk_files(copy) == _chunk_files(store)
    assert len(_chunk_files(store)) > 20


def test_neurokit_opens_with_the_fast_codec_and_leaves_zarrs_config_alone(store):
    dataset = open_run(store)
    checked = [task for task in dict(dataset["activation"].data.__dask_graph__()).values()
               if isinstance(task, CheckedArray)]
    assert [_crc_classes(array.array) for array in checked] == [{FastCrc32cCodec}]
    assert zarr.config.get("codecs.crc32c") == ZARR_DEFAULT
    assert _crc_classes(zarr.open_array(store / "activation", mode="r")) == {Crc32cCodec}
    # Sent to a dask.distributed worker, the array keeps the fast codec (zarr's sharding codec would not).
    unpickled = pickle.loads(pickle.dumps(checked[0]))
    assert _crc_classes(unpickled.array) == {FastCrc32cCodec}
    np.testing.assert_array_equal(unpickled[:], checked[0][:])


def test_without_the_crc32c_package_google_crc32c_serves_and_a_flipped_bit_is_still_refused(tmp_path, monkeypatch):
    reference = tmp_path / "reference.zarr"
    fill_store(reference, make_spec())
    monkeypatch.setitem(sys.modules, "crc32c", None)  # `import crc32c` raises ImportError
    fallback = checksum._fastest_crc32c()
    assert fallback is google_crc32c.value
    sizes: list[int] = []

    def counted(data) -> int:
        sizes.append(len(data))
        return fallback(data)

    monkeypatch.setattr(checksum, "crc32c", counted)
    path = tmp_path / "dev.zarr"
    fill_store(path, make_spec())
    assert sizes  # the store was written through the fallback
    assert _chunk_files(path) == _chunk_files(reference)
    chunk = path / "label" / zarr.open_array(path / "label", mode="r").metadata.encode_chunk_key((1,))
    data = bytearray(chunk.read_bytes())
    data[2] ^= 0x10
    chunk.write_bytes(bytes(data))
    written = len(sizes)
    with pytest.raises(StoreError, match=r"variable 'label' at block 1 cannot be read \(ValueError: Stored and "
                                         r"computed checksum do not match"):
        _ = open_run(path)["label"].values
    assert len(sizes) > written  # and read through it
