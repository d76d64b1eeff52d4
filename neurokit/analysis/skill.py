"""Predictivity and skill neurons exactly as Wang et al. (EMNLP 2022).

For neuron n at prompt position p of one prompt (run) and one binary sub-task:

- baseline ``b(n,p)`` = mean activation over the sub-task's train examples. For a binary task that is the
  whole train set, as in the paper (a pooled mean, Σ sums / Σ counts, never a mean of class means). For a
  3-way task the sub-tasks are balanced by default (:class:`~neurokit.analysis.subtasks.SubtaskScheme`):
  the mean of the balanced train subset, exactly from raw train activations or, from train statistics alone,
  the mean of the two sides' means (the subset mean's expectation). With ``all-examples`` the pooled mean of
  the sub-task's classes.
- ``Acc(n,p)`` = share of the sub-task's eval examples with ``1[a(n,p,x) > b(n,p)] == y(x)`` (for a balanced
  sub-task, the eval examples of its balanced subset);
- ``Pred(n,p) = max(Acc, 1 − Acc)``; neuron score ``Pred(n) = max_p Pred(n,p)`` over the chosen positions
  (prompt positions by default); over several prompts of one task the mean (default) or the minimum.
- skill neurons: the top fraction of neurons by score within each layer (default) or over all layers; a
  balanced 3-way task's skill set of fraction f is the first sub-task's top f/2 filled up to f from the
  second sub-task's ranking (Wang et al.), an ``all-examples`` task's the union of its sub-tasks' tops.

``Acc`` is a mean over examples of a boolean, so it is computed as one streaming dask reduction over the
example chunks of the store: each chunk is read once and reduced to counts at once.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import xarray as xr

from neurokit.analysis import resampling
from neurokit.analysis.common import (
    DEFAULT_SLAB_BYTES,
    PositionSet,
    RunAggregation,
    RunInfo,
    Selection,
    as_position_set,
    check_fractions,
    check_same_layout,
    check_same_model,
    check_same_task,
    describe,
    select_positions,
    single_chunk,
    top_count,
    with_runs,
)
from neurokit.analysis.kernels import above_counts
from neurokit.analysis.subtasks import (
    SubTask,
    SubtaskScheme,
    class_onehot,
    class_sides,
    subtask_labels,
    subtask_scheme,
    subtasks_for,
)
from neurokit.dims import (
    CLASS,
    EXAMPLE,
    FRACTION,
    LAYER,
    NEURON,
    POSITION,
    RUN,
    SUBTASK,
)
from neurokit.errors import NeurokitError, StoreError
from neurokit.extract.schema import ACTIVATION, LABEL, TRAIN_COUNT, TRAIN_SUM
from neurokit.validation import as_enum

#: The sweep of Wang et al.: 0 % to 20 % of the neurons in 1 % steps.
DEFAULT_FRACTIONS: tuple[float, ...] = tuple(round(step / 100, 2) for step in range(21))
#: The top fraction where one fraction is compared or drawn (agreement across tasks and prompts, skill maps, the
#: demo's and the study's findings): Wang et al.'s headline setting, the top 5 % per layer.
DEFAULT_FRACTION = 0.05


def class_statistics(train: xr.Dataset, label_names: Sequence[str]) -> tuple[xr.DataArray, xr.DataArray]:
    """Train example count (…, class) int64 and activation sum (…, class, layer, position, neuron) float64.

    Taken from the store's ``train_count``/``train_sum`` when present; otherwise summed lazily (in float64,
    one pass over the example chunks) from raw ``activation`` and ``label``.
    """
    if TRAIN_COUNT in train and TRAIN_SUM in train:
        classes = [str(name) for name in train[CLASS].values]
        if classes != list(label_names):
            raise StoreError(f"train statistics are for classes {classes}, the task's labels are {list(label_names)}")
        return train[TRAIN_COUNT], train[TRAIN_SUM]
    if ACTIVATION in train and LABEL in train:
        onehot = class_onehot(train[LABEL], label_names)
        total = train[ACTIVATION].astype(np.float64).where(onehot, 0.0).sum(EXAMPLE)
        return onehot.sum(EXAMPLE), total
    raise StoreError("train store has neither train statistics (train_count, train_sum) nor raw activations")


def subtask_baselines(count: xr.DataArray, total: xr.DataArray, subtasks: Sequence[SubTask],
                      label_names: Sequence[str]) -> xr.DataArray:
    """Pooled train mean per sub-task: (…, subtask, layer, position, neuron) float64, activation units."""
    positive, negative = class_sides(subtasks, label_names)
    membership = (positive + negative).astype(np.float64)
    baseline = xr.dot(membership, total, dim=CLASS) / xr.dot(membership, count.astype(np.float64), dim=CLASS)
    return baseline.transpose(..., SUBTASK, LAYER, POSITION, NEURON)


class BaselineKind(enum.Enum):
    """Which train mean a sub-task's baseline is: recorded in the ``baseline`` attribute of the results."""

    POOLED = "pooled"  # Σ sums / Σ counts over the sub-task's classes (binary tasks, all-examples)
    BALANCED_SUBSET = "balanced-subset"  # mean of the balanced train subset, from raw train activations
    SIDE_MEANS = "balanced-side-means"  # (mean of one side + mean of the other) / 2, from train statistics


