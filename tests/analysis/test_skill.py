"""Predictivity, neuron scores and skill masks against a loop-based reference of Wang et al.'s definitions."""

from __future__ import annotations

import json

import dask
import numpy as np
import pytest
import xarray as xr

from neurokit.analysis import SkillNeurons, top_fraction
from neurokit.analysis.subtasks import subtask_labels, subtasks_for
from neurokit.errors import NeurokitError
from tests.helpers.synthetic_stores import (
    BINARY,
    THREE_WAY,
    chunked,
    combine_runs,
    make_store,
    prompt_positions,
    reference_accuracy,
    reference_filled,
    reference_kept,
    reference_scores,
    reference_top,
)


@pytest.mark.parametrize("label_names", [BINARY, THREE_WAY, ("a", "b", "c", "d")])
def test_scores_match_reference(label_names):
    train = make_store(1, label_names=label_names, split="train", n_examples=70)
    data = make_store(2, label_names=label_names, n_examples=50)
    result = SkillNeurons().fit(train).score(data)
    np.testing.assert_allclose(result["score"].values, reference_scores([train], [data]), rtol=0, atol=1e-12)
    assert list(result["subtask"].values) == [task.name for task in subtasks_for(label_names)]


def test_accuracy_per_position_and_counts(binary_pair):
    train, data = binary_pair
    result = SkillNeurons(positions="all").fit(train).score(data)
    expected = reference_accuracy(train.activation.values, train.label.values, data.activation.values,
                                  data.label.values, (1,), (0,))
    np.testing.assert_allclose(result["accuracy"].values[0], expected, atol=1e-12)
    np.testing.assert_allclose(result["predictivity"].values[0], np.maximum(expected, 1 - expected), atol=1e-12)
    assert int(result["n_examples"].values[0]) == data.sizes["example"]


@pytest.mark.parametrize("label_names", [BINARY, THREE_WAY, ("a", "b", "c", "d")])
def test_all_examples_scores_match_reference(label_names):
    train = make_store(1, label_names=label_names, split="train", n_examples=70)
    data = make_store(2, label_names=label_names, n_examples=50)
    result = SkillNeurons(scheme="all-examples").fit(train).score(data)
    np.testing.assert_allclose(result["score"].values, reference_scores([train], [data], balanced=False),
                               rtol=0, atol=1e-12)
    assert result.attrs["subtask_scheme"] == "all-examples" and result.attrs["baseline"] == "pooled"


