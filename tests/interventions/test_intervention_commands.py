"""``neurokit ablate`` and ``neurokit transfer`` end to end on the embedded MiniLM, and their one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
from prompted_models import MOVIES, PRODUCTS, PROMPT_LENGTH, save_prompt

from neurokit.analysis import load_results, save_results
from neurokit.cli import main
from neurokit.interventions import SkillAblation
from neurokit.models import capture_activations, load_backbone
from neurokit.prompts import EncodedSplit
from neurokit.tasks import load_split

FRACTIONS = ["0", "0.1", "0.3"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The embedded backbone, a prompt per sentiment task, a skill results store and a train store."""
    folder = tmp_path_factory.mktemp("cli")
    backbone = load_backbone()
    movies = save_prompt(backbone, MOVIES, folder / "movies", seed=1)
    products = save_prompt(backbone, PRODUCTS, folder / "products", seed=2)
    sites = backbone.sites()
    layers = [site.layer for site in sites]
    score = xr.DataArray(np.random.default_rng(0).random((1, len(sites), sites[0].width)),
                         dims=("subtask", "layer", "neuron"),
                         coords={"subtask": ["positive-vs-negative"], "layer": layers,
                                 "site": ("layer", [site.name for site in sites])})
    skill = xr.Dataset({"score": score},
                       attrs={"model_id": backbone.model_id, "weights_sha256": backbone.weights_sha256,
                              "selection": "per-layer"})
    save_results({f"{MOVIES.name}/skill": skill}, folder / "results.zarr")
    train_store, train_mean = _write_train_store(backbone, movies, folder / "train.zarr")
    return {"backbone": backbone, "movies": movies, "products": products, "results": folder / "results.zarr",
            "score": score, "train_store": train_store, "train_mean": train_mean, "folder": folder}


def _write_train_store(backbone, checkpoint, path):
    """A train store of the prompt's activations at its positions, written by the extraction stage's writer;
    returns its path and the train mean computed here."""
    from neurokit.extract import ActivationStoreWriter, Provenance, StoreSpec

    prompt = checkpoint.soft_prompt(backbone)
    dataset = load_split(MOVIES, "train", size=12)
    split = EncodedSplit(backbone, MOVIES, dataset, 128)
    sites = backbone.sites()
    with torch.no_grad(), capture_activations(backbone.model, sites) as captured:
        batch = next(split.batches(len(split)))
        logits = backbone.class_scores(prompt(), batch.input_ids, batch.attention_mask,
                                       backbone.verbalizer(MOVIES.label_words))
        activation = torch.stack([captured[site.name][:, :PROMPT_LENGTH] for site in sites], dim=1).numpy()
    provenance = Provenance(
        model_id=backbone.model_id, model_revision="embedded", weights_sha256=backbone.weights_sha256,
        model_config={}, prompt_sha256=checkpoint.sha256, prompt_metadata={},
        task={"name": MOVIES.name, "label_names": list(MOVIES.label_names)}, template=MOVIES.template,
        verbalizer={}, split="train", dtype_policy="float32 for tests", prompt_layout="prepend")
    spec = StoreSpec(example_ids=list(dataset["id"]), class_names=list(MOVIES.label_names),
                     sites=[site.name for site in sites], layers=[site.layer for site in sites],
                     position_roles=["mask", *(f"prompt_{k}" for k in range(PROMPT_LENGTH - 1))],
                     n_neurons=sites[0].width, stored_dtype="float32", provenance=provenance,
                     store_raw_activations=False, compute_train_stats=True, block_size=8)
    with ActivationStoreWriter.create_or_resume(path, spec) as writer:
        for block in writer.pending_blocks():
            rows = spec.block_slice(block)
            writer.write_block(block, activation[rows], label=np.asarray(dataset["label"])[rows],
                               prediction=logits.argmax(1).numpy()[rows], logits=logits.numpy()[rows],
                               input_length=batch.attention_mask.sum(1).numpy()[rows])
        assert writer.finalize()
    mean = xr.DataArray(activation.astype(np.float64).mean(axis=0), dims=("layer", "position", "neuron"),
                        coords={"layer": [site.layer for site in sites]})
    return str(path), mean


def _ablate_args(setup, out, *extra):
    return ["ablate", "--prompt", str(setup["movies"].path), "--task", MOVIES.name, "--size", "10",
            "--skill", str(setup["results"]), "--fractions", *FRACTIONS, "--draws", "2", "--max-length", "48",
            "--out", str(out), *extra]


