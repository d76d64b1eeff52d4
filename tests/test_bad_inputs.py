"""Every bad input gets one line, exit code 2, and leaves nothing written or changed (issue 10).

Table-driven: each case prepares its input in a fresh folder (a damaged copy of a store, a broken checkpoint,
a spec file...), runs the command in-process through ``neurokit.cli.main`` and checks that stderr is one
``neurokit: error:`` line matching the case's message, without a traceback, and that no file under the
case's folder or the shared assets was created, removed or modified. Cases on a full disk or a read-only
file system mount a small tmpfs and run only as root (skipped otherwise).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
import transformers
import zarr

from neurokit.cli import main
from neurokit.models.random import random_backbone
from tests.helpers.extraction_fixtures import make_checkpoint, save_model_folder
from tests.helpers.synthetic_stores import make_store, write_store

# `datasets` draws a progress bar on stderr while it reads a data file: not part of any message.
datasets.disable_progress_bars()
transformers.utils.logging.disable_progress_bar()  # likewise while it loads weights

TASK = "toy_sentiment_movies"
SPEC = {"name": "my_reviews", "task_type": "sentiment", "text_fields": ["text"], "label_names": ["neg", "pos"],
        "splits": {"train": "train.csv"}}


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """Shared, never modified: a tiny BERT folder, a prompt for it, a train and an eval store of that model
    and prompt, and the results of analysing them."""
    root = tmp_path_factory.mktemp("assets")
    backbone = random_backbone("bert")
    save_model_folder(backbone, root / "bert")
    make_checkpoint(backbone, root / "prompt", length=3, model_source=str(root / "bert"))
    identity = {"model_id": backbone.model_id, "weights": backbone.weights_sha256, "task": TASK}
    write_store(make_store(0, split="train", n_examples=48, **identity), root / "train.zarr", raw=False)
    write_store(make_store(1, n_examples=40, **identity), root / "dev.zarr")
    assert main(["analyze", "--train", str(root / "train.zarr"), "--eval", str(root / "dev.zarr"),
                 "--out", str(root / "results.zarr"), "--no-progress"]) == 0
    return root


def _tree(*roots: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``roots``: a file's (size, modification time in ns); (0, 0) for a folder,
    whose time changes when a temporary file inside it comes and goes."""
    found = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            stat = path.stat()
            found[str(path)] = (stat.st_size, stat.st_mtime_ns) if path.is_file() else (0, 0)
    return found


# ----- preparing inputs ---------------------------------------------------------------------------------------

def _copy(assets: Path, tmp: Path, name: str) -> Path:
    target = tmp / name
    (shutil.copytree if (assets / name).is_dir() else shutil.copy)(assets / name, target)
    return target


def _chunk(store: Path, name: str, *index: int) -> Path:
    return store / name / zarr.open_array(store / name, mode="r").metadata.encode_chunk_key(index)


def _damaged_store(assets, tmp, damage: str) -> Path:
    """A copy of the train or eval store with one chunk deleted or one bit flipped."""
    name, variable, index, how = {
        "activation deleted": ("dev.zarr", "activation", (1, 0, 0, 0), "delete"),
        "label deleted": ("dev.zarr", "label", (0,), "delete"),
        "logits deleted": ("dev.zarr", "logits", (2, 0), "delete"),
        "train_sum deleted": ("train.zarr", "train_sum", (1, 0, 0, 0), "delete"),
        "train_count deleted": ("train.zarr", "train_count", (0,), "delete"),
        "activation flipped": ("dev.zarr", "activation", (0, 0, 0, 0), "flip"),
        "label flipped": ("dev.zarr", "label", (1,), "flip"),
        "train_sum flipped": ("train.zarr", "train_sum", (0, 1, 0, 0), "flip"),
    }[damage]
    store = _copy(assets, tmp, name)
    chunk = _chunk(store, variable, *index)
    if how == "delete":
        chunk.unlink()
    else:
        data = bytearray(chunk.read_bytes())
        data[12] ^= 0x10
        chunk.write_bytes(bytes(data))
    return store


def _analyze(train, evaluation, out, *extra) -> list[str]:
    return ["analyze", "--train", str(train), "--eval", str(evaluation), "--out", str(out), "--no-progress", *extra]


def _analyze_damaged(damage: str):
    def argv(assets, tmp):
        store = _damaged_store(assets, tmp, damage)
        train = store if store.name == "train.zarr" else assets / "train.zarr"
        evaluation = store if store.name == "dev.zarr" else assets / "dev.zarr"
        return _analyze(train, evaluation, tmp / "out.zarr")
    return argv


