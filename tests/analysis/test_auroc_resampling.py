"""AUROC, bootstrap intervals, permutation p-values and Benjamini–Hochberg against direct computations."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import xarray as xr

from neurokit.analysis import SkillNeurons, benjamini_hochberg
from neurokit.errors import NeurokitError
from tests.helpers.synthetic_stores import (
    THREE_WAY,
    chunked,
    combine_runs,
    make_store,
    prompt_positions,
    reference_balanced_by_default,
    reference_kept,
    reference_subtasks,
)


@pytest.mark.parametrize("label_names", [("negative", "positive"), THREE_WAY])
def test_auroc_matches_pairwise_definition(label_names):
    data = make_store(3, label_names=label_names, n_examples=35)
    result = chunked(data).neuro.auroc(positions="all", slab_bytes=2000).compute()
    values, labels = data.activation.values.astype(np.float64), data.label.values
    for number, (positive, negative) in enumerate(reference_subtasks(label_names)):
        above = values[np.isin(labels, positive)]
        below = values[np.isin(labels, negative)]
        # P(a⁺ > a⁻) + ½ P(a⁺ = a⁻) over all positive–negative pairs
        difference = above[:, None] - below[None, :]
        expected = ((difference > 0).mean(axis=(0, 1)) + 0.5 * (difference == 0).mean(axis=(0, 1)))
        np.testing.assert_allclose(result.values[number], expected, atol=1e-12)
        u_statistic = scipy.stats.mannwhitneyu(above[:, 1, 2, 0], below[:, 1, 2, 0]).statistic
        assert result.values[number, 1, 2, 0] == pytest.approx(u_statistic / (len(above) * len(below)))


def test_auroc_keeps_runs():
    labels = np.random.default_rng(1).integers(0, 2, 30)
    runs = combine_runs([make_store(seed, labels=labels, n_examples=30, prompt=f"p{seed}") for seed in (4, 5)])
    result = runs.neuro.auroc()
    assert result.dims == ("run", "subtask", "layer", "position", "neuron")
    single = make_store(5, labels=labels, n_examples=30, prompt="p5").neuro.auroc()
    np.testing.assert_allclose(result.isel(run=1).values, single.values)


def _pair(label_names=("negative", "positive"), prompts=("p1",)):
    labels = np.random.default_rng(9).integers(0, len(label_names), 24)
    train = [make_store(10 + i, label_names=label_names, split="train", n_examples=30, prompt=prompt)
             for i, prompt in enumerate(prompts)]
    data = [make_store(20 + i, label_names=label_names, n_examples=24, prompt=prompt, labels=labels)
            for i, prompt in enumerate(prompts)]
    return train, data


def _reference_counts(train, data, positions):
    """Per sub-task: whole counts of correct eval examples (run, layer, position, neuron) and n per run; a
    3-way task's sub-tasks balanced (first k of each side, in train and in the given eval data alike)."""
    label_names = [str(name) for name in data[0]["class"].values]
    balanced = reference_balanced_by_default(label_names)
    result = []
    for positive, negative in reference_subtasks(label_names):
        counts, totals = [], []
        for train_run, data_run in zip(train, data, strict=True):
            train_keep = reference_kept(train_run.label.values, positive, negative, balanced)
            baseline = train_run.activation.values[train_keep][:, :, positions].astype(np.float64).mean(axis=0)
            keep = reference_kept(data_run.label.values, positive, negative, balanced)
            fired = data_run.activation.values[keep][:, :, positions] > baseline
            target = np.isin(data_run.label.values[keep], positive)[:, None, None, None]
            counts.append((fired == target).sum(axis=0))
            totals.append(len(keep))
        result.append((np.stack(counts), np.array(totals)))
    return result


def _reference_neuron_scores(train, data):
    """(subtask, layer, neuron) score from whole counts: mean over runs of max_p max(c, n − c) / n."""
    positions = prompt_positions(data[0])
    scores = []
    for counts, totals in _reference_counts(train, data, positions):
        pred = np.maximum(counts, totals[:, None, None, None] - counts) / totals[:, None, None, None]
        scores.append(pred.max(axis=2).mean(axis=0))
    return np.stack(scores)


def _relabelled(data, order):
    return [run.assign(label=("example", run.label.values[order])) for run in data]


def _resampled(data, counts):
    picks = np.repeat(np.arange(len(counts)), counts)
    return [run.isel(example=picks) for run in data]