def test_three_way_subtasks_drop_neutral_and_use_pooled_baselines():
    assert [(task.positive, task.negative) for task in subtasks_for(THREE_WAY)] == [((2,), (0,)), ((1,), (0, 2))]
    train = make_store(5, label_names=THREE_WAY, split="train", n_examples=90, statistics=True)
    model = SkillNeurons(positions="all", scheme="all-examples").fit(train)
    values, labels = train.activation.values.astype(np.float64), train.label.values
    # positive-vs-negative: mean over negative and positive train examples only (not a mean of class means)
    np.testing.assert_allclose(model.baseline_.values[0, 0], values[labels != 1].mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(model.baseline_.values[0, 1], values.mean(axis=0), atol=1e-12)
    data = make_store(6, label_names=THREE_WAY, n_examples=40)
    acc = model.score(data)["accuracy"].values
    keep = data.label.values != 1
    manual = np.mean((data.activation.values[keep, 0, 2, 5] > model.baseline_.values[0, 0, 0, 2, 5])
                     == (data.label.values[keep] == 2))
    assert acc[0, 0, 2, 5] == pytest.approx(manual)


# Labels with imbalanced classes in an order that makes "the first k" differ from any other choice.
IMBALANCED = np.array([2, 0, 0, 1, 2, 2, 0, 1, 1, 2, 2, 0, 2, 1, 2, 2, 0, 1, 2, 2, 1, 2, 0, 2, 1, 2, 2, 1, 0, 2])


def test_balanced_subsets_are_the_first_k_of_each_side():
    labels = xr.DataArray(np.stack([IMBALANCED, IMBALANCED[::-1]]), dims=("run", "example"))
    kept = subtask_labels(labels, subtasks_for(THREE_WAY), THREE_WAY, "balanced")
    assert kept.dims == ("run", "subtask", "example")
    for run, values in enumerate(labels.values):
        for number, task in enumerate(subtasks_for(THREE_WAY)):
            expected = np.full(values.size, -1)
            indices = reference_kept(values, task.positive, task.negative, balanced=True)
            expected[indices] = values[indices]
            np.testing.assert_array_equal(kept.values[run, number], expected)
            sides = [np.isin(kept.values[run, number], side).sum() for side in (task.positive, task.negative)]
            assert sides[0] == sides[1] > 0
    lazy = subtask_labels(labels.chunk({"example": 7}), subtasks_for(THREE_WAY), THREE_WAY, "balanced")
    xr.testing.assert_identical(lazy.compute(), kept)


@pytest.mark.parametrize("chunks", [None, {"example": 7, "neuron": 5}])
def test_balanced_three_way_scores_and_baselines_match_reference(chunks):
    train = make_store(5, label_names=THREE_WAY, split="train", n_examples=90, statistics=True)
    data = make_store(6, label_names=THREE_WAY, n_examples=30, labels=IMBALANCED)
    fitted_train, fitted_data = (train, data) if chunks is None else (train.chunk(chunks), data.chunk(chunks))
    model = SkillNeurons(positions="all").fit(fitted_train)
    assert model.scheme_.value == "balanced" and model.baseline_kind_.value == "balanced-subset"
    values, labels = train.activation.values.astype(np.float64), train.label.values
    for number, task in enumerate(subtasks_for(THREE_WAY)):
        subset = reference_kept(labels, task.positive, task.negative, balanced=True)
        np.testing.assert_allclose(model.baseline_.values[0, number], values[subset].mean(axis=0), atol=1e-12)
        expected = reference_accuracy(train.activation.values, labels, data.activation.values, data.label.values,
                                      task.positive, task.negative, balanced=True)
        result = model.score(fitted_data)
        np.testing.assert_allclose(result["accuracy"].values[number], expected, atol=1e-12)
        assert int(result["n_examples"].values[number]) == len(
            reference_kept(data.label.values, task.positive, task.negative, balanced=True))
    assert result.attrs["subtask_scheme"] == "balanced" and result.attrs["baseline"] == "balanced-subset"


def test_balanced_baselines_from_statistics_are_the_mean_of_side_means():
    train = make_store(5, label_names=THREE_WAY, split="train", n_examples=90, statistics=True)
    model = SkillNeurons(positions="all").fit(train.drop_vars("activation"))
    assert model.baseline_kind_.value == "balanced-side-means"
    values, labels = train.activation.values.astype(np.float64), train.label.values
    for number, task in enumerate(subtasks_for(THREE_WAY)):
        sides = [values[np.isin(labels, side)].mean(axis=0) for side in (task.positive, task.negative)]
        np.testing.assert_allclose(model.baseline_.values[0, number], (sides[0] + sides[1]) / 2, atol=1e-12)


def test_balanced_is_refused_where_the_original_does_not_define_it():
    for label_names in (BINARY, ("a", "b", "c", "d"), ("a", "b", "c")):
        train = make_store(1, label_names=label_names, split="train", n_examples=30)
        with pytest.raises(NeurokitError, match="use scheme 'all-examples'") as caught:
            SkillNeurons(scheme="balanced").fit(train)
        assert "\n" not in str(caught.value)
        assert SkillNeurons().fit(train).scheme_.value == "all-examples"
    with pytest.raises(NeurokitError):
        SkillNeurons(scheme="stratified")


def test_baselines_from_statistics_equal_raw(binary_pair):
    train, data = binary_pair
    from_raw = SkillNeurons().fit(train.drop_vars(["train_count", "train_sum", "train_sumsq"])).score(data)
    from_stats = SkillNeurons().fit(train.drop_vars("activation")).score(data)
    xr.testing.assert_allclose(from_raw["score"], from_stats["score"])


@pytest.mark.parametrize("aggregate, name", [(np.mean, "mean"), (np.min, "min")])
def test_several_prompts_combine_by_mean_or_min(aggregate, name):
    labels = np.random.default_rng(0).integers(0, 2, 40)
    train = [make_store(seed, split="train", n_examples=50, prompt=f"p{seed}") for seed in (1, 3, 5)]
    data = [make_store(seed + 1, prompt=f"p{seed}", labels=labels) for seed in (1, 3, 5)]
    # train runs given in another order: baselines are matched to eval runs by prompt
    result = SkillNeurons(over_runs=name).fit(combine_runs(train[::-1])).score(combine_runs(data))
    np.testing.assert_allclose(result["score"].values, reference_scores(train, data, aggregate), atol=1e-12)
    assert result["run_score"].sizes["run"] == 3


def test_position_choices(binary_pair):
    train, data = binary_pair
    everything = SkillNeurons(positions="all").fit(train).score(data)["predictivity"]
    prompt_only = SkillNeurons().fit(train).score(data)
    assert prompt_only["predictivity"].sizes["position"] == len(prompt_positions(data))
    np.testing.assert_allclose(prompt_only["score"], everything.isel(position=prompt_positions(data)).max("position"))
    summaries = SkillNeurons(positions=["input_mean", "last_token"]).fit(train).score(data)
    assert list(summaries["position_role"].values) == ["input_mean", "last_token"]


@pytest.mark.parametrize("per_layer", [True, False])
def test_skill_masks_are_top_fractions(binary_pair, per_layer):
    train, data = binary_pair
    selection = "per-layer" if per_layer else "global"
    result = SkillNeurons(selection=selection, fractions=[0.0, 0.1, 0.25, 0.5]).fit(train).score(data)
    scores = result["score"].values[0]
    for index, fraction in enumerate([0.0, 0.1, 0.25, 0.5]):
        np.testing.assert_array_equal(result["skill"].values[index], reference_top(scores, fraction, per_layer))


def test_top_fraction_ties_and_nan():
    scores = xr.DataArray([[0.7, 0.9, 0.7, np.nan, 0.7]], dims=("layer", "neuron"))
    mask = top_fraction(scores, [0.4, 1.0]).values
    np.testing.assert_array_equal(mask[0, 0], [True, True, False, False, False])  # tie at 0.7 → lower index
    np.testing.assert_array_equal(mask[1, 0], [True, True, True, False, True])  # NaN never selected


@pytest.mark.parametrize("per_layer", [True, False])
def test_balanced_skill_set_is_first_subtask_filled_from_second(per_layer):
    train = make_store(1, label_names=THREE_WAY, split="train", n_examples=80, n_neurons=20)
    fractions = [0.0, 0.05, 0.1, 0.15, 0.2, 0.5, 1.0]
    model = SkillNeurons(fractions=fractions, selection="per-layer" if per_layer else "global").fit(train)
    result = model.score(make_store(2, label_names=THREE_WAY, n_neurons=20))
    scores = result["score"].values.copy()
    for index, fraction in enumerate(fractions):
        expected = reference_filled(scores, fraction, per_layer)
        np.testing.assert_array_equal(result["skill"].values[index], expected)
        size = 20 if per_layer else 40
        assert expected.sum() == (int(np.floor(fraction * size + 1e-9)) * (2 if per_layer else 1))
    # ties, overlap between the sub-tasks' tops and NaN scores (never chosen, so the set may fall short)
    tied = xr.DataArray([[[0.9, 0.9, 0.8, np.nan, 0.7, 0.7]], [[0.9, 0.6, 0.95, 0.95, np.nan, 0.6]]],
                        dims=("subtask", "layer", "neuron"))
    from neurokit.analysis.skill import filled_top
    masks = filled_top(tied, [1 / 3, 2 / 3, 1.0]).values
    for index, fraction in enumerate([1 / 3, 2 / 3, 1.0]):
        np.testing.assert_array_equal(masks[index], reference_filled(tied.values, fraction))
    np.testing.assert_array_equal(masks[1, 0], [True, True, True, True, False, False])
    np.testing.assert_array_equal(masks[2, 0], [True, True, True, True, False, True])  # neuron 4: NaN in sub-task 1


def test_all_examples_skill_set_is_union_of_subtasks():
    train = make_store(1, label_names=THREE_WAY, split="train", n_examples=80)
    result = SkillNeurons(fractions=[0.25], scheme="all-examples").fit(train).score(
        make_store(2, label_names=THREE_WAY))
    per_subtask = [reference_top(result["score"].values[s], 0.25) for s in range(2)]
    np.testing.assert_array_equal(result["skill"].values[0], per_subtask[0] | per_subtask[1])


def test_float16_threshold_is_exact():
    """a > b must hold exactly even when the float64 baseline falls between two float16 values."""
    train = make_store(1, split="train", n_examples=3, n_layers=1, n_neurons=5, prompt_length=1,
                       labels=np.array([0, 1, 1]))
    train["activation"][:] = np.array([1.0, 1.0, 1.0009765625], dtype=np.float16).reshape(3, 1, 1, 1)
    data = train.copy(deep=True).assign_attrs(split="dev")
    acc = SkillNeurons(positions="all").fit(train).score(data)["accuracy"].values.ravel()
    # baseline = 1.00032552…: only the third example (1 + 2⁻¹⁰) lies above it
    assert acc[0] == pytest.approx(2 / 3)


def test_control_selectivity_matches_shuffled_reference(binary_pair):
    train, data = binary_pair
    result = SkillNeurons().fit(train).control_selectivity(data, seed=7)
    shuffled = data.copy(deep=True)
    shuffled["label"] = ("example", data.label.values[np.random.default_rng(7).permutation(data.sizes["example"])])
    np.testing.assert_allclose(result["control_score"].values, reference_scores([train], [shuffled]), atol=1e-12)
    np.testing.assert_allclose(result["selectivity"].values,
                               reference_scores([train], [data]) - reference_scores([train], [shuffled]), atol=1e-12)


def _refused(train, data, match):
    with pytest.raises(NeurokitError, match=match):
        SkillNeurons().fit(train).score(data)


def test_refuses_data_that_do_not_belong_together(binary_pair):
    train, data = binary_pair
    _refused(train, data.assign_attrs(model_id="other-lm"), "different models")
    _refused(train, data.assign_attrs(weights_sha256="x" * 64), "different models")
    other_task = json.dumps({"name": "imdb", "task_type": "sentiment", "label_names": list(BINARY)})
    _refused(train, data.assign_attrs(task=other_task), "task 'sst2'.*task 'imdb'")
    _refused(train.drop_vars(["activation", "train_count", "train_sum"]), data, "neither train statistics")
    _refused(train, data.assign_attrs(prompt_sha256="another"), "no train statistics for prompt")
    _refused(train, data.isel(neuron=slice(0, 6)), "different neuron")
    mixed = combine_runs([data, make_store(3, n_examples=45, prompt="prompt-b", model_id="other-lm")])
    _refused(train, mixed, "different model_ids")


def test_refusal_is_one_line(binary_pair):
    train, data = binary_pair
    with pytest.raises(NeurokitError) as caught:
        SkillNeurons().fit(train).score(data.assign_attrs(model_id="other-lm"))
    assert "\n" not in str(caught.value)


def test_settings_are_validated():
    with pytest.raises(NeurokitError):
        SkillNeurons(over_runs="median")
    with pytest.raises(NeurokitError):
        SkillNeurons(fractions=[0.5, 1.5])
    with pytest.raises(NeurokitError):
        SkillNeurons(positions="middle")


class _ComputeLog(dask.callbacks.Callback):
    """Records every dask graph that is executed."""

    def __init__(self):
        super().__init__()
        self.graphs = []

    def _start(self, graph):
        self.graphs.append(graph)

    def touched(self, array) -> bool:
        return any(array.name in str(key) for graph in self.graphs for key in graph)


def test_analyses_stay_lazy(binary_pair):
    train, data = (chunked(ds) for ds in binary_pair)
    model = SkillNeurons()
    with _ComputeLog() as log:
        model.fit(train)
        results = [model.score(data), model.control_selectivity(data), model.permutation_test(data, 5),
                   model.bootstrap(data, 5).to_dataset(name="interval"), data.neuro.auroc().to_dataset(name="auc")]
    assert not log.touched(data["activation"].data) and not log.touched(train["activation"].data)
    for result in results:
        assert all(variable.chunks is not None for variable in result.data_vars.values())


def test_accessor_equals_estimator(binary_pair):
    train, data = binary_pair
    xr.testing.assert_identical(data.neuro.skill_neurons(train, over_runs="min"),
                                SkillNeurons(over_runs="min").fit(train).score(data))
    assert data.neuro.info.label_names == BINARY
    assert [task.name for task in data.neuro.subtasks] == ["positive-vs-negative"]
