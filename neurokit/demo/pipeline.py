"""The demo's steps, from prompt tuning to the summary, and :func:`run_demo`, which runs them in order into one
folder."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import xarray as xr

from neurokit.analysis import (
    AnalysisOptions,
    analysis_provenance,
    analyze_stores,
    compute_results,
    save_results,
    write_tables,
)
from neurokit.analysis.groups import ABLATION, PROMPTS, TRANSFER, group_path
from neurokit.demo.cache import finished_record, prepare_folder, record_finished
from neurokit.demo.config import DemoConfig
from neurokit.demo.summary import summarise
from neurokit.extract import ExtractionConfig, extract_run
from neurokit.interventions import transfer_matrix
from neurokit.models import Backbone, load_backbone
from neurokit.models.backbone import default_device
from neurokit.plots import draw_figures
from neurokit.prompts import (
    PromptCheckpoint,
    PromptInit,
    PromptTrainer,
    PromptTuningConfig,
    checkpoint_neighbours,
    evaluate,
    save_untuned_prompt,
)
from neurokit.prompts.data import EncodedSplit
from neurokit.study.runner import adversarial_task, skill_ablation, skill_scores
from neurokit.tasks import get_task, load_split


@dataclass
class _Prompt:
    """One prompt of the demo: its task, seed, folder, dev accuracy and whether it was tuned."""

    task: str
    seed: int
    folder: Path
    tuned: bool
    dev_accuracy: float = float("nan")
    train_seconds: float = 0.0
    test_correct: int = 0
    test_examples: int = 0

    @property
    def name(self) -> str:
        return self.folder.name


@dataclass
class _Timer:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str, index: int, total: int) -> Iterator[None]:
        print(f"[{index}/{total}] {name}", flush=True)
        started = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - started, 1)


def _tuning_config(config: DemoConfig, seed: int) -> PromptTuningConfig:
    return PromptTuningConfig(prompt_length=config.prompt_length, init=PromptInit(config.init),
                              learning_rate=config.learning_rate,
                              max_steps=config.steps, batch_size=config.batch_size, eval_every=config.eval_every,
                              max_length=config.max_length, seed=seed)


def _make_prompt(backbone: Backbone, config: DemoConfig, task_name: str, seed: int, tuned: bool, out: Path,
                 progress: bool) -> _Prompt:
    """Tune a prompt (or keep an untuned one, the null) unless one with the same settings is finished."""
    task = get_task(task_name)
    tuning = _tuning_config(config, seed)
    folder = out / "prompts" / (f"{task_name}-seed{seed}" if tuned else f"{task_name}-untuned")
    settings = {"tuning": tuning.to_dict(), "tuned": tuned, "task": task_name, "dev_size": config.dev_size,
                "weights_sha256": backbone.weights_sha256}
    done = finished_record(folder, settings)
    if done is not None:
        return _Prompt(task_name, seed, folder, tuned, done["dev_accuracy"], done["train_seconds"])
    shutil.rmtree(folder, ignore_errors=True)
    dev = load_split(task, "dev", size=config.dev_size)
    started = time.perf_counter()
    if tuned:
        train = load_split(task, "train")
        trainer = PromptTrainer(backbone, task, tuning, output_dir=folder, progress=progress).fit(train, dev)
        dev_accuracy = trainer.best_dev_accuracy_
    else:
        untuned_accuracy = save_untuned_prompt(backbone, task, tuning, folder, dev)
        assert untuned_accuracy is not None  # measured: the dev split is passed
        dev_accuracy = untuned_accuracy
    seconds = round(time.perf_counter() - started, 1)
    record_finished(folder, settings, dev_accuracy, seconds)
    return _Prompt(task_name, seed, folder, tuned, dev_accuracy, seconds)


def _extract(backbone: Backbone, config: DemoConfig, prompt: _Prompt, out: Path, progress: bool) -> dict[str, Path]:
    """The prompt's stores: ``train`` (statistics), ``dev`` and, where the task has one, ``adversarial`` (test)."""
    extraction = ExtractionConfig(max_length=config.max_length)
    folder = out / "stores" / prompt.name
    splits = {"train": (prompt.task, "train", config.train_size), "dev": (prompt.task, "dev", config.eval_size)}
    adversarial = adversarial_task(prompt.task)
    if prompt.tuned and adversarial is not None:
        splits["adversarial"] = (adversarial, "test", config.eval_size)
    return {role: extract_run(backbone, prompt.folder, task, split, folder / f"{role}.zarr", extraction,
                              size=size, overwrite=True, progress=progress)
            for role, (task, split, size) in splits.items()}


def _analyse(config: DemoConfig, prompts: list[_Prompt], stores: dict[str, dict[str, Path]],
             progress: bool) -> xr.DataTree:
    tuned = [prompt for prompt in prompts if prompt.tuned]
    untuned = [prompt for prompt in prompts if not prompt.tuned]
    results = analyze_stores(
        train=[stores[p.name]["train"] for p in tuned],
        evaluation=[stores[p.name]["dev"] for p in tuned],
        adversarial=[stores[p.name]["adversarial"] for p in tuned if "adversarial" in stores[p.name]],
        null=[stores[p.name][role] for p in untuned for role in ("train", "dev")],
        options=AnalysisOptions(fraction=config.fraction),
    )
    return compute_results(results, progress=progress)


