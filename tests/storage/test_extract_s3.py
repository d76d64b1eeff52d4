"""Extraction straight to a real S3-compatible server (moto's standalone server on 127.0.0.1, spoken to by s3fs):
the GPU-box half of "extract once, analyse anywhere", with the guarantees of the local disk (docs/store-format.md,
"Writing"): resumable after a SIGKILL, several shard writers into one store, one writer per shard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import transformers
import xarray as xr

from neurokit.analysis import load_results
from neurokit.cli import main
from neurokit.errors import StoreError
from neurokit.extract import ActivationStoreWriter, open_run
from neurokit.models.random import random_backbone
from neurokit.storage import locate
from tests.helpers.extraction_fixtures import (
    TASK,
    cli,
    killed_cli,
    make_checkpoint,
    save_model_folder,
)
from tests.helpers.storage_helpers import S3_SECRET, new_bucket
from tests.helpers.store_fixtures import (
    assert_same_arrays,
    make_spec,
    store_contents,
    synthetic_run,
    write_blocks,
)

# Over the fast tier's budget (CONTRIBUTING.md): a moto S3 server and extraction processes.
pytestmark = pytest.mark.slow

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

# 22 examples in blocks of 4 (six blocks, the last one short), forward batches of 3: the extraction CLI tests' run.
RUN = ["--task", TASK, "--size", "22", "--block-size", "4", "--batch-size", "3", "--max-length", "16",
       "--positions", "prompt,input_mean", "--no-progress"]


@pytest.fixture(scope="module")
def bucket(s3_options):
    """A fresh bucket on the server (s3fs filesystem, name)."""
    return new_bucket(s3_options)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, bucket, s3_options):
    """A tiny BERT's train split extracted to S3 by a process SIGKILLed after its third block and the rerun
    command; its dev split by two ``--shard`` processes at once; the same two extracted locally, uninterrupted."""
    transformers.utils.logging.disable_progress_bar()
    root = tmp_path_factory.mktemp("s3-extraction")
    backbone = random_backbone("bert")
    model, prompt = save_model_folder(backbone, root / "bert"), make_checkpoint(backbone, root / "prompt", length=3)
    _, name = bucket
    options = ["--storage-options", json.dumps(s3_options)]

    def arguments(split: str, out: str, *extra: str) -> list[str]:
        return ["extract", "--model", str(model), "--prompt", str(prompt), "--split", split, *RUN, "--out", out,
                *extra]

    stores = {"train": f"s3://{name}/run/train.zarr", "dev": f"s3://{name}/run/dev.zarr"}
    killed = killed_cli("after_write_block", 3, *arguments("train", stores["train"], "--store-train-activations",
                                                           *options))
    _, stderr = killed.communicate()
    assert killed.returncode == -9, stderr
    with pytest.raises(StoreError, match=r"incomplete \(\d of 6 blocks written\)"):
        open_run(stores["train"], storage_options=s3_options)
    assert main(arguments("train", stores["train"], "--store-train-activations", *options)) == 0
    writers = [cli(*arguments("dev", stores["dev"], "--shard", f"{index}/2", *options)) for index in range(2)]
    outputs = [writer.communicate() for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], [stderr for _, stderr in outputs]
    assert any(json.loads(stdout)["complete"] for stdout, _ in outputs)  # the last one to finish completed it
    local = {"train": root / "train.zarr", "dev": root / "dev.zarr"}
    assert main(arguments("train", str(local["train"]), "--store-train-activations")) == 0
    assert main(arguments("dev", str(local["dev"]))) == 0
    return stores, local


def _assert_same_store(url: str, reference: Path, options: dict, exact_stats: bool = True) -> None:
    """The store at ``url`` holds the reference's arrays bit for bit (train sums to float64 rounding if not
    ``exact_stats``), the same attributes but the times and the command line, and the same objects as its files."""
    location = locate(url, options)
    arrays, attrs = store_contents(location.zarr_store())
    expected_arrays, expected_attrs = store_contents(reference)
    attrs.pop("command"), expected_attrs.pop("command")
    assert attrs == expected_attrs
    assert_same_arrays(arrays, expected_arrays, exact_stats)
    location.fs.invalidate_cache(location.fs_path)
    keys = sorted(key.removeprefix(location.fs_path + "/") for key in location.fs.find(location.fs_path))
    assert keys == sorted(file.relative_to(reference).as_posix() for file in reference.rglob("*") if file.is_file())


@pytest.mark.slow  # extractions of a tiny model in subprocesses: minutes on a shared 2-core machine
def test_a_killed_extraction_to_s3_resumes_to_the_uninterrupted_store(extracted, s3_options):
    stores, local = extracted
    _assert_same_store(stores["train"], local["train"], s3_options)  # no progress object or lease left either
    attrs = open_run(stores["train"], storage_options=s3_options).attrs  # created by the killed process
    assert "--storage-options <redacted>" in attrs["command"] and S3_SECRET not in json.dumps(attrs)


@pytest.mark.slow
def test_two_shard_processes_fill_one_s3_store(extracted, s3_options):
    stores, local = extracted
    _assert_same_store(stores["dev"], local["dev"], s3_options)


@pytest.mark.slow
def test_open_run_analyze_and_plain_xarray_read_the_extracted_store(extracted, s3_options, tmp_path, capsys):
    stores, local = extracted
    for split in ("train", "dev"):  # the same data; the attributes differ only in the times and command lines
        xr.testing.assert_equal(open_run(stores[split], storage_options=s3_options).compute(),
                                open_run(local[split]).compute())
    plain = xr.open_zarr(stores["dev"], storage_options=s3_options, consolidated=False)
    xr.testing.assert_equal(plain.compute(), xr.open_zarr(local["dev"], consolidated=False).compute())
    options = ["--storage-options", json.dumps(s3_options), "--no-progress"]
    assert main(["analyze", "--train", stores["train"], "--eval", stores["dev"], "--out", str(tmp_path / "s3.zarr"),
                 *options]) == 0
    assert main(["analyze", "--train", str(local["train"]), "--eval", str(local["dev"]),
                 "--out", str(tmp_path / "local.zarr"), "--no-progress"]) == 0
    capsys.readouterr()
    from_s3, from_disk = load_results(tmp_path / "s3.zarr"), load_results(tmp_path / "local.zarr")
    groups = sorted(node.path for node in from_disk.subtree if node.has_data)
    assert f"/{TASK}/skill" in groups and groups == sorted(node.path for node in from_s3.subtree if node.has_data)
    for group in groups:  # the same numbers (the store coordinate names where they were read from)
        xr.testing.assert_equal(from_s3[group].to_dataset().drop_vars("store", errors="ignore").compute(),
                                from_disk[group].to_dataset().drop_vars("store", errors="ignore").compute())


def test_a_second_writer_of_a_shard_on_s3_is_refused_and_a_lease_from_elsewhere_needs_overwrite(bucket, s3_options):
    fs, name = bucket
    location = locate(f"s3://{name}/leases.zarr", s3_options)
    spec = make_spec()
    with ActivationStoreWriter.create_or_resume(location, spec, shard=(0, 2)):
        # The lease is a create-exclusively PUT (If-None-Match: *) that the server refuses while it exists.
        with pytest.raises(StoreError, match=r"shard \(0, 2\) of s3://.* is already being written .*pid"):
            ActivationStoreWriter.create_or_resume(location, spec, shard=(0, 2))
        with pytest.raises(StoreError, match="writers of 2 shards"):
            ActivationStoreWriter.create_or_resume(location, spec, shard=(1, 3))
    lease = f"{name}/leases.zarr/_neurokit_progress/shard-1-of-2.lease"
    fs.pipe_file(lease, json.dumps({"host": "another-machine", "pid": 1, "since": "earlier"}).encode())
    with pytest.raises(StoreError, match="host another-machine, pid 1, since earlier.*pass --overwrite"):
        ActivationStoreWriter.create_or_resume(location, spec, shard=(1, 2))
    with ActivationStoreWriter.create_or_resume(location, spec, shard=(1, 2), overwrite=True) as writer:
        write_blocks(writer, synthetic_run(spec))
        assert writer.finalize() is False  # shard 0 has written nothing
    with ActivationStoreWriter.create_or_resume(location, spec, shard=(0, 2)) as writer:
        write_blocks(writer, synthetic_run(spec))
        assert writer.finalize() is True
    assert not fs.exists(f"{name}/leases.zarr/_neurokit_progress")
    assert open_run(location).sizes["example"] == spec.n_examples
