"""Benchmark of pruning to skill neurons (Wang et al. §6) on the embedded MiniLM-L6 and a built-in toy task.

Steps, all in this process on the CPU:

1. prompt-tune the embedded model on ``--task`` (``--steps`` AdamW steps, prompt of ``--prompt-length``
   positions, class-label init), best of the dev evaluations;
2. extract the prompt's train store (statistics only, ``--train-size`` examples) and dev store
   (``--dev-size``), score the neurons with ``SkillNeurons`` (train baselines, dev predictivity);
3. prune with ``neurokit.interventions.prune``: the top ``--fraction`` per layer in the default layers
   (⌊L/4⌋…L−1: 1–5 of 6), removed neurons' train means folded into the bias; controls: the same number of
   random neurons per layer kept instead (``--random-draws`` draws), and the released code's fold of all
   neurons' means;
4. on ``--test-size`` test examples: accuracy (Clopper–Pearson 95 % interval; exact McNemar test of each
   pruned model against the unpruned one on the same examples), before and after pruning, and after
   re-tuning a prompt on the pruned model from the same initialisation and settings;
5. CPU latency of the class scores over the first ``--latency-batches`` pre-tokenized test batches, unpruned
   and pruned models measured in alternation (``--repeats`` rounds; median and range, speed-up = ratio of the medians).

Prints Markdown tables, the machine and the command.

    .venv/bin/python benchmarks/prune.py [--task toy_sentiment_movies] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, memory_gib, print_table


def clopper_pearson(correct: int, total: int) -> tuple[float, float]:
    from scipy.stats import binomtest

    interval = binomtest(correct, total).proportion_ci(confidence_level=0.95, method="exact")
    return interval.low, interval.high


def mcnemar_p(reference, other) -> float:
    """Exact two-sided McNemar test: the examples only one of the two models gets right."""
    from scipy.stats import binomtest

    only_reference = int((reference & ~other).sum())
    only_other = int((other & ~reference).sum())
    if only_reference + only_other == 0:
        return 1.0
    return binomtest(only_reference, only_reference + only_other).pvalue


def accuracy_row(name: str, correct_by_example, reference, parameters: int, ffn_parameters: int) -> dict:
    correct, total = int(correct_by_example.sum()), len(correct_by_example)
    low, high = clopper_pearson(correct, total)
    return {"model": name, "parameters": parameters, "FFN parameters": ffn_parameters,
            "test accuracy": correct / total, "95 % CI": f"{low:.3f}–{high:.3f}",
            "McNemar p vs unpruned": "—" if reference is None else f"{mcnemar_p(reference, correct_by_example):.3g}"}


def ffn_parameter_count(backbone) -> int:
    total = 0
    for site in backbone.sites():
        inputs, output = backbone.adapter.ffn_projections(backbone.model, site)
        total += sum(parameter.numel() for module in [*inputs, output] for parameter in module.parameters())
    return total


def latency(models: dict, prompt, batches, verbalizer, repeats: int) -> dict[str, list[float]]:
    """Seconds per pass over ``batches`` for each model, measured in alternation ``repeats`` times."""
    import torch

    seconds: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for backbone in models.values():  # warm-up pass, not measured
            backbone.class_scores(prompt, batches[0].input_ids, batches[0].attention_mask, verbalizer)
        for _ in range(repeats):
            for name, backbone in models.items():
                started = time.perf_counter()
                for batch in batches:
                    backbone.class_scores(prompt, batch.input_ids, batch.attention_mask, verbalizer)
                seconds[name].append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="toy_sentiment_movies", help="a built-in task (see `neurokit tasks`)")
    parser.add_argument("--prompt-length", type=int, default=20)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--eval-every", type=int, default=30)
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--train-size", type=int, default=500, help="train examples of the store (the means)")
    parser.add_argument("--dev-size", type=int, default=300, help="dev examples (tuning and skill scores)")
    parser.add_argument("--test-size", type=int, default=400)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--fraction", type=float, default=0.02)
    parser.add_argument("--random-draws", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="latency rounds")
    parser.add_argument("--latency-batches", type=int, default=4, help="test batches timed per round")
    parser.add_argument("--batch-size", type=int, default=32, help="latency and evaluation batch size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of this script")
    args = parser.parse_args()
    if args.quick:
        args.prompt_length, args.steps, args.eval_every = 4, 4, 2
        args.train_size, args.dev_size, args.test_size, args.random_draws, args.repeats = 48, 48, 48, 1, 2

    import torch

    from neurokit.analysis import SkillNeurons
    from neurokit.extract import ExtractionConfig, extract_run, open_run
    from neurokit.interventions import (
        PruneConfig,
        as_masks,
        kept_neurons,
        neuron_means,
        parameter_count,
        prune,
        random_masks,
        train_mean,
    )
    from neurokit.models import load_backbone
    from neurokit.prompts import (
        PromptCheckpoint,
        PromptTrainer,
        PromptTuningConfig,
        evaluate,
    )
    from neurokit.prompts.data import EncodedSplit
    from neurokit.tasks import get_task, load_split

    started = time.perf_counter()
    task = get_task(args.task)
    backbone = load_backbone()
    tuning = PromptTuningConfig(prompt_length=args.prompt_length, init="labels", learning_rate=args.learning_rate,
                                max_steps=args.steps, eval_every=args.eval_every, max_length=args.max_length,
                                seed=args.seed)
    train = load_split(task, "train")
    dev = load_split(task, "dev", size=args.dev_size)
    test = load_split(task, "test", size=args.test_size)
    temporary = tempfile.TemporaryDirectory(prefix="neurokit-prune-bench-")
    work = Path(temporary.name)
    print("tuning the prompt", file=sys.stderr, flush=True)
    PromptTrainer(backbone, task, tuning, output_dir=work / "prompt", progress=False).fit(train, dev)
    checkpoint = PromptCheckpoint.from_pretrained(work / "prompt")
    extraction = ExtractionConfig(max_length=args.max_length)
    stores = {split: extract_run(backbone, checkpoint, task, split, work / f"{split}.zarr", extraction, size=size,
                                 progress=False)
              for split, size in (("train", args.train_size), ("dev", args.dev_size))}
    train_store, dev_store = open_run(stores["train"]), open_run(stores["dev"])
    score = SkillNeurons().fit(train_store).score(dev_store)["score"].compute()
    means = neuron_means(train_mean(train_store))
    temporary.cleanup()  # everything needed is in memory now
    config = PruneConfig(fraction=args.fraction)

    skill_kept = kept_neurons(backbone, score, config)
    randoms = random_masks(as_masks(score, [args.fraction]), args.random_draws, args.seed).isel(fraction=0)
    pruned = {"skill neurons kept": prune(backbone, skill_kept, means)}
    pruned["skill neurons kept, fold of all means (released code)"] = prune(backbone, skill_kept, means, "all")
    for draw in range(args.random_draws):
        kept = kept_neurons(backbone, randoms.isel(draw=draw, drop=True), config)
        pruned[f"random neurons kept (draw {draw})"] = prune(backbone, kept, means)

    verbalizer = backbone.verbalizer(task.label_words)
    test_split = EncodedSplit(backbone, task, test, args.max_length)
    prompt = checkpoint.soft_prompt(backbone)

    def correct(model, soft_prompt):
        result = evaluate(model, soft_prompt, verbalizer, test_split, batch_size=args.batch_size)
        return (result.predictions == result.labels).numpy()

    reference = correct(backbone, prompt)
    rows = [accuracy_row("unpruned", reference, None, parameter_count(backbone), ffn_parameter_count(backbone))]
    for name, model in pruned.items():
        rows.append(accuracy_row(f"pruned: {name}", correct(model, prompt), reference, parameter_count(model),
                                 ffn_parameter_count(model)))
    print("re-tuning a prompt on the pruned model", file=sys.stderr, flush=True)
    skill_pruned = pruned["skill neurons kept"]
    retuned = PromptTrainer(skill_pruned, task, tuning, progress=False).fit(train, dev)
    rows.append(accuracy_row("pruned: skill neurons kept, prompt re-tuned", correct(skill_pruned, retuned.prompt_),
                             reference, parameter_count(skill_pruned), ffn_parameter_count(skill_pruned)))

    batches = list(test_split.batches(args.batch_size))[:args.latency_batches]
    full_prompt = prompt()
    seconds = latency({"unpruned": backbone, "pruned": skill_pruned}, full_prompt.detach(), batches, verbalizer,
                      args.repeats)
    medians = {name: statistics.median(values) for name, values in seconds.items()}

    layers = config.layers_of(backbone)
    kept_per_layer = int(skill_kept.sel(layer=layers[0]).sum())
    quick = " (--quick smoke test)" if args.quick else ""
    print(f"## Pruning to skill neurons: embedded MiniLM-L6 on {task.name}{quick}\n")
    print(f"Prompt: {args.prompt_length} positions, {args.steps} steps, dev accuracy of the best step on "
          f"{args.dev_size} dev examples. Skill scores: train baselines from {args.train_size} train examples, "
          f"predictivity on the dev examples. Kept: the top {args.fraction:g} per layer = {kept_per_layer} of "
          f"{backbone.sites()[0].width} neurons in layers {layers[0]}–{layers[-1]}; layer 0 whole. Test: "
          f"{len(test_split)} examples.\n")
    print_table(rows, {"parameters": ",", "FFN parameters": ",", "test accuracy": ".4f"})
    latency_rows = [{"model": name, "median s per pass": medians[name],
                     "min–max s": f"{min(values):.3f}–{max(values):.3f}",
                     "speed-up": medians["unpruned"] / medians[name]}
                    for name, values in seconds.items()]
    print(f"\nCPU latency: class scores for {sum(len(batch.ids) for batch in batches)} test examples in "
          f"{len(batches)} pre-tokenized batches of {args.batch_size} (≤ {args.max_length} input tokens + "
          f"{args.prompt_length} prompt positions), "
          f"{args.repeats} rounds, the two models in alternation, {torch.get_num_threads()} torch threads.\n")
    print_table(latency_rows, {"median s per pass": ".3f", "speed-up": ".2f"})
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    memory = memory_gib()
    print(f"\nmachine: {cpu_model()}, {os.cpu_count()} logical CPUs, "
          f"{f'{memory:.1f} GiB RAM' if memory else 'RAM unknown'}; load average after the run {load}; "
          f"torch {torch.__version__}; whole run {time.perf_counter() - started:.0f} s")
    print(f"\ncommand: {shlex.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
