"""`neurokit report STUDY_FOLDER`: the reproduction report of a study, Markdown plus the figures.

Each section is one of the paper's tables or figures: neurokit's measured value per row and model, the paper's
number beside it where one was read in the paper and entered in the study file (``paper_numbers``), and the
difference. Where no number was entered the paper column says so; numbers are never filled in from memory or
secondary sources.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import stats

from neurokit.analysis.groups import (
    ABLATION,
    ACROSS_TASKS,
    ADVERSARIAL_ABLATION,
    ADVERSARIAL_REPORT_ACCURACY,
    AGREEMENT,
    CLEAN_VS_ADVERSARIAL,
    PROMPTS,
    PRUNING,
    REPORT_ACCURACY,
    SKILL,
    TRANSFER,
    class_count,
    group_path,
)
from neurokit.dims import DRAW, FRACTION, LAYER, SELECTION, SOURCE, TARGET, TASK
from neurokit.errors import NeurokitError
from neurokit.study.config import StudyConfig
from neurokit.study.runner import MARKER, model_folder_name

REPORT_FILE = "report.md"
NOT_ENTERED = "not entered"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _number(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _mean_sd(values: np.ndarray, digits: int = 3) -> str:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "n/a"
    spread = f" ± {values.std(ddof=1):.{digits}f}" if values.size > 1 else ""
    return f"{values.mean():.{digits}f}{spread} (n={values.size})"


class _Report:
    def __init__(self, folder: Path, config: StudyConfig):
        from neurokit.analysis import load_results

        self.folder, self.config = folder, config
        self.results: dict[str, xr.DataTree] = {}
        for model in config.models:
            store = folder / model_folder_name(model) / "results.zarr"
            if store.exists():
                self.results[model] = load_results(store)
        if not self.results:
            raise NeurokitError(f"{folder} holds no study results yet: run 'neurokit study' first")
        self.lines: list[str] = []

    def group(self, model: str, name: str) -> xr.Dataset | None:
        from neurokit.analysis.results import result_group

        tree = self.results.get(model)
        group = None if tree is None else result_group(tree, name)
        return None if group is None else group.load()

    def paper(self, section: str, row: str, value: float | None) -> list[str]:
        """The paper's number for a row of a section, and neurokit's value minus it."""
        number = self.config.paper_numbers.get(section, {}).get(row)
        if number is None:
            return [NOT_ENTERED, ""]
        difference = "" if value is None or not math.isfinite(value) else f"{value - number:+.3f}"
        return [f"{number:.3f}", difference]

    def per_task_section(self, section: str, title: str, what: str,
                         measure: Callable[[str, str], tuple[str, float | None]]) -> None:
        """One row per task: each model's measured value, then the paper's number and the difference."""
        rows = []
        for task in self.config.tasks:
            cells, first_value = [task], None
            for model in self.results:
                text, value = measure(model, task)
                cells.append(text)
                first_value = value if first_value is None else first_value
            rows.append(cells + self.paper(section, task, first_value))
        header = ["task", *self.results, "paper", "difference (first model − paper)"]
        self.lines += [f"## {title}", "", what, "", *_table(header, rows), ""]

    # --- sections ---------------------------------------------------------------------------------------
    def _accuracy_measure(self, kind: str, missing: str) -> Callable[[str, str], tuple[str, float | None]]:
        """Mean ± SD over prompts of the accuracies in ``<task>/<kind>``, with how many beat chance."""
        def measure(model: str, task: str):
            result = self.group(model, group_path(task, kind))
            if result is None:
                return missing, None
            accuracy = result["accuracy"].values
            above = int((result["p_value"].values < 0.05).sum())
            examples = int(result["n_examples"].values[0])
            return f"{_mean_sd(accuracy)}; {above} above chance ({examples} examples)", float(np.nanmean(accuracy))

        return measure

    def accuracy(self) -> None:
        self.per_task_section("accuracy", "Prompt-tuning accuracy",
                              f"Accuracy on the {self.config.report_split} split, mean ± SD over prompts (seeds); "
                              "'above chance': prompts whose exact one-sided binomial test against 1/classes has "
                              "p < 0.05.", self._accuracy_measure(REPORT_ACCURACY, "n/a"))

    def adversarial_accuracy(self) -> None:
        self.per_task_section("adversarial_accuracy", "Accuracy on adversarial data",
                              "Each prompt on its task's adversarial set (AdvGLUE for GLUE tasks), mean ± SD; "
                              "above chance by an exact one-sided binomial test at 5 %.",
                              self._accuracy_measure(ADVERSARIAL_REPORT_ACCURACY, "no adversarial set"))

    def predictivity(self) -> None:
        def measure(model: str, task: str):
            skill = self.group(model, group_path(task, SKILL))
            if skill is None:
                return "n/a", None
            best = float(skill["score"].max())
            top = float(skill["score"].where(skill["skill"]).mean())
            return f"best {best:.3f}, skill-set mean {top:.3f}", best

        self.per_task_section("predictivity", "Skill-neuron predictivity",
                              f"Predictivity on the {self.config.choose_split} split (baselines: train means; "
                              "the task's score, mean over prompts): the best single neuron and the mean over "
                              f"the top {self.config.fraction:.0%} per layer.", measure)

    def _ablation(self, kind: str, title: str, split: str) -> None:
        rows = []
        for model in self.results:
            for task in self.config.tasks:
                result = self.group(model, group_path(task, kind))
                if result is None:
                    continue
                accuracy = result["accuracy"].mean(DRAW)
                for fraction in result[FRACTION].values:
                    at = {FRACTION: fraction}
                    interval = result["effect_interval"].sel(at)
                    rows.append([model, task, f"{fraction:.0%}",
                                 _number(float(accuracy.sel({SELECTION: "skill", **at}))),
                                 _number(float(accuracy.sel({SELECTION: "random", **at}))),
                                 (f"{_number(float(result['effect'].sel(at)))} [{_number(float(interval[0]))}, "
                                 f"{_number(float(interval[1]))}]"), _number(float(result["p_value"].sel(at)), 4)])
        if not rows:
            return
        self.lines += [f"## {title}", "",
                       (f"Accuracy on the {split} after perturbing the first prompt's skill neurons (top fraction "
                        "per layer, chosen on the choose split) or as many random neurons per layer, mean over draws."),
                       ("Effect: random − skill accuracy with its 95 % paired bootstrap interval "
                        "over examples and draws; p: one-sided sign-flip test that skill neurons hurt more."),
                       "", *_table(["model", "task", "fraction", "skill", "random", "effect [interval]", "p"], rows),
                       ""]

    def pruning(self) -> None:
        rows = []
        for model in self.results:
            for task in self.config.tasks:
                result = self.group(model, group_path(task, PRUNING))
                if result is None:
                    continue
                before, after = (result.sel(model=name) for name in ("unpruned", "pruned"))
                rows.append([model, task, f"{int(before['parameters']):,} → {int(after['parameters']):,}",
                             f"{_number(float(before['accuracy']))} → {_number(float(after['accuracy']))}",
                             _number(float(before["forward_seconds"] / after["forward_seconds"]), 2)])
        if rows:
            self.lines += ["## Pruning to skill neurons", "",
                           (f"The first prompt's model keeps the top {self.config.prune_fraction:.0%} of neurons by "
                            "skill score in the pruned layers; the removed neurons' train means are folded into the "
                            "FFN output bias. Accuracy on the report split; speed-up: the unpruned model's "
                            "evaluation time over the pruned one's, in this run and on its device."), "",
                           *_table(["model", "task", "parameters", "accuracy", "speed-up"], rows), ""]

    def ablation(self) -> None:
        self._ablation(ABLATION, "Perturbing skill neurons", f"{self.config.report_split} split")

    def adversarial_ablation(self) -> None:
        self._ablation(ADVERSARIAL_ABLATION, "Suppressing clean skill neurons on adversarial data",
                       "adversarial set")

    def task_specificity(self) -> None:
        for model in self.results:
            agreement = self.group(model, group_path(ACROSS_TASKS, AGREEMENT))
            if agreement is None:
                continue
            rho = agreement["spearman"]
            tasks = [str(t) for t in rho[TASK].values]
            rows = [[task, *(_number(float(rho.sel(task=task, other_task=other)), 2) for other in tasks)]
                    for task in tasks]
            self.lines += [f"## Task specificity ({model})", "",
                           "Spearman's ρ between the tasks' neuron scores over all neurons.", "",
                           *_table(["task", *tasks], rows), ""]

    def transfer(self) -> None:
        for model in self.results:
            tree = self.results[model]
            matrices = tree[TRANSFER].children if TRANSFER in tree.children else {}
            for name in sorted(name for name in matrices if class_count(name, PROMPTS) is not None):
                relative = matrices[name].to_dataset()["relative"].load()
                sources = [str(s) for s in relative[SOURCE].values]
                targets = [str(t) for t in relative[TARGET].values]
                rows = [[source, *(_number(float(relative.sel(source=source, target=t)), 1) for t in targets)]
                        for source in sources]
                self.lines += [f"## Relative transfer ({model}, {name.rsplit('_', 1)[-1]})", "",
                               ("100 × accuracy(target | source prompt) / accuracy(target | the target's own "
                               "prompts), on the report split (adversarial sets: their test split)."), "",
                               *_table(["source prompt", *targets], rows), ""]

    def consistency(self) -> None:
        rows, robustness = [], []
        for model in self.results:
            for task in self.config.tasks:
                result = self.group(model, group_path(task, CLEAN_VS_ADVERSARIAL))
                if result is None:
                    continue
                fraction = min(result[FRACTION].values, key=lambda f: abs(f - self.config.fraction))
                predictivity = result["adversarial_predictivity"].sel(fraction=fraction)
                overlap = result["overlap"].sel(fraction=fraction)
                overlap = overlap.mean(LAYER) if LAYER in overlap.dims else overlap
                rows.append([model, task, f"{fraction:.0%}", _mean_sd(predictivity.values),
                             _mean_sd(overlap.values), _number(float(result["chance_overlap"].sel(fraction=fraction))),
                             _mean_sd(result["spearman"].values, 2)])
                accuracy = self.group(model, group_path(task, ADVERSARIAL_REPORT_ACCURACY))
                if accuracy is not None:
                    robustness += list(zip(np.atleast_1d(result["excess_overlap"].values),
                                           accuracy["accuracy"].values, strict=True))
        if not rows:
            return
        self.lines += ["## Consistency of skill neurons under attack", "",
                       ("(1) mean adversarial predictivity of the clean top neurons; (2) per-layer overlap of the "
                       "clean and adversarial top sets against the overlap of two random sets; Spearman's ρ of "
                       "clean and adversarial scores. Mean ± SD over prompts."), "",
                       *_table(["model", "task", "top", "adversarial predictivity", "overlap", "chance overlap",
                                "ρ clean–adversarial"], rows), ""]
        if len(robustness) >= 3:
            excess, accuracy = np.array(robustness).T
            rho, p_value = stats.spearmanr(excess, accuracy)
            self.lines += [(f"Consistency ↔ robustness: Spearman's ρ between each prompt's excess overlap and its "
                           f"adversarial accuracy = {_number(float(rho), 2)} (p = {_number(float(p_value), 3)}, "
                           f"{len(robustness)} prompts)."), ""]

    def write(self) -> Path:
        config = self.config
        self.lines = [f"# Reproduction report: {config.name}", "", f"Paper: {config.paper}", "",
                      (f"Models: {', '.join(config.models)}; tasks: {', '.join(config.tasks)}; seeds: "
                      f"{', '.join(map(str, config.seeds))}. Settings: `study.json`."), "",
                      (f"The 'paper' columns show only numbers read in the paper and entered in the study file; "
                      f"'{NOT_ENTERED}' means none was entered, not that the paper has none."), ""]
        self.lines += [f"- {note}" for note in config.notes] + ([""] if config.notes else [])
        for section in config.sections:
            getattr(self, section)()
        self.lines += self.figures()
        path = self.folder / REPORT_FILE
        path.write_text("\n".join(self.lines) + "\n")
        return path

    def figures(self) -> list[str]:
        from neurokit.plots import draw_figures

        lines = ["## Figures", ""]
        for model in self.results:
            folder = self.folder / "figures" / model_folder_name(model)
            figures, _notes = draw_figures(self.folder / model_folder_name(model) / "results.zarr", folder,
                                           formats=("png",))
            lines += [f"- {model}: `{Path(figure).relative_to(self.folder)}`" for figure in figures]
        return lines + [""]


def write_report(folder: str | Path) -> Path:
    """Write ``report.md`` (and ``figures/``) for the study in ``folder``; returns the report's path."""
    folder = Path(folder)
    marker = folder / MARKER
    if not marker.is_file():
        raise NeurokitError(f"{folder} is not a study folder (no {MARKER})")
    config = StudyConfig(**json.loads(marker.read_text())["config"])
    return _Report(folder, config).write()