def balanced_baselines(train: xr.Dataset, subtasks: Sequence[SubTask],
                       label_names: Sequence[str]) -> tuple[xr.DataArray, BaselineKind]:
    """Baselines of balanced sub-tasks: (…, subtask, layer, position, neuron) float64, and how they were made.

    From raw train activations: the exact mean of each sub-task's balanced train subset (the subset of
    :func:`~neurokit.analysis.subtasks.subtask_labels`), as Wang et al.'s released code computes it. From
    train statistics alone a subset's sum is not derivable (the larger side keeps only its first k examples),
    so the baseline is the mean of the two sides' pooled means — *our choice*: the expectation of the subset
    mean when the example order is unrelated to the activations, and equal to it when the sides have equal
    counts.
    """
    positive, negative = class_sides(subtasks, label_names)
    if ACTIVATION in train and LABEL in train:
        labels = subtask_labels(train[LABEL], subtasks, label_names, SubtaskScheme.BALANCED)
        onehot = class_onehot(labels, label_names)
        count = onehot.sum(EXAMPLE)
        total = xr.dot(onehot.astype(np.float64), train[ACTIVATION].astype(np.float64), dim=EXAMPLE)
        return subtask_baselines(count, total, subtasks, label_names), BaselineKind.BALANCED_SUBSET
    count, total = class_statistics(train, label_names)
    count = count.astype(np.float64)
    side_means = [xr.dot(side, total, dim=CLASS) / xr.dot(side, count, dim=CLASS) for side in (positive, negative)]
    baseline = (side_means[0] + side_means[1]) / 2.0
    return baseline.transpose(..., SUBTASK, LAYER, POSITION, NEURON), BaselineKind.SIDE_MEANS


