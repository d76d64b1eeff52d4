"""Results stores, tidy tables and the ``neurokit analyze`` command on Zarr stores."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurokit.analysis import (
    SkillNeurons,
    load_results,
    save_results,
    tidy_table,
    write_tables,
)
from neurokit.analysis.commands import register
from neurokit.errors import NeurokitError
from tests.helpers.synthetic_stores import THREE_WAY, make_store, write_store

# Over the fast tier's budget (CONTRIBUTING.md): `neurokit analyze`/`report` end to end through the CLI.
pytestmark = pytest.mark.slow


def _analyze(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["analyze", *argv])
    return args.handler(args)


@pytest.fixture
def stores(tmp_path):
    labels = np.random.default_rng(0).integers(0, 2, 40)
    adversarial_labels = np.random.default_rng(1).integers(0, 2, 30)
    paths = {"train": [], "eval": [], "adversarial": [], "null": []}
    for index, prompt in enumerate(["p1", "p2"]):
        paths["train"].append(write_store(make_store(index, split="train", prompt=prompt, n_examples=50),
                                     tmp_path / f"train-{prompt}.zarr", raw=False))
        paths["eval"].append(write_store(make_store(10 + index, prompt=prompt, labels=labels),
                                    tmp_path / f"dev-{prompt}.zarr"))
        paths["adversarial"].append(write_store(make_store(20 + index, prompt=prompt, split="test", n_examples=30,
                                                      labels=adversarial_labels, task="adv_sst2",
                                                      adversarial_of="sst2"), tmp_path / f"adv-{prompt}.zarr"))
    paths["train"].append(write_store(make_store(3, split="train", task="mnli", label_names=THREE_WAY, n_examples=60),
                                 tmp_path / "train-mnli.zarr"))
    paths["eval"].append(write_store(make_store(13, task="mnli", label_names=THREE_WAY), tmp_path / "dev-mnli.zarr"))
    paths["null"] = [
        write_store(make_store(4, split="train", prompt="random"), tmp_path / "null-train.zarr"),
        write_store(make_store(14, prompt="random"), tmp_path / "null-dev.zarr"),
    ]
    return paths


@pytest.mark.slow
def test_analyze_writes_results_and_tables(stores, tmp_path, capsys):
    out, tables = tmp_path / "results.zarr", tmp_path / "tables"
    code = _analyze(["--train", *stores["train"], "--eval", *stores["eval"], "--adversarial", *stores["adversarial"],
                     "--null", *stores["null"], "--out", str(out), "--tables", str(tables), "--auroc",
                     "--permutations", "9", "--bootstrap", "9", "--fraction", "0.25", "--no-progress"])
    assert code == 0
    assert "task/s" not in capsys.readouterr().err  # --no-progress: no bar
    tree = load_results(out)
    groups = {node.path for node in tree.subtree}
    for group in ["/sst2/skill", "/sst2/control", "/sst2/prompt_agreement", "/sst2/clean_vs_adversarial",
                  "/sst2/null", "/sst2/auroc", "/sst2/permutation", "/sst2/bootstrap", "/mnli/skill",
                  "/tasks/selectivity", "/tasks/agreement", "/sst2/adversarial_accuracy"]:
        assert group in groups
    assert "command" in tree.attrs and "versions" in tree.attrs
    # the stored scores are those of the library on the same stores
    train = xr.open_zarr(stores["train"][0], consolidated=False)
    data = xr.open_zarr(stores["eval"][0], consolidated=False)
    single = SkillNeurons(fractions=[0.0]).fit(train).score(data)["score"]
    np.testing.assert_allclose(tree["sst2/skill"]["run_score"].isel(run=0).values, single.values)
    assert tree["tasks/agreement"]["jaccard"].dims == ("task", "other_task")
    # the 3-way task gets Wang et al.'s balanced sub-tasks (its train store keeps raw activations: exact subset)
    assert tree["mnli/skill"].attrs["subtask_scheme"] == "balanced"
    assert tree["mnli/skill"].attrs["baseline"] == "balanced-subset"
    assert tree["sst2/skill"].attrs["subtask_scheme"] == "all-examples"
    table = pd.read_csv(tables / "sst2__clean_vs_adversarial__excess_overlap.csv")
    assert list(table.columns) == ["run", "prompt", "excess_overlap"] and len(table) == 2
    assert (tables / "sst2__clean_vs_adversarial__excess_overlap.tex").exists()
    assert not list(tables.glob(".*partial*"))


def test_analyze_refuses_existing_output_and_mismatched_stores(stores, tmp_path):
    out = tmp_path / "results.zarr"
    out.mkdir()
    with pytest.raises(NeurokitError, match="exists"):
        _analyze(["--train", stores["train"][0], "--eval", stores["eval"][0], "--out", str(out)])
    with pytest.raises(NeurokitError, match="no train store for task 'mnli'"):
        _analyze(["--train", stores["train"][0], "--eval", stores["eval"][-1], "--out", str(tmp_path / "r.zarr")])
    assert not (tmp_path / "r.zarr").exists()


def test_cli_reports_refusal_in_one_line(stores, tmp_path, capsys):
    from neurokit.cli import main

    other_model = write_store(make_store(7, model_id="other-lm", prompt="p1"), tmp_path / "other-model.zarr")
    cases = [(stores["eval"][0], stores["eval"][0], "split 'dev'"),
             (stores["train"][0], other_model, "different models")]
    for train, data, reason in cases:
        code = main(["analyze", "--train", train, "--eval", data, "--out", str(tmp_path / "r.zarr")])
        assert code == 2
        message = capsys.readouterr().err.strip()
        assert message.startswith("neurokit: error:") and reason in message and "\n" not in message
    assert not (tmp_path / "r.zarr").exists()


def test_save_and_load_round_trip(tmp_path):
    result = xr.Dataset({"score": (("subtask", "neuron"), np.arange(6.0).reshape(2, 3))},
                        coords={"subtask": ["a-vs-b", "c-vs-rest"]}, attrs={"task": '{"name": "x"}'})
    path = save_results({"x/skill": result.chunk()}, tmp_path / "r.zarr", attrs={"note": "test"})
    back = load_results(path)
    xr.testing.assert_identical(back["x/skill"].to_dataset().compute(), result.astype({"score": float}).assign_coords(
        subtask=result.subtask.astype(object)))
    assert back.attrs["note"] == "test"
    save_results({"x/skill": result}, path, overwrite=True)


def test_tidy_table_and_latex(tmp_path):
    values = xr.DataArray([[0.5, np.nan]], dims=("layer", "neuron"), coords={"layer": [3]}, name="score")
    table = tidy_table(values)
    assert list(table.columns) == ["layer", "neuron", "score"] and len(table) == 2
    files = write_tables({"t/skill": values.to_dataset()}, tmp_path, latex_max_rows=1)
    assert [path.name for path in files] == ["t__skill__score.csv"]
    files = write_tables({"t/skill": values.to_dataset()}, tmp_path)
    assert "--" in files[1].read_text()


@pytest.mark.parametrize("other", [{"model_id": "other-lm", "n_layers": 3}, {"weights": "x" * 64}],
                         ids=["different-layer-count", "same-shape-other-weights"])
def test_tasks_of_different_models_are_refused(tmp_path, capsys, other):
    """Task agreement and selectivity relate neurons by index: across two models they mean nothing."""
    from neurokit.analysis import analyze_stores, stack_scores
    from neurokit.cli import main

    train = [write_store(make_store(1, split="train"), tmp_path / "train-sst2.zarr"),
             write_store(make_store(2, split="train", task="imdb", **other), tmp_path / "train-imdb.zarr")]
    data = [write_store(make_store(3), tmp_path / "dev-sst2.zarr"),
            write_store(make_store(4, task="imdb", **other), tmp_path / "dev-imdb.zarr")]
    code = main(["analyze", "--train", *train, "--eval", *data, "--out", str(tmp_path / "r.zarr"), "--no-progress"])
    message = capsys.readouterr().err.strip()
    assert code == 2 and "different models" in message and "\n" not in message
    assert not (tmp_path / "r.zarr").exists()
    with pytest.raises(NeurokitError, match="different models"):
        analyze_stores(train, data)
    # the library's comparison functions refuse score Datasets of different models too
    scores = {task: SkillNeurons().fit(xr.open_zarr(t, consolidated=False)).score(xr.open_zarr(d, consolidated=False))
              for task, t, d in zip(["sst2", "imdb"], train, data, strict=True)}
    with pytest.raises(NeurokitError, match="different models"):
        stack_scores(scores)


@pytest.mark.slow
def test_subtask_scheme_flag(stores, tmp_path, capsys):
    from neurokit.cli import main

    out = tmp_path / "all.zarr"
    assert _analyze(["--train", stores["train"][-1], "--eval", stores["eval"][-1], "--out", str(out),
                     "--subtask-scheme", "all-examples", "--no-progress"]) == 0
    skill = load_results(out)["mnli/skill"]
    assert skill.attrs["subtask_scheme"] == "all-examples" and skill.attrs["baseline"] == "pooled"
    assert '"subtask_scheme": "all-examples"' in load_results(out).attrs["settings"]
    code = main(["analyze", "--train", stores["train"][0], "--eval", stores["eval"][0], "--out",
                 str(tmp_path / "r.zarr"), "--subtask-scheme", "balanced"])
    message = capsys.readouterr().err.strip()
    assert code == 2 and "use scheme 'all-examples'" in message and "\n" not in message
    assert not (tmp_path / "r.zarr").exists()
