"""Acceptance benchmark: `neurokit train` on the embedded default reaches >= 90 % dev accuracy within 5 minutes.

Runs the real command line once per seed, as a child process, on the embedded default model (the offline
MiniLM-L6 that ``neurokit.models.load_backbone()`` loads with no arguments: no ``--model`` is passed):

    neurokit train --task toy_sentiment_movies --prompt-length 100 --init labels --learning-rate 0.01 \
        --max-steps 60 --eval-every 20 --seed S --out DIR

The wall time of each seed is that of the whole child process: interpreter start, imports, model loading,
data generation, training and the dev evaluations. The best dev accuracy and its step come from the JSON line
the command prints; the dev accuracy of every evaluation from the checkpoint's ``metrics.jsonl``. Prints a
Markdown table per seed, mean ± standard deviation and min–max over the seeds, PASS/FAIL against
``--min-accuracy`` (0.90) and ``--max-seconds`` (300) for every seed, the machine and the exact command.
``--quick`` runs a tiny configuration (a smoke test of this script, not the acceptance run).

    .venv/bin/python benchmarks/train_embedded.py [--seeds 0 1 2] [--task toy_sentiment_movies] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import cpu_model, memory_gib


def neurokit_executable() -> str:
    """The ``neurokit`` script of this interpreter's environment (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("neurokit")
    if beside.is_file():
        return str(beside)
    found = shutil.which("neurokit")
    if found is None:
        raise SystemExit("cannot find the neurokit command: install the package (pip install -e .)")
    return found


def train_command(args, seed: int, out: Path) -> list[str]:
    command = [neurokit_executable(), "train", "--task", args.task, "--prompt-length", str(args.prompt_length),
               "--init", args.init, "--learning-rate", str(args.learning_rate), "--max-steps", str(args.max_steps),
               "--eval-every", str(args.eval_every), "--batch-size", str(args.batch_size), "--seed", str(seed),
               "--out", str(out)]
    if args.train_size is not None:
        command += ["--train-size", str(args.train_size)]
    if args.dev_size is not None:
        command += ["--dev-size", str(args.dev_size)]
    return command


def child_environment(threads: int) -> dict[str, str]:
    environment = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    if threads:
        # torch takes its default intra-op thread count from OMP_NUM_THREADS at start-up.
        environment["OMP_NUM_THREADS"] = environment["MKL_NUM_THREADS"] = str(threads)
    return environment


def run_seed(args, seed: int, workdir: Path) -> dict:
    out = workdir / f"seed-{seed}"
    command = train_command(args, seed, out)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=child_environment(args.threads))
    wall = time.perf_counter() - started
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"seed {seed}: `neurokit train` exited with {result.returncode}:\n{tail}")
    lines = [line for line in result.stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"seed {seed}: no JSON summary on stdout:\n{result.stdout}")
    summary = json.loads(lines[-1])
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    reached = [record["step"] for record in history if record["dev_accuracy"] >= args.min_accuracy]
    return {
        "seed": seed,
        "best_dev_accuracy": float(summary["best_dev_accuracy"]),
        "best_step": int(summary["best_step"]),
        "first_step_at_threshold": reached[0] if reached else None,
        "dev_accuracy_by_step": {record["step"]: record["dev_accuracy"] for record in history},
        "training_s": history[-1]["elapsed_s"] if history else None,
        "wall_s": wall,
        "command": shlex.join(command),
    }


def machine_description() -> dict:
    import torch
    import transformers

    cpu = cpu_model()
    memory = f"{memory_gib():.1f} GiB RAM" if memory_gib() is not None else "RAM unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    load = "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg()) if hasattr(os, "getloadavg") else ""
    return {"platform": platform.platform(), "cpu": cpu, "logical_cpus": os.cpu_count(), "usable_cpus": usable,
            "memory": memory, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "load_at_start": load}


