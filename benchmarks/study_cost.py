"""What a paper's study costs at full size: example passes, forward passes, disk and, from measured throughput, hours.

For each study file (``analyses/*.toml``) and each of its models, counts the work ``neurokit study`` does
(:mod:`neurokit.study.runner`) on the whole splits of the paper's Hugging Face datasets:

- **tuning**: ``epochs`` × the train split, forward and backward (one example pass each), plus one forward pass over
  the dev split per epoch (the trainer evaluates once per epoch unless ``eval_every`` says otherwise);
- **extraction**: the train split (statistics), the choose and report splits and the adversarial set, one forward
  pass with the hooks each;
- **perturbation**: for each task's first prompt, every non-empty fraction perturbs the report split (and the
  adversarial set) ``2 × draws`` times (skill and random sets, each drawn ``draws`` times: Gaussian noise) plus
  one unperturbed pass; **pruning**: the report split twice; **transfer**: every prompt on every task (and
  adversarial set) with as many classes;
- **disk**: the raw stores of the choose, report and adversarial splits (``P`` prompt positions × layers ×
  neurons × the stored dtype's bytes per example; train splits keep statistics only), times the compression
  ratio measured by the extraction benchmark when given (else 1: raw).

Hours need measured throughput: ``--train-json`` (``train_step_time.py --json``: one optimizer step of batch 16,
P = 100, 128 tokens) and ``--extract-json`` (``extract_throughput.py --json``: bare forward and extraction
examples/s at P = 100, 128 tokens). Step and pass times are scaled to each study's sequence length
(P + max_length tokens, linearly: an estimate) and every input is taken at ``max_length`` tokens (an upper bound:
real inputs are shorter, batches are padded to their longest). Without them only the counts and disk are printed.

    PYTHONPATH=. .venv/bin/python benchmarks/study_cost.py analyses/wang2022.toml analyses/ackermann2024.toml \
        [--set choose_size=2000] [--train-json cache/gpu-suite/train-step.json \
         --extract-json cache/gpu-suite/extract.json]

Split sizes (rows of the Hub datasets) are listed below with their source; dev is carved from train where a dataset
has no labelled dev split (:func:`neurokit.tasks.loading.carved_dev_size`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from _machine import print_table

#: Rows per Hub split, from the datasets' cards on the Hugging Face Hub (``dataset_info.splits``), and for AdvGLUE
#: the sizes in ../shared/reference/methods.md (the dev sets the paper used).
HUB_SPLIT_ROWS: dict[tuple[str, str | None, str], int] = {
    ("nyu-mll/glue", "sst2", "train"): 67_349,
    ("nyu-mll/glue", "sst2", "validation"): 872,
    ("nyu-mll/glue", "qnli", "train"): 104_743,
    ("nyu-mll/glue", "qnli", "validation"): 5_463,
    ("nyu-mll/glue", "qqp", "train"): 363_846,
    ("nyu-mll/glue", "qqp", "validation"): 40_430,
    ("nyu-mll/glue", "mnli", "train"): 392_702,
    ("nyu-mll/glue", "mnli", "validation_matched"): 9_815,
    ("stanfordnlp/imdb", None, "train"): 25_000,
    ("stanfordnlp/imdb", None, "test"): 25_000,
    ("cardiffnlp/tweet_eval", "sentiment", "train"): 45_615,
    ("cardiffnlp/tweet_eval", "sentiment", "validation"): 2_000,
    ("cardiffnlp/tweet_eval", "sentiment", "test"): 12_284,
    ("fancyzhx/ag_news", None, "train"): 120_000,
    ("fancyzhx/ag_news", None, "test"): 7_600,
    ("fancyzhx/dbpedia_14", None, "train"): 560_000,
    ("fancyzhx/dbpedia_14", None, "test"): 70_000,
    ("AI-Secure/adv_glue", "adv_sst2", "validation"): 148,
    ("AI-Secure/adv_glue", "adv_qqp", "validation"): 78,
    ("AI-Secure/adv_glue", "adv_qnli", "validation"): 148,
    ("AI-Secure/adv_glue", "adv_mnli", "validation"): 121,
}

#: The random-weight architecture of the same shape as each paper model (neurokit.models.random), and the
#: benchmark row (``<architecture>-base``) whose throughput stands for it.
MODEL_SHAPES = {"roberta-base": ("roberta", "roberta"), "t5-base": ("t5", "t5"),
                "google/t5-base-lm-adapt": ("t5-gated", "t5")}


def split_rows(task_name: str, split: str) -> int:
    """Examples of a registered Hub task's canonical split at full size."""
    from neurokit.tasks import get_task
    from neurokit.tasks.loading import carved_dev_size

    source = get_task(task_name).source
    plan = source.plan
    mapping = dict(plan.sources)

    def rows(hub_split: str) -> int:
        key = (source.path, source.config, hub_split)
        if key not in HUB_SPLIT_ROWS:
            raise SystemExit(f"study_cost: no size recorded for {key}; add it to HUB_SPLIT_ROWS with its source")
        return HUB_SPLIT_ROWS[key]

    if plan.carves_dev and split in ("train", "dev"):
        n_dev = carved_dev_size(rows(mapping["train"]), plan.dev_fraction)
        return n_dev if split == "dev" else rows(mapping["train"]) - n_dev
    return rows(mapping[split])


