"""``neurokit demo``: the whole pipeline on the embedded default, into one folder, on a laptop CPU.

Prompt-tunes the offline MiniLM-L6 on the built-in tasks (several seeds of the first task), adds an untuned
prompt per task as the null, extracts FFN activations of train (statistics only), dev and adversarial test,
analyses them (skill neurons chosen on dev, as Wang et al.; agreement across prompts and tasks, clean vs
adversarial, null), measures each prompt's test accuracy, perturbs the skill neurons of one prompt on test,
measures prompt transfer on test, draws the figures, and writes ``summary.md``: each of the papers' findings
with the number it rests on, the criterion, and whether it holds on this data.

Finished steps are reused when the command runs again with the same settings (prompts by their recorded
settings, stores by their identity); analysis, figures and summary are always rewritten.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from neurokit.errors import ConfigError
from neurokit.validation import integer

#: Marks a folder as written by this command; a non-empty folder without it is never written into.
MARKER = "demo.json"
FINISHED = "finished.json"


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and settings of the demo (defaults: about 10 minutes on a 2-core laptop CPU).

    ``tasks``: built-in tasks, the first one tuned with ``seeds`` seeds and the others with the first seed.
    Prompts: ``prompt_length`` positions (mask slot included), ``init``, ``steps`` optimizer steps of
    ``batch_size`` at ``learning_rate``, best of the dev evaluations every ``eval_every`` steps on
    ``dev_size`` dev examples. Stores: ``train_size`` train examples (per-class statistics only, the
    baselines), ``eval_size`` dev, test and adversarial-test examples. Ablation: noise on the first prompt's top
    ``ablation_fractions`` per layer against ``ablation_draws`` random sets each. ``fraction``: the top share
    compared across prompts and tasks.
    """

    # toy_nli_contrast, not toy_nli: a prompt learns it within the demo's budget (docs/benchmarks.md), so that
    # the findings comparing task types have an NLI task above chance to compare with.
    tasks: tuple[str, ...] = ("toy_sentiment_movies", "toy_sentiment_products", "toy_topic", "toy_nli_contrast")
    seeds: int = 3
    prompt_length: int = 20
    init: str = "labels"
    steps: int = 80
    batch_size: int = 16
    learning_rate: float = 0.01
    eval_every: int = 40
    dev_size: int = 200
    # 500: the train baselines are means over the examples (statistics only); with 1,000, train examples were
    # 10,000 of the 14,800 the demo extracts, and make demo sat at the edge of its 10 minutes on 2 cores.
    train_size: int = 500
    eval_size: int = 300
    max_length: int = 64
    fraction: float = 0.05
    ablation_fractions: tuple[float, ...] = (0.01, 0.05, 0.1)
    ablation_draws: int = 3
    # PNG only: the demo's figures are for looking at (``neurokit plot`` draws PDF/SVG for papers), and drawing
    # every figure twice kept the demo over its 10 minutes on a 2-core laptop.
    figure_formats: tuple[str, ...] = ("png",)

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ConfigError("the demo needs at least one task")
        for name in ("seeds", "prompt_length", "steps", "batch_size", "eval_every", "dev_size", "train_size",
                     "eval_size", "max_length", "ablation_draws"):
            integer(getattr(self, name), name)

    @classmethod
    def quick(cls) -> DemoConfig:
        """A tiny configuration that runs every step in well under a minute (for tests and smoke runs)."""
        return cls(tasks=("toy_sentiment_movies", "toy_sentiment_products"), seeds=2, prompt_length=4, steps=4,
                   eval_every=2, dev_size=32, train_size=64, eval_size=48, max_length=32,
                   ablation_fractions=(0.05,), ablation_draws=1, figure_formats=("png",))


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


def _prepare_folder(out: Path, config: DemoConfig) -> None:
    """Refuse a non-empty folder that is not a demo's; record the settings (earlier results stay reusable)."""
    from neurokit.study.runner import claim_folder

    claim_folder(out, MARKER, "demo", {"config": asdict(config)})


