"""Predictivity and skill neurons exactly as Wang et al. (EMNLP 2022).

For neuron n at prompt position p of one prompt (run) and one binary sub-task:

- baseline ``b(n,p)`` = mean activation over the train examples of the sub-task's classes (a pooled mean,
  Σ sums / Σ counts, never a mean of class means). For a binary task that is the whole train set, as in the
  paper. For the positive-vs-negative sub-task of a 3-way task the neutral examples are left out: the
  threshold has to split the two classes being predicted, and the neutral examples would drag it toward the
  neutral activations, which play no part in that sub-task. Neutral-vs-rest and one-vs-rest use all classes.
- ``Acc(n,p)`` = share of the sub-task's eval examples with ``1[a(n,p,x) > b(n,p)] == y(x)``;
- ``Pred(n,p) = max(Acc, 1 − Acc)``; neuron score ``Pred(n) = max_p Pred(n,p)`` over the chosen positions
  (prompt positions by default); over several prompts of one task the mean (default) or the minimum.
- skill neurons: the top fraction of neurons by score within each layer (default) or over all layers; a
  multi-class task's skill set is the union of its sub-tasks' tops.

``Acc`` is a mean over examples of a boolean, so it is computed as one streaming dask reduction over the
example chunks of the store: each chunk is read once and reduced to counts at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from neurokit.analysis import resampling
from neurokit.analysis._common import (
    CLASS,
    DEFAULT_SLAB_BYTES,
    EXAMPLE,
    LAYER,
    NEURON,
    POSITION,
    RUN,
    SUBTASK,
    PositionSet,
    RunAggregation,
    RunInfo,
    Selection,
    as_position_set,
    check_fractions,
    check_same_layout,
    check_same_model,
    check_same_task,
    choice,
    describe,
    select_positions,
    single_chunk,
    top_count,
    with_runs,
)
from neurokit.analysis.subtasks import SubTask, binary_targets, class_membership, class_onehot, subtasks_for
from neurokit.errors import NeurokitError, StoreError

#: The sweep of Wang et al.: 0 % to 20 % of the neurons in 1 % steps.
DEFAULT_FRACTIONS: tuple[float, ...] = tuple(round(step / 100, 2) for step in range(21))


def class_statistics(train: xr.Dataset, label_names: Sequence[str]) -> tuple[xr.DataArray, xr.DataArray]:
    """Train example count (…, class) int64 and activation sum (…, class, layer, position, neuron) float64.

    Taken from the store's ``train_count``/``train_sum`` when present; otherwise summed lazily (in float64,
    one pass over the example chunks) from raw ``activation`` and ``label``.
    """
    if "train_count" in train and "train_sum" in train:
        classes = [str(name) for name in train[CLASS].values]
        if classes != list(label_names):
            raise StoreError(f"train statistics are for classes {classes}, the task's labels are {list(label_names)}")
        return train["train_count"], train["train_sum"]
    if "activation" in train and "label" in train:
        onehot = class_onehot(train["label"], label_names)
        total = train["activation"].astype(np.float64).where(onehot, 0.0).sum(EXAMPLE)
        return onehot.sum(EXAMPLE), total
    raise StoreError("train store has neither train statistics (train_count, train_sum) nor raw activations")


def subtask_baselines(count: xr.DataArray, total: xr.DataArray, subtasks: Sequence[SubTask],
                      label_names: Sequence[str]) -> xr.DataArray:
    """Pooled train mean per sub-task: (…, subtask, layer, position, neuron) float64, activation units."""
    membership = class_membership(subtasks, label_names)
    baseline = xr.dot(membership, total, dim=CLASS) / xr.dot(membership, count.astype(np.float64), dim=CLASS)
    return baseline.transpose(..., SUBTASK, LAYER, POSITION, NEURON)


def _threshold_for(activation: xr.DataArray, baseline: xr.DataArray) -> xr.DataArray:
    """The baseline rounded down to float32 when the activations are float16/float32.

    For activations ``a`` representable in float32, ``a > b`` equals ``a > floor32(b)`` exactly (no float32
    value lies strictly between them), so the comparison of every streamed element runs in float32 instead
    of upcasting each chunk to float64: half the temporary memory, same result.
    """
    if np.result_type(activation.dtype, np.float32) != np.float32:
        return baseline
    rounded = baseline.astype(np.float32)
    return xr.where(rounded > baseline, np.nextafter(rounded, np.float32(-np.inf)), rounded, keep_attrs=True)


def _match_kernel(positive: np.ndarray, included: np.ndarray, activation: np.ndarray,
                  threshold: np.ndarray) -> np.ndarray:
    return ((activation > threshold) == positive) & included


def matches(activation: xr.DataArray, threshold: xr.DataArray, positive: xr.DataArray,
            included: xr.DataArray) -> xr.DataArray:
    """Whether ``1[a > threshold]`` gives the target, for the examples that take part: bool (…, subtask, run,
    example, layer, position, neuron), the target dims that the activations lack leading.

    That order is what keeps the per-chunk work at memory speed: numpy loops along the last axis, and with
    xarray's order for a broadcast (the activation's dims first, then ``subtask`` and the real/control
    ``labels``) that last axis has length 1 or 2, which makes every elementwise step 30–100× slower (measured
    on a 6.7 MB chunk: 0.6 ms vs 106 ms for ``==`` with two labellings); the control task and multi-class
    tasks then took several times as long as reading the store.
    """
    return xr.apply_ufunc(_match_kernel, positive, included, activation, threshold, dask="parallelized",
                          output_dtypes=[bool])


def accuracy(activation: xr.DataArray, baseline: xr.DataArray, positive: xr.DataArray,
             included: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """``Acc`` per (…, subtask, layer, position, neuron) and the number of eval examples per (…, subtask).

    ``activation`` (run, example, layer, position, neuron); ``baseline`` (run, subtask, layer, position,
    neuron); ``positive``/``included`` (…, subtask, run, example) bool from :func:`binary_targets` (extra
    leading dims, such as real vs control labels, broadcast). One streaming reduction over example chunks;
    ``Acc`` is NaN where the baseline is (a position a run does not have).
    """
    correct = matches(activation, _threshold_for(activation, baseline), positive, included).sum(EXAMPLE)
    count = included.sum(EXAMPLE)
    result = (correct / count).where(baseline.notnull())
    return result.transpose(..., RUN, SUBTASK, LAYER, POSITION, NEURON), count


def predictivity(acc: xr.DataArray) -> xr.DataArray:
    """``Pred = max(Acc, 1 − Acc)``: a neuron may predict either class (inhibitory when Acc < 0.5)."""
    return np.maximum(acc, 1.0 - acc)


def neuron_score(pred: xr.DataArray, over_runs: RunAggregation | None) -> xr.DataArray:
    """``max_p Pred(n,p)`` per run, then mean or min over the ``run`` dim (``None``: keep the runs).

    Positions a run lacks (NaN) are skipped in the maximum; the run aggregation propagates NaN.
    """
    per_run = pred.max(POSITION, skipna=True)
    if over_runs is None:
        return per_run
    if over_runs is RunAggregation.MEAN:
        return per_run.mean(RUN, skipna=False)
    return per_run.min(RUN, skipna=False)


def _descending_rank(values: np.ndarray, n_core: int) -> np.ndarray:
    """Rank 0 = highest along the last ``n_core`` axes taken together; ties go to the lower flat index (the
    order of layers and neurons), NaN ranks last. A stable sort makes the tie rule independent of chunking."""
    shape = values.shape
    flat = values.reshape(shape[: len(shape) - n_core] + (-1,))
    order = np.argsort(-flat, axis=-1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(flat.shape[-1]), order.shape), axis=-1)
    return ranks.reshape(shape)


def top_fraction(scores: xr.DataArray, fractions: Sequence[float],
                 selection: Selection | str = Selection.PER_LAYER) -> xr.DataArray:
    """Boolean masks (fraction, …, layer, neuron) of the top ``fraction`` of neurons by score.

    Per layer: ⌊fraction · neurons per layer⌋ neurons in every layer; globally: ⌊fraction · all neurons⌋.
    Ties at the cut go to the lower (layer, neuron) index; NaN scores are never selected.
    """
    fractions = check_fractions(fractions)
    core = [NEURON] if choice(Selection, selection) is Selection.PER_LAYER else [LAYER, NEURON]
    scores = single_chunk(scores, core)
    ranks = xr.apply_ufunc(
        _descending_rank, scores, input_core_dims=[core], output_core_dims=[core],
        kwargs={"n_core": len(core)}, dask="parallelized", output_dtypes=[np.int64],
    )
    size = int(np.prod([scores.sizes[dim] for dim in core]))
    cut = xr.DataArray([top_count(fraction, size) for fraction in fractions], dims="fraction",
                       coords={"fraction": list(fractions)})
    return ((ranks < cut) & scores.notnull()).transpose("fraction", ..., LAYER, NEURON)


@dataclass
class SkillNeurons:
    """Wang et al.'s skill-neuron estimator, scikit-learn style.

    Settings (validated, no work done here): ``positions`` — "prompt" (mask slot and soft-prompt vectors,
    the default, as in both papers), "all", or a list of position roles; ``over_runs`` — how several prompts'
    scores combine ("mean" or "min"); ``selection`` — top fraction "per-layer" or "global"; ``fractions`` —
    the sweep of top fractions for the skill masks.

    ``fit(train)`` learns ``baseline_`` (run, subtask, layer, position, neuron; float64, activation units)
    from train statistics or raw train activations; ``score(eval)`` and the other methods use it on held-out
    data of the same model, task and prompts. Everything stays lazy until computed.
    """

    positions: PositionSet | str | Sequence[str] = PositionSet.PROMPT
    over_runs: RunAggregation | str = RunAggregation.MEAN
    selection: Selection | str = Selection.PER_LAYER
    fractions: Sequence[float] = field(default=DEFAULT_FRACTIONS)

    def __post_init__(self) -> None:
        self.positions = as_position_set(self.positions)
        self.over_runs = choice(RunAggregation, self.over_runs)
        self.selection = choice(Selection, self.selection)
        self.fractions = check_fractions(self.fractions)

    def fit(self, train: xr.Dataset) -> SkillNeurons:
        """Learn the baselines from a train store (or train runs combined along ``run``)."""
        info = describe(train)
        # Baselines are the train mean by definition; a baseline from the held-out data itself would leak.
        wrong = sorted({split for split in info.splits if split != "train"} - {"unknown"})
        if wrong:
            raise StoreError(f"baselines come from the train split, but the train store is split {wrong[0]!r}")
        runs = select_positions(with_runs(train, info), self.positions)
        count, total = class_statistics(runs, info.label_names)
        self.info_: RunInfo = info
        self.subtasks_: tuple[SubTask, ...] = subtasks_for(info.label_names)
        self.train_count_: xr.DataArray = count
        self.baseline_: xr.DataArray = subtask_baselines(count, total, self.subtasks_, info.label_names)
        return self

    def _matched(self, data: xr.Dataset) -> tuple[xr.Dataset, xr.DataArray]:
        """Eval runs (positions selected) and the baselines of the same prompts in the same run order."""
        if not hasattr(self, "baseline_"):
            raise NeurokitError("SkillNeurons is not fitted: call fit(train) first")
        info = describe(data)
        check_same_model(self.info_, info)
        check_same_task(self.info_, info)
        runs = select_positions(with_runs(data, info), self.positions)
        check_same_layout(self.baseline_, runs)
        if "label" not in runs or "activation" not in runs:
            raise StoreError("eval store has no 'activation' or no 'label'")
        train_prompts = list(self.info_.prompts)
        missing = [prompt for prompt in info.prompts if prompt not in train_prompts]
        if missing:
            raise StoreError(f"no train statistics for prompt {missing[0]!r}: pass the train store of that prompt")
        baseline = self.baseline_.isel({RUN: [train_prompts.index(prompt) for prompt in info.prompts]})
        return runs, baseline.assign_coords({RUN: runs[RUN].values, "prompt": runs["prompt"]})

    def _attrs(self) -> dict[str, str]:
        positions = self.positions.value if isinstance(self.positions, PositionSet) else list(self.positions)
        return self.info_.attrs() | {"positions": json.dumps(positions), "over_runs": self.over_runs.value,
                                     "selection": self.selection.value}

    def _targets(self, labels: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
        return binary_targets(labels, self.subtasks_, self.info_.label_names)

    def score(self, data: xr.Dataset) -> xr.Dataset:
        """Predictivity and skill neurons on held-out data.

        Returns a Dataset with ``accuracy`` and ``predictivity`` ([run,] subtask, layer, position, neuron;
        shares in [0, 1]), ``n_examples`` ([run,] subtask), ``score`` (subtask, layer, neuron: the neuron
        score over positions and runs), ``run_score`` (run, subtask, layer, neuron; only with a run dim)
        and ``skill`` (fraction, layer, neuron; bool, union over sub-tasks). ``[run,]`` appears when the
        input has a ``run`` dim.
        """
        runs, baseline = self._matched(data)
        acc, count = accuracy(runs["activation"], baseline, *self._targets(runs["label"]))
        pred = predictivity(acc)
        per_run = neuron_score(pred, over_runs=None)
        score = neuron_score(pred, self.over_runs)
        result = xr.Dataset({
            "accuracy": acc, "predictivity": pred, "n_examples": count.transpose(RUN, SUBTASK),
            "run_score": per_run, "score": score,
            "skill": top_fraction(score, self.fractions, self.selection).any(SUBTASK),
        }, attrs=self._attrs())
        if RUN not in data.dims:
            result = result.drop_vars("run_score").squeeze(RUN, drop=True)
        return result

    def control_selectivity(self, data: xr.Dataset, seed: int = 0) -> xr.Dataset:
        """Hewitt & Liang's control task: the score on the real labels minus the score on shuffled labels.

        The control labels are the eval labels permuted with ``np.random.default_rng(seed).permutation(n)``
        over the example axis (class balance kept, baselines unchanged). Real and control accuracies come
        from the same single pass over the store. Returns ``score``, ``control_score`` and ``selectivity``,
        each (subtask, layer, neuron).
        """
        runs, baseline = self._matched(data)
        labels = runs["label"]
        order = np.random.default_rng(seed).permutation(labels.sizes[EXAMPLE])
        shuffled = labels.copy(data=np.take(labels.data, order, axis=labels.get_axis_num(EXAMPLE)))
        both = xr.concat([labels, shuffled], dim="labels").assign_coords(labels=["real", "control"])
        if both.chunks is not None:  # one chunk for both labellings: each activation chunk is compared once
            both = both.chunk({"labels": -1})
        acc, _ = accuracy(runs["activation"], baseline, *self._targets(both))
        score = neuron_score(predictivity(acc), self.over_runs)
        real, control = score.sel(labels="real", drop=True), score.sel(labels="control", drop=True)
        return xr.Dataset({"score": real, "control_score": control, "selectivity": real - control},
                          attrs=self._attrs() | {"control_seed": seed})

    def bootstrap(self, data: xr.Dataset, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                  slab_bytes: int = DEFAULT_SLAB_BYTES) -> xr.DataArray:
        """Percentile bootstrap interval of the neuron score: (subtask, layer, neuron, bound) with bound
        "lower"/"upper". Eval examples are resampled with replacement (jointly across runs); baselines are
        fixed. See :func:`neurokit.analysis.resampling.bootstrap_interval`."""
        runs, baseline = self._matched(data)
        interval = resampling.bootstrap_interval(
            runs["activation"], baseline, runs["label"], self.subtasks_, self.over_runs,
            n_resamples=n_resamples, confidence=confidence, seed=seed, slab_bytes=slab_bytes)
        return interval.assign_attrs(self._attrs() | {"seed": seed, "n_resamples": n_resamples,
                                                      "confidence": confidence})

    def permutation_test(self, data: xr.Dataset, n_permutations: int = 1000, seed: int = 0,
                         slab_bytes: int = DEFAULT_SLAB_BYTES) -> xr.Dataset:
        """Label-permutation p-values of the neuron score (add-one corrected) and their Benjamini–Hochberg
        q-values over all (layer, neuron) of each sub-task: ``p_value`` and ``q_value`` (subtask, layer,
        neuron). See :func:`neurokit.analysis.resampling.permutation_p_values`."""
        runs, baseline = self._matched(data)
        p_value = resampling.permutation_p_values(
            runs["activation"], baseline, runs["label"], self.subtasks_, self.over_runs,
            n_permutations=n_permutations, seed=seed, slab_bytes=slab_bytes)
        return xr.Dataset({"p_value": p_value, "q_value": resampling.benjamini_hochberg(p_value)},
                          attrs=self._attrs() | {"seed": seed, "n_permutations": n_permutations})
