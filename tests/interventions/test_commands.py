"""``neurokit ablate``, ``neurokit ablate-matrix`` and ``neurokit transfer`` end to end on the embedded MiniLM, and
their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurokit.analysis import load_results, save_results
from neurokit.cli import main
from neurokit.extract import open_run
from neurokit.interventions import (
    SkillAblationExperiment,
    ablation_effects,
    train_activations,
)
from neurokit.models import load_backbone
from neurokit.prompts import EncodedSplit
from neurokit.tasks import load_split
from tests.helpers.prompted_models import (
    MOVIES,
    PRODUCTS,
    save_prompt,
    write_train_store,
)

# Over the fast tier's budget (CONTRIBUTING.md): the intervention commands end to end on tiny models.
pytestmark = pytest.mark.slow

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
    products_skill = skill.copy(data={"score": np.random.default_rng(1).random(score.shape)})
    save_results({f"{MOVIES.name}/skill": skill, f"{PRODUCTS.name}/skill": products_skill},
                 folder / "both.zarr")
    train_store, train_mean = write_train_store(backbone, movies, folder / "train.zarr")
    raw_store, _ = write_train_store(backbone, movies, folder / "train-raw.zarr", raw=True)
    return {"backbone": backbone, "movies": movies, "products": products, "results": folder / "results.zarr",
            "both": folder / "both.zarr", "score": score, "products_score": products_skill["score"],
            "train_store": train_store, "train_mean": train_mean, "raw_store": raw_store, "folder": folder}




def _ablate_args(setup, out, *extra):
    return ["ablate", "--prompt", str(setup["movies"].path), "--task", MOVIES.name, "--size", "10",
            "--skill", str(setup["results"]), "--fractions", *FRACTIONS, "--draws", "2", "--max-length", "48",
            "--n-boot", "200", "--n-permutations", "200", "--out", str(out), *extra]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "positions", "per_position"), [
    ("zero", "all", False), ("zero", "prompt", False), ("mean", "all", False), ("mean", "prompt", True),
    ("resample", "input", False)])
def test_ablate_writes_a_results_store_and_a_table(setup, tmp_path, method, positions, per_position, capsys):
    out = tmp_path / "ablation.zarr"
    store = {"mean": setup["train_store"], "resample": setup["raw_store"]}.get(method)
    extra = ["--method", method, "--positions", positions, "--no-progress"] + (
        ["--train-store", store] if store else []) + (["--per-position"] if per_position else [])
    # the train means (a dask reduction over the train store) on a scheduler the user chose
    extra += ["--scheduler", "synchronous"] if method == "mean" else []
    extra += ["--resampling", "examples"] if method == "zero" else []
    assert main(_ablate_args(setup, out, *extra)) == 0
    printed = capsys.readouterr().out
    assert "reference accuracy" in printed and "skill − random drop" in printed and "one-sided p =" in printed
    tree = load_results(out)
    result = tree[f"{MOVIES.name}/ablation"].to_dataset().load()
    assert result["accuracy"].dims == ("selection", "fraction", "draw")
    assert result.attrs["method"] == method and result.attrs["positions"] == positions
    settings = json.loads(tree.attrs["settings"])
    assert settings["draws"] == 2 and settings["positions"] == positions and settings["per_position"] == per_position
    # The same numbers from the Python API, with the train means computed in the test.
    backbone = setup["backbone"]
    split = EncodedSplit(backbone, MOVIES, load_split(MOVIES, "test", size=10), 48)
    means = setup["train_mean"] if per_position else setup["train_mean"].mean("position")
    values = {"mean": means, "resample": train_activations(open_run(setup["raw_store"]))}.get(method)
    expected = SkillAblationExperiment(method=method, positions=positions, fractions=[float(f) for f in FRACTIONS],
                                       draws=2, progress=False).prepare(
        backbone, setup["movies"].soft_prompt(backbone), backbone.verbalizer(MOVIES.label_words), split,
        values).run(setup["score"])
    np.testing.assert_array_equal(result["accuracy"].values, expected["accuracy"].values)
    np.testing.assert_array_equal(result["correct"].values, expected["correct"].values)
    resampling = "examples" if method == "zero" else "examples-and-draws"
    statistics = ablation_effects(expected, n_boot=200, n_permutations=200, seed=0, resampling=resampling)
    xr.testing.assert_equal(result[list(statistics.data_vars)], statistics)
    assert json.loads(result.attrs["effect_statistics"])["resampling"] == resampling
    table = pd.read_csv(tmp_path / "ablation.csv")
    assert len(table) == 2 * len(FRACTIONS) * 2
    assert {"method", "positions", "selection", "fraction", "draw", "accuracy", "accuracy_drop", "n_perturbed",
            "reference_accuracy", "accuracy_lower", "accuracy_upper", "effect", "effect_lower", "effect_upper",
            "p_value"} <= set(table.columns)
    assert table.loc[table["fraction"] == 0.1, "n_perturbed"].eq(6 * 153).all()
    row = table[(table["selection"] == "random") & (table["fraction"] == 0.3)].iloc[0]
    assert row["p_value"] == float(statistics["p_value"].sel(fraction=0.3))
    assert row["effect_lower"] == float(statistics["effect_interval"].sel(fraction=0.3, bound="lower"))
    assert row["accuracy_upper"] == float(statistics["accuracy_interval"].sel(selection="random", fraction=0.3,
                                                                               bound="upper"))


def test_ablate_resample_refuses_a_train_store_without_raw_activations(setup, tmp_path, capsys):
    args = _ablate_args(setup, tmp_path / "r.zarr", "--method", "resample", "--train-store", setup["train_store"])
    assert main(args) == 2
    assert "raw activations" in capsys.readouterr().err and not (tmp_path / "r.zarr").exists()


def _matrix_args(setup, out, *extra):
    return ["ablate-matrix", "--tasks", MOVIES.name, PRODUCTS.name, "--prompts", str(setup["movies"].path),
            str(setup["products"].path), "--skill", str(setup["both"]), "--size", "6", "--fractions", "0", "0.3",
            "--draws", "1", "--max-length", "48", "--out", str(out), *extra]


@pytest.mark.slow
def test_ablate_matrix_writes_the_matrix_and_a_table(setup, tmp_path, capsys):
    out = tmp_path / "matrix.zarr"
    assert main(_matrix_args(setup, out, "--method", "zero", "--no-progress")) == 0
    assert "cross_task/ablation" in capsys.readouterr().out
    tree = load_results(out)
    result = tree["cross_task/ablation"].to_dataset().load()
    assert result["accuracy"].dims == ("source_task", "target_task", "selection", "fraction", "draw")
    assert result["accuracy"].shape == (2, 2, 2, 2, 1)
    assert result["n_same_type"].values.tolist() == [1, 1] and result["n_other_type"].values.tolist() == [0, 0]
    assert json.loads(tree.attrs["settings"])["tasks"] == [MOVIES.name, PRODUCTS.name]
    # The diagonal is `neurokit ablate`'s single-task result (here from the Python API).
    backbone = setup["backbone"]
    split = EncodedSplit(backbone, PRODUCTS, load_split(PRODUCTS, "test", size=6), 48)
    single = SkillAblationExperiment(method="zero", fractions=(0.0, 0.3), draws=1, progress=False).prepare(
        backbone, setup["products"].soft_prompt(backbone), backbone.verbalizer(PRODUCTS.label_words), split
    ).run(setup["products_score"])
    np.testing.assert_array_equal(
        result["accuracy"].sel(source_task=PRODUCTS.name, target_task=PRODUCTS.name).values,
        single["accuracy"].values)
    table = pd.read_csv(tmp_path / "matrix.csv")
    assert len(table) == 2 * 2 * 2 * 2 * 1
    assert list(table.columns[:4]) == ["method", "positions", "source_task", "target_task"]
    assert "reference_accuracy" in table.columns


def test_ablate_matrix_user_errors_are_one_line(setup, tmp_path, capsys):
    for arguments, message in [
        (["--prompts", str(setup["movies"].path)], "--prompts needs one entry per task"),
        (["--prompts", str(setup["products"].path), str(setup["movies"].path)], "was tuned on"),
        (["--skill", str(setup["results"])], "has no group 'toy_sentiment_products/skill'"),
        (["--method", "mean"], "--method mean needs --train-stores"),
        (["--method", "mean", "--train-stores", setup["train_store"]], "--train-stores needs one entry per task"),
    ]:
        args = _matrix_args(setup, tmp_path / "m.zarr")
        for option in ("--prompts", "--skill"):
            if option in arguments:  # replace the default's values
                start = args.index(option)
                end = start + 1
                while end < len(args) and not args[end].startswith("--"):
                    end += 1
                del args[start:end]
        assert main(args + arguments) == 2, message
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
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
                                                     "relative", "n_correct", "n_examples", "chance", "p_value",
                                                     "p_adjusted"]
    by_cell = rows.set_index(["source", "target"])
    assert by_cell.loc[(prompts[0], "toy_topic"), "chance"] == 0.25
    assert by_cell.loc[(prompts[1], PRODUCTS.name), "p_value"] == result["p_value"].sel(
        source=prompts[1], target=PRODUCTS.name).item()


def _plotted(results: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The files `neurokit plot` draws from ``results`` (PNG only), by name."""
    assert main(["plot", str(results), "--out", str(folder), "--formats", "png"]) == 0
    written = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert all(path.stat().st_size > 0 for path in written)
    return sorted(path.name for path in written)


