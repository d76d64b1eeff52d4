"""Resampling statistics of the neuron score: bootstrap intervals, permutation p-values, Benjamini–Hochberg.

Both resamplings reuse one kernel that evaluates the neuron score (max over positions of ``Pred``, combined
over runs) for many relabelled or reweighted copies of the eval set at once. Replicate ``b`` gives example
``x`` the label of example ``index[b, x]`` and counts it ``weight[b, x]`` times, so

    correct_b = Σ_x w⁺_b(x)·above(x) + Σ_x w⁻_b(x)·(1 − above(x)),

with ``w⁺``/``w⁻`` the weights of the examples whose (relabelled) class is on the positive/negative side of
the sub-task: one matrix product per slab for all replicates. A permutation test relabels
(``index`` = a permutation, weights 1); a bootstrap reweights (``index`` = identity, weights = multinomial
draw counts). Replicate 0 is always the observed data. The kernel needs every example of a neuron, so the
activations are rechunked into slabs of whole (run, example, position) and a few neurons.

Random draws are made once, up front, from ``np.random.default_rng(seed)`` (see each function), so results do
not depend on chunking or scheduling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import numpy as np
import scipy.stats
import xarray as xr

from neurokit.analysis.common import (
    DEFAULT_SLAB_BYTES,
    RunAggregation,
    single_chunk,
    slab_chunks,
)
from neurokit.analysis.subtasks import SubTask, SubtaskScheme, balanced_weights
from neurokit.dims import BOUND, EXAMPLE, LAYER, NEURON, POSITION, RUN, SUBTASK
from neurokit.errors import ConfigError
from neurokit.validation import OPEN_UNIT, as_enum, integer, real

REPLICATE = "replicate"
#: The level of every interval (bootstrap intervals of scores and of ablation effects) unless one is asked for.
DEFAULT_CONFIDENCE = 0.95


def _replicate_scores(values: np.ndarray, baseline: np.ndarray, labels: np.ndarray, index: np.ndarray,
                      weight: np.ndarray, *, subtasks: Sequence[SubTask], over_runs: RunAggregation,
                      scheme: SubtaskScheme) -> np.ndarray:
    """Neuron scores of every replicate for one slab.

    values (…, run, example, position) activations; baseline (…, run, subtask, position) thresholds;
    labels (run, example) class indices; index (replicate, example) int; weight (replicate, example) float.
    Returns (…, subtask, replicate) neuron scores in [0.5, 1] (NaN where undefined).
    """
    loop_shape = values.shape[:-3]
    n_runs, n_examples, n_positions = values.shape[-3:]
    values = values.reshape(-1, n_runs, n_examples, n_positions)
    baseline = np.broadcast_to(baseline, loop_shape + baseline.shape[-3:]).reshape(
        -1, n_runs, len(subtasks), n_positions)
    labels = labels.reshape(*labels.shape[-2:])
    index, weight = index.reshape(*index.shape[-2:]), weight.reshape(*weight.shape[-2:])
    n_loop, n_replicates = values.shape[0], index.shape[0]
    scores = np.empty((n_runs, len(subtasks), n_replicates, n_loop))
    for run in range(n_runs):
        relabelled = labels[run][index]
        for task_number, task in enumerate(subtasks):
            positive = np.isin(relabelled, task.positive) * weight
            negative = np.isin(relabelled, task.negative) * weight
            if scheme is SubtaskScheme.BALANCED:  # the replicate's own balanced subset, as for the data
                positive, negative = balanced_weights(positive, negative)
            threshold = baseline[:, run, task_number, :]
            above = values[:, run] > threshold[:, None, :]
            above = above.transpose(1, 0, 2).reshape(n_examples, -1).astype(np.float64)
            negatives = negative.sum(axis=1, keepdims=True)
            correct = (positive - negative) @ above + negatives
            total = positive.sum(axis=1, keepdims=True) + negatives
            # Pred from whole counts, max(c, n − c) / n: equal counts give bit-equal scores, so permutation
            # ties are counted exactly (1 − c/n and (n − c)/n can differ in the last bit).
            with np.errstate(invalid="ignore", divide="ignore"):
                pred = (np.maximum(correct, total - correct) / total).reshape(n_replicates, n_loop, n_positions)
            pred[:, np.isnan(threshold)] = np.nan
            scores[run, task_number] = np.fmax.reduce(pred, axis=-1)
    combined = scores.mean(axis=0) if over_runs is RunAggregation.MEAN else scores.min(axis=0)
    return np.moveaxis(combined, (0, 1), (-2, -1)).reshape(loop_shape + (len(subtasks), n_replicates))


def percentile_bounds(replicates: np.ndarray, confidence: float) -> np.ndarray:
    """Percentile bootstrap interval: (…, 2) the (1−c)/2 and (1+c)/2 quantiles (numpy's linear
    interpolation) of the replicates along the last axis, NaN replicates left out."""
    tail = (1.0 - confidence) / 2.0
    return np.moveaxis(np.nanquantile(replicates, [tail, 1.0 - tail], axis=-1), 0, -1)


def resample_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Bootstrap resamples as counts: (size, n) int, row b = how often each of the n items is drawn in
    resample b, ``rng.multinomial(n, [1/n]·n, size=size)``."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=size)


def _percentile_interval(*arrays: np.ndarray, confidence: float, **settings) -> np.ndarray:
    """Kernel: (…, subtask, 2) lower/upper percentile bounds of the bootstrap replicates (replicate 0 is
    the observed score and is not part of the bootstrap distribution)."""
    return percentile_bounds(_replicate_scores(*arrays, **settings)[..., 1:], confidence)


def _permutation_p(*arrays: np.ndarray, **settings) -> np.ndarray:
    """Kernel: (…, subtask) add-one p-value (1 + #{permuted ≥ observed}) / (1 + permutations)."""
    replicates = _replicate_scores(*arrays, **settings)
    observed, permuted = replicates[..., :1], replicates[..., 1:]
    p_value = (1.0 + (permuted >= observed).sum(axis=-1)) / (1.0 + permuted.shape[-1])
    return np.where(np.isnan(observed[..., 0]), np.nan, p_value)


def _apply_replicates(kernel, activation: xr.DataArray, baseline: xr.DataArray, labels: xr.DataArray,
                      index: np.ndarray, weight: np.ndarray, subtasks: Sequence[SubTask],
                      over_runs: RunAggregation, scheme: SubtaskScheme | str, extra_dims: dict[str, int],
                      slab_bytes: int, **kernel_settings) -> xr.DataArray:
    """Run a replicate kernel over slabs of whole (run, example, position) and a few neurons, lazily."""
    n_replicates = index.shape[0]
    sizes = activation.sizes
    # Working memory per neuron: the slab in float64 plus the replicate matrices (acc, pred, temporaries).
    bytes_per_neuron = 16 * sizes[RUN] * sizes[EXAMPLE] * sizes[POSITION] + 32 * n_replicates * sizes[POSITION]
    activation = slab_chunks(activation, (RUN, EXAMPLE, POSITION), bytes_per_neuron, slab_bytes)
    baseline = single_chunk(baseline, (RUN, SUBTASK, POSITION))
    labels = single_chunk(labels.broadcast_like(activation[RUN]).transpose(RUN, EXAMPLE), (RUN, EXAMPLE))
    result = xr.apply_ufunc(
        partial(kernel, subtasks=tuple(subtasks), over_runs=over_runs, scheme=as_enum(scheme, SubtaskScheme, "scheme"),
                **kernel_settings),
        activation, baseline, labels,
        xr.Variable((REPLICATE, EXAMPLE), index), xr.Variable((REPLICATE, EXAMPLE), weight),
        input_core_dims=[[RUN, EXAMPLE, POSITION], [RUN, SUBTASK, POSITION], [RUN, EXAMPLE],
                         [REPLICATE, EXAMPLE], [REPLICATE, EXAMPLE]],
        output_core_dims=[[SUBTASK, *extra_dims]],
        dask="parallelized", output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": extra_dims},
    )
    return result.assign_coords({name: coord for name, coord in baseline.coords.items() if coord.dims == (SUBTASK,)})


def bootstrap_interval(activation: xr.DataArray, baseline: xr.DataArray, labels: xr.DataArray,
                       subtasks: Sequence[SubTask], over_runs: RunAggregation, scheme: SubtaskScheme | str,
                       n_resamples: int = 1000,
                       confidence: float = DEFAULT_CONFIDENCE, seed: int = 0,
                       slab_bytes: int = DEFAULT_SLAB_BYTES) -> xr.DataArray:
    """Percentile bootstrap interval of the neuron score: (subtask, layer, neuron, bound), bound ∈ {lower, upper}.

    ``activation`` (run, example, layer, position, neuron), ``baseline`` (run, subtask, layer, position,
    neuron) and ``labels`` ([run,] example) as matched by :class:`~neurokit.analysis.SkillNeurons`. With the
    balanced ``scheme`` each resample is balanced as the data are (:func:`~neurokit.analysis.subtasks.
    balanced_weights`: the first k draws of each side in example order), so the interval covers the whole
    procedure. Draws:
    ``np.random.default_rng(seed).multinomial(n, [1/n]·n, size=n_resamples)`` — row b counts how often each
    eval example is drawn in resample b (the same draw for every run, since the runs share examples).
    """
    integer(n_resamples, "n_resamples")
    real(confidence, "confidence", OPEN_UNIT)
    n_examples = activation.sizes[EXAMPLE]
    draws = resample_counts(np.random.default_rng(seed), n_examples, n_resamples)
    index = np.broadcast_to(np.arange(n_examples), (n_resamples + 1, n_examples))
    weight = np.vstack([np.ones(n_examples), draws]).astype(np.float64)
    interval = _apply_replicates(_percentile_interval, activation, baseline, labels, index, weight, subtasks,
                                 over_runs, scheme, {BOUND: 2}, slab_bytes, confidence=confidence)
    return interval.assign_coords({BOUND: ["lower", "upper"]}).transpose(SUBTASK, LAYER, NEURON, BOUND)


def permutation_p_values(activation: xr.DataArray, baseline: xr.DataArray, labels: xr.DataArray,
                         subtasks: Sequence[SubTask], over_runs: RunAggregation, scheme: SubtaskScheme | str,
                         n_permutations: int = 1000,
                         seed: int = 0, slab_bytes: int = DEFAULT_SLAB_BYTES) -> xr.DataArray:
    """Label-permutation p-value of each neuron score: (subtask, layer, neuron), in (0, 1].

    Under the null that activations carry no information about the label, every relabelling of the eval
    examples is equally likely. p = (1 + #{b : T_b ≥ T_obs}) / (1 + B), the add-one correction that keeps
    the test valid with B random permutations. The statistic ``T`` is the full neuron score (max over positions,
    combined over runs), so the selection of the best position is part of the null; with the balanced
    ``scheme`` each permuted labelling gets its own balanced subset, as the data do. Draws: row b is
    ``rng.permutation(n)`` for b = 1…B in order, ``rng = np.random.default_rng(seed)``; the same
    permutation of the example axis relabels every run.
    """
    integer(n_permutations, "n_permutations")
    n_examples = activation.sizes[EXAMPLE]
    rng = np.random.default_rng(seed)
    index = np.vstack([np.arange(n_examples)] + [rng.permutation(n_examples) for _ in range(n_permutations)])
    weight = np.ones(index.shape)
    p_value = _apply_replicates(_permutation_p, activation, baseline, labels, index, weight, subtasks,
                                over_runs, scheme, {}, slab_bytes)
    return p_value.transpose(SUBTASK, LAYER, NEURON)


def _adjust_bh(p_values: np.ndarray, n_core: int) -> np.ndarray:
    """Benjamini–Hochberg over the last ``n_core`` axes taken together; NaN p-values are left out (scipy's
    adjustment counts every entry it is given as a test, so each family passes only its non-NaN ones)."""
    shape = p_values.shape
    families = p_values.reshape(-1, math.prod(shape[len(shape) - n_core:]))
    adjusted = np.full(families.shape, np.nan)
    for family, q_values in zip(families, adjusted, strict=True):
        tested = ~np.isnan(family)
        if tested.any():
            q_values[tested] = scipy.stats.false_discovery_control(family[tested], method="bh")
    return adjusted.reshape(shape)


def benjamini_hochberg(p_values: xr.DataArray, dims: Sequence[str] = (LAYER, NEURON)) -> xr.DataArray:
    """Benjamini–Hochberg adjusted p-values (q-values), one family per combination of the other dims.

    ``dims`` are the dims that form a family of tests (default: all neurons of a sub-task). Rejecting
    q ≤ α controls the false discovery rate at α (for independent or positively dependent tests).
    """
    dims = list(dims)
    p_values = single_chunk(p_values, dims)
    return xr.apply_ufunc(_adjust_bh, p_values, input_core_dims=[dims], output_core_dims=[dims],
                          kwargs={"n_core": len(dims)}, dask="parallelized", output_dtypes=[np.float64],
                          keep_attrs=True).transpose(*p_values.dims)


def bootstrap_shares(successes, trials, n_resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """Bootstrap replicates over examples of shares given as counts (accuracies): (n_resamples, *shape).

    Resampling the ``trials`` examples of a 0/1 outcome with replacement gives Binomial(trials,
    successes / trials) successes, so the counts are all a bootstrap needs. Every cell of ``successes`` is
    resampled independently (cells that share examples are treated as independent samples). Draws:
    ``np.random.default_rng(seed).binomial`` once, for all cells.
    """
    integer(n_resamples, "n_resamples")
    successes, trials = np.broadcast_arrays(np.asarray(successes, dtype=np.int64), np.asarray(trials, dtype=np.int64))
    if np.any(trials < 1) or np.any(successes < 0) or np.any(successes > trials):
        raise ConfigError("bootstrap_shares needs 0 ≤ successes ≤ trials and trials ≥ 1")
    draws = np.random.default_rng(seed).binomial(trials, successes / trials, size=(n_resamples, *trials.shape))
    return draws / trials
