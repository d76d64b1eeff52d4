"""The demo's ``summary.md`` and ``summary.json``: each finding of the papers, the number it rests on here, the
criterion fixed in advance, and whether it holds on this data.

A finding is judged by a plain rule on the results (written next to it), never tuned to the outcome; where the
demo's data cannot test a finding (too few prompts, no task of the needed kind) the summary says so.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import stats

from neurokit.analysis import binomial_p_value
from neurokit.analysis.common import top_count
from neurokit.analysis.compare import overlap_p_value, spearman
from neurokit.analysis.groups import (
    ABLATION,
    ACROSS_TASKS,
    ADVERSARIAL_ACCURACY,
    AGREEMENT,
    CLEAN_VS_ADVERSARIAL,
    NULL,
    PROMPT_AGREEMENT,
    PROMPTS,
    SKILL,
    TRANSFER,
    group_path,
)
from neurokit.analysis.resampling import bootstrap_shares, percentile_bounds
from neurokit.analysis.results import result_group
from neurokit.dims import (
    FRACTION,
    LAYER,
    NEURON,
    RUN,
    SOURCE,
    SOURCE_TASK,
    TARGET,
    TASK,
)
from neurokit.tasks import get_task

#: Verdicts of a finding. "Does not hold" needs the criterion to fail in at least two settings, each with its
#: interval or test; a single failing setting is inconclusive.
HOLDS, FAILS, INCONCLUSIVE, UNTESTED = "holds", "does not hold", "inconclusive", "not testable here"
#: Confidence of every interval, bootstrap resamples and the seed of their draws (fixed before the demo ran).
CONFIDENCE, RESAMPLES, SEED = 0.95, 2000, 0
_LEVEL = f"{100 * CONFIDENCE:g} %"
#: Significance level of the tests that say a prompt learned its task (and so enters the other findings).
LEARNED_ALPHA = 0.01


@dataclass(frozen=True)
class Setting:
    """One setting in which a finding's effect is measured (a prompt, a pair of prompts or tasks, a fraction).

    ``effect`` in the finding's unit; ``low``/``high`` its interval and ``p_value`` its test (NaN where the
    finding gives none; at least one of the two is needed for the setting to count); ``passes``: whether the
    finding's criterion is met in this setting.
    """

    name: str
    effect: float
    passes: bool
    low: float = math.nan
    high: float = math.nan
    p_value: float = math.nan

    @property
    def tested(self) -> bool:
        return (math.isfinite(self.low) and math.isfinite(self.high)) or math.isfinite(self.p_value)

    def describe(self, percent: bool) -> str:
        number = _percent if percent else (lambda value: f"{value:.3f}")
        text = f"{self.name}: {number(self.effect)}"
        if math.isfinite(self.low) and math.isfinite(self.high):
            text += f" [{number(self.low)}, {number(self.high)}]"
        if math.isfinite(self.p_value):
            text += f", p = {self.p_value:.2g}"
        return text


def verdict_of(settings: tuple[Setting, ...]) -> str:
    """Holds if the criterion is met in every tested setting; does not hold if it fails in at least two;
    inconclusive if it fails in one; not testable without a tested setting."""
    tested = [setting for setting in settings if setting.tested]
    failing = [setting for setting in tested if not setting.passes]
    if not tested:
        return UNTESTED
    return HOLDS if not failing else FAILS if len(failing) >= 2 else INCONCLUSIVE


@dataclass(frozen=True)
class Finding:
    """One claim of the papers checked on the demo's data: the effect in each setting with its interval or
    test (``evidence``, and ``settings`` as numbers), how those were made (``statistics``), the criterion fixed
    in advance and the verdict. Build it with :meth:`judge`, which derives the verdict from the settings."""

    claim: str
    source: str
    evidence: str
    criterion: str
    verdict: str
    settings: tuple[Setting, ...] = ()
    statistics: str = ""

    @classmethod
    def judge(cls, claim: str, source: str, effect: str, statistics: str, criterion: str,
              settings: list[Setting] | tuple[Setting, ...], note: str = "", percent: bool = False) -> Finding:
        """``effect``: what is measured, with its unit; ``note``: why nothing was tested, or a caveat."""
        settings = tuple(settings)
        parts = [f"{effect}: " + "; ".join(setting.describe(percent) for setting in settings)] if settings else []
        evidence = ". ".join(parts + ([note] if note else [])) or "nothing to measure"
        return cls(claim, source, evidence, criterion, verdict_of(settings), settings, statistics)


def _percent(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def _exact_interval(successes: int, trials: int) -> tuple[float, float]:
    """Clopper–Pearson interval of a share at :data:`CONFIDENCE`."""
    interval = stats.binomtest(int(successes), int(trials)).proportion_ci(CONFIDENCE, method="exact")
    return float(interval.low), float(interval.high)


def _bootstrap(replicates: np.ndarray) -> tuple[float, float]:
    low, high = percentile_bounds(replicates, CONFIDENCE)
    return float(low), float(high)


def _task_runs(prompts, task: str) -> list[str]:
    """Names of the tuned prompts of ``task`` in the order of the results' ``run`` dim (the demo passes their
    stores in this order; a single run has no ``run`` dim)."""
    return [prompt.name for prompt in prompts if prompt.tuned and prompt.task == task]


def _skill_set_size(results, task: str, fraction: float) -> tuple[int, int, int]:
    """(layers, neurons per layer, skill neurons per layer) of ``task``'s per-layer top ``fraction``."""
    sizes = results[group_path(task, SKILL)]["score"].sizes
    return sizes[LAYER], sizes[NEURON], top_count(fraction, sizes[NEURON])


