"""Comparisons between neuron scores: across tasks, prompts, clean vs adversarial data, against a null run,
and against chance.

Inputs are neuron scores as :meth:`SkillNeurons.score` returns them (``score`` (subtask, layer, neuron) or
``run_score`` (run, subtask, layer, neuron)); a multi-class task's sub-tasks are reduced to their best one
(:func:`task_level`). All functions stay lazy for dask-backed scores.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.stats
import xarray as xr

from neurokit.analysis.common import (
    Selection,
    check_fractions,
    check_same_model,
    describe,
    single_chunk,
    task_level,
    top_count,
    with_runs,
)
from neurokit.analysis.skill import DEFAULT_FRACTION, top_fraction
from neurokit.dims import EXAMPLE, FRACTION, LAYER, NEURON, TASK
from neurokit.errors import ConfigError
from neurokit.extract.schema import LABEL, PREDICTION
from neurokit.validation import as_enum, integer

#: Ackermann & Ohmer's sweep for clean-vs-adversarial overlap: n = 2, 4, …, 20 %.
ADVERSARIAL_FRACTIONS: tuple[float, ...] = tuple(round(step / 100, 2) for step in range(2, 21, 2))


def _as_score(result: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """The ``score`` of a result, carrying the result's attributes (model, task) for the identity checks."""
    return result["score"].assign_attrs(result.attrs) if isinstance(result, xr.Dataset) else result


def stack_scores(results: Mapping[str, xr.Dataset | xr.DataArray], dim: str = TASK) -> xr.DataArray:
    """Task-level neuron scores of several results along a new dim: (dim, layer, neuron).

    ``results`` maps a label (task name, prompt, …) to a score Dataset or DataArray; refuses scores of
    different models.
    """
    if len(results) < 1:
        raise ConfigError("stack_scores needs at least one result")
    scores = [task_level(_as_score(result)) for result in results.values()]
    check_same_model(*(score.attrs for score in scores), what="scores")
    stacked = xr.concat([score.reset_coords(drop=True) for score in scores], dim=pd.Index(list(results), name=dim),
                        join="exact")
    return stacked.assign_attrs({key: scores[0].attrs[key] for key in ("model_id", "weights_sha256")
                                 if key in scores[0].attrs})


def task_selectivity(scores: xr.DataArray, dim: str = TASK) -> xr.DataArray:
    """Per neuron: its score on each task minus its best score on the other tasks: (dim, layer, neuron).

    Positive values mark neurons more predictive of that task than of any other; needs ≥ 2 entries of ``dim``.
    """
    names = list(scores[dim].values)
    if len(names) < 2:
        raise ConfigError(f"selectivity needs scores of at least two {dim}s")
    best_other = xr.concat([scores.drop_sel({dim: name}).max(dim, skipna=False) for name in names],
                           dim=scores[dim])
    return (scores - best_other).assign_attrs(scores.attrs)


