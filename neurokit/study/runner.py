"""Run a :class:`~neurokit.study.config.StudyConfig` into one folder, resuming whatever an earlier run finished.

Layout of the output folder::

    study.json                      the settings, the command line, package versions
    <model>/prompts/<task>-seed<s>/ prompt checkpoints (reused when finished with the same settings)
    <model>/stores/<task>-seed<s>/  train.zarr (statistics), choose.zarr, report.zarr, adversarial.zarr
    <model>/results.zarr            analyses, accuracies, perturbation and transfer results
    report.md, figures/             the reproduction report (:mod:`neurokit.study.report`)

Prompts and stores are the expensive steps: a finished prompt is reused when its settings are unchanged, and a
store is resumed (an interrupted extraction continues where it stopped; a complete one is kept). Analyses,
perturbation and transfer are recomputed from the stores on every run.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import xarray as xr

from neurokit.analysis.groups import (
    ABLATION,
    ADVERSARIAL_ABLATION,
    ADVERSARIAL_REPORT_ACCURACY,
    PROMPTS,
    PRUNING,
    REPORT_ACCURACY,
    SKILL,
    TRANSFER,
    by_class_count,
    group_path,
)
from neurokit.dims import RUN
from neurokit.errors import ConfigError
from neurokit.provenance import command_line, package_versions, utc_now
from neurokit.study.config import StudyConfig

#: Marks a folder as a study's; a non-empty folder without it is never written into.
MARKER = "study.json"
PROMPT_RECORD = "finished.json"


@dataclass
class StudyPrompt:
    """One tuned prompt of the study and where its stores are."""

    model: str
    task: str
    seed: int
    folder: Path
    stores: dict[str, Path]
    fresh: bool  # tuned in this run: its old stores (if any) belong to another prompt

    @property
    def name(self) -> str:
        return f"{self.task}-seed{self.seed}"


def model_folder_name(model: str) -> str:
    """A file-system name for a model id or path (``roberta-base``, ``google/t5-base-lm-adapt`` …)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model.strip("/")).strip("_") or "model"


def claim_folder(out: Path, marker: str, command: str, record: dict) -> None:
    """Make ``out`` the output folder of ``command`` and write ``record`` into its ``marker`` file; a file, or
    a non-empty folder without the marker (another command's, or the user's), is refused. Earlier results of
    the same command stay in it, to be reused."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not (out / marker).is_file():
        raise ConfigError(f"{out} is not empty and was not written by 'neurokit {command}'; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / marker).write_text(json.dumps(record, indent=2))


def skill_ablation(backbone, checkpoint_folder: Path, task_name: str, split: str, size: int | None,
                   max_length: int, fractions, draws: int, progress: bool, scores: xr.DataArray) -> xr.Dataset:
    """Wang et al.'s perturbation of one prompt's skill neurons (``scores``, chosen on other data) against random
    neurons on ``split`` of a task, with the effect's bootstrap interval and one-sided p-value per fraction."""
    from neurokit.interventions import SkillAblationExperiment, with_effects
    from neurokit.prompts import PromptCheckpoint
    from neurokit.prompts.data import EncodedSplit
    from neurokit.tasks import get_task, load_split

    task = get_task(task_name)
    encoded = EncodedSplit(backbone, task, load_split(task, split, size=size), max_length)
    ablation = SkillAblationExperiment(fractions=fractions, draws=draws, progress=progress)
    ablation.prepare(backbone, PromptCheckpoint.from_pretrained(checkpoint_folder).soft_prompt(backbone),
                 backbone.verbalizer(task.label_words), encoded)
    return with_effects(ablation.run(scores), seed=ablation.seed)


def _tuned_prompt(backbone, config: StudyConfig, model: str, task_name: str, seed: int, folder: Path,
                  progress: bool) -> bool:
    """Tune the prompt into ``folder`` unless it is finished with the same settings; True when tuned now."""
    from neurokit.prompts import PromptTrainer
    from neurokit.tasks import get_task, load_split

    tuning = config.tuning(model, seed)
    settings = {"tuning": tuning.to_dict(), "task": task_name, "train_size": config.train_size,
                "choose_size": config.choose_size, "weights_sha256": backbone.weights_sha256}
    record = folder / PROMPT_RECORD
    if record.is_file() and json.loads(record.read_text()).get("settings") == settings:
        return False
    shutil.rmtree(folder, ignore_errors=True)
    task = get_task(task_name)
    train = load_split(task, "train", size=config.size("train"))
    choose = load_split(task, config.choose_split, size=config.size("choose"))
    trainer = PromptTrainer(backbone, task, tuning, output_dir=folder, progress=progress).fit(train, choose)
    record.write_text(json.dumps({"settings": settings, "dev_accuracy": trainer.best_dev_accuracy_}))
    return True


