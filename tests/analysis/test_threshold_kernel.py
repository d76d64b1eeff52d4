"""The per-chunk kernel of :func:`neurokit.analysis.skill.accuracy`: ``1[a > b]`` compared on integer keys for
float16 activations, counted per class, must equal the float64 definition for every value."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr

from neurokit.analysis import kernels
from neurokit.analysis.kernels import above_counts, comparable_thresholds

ALL_FLOAT16 = np.arange(-(2**15), 2**15, dtype=np.int32).astype(np.int16).view(np.float16)
POSITIVE_NAN = ALL_FLOAT16.view(np.int16) > 0x7C00


def _baselines() -> np.ndarray:
    """Edge cases: zeros of both signs, values between two float16 neighbours, subnormals, the float16
    range's ends and beyond, infinities, NaN, and random values of both signs."""
    one_up = np.nextafter(np.float16(1), np.float16(2)).astype(np.float64)
    edges = [0.0, -0.0, 1.0, -1.0, (1.0 + one_up) / 2, -(1.0 + one_up) / 2, 1e-9, -1e-9, 5.96e-8, -5.96e-8,
             3e-8, -3e-8, 65504.0, -65504.0, 65505.0, -65505.0, 1e6, -1e6, np.inf, -np.inf, np.nan, 0.17, -0.17]
    return np.concatenate([edges, np.random.default_rng(0).normal(0, 2, 40)])


