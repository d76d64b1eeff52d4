"""The summary's statistics on hand-made results: verdict rules, exact overlap test, bootstrap of shares, and
the findings that compare within and across task types."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats
import xarray as xr

from neurokit.analysis.compare import overlap_p_value
from neurokit.analysis.groups import PROMPTS, TRANSFER, group_path
from neurokit.analysis.resampling import bootstrap_shares, percentile_bounds
from neurokit.demo.summary import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    UNTESTED,
    Finding,
    Setting,
    _spearman_over_prompts,
    _task_specificity_finding,
    _transfer_finding,
    verdict_of,
)
from neurokit.errors import ConfigError

TASKS = ("toy_sentiment_movies", "toy_sentiment_products", "toy_nli_contrast")


def _setting(passes: bool, tested: bool = True) -> Setting:
    return Setting("s", 0.1, passes, *((0.0, 0.2) if tested else ()))


@pytest.mark.parametrize("settings, verdict", [
    ([], UNTESTED),
    ([_setting(True, tested=False)], UNTESTED),
    ([_setting(True)], HOLDS),
    ([_setting(True), _setting(True)], HOLDS),
    ([_setting(False)], INCONCLUSIVE),  # one failing setting is not enough to say it does not hold
    ([_setting(True), _setting(False)], INCONCLUSIVE),
    ([_setting(False), _setting(False)], FAILS),
    ([_setting(False), _setting(False, tested=False)], INCONCLUSIVE),  # an untested setting counts for nothing
])
def test_verdict_needs_two_failing_tested_settings_to_say_does_not_hold(settings, verdict):
    assert verdict_of(tuple(settings)) == verdict


def test_finding_states_each_setting_with_its_interval_and_test():
    finding = Finding.judge("claim", "paper", "drop", "bootstrap", "above 0",
                            [Setting("a", 0.25, True, 0.125, 0.375), Setting("b", 0.5, True, p_value=0.001)],
                            percent=True)
    assert finding.evidence == "drop: a: 25.0 % [12.5 %, 37.5 %]; b: 50.0 %, p = 0.001"
    assert (finding.verdict, finding.statistics, finding.criterion) == (HOLDS, "bootstrap", "above 0")


@pytest.mark.parametrize("layers, neurons, first, second", [(1, 40, 5, 7), (2, 12, 3, 4), (3, 10, 2, 2)])
def test_overlap_p_value_matches_enumeration_of_the_layers_hypergeometric_overlaps(layers, neurons, first, second):
    # Independent: sum the joint probability of every combination of per-layer overlaps.
    pmf = scipy.stats.hypergeom(neurons, first, second).pmf
    support = range(min(first, second) + 1)
    for observed in range(layers * min(first, second) + 1):
        expected = sum(math.prod(pmf(x) for x in combination)
                       for combination in itertools.product(support, repeat=layers) if sum(combination) >= observed)
        assert overlap_p_value(observed, layers, neurons, first, second) == pytest.approx(min(expected, 1.0),
                                                                                           rel=1e-9, abs=1e-15)


def test_overlap_p_value_refuses_impossible_sizes():
    with pytest.raises(ConfigError, match="overlap_p_value"):
        overlap_p_value(1, 2, 10, 11, 3)


def test_bootstrap_shares_resample_counts_like_examples():
    replicates = bootstrap_shares([30, 5], [40, 50], n_resamples=20_000, seed=3)
    assert replicates.shape == (20_000, 2)
    np.testing.assert_array_equal(replicates, bootstrap_shares([30, 5], [40, 50], n_resamples=20_000, seed=3))
    # The bootstrap distribution of a share of n 0/1 examples has mean p and variance p(1 − p)/n.
    np.testing.assert_allclose(replicates.mean(axis=0), [0.75, 0.1], atol=0.002)
    np.testing.assert_allclose(replicates.var(axis=0), [0.75 * 0.25 / 40, 0.1 * 0.9 / 50], rtol=0.05)
    low, high = percentile_bounds(replicates[:, 0], 0.95)
    assert low < 0.75 < high
    with pytest.raises(ConfigError):
        bootstrap_shares([5], [4])


def test_spearman_over_prompts_has_the_exact_permutation_p():
    rho, low, high, p_value = _spearman_over_prompts([1.0, 2.0, 3.0, 4.0, 5.0], [0.1, 0.3, 0.2, 0.5, 0.6])
    assert rho == pytest.approx(0.9)
    # Independent count of the orderings of 5 distinct values whose ρ with the ranks reaches the observed 0.9.
    ranks = np.arange(5)
    count = sum(scipy.stats.spearmanr(ranks, order)[0] >= 0.9 - 1e-12 for order in itertools.permutations(ranks))
    assert p_value == pytest.approx(count / 120)
    assert low <= rho <= high
    # Beyond eight prompts the orderings are drawn: a perfect ρ then has the add-one p of B random orderings.
    many = np.arange(10.0)
    assert _spearman_over_prompts(list(many), list(many))[3] == pytest.approx(1 / 2001)


def _rows(p_values: dict[str, float]) -> list[dict]:
    return [{"prompt": f"{task}-seed0", "task": task, "p_value": p_value} for task, p_value in p_values.items()]


def _transfer(within: float, across: float, examples: int = 300, own: float = 0.9) -> dict[str, xr.Dataset]:
    """Three prompts (two sentiment tasks and an NLI task) on those tasks' test sets."""
    accuracy = np.array([[own, within, across], [within, own, across], [across, across, own]])
    sources = [f"{task}-seed0" for task in TASKS]
    accuracy = xr.DataArray(accuracy, dims=("source", "target"),
                            coords={"source": sources, "source_task": ("source", list(TASKS)), "target": list(TASKS)})
    own_accuracy = xr.DataArray(np.diag(accuracy.values), dims="target", coords={"target": list(TASKS)})
    return {group_path(TRANSFER, PROMPTS): xr.Dataset(
        {"accuracy": accuracy, "own_accuracy": own_accuracy, "relative": accuracy / own_accuracy,
         "n_examples": ("target", [examples] * 3)})}


