"""Storage precision against the reference: does a float16 store change Wang et al.'s predictivities?

The reference code computes activations, baselines and predictivity in float32. neurokit's stores can hold
float16 (the stored-dtype policy, ``neurokit.extract.spec.stored_dtype_policy``). This benchmark trains
one prompt on the embedded MiniLM-L6 (a few steps on a built-in task: the neurons need a prompt that learned
something), extracts the same train statistics and eval examples twice from that one checkpoint, once stored
as float16 and once as float32, scores both with :class:`neurokit.analysis.SkillNeurons` and compares, per
layer:

- the share of predictivities Pred(n, p) (every prompt position and neuron) that differ, and the largest |Δ|;
- the same for the neuron score max_p Pred(n, p);
- the overlap of the top ``--fraction`` of neurons per layer (|A ∩ B| / |A|; ties broken as neurokit does);
- the largest rounding error of the stored eval activations (absolute and relative).

Prints Markdown tables, the machine and the command. ``--quick`` is a smoke test of this script (tiny sizes).

    .venv/bin/python benchmarks/store_precision.py [--task toy_sentiment_movies] [--eval-size 1000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _machine import cpu_model, memory_gib, print_table


def train_prompt(backbone, args, folder: Path) -> float:
    """A prompt tuned for ``args.steps`` steps on ``args.task``; returns its best dev accuracy."""
    from neurokit.prompts import PromptTrainer, PromptTuningConfig
    from neurokit.tasks import get_task, load_split

    task = get_task(args.task)
    config = PromptTuningConfig(prompt_length=args.prompt_length, init="labels", learning_rate=0.01,
                                max_steps=args.steps, batch_size=16, eval_every=args.steps,
                                max_length=args.max_length, seed=0)
    trainer = PromptTrainer(backbone, task, config, output_dir=folder, progress=False)
    trainer.fit(load_split(task, "train"), load_split(task, "dev", size=200))
    return trainer.best_dev_accuracy_


def scored(backbone, args, checkpoint: Path, folder: Path, dtype: str):
    """Train statistics and eval activations stored as ``dtype``, scored: (SkillNeurons score Dataset,
    eval activations as float32 numpy (example, layer, position, neuron), baselines (subtask, layer, position,
    neuron))."""
    from neurokit.analysis import SkillNeurons
    from neurokit.extract import ExtractionConfig, extract_run, open_run

    config = ExtractionConfig(max_length=args.max_length, dtype=dtype)
    train = extract_run(backbone, checkpoint, args.task, "train", folder / f"train-{dtype}.zarr", config,
                        size=args.train_size, progress=False)
    evaluation = extract_run(backbone, checkpoint, args.task, args.eval_split, folder / f"eval-{dtype}.zarr", config,
                             size=args.eval_size, progress=False)
    model = SkillNeurons(fractions=(args.fraction,)).fit(open_run(train))
    data = open_run(evaluation)
    result = model.score(data).compute()
    return result, data


def compare(first, second, fraction: float) -> list[dict]:
    """Per-layer differences between two score Datasets of the same examples (float16 vs float32)."""
    rows = []
    for layer in first["layer"].values:
        pred = [np.asarray(result["predictivity"].sel(layer=layer), dtype=np.float64) for result in (first, second)]
        score = [np.asarray(result["score"].sel(layer=layer), dtype=np.float64) for result in (first, second)]
        skill = [np.asarray(result["skill"].sel(layer=layer, fraction=fraction)) for result in (first, second)]
        pred_delta, score_delta = np.abs(pred[0] - pred[1]), np.abs(score[0] - score[1])
        rows.append({
            "layer": int(layer),
            "Pred changed %": 100 * float(np.mean(pred_delta > 0)),
            "Pred max |Δ|": float(np.max(pred_delta)),
            "score changed %": 100 * float(np.mean(score_delta > 0)),
            "score max |Δ|": float(np.max(score_delta)),
            f"top {100 * fraction:g} % overlap %": 100 * float((skill[0] & skill[1]).sum() / skill[1].sum()),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="toy_sentiment_movies")
    parser.add_argument("--steps", type=int, default=40, help="training steps of the prompt")
    parser.add_argument("--prompt-length", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=1000, help="train examples (the baselines)")
    parser.add_argument("--eval-size", type=int, default=1000, help="eval examples scored")
    parser.add_argument("--eval-split", default="test", help="the split scored (test holds 500 by default; "
                                                              "the generated tasks serve any size)")
    parser.add_argument("--fraction", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of this script")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.prompt_length, args.train_size, args.eval_size = 2, 4, 32, 32
    import torch

    from neurokit.models import load_backbone

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="neurokit-precision-"))
    try:
        backbone = load_backbone(device="cpu")
        dev_accuracy = train_prompt(backbone, args, workdir / "prompt")
        results = {dtype: scored(backbone, args, workdir / "prompt", workdir, dtype)
                   for dtype in ("float16", "float32")}
        rows = compare(results["float16"][0], results["float32"][0], args.fraction)
        half, full = (results[dtype][1]["activation"].astype("float32").values for dtype in ("float16", "float32"))
        print(f"## float16 vs float32 store: {args.task}, prompt of {args.prompt_length} positions after "
              f"{args.steps} steps (best dev accuracy {dev_accuracy:.3f}); baselines from {args.train_size} train "
              f"examples, {args.eval_size} {args.eval_split} examples scored\n")
        print_table(rows, {"Pred changed %": ".2f", "Pred max |Δ|": ".4f", "score changed %": ".2f",
                           "score max |Δ|": ".4f", f"top {100 * args.fraction:g} % overlap %": ".1f"})
        pred = {dtype: results[dtype][0]["predictivity"].values for dtype in results}
        score = {dtype: results[dtype][0]["score"].values for dtype in results}
        skill = {dtype: results[dtype][0]["skill"].sel(fraction=args.fraction).values for dtype in results}
        delta = np.abs(pred["float16"].astype(np.float64) - pred["float32"])
        print(f"\nall layers: {100 * np.mean(delta > 0):.2f} % of {delta.size} predictivities changed, max |Δ| "
              f"{delta.max():.4f} (= {delta.max() * args.eval_size:.0f} of {args.eval_size} examples), mean |Δ| "
              f"over the changed ones {delta[delta > 0].mean() if (delta > 0).any() else 0:.4f}; neuron scores "
              f"changed {100 * np.mean(score['float16'] != score['float32']):.2f} %; top "
              f"{100 * args.fraction:g} % per layer overlap "
              f"{100 * (skill['float16'] & skill['float32']).sum() / skill['float32'].sum():.1f} %")
        rounding = np.abs(half - full)
        print(f"float16 rounding of the eval activations: max |Δ| {rounding.max():.2e}, max relative "
              f"{np.max(rounding / np.maximum(np.abs(full), 1e-30)):.2e}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    memory = f"{memory_gib():.1f} GiB RAM" if memory_gib() else "RAM unknown"
    print(f"\nmachine: {cpu_model()}; {os.cpu_count()} logical CPUs, {memory}; "
          f"torch threads {torch.get_num_threads()}; "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {time.perf_counter() - started:.0f} s")
    print(f"\ncommand: {shlex.join([Path(sys.executable).name, *sys.argv])}")


if __name__ == "__main__":
    main()
