"""Uncertainty of the ablation effect: paired bootstrap intervals and a sign-flip test (*our choice*: the papers
report neither; see ``docs/interventions.md``).

Input: the per-example correctness of :meth:`neurokit.interventions.SkillAblationExperiment.run`, ``c_s[d, x]`` for the
skill set and ``c_r[d, x]`` for the random set of draw ``d`` (R draws) on example ``x`` (n examples), at each
fraction. The **effect** is the skill set's accuracy drop minus the random sets', averaged over the draws:

    effect = mean_d (acc_r[d] − acc_s[d]) = Σ_d Σ_x (c_r[d, x] − c_s[d, x]) / (R·n)

(positive: perturbing the skill neurons hurts more than perturbing random ones).

- **Interval**: percentile bootstrap over examples and draws, paired. Replicate ``b`` counts example ``x``
  ``u_b[x]`` times and draw ``d`` ``v_b[d]`` times (multinomial counts, :func:`resample_counts`), the same
  counts for skill and random, so each replicate compares the two selections on the same resampled examples
  and draws: ``A_sel,b = Σ_d Σ_x v_b[d]·u_b[x]·c_sel[d, x] / (R·n)`` and ``effect_b = A_r,b − A_s,b``.
  Resampling the two crossed factors independently counts their interaction about three times, so this
  interval is conservative; :attr:`Resampling.EXAMPLES` (``v_b = 1``) conditions on the drawn sets instead.
- **Test** of H0 "the skill set's drop is no larger than the random sets'" against "larger", by random sign
  flips of the paired per-example differences ``Δ_x = Σ_d (c_r[d, x] − c_s[d, x])``: ``T = Σ_x Δ_x``,
  ``T_b = Σ_x ε_bx·Δ_x`` with independent fair signs ε, and the add-one p-value
  ``(1 + #{b : T_b ≥ T}) / (1 + B)``. Under H0 (skill and random outcomes of each example exchangeable) it is
  valid for any B; it conditions on the random sets that were drawn.

Random numbers (all from ``numpy.random.default_rng(SeedSequence)``, drawn in replicate order, the same for
every fraction): example counts from ``[BOOTSTRAP_STREAM, seed, 0]``, draw counts from
``[BOOTSTRAP_STREAM, seed, 1]``, signs ``ε_bx = −1 if U_bx < 0.5 else +1`` with ``U`` from
``[SIGN_FLIP_STREAM, seed]``.random((B, n)). All sums are of whole numbers (exact in float64), so the results
depend neither on chunking nor on the order of the fractions.
"""

from __future__ import annotations

import enum
import json

import numpy as np
import xarray as xr

from neurokit.analysis.common import single_chunk
from neurokit.analysis.resampling import (
    DEFAULT_CONFIDENCE,
    percentile_bounds,
    resample_counts,
)
from neurokit.dims import BOUND, DRAW, EXAMPLE, FRACTION, SELECTION
from neurokit.errors import NeurokitError
from neurokit.interventions.masks import (
    BOOTSTRAP_STREAM,
    SELECTIONS,
    SIGN_FLIP_STREAM,
)
from neurokit.validation import OPEN_UNIT, as_enum, integer, real

#: Resamples of the effect's bootstrap interval and random sign flips of its one-sided test.
DEFAULT_N_BOOT = 10_000
DEFAULT_N_PERMUTATIONS = 10_000


class Resampling(str, enum.Enum):
    """What the bootstrap of the effect resamples."""

    EXAMPLES_AND_DRAWS = "examples-and-draws"  # both crossed factors, independently (conservative)
    EXAMPLES = "examples"  # examples only, each with all its draws: conditional on the drawn sets, as the test


DEFAULT_RESAMPLING = Resampling.EXAMPLES_AND_DRAWS


#: Replicates are processed in blocks of about this many (replicate, example) elements, to bound memory; the
#: random streams are drawn in replicate order, so the block size does not change any result.
_BLOCK_ELEMENTS = 1 << 21