def spread(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    deviation = statistics.stdev(values) if len(values) > 1 else 0.0
    return (f"{mean:.{digits}f} ± {deviation:.{digits}f} (min {min(values):.{digits}f}, "
            f"max {max(values):.{digits}f})")


def report(rows: list[dict], args, machine: dict, displayed_command: str) -> bool:
    print(f"## `neurokit train` on the embedded default: {args.task}{' (--quick smoke test)' if args.quick else ''}\n")
    print(f"| seed | best dev accuracy | best step | first step ≥ {args.min_accuracy:.2f} "
          "| dev accuracy by step | wall s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        by_step = ", ".join(f"{step}: {accuracy:.3f}" for step, accuracy in row["dev_accuracy_by_step"].items())
        first = row["first_step_at_threshold"] if row["first_step_at_threshold"] is not None else "never"
        print(f"| {row['seed']} | {row['best_dev_accuracy']:.4f} | {row['best_step']} | {first} | {by_step} | "
              f"{row['wall_s']:.1f} |")
    accuracies = [row["best_dev_accuracy"] for row in rows]
    walls = [row["wall_s"] for row in rows]
    print(f"\nbest dev accuracy over {len(rows)} seeds: {spread(accuracies, 4)} (std: sample standard deviation)")
    print(f"wall time per seed, s: {spread(walls, 1)}")
    passed = all(a >= args.min_accuracy for a in accuracies) and all(w <= args.max_seconds for w in walls)
    print(f"\n**{'PASS' if passed else 'FAIL'}**: every seed needs best dev accuracy ≥ {args.min_accuracy:.2f} and "
          f"wall time ≤ {args.max_seconds:.0f} s (model loading included)"
          + (" — not expected of --quick, which only smoke-tests this script." if args.quick else "."))
    print(f"\nmachine: {machine['cpu']}; {machine['logical_cpus']} logical CPUs ({machine['usable_cpus']} usable), "
          f"{machine['memory']}; {machine['platform']}; Python {machine['python']}, torch {machine['torch']}, "
          f"transformers {machine['transformers']}; {machine['load_at_start']} (seeds run one after another)")
    threads = f"OMP_NUM_THREADS={args.threads} " if args.threads else ""
    print(f"\ncommand (per seed S, DIR a fresh folder):\n\n    {threads}{displayed_command}")
    return passed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--task", default="toy_sentiment_movies", help="a built-in task (see `neurokit tasks`)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings (prompt length 5, 4 steps, 32 examples): a smoke test of this script")
    parser.add_argument("--prompt-length", type=int, default=100)
    parser.add_argument("--init", default="labels")
    parser.add_argument("--learning-rate", type=float, default=0.01)
    parser.add_argument("--max-steps", type=int, default=60)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train-size", type=int, default=None, help="default: the whole train split (2000)")
    parser.add_argument("--dev-size", type=int, default=None, help="default: the whole dev split (500)")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of the child (0: torch's default)")
    parser.add_argument("--min-accuracy", type=float, default=0.90)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--workdir", default=None, help="folder for the checkpoints (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the checkpoints")
    parser.add_argument("--json", default=None, help="also write the per-seed results and machine as JSON here")
    args = parser.parse_args()
    if args.quick:
        args.prompt_length, args.max_steps, args.eval_every, args.batch_size = 5, 4, 2, 8
        args.train_size, args.dev_size = 32, 32
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="neurokit-train-bench-", dir=args.workdir))
    machine = machine_description()
    try:
        rows = []
        for seed in args.seeds:
            rows.append(run_seed(args, seed, workdir))
            print(f"seed {seed}: best dev accuracy {rows[-1]['best_dev_accuracy']:.4f} at step "
                  f"{rows[-1]['best_step']}, {rows[-1]['wall_s']:.1f} s", file=sys.stderr, flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    displayed = shlex.join(["neurokit", *train_command(args, 0, Path("DIR"))[1:]]).replace("--seed 0", "--seed S")
    passed = report(rows, args, machine, displayed)
    if args.json:
        Path(args.json).write_text(json.dumps({"task": args.task, "quick": args.quick, "passed": passed,
                                               "min_accuracy": args.min_accuracy, "max_seconds": args.max_seconds,
                                               "command": displayed, "machine": machine, "seeds": rows}, indent=2))
    sys.exit(0 if passed or args.quick else 1)


if __name__ == "__main__":
    main()
