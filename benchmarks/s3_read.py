"""Analysis read throughput from an S3-compatible server against the same store on local disk.

The laptop half of "extract on a GPU box, analyse on a laptop": the stores are read through
:mod:`neurokit.storage` (``s3://`` URLs, zarr's ``FsspecStore`` over s3fs) from moto's standalone S3 server,
started by this script on 127.0.0.1 in its own process, and, for comparison, from local disk.

The stores are those of benchmarks/analysis_scale.py (same writer, layout and synthetic activations, reused
from there): an eval store of about ``--megabytes`` on disk and a train store of class statistics, RoBERTa-
base-like (12 layers × 3072 neurons, 17 positions, float16, blocks of 64 examples). Both are uploaded to a
bucket of the server. Phases, each run ``--repeats`` times per backend, alternating backends:

- ``read``: every chunk of ``activation`` read and decompressed once through ``open_run``'s dask chunks
  (the read an analysis does, without the statistics);
- ``predictivity``: ``SkillNeurons().fit(train).score(eval)`` computed (what ``neurokit analyze`` does first).

Both backends serve from RAM: moto keeps objects in memory and the local store is small enough to stay in
the page cache, so the ratio is the cost of the S3 protocol path (HTTP requests, s3fs, zarr's fsspec store),
not of a network or a disk. A real object store adds network latency and bandwidth on top.

    .venv/bin/python benchmarks/s3_read.py [--megabytes 200] [--repeats 2] [--workdir DIR] [--port 0]
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _machine import cpu_model, memory_gib, print_table
from analysis_scale import (
    Layout,
    StorePlan,
    SyntheticActivations,
    _count_elements,
    compressed_bytes_per_example,
    directory_bytes,
    write_store,
)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = REPO / "cache" / "bench" / "s3-read"
LAYOUT = Layout(layers=12, neurons=3072, prompt_length=15, block_size=64)
BUCKET = "neurokit-bench"
#: moto accepts any credentials; these only keep botocore from looking for real ones.
STORAGE_OPTIONS = {"key": "bench", "secret": "bench"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    """moto's S3 server in a child process (so that it does not share this process's GIL with the reader)."""
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("moto's S3 server did not start within 60 s")


def read_all(path: str, options: dict) -> dict:
    from neurokit.extract import open_run

    activation = open_run(path, storage_options=options)["activation"].data
    counts = activation.map_blocks(_count_elements, dtype=np.int64,
                                   chunks=tuple((1,) * len(sizes) for sizes in activation.chunks))
    elements = int(counts.sum().compute())
    if elements != activation.size:
        raise SystemExit(f"read {elements} elements of {activation.size}")
    return {"dask chunks": activation.npartitions}


def predictivity(train: str, evaluation: str, options: dict) -> dict:
    from neurokit.analysis import SkillNeurons, compute_results
    from neurokit.extract import open_run

    model = SkillNeurons().fit(open_run(train, storage_options=options))
    skill = compute_results({"skill": model.score(open_run(evaluation, storage_options=options))},
                            "predictivity", progress=False)["skill"]
    return {"checksum": float(skill["score"].sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=200, help="eval store size on disk (default 200)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per phase and backend (default 2)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--port", type=int, default=0, help="port of the S3 server (default: a free one)")
    args = parser.parse_args()

    import s3fs

    generator = SyntheticActivations(LAYOUT)
    examples = max(LAYOUT.block_size, round(args.megabytes * 1e6 / compressed_bytes_per_example(generator, LAYOUT)))
    plans = [StorePlan("train-a", "bench_task_a", "train", 4 * LAYOUT.block_size, seed=1),
             StorePlan("eval-a", "bench_task_a", "dev", examples, seed=2)]
    args.workdir.mkdir(parents=True, exist_ok=True)
    stores = [write_store(args.workdir / f"{plan.name}.zarr", plan, LAYOUT, generator) for plan in plans]
    local = {plan.name: str(args.workdir / f"{plan.name}.zarr") for plan in plans}

    port = args.port or free_port()
    server = start_server(port)
    try:
        options = {**STORAGE_OPTIONS, "endpoint_url": f"http://127.0.0.1:{port}"}
        fs = s3fs.S3FileSystem(key=options["key"], secret=options["secret"],
                               client_kwargs={"endpoint_url": options["endpoint_url"]})
        fs.mkdir(BUCKET)
        started = time.perf_counter()
        for path in local.values():
            fs.put(path, f"{BUCKET}/{Path(path).name}", recursive=True)
        upload_seconds = time.perf_counter() - started
        remote = {name: f"s3://{BUCKET}/{Path(path).name}" for name, path in local.items()}
        backends = {"local disk": (local, {}), "S3 (moto, 127.0.0.1)": (remote, options)}
        phases = {
            "read": lambda paths, opts: read_all(paths["eval-a"], opts),
            "predictivity": lambda paths, opts: predictivity(paths["train-a"], paths["eval-a"], opts),
        }
        seconds: dict[tuple[str, str], list[float]] = {}
        checks: dict[tuple[str, str], dict] = {}
        for phase, run in phases.items():
            for _ in range(args.repeats):
                for backend, (paths, opts) in backends.items():  # alternating, so load drifts hit both
                    started = time.perf_counter()
                    checks[phase, backend] = run(paths, opts)
                    seconds.setdefault((phase, backend), []).append(time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if checks["predictivity", "local disk"] != checks["predictivity", "S3 (moto, 127.0.0.1)"]:
        raise SystemExit("the two backends gave different scores")

    eval_bytes = directory_bytes(Path(local["eval-a"]) / "activation")
    print(f"\nStores (workdir {args.workdir}; upload to the server took {upload_seconds:.1f} s):\n")
    print_table(stores, {"raw GB": ".3f", "disk GB": ".3f", "raw MB/s": ".0f"})
    rows = []
    for phase in phases:
        best_local = min(seconds[phase, "local disk"])
        for backend in backends:
            times = seconds[phase, backend]
            rows.append({"phase": phase, "backend": backend, "runs (s)": ", ".join(f"{t:.2f}" for t in times),
                         "best (s)": min(times), "MB/s (disk bytes)": eval_bytes / min(times) / 1e6,
                         "× local": min(times) / best_local})
    print("\nRead and analysis times (best of the runs; activation bytes on disk per second):\n")
    print_table(rows, {"best (s)": ".2f", "MB/s (disk bytes)": ".0f", "× local": ".2f"})
    load = os.getloadavg()
    print(f"\nMachine: {cpu_model()}, {os.cpu_count()} CPUs, {memory_gib() or 0:.0f} GiB RAM; load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end (1 / 5 / 15 min).")
    print(f"Command: {shlex.join([sys.executable, *sys.argv])}")


if __name__ == "__main__":
    main()