def adversarial_task(task_name: str) -> str | None:
    """The registered adversarial set of a task (``adv_<task>``, attacking that task), or None."""
    from neurokit.tasks import get_task, list_tasks

    names = {spec.name for spec in list_tasks()}
    candidate = f"adv_{task_name}"
    return candidate if candidate in names and get_task(candidate).adversarial_of == task_name else None


def _extract(backbone, config: StudyConfig, prompt: StudyPrompt, progress: bool) -> None:
    from neurokit.extract import ExtractionConfig, extract_run

    extraction = ExtractionConfig(max_length=config.tuning(prompt.model, prompt.seed).max_length)
    plan = {"train": (prompt.task, "train", config.size("train")),
            "choose": (prompt.task, config.choose_split, config.size("choose")),
            "report": (prompt.task, config.report_split, config.size("report"))}
    adversarial = adversarial_task(prompt.task) if config.adversarial else None
    if adversarial is not None:
        plan["adversarial"] = (adversarial, "test", config.size("report"))
    store_folder = prompt.folder.parent.parent / "stores" / prompt.name
    for role, (task, split, size) in plan.items():
        prompt.stores[role] = extract_run(backbone, prompt.folder, task, split, store_folder / f"{role}.zarr",
                                          extraction, size=size, overwrite=prompt.fresh, progress=progress)


def _analysis(config: StudyConfig, prompts: list[StudyPrompt], progress: bool) -> xr.DataTree:
    from neurokit.analysis import AnalysisOptions, analyze_stores, compute_results
    from neurokit.analysis.compare import model_accuracy
    from neurokit.extract import open_run

    results = analyze_stores(
        train=[p.stores["train"] for p in prompts], evaluation=[p.stores["choose"] for p in prompts],
        adversarial=[p.stores["adversarial"] for p in prompts if "adversarial" in p.stores],
        options=AnalysisOptions(fraction=config.fraction))
    # Accuracy on the report split (and on the adversarial set) comes from the stores' recorded predictions.
    for task in dict.fromkeys(p.task for p in prompts):
        runs = [p for p in prompts if p.task == task]
        results[group_path(task, REPORT_ACCURACY)] = xr.concat(
            [model_accuracy(open_run(p.stores["report"])) for p in runs], dim=RUN)
        if all("adversarial" in p.stores for p in runs):
            results[group_path(task, ADVERSARIAL_REPORT_ACCURACY)] = xr.concat(
                [model_accuracy(open_run(p.stores["adversarial"])) for p in runs], dim=RUN)
    return compute_results(results, description="study analysis", progress=progress)


def skill_scores(results: xr.DataTree, task: str) -> xr.DataArray:
    """The skill scores of a task's analysis group: its first prompt's (``run_score``) when it has several."""
    skill = results[group_path(task, SKILL)]
    scores = skill["run_score"].isel(run=0) if "run_score" in skill else skill["score"]
    return cast(xr.DataArray, scores)  # a node's variable; DataTree.__getitem__ is typed with nodes too


def _ablation(backbone, config: StudyConfig, prompt: StudyPrompt, scores: xr.DataArray, task_name: str,
              split: str, progress: bool) -> xr.Dataset:
    """Wang et al.'s sweep: the first seed's skill neurons (chosen on the choose split) vs random ones."""
    return skill_ablation(backbone, prompt.folder, task_name, split, config.size("report"),
                          config.tuning(prompt.model, prompt.seed).max_length, config.ablation_fractions,
                          config.ablation_draws, progress, scores)


def _pruning(backbone, config: StudyConfig, prompt: StudyPrompt, scores: xr.DataArray,
             progress: bool) -> xr.Dataset:
    """Wang et al.'s pruning: keep the first prompt's top skill neurons of the pruned layers, fold the removed
    neurons' train means into the bias, and compare parameters, accuracy and forward time on the report split."""
    import time

    from neurokit.analysis.compare import binomial_p_value
    from neurokit.extract import open_run
    from neurokit.interventions import (
        PruneConfig,
        kept_neurons,
        neuron_means,
        parameter_count,
        prune,
        train_mean,
    )
    from neurokit.prompts import PromptCheckpoint, evaluate
    from neurokit.prompts.data import EncodedSplit
    from neurokit.tasks import get_task, load_split

    settings = PruneConfig(fraction=config.prune_fraction)
    task = get_task(prompt.task)
    pruned = prune(backbone, kept_neurons(backbone, scores, settings),
                   neuron_means(train_mean(open_run(prompt.stores["train"]))))
    dataset = load_split(task, config.report_split, size=config.size("report"))
    max_length = config.tuning(prompt.model, prompt.seed).max_length
    rows = {}
    for name, model in (("unpruned", backbone), ("pruned", pruned)):
        split = EncodedSplit(model, task, dataset, max_length)
        soft_prompt = PromptCheckpoint.from_pretrained(prompt.folder).soft_prompt(model, allow_other_model=True)
        started = time.perf_counter()
        result = evaluate(model, soft_prompt, model.verbalizer(task.label_words), split, progress=progress)
        elapsed = time.perf_counter() - started
        n_correct = int((result.predictions == split.labels).sum())
        rows[name] = (parameter_count(model), n_correct, len(split), elapsed)
    parameters, correct, examples, seconds = (np.array(column) for column in zip(*rows.values(), strict=True))
    coords = {"model": list(rows)}
    return xr.Dataset(
        {"parameters": ("model", parameters), "correct": ("model", correct), "n_examples": ("model", examples),
         "accuracy": ("model", correct / examples), "forward_seconds": ("model", seconds),
         "p_value": ("model", binomial_p_value(correct, examples, 1 / len(task.label_names)))},
        coords=coords, attrs={"settings": json.dumps(settings.settings()), "device": str(backbone.device)})