def test_plot_draws_what_ablate_writes(setup: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ablation.zarr"
    assert main(_ablate_args(setup, out, "--method", "zero", "--no-progress")) == 0
    capsys.readouterr()
    assert _plotted(out, tmp_path / "figures", capsys) == [f"{MOVIES.name}__ablation_curve.png"]


def test_plot_draws_what_transfer_writes(setup: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "transfer.zarr"
    assert main(["transfer", "--prompts", str(setup["movies"].path), str(setup["products"].path), "--tasks",
                 MOVIES.name, PRODUCTS.name, "--size", "8", "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    assert _plotted(out, tmp_path / "figures", capsys) == ["transfer__transfer_heatmap.png"]


@pytest.mark.parametrize("arguments, message", [
    (["--method", "mean"], "--method mean needs --train-store"),
    (["--method", "resample"], "--method resample needs --train-store"),
    (["--method", "zero", "--per-position"], "--per-position needs"),
    (["--method", "zero", "--task", "no_such_task"], "unknown task 'no_such_task'"),
    (["--skill", "/nonexistent/results.zarr"], "no skill-neuron results or mask"),
    (["--skill-group", "other/skill"], "has no group 'other/skill'"),
    (["--fractions", "1.5"], "fractions must be"),
    (["--draws", "0"], "--draws must be a positive integer, got 0"),
    (["--n-boot", "0"], "--n-boot must be a positive integer, got 0"),
    (["--confidence", "95"], "confidence must be in (0, 1)"),
    (["--scheduler", "cluster"], "--scheduler must be threads, processes, synchronous or the address"),
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


def test_the_command_line_choices_are_the_enums_values():
    """The parser lists the choices without importing torch; they must stay the enums' values."""
    from neurokit.interventions import AblationMethod, Resampling, commands

    assert commands._ABLATION_METHODS == tuple(member.value for member in AblationMethod)
    assert commands._RESAMPLINGS == tuple(member.value for member in Resampling)


# ----- prune ---------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_prune_writes_a_smaller_model_folder_with_its_prompt(setup, tmp_path, capsys):
    from neurokit.interventions.prune import PRUNING_FILE
    from neurokit.prompts import PromptCheckpoint

    out = tmp_path / "pruned"
    assert main(["prune", "--prompt", str(setup["movies"].path), "--skill", str(setup["results"]),
                 "--train-store", setup["train_store"], "--fraction", "0.02", "--out", str(out)]) == 0
    assert "parameters" in capsys.readouterr().out
    backbone = setup["backbone"]
    pruned = load_backbone(str(out))
    width = backbone.sites()[0].width
    assert [site.width for site in pruned.sites()] == [width] + [int(0.02 * width)] * 5  # layers 1-5 of 6
    record = json.loads((out / PRUNING_FILE).read_text())
    assert record["settings"]["layers"] == [1, 2, 3, 4, 5] and record["weights_sha256"] == pruned.weights_sha256
    # The bias of a pruned layer holds the removed neurons' store means (averaged over the prompt positions),
    # computed here from the fixture's own train mean.
    layer = 3
    keep = np.zeros(width, dtype=bool)
    keep[record["kept_neurons"][f"encoder.layer.{layer}.ffn"]] = True
    means = setup["train_mean"].sel(layer=layer).mean("position").values
    original = backbone.model.encoder.layer[layer].output.dense
    expected = original.bias.double().numpy() + original.weight.double().numpy()[:, ~keep] @ means[~keep]
    np.testing.assert_allclose(pruned.model.encoder.layer[layer].output.dense.bias.double().numpy(), expected,
                               atol=1e-5)
    prompt = PromptCheckpoint.from_pretrained(out / "prompt")
    assert prompt.metadata.weights_sha256 == pruned.weights_sha256
    prompt.soft_prompt(pruned)  # accepted by the pruned model without allow_other_model


@pytest.mark.parametrize("extra, message", [
    (["--layers", "2-9"], "cannot prune layer 6"),
    (["--layers", "x"], "FIRST-LAST"),
    (["--fraction", "2"], "fraction"),
])
def test_prune_errors_are_one_line(setup, tmp_path, capsys, extra, message):
    out = tmp_path / "pruned"
    assert main(["prune", "--prompt", str(setup["movies"].path), "--skill", str(setup["results"]),
                 "--train-store", setup["train_store"], "--out", str(out), *extra]) == 2
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert error.splitlines()[-1].startswith("neurokit: error:") and message in error.splitlines()[-1]
    assert not out.exists() and not list(tmp_path.glob(".pruned*"))