def accuracy(activation: xr.DataArray, baseline: xr.DataArray, labels: xr.DataArray,
             subtasks: Sequence[SubTask], label_names: Sequence[str],
             scheme: SubtaskScheme | str | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """``Acc`` per (…, run, subtask, layer, position, neuron) and the number of eval examples per (…,
    subtask, run).

    ``activation`` (run, example, layer, position, neuron); ``baseline`` (run, subtask, layer, position,
    neuron); ``labels`` (…, run, example) class indices (extra leading dims, such as real vs control
    labels, are kept); ``scheme`` which examples each sub-task uses (``None``: Wang et al.'s, see
    :func:`~neurokit.analysis.subtasks.subtask_scheme`; a balanced subset is chosen per labelling). An
    example of a positive class is matched when it lies above the baseline, one of a negative class when it
    does not: correct = Σ_positive above + Σ_negative (examples − above). One streaming pass over the
    example chunks; ``Acc`` is NaN where the baseline is (a position a run lacks).
    """
    labels = subtask_labels(labels, subtasks, label_names, subtask_scheme(scheme, label_names))
    above = above_counts(activation, baseline, labels, len(label_names))
    examples = class_onehot(labels, label_names).sum(EXAMPLE).astype(np.int64)
    positive, negative = class_sides(subtasks, label_names)
    correct = xr.dot(positive, above, dim=CLASS) + xr.dot(negative, examples - above, dim=CLASS)
    count = xr.dot(positive + negative, examples, dim=CLASS)
    result = (correct / count).where(baseline.notnull())
    return result.transpose(..., RUN, SUBTASK, LAYER, POSITION, NEURON), count


def predictivity(acc: xr.DataArray) -> xr.DataArray:
    """``Pred = max(Acc, 1 − Acc)``: a neuron may predict either class (inhibitory when Acc < 0.5)."""
    # a numpy ufunc on a DataArray returns a DataArray (xarray's __array_ufunc__); numpy's stubs say ndarray
    return cast(xr.DataArray, np.maximum(acc, 1.0 - acc))


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
    flat = values.reshape(*shape[: len(shape) - n_core], -1)
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
    core = [NEURON] if as_enum(selection, Selection, "selection") is Selection.PER_LAYER else [LAYER, NEURON]
    scores = single_chunk(scores, core)
    ranks = xr.apply_ufunc(
        _descending_rank, scores, input_core_dims=[core], output_core_dims=[core],
        kwargs={"n_core": len(core)}, dask="parallelized", output_dtypes=[np.int64],
    )
    size = int(np.prod([scores.sizes[dim] for dim in core]))
    cut = xr.DataArray([top_count(fraction, size) for fraction in fractions], dims=FRACTION,
                       coords={FRACTION: list(fractions)})
    return ((ranks < cut) & scores.notnull()).transpose(FRACTION, ..., LAYER, NEURON)


def _filled_masks(values: np.ndarray, first: np.ndarray, total: np.ndarray, n_core: int) -> np.ndarray:
    """Kernel of :func:`filled_top`: values (…, subtask=2, *core) scores → (…, fraction, *core) bool.

    Per fraction: the ``first[i]`` best of sub-task 0, then sub-task 1's best among the others until
    ``total[i]`` neurons are chosen. Ranks as :func:`_descending_rank` (ties to the lower index, NaN never
    chosen).
    """
    axis = values.ndim - 1 - n_core
    rank_first, rank_second = (np.take(_descending_rank(values, n_core), task, axis=axis) for task in (0, 1))
    valid_first, valid_second = (~np.isnan(np.take(values, task, axis=axis)) for task in (0, 1))
    shape = rank_second.shape
    flat = shape[: len(shape) - n_core] + (-1,)
    # Sub-task 1's order as positions: order[..., j] is the neuron ranked j-th.
    order = np.argsort(rank_second.reshape(flat), axis=-1)
    core_axes = tuple(range(-n_core, 0))
    masks = []
    for first_count, total_count in zip(first, total, strict=True):
        chosen = (rank_first < first_count) & valid_first
        eligible = (~chosen & valid_second).reshape(flat)
        # place of each eligible neuron among the eligible ones in sub-task 1's order
        place = np.empty(eligible.shape, dtype=np.int64)
        np.put_along_axis(place, order, np.cumsum(np.take_along_axis(eligible, order, axis=-1), axis=-1) - 1,
                          axis=-1)
        room = total_count - chosen.sum(axis=core_axes, keepdims=True)
        masks.append(chosen | (eligible & (place < room.reshape(room.shape[: len(shape) - n_core] + (1,))))
                     .reshape(shape))
    return np.stack(masks, axis=axis)


def filled_top(scores: xr.DataArray, fractions: Sequence[float],
               selection: Selection | str = Selection.PER_LAYER) -> xr.DataArray:
    """Wang et al.'s skill set of a task with two sub-tasks: masks (fraction, …, layer, neuron).

    For fraction f: the top ⌊f/2 · N⌋ neurons of the first sub-task, then the second sub-task's best of the
    others until ⌊f · N⌋ neurons are chosen (N neurons per layer, or all neurons with ``global``
    selection). ``scores`` (subtask=2, …, layer, neuron). Ties go to the lower (layer, neuron) index; NaN
    scores are never chosen, so fewer neurons are chosen where NaNs leave too few.
    """
    fractions = check_fractions(fractions)
    if scores.sizes.get(SUBTASK) != 2:
        raise NeurokitError(f"filled_top needs scores of two sub-tasks, got {scores.sizes.get(SUBTASK, 0)}")
    core = [NEURON] if as_enum(selection, Selection, "selection") is Selection.PER_LAYER else [LAYER, NEURON]
    scores = single_chunk(scores, [SUBTASK, *core])
    size = int(np.prod([scores.sizes[dim] for dim in core]))
    first = np.array([top_count(fraction / 2.0, size) for fraction in fractions])
    total = np.array([top_count(fraction, size) for fraction in fractions])
    masks = xr.apply_ufunc(
        _filled_masks, scores, input_core_dims=[[SUBTASK, *core]], output_core_dims=[[FRACTION, *core]],
        kwargs={"first": first, "total": total, "n_core": len(core)}, dask="parallelized", output_dtypes=[bool],
        dask_gufunc_kwargs={"output_sizes": {FRACTION: len(fractions)}},
    )
    return masks.assign_coords({FRACTION: list(fractions)}).transpose(FRACTION, ..., LAYER, NEURON)


def skill_set(scores: xr.DataArray, fractions: Sequence[float], selection: Selection | str = Selection.PER_LAYER,
              scheme: SubtaskScheme | str | None = None) -> xr.DataArray:
    """Skill masks (fraction, …, layer, neuron) of a task from its neuron scores ([subtask,] …, layer, neuron).

    A balanced task (``scheme``, default: the ``subtask_scheme`` attribute that :meth:`SkillNeurons.score`
    gives its scores, else all-examples) takes the first sub-task's top and fills from the second
    (:func:`filled_top`, Wang et al.); otherwise the set is the union of the sub-tasks' tops.
    """
    scheme = scheme if scheme is not None else scores.attrs.get("subtask_scheme", SubtaskScheme.ALL_EXAMPLES)
    if SUBTASK in scores.dims and as_enum(scheme, SubtaskScheme, "scheme") is SubtaskScheme.BALANCED:
        return filled_top(scores, fractions, selection)
    masks = top_fraction(scores, fractions, selection)
    return masks.any(SUBTASK) if SUBTASK in masks.dims else masks


#: What :meth:`SkillNeurons.score` adds with a ``control_seed``.
_CONTROL_VARIABLES = ("control_score", "selectivity")


def split_control(scored: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset]:
    """``SkillNeurons.score(data, control_seed=seed)`` split into what ``score(data)`` and
    ``control_selectivity(data, seed)`` return, both from its one pass over the store."""
    return scored.drop_vars(list(_CONTROL_VARIABLES)), scored[["score", *_CONTROL_VARIABLES]]


def _with_control_labels(labels: xr.DataArray, seed: int) -> xr.DataArray:
    """The labels and a control labelling, stacked along ``labels`` ("real", "control"): the control labels
    are the labels permuted over ``example`` by ``np.random.default_rng(seed).permutation(n)`` (a balanced
    sub-task's subset is then chosen from the permuted labels, as from the real ones)."""
    order = np.random.default_rng(seed).permutation(labels.sizes[EXAMPLE])
    whole = labels if labels.chunks is None else labels.chunk({EXAMPLE: -1})
    # Permuted within one chunk (labels are a few bytes per example): dask's take across many chunks builds
    # a task per pair of input and output chunks, tens of thousands for a large store.
    shuffled = whole.copy(data=np.take(whole.data, order, axis=labels.get_axis_num(EXAMPLE)))
    if labels.chunks is not None:
        shuffled = shuffled.chunk(dict(zip(labels.dims, labels.chunks, strict=True)))
    both = xr.concat([labels, shuffled], dim="labels").assign_coords(labels=["real", "control"])
    if both.chunks is not None:  # one chunk for both labellings: each activation chunk is compared once
        both = both.chunk({"labels": -1})
    return both


@dataclass
class SkillNeurons:
    """Wang et al.'s skill-neuron estimator, scikit-learn style.

    Settings (validated, no work done here): ``positions`` — "prompt" (mask slot and soft-prompt vectors,
    the default, as in both papers), "all", or a list of position roles; ``over_runs`` — how several prompts'
    scores combine ("mean" or "min"); ``selection`` — top fraction "per-layer" or "global"; ``fractions`` —
    the sweep of top fractions for the skill masks; ``scheme`` — the :class:`SubtaskScheme` of a multi-class
    task ("balanced" or "all-examples"; ``None``, the default: Wang et al.'s, balanced for a 3-way task with
    a neutral class, all examples otherwise).

    ``fit(train)`` learns ``scheme_``, ``subtasks_``, ``train_count_`` (run, class), ``baseline_`` (run,
    subtask, layer, position, neuron; float64, activation units) and ``baseline_kind_`` (a
    :class:`BaselineKind`) from train statistics or raw train activations; ``score(eval)`` and the other
    methods use them on held-out data of the same model, task and prompts. Everything stays lazy until computed.
    """

    positions: PositionSet | str | Sequence[str] = PositionSet.PROMPT
    over_runs: RunAggregation | str = RunAggregation.MEAN
    selection: Selection | str = Selection.PER_LAYER
    fractions: Sequence[float] = field(default=DEFAULT_FRACTIONS)
    scheme: SubtaskScheme | str | None = None

    def __post_init__(self) -> None:
        self.positions = as_position_set(self.positions)
        self.over_runs = as_enum(self.over_runs, RunAggregation, "over_runs")
        self.selection = as_enum(self.selection, Selection, "selection")
        self.fractions = check_fractions(self.fractions)
        self.scheme = None if self.scheme is None else as_enum(self.scheme, SubtaskScheme, "scheme")

    def fit(self, train: xr.Dataset) -> SkillNeurons:
        """Learn the baselines from a train store (or train runs combined along ``run``)."""
        info = describe(train)
        # Baselines are the train mean by definition; a baseline from the held-out data itself would leak.
        wrong = sorted({split for split in info.splits if split != "train"} - {"unknown"})
        if wrong:
            raise StoreError(f"baselines come from the train split, but the train store is split {wrong[0]!r}")
        runs = select_positions(with_runs(train, info), self.positions)
        self.scheme_: SubtaskScheme = subtask_scheme(self.scheme, info.label_names)
        self.info_: RunInfo = info
        self.subtasks_: tuple[SubTask, ...] = subtasks_for(info.label_names)
        count, total = class_statistics(runs, info.label_names)  # lazy: only what is used is ever computed
        self.train_count_: xr.DataArray = count
        if self.scheme_ is SubtaskScheme.BALANCED:
            self.baseline_, self.baseline_kind_ = balanced_baselines(runs, self.subtasks_, info.label_names)
        else:
            self.baseline_ = subtask_baselines(count, total, self.subtasks_, info.label_names)
            self.baseline_kind_ = BaselineKind.POOLED
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
        if LABEL not in runs or ACTIVATION not in runs:
            raise StoreError(f"eval store has no {ACTIVATION!r} or no {LABEL!r}")
        train_prompts = list(self.info_.prompts)
        missing = [prompt for prompt in info.prompts if prompt not in train_prompts]
        if missing:
            raise StoreError(f"no train statistics for prompt {missing[0]!r}: pass the train store of that prompt")
        baseline = self.baseline_.isel({RUN: [train_prompts.index(prompt) for prompt in info.prompts]})
        return runs, baseline.assign_coords({RUN: runs[RUN].values, "prompt": runs["prompt"]})

    @property
    def _over_runs(self) -> RunAggregation:
        # __post_init__ made it a member; the field's type also admits the strings users pass
        return cast(RunAggregation, self.over_runs)

    def _attrs(self) -> dict[str, str]:
        positions = self.positions.value if isinstance(self.positions, PositionSet) else list(self.positions)
        selection = cast(Selection, self.selection)  # a member since __post_init__, as over_runs
        return self.info_.attrs() | {"positions": json.dumps(positions), "over_runs": self._over_runs.value,
                                     "selection": selection.value, "subtask_scheme": self.scheme_.value,
                                     "baseline": self.baseline_kind_.value}



    def score(self, data: xr.Dataset, control_seed: int | None = None) -> xr.Dataset:
        """Predictivity and skill neurons on held-out data.

        Returns a Dataset with ``accuracy`` and ``predictivity`` ([run,] subtask, layer, position, neuron;
        shares in [0, 1]), ``n_examples`` ([run,] subtask), ``score`` (subtask, layer, neuron: the neuron
        score over positions and runs), ``run_score`` (run, subtask, layer, neuron; only with a run dim)
        and ``skill`` (fraction, layer, neuron; bool, see :func:`skill_set`). ``[run,]`` appears when the
        input has a ``run`` dim. With ``control_seed``, also ``control_score`` and ``selectivity`` of
        :meth:`control_selectivity`, from the same pass over the store.
        """
        runs, baseline = self._matched(data)
        labels = runs[LABEL]
        if control_seed is not None:
            labels = _with_control_labels(labels, control_seed)
        acc, count = accuracy(runs[ACTIVATION], baseline, labels, self.subtasks_, self.info_.label_names,
                              self.scheme_)
        pred = predictivity(acc)
        # the scheme rides with the scores, so that skill sets made from them later follow it (skill_set)
        score = neuron_score(pred, self._over_runs).assign_attrs(subtask_scheme=self.scheme_.value)
        control: dict[str, xr.DataArray] = {}
        attrs: dict[str, str | int] = dict(self._attrs())
        if control_seed is not None:
            control_score = score.sel(labels="control", drop=True)
            acc, pred, count, score = (value.sel(labels="real", drop=True) for value in (acc, pred, count, score))
            control = dict(zip(_CONTROL_VARIABLES, (control_score, score - control_score), strict=True))
            attrs |= {"control_seed": control_seed}
        result = xr.Dataset({
            "accuracy": acc, "predictivity": pred, "n_examples": count.transpose(RUN, SUBTASK),
            "run_score": neuron_score(pred, over_runs=None), "score": score,
            "skill": skill_set(score, self.fractions, self.selection, self.scheme_), **control,
        }, attrs=attrs)
        if RUN not in data.dims:
            result = result.drop_vars("run_score").squeeze(RUN, drop=True)
        return result

    def control_selectivity(self, data: xr.Dataset, seed: int = 0) -> xr.Dataset:
        """Hewitt & Liang's control task: the score on the real labels minus the score on shuffled labels.

        The control labels are the eval labels permuted with ``np.random.default_rng(seed).permutation(n)``
        over the example axis (class balance kept, baselines unchanged). Real and control accuracies come
        from the same single pass over the store. Returns ``score``, ``control_score`` and ``selectivity``,
        each (subtask, layer, neuron). ``score(data, control_seed=seed)`` returns the same three alongside
        the skill neurons, from one pass.
        """
        return split_control(self.score(data, control_seed=seed))[1]

    def bootstrap(self, data: xr.Dataset, n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0,
                  slab_bytes: int = DEFAULT_SLAB_BYTES) -> xr.DataArray:
        """Percentile bootstrap interval of the neuron score: (subtask, layer, neuron, bound) with bound
        "lower"/"upper". Eval examples are resampled with replacement (jointly across runs); baselines are
        fixed. See :func:`neurokit.analysis.resampling.bootstrap_interval`."""
        runs, baseline = self._matched(data)
        interval = resampling.bootstrap_interval(
            runs[ACTIVATION], baseline, runs[LABEL], self.subtasks_, self._over_runs, self.scheme_,
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
            runs[ACTIVATION], baseline, runs[LABEL], self.subtasks_, self._over_runs, self.scheme_,
            n_permutations=n_permutations, seed=seed, slab_bytes=slab_bytes)
        return xr.Dataset({"p_value": p_value, "q_value": resampling.benjamini_hochberg(p_value)},
                          attrs=self._attrs() | {"seed": seed, "n_permutations": n_permutations})
