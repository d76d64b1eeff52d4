"""Scaling of predictivity with dask.distributed workers: the same analysis on LocalClusters of 1, 2, 4, … workers.

Runs ``SkillNeurons().fit(train).score(eval)`` (Wang et al.'s predictivity, neuron scores and skill masks) over
existing stores — e.g. those ``benchmarks/analysis_scale.py --keep`` leaves in ``cache/bench/analysis-scale``
— on a ``distributed.LocalCluster`` of N worker processes for each N of ``--workers`` (each with
``--threads-per-worker`` threads, one by default), and
reports wall time, speed-up over one worker and the throughput of the store's bytes on disk. The results of
every cluster size are checked to be identical to the first.

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
    parser.add_argument("--threads-per-worker", type=int, default=1, help="threads of each worker process")
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
        rows.append({"workers": workers, "wall s": seconds, "speed-up": reference / seconds,
                     "GB/s on disk": volume / seconds / 1e9})
    print(f"## Predictivity on a dask.distributed LocalCluster: {args.eval} ({volume / 1e9:.1f} GB on disk)\n")
    print_table(rows, {"wall s": ".1f", "speed-up": ".2f", "GB/s on disk": ".2f"})
    memory = memory_gib()
    print(f"\nscores identical for every cluster size. machine: {platform.platform()}; {cpu_model()}; "
          f"{os.cpu_count()} logical CPUs; {memory:.0f} GiB RAM; worker processes of {args.threads_per_worker} "
          f"thread(s), memory limit {args.memory_limit} each")


if __name__ == "__main__":
    main()