def test_transfer_within_type_above_across_holds_with_an_interval_per_prompt():
    finding = _transfer_finding(_transfer(within=0.85, across=0.5), _rows(dict.fromkeys(TASKS, 1e-9)))
    # The NLI prompt has no other learned NLI target: only the two sentiment prompts are settings.
    assert [setting.name.split(" ")[0] for setting in finding.settings] == [f"{task}-seed0" for task in TASKS[:2]]
    for setting in finding.settings:
        assert setting.effect == pytest.approx((0.85 - 0.5) / 0.9)
        assert 0 < setting.low < setting.effect < setting.high
    assert finding.verdict == HOLDS


def test_transfer_fails_in_two_settings_and_is_inconclusive_when_the_data_cannot_tell():
    assert _transfer_finding(_transfer(within=0.5, across=0.85), _rows(dict.fromkeys(TASKS, 1e-9))).verdict == FAILS
    # 20 examples: a small difference has an interval across 0 in both settings.
    small = _transfer_finding(_transfer(within=0.8, across=0.75, examples=20), _rows(dict.fromkeys(TASKS, 1e-9)))
    assert all(setting.low < 0 < setting.high for setting in small.settings) and small.verdict == FAILS
    # A target task learned by no prompt is left out, and with it every across-type pair.
    untested = _transfer_finding(_transfer(0.85, 0.5), _rows({**dict.fromkeys(TASKS, 1e-9), TASKS[2]: 0.5}))
    assert untested.settings == () and untested.verdict == UNTESTED


def test_task_overlap_compares_each_anchor_with_its_own_type_and_another():
    layers, per_layer, neurons = 6, 76, 1536
    size = layers * per_layer
    overlap = np.array([[size, 200, 30], [200, size, 40], [30, 40, size]])
    agreement = xr.Dataset({"overlap": (("task", "other_task"), overlap),
                            "jaccard": (("task", "other_task"), overlap / (2 * size - overlap))},
                           coords={"task": list(TASKS), "other_task": list(TASKS)})
    score = xr.DataArray(np.zeros((layers, neurons)), dims=("layer", "neuron"))
    results = {"tasks/agreement": agreement, f"{TASKS[0]}/skill": xr.Dataset({"score": score})}

    class Config:
        fraction = 0.05

    finding = _task_specificity_finding(Config(), results, _rows(dict.fromkeys(TASKS, 1e-9)))
    assert [setting.name for setting in finding.settings] == [
        f"{TASKS[0]}: with {TASKS[1]} vs with {TASKS[2]}", f"{TASKS[1]}: with {TASKS[0]} vs with {TASKS[2]}"]
    expected = scipy.stats.fisher_exact([[200, size - 200], [30, size - 30]], alternative="greater")[1]
    assert finding.settings[0].p_value == pytest.approx(expected)
    assert finding.verdict == HOLDS
    # Without the NLI task learned there is no other type to compare with.
    unlearned = _task_specificity_finding(Config(), results, _rows({**dict.fromkeys(TASKS, 1e-9), TASKS[2]: 0.5}))
    assert unlearned.verdict == UNTESTED


def test_seed_consistency_pairs_only_prompts_above_chance():
    from types import SimpleNamespace

    from neurokit.demo.summary import _consistency_finding

    task, layers, neurons = TASKS[0], 2, 100
    names = [f"{task}-seed{seed}" for seed in range(3)]
    prompts = [SimpleNamespace(name=name, task=task, tuned=True) for name in names]
    overlap = np.full((3, 3), 4)
    agreement = xr.Dataset({name: (("run", "other_run"), np.full((3, 3), value)) for name, value in
                            (("jaccard", 0.67), ("expected_jaccard", 0.026), ("spearman", 0.5))}
                           ).assign(overlap=(("run", "other_run"), overlap))
    results = {f"{task}/prompt_agreement": agreement,
               f"{task}/skill": xr.Dataset({"score": (("layer", "neuron"), np.zeros((layers, neurons)))})}
    config = SimpleNamespace(tasks=(task,), fraction=0.05)
    rows = [{"prompt": name, "task": task, "p_value": p} for name, p in zip(names, (1e-9, 1e-9, 0.5), strict=True)]
    finding = _consistency_finding(config, prompts, results, rows)
    assert [setting.name.split(" (")[0] for setting in finding.settings] == [f"{names[0]} vs {names[1]}"]
    # 4 shared of 5 + 5 per two layers of 100: P(X ≥ 4) under random sets, independently.
    expected = sum(scipy.stats.hypergeom(100, 5, 5).pmf(a) * scipy.stats.hypergeom(100, 5, 5).pmf(b)
                   for a in range(6) for b in range(6) if a + b >= 4)
    assert finding.settings[0].p_value == pytest.approx(expected)
