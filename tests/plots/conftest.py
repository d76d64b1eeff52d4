"""Analysis results to draw: computed in memory from the analysis tests' synthetic stores, and a results store
written by ``neurokit analyze`` from real (small) extraction stores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.helpers import synthetic_stores as helpers

N_LAYERS, N_NEURONS, PROMPTS = 3, 40, ("prompt-one", "prompt-two")


def _runs(seed: int, split: str, n_examples: int, labels=None, **kwargs) -> xr.Dataset:
    stores = [helpers.make_store(seed + index, split=split, prompt=prompt, n_examples=n_examples, labels=labels,
                                 n_layers=N_LAYERS, n_neurons=N_NEURONS, statistics=split == "train", **kwargs)
              for index, prompt in enumerate(PROMPTS)]
    return helpers.combine_runs(stores)


@pytest.fixture(scope="session")
def results() -> dict[str, xr.Dataset]:
    """Every result ``neurokit analyze`` writes that a figure draws, as in-memory Datasets keyed like the store's
    groups: a binary task with two prompts, adversarial data and an untuned prompt; a 3-way task; both tasks."""
    import neurokit.analysis as na

    labels = np.random.default_rng(5).integers(0, 2, 48)
    model = na.SkillNeurons().fit(_runs(0, "train", 60))
    skill = model.score(_runs(10, "dev", 48, labels=labels)).compute()
    attacked = model.score(_runs(20, "adversarial", 36)).compute()
    null_train = helpers.make_store(30, split="train", prompt="random", n_layers=N_LAYERS, n_neurons=N_NEURONS,
                                    statistics=True)
    null_eval = helpers.make_store(31, prompt="random", n_layers=N_LAYERS, n_neurons=N_NEURONS)
    untuned = na.SkillNeurons().fit(null_train).score(null_eval)
    three_way = dict(label_names=helpers.THREE_WAY, task="mnli", n_layers=N_LAYERS, n_neurons=N_NEURONS)
    mnli_model = na.SkillNeurons().fit(helpers.make_store(40, split="train", statistics=True, **three_way))
    mnli = mnli_model.score(helpers.make_store(41, **three_way)).compute()
    scores = na.stack_scores({"sst2": skill["score"], "mnli": mnli["score"]})
    found = {
        "sst2/skill": skill,
        "sst2/adversarial_skill": attacked,
        "sst2/prompt_agreement": na.pairwise_agreement(skill["run_score"], dim="run", fraction=0.1),
        "sst2/clean_vs_adversarial": na.clean_vs_adversarial(skill["run_score"], attacked["run_score"]),
        "sst2/null": na.null_comparison(skill["score"], untuned["score"]),
        "mnli/skill": mnli,
        "tasks/agreement": na.pairwise_agreement(scores, dim="task", fraction=0.1),
    }
    return {name: ds.compute() for name, ds in found.items()}


@pytest.fixture(scope="session")
def results_store(tmp_path_factory) -> Path:
    """A results store written by ``neurokit analyze`` (the CLI) from small extraction stores of two tasks:
    sst2 with two prompts, adversarial data and an untuned prompt; mnli (3-way) with one prompt."""
    from neurokit.cli import main

    folder = tmp_path_factory.mktemp("analysis")
    shape = dict(n_layers=N_LAYERS, n_neurons=N_NEURONS)
    labels = np.random.default_rng(6).integers(0, 2, 40)
    adversarial_labels = np.random.default_rng(7).integers(0, 2, 30)
    stores: dict[str, list[str]] = {"train": [], "eval": [], "adversarial": [], "null": []}
    for index, prompt in enumerate(PROMPTS):
        stores["train"].append(helpers.write_store(
            helpers.make_store(index, split="train", prompt=prompt, n_examples=50, **shape),
            folder / f"train-{prompt}.zarr"))
        stores["eval"].append(helpers.write_store(helpers.make_store(10 + index, prompt=prompt, labels=labels, **shape),
                                           folder / f"dev-{prompt}.zarr"))
        stores["adversarial"].append(helpers.write_store(
            helpers.make_store(20 + index, prompt=prompt, split="adversarial", n_examples=30,
                               labels=adversarial_labels, **shape), folder / f"adv-{prompt}.zarr"))
    mnli = dict(task="mnli", label_names=helpers.THREE_WAY, **shape)
    stores["train"].append(helpers.write_store(helpers.make_store(3, split="train", n_examples=60, **mnli),
                                        folder / "train-mnli.zarr"))
    stores["eval"].append(helpers.write_store(helpers.make_store(13, **mnli), folder / "dev-mnli.zarr"))
    stores["null"] = [helpers.write_store(helpers.make_store(4, split="train", prompt="random", **shape),
                                   folder / "null-train.zarr"),
                      helpers.write_store(helpers.make_store(14, prompt="random", **shape), folder / "null-dev.zarr")]
    out = folder / "results.zarr"
    code = main(["analyze", "--train", *stores["train"], "--eval", *stores["eval"], "--adversarial",
                 *stores["adversarial"], "--null", *stores["null"], "--out", str(out), "--fraction", "0.1"])
    assert code == 0
    return out
