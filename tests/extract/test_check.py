import argparse
import json
import shutil

import numpy as np
import pytest
import zarr

from neurokit.extract import check_store, store_info
from neurokit.extract.commands import register
from tests.helpers.store_fixtures import fill_store, make_spec


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s.zarr"
    fill_store(path, make_spec(compute_train_stats=True))
    return path


def test_a_sound_store_has_no_problems(store):
    assert check_store(store) == []


def test_incomplete_store(tmp_path):
    fill_store(tmp_path / "s.zarr", make_spec(), shard=(1, 3), finalize=False)
    problems = check_store(tmp_path / "s.zarr")
    assert problems == ["incomplete: 1 of 3 blocks written (missing blocks [0, 2])"]


def test_missing_block_is_found(store):
    (store / "activation" / "c" / "1" / "0" / "0" / "0").unlink()
    (store / "label" / "c" / "2").unlink()
    problems = check_store(store, scan_values=False)
    assert "variable 'activation': data of blocks [1] missing on disk" in problems
    assert "variable 'label': data of blocks [2] missing on disk" in problems


def test_nan_is_found_with_examples_and_layer(store):
    activation = zarr.open_group(store, mode="r+")["activation"]
    block = activation[4:8]
    block[2, 1, 0, 0] = np.nan
    activation[4:8] = block
    problems = check_store(store)
    assert problems == ["block 1: NaN or infinite activations at layer 1 (encoder.layer.1.ffn) for examples ['ex-006']"]
    assert check_store(store, scan_values=False) == []


def test_damaged_shard_is_found(store):
    shard = store / "activation" / "c" / "2" / "0" / "0" / "0"
    shard.write_bytes(shard.read_bytes()[:-20])
    problems = check_store(store)
    assert len(problems) == 1 and problems[0].startswith("block 2: unreadable")


def test_wrong_statistics_are_found(store):
    zarr.open_group(store, mode="r+")["train_count"][:] = [1, 1]
    assert any("train_count" in problem for problem in check_store(store))


@pytest.mark.filterwarnings("ignore:Consolidated metadata")
def test_wrong_schema_is_found(store):
    shutil.rmtree(store / "logits")
    group = zarr.open_group(store, mode="r+", use_consolidated=False)
    group.create_array("extra", shape=(2,), dtype="int8")
    zarr.consolidate_metadata(store)
    problems = check_store(store)
    assert "missing variable 'logits'" in problems
    assert "unexpected variables ['extra']" in problems


def test_wrong_provenance_is_found(store):
    group = zarr.open_group(store, mode="r+")
    del group.attrs["weights_sha256"]
    group.attrs["task"] = "{not json"
    assert check_store(store) == ["missing attribute 'weights_sha256'", "attribute 'task' is not JSON text"]


def test_not_a_store(tmp_path):
    assert check_store(tmp_path) == [f"no zarr v3 store at {tmp_path}"]


def test_leftover_progress_files_are_found(store):
    (store / "_neurokit_progress").mkdir()
    assert check_store(store, scan_values=False) == ["complete store still holds progress files (_neurokit_progress/)"]


def test_store_info_describes_the_store(store):
    text = store_info(store)
    assert "complete (finished" in text
    assert "dims         example=10, layer=3, position=4, neuron=8, class=2" in text
    assert "positions    mask, prompt_0..prompt_1, input_mean" in text
    assert "activation" in text and "shards (4, 3, 4, 8)" in text
    assert json.loads(text.split("task         ")[1].splitlines()[0])["name"] == "sst2"


def run_cli(*argv) -> int:
    parser = argparse.ArgumentParser(prog="neurokit")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


def test_cli_check_and_info(store, capsys):
    assert run_cli("check", str(store)) == 0
    assert capsys.readouterr().out.strip() == f"{store}: OK"
    (store / "label" / "c" / "0").unlink()
    assert run_cli("check", "--quick", str(store)) == 1
    assert "data of blocks [0] missing on disk" in capsys.readouterr().out
    assert run_cli("info", str(store)) == 0
    assert "model        test/tiny-roberta @ rev-1" in capsys.readouterr().out
