"""Prompt transfer: accuracy matrix, relative transfer, label maps and refusals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurokit.errors import NeurokitError
from neurokit.interventions import by_source_task, transfer_matrix
from neurokit.prompts import EncodedSplit, evaluate
from neurokit.tasks import get_task, load_split
from tests.helpers.prompted_models import MOVIES, PRODUCTS, save_prompt

TOPIC, ADVERSARIAL = get_task("toy_topic"), get_task("adv_toy_sentiment_movies")


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    from neurokit.models import load_backbone

    backbone = load_backbone()
    folder = tmp_path_factory.mktemp("prompts")
    checkpoints = {name: save_prompt(backbone, task, folder / name, seed)
                   for name, task, seed in [("movies-a", MOVIES, 1), ("movies-b", MOVIES, 2),
                                            ("products", PRODUCTS, 3), ("topic", TOPIC, 4)]}
    return backbone, checkpoints


def _targets(*tasks, size=10):
    return [(task, load_split(task, "test", size=size)) for task in tasks]


def _accuracy(backbone, checkpoint, task, dataset, label_words, class_map=None):
    """Accuracy computed here: arg-max of the scores with the given label words, optionally mapped."""
    split = EncodedSplit(backbone, task, dataset, 128)
    logits = evaluate(backbone, checkpoint.soft_prompt(backbone), backbone.verbalizer(label_words), split).logits
    predictions = logits.argmax(dim=1).numpy()
    if class_map is not None:
        predictions = np.asarray(class_map)[predictions]
    return float(np.mean(predictions == np.asarray(dataset["label"])))


@pytest.mark.slow
def test_a_prompt_on_its_own_task_has_its_own_accuracy_and_relative_transfer_one(prompts):
    backbone, checkpoints = prompts
    sources = {name: checkpoints[name] for name in ("movies-a", "products")}
    targets = _targets(MOVIES, PRODUCTS, ADVERSARIAL)
    result = transfer_matrix(backbone, sources, targets, progress=False)
    assert result["accuracy"].dims == ("source", "target")
    assert list(result["source_task"].values) == ["toy_sentiment_movies", "toy_sentiment_products"]
    for name, checkpoint in sources.items():
        for task, dataset in targets:
            expected = _accuracy(backbone, checkpoint, task, dataset, task.label_words)
            assert float(result["accuracy"].sel(source=name, target=task.name)) == expected
    assert float(result["relative"].sel(source="movies-a", target=MOVIES.name)) == 1.0
    assert float(result["relative"].sel(source="products", target=PRODUCTS.name)) == 1.0
    own = result["accuracy"].sel(source="movies-a")
    # The adversarial set's own prompts are those of its clean task.
    assert float(result["own_accuracy"].sel(target=ADVERSARIAL.name)) == float(own.sel(target=ADVERSARIAL.name))
    np.testing.assert_allclose(result["relative"].values, result["accuracy"].values / result["own_accuracy"].values)
    assert result["n_examples"].values.tolist() == [10, 10, 10]
    # Above chance: the exact binomial tail of each cell, Benjamini–Hochberg over all six cells (scipy).
    np.testing.assert_array_equal(result["accuracy"].values, result["n_correct"].values / 10)
    assert result["chance"].values.tolist() == [0.5, 0.5, 0.5]
    expected = [[stats.binomtest(int(k), 10, 0.5, alternative="greater").pvalue for k in row]
                for row in result["n_correct"].values]
    np.testing.assert_allclose(result["p_value"].values, expected, rtol=1e-12)
    np.testing.assert_allclose(result["p_adjusted"].values.ravel(),
                               stats.false_discovery_control(np.ravel(expected)), rtol=1e-12)


@pytest.mark.slow
def test_several_prompts_per_task_average_into_the_own_accuracy(prompts):
    backbone, checkpoints = prompts
    sources = {name: checkpoints[name] for name in ("movies-a", "movies-b", "products")}
    result = transfer_matrix(backbone, sources, _targets(MOVIES, PRODUCTS), progress=False)
    movies = result["accuracy"].sel(target=MOVIES.name)
    assert float(result["own_accuracy"].sel(target=MOVIES.name)) == pytest.approx(
        float(movies.sel(source=["movies-a", "movies-b"]).mean()))
    grouped = by_source_task(result)
    assert grouped["relative"].dims == ("source_task", "target")
    assert grouped["n_prompts"].sel(source_task=MOVIES.name) == 2
    assert float(grouped["relative"].sel(source_task=MOVIES.name, target=MOVIES.name)) == pytest.approx(1.0)
    assert np.isnan(transfer_matrix(backbone, {"products": checkpoints["products"]}, _targets(MOVIES),
                                    progress=False)["relative"].item())  # no own prompt among the sources


def test_a_label_map_reads_a_prompt_with_its_own_verbaliser_on_a_task_with_other_classes(prompts):
    backbone, checkpoints = prompts
    targets = _targets(MOVIES, TOPIC, ADVERSARIAL, size=8)
    with pytest.raises(NeurokitError, match="4 classes.*2 classes.*without a label map toy_topic->toy_sentiment"):
        transfer_matrix(backbone, {"topic": checkpoints["topic"]}, targets, progress=False)
    mapping = {"sports": "positive", "business": "negative", "science": "positive", "politics": "negative"}
    result = transfer_matrix(backbone, {"topic": checkpoints["topic"]}, targets,
                             label_maps={(TOPIC.name, MOVIES.name): mapping}, progress=False)
    for task, dataset in (targets[0], targets[2]):  # the clean task's map also serves its adversarial set
        expected = _accuracy(backbone, checkpoints["topic"], task, dataset, TOPIC.label_words, [1, 0, 1, 0])
        assert result["accuracy"].sel(target=task.name).item() == expected
    assert result["relative"].sel(target=TOPIC.name).item() == 1.0
    assert result["chance"].values.tolist() == [0.5, 0.25, 0.5]  # 1 / the target's classes, mapped or not
    with pytest.raises(NeurokitError, match="leaves class 'politics'"):
        transfer_matrix(backbone, {"topic": checkpoints["topic"]}, targets,
                        label_maps={(TOPIC.name, MOVIES.name): {k: v for k, v in mapping.items() if k != "politics"}},
                        progress=False)
    with pytest.raises(NeurokitError, match="matches no source prompt"):
        transfer_matrix(backbone, {"topic": checkpoints["topic"]}, targets,
                        label_maps={(TOPIC.name, MOVIES.name): mapping, (MOVIES.name, TOPIC.name): {}}, progress=False)


def test_prompts_of_different_models_are_refused(prompts, tmp_path):
    from neurokit.models.random import random_backbone

    backbone, checkpoints = prompts
    other = save_prompt(random_backbone("bert"), MOVIES, tmp_path / "other", seed=1)
    with pytest.raises(NeurokitError, match="different models.*random-bert-tiny"):
        transfer_matrix(backbone, {"movies-a": checkpoints["movies-a"], "other": other}, _targets(MOVIES),
                        progress=False)
    with pytest.raises(NeurokitError, match="was trained on 'random-bert-tiny'"):
        transfer_matrix(backbone, {"other": other}, _targets(MOVIES), progress=False)