@dataclass
class Work:
    """Counted work of one model's part of a study."""

    tuning_example_passes: int = 0  # forward + backward of one example
    tuning_eval_forwards: int = 0
    extraction_forwards: int = 0
    intervention_forwards: int = 0  # perturbation, pruning, transfer
    stored_examples: int = 0  # raw activations kept (choose, report, adversarial)


def study_work(config, model: str) -> Work:
    """What ``neurokit study`` runs for ``model`` (see the module docstring)."""
    from neurokit.study.runner import adversarial_task
    from neurokit.tasks import get_task

    def size(task: str, split: str, role: str) -> int:
        cap = config.size(role)
        return min(split_rows(task, split), cap) if cap else split_rows(task, split)

    tuning = config.tuning(model, config.seeds[0])
    work = Work()
    for task in config.tasks:
        adversarial = adversarial_task(task) if config.adversarial else None
        train, choose = size(task, "train", "train"), size(task, config.choose_split, "choose")
        report = size(task, config.report_split, "report")
        adversarial_rows = size(adversarial, "test", "report") if adversarial else 0
        # The trainer's arithmetic (neurokit.prompts.trainer): optimizer steps, each of batch × accumulation examples.
        per_step = tuning.batch_size * tuning.gradient_accumulation
        total_steps = tuning.max_steps or tuning.epochs * math.ceil(train / per_step)
        evaluations = math.ceil(total_steps / (tuning.eval_every or math.ceil(train / per_step)))
        for _ in config.seeds:
            work.tuning_example_passes += total_steps * per_step
            work.tuning_eval_forwards += evaluations * choose
            work.extraction_forwards += train + choose + report + adversarial_rows
            work.stored_examples += choose + report + adversarial_rows
        perturbed = sum(1 for fraction in config.ablation_fractions if fraction > 0)
        if perturbed:
            passes = 1 + perturbed * 2 * config.ablation_draws
            work.intervention_forwards += passes * (report + (adversarial_rows if config.adversarial_ablation else 0))
        if config.prune_fraction:
            work.intervention_forwards += 2 * report
    if config.transfer:
        by_classes: dict[int, list[str]] = {}
        for task in config.tasks:
            by_classes.setdefault(len(get_task(task).label_names), []).append(task)
        for tasks in by_classes.values():
            if len(tasks) < 2:
                continue
            targets = sum(size(task, config.report_split, "report") for task in tasks)
            targets += sum(size(name, "test", "report") for name in map(adversarial_task, tasks)
                           if name and config.adversarial)
            work.intervention_forwards += len(tasks) * len(config.seeds) * targets
    return work


def stored_bytes_per_example(model: str, prompt_length: int) -> int:
    """Raw bytes of one example's prompt positions: P × encoder layers × FFN width × 4 (float32, the default)."""
    from neurokit.models.random import random_config

    config = random_config(MODEL_SHAPES[model][0], "base")
    layers = getattr(config, "num_layers", None) or config.num_hidden_layers
    width = getattr(config, "d_ff", None) or config.intermediate_size
    return prompt_length * layers * width * 4