def _transfer(backbone, config: StudyConfig, prompts: list[StudyPrompt], progress: bool) -> dict[str, xr.Dataset]:
    """Every prompt on the report split of every task (and adversarial set) with as many classes, by class count."""
    from neurokit.interventions import transfer_matrix
    from neurokit.prompts import PromptCheckpoint
    from neurokit.tasks import get_task, load_split

    by_classes: dict[int, list[StudyPrompt]] = {}
    for prompt in prompts:
        by_classes.setdefault(len(get_task(prompt.task).label_names), []).append(prompt)
    results = {}
    for classes, group in by_classes.items():
        tasks = list(dict.fromkeys(p.task for p in group))
        if len(tasks) < 2:
            continue
        names = tasks + [name for name in map(adversarial_task, tasks) if name and config.adversarial]
        targets = [(get_task(name), load_split(name, config.report_split if name in tasks else "test",
                                               size=config.size("report"))) for name in names]
        sources = {p.name: PromptCheckpoint.from_pretrained(p.folder) for p in group}
        results[group_path(TRANSFER, by_class_count(PROMPTS, classes))] = transfer_matrix(
            backbone, sources, targets, max_length=config.tuning(group[0].model, group[0].seed).max_length,
            progress=progress)
    return results


def run_model(config: StudyConfig, model: str, out: Path, device: str | None, progress: bool) -> Path:
    """Every step of the study for one model; returns its results store."""
    from neurokit.analysis import save_results
    from neurokit.models import load_backbone
    from neurokit.models.backbone import default_device

    backbone = load_backbone(model, device=default_device(device))
    folder = out / model_folder_name(model)
    prompts = []
    for task in config.tasks:
        for seed in config.seeds:
            prompt_folder = folder / "prompts" / f"{task}-seed{seed}"
            fresh = _tuned_prompt(backbone, config, model, task, seed, prompt_folder, progress)
            prompts.append(StudyPrompt(model, task, seed, prompt_folder, {}, fresh))
    for prompt in prompts:
        _extract(backbone, config, prompt, progress)
    results = _analysis(config, prompts, progress)
    if config.ablation_fractions:
        for task in config.tasks:
            first = next(p for p in prompts if p.task == task)
            scores = skill_scores(results, task)
            results[group_path(task, ABLATION)] = _ablation(backbone, config, first, scores, task,
                                                            config.report_split, progress)
            adversarial = adversarial_task(task)
            if config.adversarial_ablation and adversarial is not None:
                results[group_path(task, ADVERSARIAL_ABLATION)] = _ablation(backbone, config, first, scores,
                                                                            adversarial, "test", progress)
    if config.prune_fraction:
        for task in config.tasks:
            first = next(p for p in prompts if p.task == task)
            results[group_path(task, PRUNING)] = _pruning(backbone, config, first, skill_scores(results, task),
                                                          progress)
    if config.transfer:
        for name, matrix in _transfer(backbone, config, prompts, progress).items():
            results[name] = matrix
    store = folder / "results.zarr"
    save_results(results, store, overwrite=True, attrs={"model": model, "study": config.name}, progress=progress)
    return store


def run_study(config: StudyConfig, out: str | Path, device: str | None = None, progress: bool = True) -> Path:
    """Run the study into ``out`` and write its report; returns the report's path."""
    from neurokit.study.report import write_report

    out = Path(out)
    claim_folder(out, MARKER, "study", {"config": config.to_dict(), "command": command_line(), "started": utc_now(),
                                        "versions": package_versions()})
    for model in config.models:
        print(f"study {config.name}: {model}", flush=True)
        run_model(config, model, out, device, progress)
    return write_report(out)