def _tuning_config(config: DemoConfig, seed: int):
    from neurokit.prompts import PromptTuningConfig

    return PromptTuningConfig(prompt_length=config.prompt_length, init=config.init, learning_rate=config.learning_rate,
                              max_steps=config.steps, batch_size=config.batch_size, eval_every=config.eval_every,
                              max_length=config.max_length, seed=seed)


def _finished(folder: Path, settings: dict) -> dict | None:
    """The record of a prompt finished with exactly ``settings``, else None."""
    path = folder / FINISHED
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("settings") == settings else None


def _make_prompt(backbone, config: DemoConfig, task_name: str, seed: int, tuned: bool, out: Path,
                 progress: bool) -> _Prompt:
    """Tune a prompt (or keep an untuned one, the null) unless one with the same settings is finished."""
    from neurokit.prompts import PromptTrainer, save_untuned_prompt
    from neurokit.tasks import get_task, load_split

    task = get_task(task_name)
    tuning = _tuning_config(config, seed)
    folder = out / "prompts" / (f"{task_name}-seed{seed}" if tuned else f"{task_name}-untuned")
    settings = {"tuning": tuning.to_dict(), "tuned": tuned, "task": task_name, "dev_size": config.dev_size,
                "weights_sha256": backbone.weights_sha256}
    done = _finished(folder, settings)
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
        dev_accuracy = save_untuned_prompt(backbone, task, tuning, folder, dev)
    seconds = round(time.perf_counter() - started, 1)
    (folder / FINISHED).write_text(json.dumps({"settings": settings, "dev_accuracy": dev_accuracy,
                                               "train_seconds": seconds}))
    return _Prompt(task_name, seed, folder, tuned, dev_accuracy, seconds)


def _extract(backbone, config: DemoConfig, prompt: _Prompt, out: Path, progress: bool) -> dict[str, Path]:
    """The prompt's stores: ``train`` (statistics), ``dev`` and, where the task has one, ``adversarial`` (test)."""
    from neurokit.extract import ExtractionConfig, extract_run
    from neurokit.study.runner import adversarial_task

    extraction = ExtractionConfig(max_length=config.max_length)
    folder = out / "stores" / prompt.name
    splits = {"train": (prompt.task, "train", config.train_size), "dev": (prompt.task, "dev", config.eval_size)}
    adversarial = adversarial_task(prompt.task)
    if prompt.tuned and adversarial is not None:
        splits["adversarial"] = (adversarial, "test", config.eval_size)
    return {role: extract_run(backbone, prompt.folder, task, split, folder / f"{role}.zarr", extraction,
                              size=size, overwrite=True, progress=progress)
            for role, (task, split, size) in splits.items()}


def _analyse(config: DemoConfig, prompts: list[_Prompt], stores: dict[str, dict[str, Path]], progress: bool) -> dict:
    from neurokit.analysis import AnalysisOptions, analyze_stores, compute_results

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


def _test_accuracy(backbone, config: DemoConfig, prompt: _Prompt) -> None:
    """Score a tuned prompt on its task's test split (data neither training nor skill selection saw)."""
    from neurokit.prompts import evaluate, load_checkpoint
    from neurokit.prompts.data import EncodedSplit
    from neurokit.tasks import get_task, load_split

    task = get_task(prompt.task)
    split = EncodedSplit(backbone, task, load_split(task, "test", size=config.eval_size), config.max_length)
    result = evaluate(backbone, load_checkpoint(prompt.folder).soft_prompt(backbone),
                      backbone.verbalizer(task.label_words), split)
    prompt.test_correct = int((result.predictions == split.labels).sum())
    prompt.test_examples = len(split)