def _accuracy_rows(config, prompts, results) -> tuple[list[dict], Finding]:
    """Per tuned prompt: dev accuracy (checkpoint selection), test accuracy with its exact interval and
    binomial p-value against chance, and the adversarial test accuracy (from the adversarial store)."""
    adversarial: dict[str, tuple[int, int]] = {}
    for task in config.tasks:
        if result_group(results, group_path(task, ADVERSARIAL_ACCURACY)) is not None:
            result = results[group_path(task, ADVERSARIAL_ACCURACY)]
            counts = zip(np.atleast_1d(result["correct"]), np.atleast_1d(result["n_examples"]), strict=True)
            adversarial |= dict(zip(_task_runs(prompts, task), ((int(c), int(n)) for c, n in counts), strict=True))
    rows = []
    for prompt in (p for p in prompts if p.tuned):
        chance = 1 / len(get_task(prompt.task).label_names)
        attacked = adversarial.get(prompt.name)
        rows.append({"prompt": prompt.name, "task": prompt.task, "dev_accuracy": prompt.dev_accuracy,
                     "test_accuracy": prompt.test_correct / prompt.test_examples,
                     "test_interval": _exact_interval(prompt.test_correct, prompt.test_examples),
                     "p_value": float(binomial_p_value(prompt.test_correct, prompt.test_examples, chance)),
                     "test_counts": (prompt.test_correct, prompt.test_examples), "adversarial_counts": attacked,
                     "adversarial_accuracy": attacked[0] / attacked[1] if attacked else None})
    finding = Finding.judge(
        "Prompt tuning of a frozen backbone learns each task", "Lester et al. 2021", "test accuracy per prompt",
        f"{_LEVEL} Clopper–Pearson interval; exact one-sided binomial test against chance",
        f"in every prompt, test accuracy above chance with p < {LEARNED_ALPHA} within the demo's budget",
        [Setting(row["prompt"], row["test_accuracy"], row["p_value"] < LEARNED_ALPHA, low=row["test_interval"][0],
                 high=row["test_interval"][1], p_value=row["p_value"]) for row in rows], percent=True)
    return rows, finding


def _learned(rows: list[dict]) -> list[dict]:
    """The prompts above chance on their task's test split (only they have a skill to study)."""
    return [row for row in rows if row["p_value"] < LEARNED_ALPHA]


