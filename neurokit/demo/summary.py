"""The demo's ``summary.md`` and ``summary.json``: each finding of the papers, the number it rests on here, the
criterion fixed in advance, and whether it holds on this data.

A finding is judged by a plain rule on the results (written next to it), never tuned to the outcome; where the
demo's data cannot test a finding (too few prompts, no task of the needed kind) the summary says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import stats

#: Verdicts of a finding.
HOLDS, FAILS, UNTESTED = "holds", "does not hold", "not testable here"


@dataclass(frozen=True)
class Finding:
    """One claim of the papers checked on the demo's data."""

    claim: str
    source: str
    evidence: str
    criterion: str
    verdict: str


def _verdict(condition: bool | None) -> str:
    return UNTESTED if condition is None else HOLDS if condition else FAILS


def _percent(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def _task_runs(prompts, task: str) -> list[str]:
    """Names of the tuned prompts of ``task`` in the order of the results' ``run`` dim (the demo passes their
    stores in this order; a single run has no ``run`` dim)."""
    return [prompt.name for prompt in prompts if prompt.tuned and prompt.task == task]


def _accuracy_rows(config, prompts, results) -> tuple[list[dict], Finding]:
    """Per tuned prompt: dev accuracy (checkpoint selection), test accuracy with its binomial p-value against
    chance, and the adversarial test accuracy (from the adversarial store)."""
    from neurokit.analysis import binomial_p_value
    from neurokit.tasks import get_task

    adversarial = {}
    for task in config.tasks:
        if f"{task}/adversarial_accuracy" in results:
            result = results[f"{task}/adversarial_accuracy"]
            adversarial |= dict(zip(_task_runs(prompts, task), map(float, np.atleast_1d(result["accuracy"]))))
    rows = []
    for prompt in (p for p in prompts if p.tuned):
        chance = 1 / len(get_task(prompt.task).label_names)
        rows.append({"prompt": prompt.name, "task": prompt.task, "dev_accuracy": prompt.dev_accuracy,
                     "test_accuracy": prompt.test_correct / prompt.test_examples,
                     "p_value": float(binomial_p_value(prompt.test_correct, prompt.test_examples, chance)),
                     "adversarial_accuracy": adversarial.get(prompt.name)})
    learned = [row for row in rows if row["p_value"] < 0.01]
    failed = [f"{row['prompt']} {_percent(row['test_accuracy'])}" for row in rows if row not in learned]
    finding = Finding(
        "Prompt tuning of a frozen backbone learns each task", "Lester et al. 2021",
        f"{len(learned)} of {len(rows)} tuned prompts are above chance on test"
        + (f"; at chance: {', '.join(failed)}" if failed else ""),
        "each prompt's test accuracy above chance by an exact binomial test, p < 0.01, within the demo's budget",
        _verdict(len(learned) == len(rows)),
    )
    return rows, finding


def _null_finding(config, results, rows: list[dict]) -> Finding:
    # A task none of whose prompts learned it has no skill to stand out: it is reported but not judged.
    learned = {row["task"] for row in rows if row["p_value"] < 0.01}
    shares, parts = [], []
    for task in config.tasks:
        null = results.get(f"{task}/null")
        if null is None:
            continue
        if task not in learned:
            parts.append(f"{task}: not judged, no prompt above chance")
            continue
        share = null["skill_share_above_null"].sel(fraction=config.fraction)
        shares.append(float(share))
        parts.append(f"{task}: {_percent(float(share))} of the top {_percent(float(share['fraction']))} per layer "
                     f"above the null's 99th percentile (tuned 99th percentile "
                     f"{float(null['tuned_quantile'].sel(quantile=0.99)):.3f} vs null "
                     f"{float(null['null_quantile'].sel(quantile=0.99)):.3f})")
    return Finding(
        "Skill neurons stand out: tuned prompts make some neurons far more predictive than an untuned prompt does",
        "Wang et al. 2022", "; ".join(parts) or "no null results",
        "for every task learned above chance, most (> 50 %) skill neurons score above the 99th percentile of the "
        "untuned prompt's scores",
        _verdict(all(share > 0.5 for share in shares) if shares else None),
    )


def _off_diagonal(values: xr.DataArray) -> np.ndarray:
    matrix = np.asarray(values)
    return matrix[~np.eye(matrix.shape[0], dtype=bool)]


def _consistency_finding(config, results) -> Finding:
    task = config.tasks[0]
    agreement = results.get(f"{task}/prompt_agreement")
    if agreement is None:
        return Finding("Skill neurons are consistent across prompts of one task", "Wang et al. 2022",
                       "only one prompt of the task", "needs several seeds", UNTESTED)
    jaccard = float(_off_diagonal(agreement["jaccard"]).mean())
    expected = float(_off_diagonal(agreement["expected_jaccard"]).mean())
    rho = float(_off_diagonal(agreement["spearman"]).mean())
    return Finding(
        "Skill neurons are consistent across prompts of one task (seeds)", "Wang et al. 2022",
        f"{task}, {agreement.sizes['run']} seeds: mean Jaccard of the top {_percent(config.fraction)} "
        f"{jaccard:.3f} vs {expected:.3f} for random sets; mean Spearman ρ of scores {rho:.3f}",
        "mean Jaccard at least twice the random expectation", _verdict(jaccard >= 2 * expected),
    )


def _adversarial_findings(config, prompts, results, rows: list[dict]) -> list[Finding]:
    """Ackermann & Ohmer's robustness findings over the prompts that learned their task (a prompt at chance
    has nothing to lose under attack and no skill to keep)."""
    learned = {row["prompt"]: row for row in rows if row["p_value"] < 0.01 and row["adversarial_accuracy"] is not None}
    drops = [row["test_accuracy"] - row["adversarial_accuracy"] for row in learned.values()]
    mean_drop = float(np.mean(drops)) if drops else float("nan")
    findings = [Finding(
        "Prompts fail on adversarial data", "Ackermann & Ohmer 2024",
        f"mean accuracy drop clean → adversarial test {_percent(mean_drop)} over {len(drops)} prompts above chance",
        "mean drop of at least 5 points", _verdict(mean_drop >= 0.05 if drops else None))]
    excess, robust, persist, parts = [], [], [], []
    for task in config.tasks:
        comparison = results.get(f"{task}/clean_vs_adversarial")
        if comparison is None:
            continue
        top = np.atleast_1d(comparison["adversarial_predictivity"].sel(fraction=config.fraction))
        everything = np.atleast_1d(comparison["adversarial_predictivity_all"])
        for index, name in enumerate(_task_runs(prompts, task)):
            if name not in learned:
                continue
            persist.append(bool(top[index] > everything[index]))
            excess.append(float(np.atleast_1d(comparison["excess_overlap"])[index]))
            robust.append(learned[name]["adversarial_accuracy"])
            parts.append(f"{name}: excess overlap {excess[-1]:+.3f}, adversarial predictivity of clean skill "
                         f"neurons {top[index]:.3f} vs all {everything[index]:.3f}")
    findings.append(Finding(
        "Skill neurons found on clean data stay predictive on adversarial data, above chance overlap",
        "Ackermann & Ohmer 2024", "; ".join(parts) or "no prompt above chance with adversarial results",
        "for every prompt above chance, clean skill neurons are more predictive on adversarial data than the "
        "average neuron and the clean/adversarial top sets overlap more than chance (excess overlap > 0)",
        _verdict(all(persist) and all(value > 0 for value in excess) if excess else None)))
    if len(excess) >= 5:
        rho, p_value = stats.spearmanr(excess, robust)
        evidence = f"Spearman ρ = {rho:.2f} (p = {p_value:.2f}) between excess overlap and adversarial accuracy " \
                   f"over {len(excess)} prompts above chance"
        verdict = _verdict(bool(rho > 0 and p_value < 0.05))
    else:
        evidence, verdict = f"{len(excess)} prompts above chance with adversarial data", UNTESTED
    findings.append(Finding(
        "Prompts with more consistent skill neurons are more robust", "Ackermann & Ohmer 2024", evidence,
        "positive Spearman correlation with p < 0.05 over at least 5 prompts above chance (few prompts of "
        "different tasks: a verdict here says little)", verdict))
    return findings


def _task_specificity_finding(config, results) -> Finding:
    from neurokit.tasks import get_task

    agreement = results.get("tasks/agreement")
    if agreement is None:
        return Finding("Skill neurons of tasks of one type overlap more than across types", "Wang et al. 2022",
                       "one task only", "needs several tasks", UNTESTED)
    tasks = [str(name) for name in agreement["task"].values]
    kinds = {task: get_task(task).task_type for task in tasks}
    same, different = [], []
    for i, first in enumerate(tasks):
        for second in tasks[i + 1:]:
            ratio = float(agreement["jaccard"].sel(task=first, other_task=second) /
                          agreement["expected_jaccard"].sel(task=first, other_task=second))
            (same if kinds[first] == kinds[second] else different).append(ratio)
    if not same or not different:
        return Finding("Skill neurons of tasks of one type overlap more than across types", "Wang et al. 2022",
                       "no pair of tasks of one type and of different types", "needs both kinds of pairs", UNTESTED)
    return Finding(
        "Skill neurons of tasks of one type overlap more than across types", "Wang et al. 2022",
        f"Jaccard / chance: {np.mean(same):.2f} within a type ({len(same)} pairs) vs {np.mean(different):.2f} "
        f"across types ({len(different)} pairs)",
        "mean within-type ratio above the mean across-type ratio", _verdict(np.mean(same) > np.mean(different)))


def _ablation_finding(results) -> Finding:
    ablation = results["interventions/ablation"]
    drop = ablation["accuracy_drop"].mean("draw")
    interval = ablation["effect_interval"]
    level = f"{100 * float(interval.attrs['confidence']):g} %"
    largest = float(drop["fraction"].max())
    by_fraction = ", ".join(
        f"{_percent(float(f))}: skill {_percent(float(drop.sel(selection='skill', fraction=f)))} vs random "
        f"{_percent(float(drop.sel(selection='random', fraction=f)))}, difference "
        f"{_percent(float(ablation['effect'].sel(fraction=f)))} ({level} CI "
        f"{_percent(float(interval.sel(fraction=f, bound='lower')))} to "
        f"{_percent(float(interval.sel(fraction=f, bound='upper')))}, "
        f"p = {float(ablation['p_value'].sel(fraction=f)):.3g})"
        for f in drop["fraction"].values)
    return Finding(
        "Perturbing skill neurons hurts accuracy more than perturbing random neurons", "Wang et al. 2022",
        f"accuracy drop with Gaussian noise on the top neurons per layer ({by_fraction}); reference accuracy "
        f"{_percent(float(ablation['reference_accuracy']))} on {int(ablation['n_examples'])} test examples",
        "at the largest fraction, the skill set's drop exceeds the random sets' (one-sided sign-flip test over "
        "examples, p < 0.05)",
        _verdict(float(ablation["p_value"].sel(fraction=largest)) < 0.05))


def _transfer_finding(results, rows: list[dict]) -> Finding:
    from neurokit.tasks import get_task

    transfer = results["interventions/transfer"]
    # A prompt at chance on its own task says nothing about transfer, and relative accuracy on a task whose own
    # prompts are at chance is near 1 for any prompt: both are left out.
    learned = {row["prompt"] for row in rows if row["p_value"] < 0.01}
    learned_tasks = {row["task"] for row in rows if row["p_value"] < 0.01}
    within, across = [], []
    for source in transfer["source"].values:
        source_task = get_task(str(transfer["source_task"].sel(source=source).item()))
        if str(source) not in learned:
            continue
        for target in transfer["target"].values:
            target_task = get_task(str(target))
            clean_target = target_task.adversarial_of or target_task.name
            if clean_target == source_task.name or clean_target not in learned_tasks:
                continue
            value = float(transfer["relative"].sel(source=source, target=target))
            if math.isfinite(value):
                (within if target_task.task_type == source_task.task_type else across).append(value)
    if not within or not across:
        return Finding("Prompts transfer within a task type, not across types", "Ackermann & Ohmer 2024",
                       f"{len(within)} pairs within a type and {len(across)} across types among learned prompts "
                       "and tasks with the same number of classes",
                       "needs both kinds of pairs among prompts above chance on their own task", UNTESTED)
    return Finding(
        "Prompts transfer within a task type, not across types", "Ackermann & Ohmer 2024",
        f"accuracy relative to the target's own prompts: {np.mean(within):.2f} within a type ({len(within)} "
        f"pairs) vs {np.mean(across):.2f} across types ({len(across)} pairs)",
        "mean relative accuracy within a type above that across types (prompts and targets whose own prompts are "
        "above chance)", _verdict(np.mean(within) > np.mean(across)))


def _neighbours_finding(config, prompts, neighbours: dict[str, dict[str, float]]) -> Finding:
    tuned = [prompt.name for prompt in prompts if prompt.tuned]
    untuned = [prompt.name for prompt in prompts if not prompt.tuned]
    mean = lambda names, vector: float(np.mean([neighbours[name][vector] for name in names]))  # noqa: E731
    init_note = (f" (init `{config.init}`: the untuned prompts start with the label words' own embeddings, so "
                 "part of this is by construction)" if config.init == "labels" else "")
    return Finding(
        "Soft-prompt vectors have label words among their nearest vocabulary tokens", "Lester et al. 2021",
        "share of prompt vectors with a label word among their 5 nearest tokens: tuned "
        f"{_percent(mean(tuned, 'prompt'))}, untuned {_percent(mean(untuned, 'prompt'))}, same-norm random "
        f"vectors {_percent(mean(tuned, 'random'))}" + init_note,
        "for every tuned prompt, a higher share than for its same-norm random vectors",
        _verdict(all(neighbours[name]["prompt"] > neighbours[name]["random"] for name in tuned)))


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    def cell(value) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.3g}" if value < 0.001 else f"{value:.3f}"
        return str(value)

    lines = ["| " + " | ".join(title for _, title in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(key)) for key, _ in columns) + " |" for row in rows]
    return "\n".join(lines)