def _neighbours(backbone, prompts: list[_Prompt], tables: Path) -> dict[str, dict[str, float]]:
    """Label-word rate among the 5 nearest vocabulary tokens of every prompt's trained vectors, and of random
    vectors of the same norms (Lester et al.), and the number of those vectors (``positions``); the neighbours
    go to ``tables/neighbours__<prompt>.csv``."""
    from neurokit.analysis import checkpoint_neighbours
    from neurokit.prompts import load_checkpoint

    tables.mkdir(parents=True, exist_ok=True)
    rates = {}
    for prompt in prompts:
        result = checkpoint_neighbours(backbone, load_checkpoint(prompt.folder), k=5)
        result[["token", "cosine", "is_label_word"]].to_dataframe().reset_index().to_csv(
            tables / f"neighbours__{prompt.name}.csv", index=False)
        rates[prompt.name] = {vector: float(result["label_word_rate"].sel(vector=vector))
                              for vector in ("prompt", "random")} | {"positions": result.sizes["prompt_position"]}
    return rates


def _ablate(backbone, config: DemoConfig, prompt: _Prompt, skill, progress: bool):
    """Noise on the prompt's skill neurons vs random neurons of the same layers, on its task's test split, with
    the effect's bootstrap interval and one-sided p-value per fraction."""
    from neurokit.study.runner import skill_ablation

    return skill_ablation(backbone, prompt.folder, prompt.task, "test", config.eval_size, config.max_length,
                          config.ablation_fractions, config.ablation_draws, progress, skill)


def _transfer(backbone, config: DemoConfig, prompts: list[_Prompt], progress: bool):
    """Every tuned prompt on the test split of every task (and adversarial task) with as many classes."""
    from neurokit.interventions import transfer_matrix
    from neurokit.prompts import load_checkpoint
    from neurokit.study.runner import adversarial_task
    from neurokit.tasks import get_task, load_split

    tuned = [prompt for prompt in prompts if prompt.tuned]
    classes = len(get_task(tuned[0].task).label_names)
    sources = {p.name: load_checkpoint(p.folder) for p in tuned if len(get_task(p.task).label_names) == classes}
    names = list(dict.fromkeys(p.task for p in tuned if p.name in sources))
    names += [name for name in map(adversarial_task, names) if name is not None]
    targets = [(get_task(name), load_split(name, "test", size=config.eval_size)) for name in names]
    return transfer_matrix(backbone, sources, targets, max_length=config.max_length, progress=progress)


def run_demo(out: str | Path, config: DemoConfig | None = None, device: str | None = None,
             progress: bool = True) -> Path:
    """Run the whole demo into ``out``; returns the path of ``summary.md``."""
    import torch

    from neurokit.analysis import save_results, write_tables
    from neurokit.analysis.pipeline import analysis_provenance
    from neurokit.analysis import AnalysisOptions
    from neurokit.demo.summary import summarise
    from neurokit.models import load_backbone
    from neurokit.plots import draw_figures

    config = config or DemoConfig()
    out = Path(out)
    _prepare_folder(out, config)
    timer, total = _Timer(), 6
    started = time.perf_counter()
    with timer.stage("load the embedded MiniLM-L6", 1, total):
        backbone = load_backbone(device=device or ("cuda" if torch.cuda.is_available() else "cpu"))
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
        skill = results[f"{first.task}/skill"]
        scores = skill["run_score"].isel(run=0) if "run_score" in skill else skill["score"]
        results["interventions/ablation"] = _ablate(backbone, config, first, scores, progress)
        results["interventions/transfer"] = _transfer(backbone, config, prompts, progress)
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


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="the whole pipeline on the embedded MiniLM and built-in tasks, into one folder",
        description="Prompt-tune the offline MiniLM-L6 on the built-in tasks (several seeds, plus untuned "
                    "prompts as the null), extract clean and adversarial activations, analyse skill neurons, "
                    "ablate them, measure transfer, and write figures and a Markdown summary into --out.")
    parser.add_argument("--out", default="cache/demo", help="output folder (default cache/demo)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: every step in under a minute")
    parser.add_argument("--seeds", type=int, default=None, help="prompts of the first task (default 3)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per prompt (default 80)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    config = DemoConfig.quick() if args.quick else DemoConfig()
    changes = {name: value for name, value in (("seeds", args.seeds), ("steps", args.steps)) if value is not None}
    run_demo(args.out, replace(config, **changes), device=args.device, progress=not args.no_progress)
    return 0
