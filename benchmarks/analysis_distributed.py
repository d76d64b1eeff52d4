"""Scaling of predictivity with dask.distributed workers: the same analysis on LocalClusters of 1, 2, 4, … workers.

Runs ``SkillNeurons().fit(train).score(eval)`` (Wang et al.'s predictivity, neuron scores and skill masks) over
existing stores — e.g. those ``benchmarks/analysis_scale.py --keep`` leaves in ``cache/bench/analysis-scale``
— on a ``distributed.LocalCluster`` of N worker processes for each N of ``--workers`` (each with
``--threads-per-worker`` threads, by default neurokit's ``THREADS_PER_WORKER``), and reports wall time,
speed-up over the first size, the share of linear scaling it reaches (goal: ≥ 0.7× linear at 8 workers) and the
throughput of the store's bytes on disk. The results of every cluster size are checked to be identical to the
first.

    .venv/bin/python benchmarks/analysis_distributed.py --train TRAIN.zarr --eval EVAL.zarr --workers 1,2,4,8,16
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from _machine import cpu_model, memory_gib, print_table

from neurokit.analysis.scheduler import THREADS_PER_WORKER

GOAL_WORKERS, GOAL_LINEAR = 8, 0.7


def disk_bytes(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def predictivity_seconds(train: Path, evaluation: Path, workers: int, threads: int,
                          memory_limit: str) -> tuple[float, np.ndarray]:
    import distributed

    from neurokit.analysis import SkillNeurons
    from neurokit.extract import open_run

    with distributed.LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                                  memory_limit=memory_limit, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        started = time.perf_counter()
        skill = SkillNeurons().fit(open_run(train)).score(open_run(evaluation))
        score = skill["score"].compute()
        seconds = time.perf_counter() - started
    return seconds, score.values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, type=Path, help="train store (statistics)")
    parser.add_argument("--eval", required=True, type=Path, help="eval store (raw activations)")
    parser.add_argument("--workers", default="1,2", help="comma-separated cluster sizes (worker processes)")
    parser.add_argument("--threads-per-worker", type=int, default=THREADS_PER_WORKER,
                        help="threads of each worker process (default: neurokit's, as `--workers N` starts them)")
    parser.add_argument("--memory-limit", default="2GiB", help="per worker")
    args = parser.parse_args()
    sizes = [int(value) for value in args.workers.split(",")]
    volume = disk_bytes(args.eval)
    rows, reference, first = [], None, None
    for workers in sizes:
        seconds, score = predictivity_seconds(args.train, args.eval, workers, args.threads_per_worker,
                                              args.memory_limit)
        if first is None:
            first, reference = score, seconds
        elif not np.array_equal(first, score, equal_nan=True):
            raise SystemExit(f"scores with {workers} workers differ from those with {sizes[0]}")
        speedup = reference / seconds
        rows.append({"workers": workers, "wall s": seconds, "speed-up": speedup,
                     "× linear": speedup * sizes[0] / workers, "GB/s on disk": volume / seconds / 1e9})
    print(f"## Predictivity on a dask.distributed LocalCluster: {args.eval} ({volume / 1e9:.1f} GB on disk)\n")
    print_table(rows, {"wall s": ".1f", "speed-up": ".2f", "× linear": ".2f", "GB/s on disk": ".2f"})
    for row in rows:
        if row["workers"] == GOAL_WORKERS:
            verdict = "met" if row["× linear"] >= GOAL_LINEAR else "NOT met"
            print(f"\ngoal ≥ {GOAL_LINEAR}× linear at {GOAL_WORKERS} workers: {verdict} ({row['× linear']:.2f}×)")
    memory = memory_gib()
    print(f"\nscores identical for every cluster size. machine: {platform.platform()}; {cpu_model()}; "
          f"{os.cpu_count()} logical CPUs; {memory:.0f} GiB RAM; worker processes of {args.threads_per_worker} "
          f"thread(s), memory limit {args.memory_limit} each")


if __name__ == "__main__":
    main()