def _null_finding(config, results, rows: list[dict]) -> Finding:
    # A task none of whose prompts learned it has no skill to stand out: it is reported but not judged.
    learned = {row["task"] for row in _learned(rows)}
    settings, notes = [], []
    for task in config.tasks:
        null = result_group(results, group_path(task, NULL))
        if null is None:
            continue
        if task not in learned:
            notes.append(f"{task} not judged: no prompt above chance")
            continue
        layers, _, per_layer = _skill_set_size(results, task, config.fraction)
        share = float(null["skill_share_above_null"].sel(fraction=config.fraction))
        above = round(share * layers * per_layer)
        low, high = _exact_interval(above, layers * per_layer)
        settings.append(Setting(f"{task} ({above} of {layers * per_layer}; 99th percentile tuned "
                                f"{float(null['tuned_quantile'].sel(quantile=0.99)):.3f} vs null "
                                f"{float(null['null_quantile'].sel(quantile=0.99)):.3f})", share, low > 0.5,
                                low, high))
    return Finding.judge(
        "Skill neurons stand out: tuned prompts make some neurons far more predictive than an untuned prompt does",
        "Wang et al. 2022",
        f"share of the top {_percent(config.fraction)} per layer above the untuned prompt's 99th percentile",
        f"{_LEVEL} Clopper–Pearson interval over the skill neurons (taken as independent)",
        "for every task learned above chance, the interval's lower bound above 50 %", settings,
        "; ".join(notes), percent=True)


def _consistency_finding(config, prompts, results, rows: list[dict]) -> Finding:
    task = config.tasks[0]
    agreement = result_group(results, group_path(task, PROMPT_AGREEMENT))
    claim = "Skill neurons are consistent across prompts of one task (seeds)"
    statistics = ("exact one-sided test of the overlap against random per-layer sets of the same sizes "
                  "(hypergeometric per layer, convolved over layers)")
    criterion = "in every pair of seeds above chance, overlap above random sets, p < 0.01"
    if agreement is None:
        return Finding.judge(claim, "Wang et al. 2022", "Jaccard of the top sets", statistics, criterion, [],
                             "only one prompt of the task: needs several seeds")
    names, (layers, neurons, per_layer) = _task_runs(prompts, task), _skill_set_size(results, task, config.fraction)
    # Only prompts that learned the task have skill neurons whose agreement means something.
    learned = {row["prompt"] for row in _learned(rows)}
    settings = []
    for i, first in enumerate(names):
        for j in range(i + 1, len(names)):
            if not {first, names[j]} <= learned:
                continue
            pair = agreement.isel(run=i, other_run=j)
            p_value = overlap_p_value(int(pair["overlap"]), layers, neurons, per_layer, per_layer)
            settings.append(Setting(f"{first} vs {names[j]} (random sets {float(pair['expected_jaccard']):.3f}, "
                                    f"ρ of scores {float(pair['spearman']):.2f})", float(pair["jaccard"]),
                                    p_value < 0.01, p_value=p_value))
    return Finding.judge(claim, "Wang et al. 2022", f"Jaccard of the top {_percent(config.fraction)} per layer",
                         statistics, criterion, settings, "" if settings else "fewer than two seeds above chance")


#: Up to this many prompts the permutation test enumerates every ordering (8! = 40,320); beyond, it draws
#: RESAMPLES random orderings.
EXACT_PERMUTATIONS_UP_TO = 8


