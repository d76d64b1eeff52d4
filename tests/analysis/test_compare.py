"""Selectivity, agreement across tasks and prompts, clean vs adversarial, null comparison, binomial tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import xarray as xr

from neurokit.analysis import (
    binomial_p_value,
    chance_threshold,
    clean_vs_adversarial,
    model_accuracy,
    null_comparison,
    pairwise_agreement,
    stack_scores,
    task_selectivity,
)
from neurokit.errors import ConfigError, NeurokitError
from tests.helpers.synthetic_stores import make_store, reference_top

TASKS = ("sst2", "imdb", "qnli")


def _scores(seed: int, *dims_sizes: tuple[str, int], model: str = "m") -> xr.DataArray:
    """Random neuron scores on a coarse grid (so that ties occur), as SkillNeurons.score gives them."""
    dims, sizes = zip(*dims_sizes, strict=True)
    values = np.round(np.random.default_rng(seed).uniform(0.5, 1.0, size=sizes) * 20) / 20
    return xr.DataArray(values, dims=dims, attrs={"model_id": model, "weights_sha256": "w"})


def _task_scores() -> xr.DataArray:
    per_task = {task: _scores(seed, ("subtask", 1), ("layer", 3), ("neuron", 20)) for seed, task in enumerate(TASKS)}
    return stack_scores(per_task).chunk({"neuron": 7})


def test_selectivity_is_score_minus_best_other_task():
    scores = _task_scores()
    values = scores.values
    expected = np.stack([values[t] - np.delete(values, t, axis=0).max(axis=0) for t in range(len(TASKS))])
    result = task_selectivity(scores)
    assert result.chunks is not None
    np.testing.assert_allclose(result.values, expected)


def test_stack_scores_refuses_different_models():
    with pytest.raises(NeurokitError, match="different models"):
        stack_scores({"a": _scores(0, ("layer", 2), ("neuron", 4)),
                      "b": _scores(1, ("layer", 2), ("neuron", 4), model="other")})


def test_stack_scores_reduces_subtasks_to_best():
    three_way = _scores(0, ("subtask", 2), ("layer", 2), ("neuron", 4))
    np.testing.assert_allclose(stack_scores({"mnli": three_way}).values[0], three_way.values.max(axis=0))


@pytest.mark.parametrize("selection", ["per-layer", "global"])
def test_pairwise_agreement_matches_sets(selection):
    scores = _task_scores()
    fraction = 0.2
    result = pairwise_agreement(scores, fraction=fraction, selection=selection).compute()
    values = scores.values
    masks = [reference_top(values[t], fraction, per_layer=selection == "per-layer") for t in range(len(TASKS))]
    n_layers, n_neurons = values.shape[1:]
    for a in range(len(TASKS)):
        for b in range(len(TASKS)):
            first = {tuple(index) for index in np.argwhere(masks[a])}
            second = {tuple(index) for index in np.argwhere(masks[b])}
            cell = result.isel(task=a, other_task=b)
            assert int(cell["overlap"]) == len(first & second)
            assert float(cell["jaccard"]) == pytest.approx(len(first & second) / len(first | second))
            if selection == "per-layer":  # k per layer, random sets per layer: Σ_l k²/N_l
                k = math.floor(fraction * n_neurons)
                expected, size = n_layers * k * k / n_neurons, n_layers * k
            else:
                size = math.floor(fraction * n_layers * n_neurons)
                expected = size * size / (n_layers * n_neurons)
            assert float(cell["expected_overlap"]) == pytest.approx(expected)
            assert float(cell["expected_jaccard"]) == pytest.approx(expected / (2 * size - expected))
            rho = scipy.stats.spearmanr(values[a].ravel(), values[b].ravel()).statistic
            assert float(cell["spearman"]) == pytest.approx(rho)


def test_agreement_across_prompts_uses_the_run_dim():
    scores = _scores(4, ("run", 3), ("layer", 2), ("neuron", 10)).assign_coords(prompt=("run", ["a", "b", "c"]))
    result = pairwise_agreement(scores, dim="run", fraction=0.3)
    assert result["spearman"].dims == ("run", "other_run")
    np.testing.assert_allclose(np.diag(result["spearman"].values), 1.0)
    assert float(result["spearman"].sel(run=0, other_run=2)) == pytest.approx(
        scipy.stats.spearmanr(scores.values[0].ravel(), scores.values[2].ravel()).statistic)


def test_spearman_propagates_nan_like_scipy():
    scores = _task_scores().load()
    scores[0, 1, 3] = np.nan
    result = pairwise_agreement(scores)["spearman"].values
    assert np.isnan(result[0, 1]) and np.isnan(result[1, 0]) and not np.isnan(result[1, 2])


def test_clean_vs_adversarial_matches_manual():
    clean = _scores(5, ("run", 2), ("layer", 3), ("neuron", 50))
    attacked = (0.5 * clean + 0.5 * _scores(6, ("run", 2), ("layer", 3), ("neuron", 50))).assign_attrs(clean.attrs)
    fractions = (0.02, 0.1, 0.2)
    result = clean_vs_adversarial(clean.chunk({"neuron": 9}), attacked, fractions=fractions).compute()
    for run in range(2):
        excess = []
        for index, fraction in enumerate(fractions):
            top_clean = reference_top(clean.values[run], fraction)
            top_attacked = reference_top(attacked.values[run], fraction)
            k = math.floor(fraction * 50)
            overlap = (top_clean & top_attacked).sum(axis=1) / k
            np.testing.assert_allclose(result["overlap"].values[index, run], overlap)
            assert float(result["chance_overlap"][index]) == pytest.approx(k / 50)
            assert float(result["adversarial_predictivity"][index, run]) == pytest.approx(
                attacked.values[run][top_clean].mean())
            excess.append(overlap - k / 50)
        assert float(result["excess_overlap"][run]) == pytest.approx(np.mean(excess))
        assert float(result["spearman"][run]) == pytest.approx(
            scipy.stats.spearmanr(clean.values[run].ravel(), attacked.values[run].ravel()).statistic)


def test_null_comparison_matches_numpy():
    tuned = _scores(7, ("layer", 3), ("neuron", 40)) + 0.1
    null = _scores(8, ("layer", 3), ("neuron", 40))
    result = null_comparison(tuned.chunk({"neuron": 11}), null.chunk({"neuron": 6}), fractions=[0.1]).compute()
    np.testing.assert_allclose(result["null_quantile"].values, np.quantile(null.values, [0.5, 0.9, 0.95, 0.99]))
    threshold = np.quantile(null.values, 0.99)
    assert float(result["share_above_null"]) == pytest.approx((tuned.values > threshold).mean())
    np.testing.assert_allclose(result["share_above_null_by_layer"], (tuned.values > threshold).mean(axis=1))
    top = reference_top(tuned.values, 0.1)
    assert float(result["skill_share_above_null"][0]) == pytest.approx((tuned.values[top] > threshold).mean())


def _upper_tail(successes: int, trials: int, chance: float = 0.5) -> float:
    return sum(math.comb(trials, k) * chance**k * (1 - chance) ** (trials - k) for k in range(successes, trials + 1))


@pytest.mark.parametrize("trials, threshold", [(148, 0.574), (78, 0.603), (121, None)])
def test_chance_thresholds_of_advglue_sizes(trials, threshold):
    value = chance_threshold(trials)
    if threshold is not None:
        assert round(value, 3) == threshold
    smallest = round(value * trials)
    assert _upper_tail(smallest, trials) <= 0.05 < _upper_tail(smallest - 1, trials)


def test_binomial_p_value_is_exact_tail():
    successes = np.array([40, 74, 85, 90])
    np.testing.assert_allclose(binomial_p_value(successes, 148), [_upper_tail(k, 148) for k in successes])
    lazy = binomial_p_value(xr.DataArray(successes, dims="run").chunk(2), 148, chance=1 / 3)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, [_upper_tail(k, 148, 1 / 3) for k in successes])
    # chance per element (e.g. 1 / classes of each target task), broadcast by dims
    per_task = binomial_p_value(xr.DataArray([[40, 40], [74, 74]], dims=("source", "target")), 148,
                                xr.DataArray([1 / 2, 1 / 4], dims="target"))
    np.testing.assert_allclose(per_task.values, [[_upper_tail(40, 148), _upper_tail(40, 148, 1 / 4)],
                                                 [_upper_tail(74, 148), _upper_tail(74, 148, 1 / 4)]])
    with pytest.raises(ConfigError, match="chance must be in"):
        binomial_p_value(40, 148, xr.DataArray([0.5, 1.0], dims="target"))


def test_model_accuracy():
    data = make_store(3, n_examples=50)
    result = data.neuro.model_accuracy().squeeze("run")
    correct = int((data.prediction.values == data.label.values).sum())
    assert float(result["accuracy"]) == pytest.approx(correct / 50)
    assert float(result["p_value"]) == pytest.approx(_upper_tail(correct, 50))
    assert result["prompt"].item() == data.attrs["prompt_sha256"]
    assert isinstance(model_accuracy(data), xr.Dataset)


def test_comparisons_stay_lazy():
    scores = _task_scores()
    per_run = _scores(9, ("run", 2), ("layer", 3), ("neuron", 20)).chunk({"neuron": 6})
    results = [
        task_selectivity(scores).to_dataset(name="selectivity"),
        pairwise_agreement(scores),
        clean_vs_adversarial(per_run, per_run + 0.01),
        null_comparison(scores.isel(task=0), scores.isel(task=1)),
    ]
    for result in results:  # chance_overlap depends on sizes only, not on data
        assert all(variable.chunks is not None for name, variable in result.data_vars.items()
                   if name != "chance_overlap")