def _blocks(total: int, n_examples: int):
    size = max(1, _BLOCK_ELEMENTS // max(n_examples, 1))
    for start in range(0, total, size):
        yield start, min(size, total - start)


def _effect_kernel(correct: np.ndarray, *, n_boot: int, n_permutations: int, confidence: float, seed: int,
                   resampling: Resampling) -> tuple[np.ndarray, ...]:
    """correct (…, selection=SELECTIONS (skill, random), draw, example) bool. Returns effect (…), effect interval
    (…, 2), accuracy interval (…, selection, 2) and p-value (…)."""
    n_draws, n_examples = correct.shape[-2:]
    counts = correct.astype(np.float64)
    scale = float(n_draws * n_examples)
    difference = counts[..., 1, :, :].sum(axis=-2) - counts[..., 0, :, :].sum(axis=-2)  # Δ_x (…, example)
    observed = difference.sum(axis=-1)  # T (…)

    totals = np.empty(counts.shape[:-2] + (n_boot,))  # (…, selection, replicate): Σ v·u·c
    example_rng = np.random.default_rng([BOOTSTRAP_STREAM, seed, 0])
    draw_rng = np.random.default_rng([BOOTSTRAP_STREAM, seed, 1])
    for start, size in _blocks(n_boot, n_examples):
        example_counts = resample_counts(example_rng, n_examples, size).astype(np.float64)  # (block, example)
        draw_counts = (resample_counts(draw_rng, n_draws, size).astype(np.float64)  # (block, draw)
                       if resampling is Resampling.EXAMPLES_AND_DRAWS else np.ones((size, n_draws)))
        per_draw = counts @ example_counts.T  # (…, selection, draw, block)
        totals[..., start:start + size] = np.einsum("...db,bd->...b", per_draw, draw_counts)
    accuracy_interval = percentile_bounds(totals / scale, confidence)
    effect_interval = percentile_bounds((totals[..., 1, :] - totals[..., 0, :]) / scale, confidence)

    exceed = np.zeros(observed.shape, dtype=np.int64)
    sign_rng = np.random.default_rng([SIGN_FLIP_STREAM, seed])
    for _, size in _blocks(n_permutations, n_examples):
        signs = np.where(sign_rng.random((size, n_examples)) < 0.5, -1.0, 1.0)
        exceed += (difference @ signs.T >= observed[..., None]).sum(axis=-1)
    p_value = (1.0 + exceed) / (1.0 + n_permutations)
    return observed / scale, effect_interval, accuracy_interval, p_value


def ablation_effects(result: xr.Dataset, n_boot: int = DEFAULT_N_BOOT, confidence: float = DEFAULT_CONFIDENCE,
                     n_permutations: int = DEFAULT_N_PERMUTATIONS, seed: int = 0,
                     resampling: Resampling | str = DEFAULT_RESAMPLING) -> xr.Dataset:
    """Effect of perturbing the skill sets beyond random sets, per fraction, with interval and p-value.

    ``result``: the Dataset of :meth:`~neurokit.interventions.SkillAblationExperiment.run` (its ``correct``
    (selection, fraction, draw, example) is what is used). Returns, lazily when ``correct`` is a dask array:

    - ``effect`` (fraction): mean over draws of random accuracy − skill accuracy, in accuracy units (0–1);
    - ``effect_interval`` (fraction, bound): its paired percentile bootstrap interval at ``confidence``,
      bound ∈ {lower, upper}, from ``n_boot`` resamples of examples and draws (``resampling``
      ``examples-and-draws``, conservative) or of examples only (``examples``, conditional on the drawn sets);
    - ``accuracy_interval`` (selection, fraction, bound): the same replicates' interval of each selection's
      mean accuracy over draws (the bands of :func:`neurokit.plots.ablation_curve`);
    - ``p_value`` (fraction): one-sided sign-flip p-value of H0 "skill drop ≤ random drop" from
      ``n_permutations`` random flips, in (0, 1].

    The definitions and random streams are in the module docstring; ``seed`` picks the streams.
    """
    integer(n_boot, "n_boot")
    integer(n_permutations, "n_permutations")
    real(confidence, "confidence", OPEN_UNIT)
    scheme: Resampling = as_enum(resampling, Resampling, "resampling")
    if not isinstance(result, xr.Dataset) or "correct" not in result:
        raise NeurokitError("the ablation result has no per-example 'correct' (selection, fraction, draw, "
                            "example): run the ablation again with this version of neurokit")
    correct = result["correct"]
    if set(correct.dims) != {SELECTION, FRACTION, DRAW, EXAMPLE} or correct.dtype != bool:
        raise NeurokitError(f"'correct' must be boolean over (selection, fraction, draw, example), got "
                            f"{correct.dtype} over {list(correct.dims)}")
    if set(SELECTIONS) - {str(value) for value in correct[SELECTION].values}:
        raise NeurokitError("'correct' must hold the selections 'skill' and 'random'")
    core = [SELECTION, DRAW, EXAMPLE]
    correct = single_chunk(correct.sel({SELECTION: list(SELECTIONS)}), core)
    settings = {"n_boot": int(n_boot), "n_permutations": int(n_permutations), "confidence": float(confidence),
                "seed": int(seed)}
    effect, effect_interval, accuracy_interval, p_value = xr.apply_ufunc(
        _effect_kernel, correct, kwargs=settings | {"resampling": scheme}, input_core_dims=[core],
        output_core_dims=[[], [BOUND], [SELECTION, BOUND], []],
        dask="parallelized", output_dtypes=[np.float64] * 4, dask_gufunc_kwargs={"output_sizes": {BOUND: 2}},
    )
    bounds = {BOUND: ["lower", "upper"]}
    level = {"confidence": float(confidence)}
    return xr.Dataset(
        {"effect": effect, "effect_interval": effect_interval.assign_coords(bounds).assign_attrs(level),
         "accuracy_interval": accuracy_interval.assign_coords(bounds).transpose(SELECTION, FRACTION, BOUND)
         .assign_attrs(level),
         "p_value": p_value},
        attrs={"effect_statistics": json.dumps(settings | {
            "resampling": scheme.value,
            "effect": "mean over draws of random accuracy - skill accuracy",
            "interval": f"percentile bootstrap resampling {scheme.value.replace('-', ' ')}, paired between "
                        "skill and random",
            "p_value": "one-sided sign-flip test of the paired per-example differences (summed over draws), "
                       "add-one"})},
    )


def with_effects(result: xr.Dataset, **settings) -> xr.Dataset:
    """``result`` of :meth:`~neurokit.interventions.SkillAblationExperiment.run` with the variables of
    :func:`ablation_effects` (``settings`` are its keyword arguments) added beside its own."""
    return result.merge(ablation_effects(result, **settings), combine_attrs="no_conflicts")