def _rank_correlation(first: np.ndarray, second: np.ndarray, n_core: int) -> np.ndarray:
    """Spearman's ρ over the last ``n_core`` axes: Pearson correlation of mid-ranks (ties averaged); NaN
    anywhere in a pair gives NaN, and so does a constant input (scipy.stats.spearmanr's defaults)."""
    first = first.reshape(first.shape[: first.ndim - n_core] + (-1,))
    second = second.reshape(second.shape[: second.ndim - n_core] + (-1,))
    first = scipy.stats.rankdata(first, axis=-1)
    second = scipy.stats.rankdata(second, axis=-1)
    first = first - first.mean(axis=-1, keepdims=True)
    second = second - second.mean(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (first * second).sum(axis=-1) / np.sqrt((first**2).sum(axis=-1) * (second**2).sum(axis=-1))


def spearman(first: xr.DataArray, second: xr.DataArray, dims: Sequence[str] = (LAYER, NEURON)) -> xr.DataArray:
    """Spearman's rank correlation over ``dims``; all other dims broadcast (e.g. task × other_task)."""
    dims = list(dims)
    return xr.apply_ufunc(
        _rank_correlation, single_chunk(first, dims), single_chunk(second, dims),
        input_core_dims=[dims, dims], kwargs={"n_core": len(dims)}, dask="parallelized",
        output_dtypes=[np.float64],
    )


def _ratio(numerator: xr.DataArray, denominator: xr.DataArray) -> xr.DataArray:
    """numerator / denominator, NaN (without a warning) where the denominator is 0, e.g. an empty top set."""
    return numerator / denominator.where(denominator != 0)


def _partner(obj: xr.DataArray, dim: str) -> xr.DataArray:
    """The same array with ``dim`` renamed ``other_<dim>`` (and coords on it dropped), for pairwise tables."""
    extra = [name for name in obj.coords if name != dim and dim in obj[name].dims]
    return obj.drop_vars(extra).rename({dim: f"other_{dim}"})


def pairwise_agreement(scores: xr.DataArray, dim: str = TASK, fraction: float = DEFAULT_FRACTION,
                       selection: Selection | str = Selection.PER_LAYER) -> xr.Dataset:
    """Agreement of every pair along ``dim`` (tasks, or prompts with ``dim="run"``): (dim, other_<dim>).

    ``overlap`` = |A ∩ B| of the top-``fraction`` sets (counts of neurons); ``expected_overlap`` = the same
    for two independent random sets of these sizes: Σ_layers k_A·k_B / N per layer (per-layer selection) or
    k_A·k_B / N over all neurons (global); ``jaccard`` = |A ∩ B| / |A ∪ B| and ``expected_jaccard`` =
    E|A∩B| / (k_A + k_B − E|A∩B|) (a ratio of expectations); ``spearman`` = Spearman's ρ of the scores over
    all neurons.
    """
    selection = as_enum(selection, Selection, "selection")
    scores = task_level(scores)
    masks = top_fraction(scores, [fraction], selection).squeeze(FRACTION, drop=True)
    partner = _partner(masks, dim)
    within = (NEURON,) if selection is Selection.PER_LAYER else (LAYER, NEURON)
    size = int(np.prod([masks.sizes[name] for name in within]))
    expected = (masks.sum(within) * partner.sum(within) / size)
    if selection is Selection.PER_LAYER:
        expected = expected.sum(LAYER)
    overlap = (masks & partner).sum((LAYER, NEURON))
    union = (masks | partner).sum((LAYER, NEURON))
    sizes = masks.sum((LAYER, NEURON)) + partner.sum((LAYER, NEURON))
    return xr.Dataset(
        {
            "overlap": overlap,
            "expected_overlap": expected,
            "jaccard": _ratio(overlap, union),
            "expected_jaccard": _ratio(expected, sizes - expected),
            "spearman": spearman(scores, _partner(scores, dim)),
        },
        attrs=scores.attrs | {"fraction": fraction, "selection": selection.value},
    )


def overlap_p_value(overlap: int, layers: int, neurons: int, first: int, second: int) -> float:
    """Exact one-sided p-value P(X ≥ overlap) of the overlap X of two top sets if they were drawn at random.

    Per-layer selection: in each of ``layers`` layers of ``neurons`` neurons, ``first`` and ``second`` neurons
    are drawn independently, so X is a sum of ``layers`` independent hypergeometric variables
    (population ``neurons``, ``first`` marked, ``second`` drawn); its distribution is their exact convolution.
    Global selection is ``layers=1`` with ``neurons`` the number of all neurons. ``overlap`` is |A ∩ B| summed
    over layers, as :func:`pairwise_agreement` reports it.
    """
    if min(layers, neurons) < 1 or not 0 <= first <= neurons or not 0 <= second <= neurons:
        raise ConfigError(f"overlap_p_value: {first} and {second} of {neurons} neurons in {layers} layers")
    per_layer = scipy.stats.hypergeom(neurons, first, second).pmf(np.arange(min(first, second) + 1))
    total = np.ones(1)
    for _ in range(layers):
        total = np.convolve(total, per_layer)
    return float(min(1.0, total[int(overlap):].sum())) if overlap > 0 else 1.0


def clean_vs_adversarial(clean: xr.DataArray, adversarial: xr.DataArray,
                         fractions: Sequence[float] = ADVERSARIAL_FRACTIONS,
                         selection: Selection | str = Selection.PER_LAYER) -> xr.Dataset:
    """Consistency of skill neurons under attack (Ackermann & Ohmer 2024), per prompt.

    ``clean`` and ``adversarial``: neuron scores ([run,] [subtask,] layer, neuron) of the same prompts, both
    scored with the same train baselines. Returns
    ``adversarial_predictivity`` (fraction, [run]): mean adversarial score of the clean top-n % neurons;
    ``adversarial_predictivity_all`` ([run]): the mean over all neurons, for reference;
    ``overlap`` (fraction, [run,] layer): |top-n%(clean) ∩ top-n%(adv)| / |top-n%| per layer (over all
    neurons, without a layer dim, for global selection); ``chance_overlap`` (fraction): k/N, the expected
    overlap of two random sets of k (≈ n %); ``excess_overlap`` ([run]): mean over fractions and layers of
    overlap − chance, the summary number per prompt; ``spearman`` ([run]): Spearman's ρ between clean and
    adversarial scores over all neurons.
    """
    selection = as_enum(selection, Selection, "selection")
    fractions = check_fractions(fractions)
    if 0.0 in fractions:
        raise ConfigError("overlap needs fractions above 0")
    clean, adversarial = task_level(clean), task_level(adversarial)
    check_same_model(clean.attrs, adversarial.attrs, what="scores")
    # The results describe the clean runs; per-run labels of the adversarial runs (their split) would clash.
    clean = clean.drop_vars("split", errors="ignore")
    adversarial = adversarial.drop_vars([name for name in adversarial.coords if name not in adversarial.dims])
    clean_top = top_fraction(clean, fractions, selection)
    adversarial_top = top_fraction(adversarial, fractions, selection)
    within = (NEURON,) if selection is Selection.PER_LAYER else (LAYER, NEURON)
    size = int(np.prod([clean.sizes[name] for name in within]))
    chance = xr.DataArray([top_count(fraction, size) / size for fraction in fractions], dims=FRACTION,
                          coords={FRACTION: list(fractions)})
    overlap = _ratio((clean_top & adversarial_top).sum(within), clean_top.sum(within))
    over_units = (FRACTION, LAYER) if selection is Selection.PER_LAYER else (FRACTION,)
    return xr.Dataset(
        {
            "adversarial_predictivity": adversarial.where(clean_top).mean((LAYER, NEURON)).transpose(FRACTION, ...),
            "adversarial_predictivity_all": adversarial.mean((LAYER, NEURON)),
            "overlap": overlap,
            "chance_overlap": chance,
            "excess_overlap": (overlap - chance).mean(over_units),
            "spearman": spearman(clean, adversarial),
        },
        attrs={key: clean.attrs[key] for key in ("model_id", "weights_sha256", "task") if key in clean.attrs}
        | {"selection": selection.value},
    )


def null_comparison(tuned: xr.DataArray, null: xr.DataArray, quantiles: Sequence[float] = (0.5, 0.9, 0.95, 0.99),
                    reference: float = 0.99, fractions: Sequence[float] = ADVERSARIAL_FRACTIONS,
                    selection: Selection | str = Selection.PER_LAYER) -> xr.Dataset:
    """How far a tuned prompt's neurons stand above an untuned (random) prompt's: the null distribution.

    ``tuned`` ([subtask,] layer, neuron) and ``null`` ([subtask,] layer, neuron): neuron scores of the same
    task, model and baselines procedure, one from the tuned prompt(s), one from a random prompt. Returns
    ``null_quantile`` and ``tuned_quantile`` (quantile): quantiles of the scores over all neurons (numpy's
    linear interpolation); ``share_above_null`` (): share of tuned neurons whose score exceeds the null's
    ``reference`` quantile; ``share_above_null_by_layer`` (layer); ``skill_share_above_null`` (fraction):
    the same share among the tuned skill neurons (top fraction, ``selection``).
    """
    selection = as_enum(selection, Selection, "selection")
    tuned, null = task_level(tuned), task_level(null)
    check_same_model(tuned.attrs, null.attrs, what="scores")
    units = [LAYER, NEURON]
    null = single_chunk(null, units)
    threshold = null.quantile(reference, dim=units, skipna=False).drop_vars("quantile")
    above = tuned > threshold
    skill = top_fraction(tuned, check_fractions(fractions), selection)
    return xr.Dataset(
        {
            "null_quantile": null.quantile(list(quantiles), dim=units, skipna=False),
            "tuned_quantile": single_chunk(tuned, units).quantile(list(quantiles), dim=units, skipna=False),
            "share_above_null": above.mean(units),
            "share_above_null_by_layer": above.mean(NEURON),
            "skill_share_above_null": _ratio((above & skill).sum(units), skill.sum(units)),
        },
        attrs={key: tuned.attrs[key] for key in ("model_id", "weights_sha256", "task") if key in tuned.attrs}
        | {"reference_quantile": reference, "selection": selection.value},
    )


def _upper_tail(successes: npt.ArrayLike, trials: npt.ArrayLike, chance: npt.ArrayLike) -> np.ndarray:
    return scipy.stats.binom.sf(np.asarray(successes) - 1, trials, chance)


def binomial_p_value(successes, trials, chance=0.5):
    """Exact one-sided p-value P(X ≥ successes) for X ~ Binomial(trials, chance): is accuracy above chance?

    Works elementwise on numbers, numpy arrays and (lazy) DataArrays; ``chance`` is a number or, per element,
    an array or DataArray that broadcasts against them (e.g. 1 / classes of each target task).
    """
    values = np.asarray(chance.values if isinstance(chance, xr.DataArray) else chance, dtype=np.float64)
    if not ((values > 0.0) & (values < 1.0)).all():
        raise ConfigError(f"chance must be in (0, 1), got {chance}")
    return xr.apply_ufunc(_upper_tail, successes, trials, chance, dask="parallelized", output_dtypes=[np.float64])


def chance_threshold(trials: int, alpha: float = 0.05, chance: float = 0.5) -> float:
    """The smallest accuracy k / trials whose exact one-sided binomial p-value is ≤ ``alpha``.

    E.g. 85/148 = 57.4 % and 47/78 = 60.3 % at α = 5 %, chance 0.5 (the AdvGLUE set sizes).
    """
    integer(trials, "trials")
    p_values = _upper_tail(np.arange(trials + 1), trials, chance)
    passing = np.flatnonzero(p_values <= alpha)
    return float(passing[0] / trials) if passing.size else float("nan")


def model_accuracy(data: xr.Dataset, chance: float | None = None) -> xr.Dataset:
    """The backbone+prompt's own accuracy on a store, tested against chance, per run (prompt).

    ``correct`` and ``n_examples`` (counts of labelled examples), ``accuracy`` (share), ``p_value`` (exact
    one-sided binomial test against ``chance``, default 1 / number of classes): each (run,), runs labelled by
    their ``prompt`` (a single store is one run).
    """
    info = describe(data)
    data = with_runs(data, info)
    chance = 1.0 / len(info.label_names) if chance is None else chance
    labelled = data[LABEL] >= 0
    correct = ((data[PREDICTION] == data[LABEL]) & labelled).sum(EXAMPLE)
    count = labelled.sum(EXAMPLE)
    return xr.Dataset(
        {"correct": correct, "n_examples": count, "accuracy": correct / count,
         "p_value": binomial_p_value(correct, count, chance)},
        attrs=info.attrs() | {"chance": chance},
    )