@pytest.mark.parametrize("label_names, prompts", [(("negative", "positive"), ("p1", "p2")), (THREE_WAY, ("p1",))])
def test_permutation_p_values_match_loop(label_names, prompts):
    train, data = _pair(label_names, prompts)
    permutations, seed = 30, 11
    model = SkillNeurons().fit(combine_runs(train))
    result = model.permutation_test(chunked(combine_runs(data)), n_permutations=permutations, seed=seed).compute()
    observed = _reference_neuron_scores(train, data)
    rng = np.random.default_rng(seed)
    permuted = np.stack([_reference_neuron_scores(train, _relabelled(data, rng.permutation(24)))
                         for _ in range(permutations)])
    expected = (1 + (permuted >= observed).sum(axis=0)) / (1 + permutations)
    np.testing.assert_allclose(result["p_value"].values, expected)
    for number in range(len(expected)):
        q_values = scipy.stats.false_discovery_control(expected[number].ravel(), method="bh")
        np.testing.assert_allclose(result["q_value"].values[number].ravel(), q_values)


def test_strong_neurons_get_the_smallest_p_value():
    train, data = _pair()
    result = SkillNeurons().fit(train[0]).permutation_test(data[0], n_permutations=50)
    assert result["p_value"].sel(neuron=[0, 1, 2, 3]).min() == pytest.approx(1 / 51)


@pytest.mark.parametrize("label_names, prompts", [(("negative", "positive"), ("p1",)),
                                                  (("negative", "positive"), ("p1", "p2")), (THREE_WAY, ("p1",))])
def test_bootstrap_interval_matches_loop(label_names, prompts):
    train, data = _pair(label_names, prompts)
    resamples, seed = 25, 3
    runs = combine_runs(train) if len(prompts) > 1 else train[0]
    evaluation = combine_runs(data) if len(prompts) > 1 else data[0]
    result = SkillNeurons().fit(runs).bootstrap(chunked(evaluation), n_resamples=resamples, seed=seed,
                                                confidence=0.9).compute()
    draws = np.random.default_rng(seed).multinomial(24, np.full(24, 1 / 24), size=resamples)
    replicates = np.stack([_reference_neuron_scores(train, _resampled(data, counts)) for counts in draws])
    np.testing.assert_allclose(result.sel(bound="lower").values, np.quantile(replicates, 0.05, axis=0))
    np.testing.assert_allclose(result.sel(bound="upper").values, np.quantile(replicates, 0.95, axis=0))


def test_benjamini_hochberg_matches_scipy_per_family():
    p_values = np.random.default_rng(2).uniform(size=(3, 4, 25)) ** 2
    result = benjamini_hochberg(xr.DataArray(p_values, dims=("subtask", "layer", "neuron")).chunk({"neuron": 5}))
    for family in range(3):
        expected = scipy.stats.false_discovery_control(p_values[family].ravel(), method="bh").reshape(4, 25)
        np.testing.assert_allclose(result.values[family], expected)


def test_benjamini_hochberg_leaves_nan_out():
    p_values = np.array([0.01, np.nan, 0.04, 0.03])
    result = benjamini_hochberg(xr.DataArray(p_values, dims="neuron"), dims=["neuron"]).values
    np.testing.assert_allclose(result[[0, 2, 3]], scipy.stats.false_discovery_control([0.01, 0.04, 0.03]))
    assert np.isnan(result[1])


def _textbook_bh(p_values: np.ndarray) -> np.ndarray:
    """q_(i) = min over j ≥ i of min(1, m·p_(j)/j) over the m non-NaN p-values, written out loop by loop."""
    tested = np.flatnonzero(~np.isnan(p_values))
    order = tested[np.argsort(p_values[tested], kind="stable")]
    m = len(order)
    q_values = np.full(p_values.shape, np.nan)
    for rank, index in enumerate(order, start=1):
        q_values[index] = min(min(1.0, m * p_values[later] / j) for j, later in enumerate(order, start=1)
                              if j >= rank)
    return q_values


def test_benjamini_hochberg_matches_the_textbook_with_ties_ones_and_nan():
    rng = np.random.default_rng(5)
    for _ in range(40):
        p_values = np.round(rng.uniform(size=(2, 3, 7)), rng.integers(1, 3))  # rounding makes ties
        p_values[rng.uniform(size=p_values.shape) < 0.15] = 1.0
        p_values[rng.uniform(size=p_values.shape) < 0.15] = np.nan
        p_values[1, :, :] = np.nan if rng.uniform() < 0.2 else p_values[1]  # sometimes a family of NaN only
        result = benjamini_hochberg(xr.DataArray(p_values, dims=("subtask", "layer", "neuron"))).values
        for family in range(2):
            expected = _textbook_bh(p_values[family].ravel()).reshape(3, 7)
            np.testing.assert_allclose(result[family], expected, rtol=1e-12, atol=0)


def test_resampling_settings_are_checked():
    train, data = _pair()
    model = SkillNeurons().fit(train[0])
    with pytest.raises(NeurokitError):
        model.bootstrap(data[0], n_resamples=0)
    with pytest.raises(NeurokitError):
        model.bootstrap(data[0], confidence=1.5)
    with pytest.raises(NeurokitError):
        model.permutation_test(data[0], n_permutations=0)