def _test_accuracy(backbone: Backbone, config: DemoConfig, prompt: _Prompt) -> None:
    """Score a tuned prompt on its task's test split (data neither training nor skill selection saw)."""
    task = get_task(prompt.task)
    split = EncodedSplit(backbone, task, load_split(task, "test", size=config.eval_size), config.max_length)
    result = evaluate(backbone, PromptCheckpoint.from_pretrained(prompt.folder).soft_prompt(backbone),
                      backbone.verbalizer(task.label_words), split)
    prompt.test_correct = int((result.predictions == split.labels).sum())
    prompt.test_examples = len(split)


def _neighbours(backbone: Backbone, prompts: list[_Prompt], tables: Path) -> dict[str, dict[str, float]]:
    """Label-word rate among the 5 nearest vocabulary tokens of every prompt's trained vectors, and of random
    vectors of the same norms (Lester et al.), and the number of those vectors (``positions``); the neighbours
    go to ``tables/neighbours__<prompt>.csv``."""
    tables.mkdir(parents=True, exist_ok=True)
    rates = {}
    for prompt in prompts:
        result = checkpoint_neighbours(backbone, PromptCheckpoint.from_pretrained(prompt.folder), k=5)
        result[["token", "cosine", "is_label_word"]].to_dataframe().reset_index().to_csv(
            tables / f"neighbours__{prompt.name}.csv", index=False)
        rates[prompt.name] = {vector: float(result["label_word_rate"].sel(vector=vector))
                              for vector in ("prompt", "random")} | {"positions": result.sizes["prompt_position"]}
    return rates


def _ablate(backbone: Backbone, config: DemoConfig, prompt: _Prompt, skill: xr.DataArray,
            progress: bool) -> xr.Dataset:
    """Noise on the prompt's skill neurons vs random neurons of the same layers, on its task's test split, with
    the effect's bootstrap interval and one-sided p-value per fraction."""
    return skill_ablation(backbone, prompt.folder, prompt.task, "test", config.eval_size, config.max_length,
                          config.ablation_fractions, config.ablation_draws, progress, skill)


def _transfer(backbone: Backbone, config: DemoConfig, prompts: list[_Prompt], progress: bool) -> xr.Dataset:
    """Every tuned prompt on the test split of every task (and adversarial task) with as many classes."""
    tuned = [prompt for prompt in prompts if prompt.tuned]
    classes = len(get_task(tuned[0].task).label_names)
    sources = {p.name: PromptCheckpoint.from_pretrained(p.folder) for p in tuned
               if len(get_task(p.task).label_names) == classes}
    names = list(dict.fromkeys(p.task for p in tuned if p.name in sources))
    names += [name for name in map(adversarial_task, names) if name is not None]
    targets = [(get_task(name), load_split(name, "test", size=config.eval_size)) for name in names]
    return transfer_matrix(backbone, sources, targets, max_length=config.max_length, progress=progress)


def run_demo(out: str | Path, config: DemoConfig | None = None, device: str | None = None,
             progress: bool = True) -> Path:
    """Run the whole demo into ``out``; returns the path of ``summary.md``."""
    config = config or DemoConfig()
    out = Path(out)
    prepare_folder(out, config)
    timer, total = _Timer(), 6
    started = time.perf_counter()
    with timer.stage("load the embedded MiniLM-L6", 1, total):
        backbone = load_backbone(device=default_device(device))
    with timer.stage("prompt-tune (and keep one untuned prompt per task as the null)", 2, total):
        plan = [(task, seed, True) for index, task in enumerate(config.tasks)
                for seed in range(config.seeds if index == 0 else 1)]
        plan += [(task, 0, False) for task in config.tasks]
        prompts = [_make_prompt(backbone, config, task, seed, tuned, out, progress) for task, seed, tuned in plan]
    with timer.stage("extract train statistics, dev and adversarial test", 3, total):
        stores = {prompt.name: _extract(backbone, config, prompt, out, progress) for prompt in prompts}
    with timer.stage("analyse skill neurons", 4, total):
        results = _analyse(config, prompts, stores, progress)
    with timer.stage("test accuracy, ablation of skill neurons, prompt transfer", 5, total):
        for prompt in prompts:
            if prompt.tuned:
                _test_accuracy(backbone, config, prompt)
        first = prompts[0]
        results[group_path(first.task, ABLATION)] = _ablate(backbone, config, first,
                                                            skill_scores(results, first.task), progress)
        results[group_path(TRANSFER, PROMPTS)] = _transfer(backbone, config, prompts, progress)
    with timer.stage("write results, tables, figures and the summary", 6, total):
        options = AnalysisOptions(fraction=config.fraction)
        save_results(results, out / "results.zarr", overwrite=True, attrs=analysis_provenance(options),
                     progress=progress)
        shutil.rmtree(out / "tables", ignore_errors=True)
        write_tables(results, out / "tables")
        neighbours = _neighbours(backbone, prompts, out / "tables")
        shutil.rmtree(out / "figures", ignore_errors=True)
        figures, notes = draw_figures(out / "results.zarr", out / "figures", formats=config.figure_formats)
    timer.seconds["total"] = round(time.perf_counter() - started, 1)
    summary = summarise(config, prompts, results, neighbours, figures, notes, timer.seconds, out)
    print(f"wrote {summary}")
    return summary