def _checkpoint(assets, tmp, tensor: bytes | None = None, metadata: str | None = None,
                drop_metadata: bool = False) -> Path:
    """A copy of the prompt with its tensor file or prompt.json replaced (or prompt.json removed)."""
    folder = _copy(assets, tmp, "prompt")
    if tensor is not None:
        (folder / "prompt.safetensors").write_bytes(tensor)
    if metadata is not None:
        (folder / "prompt.json").write_text(metadata)
    if drop_metadata:
        (folder / "prompt.json").unlink()
    return folder


def _export(prepare: Callable[[Path, Path], Path]):
    """`prompt export` of a prepared checkpoint: the checkpoint is read before any model loads."""
    def argv(assets, tmp):
        return ["prompt", "export", "--prompt", str(prepare(assets, tmp)), "--model", str(assets / "bert"),
                "--out", str(tmp / "peft")]
    return argv


def _truncated(assets, tmp):
    data = (assets / "prompt" / "prompt.safetensors").read_bytes()
    return _checkpoint(assets, tmp, tensor=data[: len(data) // 2])


def _pickled(assets, tmp):
    torch.save({"prompt": torch.zeros(3, 32)}, tmp / "pickle.pt")
    data = (tmp / "pickle.pt").read_bytes()
    (tmp / "pickle.pt").unlink()
    return _checkpoint(assets, tmp, tensor=data)


def _no_prompt_tensor(assets, tmp):
    from safetensors.torch import save

    return _checkpoint(assets, tmp, tensor=save({"weights": torch.zeros(3, 32)}))


def _spec(rows: list[str], spec: dict | None = None, encoding: str = "utf-8", suffix: str = ".json",
          text: str | None = None):
    """`train` on a user task: the spec file and its data are read before any model loads."""
    def argv(assets, tmp):
        (tmp / "train.csv").write_bytes("\n".join(rows).encode(encoding) + b"\n")
        path = tmp / f"task{suffix}"
        path.write_text(text if text is not None else json.dumps(spec or SPEC))
        return ["train", "--task", str(path), "--model", str(assets / "bert"), "--out", str(tmp / "prompt-out"),
                "--max-steps", "1"]
    return argv


GOOD_ROWS = ["text,label", *[f"review {index},{'pos' if index % 2 else 'neg'}" for index in range(12)]]


def _with(rows: list[str], **changes: str) -> list[str]:
    rows = list(rows)
    for row, value in changes.items():
        rows[int(row[1:])] = value
    return rows


def _extract(**overrides):
    def argv(assets, tmp):
        arguments = {"--model": str(assets / "bert"), "--prompt": str(assets / "prompt"), "--task": TASK,
                     "--split": "dev", "--size": "4", "--out": str(tmp / "s.zarr")}
        arguments.update({f"--{key.replace('_', '-')}": str(value(assets, tmp)) if callable(value) else value
                          for key, value in overrides.items()})
        return ["extract", *[item for pair in arguments.items() for item in pair], "--no-progress"]
    return argv


def _file(assets, tmp, name="taken"):
    (tmp / name).write_text("not a folder")
    return tmp / name


# ----- the cases ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    argv: Callable[[Path, Path], list[str]]
    message: str  # a regular expression the one line must match
    mount: str | None = None  # "full" or "readonly": the case's output folder is a small tmpfs (root only)


DAMAGED = "is damaged: variable '{}' "
CASES: dict[str, Case] = {
    # prompt checkpoints
    "truncated prompt.safetensors": Case(_export(_truncated), r"prompt\.safetensors is not a readable safetensors"),
    "torch pickle renamed to prompt.safetensors": Case(_export(_pickled), r"is not a readable safetensors file"),
    "safetensors without a 'prompt' tensor": Case(_export(_no_prompt_tensor), r"holds no tensor named 'prompt'"),
    "prompt.json not JSON": Case(_export(lambda a, t: _checkpoint(a, t, metadata="{model_id: x")),
                                 r"prompt\.json is not JSON text"),
    "prompt.json {}": Case(_export(lambda a, t: _checkpoint(a, t, metadata="{}")),
                           r"prompt\.json lacks model_id, mask_slot: without them the prompt cannot be checked"),
    "prompt.json a list": Case(_export(lambda a, t: _checkpoint(a, t, metadata="[]")),
                               r"prompt\.json must hold a JSON object, got list"),
    "prompt.json missing": Case(_export(lambda a, t: _checkpoint(a, t, drop_metadata=True)),
                                r"has prompt\.safetensors but no prompt\.json"),
    "checkpoint folder missing": Case(_export(lambda a, t: t / "nowhere"), r"no prompt checkpoint at .*nowhere"),
    # training outputs
    "train --out onto a checkpoint": Case(
        lambda a, t: ["train", "--task", TASK, "--out", str(_copy(a, t, "prompt")), "--max-steps", "1"],
        r"already holds a prompt checkpoint; pass --overwrite to replace it"),
    "prompt init --out onto a checkpoint": Case(
        lambda a, t: ["prompt", "init", "--task", TASK, "--out", str(_copy(a, t, "prompt"))],
        r"already holds a prompt checkpoint; pass --overwrite"),
    "train --out an existing file": Case(
        lambda a, t: ["train", "--task", TASK, "--out", str(_file(a, t)), "--max-steps", "1"],
        r"--out .*taken is an existing file"),
    "train on an unknown task": Case(lambda a, t: ["train", "--task", "no_such_task", "--out", str(t / "p")],
                                     r"unknown task 'no_such_task'"),
    "train with --prompt-length 0": Case(
        lambda a, t: ["train", "--task", TASK, "--out", str(t / "p"), "--prompt-length", "0"],
        r"prompt_length must be a positive integer, got 0"),
    # task spec files
    "latin-1 CSV": Case(_spec(["text,label", "café crème,pos", "bad,neg"], encoding="latin-1"),
                        r"data file .*train\.csv is not UTF-8 text \(byte 0xe9 at offset \d+, perhaps latin-1"),
    "two bad label cells": Case(_spec(_with(GOOD_ROWS, r3="review 2,posi", r7="review 6,negg")),
                                r"has 2 label cell\(s\) outside the label set \['neg', 'pos'\] "
                                r"\(2 distinct: 'negg', 'posi'\)"),
    "integer label out of range": Case(_spec(["text,label", "a,0", "b,7", "c,1"]),
                                       r"1 label\(s\) outside 0\.\.1, e\.g\. 7"),
    "empty label cell": Case(_spec(["text,label", "a,pos", "b,", "c,neg"]),
                             r"1 label cell\(s\) outside the label set \['neg', 'pos'\] \(1 distinct: ''\)"),
    "spec file not JSON": Case(_spec(GOOD_ROWS, text="{name: x"), r"task\.json: not valid JSON"),
    "spec file misses keys": Case(_spec(GOOD_ROWS, spec={"name": "x"}), r"missing key\(s\) task_type"),
    "spec file with an unknown key": Case(_spec(GOOD_ROWS, spec={**SPEC, "labels": ["a"]}),
                                          r"unknown key\(s\) labels"),
    "spec file names a missing split file": Case(_spec(GOOD_ROWS, spec={**SPEC, "splits": {"train": "no.csv"}}),
                                                 r"the train file .*no\.csv does not exist"),
    "spec file of another format": Case(_spec(GOOD_ROWS, suffix=".yaml"), r"unknown task"),
    "spec file without the text column": Case(_spec(GOOD_ROWS, spec={**SPEC, "text_fields": ["sentence"]}),
                                              r"split .train. lacks column\(s\) .sentence. \(has .text., .label.\)"),
    # extraction options
    "last_token on an encoder": Case(_extract(positions="last_token"),
                                     r"position last_token is for decoder stacks .* use input_mean or input_max"),
    "prompt of another width": Case(
        _extract(prompt=lambda a, t: _checkpoint(a, t, tensor=_tensor(torch.zeros(3, 48)))), r"does not fit"),
    "extract --out under a file": Case(_extract(out=lambda a, t: str(_file(a, t) / "s.zarr")), r"not a directory"),
    "extract with a bad --shard": Case(_extract(shard="3/2"), r"--shard must be"),
    # stores read by analyze
    "analyze a missing store": Case(lambda a, t: _analyze(a / "train.zarr", t / "none.zarr", t / "o.zarr"),
                                    r"no zarr v3 store at .*none\.zarr"),
    "analyze a folder that is no store": Case(lambda a, t: _analyze(a / "train.zarr", a / "bert", t / "o.zarr"),
                                              r"no zarr v3 store at .*bert"),
    "analyze a dev store given as train store": Case(
        lambda a, t: _analyze(a / "dev.zarr", a / "dev.zarr", t / "o.zarr"),
        r"baselines come from the train split, but the train store is split 'dev'"),
    "analyze without a train store of the eval task": Case(
        lambda a, t: ["analyze", "--train", str(a / "train.zarr"), "--eval", str(_other_task_store(a, t)),
                      "--out", str(t / "o.zarr"), "--no-progress"],
        r"no train store for task 'toy_nli' of eval store\(s\) .*nli\.zarr \(the --train stores are of "
        r"'toy_sentiment_movies'\); pass the train-split store of the same prompt with --train"),
    "analyze an incomplete store": Case(
        lambda a, t: _analyze(a / "train.zarr", _incomplete(a, t), t / "o.zarr"), r"is incomplete"),
    "analyze a store with broken metadata": Case(
        lambda a, t: _analyze(a / "train.zarr", _broken_metadata(a, t), t / "o.zarr"), r"unreadable store"),
    # damaged stores
    "activation shard deleted": Case(_analyze_damaged("activation deleted"),
                                     DAMAGED.format("activation") + r"has no data on disk for block 1;"),
    "label chunk deleted": Case(_analyze_damaged("label deleted"),
                                DAMAGED.format("label") + r"has no data on disk for block 0;"),
    "logits chunk deleted": Case(_analyze_damaged("logits deleted"),
                                 DAMAGED.format("logits") + r"has no data on disk for block 2;"),
    "train_sum chunk deleted": Case(_analyze_damaged("train_sum deleted"),
                                    DAMAGED.format("train_sum") + r"has no data on disk for chunk \(class 1, layer 0"),
    "train_count chunk deleted": Case(_analyze_damaged("train_count deleted"),
                                      DAMAGED.format("train_count") + r"has no data on disk"),
    "activation bit flipped": Case(_analyze_damaged("activation flipped"),
                                   DAMAGED.format("activation") + r"at block 0, layer 0 cannot be read"),
    "label bit flipped": Case(_analyze_damaged("label flipped"),
                              DAMAGED.format("label") + r"at block 1 cannot be read"),
    "train_sum bit flipped": Case(_analyze_damaged("train_sum flipped"),
                                  DAMAGED.format("train_sum") + r"at chunk \(class 0, layer 1, .*\) cannot be read"),
    "ablate --train-store damaged": Case(
        lambda a, t: ["ablate", "--prompt", str(a / "prompt"), "--task", TASK, "--skill", str(a / "results.zarr"),
                      "--method", "mean", "--train-store", str(_damaged_store(a, t, "train_sum deleted")),
                      "--size", "4", "--out", str(t / "ablation.zarr")],
        DAMAGED.format("train_sum") + r"has no data on disk"),
    # analysis options
    "analyze --fraction 2": Case(lambda a, t: _analyze(a / "train.zarr", a / "dev.zarr", t / "o.zarr",
                                                       "--fraction", "2"), r"fraction must be in \(0, 1\], got 2\.0"),
    "analyze --positions of no store": Case(lambda a, t: _analyze(a / "train.zarr", a / "dev.zarr", t / "o.zarr",
                                                                  "--positions", "nowhere"),
                                                r"no positions with the requested roles \(\('nowhere',\)\)"),
    # output paths
    "analyze --out existing": Case(lambda a, t: _analyze(a / "train.zarr", a / "dev.zarr", _copy(a, t, "results.zarr")),
                                   r"results\.zarr exists: choose another output or allow overwriting"),
    "analyze --out an existing file with --overwrite": Case(
        lambda a, t: _analyze(a / "train.zarr", a / "dev.zarr", _file(a, t), "--overwrite"),
        r"taken is an existing file, not a folder"),
    "analyze --out under a file": Case(lambda a, t: _analyze(a / "train.zarr", a / "dev.zarr", _file(a, t) / "o"),
                                       r"cannot write .*taken/o: .*taken is a file, not a folder"),
    "analyze --out on a read-only file system": Case(
        lambda a, t: _analyze(a / "train.zarr", a / "dev.zarr", t / "mount" / "o.zarr"),
        r"cannot write .*mount/o\.zarr: .*mount is not writable \(read-only", mount="readonly"),
    "analyze --tables on a read-only file system": Case(
        lambda a, t: _analyze(a / "train.zarr", a / "dev.zarr", t / "o.zarr", "--tables", str(t / "mount" / "tables")),
        r"mount is not writable", mount="readonly"),
    "analyze --out on a full disk": Case(
        lambda a, t: _analyze(a / "train.zarr", a / "dev.zarr", t / "mount" / "o.zarr"),
        r"cannot write results to .*o\.zarr: No space left on device", mount="full"),
    "plot --out an existing file": Case(lambda a, t: ["plot", str(a / "results.zarr"), "--out", str(_file(a, t))],
                                        r"taken is an existing file, not a folder"),
    "plot --out on a read-only file system": Case(
        lambda a, t: ["plot", str(a / "results.zarr"), "--out", str(t / "mount" / "figures")],
        r"mount is not writable", mount="readonly"),
    "plot a results store with a chunk deleted": Case(
        lambda a, t: ["plot", str(_damaged_results(a, t)), "--out", str(t / "figures")],
        r"results\.zarr is damaged: 'toy_sentiment_movies/skill/score' has chunk files missing"),
    "ablate with a skill results store with a chunk deleted": Case(
        lambda a, t: ["ablate", "--prompt", str(a / "prompt"), "--task", TASK, "--skill", str(_damaged_results(a, t)),
                      "--size", "4", "--out", str(t / "ablation.zarr")],
        r"results\.zarr is damaged: 'toy_sentiment_movies/skill/score' has chunk files missing"),
    "plot a missing results store": Case(lambda a, t: ["plot", str(t / "none.zarr"), "--out", str(t / "figures")],
                                         r"no results store at"),
    "transfer onto an existing table": Case(
        lambda a, t: ["transfer", "--prompts", str(a / "prompt"), "--tasks", TASK, "--out", str(t / "tr.zarr"),
                      "--table", str(_file(a, t, "tr.csv"))], r"tr\.csv exists"),
    "transfer with a broken prompt": Case(
        lambda a, t: ["transfer", "--prompts", str(_checkpoint(a, t, metadata="{}")), "--tasks", TASK,
                      "--out", str(t / "tr.zarr")], r"prompt\.json lacks model_id"),
}


def _tensor(value: torch.Tensor) -> bytes:
    from safetensors.torch import save

    return save({"prompt": value})


def _other_task_store(assets, tmp) -> Path:
    path = tmp / "nli.zarr"
    write_store(make_store(5, task="toy_nli", model_id="other", weights="w" * 64), path)
    return path


def _damaged_results(assets, tmp) -> Path:
    results = _copy(assets, tmp, "results.zarr")
    next(path for path in (results / "toy_sentiment_movies" / "skill" / "score").rglob("*")
         if path.is_file() and path.name != "zarr.json").unlink()
    return results


def _incomplete(assets, tmp) -> Path:
    store = _copy(assets, tmp, "dev.zarr")
    group = zarr.open_group(store, mode="r+")
    group.attrs["complete"] = False
    (store / "_neurokit_progress").mkdir()
    return store


def _broken_metadata(assets, tmp) -> Path:
    store = _copy(assets, tmp, "dev.zarr")
    (store / "zarr.json").write_text("{ not json")
    return store


@contextlib.contextmanager
def _mounted(folder: Path, kind: str | None):
    """``folder`` as a small tmpfs (64 kB, or read-only) for the case; skips where mounting is not allowed."""
    if kind is None:
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    options = "size=64k" if kind == "full" else "ro,size=64k"
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                             check=False)
    if mounted.returncode:
        pytest.skip("could not mount a tmpfs")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(case, assets, tmp_path, capsys):
    spec = CASES[case]
    workspace = tmp_path / "case"
    workspace.mkdir()
    with _mounted(workspace / "mount", spec.mount):
        argv = spec.argv(assets, workspace)
        before = _tree(workspace, assets)
        capsys.readouterr()
        code = main(argv)
        captured = capsys.readouterr()
        after = _tree(workspace, assets)
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 2, captured.err
    assert len(lines) == 1 and lines[0].startswith("neurokit: error: "), captured.err
    assert "Traceback" not in captured.err
    assert re.search(spec.message, lines[0]), lines[0]
    assert after == before, sorted(set(after) ^ set(before)) or "a file changed"


def test_the_suite_covers_at_least_forty_distinct_inputs():
    assert len(CASES) >= 40
    assert len({case.message for case in CASES.values()}) >= 35  # distinct failures, not one failure many times


def test_a_nan_free_store_still_analyses(assets, tmp_path):
    """The checks on read refuse only damage: the intact stores analyse, and agree with a second reading."""
    out = tmp_path / "again.zarr"
    assert main(_analyze(assets / "train.zarr", assets / "dev.zarr", out)) == 0
    first = zarr.open_group(assets / "results.zarr", mode="r")
    second = zarr.open_group(out, mode="r")
    np.testing.assert_array_equal(first["toy_sentiment_movies/skill/score"][...],
                                  second["toy_sentiment_movies/skill/score"][...])