def _spearman_over_prompts(first: list[float], second: list[float]) -> tuple[float, float, float, float]:
    """Spearman's ρ, its percentile bootstrap interval over prompts and its one-sided permutation p: exact
    over every ordering of ``second`` against ``first`` up to :data:`EXACT_PERMUTATIONS_UP_TO` prompts, else
    (1 + #{ρ_b ≥ ρ}) / (1 + B) over B random orderings; ties as scipy ranks them."""
    def rho(rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """ρ of every row pair: ``rows`` and ``columns`` are (replicate, prompt) index arrays."""
        x, y = (xr.DataArray(np.asarray(values)[index], dims=("replicate", "prompt"))
                for values, index in ((first, rows), (second, columns)))
        return np.asarray(spearman(x, y, dims=("prompt",)))

    count = len(first)
    identity = np.arange(count)[None]
    observed = float(rho(identity, identity)[0])
    rng = np.random.default_rng(SEED)
    draws = rng.integers(0, count, size=(RESAMPLES, count))
    resampled = rho(draws, draws)
    low, high = _bootstrap(resampled[np.isfinite(resampled)])  # a resample of constant values has no ρ
    if count <= EXACT_PERMUTATIONS_UP_TO:
        orderings, add_one = np.array(list(itertools.permutations(range(count)))), 0
    else:
        orderings, add_one = np.array([rng.permutation(count) for _ in range(RESAMPLES)]), 1
    permuted = rho(np.broadcast_to(identity, orderings.shape), orderings)
    return observed, low, high, float((add_one + np.sum(permuted >= observed - 1e-12)) / (add_one + len(orderings)))


def _adversarial_findings(config, prompts, results, rows: list[dict]) -> list[Finding]:
    """Ackermann & Ohmer's robustness findings over the prompts that learned their task (a prompt at chance
    has nothing to lose under attack and no skill to keep)."""
    learned = {row["prompt"]: row for row in _learned(rows) if row["adversarial_counts"] is not None}
    drops = []
    for name, row in learned.items():
        (clean, clean_n), (attacked, attacked_n) = row["test_counts"], row["adversarial_counts"]
        replicates = bootstrap_shares([clean, attacked], [clean_n, attacked_n], RESAMPLES, SEED)
        low, high = _bootstrap(replicates[:, 0] - replicates[:, 1])
        drops.append(Setting(name, row["test_accuracy"] - row["adversarial_accuracy"], low > 0, low, high))
    findings = [Finding.judge(
        "Prompts fail on adversarial data", "Ackermann & Ohmer 2024",
        "accuracy drop clean → adversarial test", f"{_LEVEL} percentile bootstrap over the "
        f"examples of both test sets ({RESAMPLES} resamples)",
        "for every prompt above chance, the drop's interval above 0", drops,
        "" if drops else "no prompt above chance with adversarial data", percent=True)]
    persistence, excess, robust = [], [], []
    for task in config.tasks:
        comparison = result_group(results, group_path(task, CLEAN_VS_ADVERSARIAL))
        if comparison is None:
            continue
        layers, neurons, per_layer = _skill_set_size(results, task, config.fraction)
        overlap = comparison["overlap"].sel(fraction=config.fraction)
        top = comparison["adversarial_predictivity"].sel(fraction=config.fraction)
        for index, name in enumerate(_task_runs(prompts, task)):
            if name not in learned:
                continue
            select = {RUN: index} if RUN in overlap.dims else {}
            shared = round(float((overlap.isel(select) * per_layer).sum()))
            p_value = overlap_p_value(shared, layers, neurons, per_layer, per_layer)
            persistence.append(Setting(
                f"{name} (random sets {_percent(per_layer / neurons)}; adversarial predictivity of the clean top "
                f"{float(top.isel(select)):.3f} vs all "
                f"{float(comparison['adversarial_predictivity_all'].isel(select)):.3f})",
                shared / (layers * per_layer), p_value < 0.01, p_value=p_value))
            excess.append(float(comparison["excess_overlap"].isel(select)))
            robust.append(learned[name]["adversarial_accuracy"])
    findings.append(Finding.judge(
        "Skill neurons found on clean data stay skill neurons on adversarial data, above chance overlap",
        "Ackermann & Ohmer 2024", f"share of the clean top {_percent(config.fraction)} per layer that is also in "
        "the adversarial top", "exact one-sided test of the overlap against random per-layer sets of the same "
        "sizes", "for every prompt above chance, overlap above random sets, p < 0.01", persistence,
        "" if persistence else "no prompt above chance with adversarial results", percent=True))
    if len(excess) >= 5:
        rho, low, high, p_value = _spearman_over_prompts(excess, robust)
        correlation = [Setting(f"{len(excess)} prompts", rho, bool(rho > 0 and p_value < 0.05), low, high, p_value)]
        note = ""
    else:
        correlation, note = [], f"{len(excess)} prompts above chance with adversarial data: needs at least 5"
    findings.append(Finding.judge(
        "Prompts with more consistent skill neurons are more robust", "Ackermann & Ohmer 2024",
        "Spearman ρ between excess clean/adversarial overlap and adversarial accuracy over prompts",
        f"{_LEVEL} percentile bootstrap over prompts ({RESAMPLES} resamples); one-sided "
        f"permutation test (exact up to {EXACT_PERMUTATIONS_UP_TO} prompts)",
        "ρ > 0 with p < 0.05 over at least 5 prompts above chance (prompts of different tasks: a verdict here "
        "says little)", correlation, note))
    return findings


def _pairs_by_type(names: list[str], kind) -> list[tuple[str, str, str]]:
    """(anchor, same-type partner, other-type task) for every pair of names of one type, each member as the
    anchor, against every name of another type."""
    return [(anchor, partner, other) for first, second in itertools.combinations(names, 2)
            if kind(first) == kind(second) for anchor, partner in ((first, second), (second, first))
            for other in names if kind(other) != kind(anchor)]


def _task_specificity_finding(config, results, rows: list[dict]) -> Finding:
    claim = "Skill neurons of tasks of one type overlap more than across types"
    statistics = ("one-sided Fisher exact test of the anchor's overlaps with the two tasks (its skill neurons "
                  "taken as independent)")
    criterion = "in every setting, the anchor overlaps more with its own type's task, p < 0.05"
    agreement = result_group(results, group_path(ACROSS_TASKS, AGREEMENT))
    if agreement is None:
        return Finding.judge(claim, "Wang et al. 2022", "Jaccard difference", statistics, criterion, [],
                             "one task only: needs several tasks")
    # A task none of whose prompts learned it has no skill neurons to compare.
    learned = {row["task"] for row in _learned(rows)}
    tasks = [str(name) for name in agreement[TASK].values if str(name) in learned]
    layers, _, per_layer = _skill_set_size(results, str(agreement[TASK].values[0]), config.fraction)
    size = layers * per_layer
    settings = []
    for anchor, partner, other in _pairs_by_type(tasks, lambda name: get_task(name).task_type):
        same, different = (agreement.sel(task=anchor, other_task=name) for name in (partner, other))
        table = [[int(same["overlap"]), size - int(same["overlap"])],
                 [int(different["overlap"]), size - int(different["overlap"])]]
        p_value = float(stats.fisher_exact(table, alternative="greater")[1])
        settings.append(Setting(f"{anchor}: with {partner} vs with {other}",
                                float(same["jaccard"] - different["jaccard"]), p_value < 0.05, p_value=p_value))
    return Finding.judge(
        claim, "Wang et al. 2022", f"Jaccard of the top {_percent(config.fraction)} per layer with a task of the "
        "anchor's type minus with a task of another type", statistics, criterion, settings,
        "" if settings else "needs two tasks of one type and one of another, each learned above chance")


def _ablation_finding(results, task: str) -> Finding:
    """Wang et al.'s perturbation finding from the ablation of ``task``'s skill neurons (the demo's first prompt)."""
    ablation = results[group_path(task, ABLATION)]
    interval = ablation["effect_interval"]
    level = f"{100 * float(interval.attrs['confidence']):g} %"
    settings = [
        Setting(f"top {_percent(float(fraction))} per layer", float(ablation["effect"].sel(fraction=fraction)),
                float(ablation["p_value"].sel(fraction=fraction)) < 0.05,
                float(interval.sel(fraction=fraction, bound="lower")),
                float(interval.sel(fraction=fraction, bound="upper")),
                float(ablation["p_value"].sel(fraction=fraction)))
        for fraction in ablation[FRACTION].values if fraction > 0]
    return Finding.judge(
        "Perturbing skill neurons hurts accuracy more than perturbing random neurons", "Wang et al. 2022",
        f"skill-set drop minus random-set drop in test accuracy with Gaussian noise (σ = "
        f"{json.loads(ablation.attrs['settings'])['noise_std']:g}) at {ablation.attrs['positions']} positions, "
        f"reference accuracy {_percent(float(ablation['reference_accuracy']))} on {int(ablation['n_examples'])} "
        "test examples",
        f"{level} paired bootstrap interval over examples and draws; one-sided sign-flip test over examples",
        "in every fraction, the skill set's drop exceeds the random sets' (one-sided p < 0.05)",
        settings, percent=True)


def _transfer_finding(results, rows: list[dict]) -> Finding:
    transfer = results[group_path(TRANSFER, PROMPTS)]
    claim, source = "Prompts transfer within a task type, not across types", "Ackermann & Ohmer 2024"
    statistics = (f"{_LEVEL} percentile bootstrap over the test examples of every cell "
                  f"({RESAMPLES} resamples; cells resampled independently, own accuracies included)")
    criterion = ("for every prompt above chance with targets of both kinds, the difference's interval above 0 "
                 "(targets whose own prompts are above chance)")
    # A prompt at chance on its own task says nothing about transfer, and relative accuracy on a task whose own
    # prompts are at chance is near 1 for any prompt: both are left out.
    learned = {row["prompt"] for row in _learned(rows)}
    learned_tasks = {row["task"] for row in _learned(rows)}
    sources = [str(name) for name in transfer[SOURCE].values]
    targets = [get_task(str(name)) for name in transfer[TARGET].values]
    source_tasks = [str(task) for task in transfer[SOURCE_TASK].values]
    # Replicates of every accuracy, then of each target's own accuracy (mean over its own task's prompts, as
    # transfer_matrix computes it) and of the relative accuracy.
    counts = np.rint(transfer["accuracy"].values * transfer["n_examples"].values).astype(np.int64)
    accuracy = np.concatenate([transfer["accuracy"].values[None],
                               bootstrap_shares(counts, transfer["n_examples"].values, RESAMPLES, SEED)])
    own_rows = [[row for row, task in enumerate(source_tasks)
                 if task == (target.name if target.name in source_tasks else target.adversarial_of)]
                for target in targets]
    own = np.stack([accuracy[:, rows_, column].mean(axis=1) if rows_ else np.full(len(accuracy), np.nan)
                    for column, rows_ in enumerate(own_rows)], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = accuracy / own[:, None, :]
    settings = []
    for row, name in enumerate(sources):
        if name not in learned:
            continue
        source_task = get_task(source_tasks[row])
        kinds: dict[bool, list[int]] = {True: [], False: []}
        for column, target in enumerate(targets):
            clean_target = target.adversarial_of or target.name
            if clean_target != source_task.name and clean_target in learned_tasks:
                kinds[target.task_type == source_task.task_type].append(column)
        if kinds[True] and kinds[False]:
            difference = relative[:, row, kinds[True]].mean(axis=1) - relative[:, row, kinds[False]].mean(axis=1)
            low, high = _bootstrap(difference[1:])
            names = lambda columns: ", ".join(targets[column].name for column in columns)  # noqa: E731
            settings.append(Setting(f"{name} (within: {names(kinds[True])}; across: {names(kinds[False])})",
                                    float(difference[0]), low > 0, low, high))
    return Finding.judge(
        claim, source, "accuracy relative to the target's own prompts, mean within the source's type minus mean "
        "across types", statistics, criterion, settings,
        "" if settings else "no prompt above chance with learned targets both within and across its type "
                            "(among tasks with as many classes)")


def _neighbours_finding(config, prompts, neighbours: dict[str, dict[str, float]]) -> Finding:
    tuned = [prompt.name for prompt in prompts if prompt.tuned]
    untuned = [prompt.name for prompt in prompts if not prompt.tuned]
    settings = []
    for name in tuned:
        counts = neighbours[name]
        hits = [round(counts[vector] * counts["positions"]) for vector in ("prompt", "random")]
        table = [[hit, counts["positions"] - hit] for hit in hits]
        p_value = float(stats.fisher_exact(table, alternative="greater")[1])
        settings.append(Setting(name, counts["prompt"] - counts["random"], p_value < 0.05, p_value=p_value))
    untuned_rate = float(np.mean([neighbours[name]["prompt"] for name in untuned])) if untuned else math.nan
    note = f"untuned prompts {_percent(untuned_rate)}" + (
        f" (init `{config.init}`: the prompts start with the label words' own embeddings, so part of this is by "
        "construction)" if config.init == "labels" else "")
    return Finding.judge(
        "Soft-prompt vectors have label words among their nearest vocabulary tokens", "Lester et al. 2021",
        "share of prompt vectors with a label word among their 5 nearest tokens, minus that of same-norm random "
        "vectors", "one-sided Fisher exact test over the prompt's vectors and as many random ones",
        "for every tuned prompt, a higher share than its random vectors, p < 0.05", settings, note, percent=True)


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    def cell(value) -> str:
        if value is None or value == "":
            return "–"
        if isinstance(value, float):
            return f"{value:.3g}" if value < 0.001 else f"{value:.3f}"
        if isinstance(value, tuple):
            return "[" + ", ".join(map(cell, value)) + "]"
        return str(value)

    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def _finite(value):
    """``value`` with every NaN or infinite float (a missing interval or test) as None: strict JSON."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def summarise(config, prompts, results: xr.DataTree, neighbours: dict[str, dict[str, float]],
              figures: list[Path], notes: list[str], seconds: dict[str, float], out: Path) -> Path:
    """Write ``summary.md`` and ``summary.json`` into ``out``; returns the Markdown file's path."""
    rows, learned = _accuracy_rows(config, prompts, results)
    findings = [learned, _null_finding(config, results, rows), _consistency_finding(config, prompts, results, rows),
                *_adversarial_findings(config, prompts, results, rows),
                _task_specificity_finding(config, results, rows), _ablation_finding(results, prompts[0].task),
                _transfer_finding(results, rows), _neighbours_finding(config, prompts, neighbours)]
    untuned = [{"prompt": p.name, "task": p.task, "dev_accuracy": p.dev_accuracy} for p in prompts if not p.tuned]
    lines = [
        "# neurokit demo: skill neurons in a prompt-tuned MiniLM-L6",
        "",
        f"Backbone: the embedded MiniLM-L6 (frozen). Tasks: {', '.join(config.tasks)} (built-in, generated offline)."
        f" Prompts: {config.prompt_length} positions (mask slot included), init `{config.init}`, {config.steps} "
        f"steps; {config.seeds} seeds of {config.tasks[0]}, one of each other task, and one untuned prompt per "
        f"task as the null. Skill neurons: Wang et al.'s predictivity at the prompt positions, baselines from "
        f"{config.train_size} train examples, scored on {config.eval_size} dev examples; top "
        f"{_percent(config.fraction)} per layer. Test accuracy, ablation and transfer on {config.eval_size} test "
        f"examples; adversarial accuracy on as many examples of the adversarial test split.",
        "",
        "These are small synthetic tasks on a small model: the verdicts show what the pipeline measures, not a "
        "replication of the papers. Each criterion was fixed before the demo was run. Each setting gives its "
        f"effect, its {_LEVEL} interval in brackets and/or its p-value. A finding holds when its "
        "criterion is met in every setting; it does not hold only when the criterion fails in at least two "
        "settings, and is inconclusive when it fails in one.",
        "",
        "## Findings",
        "",
        _table([asdict(f) for f in findings], [("claim", "claim"), ("source", "paper"), ("evidence", "measured here"),
                                              ("statistics", "interval / test"), ("criterion", "criterion"),
                                              ("verdict", "verdict")]),
        "",
        "## Prompts",
        "",
        _table(rows, [("prompt", "prompt"), ("task", "task"), ("dev_accuracy", "best dev acc."),
                      ("test_accuracy", "test acc."), ("test_interval", f"{_LEVEL} interval"),
                      ("p_value", "p (vs chance)"),
                      ("adversarial_accuracy", "adversarial test acc.")]),
        "",
        "Untuned prompts (the null): " + ", ".join(f"{row['prompt']} dev {_percent(row['dev_accuracy'])}"
                                                   for row in untuned) + ".",
        "",
        "## Files",
        "",
        "- `prompts/`: checkpoints (safetensors + JSON) and training metrics; `stores/`: activation stores "
        "(`neurokit info`, plain `xarray.open_zarr`); `results.zarr`: every result; `tables/`: tidy CSV and LaTeX, "
        "and each prompt's nearest vocabulary tokens (`neighbours__<prompt>.csv`).",
        "- `figures/` (" + ", ".join(sorted({path.suffix.lstrip(".") for path in figures})) + "): "
        + ", ".join(f"`{stem}`" for stem in dict.fromkeys(path.stem for path in figures)),
    ]
    lines += [f"- Note: {note}" for note in notes]
    timing = [{"stage": stage, "seconds": f"{value:.0f}"} for stage, value in seconds.items()]
    lines += ["", "## Time", "", _table(timing, [("stage", "stage"), ("seconds", "seconds")]), ""]
    summary = out / "summary.md"
    summary.write_text("\n".join(lines))
    (out / "summary.json").write_text(json.dumps(_finite(
        {"findings": [asdict(f) for f in findings], "prompts": rows, "untuned": untuned, "seconds": seconds,
         "config": asdict(config)}), indent=2, default=float, allow_nan=False))
    return summary
