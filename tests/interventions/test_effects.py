"""Ablation effect statistics: against a loop over the documented resamples, exact enumeration, and calibration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

from neurokit.errors import ConfigError, NeurokitError
from neurokit.interventions import ablation_effects
from neurokit.interventions import effects as effects_module


def _result(skill: np.ndarray, random: np.ndarray) -> xr.Dataset:
    """An ablation result holding only ``correct``: skill and random (fraction, draw, example) bool."""
    fractions, draws, examples = skill.shape
    correct = xr.DataArray(np.stack([skill, random]), dims=("selection", "fraction", "draw", "example"),
                           coords={"selection": ["skill", "random"], "fraction": np.linspace(0.0, 0.2, fractions),
                                   "draw": np.arange(draws), "example": [f"x{i}" for i in range(examples)]})
    return xr.Dataset({"correct": correct})


def _outcomes(rng, shape, p_correct) -> np.ndarray:
    return rng.random(shape) < np.asarray(p_correct)


def _loop_effects(skill, random, n_boot, n_permutations, confidence, seed, draws_too=True):
    """The documented statistics written out example by example (streams 2 and 3 of docs/interventions.md)."""
    n_fractions, n_draws, n_examples = skill.shape
    example_rng = np.random.default_rng([2, seed, 0])
    draw_rng = np.random.default_rng([2, seed, 1])
    example_counts = [example_rng.multinomial(n_examples, [1 / n_examples] * n_examples) for _ in range(n_boot)]
    draw_counts = [draw_rng.multinomial(n_draws, [1 / n_draws] * n_draws) if draws_too else [1] * n_draws
                   for _ in range(n_boot)]
    sign_rng = np.random.default_rng([3, seed])
    signs = [[-1 if u < 0.5 else 1 for u in sign_rng.random(n_examples)] for _ in range(n_permutations)]
    tail = (1 - confidence) / 2
    expected = []
    for f in range(n_fractions):
        effect = np.mean([np.mean(random[f, d]) - np.mean(skill[f, d]) for d in range(n_draws)])
        replicate_accuracy = {"skill": [], "random": []}
        replicate_effect = []
        for b in range(n_boot):
            chosen_examples = np.repeat(np.arange(n_examples), example_counts[b])
            chosen_draws = np.repeat(np.arange(n_draws), draw_counts[b])
            means = {}
            for name, outcome in (("skill", skill), ("random", random)):
                means[name] = np.mean([np.mean([outcome[f, d, x] for x in chosen_examples]) for d in chosen_draws])
                replicate_accuracy[name].append(means[name])
            replicate_effect.append(means["random"] - means["skill"])
        differences = [sum(int(random[f, d, x]) - int(skill[f, d, x]) for d in range(n_draws))
                       for x in range(n_examples)]
        observed = sum(differences)
        exceed = sum(sum(s * dx for s, dx in zip(row, differences, strict=True)) >= observed for row in signs)
        expected.append({
            "effect": effect,
            "effect_interval": np.quantile(replicate_effect, [tail, 1 - tail]),
            "accuracy_interval": [np.quantile(replicate_accuracy[name], [tail, 1 - tail])
                                  for name in ("skill", "random")],
            "p_value": (1 + exceed) / (1 + n_permutations),
        })
    return expected


@pytest.mark.parametrize("resampling", ["examples-and-draws", "examples"])
def test_statistics_equal_a_loop_over_the_documented_resamples(monkeypatch, resampling):
    rng = np.random.default_rng(7)
    skill = _outcomes(rng, (3, 3, 11), [[[0.9]], [[0.6]], [[0.3]]])
    random = _outcomes(rng, (3, 3, 11), 0.8)
    # Blocks of two replicates: the random streams must not depend on how the replicates are grouped.
    monkeypatch.setattr(effects_module, "_BLOCK_ELEMENTS", 2 * 11)
    result = ablation_effects(_result(skill, random), n_boot=40, confidence=0.9, n_permutations=60, seed=5,
                              resampling=resampling)
    expected = _loop_effects(skill, random, 40, 60, 0.9, 5, draws_too=resampling == "examples-and-draws")
    for f, values in enumerate(expected):
        at = result.isel(fraction=f)
        np.testing.assert_allclose(float(at["effect"]), values["effect"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(at["effect_interval"].sel(bound=["lower", "upper"]).values,
                                   values["effect_interval"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(at["accuracy_interval"].sel(selection=["skill", "random"]).values,
                                   values["accuracy_interval"], rtol=0, atol=1e-12)
        assert float(at["p_value"]) == values["p_value"]
    assert result["accuracy_interval"].dims == ("selection", "fraction", "bound")
    assert result["effect_interval"].dims == ("fraction", "bound") and result["p_value"].dims == ("fraction",)


def test_the_sign_flip_p_value_approaches_the_exact_enumeration():
    rng = np.random.default_rng(3)
    skill = _outcomes(rng, (1, 2, 10), 0.55)
    random = _outcomes(rng, (1, 2, 10), 0.8)
    differences = random[0].sum(axis=0).astype(int) - skill[0].sum(axis=0).astype(int)
    observed = differences.sum()
    assert observed > 0
    every_flip = np.array(list(itertools.product((-1, 1), repeat=10)))
    exact = np.mean(every_flip @ differences >= observed)
    p_value = float(ablation_effects(_result(skill, random), n_boot=1, n_permutations=40_000)["p_value"][0])
    assert abs(p_value - exact) < 0.01  # Monte Carlo standard error ≤ 0.0025


def test_a_harmful_skill_set_is_significant_and_identical_sets_are_not():
    rng = np.random.default_rng(11)
    random = _outcomes(rng, (2, 3, 120), 0.85)
    harmful = _outcomes(rng, (2, 3, 120), 0.6)
    result = ablation_effects(_result(harmful, random), n_boot=2000, n_permutations=2000)
    assert (result["p_value"] < 0.05).all()
    assert (result["effect_interval"].sel(bound="lower") > 0).all()
    lower, upper = result["accuracy_interval"].sel(bound="lower"), result["accuracy_interval"].sel(bound="upper")
    means = xr.DataArray(np.stack([harmful.mean(axis=(1, 2)), random.mean(axis=(1, 2))]),
                         dims=("selection", "fraction"))
    assert ((lower.values <= means.values) & (means.values <= upper.values)).all()

    same = ablation_effects(_result(random, random), n_boot=2000, n_permutations=2000)
    assert (same["effect"] == 0).all()
    assert ((same["effect_interval"].sel(bound="lower") <= 0) & (same["effect_interval"].sel(bound="upper") >= 0)).all()
    assert (same["p_value"] == 1.0).all()  # every flip of all-zero differences ties the observed zero


def test_under_the_null_the_test_rejects_at_its_level_and_the_intervals_cover_zero():
    """200 independent null data sets (as 200 fractions): skill and random outcomes from one distribution,
    with no effect of the draw, so that resampling the examples alone covers at about the nominal level and
    resampling the draws too is conservative."""
    rng = np.random.default_rng(2024)
    skill = _outcomes(rng, (200, 3, 80), 0.75)
    random = _outcomes(rng, (200, 3, 80), 0.75)
    widths, coverage = {}, {}
    for resampling in ("examples-and-draws", "examples"):
        result = ablation_effects(_result(skill, random), n_boot=1000, n_permutations=1000, seed=1,
                                  resampling=resampling)
        rejected = int((result["p_value"] <= 0.05).sum())
        assert 2 <= rejected <= 22  # Binomial(200, 0.05): mean 10, sd 3.1
        lower, upper = result["effect_interval"].sel(bound="lower"), result["effect_interval"].sel(bound="upper")
        coverage[resampling] = float(((lower <= 0) & (upper >= 0)).mean())
        widths[resampling] = float((upper - lower).mean())
    assert 0.88 <= coverage["examples"] <= 0.99  # 95 % nominal; 200 data sets: sd 0.015
    assert coverage["examples-and-draws"] >= coverage["examples"]
    # the interaction counted about three times instead of once: up to √3 wider
    assert 1.2 < widths["examples-and-draws"] / widths["examples"] < 1.8


def test_results_depend_neither_on_chunks_nor_on_the_order_of_fractions():
    rng = np.random.default_rng(1)
    data = _result(_outcomes(rng, (5, 2, 30), 0.6), _outcomes(rng, (5, 2, 30), 0.7))
    settings = {"n_boot": 300, "n_permutations": 300, "seed": 9}
    whole = ablation_effects(data, **settings)
    lazy = ablation_effects(data.chunk({"fraction": 2}), **settings)
    assert lazy["effect_interval"].chunks is not None  # stays lazy until asked
    xr.testing.assert_identical(lazy.compute(), whole)
    reversed_fractions = ablation_effects(data.isel(fraction=slice(None, None, -1)), **settings)
    xr.testing.assert_identical(reversed_fractions.sortby("fraction"), whole)
    assert not whole.equals(ablation_effects(data, **(settings | {"seed": 10})))


@pytest.mark.parametrize("settings, error", [
    ({"n_boot": 0}, ConfigError), ({"n_permutations": 0}, ConfigError), ({"confidence": 1.0}, ConfigError),
    ({"resampling": "draws"}, ConfigError)])
def test_invalid_settings_are_refused(settings, error):
    data = _result(np.ones((1, 1, 3), bool), np.ones((1, 1, 3), bool))
    with pytest.raises(error):
        ablation_effects(data, **settings)


def test_results_without_per_example_outcomes_are_refused():
    with pytest.raises(NeurokitError, match="per-example 'correct'"):
        ablation_effects(xr.Dataset({"accuracy": ("fraction", [0.5])}))
    data = _result(np.ones((1, 1, 3), bool), np.ones((1, 1, 3), bool))
    with pytest.raises(NeurokitError, match="boolean"):
        ablation_effects(data.assign(correct=data["correct"].astype(float)))
