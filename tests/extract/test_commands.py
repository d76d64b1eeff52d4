"""`neurokit extract`: crash-resume after SIGKILL, several shard processes, refusals, one-line errors."""

import json
import shutil
from pathlib import Path

import pytest
import torch
import transformers
import zarr

from neurokit.cli import main
from neurokit.extract import check_store
from neurokit.extract.commands import parse_layers, parse_shard
from neurokit.models.random import random_backbone
from neurokit.prompts import PromptMetadata, SoftPrompt
from tests.helpers.extraction_fixtures import (
    SUBPROCESS_ENV,
    TASK,
    cli,
    killed_cli,
    make_checkpoint,
    save_model_folder,
)
from tests.helpers.store_fixtures import assert_same_arrays, store_contents

# 22 train examples in blocks of 4 (six blocks, the last one short) and forward batches of 3; raw activations
# kept as well as the statistics, so that both are compared.
RUN = ["--task", TASK, "--split", "train", "--size", "22", "--block-size", "4", "--batch-size", "3",
       "--max-length", "16", "--positions", "prompt,input_mean,input_max", "--store-train-activations",
       "--no-progress"]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Tiny model folders (BERT, GPT-2, T5), prompt checkpoints for them, a user task with an empty split."""
    transformers.utils.logging.disable_progress_bar()
    root = tmp_path_factory.mktemp("assets")
    found = {}
    for architecture in ("bert", "gpt2", "t5"):
        backbone = random_backbone(architecture)
        found[architecture] = str(save_model_folder(backbone, root / architecture))
        found[f"{architecture}_prompt"] = str(make_checkpoint(backbone, root / f"{architecture}-prompt", length=3))
    bert = random_backbone("bert")
    found["bert_prompt_b"] = str(make_checkpoint(bert, root / "bert-prompt-b", length=3, seed=1))
    found["wide_prompt"] = str(SoftPrompt(torch.randn(3, 48)).save_pretrained(
        root / "wide-prompt", PromptMetadata(model_id="another/model")))
    (root / "train.jsonl").write_text('{"text": "a good film", "label": 1}\n{"text": "a bad film", "label": 0}\n')
    (root / "dev.jsonl").write_text("")
    (root / "empty.toml").write_text(
        'name = "cli_empty_dev"\ntask_type = "sentiment"\ntext_fields = ["text"]\n'
        'label_names = ["negative", "positive"]\n[splits]\ntrain = "train.jsonl"\ndev = "dev.jsonl"\n')
    found["empty_task"] = str(root / "empty.toml")
    return found


def extract_args(assets, out, *extra, prompt="bert_prompt"):
    return ["extract", "--model", assets["bert"], "--prompt", assets[prompt], *RUN, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def reference(assets, tmp_path_factory):
    """An uninterrupted single-process extraction."""
    path = tmp_path_factory.mktemp("reference") / "train.zarr"
    assert main(extract_args(assets, path)) == 0
    return path


def contents(path):
    """Every array as stored, and the attributes apart from the times and the command line."""
    arrays, attrs = store_contents(path)
    attrs.pop("command")
    return arrays, attrs


def assert_same_store(path, reference, exact_stats=True):
    arrays, attrs = contents(path)
    expected_arrays, expected_attrs = contents(reference)
    assert attrs == expected_attrs
    assert_same_arrays(arrays, expected_arrays, exact_stats)
    files = sorted(str(file.relative_to(path)) for file in Path(path).rglob("*") if file.is_file())
    assert files == sorted(str(file.relative_to(reference)) for file in Path(reference).rglob("*") if file.is_file())
    assert check_store(path) == []


@pytest.mark.slow
@pytest.mark.parametrize("point, at, rerun_in_subprocess", [
    ("after_write_block", 2, True),  # between blocks: two handed to the writer, maybe not yet on disk
    ("mid_forward", 7, False),  # in the middle of block 3's forward passes
    ("mid_finalize", 1, False),  # every block done, statistics half written by finalize
])
def test_sigkill_then_rerunning_the_command_gives_the_uninterrupted_store(assets, reference, tmp_path, point, at,
                                                                        rerun_in_subprocess):
    path = tmp_path / "train.zarr"
    arguments = extract_args(assets, path)
    killed = killed_cli(point, at, *arguments)
    _, stderr = killed.communicate()
    assert killed.returncode == -9, stderr
    assert zarr.open_group(path, mode="r").attrs["complete"] is False
    if rerun_in_subprocess:
        rerun = cli(*arguments)
        stdout, stderr = rerun.communicate()
        assert rerun.returncode == 0, stderr
        assert json.loads(stdout)["complete"] is True
    else:
        assert main(arguments) == 0
    assert_same_store(path, reference)


@pytest.mark.slow
def test_two_shard_processes_equal_a_single_process(assets, reference, tmp_path):
    path = tmp_path / "train.zarr"
    first = cli(*extract_args(assets, path, "--shard", "0/2"))
    # The second process is told its shard the way torchrun tells it: RANK and WORLD_SIZE.
    second = cli(*extract_args(assets, path), env={**SUBPROCESS_ENV, "RANK": "1", "WORLD_SIZE": "2"})
    outputs = [process.communicate() for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], [err for _, err in outputs]
    reports = [json.loads(stdout) for stdout, _ in outputs]
    assert sorted(report["shard"] for report in reports) == ["0/2", "1/2"]
    assert any(report["complete"] for report in reports)
    assert_same_store(path, reference, exact_stats=False)


@pytest.mark.slow
def test_another_run_is_refused_unless_overwrite(assets, reference, tmp_path, capsys):
    path = tmp_path / "train.zarr"
    shutil.copytree(reference, path)
    before = contents(path)[1]
    capsys.readouterr()
    assert main(extract_args(assets, path, prompt="bert_prompt_b")) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "holds another run" in error and "prompt_sha256" in error
    assert "--overwrite" in error
    other_task = extract_args(assets, path)
    other_task[other_task.index(TASK)] = "toy_sentiment_products"
    assert main(other_task) == 2
    assert "task" in capsys.readouterr().err
    assert contents(path)[1] == before  # refused runs leave the store alone

    overwrite = [arg for arg in extract_args(assets, path, "--overwrite", prompt="bert_prompt_b")
                 if arg != "--no-progress"]
    assert main(overwrite) == 0
    captured = capsys.readouterr()
    assert "ex/s" in captured.err and "MB/s" in captured.err  # the progress bar
    attrs = zarr.open_group(path, mode="r").attrs
    assert attrs["prompt_sha256"] != before["prompt_sha256"] and attrs["complete"] is True
    assert main(extract_args(assets, path, prompt="bert_prompt_b")) == 0  # same run again: already complete
    assert json.loads(capsys.readouterr().out)["complete"] is True


BAD_INPUTS = {
    "unknown task": (["--task", "no_such_task"], "unknown task"),
    "missing split": (["--task", "adv_toy_sentiment_movies", "--split", "train"], "no 'train' split"),
    "empty split": (["--task", "{empty_task}", "--split", "dev"], "empty"),
    "prompt too wide": (["--prompt", "{wide_prompt}"], "does not fit"),
    "prompt of another model": (["--prompt", "{gpt2_prompt}"], "was trained on"),
    "missing prompt": (["--prompt", "{bert}/nothing-here"], "no prompt checkpoint"),
    "mask on a decoder": (["--model", "{gpt2}", "--prompt", "{gpt2_prompt}", "--positions", "mask"], "mask slot"),
    "layer out of range": (["--layers", "0,5"], "out of range"),
    "site of no stack": (["--layers", "decoder.layer.0.ffn"], "no decoder stack"),
    "float16 on T5": (["--model", "{t5}", "--prompt", "{t5_prompt}", "--dtype", "float16"], "never stored as float16"),
    "unknown position": (["--positions", "prompt,everything"],
                         "positions must be distinct names among mask, prompt, input_mean, input_max, last_token "
                         "(PositionSelection), got ['prompt', 'everything']"),
    "bad shard": (["--shard", "2/2"], "--shard must be"),
    "unwritable output": (["--out", "{bert}/config.json/s.zarr"], "not a directory"),
    "output is not a store": (["--out", "{bert}"], "not touching it"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_exit_2_and_leaves_no_store(case, assets, tmp_path, capsys):
    overrides, message = BAD_INPUTS[case]
    out = tmp_path / "fresh" / "s.zarr"
    arguments = ["extract", "--model", assets["bert"], "--prompt", assets["bert_prompt"], "--task", TASK,
                 "--split", "dev", "--size", "6", "--no-progress", "--out", str(out)]
    for flag, value in zip(overrides[::2], overrides[1::2], strict=True):
        value = value.format(**assets)
        if flag in arguments:
            arguments[arguments.index(flag) + 1] = value
        else:
            arguments += [flag, value]
    before = sorted(Path(assets["bert"]).iterdir())
    capsys.readouterr()
    assert main(arguments) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurokit: error: "), captured.err
    assert message in lines[0]
    assert not (tmp_path / "fresh").exists()
    assert sorted(Path(assets["bert"]).iterdir()) == before


def test_shard_from_torchrun_environment_and_layer_lists():
    assert parse_shard(None, {}) == (0, 1)
    assert parse_shard(None, {"RANK": "3", "WORLD_SIZE": "4"}) == (3, 4)
    assert parse_shard("0/2", {"RANK": "3", "WORLD_SIZE": "4"}) == (0, 2)  # an explicit --shard wins
    assert parse_layers("all") is None
    assert parse_layers("0,2-4,decoder.layer.1.ffn") == [0, 2, 3, 4, "decoder.layer.1.ffn"]