def summarise(config, prompts, results: dict[str, xr.Dataset], neighbours: dict[str, dict[str, float]],
              figures: list[Path], notes: list[str], seconds: dict[str, float], out: Path) -> Path:
    """Write ``summary.md`` and ``summary.json`` into ``out``; returns the Markdown file's path."""
    rows, learned = _accuracy_rows(config, prompts, results)
    findings = [learned, _null_finding(config, results, rows), _consistency_finding(config, results),
                *_adversarial_findings(config, prompts, results, rows), _task_specificity_finding(config, results),
                _ablation_finding(results), _transfer_finding(results, rows),
                _neighbours_finding(config, prompts, neighbours)]
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
        "replication of the papers. Each criterion was fixed before the demo was run.",
        "",
        "## Findings",
        "",
        _table([asdict(f) for f in findings], [("claim", "claim"), ("source", "paper"), ("evidence", "measured here"),
                                              ("criterion", "criterion"), ("verdict", "verdict")]),
        "",
        "## Prompts",
        "",
        _table(rows, [("prompt", "prompt"), ("task", "task"), ("dev_accuracy", "best dev acc."),
                      ("test_accuracy", "test acc."), ("p_value", "p (vs chance)"),
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
    (out / "summary.json").write_text(json.dumps(
        {"findings": [asdict(f) for f in findings], "prompts": rows, "untuned": untuned, "seconds": seconds,
         "config": asdict(config)}, indent=2, default=float))
    return summary