@pytest.mark.parametrize("method", ["zero", "mean"])
def test_ablate_writes_a_results_store_and_a_table(setup, tmp_path, method, capsys):
    out = tmp_path / "ablation.zarr"
    extra = ["--method", method] + (["--train-store", setup["train_store"]] if method == "mean" else [])
    assert main(_ablate_args(setup, out, *extra)) == 0
    assert "reference accuracy" in capsys.readouterr().out
    tree = load_results(out)
    result = tree[f"{MOVIES.name}/ablation"].to_dataset().load()
    assert result["accuracy"].dims == ("selection", "fraction", "draw")
    assert result.attrs["method"] == method and json.loads(tree.attrs["settings"])["draws"] == 2
    # The same numbers from the Python API, with the train means computed in the test.
    backbone = setup["backbone"]
    split = EncodedSplit(backbone, MOVIES, load_split(MOVIES, "test", size=10), 48)
    values = setup["train_mean"] if method == "mean" else None
    expected = SkillAblation(method=method, fractions=[float(f) for f in FRACTIONS], draws=2, progress=False).fit(
        backbone, setup["movies"].soft_prompt(backbone), backbone.verbalizer(MOVIES.label_words), split,
        values).score(setup["score"])
    np.testing.assert_array_equal(result["accuracy"].values, expected["accuracy"].values)
    table = pd.read_csv(tmp_path / "ablation.csv")
    assert len(table) == 2 * len(FRACTIONS) * 2
    assert {"method", "selection", "fraction", "draw", "accuracy", "accuracy_drop", "n_perturbed",
            "reference_accuracy"} <= set(table.columns)
    assert table.loc[table["fraction"] == 0.1, "n_perturbed"].eq(6 * 153).all()


def test_transfer_writes_the_matrix_and_a_table(setup, tmp_path):
    out, table = tmp_path / "transfer.zarr", tmp_path / "transfer-table.csv"
    prompts = [str(setup["movies"].path), str(setup["products"].path)]
    code = main(["transfer", "--prompts", *prompts, "--tasks", MOVIES.name, PRODUCTS.name, "toy_topic",
                 "--label-map", f"{MOVIES.name}:toy_topic:negative=business,positive=sports",
                 "--label-map", f"{PRODUCTS.name}:toy_topic:negative=politics,positive=science",
                 "--size", "8", "--out", str(out), "--table", str(table)])
    assert code == 0
    tree = load_results(out)
    result = tree["transfer/prompts"].to_dataset().load()
    assert result["relative"].sel(source=prompts[0], target=MOVIES.name).item() == 1.0
    assert result["relative"].sel(source=prompts[1], target=PRODUCTS.name).item() == 1.0
    assert np.isnan(result["own_accuracy"].sel(target="toy_topic").item())
    assert tree["transfer/source_tasks"].to_dataset()["relative"].dims == ("source_task", "target")
    rows = pd.read_csv(table)
    assert len(rows) == 6 and list(rows.columns) == ["source", "source_task", "target", "accuracy", "own_accuracy",
                                                     "relative"]


@pytest.mark.parametrize("arguments, message", [
    (["--method", "mean"], "--method mean needs --train-store"),
    (["--method", "zero", "--task", "no_such_task"], "unknown task 'no_such_task'"),
    (["--skill", "/nonexistent/results.zarr"], "no skill-neuron results or mask"),
    (["--skill-group", "other/skill"], "has no group 'other/skill'"),
    (["--fractions", "1.5"], "fractions must be"),
    (["--draws", "0"], "--draws must be at least 1"),
    (["--model", "random-bert"], "cannot load model"),
])
def test_ablate_user_errors_are_one_line(setup, tmp_path, capsys, arguments, message):
    code = main(_ablate_args(setup, tmp_path / "out.zarr") + arguments)
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_ablate_refuses_skill_neurons_or_train_means_of_another_model_or_prompt(setup, tmp_path, capsys):
    np.save(tmp_path / "mask.npy", np.random.default_rng(0).random((2, 64)))  # scores of another model
    assert main(_ablate_args(setup, tmp_path / "a.zarr") + ["--skill", str(tmp_path / "mask.npy")]) == 2
    assert "64 neurons per layer" in capsys.readouterr().err
    other = str(setup["products"].path)
    args = _ablate_args(setup, tmp_path / "b.zarr", "--method", "mean", "--train-store", setup["train_store"])
    args[args.index("--prompt") + 1] = other
    assert main(args) == 2
    assert "extracted with another prompt" in capsys.readouterr().err
    (tmp_path / "c.zarr").mkdir()
    assert main(_ablate_args(setup, tmp_path / "c.zarr")) == 2
    assert "exists" in capsys.readouterr().err


def test_transfer_user_errors_are_one_line(setup, tmp_path, capsys):
    base = ["transfer", "--prompts", str(setup["movies"].path), "--size", "4", "--out", str(tmp_path / "t.zarr")]
    for arguments, message in [
        (["--tasks", "toy_topic"], "without a label map toy_sentiment_movies->toy_topic"),
        (["--tasks", "toy_topic", "--label-map", "toy_sentiment_movies:toy_topic"], "is not SOURCE:TARGET"),
        (["--tasks", "toy_topic", "--label-map", f"{MOVIES.name}:toy_topic:negative=sports"], "leaves class"),
    ]:
        assert main(base + arguments) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
