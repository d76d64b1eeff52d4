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
NAN = np.isnan(ALL_FLOAT16)  # both signs: bit patterns above ±inf's


def _baselines() -> np.ndarray:
    """Edge cases: zeros of both signs, values between two float16 neighbours, subnormals, the float16
    range's ends and beyond, infinities, NaNs of both signs, and random values of both signs."""
    one_up = np.nextafter(np.float16(1), np.float16(2)).astype(np.float64)
    edges = [0.0, -0.0, 1.0, -1.0, (1.0 + one_up) / 2, -(1.0 + one_up) / 2, 1e-9, -1e-9, 5.96e-8, -5.96e-8,
             3e-8, -3e-8, 65504.0, -65504.0, 65505.0, -65505.0, 1e6, -1e6, np.inf, -np.inf, np.nan,
             np.copysign(np.nan, -1), 0.17, -0.17]
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


@pytest.mark.parametrize("with_unlabelled_nan", [False, True], ids=["no NaN", "NaN in unlabelled examples"])
def test_float16_comparison_is_exact_for_every_value(with_unlabelled_nan):
    values = ALL_FLOAT16[~NAN]
    baseline = _baselines()
    # Every float16 value against every baseline: neurons are (value, baseline) pairs, two examples per
    # value (labels 0 and 1), so the per-class counts are the comparisons themselves. A NaN may only sit in
    # an unlabelled example (a labelled one is refused): two more rows, counted nowhere, hold NaNs of both
    # signs, which must not change any count.
    grid = np.broadcast_to(values[:, None], (values.size, baseline.size)).reshape(1, -1)
    chunk = np.concatenate([grid, grid])
    labels = np.array([0, 1])
    if with_unlabelled_nan:
        positive, negative = grid.copy(), grid.copy()
        positive[0, ::7] = ALL_FLOAT16[NAN & (ALL_FLOAT16.view(np.int16) > 0)][0]
        negative[0, ::5] = ALL_FLOAT16[NAN & (ALL_FLOAT16.view(np.int16) < 0)][-1]
        chunk, labels = np.concatenate([chunk, positive, negative]), np.array([0, 1, -1, -1])
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


@pytest.mark.parametrize("sign", [1, -1], ids=["positive NaN", "negative NaN"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_nan_in_a_labelled_example_is_an_error_not_below(dtype, sign):
    from neurokit.errors import NeurokitError

    values = np.ones((4, 3), dtype=dtype)
    values[1, 2] = np.copysign(np.nan, sign)  # positive: what a missing chunk reads as
    assert np.signbit(values[1, 2]) == (sign < 0)
    with pytest.raises(NeurokitError,
                       match=r"NaN activations for 1 labelled example\(s\) \(the first at example index 1"):
        _counts(values, np.zeros(3), np.array([0, 1, 0, 1]))


def test_counts_per_class_labelling_and_subtask_and_wide_counts():
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
def test_examples_sharing_classes_over_labellings_count_in_each(n_labellings):
    """Each labelling's counts are its own whatever the others' labels; examples out of a labelling (-1, or a
    class index beyond the classes) count nowhere in it."""
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

def _layouts(activation: np.ndarray) -> dict[str, np.ndarray]:
    """The same values (run, example, layer, position, neuron) in the memory layouts a chunk may come in."""
    wider = np.concatenate([activation, activation[:, :, :, :1]], axis=3)  # one more stored position
    reversed_examples = np.ascontiguousarray(activation[:, ::-1])[:, ::-1]
    neuron_major = np.asfortranarray(activation)
    big_endian = activation.astype(activation.dtype.newbyteorder(">"))
    return {"contiguous": activation, "slice of positions": wider[:, :, :, :-1],
            "negative strides": reversed_examples, "strided neurons": neuron_major, "big-endian": big_endian,
            "every other example": np.repeat(activation, 2, axis=1)[:, ::2]}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int8])
def test_every_memory_layout_of_a_chunk_counts_the_same(dtype):
    rng = np.random.default_rng(5)
    activation = (rng.normal(0, 3, size=(2, 40, 2, 3, 7))).astype(dtype)
    baseline = rng.normal(0, 0.5, size=(2, 2, 2, 3, 7))
    labels = rng.integers(-1, 2, size=(2, 2, 2, 40))
    threshold = comparable_thresholds(baseline, activation.dtype)
    expected_key = {np.float16: np.int16, np.float32: np.int32, np.float64: np.int64, np.int8: np.int64}[dtype]
    assert threshold.dtype == expected_key
    expected = kernels._above_counts_block(activation, threshold, labels, 2)
    above = activation[:, None].astype(np.float64) > baseline[:, :, None]  # (run, subtask, example, ...)
    for labelling, subtask, run, label in np.ndindex(2, 2, 2, 2):
        rows = labels[labelling, subtask, run] == label
        np.testing.assert_array_equal(expected[labelling, subtask, label, run, 0], above[run, subtask][rows].sum(0))
    for name, layout in _layouts(activation).items():
        np.testing.assert_array_equal(layout, activation)
        np.testing.assert_array_equal(kernels._above_counts_block(layout, threshold, labels, 2), expected,
                                      err_msg=name)


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