def benchmark(path: str | None) -> tuple[list[dict], dict, str | None]:
    """The rows, settings and machine a benchmark wrote with ``--json`` (none without a path)."""
    if not path:
        return [], {}, None
    written = json.loads(Path(path).read_text())
    return written["rows"], written["settings"], written["machine"]


def length_scale(tuning, settings: dict) -> float:
    """Sequence length of the study (P + max_length) over the timed one: times are scaled linearly (estimate)."""
    return (tuning.prompt_length + tuning.max_length) / (settings["prompt_length"] + settings["length"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("studies", nargs="+", help="study files (analyses/*.toml)")
    parser.add_argument("--train-json", help="train_step_time.py --json output (median step time per model)")
    parser.add_argument("--extract-json", help="extract_throughput.py --json output (forward and extraction ex/s)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a study setting, as neurokit study --set (e.g. choose_size=2000)")
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp32"), help="which timed step to use")
    parser.add_argument("--benchmark-size", default="base", choices=("base", "tiny"),
                        help="which benchmark rows stand for the paper models (tiny: the suite's smoke test)")
    args = parser.parse_args()
    from neurokit.study.config import StudyConfig

    step_rows, step_settings, step_machine = benchmark(args.train_json)
    extract_rows, extract_settings, extract_machine = benchmark(args.extract_json)
    steps = {(row["model (random weights)"], row["precision key"]): row for row in step_rows}
    extraction = {row["model"]: row for row in extract_rows}
    rows = []
    for study_file in args.studies:
        config = StudyConfig.from_toml(study_file, args.set)
        for model in config.models:
            if model not in MODEL_SHAPES:
                raise SystemExit(f"study_cost: no shape recorded for model {model!r}; add it to MODEL_SHAPES")
            tuning = config.tuning(model, config.seeds[0])
            work = study_work(config, model)
            bench = f"{MODEL_SHAPES[model][1]}-{args.benchmark_size}"
            step, throughput = steps.get((bench, args.precision)), extraction.get(bench)
            ratio = (throughput["written MB/s"] / throughput["stored MB/s"]) if throughput else 1.0
            disk = work.stored_examples * stored_bytes_per_example(model, tuning.prompt_length) * ratio
            row = {"study": config.name + "".join(f" {override}" for override in args.set), "model": model,
                   "prompts": len(config.tasks) * len(config.seeds),
                   "tuning example passes (M)": work.tuning_example_passes / 1e6,
                   "extraction forwards (M)": work.extraction_forwards / 1e6,
                   "other forwards (M)": (work.tuning_eval_forwards + work.intervention_forwards) / 1e6,
                   "stores TB": disk / 1e12}
            if step and throughput:
                tuning_hours = (work.tuning_example_passes / step_settings["batch_size"] * step["median step ms"]
                                / 1e3 * length_scale(tuning, step_settings))
                scale = length_scale(tuning, extract_settings)
                forward_hours = (work.tuning_eval_forwards + work.intervention_forwards) / throughput[
                    "forward ex/s"] * scale
                extraction_hours = work.extraction_forwards / throughput["extract ex/s"] * scale
                row |= {"tuning h": tuning_hours / 3600, "extraction h": extraction_hours / 3600,
                        "other h": forward_hours / 3600,
                        "h total": (tuning_hours + forward_hours + extraction_hours) / 3600,
                        "timed as": bench}
            rows.append(row)
    print("## What the studies cost at full size (estimate)\n")
    print_table(rows, {"tuning example passes (M)": ".2f", "extraction forwards (M)": ".2f",
                       "other forwards (M)": ".2f", "stores TB": ".2f", "tuning h": ".1f", "extraction h": ".1f",
                       "other h": ".1f", "h total": ".1f"})
    for name, machine in (("steps", step_machine), ("forward and extraction", extract_machine)):
        if machine is not None:
            print(f"\n{name} timed on: {machine}")
    if not (steps and extraction):
        print("\nHours need measured throughput: --train-json and --extract-json (benchmarks/gpu_suite.sh).",
              file=sys.stderr)


if __name__ == "__main__":
    main()