def _counts(values: np.ndarray, baseline: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The kernel on a chunk of shape (run=1, example, layer=1, position=1, neuron), one threshold per neuron."""
    activation = values.reshape(1, values.shape[0], 1, 1, -1)
    threshold = comparable_thresholds(baseline.reshape(1, 1, 1, 1, -1), activation.dtype)
    counts = kernels._above_counts_block(activation, threshold, labels.reshape(1, 1, 1, -1), n_classes=2)
    return counts[0, 0, :, 0, 0, 0, 0]


def _expected(values: np.ndarray, baseline: np.ndarray, labels: np.ndarray) -> np.ndarray:
    above = values.astype(np.float64) > baseline  # (example, neuron)
    return np.stack([above[labels == label].sum(axis=0) for label in (0, 1)])


@pytest.mark.parametrize("with_positive_nan", [False, True], ids=["integer keys", "float16 fallback"])
def test_float16_comparison_is_exact_for_every_value(with_positive_nan):
    values = ALL_FLOAT16[~POSITIVE_NAN]
    baseline = _baselines()
    # Every float16 value against every baseline: neurons are (value, baseline) pairs, two examples per
    # value (labels 0 and 1), so the per-class counts are the comparisons themselves. A positive NaN may
    # only sit in an unlabelled example (a labelled one is refused): a third row, counted nowhere, holds
    # one so that the slab is compared in float16.
    grid = np.broadcast_to(values[:, None], (values.size, baseline.size)).reshape(1, -1)
    chunk = np.concatenate([grid, grid])
    labels = np.array([0, 1])
    if with_positive_nan:
        unlabelled = grid.copy()
        unlabelled[0, 0] = ALL_FLOAT16[POSITIVE_NAN][0]
        chunk, labels = np.concatenate([chunk, unlabelled]), np.array([0, 1, -1])
    tiled = np.tile(baseline, values.size)
    result = _counts(chunk, tiled, labels)
    expected = _expected(chunk, tiled, labels)
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_other_dtypes_compare_exactly(dtype):
    rng = np.random.default_rng(1)
    baseline = _baselines()
    values = rng.normal(0, 2, (300, baseline.size)).astype(dtype)
    values[0] = baseline.astype(dtype)  # values equal to (the rounding of) the baseline
    values[1] = np.nextafter(baseline.astype(dtype), dtype(np.inf))
    values[2, :3] = np.nan
    labels = rng.integers(-1, 2, 300)  # -1: an unlabelled example, counted in no class
    # NaN only in an unlabelled example: in a labelled one it is refused (rows 0 and 1 copy the NaN baseline).
    values[:2, np.isnan(baseline)] = 0
    labels[2] = -1
    np.testing.assert_array_equal(_counts(values, baseline, labels), _expected(values, baseline, labels))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_nan_in_a_labelled_example_is_an_error_not_below(dtype):
    from neurokit.errors import NeurokitError

    values = np.ones((4, 3), dtype=dtype)
    values[1, 2] = np.nan  # what a missing chunk reads as
    with pytest.raises(NeurokitError,
                       match=r"NaN activations for 1 labelled example\(s\) \(the first at example index 1"):
        _counts(values, np.zeros(3), np.array([0, 1, 0, 1]))


def test_counts_per_class_labelling_and_subtask_over_slabs_and_wide_counts(monkeypatch):
    monkeypatch.setattr(kernels, "_SLAB_BYTES", 64)  # many slabs per chunk, one ragged
    rng = np.random.default_rng(2)
    activation = rng.normal(size=(2, 300, 2, 3, 5)).astype(np.float16)  # 300 examples: counts beyond uint8
    baseline = rng.normal(0, 0.5, size=(2, 2, 2, 3, 5))
    labels = rng.integers(-1, 3, size=(2, 2, 2, 300))  # (labelling, subtask, run, example): each sub-task its own
    counts = kernels._above_counts_block(activation, comparable_thresholds(baseline, activation.dtype), labels, 3)
    above = activation[:, None].astype(np.float64) > baseline[:, :, None]  # (run, subtask, example, ...)
    for labelling, subtask, run, label in np.ndindex(2, 2, 2, 3):
        rows = labels[labelling, subtask, run] == label
        np.testing.assert_array_equal(counts[labelling, subtask, label, run, 0], above[run, subtask][rows].sum(axis=0))



@pytest.mark.parametrize("n_labellings", [1, 5])
def test_examples_sharing_classes_over_labellings_count_in_each(monkeypatch, n_labellings):
    """Each labelling's counts are its own whatever the others' labels; examples out of a labelling (-1, or a
    class index beyond the classes) count nowhere in it."""
    monkeypatch.setattr(kernels, "_SLAB_BYTES", 100)  # slabs of a few examples, one ragged
    rng = np.random.default_rng(4)
    activation = rng.normal(size=(2, 90, 1, 2, 3)).astype(np.float16)
    baseline = rng.normal(0, 0.5, size=(2, 2, 1, 2, 3))
    labels = rng.integers(-1, 4, size=(n_labellings, 2, 2, 90))  # 3: not a class of the task
    labels[:, :, :, :10] = -1  # examples no labelling counts
    counts = kernels._above_counts_block(activation, comparable_thresholds(baseline, activation.dtype), labels, 3)
    above = activation[:, None].astype(np.float64) > baseline[:, :, None]  # (run, subtask, example, ...)
    expected = np.zeros(counts.shape, dtype=np.int64)
    for labelling, subtask, run, label in np.ndindex(n_labellings, 2, 2, 3):
        rows = labels[labelling, subtask, run] == label
        expected[labelling, subtask, label, run, 0] = above[run, subtask][rows].sum(axis=0)
    np.testing.assert_array_equal(counts, expected)

def _lazy_inputs():
    rng = np.random.default_rng(3)
    activation = xr.DataArray(rng.normal(size=(1, 40, 3, 2, 4)).astype(np.float16),
                              dims=("run", "example", "layer", "position", "neuron"))
    baseline = xr.DataArray(rng.normal(0, 0.5, size=(1, 2, 3, 2, 4)),
                            dims=("run", "subtask", "layer", "position", "neuron"))
    labels = xr.DataArray(rng.integers(-1, 2, size=(2, 2, 1, 40)), dims=("labels", "subtask", "run", "example"))
    return activation, baseline, labels


def test_dask_counts_equal_in_memory_counts():
    activation, baseline, labels = _lazy_inputs()
    expected = above_counts(activation, baseline, labels, 2)
    lazy = above_counts(activation.chunk({"example": 7, "layer": 1}), baseline.chunk({"layer": 2}),
                        labels.chunk({"example": 9}), 2)
    assert lazy.dims == ("labels", "subtask", "class", "run", "layer", "position", "neuron")
    xr.testing.assert_identical(lazy.compute(), expected)


def test_thresholds_are_prepared_once_per_block_not_per_chunk(monkeypatch):
    calls = []
    prepare = kernels.comparable_thresholds
    monkeypatch.setattr(kernels, "comparable_thresholds", lambda *args: calls.append(1) or prepare(*args))
    activation, baseline, labels = _lazy_inputs()
    lazy = above_counts(activation.chunk({"example": 5, "layer": 1}), baseline, labels, 2)  # 8 chunks per layer
    calls.clear()  # dask may call it on empty arrays while building the graph
    with dask.config.set(scheduler="synchronous"):
        lazy.compute()
    assert len(calls) == 3  # one per layer block of baselines
