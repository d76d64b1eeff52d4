"""Cross-task perturbation: the task × task matrix on tiny tasks, its diagonal and its type summaries."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurokit.errors import ConfigError
from neurokit.interventions import (
    CrossTaskTarget,
    SkillAblationExperiment,
    ablation_effects,
    cross_task_ablation,
)
from neurokit.prompts import EncodedSplit, SoftPrompt
from neurokit.tasks import get_task, load_split
from tests.helpers.prompted_models import MOVIES, PRODUCTS, PROMPT_LENGTH, make_prompted

TOPIC = get_task("toy_topic")


@pytest.fixture(scope="module")
def tiny():
    """A tiny random BERT, one random prompt and 6 test examples per task, random scores per source task."""
    prompted = make_prompted("bert", size=6)
    targets = [CrossTaskTarget(task, SoftPrompt.initialise(prompted.backbone, PROMPT_LENGTH, "vocab", seed=seed),
                               EncodedSplit(prompted.backbone, task, load_split(task, "test", size=6), 24))
               for seed, task in enumerate((MOVIES, PRODUCTS, TOPIC))]
    skills = {target.task.name: prompted.scores(seed=seed) for seed, target in enumerate(targets)}
    return prompted, targets, skills


@pytest.mark.slow
def test_the_matrix_has_every_pair_and_its_diagonal_is_the_single_task_result(tiny):
    prompted, targets, skills = tiny
    settings = {"method": "noise", "noise_std": 3.0, "fractions": (0.0, 0.3), "draws": 2, "seed": 4,
                "batch_size": 4, "progress": False}
    matrix = cross_task_ablation(SkillAblationExperiment(**settings), prompted.backbone, skills, targets)
    names = [target.task.name for target in targets]
    assert matrix["accuracy"].dims == ("source_task", "target_task", "selection", "fraction", "draw")
    assert matrix["accuracy"].shape == (3, 3, 2, 2, 2)
    assert matrix["source_task"].values.tolist() == names == matrix["target_task"].values.tolist()
    assert matrix["target_type"].values.tolist() == ["sentiment", "sentiment", "topic"]
    assert matrix.attrs["method"] == "noise" and matrix.attrs["positions"] == "all"
    for source in (0, 2):
        target = targets[source]
        single = SkillAblationExperiment(**settings).prepare(prompted.backbone, target.prompt,
                                                             prompted.backbone.verbalizer(target.task.label_words),
                                                             target.split).run(skills[names[source]])
        pair = matrix.sel(source_task=names[source], target_task=names[source])
        for name in ("accuracy", "accuracy_drop"):
            xr.testing.assert_equal(pair[name].reset_coords(drop=True), single[name].reset_coords(drop=True))
        assert float(pair["reference_accuracy"]) == float(single["reference_accuracy"])
        # Each pair carries the single-task statistics of its skill-minus-random effect.
        effects = ablation_effects(single, seed=settings["seed"])
        for name in ("effect", "effect_interval", "p_value"):
            xr.testing.assert_equal(pair[name].reset_coords(drop=True), effects[name].reset_coords(drop=True))
    # Another source's neurons on the same target: the same reference, other skill sets.
    off = matrix.sel(source_task=names[2], target_task=names[0])
    assert float(off["reference_accuracy"]) == float(matrix["reference_accuracy"].sel(target_task=names[0]))


def test_type_summaries_average_the_right_sources():
    rng = np.random.default_rng(0)
    names, types = ["a", "b", "c", "d"], ["sentiment", "sentiment", "sentiment", "topic"]
    drop = rng.random((4, 4, 2, 3, 2))  # source, target, selection, fraction, draw
    from neurokit.interventions.cross_task import _type_summary

    matrix = xr.Dataset(
        {"accuracy_drop": (("source_task", "target_task", "selection", "fraction", "draw"), drop)},
        coords={"source_task": names, "target_task": names, "selection": ["skill", "random"],
                "source_type": ("source_task", types), "target_type": ("target_task", types)})
    summary = _type_summary(matrix)
    skill = drop[:, :, 0].mean(axis=-1)  # (source, target, fraction)
    np.testing.assert_allclose(summary["own_drop"].values, skill[np.arange(4), np.arange(4)])
    np.testing.assert_allclose(summary["same_type_drop"].sel(target_task="a").values, skill[[1, 2], 0].mean(0))
    np.testing.assert_allclose(summary["other_type_drop"].sel(target_task="a").values, skill[3, 0])
    np.testing.assert_allclose(summary["other_type_drop"].sel(target_task="d").values, skill[:3, 3].mean(0))
    assert np.isnan(summary["same_type_drop"].sel(target_task="d").values).all()
    assert summary["n_same_type"].values.tolist() == [2, 2, 2, 0]
    assert summary["n_other_type"].values.tolist() == [1, 1, 1, 3]


def test_invalid_cross_task_inputs_are_refused(tiny):
    prompted, targets, skills = tiny
    ablation = SkillAblationExperiment(method="zero", fractions=(0.3,), draws=1, progress=False)
    with pytest.raises(ConfigError, match="repeat"):
        cross_task_ablation(ablation, prompted.backbone, skills, [targets[0], targets[0]])
    with pytest.raises(ConfigError, match="not a target task"):
        cross_task_ablation(ablation, prompted.backbone, skills, targets[:1], values={"toy_topic": prompted.values()})
    with pytest.raises(ConfigError, match="at least one"):
        cross_task_ablation(ablation, prompted.backbone, {}, targets)
