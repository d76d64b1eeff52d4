"""Predictivity and selectivity over a store larger than RAM: run time and peak memory against a plain read.

Goal (the analysis stage's scale requirement): over an eval store of at least 30 GB on a 24 GB machine,
written through the real :class:`~neurokit.extract.ActivationStoreWriter`, predictivity and selectivity
peak at ≤ 2 GB of memory and take at most 1.25× the time needed merely to read and decompress the store.

Stores (float16, RoBERTa-base-like: 12 layers × 3072 neurons; positions ``mask``, ``prompt_0`` …
``prompt_14`` and ``input_mean``, as ``neurokit extract --positions prompt,input_mean`` lays them out;
blocks of 64 examples), all of one synthetic model, written with the writer exactly as ``neurokit extract``
does (same spec, provenance, shards, train statistics):

- task A: an eval store of ``--gigabytes`` on disk (the large one; the number of examples follows from the
  compressed size of a sample block) and a train store holding only the train statistics;
- task B: small train-statistics and eval stores, the second task that task selectivity compares A with.

Activations are GELU of Gaussian pre-activations (as in benchmarks/extract_layouts.py), cut at random
offsets from a pool drawn once, so that generating them costs a copy and the writing is bounded by
compression and disk; each chunk is still a fresh stretch of iid values, so zstd compresses it as it would
fresh draws. Per task, 2 % of the neurons of every layer are shifted by ±(0.3…1.0) at every position for
examples of class 1, so the scores are non-trivial and the planted neurons are known; each block's data
depend only on (store seed, block), so a resumed store is rewritten identically.

"Predictivity and selectivity" are what ``neurokit analyze`` computes from such stores:

- predictivity: ``SkillNeurons().fit(train).score(eval)`` — accuracy, predictivity, neuron scores and the
  skill masks of the default 0–20 % sweep (Wang et al.);
- selectivity: the codebase has two kinds. Control selectivity (Hewitt & Liang,
  ``SkillNeurons.control_selectivity``: real and shuffled labels in one pass over the eval store) and task
  selectivity (``task_selectivity`` of ``stack_scores``), which compares task A's neuron scores (from that
  same pass) with task B's. Both are computed together, in one dask computation, as the ``selectivity``
  phase;
- analyze: the real ``neurokit analyze --train A B --eval A B`` command (skill neurons, model accuracy,
  control and task selectivity, task agreement, results store written), one computation for everything.

Every phase runs in a fresh child process (its peak memory is that process's high-water mark, VmHWM, which
includes the interpreter and its imports), with dask's threaded scheduler and as many threads as neurokit
uses by default (``THREADS_PER_CORE`` per CPU; the read phases use as many). The page cache is dropped before
each phase when ``/proc/sys/vm/drop_caches`` is writable (root); otherwise the store, being larger than RAM,
cannot stay cached between phases anyway. The reference read is the faster of two honest ways to read and
decompress every chunk of ``activation`` once: a plain zarr loop over the shards (on a thread pool) and a
dask pass over ``open_run``'s chunks that only counts their elements. ``read-raw`` (the files' bytes, no
decoding) shows how much of that is disk.

Prints Markdown tables, the machine description and the exact command line. Heavy at the defaults (32 GB
written, then read six times); ``--quick`` runs the same path over ~0.2 GB as a smoke test. A complete store
of the same run left by ``--keep`` (or by an interrupted run, which is resumed) is reused, not rewritten.

    .venv/bin/python benchmarks/analysis_scale.py [--quick] [--gigabytes 32] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _machine import cpu_model, print_table

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = REPO / "cache" / "bench" / "analysis-scale"
MODEL_ID = "bench/roberta-base-like-synthetic"
CLASSES = ("negative", "positive")
PLANTED_SHARE = 0.02  # neurons per layer that carry the label, per task
POOL_VALUES = 1 << 25  # 64 MiB of float16 activations to cut blocks from
PHASES = ("read-raw", "read-zarr", "read-dask", "integrity", "predictivity", "selectivity", "analyze")
READ_PHASES = ("read-zarr", "read-dask")
MEMORY_GOAL_GB = 2.0
TIME_GOAL_RATIO = 1.25


@dataclass(frozen=True)
class Layout:
    """Dimensions shared by all stores of the benchmark."""

    layers: int
    neurons: int
    prompt_length: int
    block_size: int

    @property
    def roles(self) -> tuple[str, ...]:
        return ("mask", *(f"prompt_{index}" for index in range(self.prompt_length)), "input_mean")

    @property
    def positions(self) -> int:
        return len(self.roles)

    @property
    def example_bytes(self) -> int:
        """Raw (decompressed) float16 bytes of one example's activations."""
        return self.layers * self.positions * self.neurons * 2


@dataclass(frozen=True)
class StorePlan:
    """One store to write: ``name`` is its folder in the workdir (without .zarr)."""

    name: str
    task: str
    split: str
    examples: int
    seed: int

    @property
    def train(self) -> bool:
        return self.split == "train"


def task_description(task: str) -> dict:
    return {"name": task, "task_type": "sentiment", "label_names": list(CLASSES)}


def make_spec(plan: StorePlan, layout: Layout):
    from neurokit.extract import Provenance, StoreSpec

    provenance = Provenance(
        model_id=MODEL_ID, model_revision="none", weights_sha256="5" * 64,
        model_config={"num_hidden_layers": layout.layers, "intermediate_size": layout.neurons},
        # One prompt per task, as prompt tuning gives: task A's train and eval stores share it.
        prompt_sha256=("a" if plan.task.endswith("a") else "b") * 64,
        prompt_metadata={"length": layout.prompt_length, "init": "synthetic"},
        task=task_description(plan.task), template="{mask} {prompt} {text}",
        verbalizer={"negative": ["bad"], "positive": ["good"]}, split=plan.split,
        dtype_policy="float16 (RoBERTa-like synthetic benchmark)", prompt_layout="prepend",
    )
    return StoreSpec(
        example_ids=[f"{plan.split}-{index:07d}" for index in range(plan.examples)],
        class_names=CLASSES,
        sites=[f"encoder.layer.{layer}.ffn" for layer in range(layout.layers)],
        layers=list(range(layout.layers)),
        position_roles=layout.roles,
        n_neurons=layout.neurons,
        stored_dtype="float16",
        provenance=provenance,
        store_raw_activations=not plan.train,
        compute_train_stats=plan.train,
        block_size=layout.block_size,
    )


def planted(layout: Layout, task: str) -> tuple[np.ndarray, np.ndarray]:
    """The neurons that carry task ``task``'s label: indices (L, k) and shifts (L, P, k) for class 1."""
    rng = np.random.default_rng([sum(map(ord, task)), 1])
    count = max(1, round(PLANTED_SHARE * layout.neurons))
    neurons = np.stack([np.sort(rng.choice(layout.neurons, count, replace=False)) for _ in range(layout.layers)])
    sign = rng.choice([-1.0, 1.0], size=(layout.layers, 1, count))
    shift = rng.uniform(0.3, 1.0, size=(layout.layers, layout.positions, count)) * sign
    return neurons, shift.astype(np.float32)


class SyntheticActivations:
    """Deterministic blocks of one store: GELU(N(−0.5, 1.2²)) activations plus the planted label signal."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        chunk = layout.block_size * layout.positions * layout.neurons
        pre = np.random.default_rng(0).standard_normal(max(POOL_VALUES, 4 * chunk), dtype=np.float32)
        pre = pre * np.float32(1.2) - np.float32(0.5)
        gelu = np.float32(0.5) * pre * (1 + np.tanh(np.float32(0.7978846) * (pre + np.float32(0.044715) * pre**3)))
        self.pool = gelu.astype(np.float16)
        self._signals: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def block(self, plan: StorePlan, spec, index: int) -> dict[str, np.ndarray]:
        layout = self.layout
        rows = spec.block_slice(index)
        size = rows.stop - rows.start
        rng = np.random.default_rng([plan.seed, index])
        label = rng.integers(0, len(CLASSES), size)
        neurons, shift = self._signals.setdefault(plan.task, planted(layout, plan.task))
        activation = np.empty((size, layout.layers, layout.positions, layout.neurons), dtype=np.float16)
        length = size * layout.positions * layout.neurons
        for layer in range(layout.layers):
            start = int(rng.integers(0, self.pool.size - length + 1))
            values = activation[:, layer]
            values[...] = self.pool[start:start + length].reshape(values.shape)
            values[:, :, neurons[layer]] += (label[:, None, None] * shift[layer][None]).astype(np.float16)
        return {
            "activation": activation,
            "label": label,
            "prediction": np.where(rng.random(size) < 0.8, label, 1 - label),  # an 80 %-accurate model
            "logits": rng.normal(size=(size, len(CLASSES))).astype(np.float32),
            "input_length": rng.integers(5, 129, size),
        }


def compressed_bytes_per_example(generator: SyntheticActivations, layout: Layout) -> float:
    """Disk bytes per example of the activations: one sample block compressed chunk by chunk with the
    store's codec (zstd level 3 on each (block, 1, P, N) inner chunk)."""
    from numcodecs import Zstd

    plan = StorePlan("sample", "bench_task_a", "dev", layout.block_size, seed=99)
    spec = make_spec(plan, layout)
    activation = generator.block(plan, spec, 0)["activation"]
    codec = Zstd(level=3)
    size = sum(len(codec.encode(np.ascontiguousarray(activation[:, layer]))) for layer in range(layout.layers))
    return size / activation.shape[0]


def directory_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def write_store(path: Path, plan: StorePlan, layout: Layout, generator: SyntheticActivations) -> dict:
    """Write (or resume, or reuse when complete) one store through the writer; a row for the stores table."""
    from tqdm.auto import tqdm

    from neurokit.errors import StoreError
    from neurokit.extract import ActivationStoreWriter
    from neurokit.extract.schema import read_store_attrs

    spec = make_spec(plan, layout)
    overwrite = False
    if path.exists():
        try:  # replace a store of another size or layout only if this benchmark wrote it
            attrs = read_store_attrs(path)
            overwrite = attrs.get("model_id") == MODEL_ID
        except StoreError:
            attrs = {}
        if overwrite and attrs.get("run_fingerprint") != spec.fingerprint():
            print(f"{path.name} holds another size or layout: replacing it", file=sys.stderr)
    started = time.perf_counter()
    with ActivationStoreWriter.create_or_resume(path, spec, overwrite=overwrite) as writer:
        pending = writer.pending_blocks()
        raw = sum(spec.block_slice(block).stop - spec.block_slice(block).start for block in pending)
        with tqdm(total=raw * layout.example_bytes, desc=f"writing {path.name}", unit="B", unit_scale=True,
                  disable=not pending) as bar:
            for block in pending:
                data = generator.block(plan, spec, block)
                writer.write_block(block, data["activation"], label=data["label"], prediction=data["prediction"],
                                   logits=data["logits"], input_length=data["input_length"])
                bar.update(data["activation"].nbytes)
            complete = writer.finalize()
    seconds = time.perf_counter() - started
    if not complete:
        raise SystemExit(f"{path} is not complete after writing every block")
    disk = directory_bytes(path)
    raw_total = spec.n_examples * layout.example_bytes if not plan.train else 0
    return {
        "store": path.name, "task": plan.task, "split": plan.split, "examples": spec.n_examples,
        "activation": "statistics only" if plan.train else "×".join(map(str, spec.activation_shape)),
        "raw GB": raw_total / 1e9, "disk GB": disk / 1e9,
        "written": f"{seconds:.1f} s" if pending else "reused",
        "raw MB/s": raw * layout.example_bytes / seconds / 1e6 if pending else "",
    }


# --- phases, each run in a child process ------------------------------------------------------------------


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _count_elements(block: np.ndarray) -> np.ndarray:
    return np.full((1,) * block.ndim, block.size, dtype=np.int64)


def _read_raw(config: dict) -> dict:
    files = [file for file in (Path(config["eval_a"]) / "activation").rglob("*") if file.is_file()]

    def read(file: Path) -> int:
        buffer = bytearray(8 << 20)
        total = 0
        with open(file, "rb", buffering=0) as handle:
            while count := handle.readinto(buffer):
                total += count
        return total

    with ThreadPoolExecutor(config["workers"]) as pool:
        return {"bytes read": sum(pool.map(read, files)), "files": len(files)}


def _read_zarr(config: dict) -> dict:
    import zarr

    array = zarr.open_group(config["eval_a"], mode="r")["activation"]
    block = config["block_size"]

    def read(start: int) -> int:
        return int(array[start:start + block].size)

    with ThreadPoolExecutor(config["workers"]) as pool:
        elements = sum(pool.map(read, range(0, array.shape[0], block)))
    if elements != math.prod(array.shape):
        raise SystemExit(f"read {elements} elements of {math.prod(array.shape)}")
    return {"elements": elements}


def _read_dask(config: dict) -> dict:
    from neurokit.extract import open_run

    activation = open_run(config["eval_a"])["activation"].data
    counts = activation.map_blocks(_count_elements, dtype=np.int64,
                                   chunks=tuple((1,) * len(sizes) for sizes in activation.chunks))
    elements = int(counts.sum().compute())
    if elements != activation.size:
        raise SystemExit(f"read {elements} elements of {activation.size}")
    return {"elements": elements, "dask chunks": activation.npartitions}


def _integrity(config: dict) -> dict:
    """What open_run's integrity checks add to a read of the eval store (neurokit.extract.integrity), timed
    apart from the read: the listing of every data variable's chunk files against the expected grid, and the
    crc32c of every activation file's bytes (an upper bound of what the crc32c codec computes: it checks
    the compressed bytes of each inner chunk, which, with the shard index, make up the file), computed by the
    function that neurokit's codec uses (neurokit.extract.checksum). The files are read before the clock of
    the checksums starts, so only the computation is counted."""
    import zarr

    from neurokit.extract.checksum import crc32c
    from neurokit.extract.integrity import missing_chunk_problem
    from neurokit.extract.schema import ACTIVATION, PER_EXAMPLE

    path = Path(config["eval_a"])
    group = zarr.open_group(path, mode="r")
    started = time.perf_counter()
    blocks = set(range(-(-group[ACTIVATION].shape[0] // config["block_size"])))
    problem = missing_chunk_problem(path, group, [ACTIVATION, *PER_EXAMPLE], blocks)
    listing = time.perf_counter() - started
    if problem:
        raise SystemExit(problem)
    checksum, checksum_cpu, total = 0.0, 0.0, 0
    for file in sorted(file for file in (path / ACTIVATION).rglob("*") if file.is_file() and file.name != "zarr.json"):
        data = file.read_bytes()
        started, started_cpu = time.perf_counter(), time.process_time()
        crc32c(data)
        checksum += time.perf_counter() - started
        checksum_cpu += time.process_time() - started_cpu
        total += len(data)
    return {"listing s": listing, "crc32c s": checksum, "crc32c CPU s": checksum_cpu,
            "crc32c GB/s": total / checksum / 1e9, "checks s": listing + checksum,
            "crc32c implementation": f"{crc32c.__module__}.{crc32c.__name__}"}


def _planted_mask(config: dict, task: str) -> np.ndarray:
    layout = Layout(**config["layout"])
    neurons, _ = planted(layout, task)
    mask = np.zeros((layout.layers, layout.neurons), dtype=bool)
    np.put_along_axis(mask, neurons, True, axis=1)
    return mask


def _predictivity(config: dict) -> dict:
    from neurokit.analysis import SkillNeurons, compute_results
    from neurokit.extract import open_run

    model = SkillNeurons().fit(open_run(config["train_a"]))
    skill = compute_results({"skill": model.score(open_run(config["eval_a"]))}, "predictivity")["skill"]
    mask = _planted_mask(config, "bench_task_a")
    score = skill["score"].squeeze("subtask").values
    chosen = skill["skill"].sel(fraction=PLANTED_SHARE).values
    return {"score planted": float(score[mask].mean()), "score others": float(score[~mask].mean()),
            "planted in top 2 %": float((chosen & mask).sum() / mask.sum())}


def _selectivity(config: dict) -> dict:
    from neurokit.analysis import (
        SkillNeurons,
        compute_results,
        stack_scores,
        task_selectivity,
    )
    from neurokit.extract import open_run

    control = SkillNeurons().fit(open_run(config["train_a"])).control_selectivity(open_run(config["eval_a"]))
    model_b = SkillNeurons().fit(open_run(config["train_b"]))
    scores = stack_scores({"bench_task_a": control["score"],
                           "bench_task_b": model_b.score(open_run(config["eval_b"]))["score"]})
    results = compute_results({"control": control,
                               "tasks": task_selectivity(scores).to_dataset(name="selectivity")}, "selectivity")
    mask = _planted_mask(config, "bench_task_a") & ~_planted_mask(config, "bench_task_b")
    control = results["control"]["selectivity"].squeeze("subtask").values
    tasks = results["tasks"]["selectivity"].sel(task="bench_task_a").values
    return {"control sel. planted": float(control[mask].mean()), "control sel. others": float(control[~mask].mean()),
            "task sel. planted": float(tasks[mask].mean()), "task sel. others": float(tasks[~mask].mean())}


def _analyze(config: dict) -> dict:
    from neurokit.analysis import load_results

    argv = ["analyze", "--train", config["train_a"], config["train_b"], "--eval", config["eval_a"], config["eval_b"],
            "--out", config["results"], "--overwrite"]
    code = config["cli"].main(argv)
    if code != 0:
        raise SystemExit(f"neurokit analyze exited with {code}")
    return {"groups": sum(1 for node in load_results(config["results"]).subtree if node.has_data)}


def _import_for(phase: str, config: dict) -> None:
    """Import what the phase needs before the clock starts (imports are not the analysis's cost)."""
    import dask
    import dask.array  # noqa: F401  (xarray imports it on the first chunked open)
    import zarr  # noqa: F401

    try:  # dask's scheduler lookup imports it on the first compute when it is installed
        import distributed  # noqa: F401
    except ImportError:
        pass
    if phase in ("read-dask", "predictivity", "selectivity"):
        import neurokit.analysis  # noqa: F401
        from neurokit.extract import open_run  # noqa: F401
    if phase == "analyze":
        from neurokit import cli

        cli.build_parser()  # imports every stage, as `neurokit analyze` does
        config["cli"] = cli
    dask.config.set(scheduler="threads", num_workers=config["workers"])


def run_child(phase: str, config: dict) -> None:
    """Child process: run one phase and print one JSON line (seconds, memory, phase facts)."""
    _import_for(phase, config)
    rss_imports = _status_kb("VmRSS")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    facts = {"read-raw": _read_raw, "read-zarr": _read_zarr, "read-dask": _read_dask, "integrity": _integrity,
             "predictivity": _predictivity, "selectivity": _selectivity, "analyze": _analyze}[phase](config)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime - cpu_before
    print(json.dumps({"phase": phase, "seconds": seconds, "cpu_seconds": cpu, "peak_kb": _status_kb("VmHWM"),
                      "rss_imports_kb": rss_imports, "facts": facts}))


def drop_page_cache() -> bool:
    """Write back and drop the page cache (needs root); whether it worked."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def measure(phase: str, config: dict, drop: bool) -> dict:
    dropped = drop and drop_page_cache()
    command = [sys.executable, str(Path(__file__).resolve()), "--child", phase, "--child-config", json.dumps(config)]
    # stderr is inherited: the analyses' progress bars show while the long phases run.
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {result.returncode}); output:\n{result.stdout}")
    row = json.loads(result.stdout.strip().splitlines()[-1])
    row["cache dropped"] = dropped
    return row


# --- report --------------------------------------------------------------------------------------------------


def _meminfo_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _filesystem(path: Path) -> str:
    """Device and type of the filesystem holding ``path``, from /proc/mounts (longest mount point)."""
    best = ("?", "?", "")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, kind = line.split()[:3]
            if str(path.resolve()).startswith(mount) and len(mount) > len(best[2]):
                best = (device, kind, mount)
    except OSError:
        pass
    return f"{best[0]} ({best[1]})"


def machine_description(workdir: Path, workers: int) -> str:
    from neurokit.provenance import package_versions

    cpu = cpu_model()
    import numcodecs

    versions = package_versions() | {"numcodecs": numcodecs.__version__}
    versions.pop("neurokit", None)
    usage = shutil.disk_usage(workdir)
    return (f"{platform.platform()}; {cpu}; {os.cpu_count()} logical CPUs ({len(os.sched_getaffinity(0))} usable), "
            f"{workers} worker threads; {_meminfo_bytes() / 2**30:.1f} GiB RAM; workdir {workdir} on "
            f"{_filesystem(workdir)}, {usage.free / 1e9:.0f} GB free of {usage.total / 1e9:.0f} GB; "
            + ", ".join(f"{name} {version}" for name, version in versions.items()))


def phase_rows(measured: dict[str, dict], disk_bytes: int, reference: float) -> list[dict]:
    what = {
        "read-raw": "the shard files' bytes, no decoding",
        "read-zarr": "zarr, shard by shard: read + decompress",
        "read-dask": "open_run's dask chunks: read + decompress",
        "integrity": "open_run's listing + crc32c of every file (files read, then checked)",
        "predictivity": "SkillNeurons.fit(train).score(eval)",
        "selectivity": "control_selectivity(A) + task_selectivity(A, B)",
        "analyze": "neurokit analyze (all of it, results written)",
    }
    rows = []
    for phase, row in measured.items():
        peak = row["peak_kb"] * 1024 / 1e9
        analysis = phase not in (*READ_PHASES, "read-raw", "integrity")
        ratio = row["seconds"] / reference
        rows.append({
            "phase": phase, "what": what[phase], "seconds": row["seconds"], "CPU s": row["cpu_seconds"],
            "disk MB/s": disk_bytes / row["seconds"] / 1e6, "× read": ratio, "peak RSS GB": peak,
            "RSS after imports GB": row["rss_imports_kb"] * 1024 / 1e9,
            f"time ≤ {TIME_GOAL_RATIO}×": ("yes" if ratio <= TIME_GOAL_RATIO else "NO") if analysis else "",
            f"memory ≤ {MEMORY_GOAL_GB:g} GB": ("yes" if peak <= MEMORY_GOAL_GB else "NO") if analysis else "",
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~0.2 GB and small side stores: a smoke test")
    parser.add_argument("--gigabytes", type=float, default=32.0,
                        help="on-disk size of task A's eval store in GB (1e9 bytes); default 32")
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--neurons", type=int, default=3072)
    parser.add_argument("--prompt-length", type=int, default=15, help="soft-prompt positions (plus mask, input_mean)")
    parser.add_argument("--block-size", type=int, default=64, help="examples per block (shard) of every store")
    parser.add_argument("--train-examples", type=int, default=1024, help="task A's train store (statistics only)")
    parser.add_argument("--side-examples", type=int, default=128,
                        help="task B's train and eval stores (kept small: the selectivity phase reads task B's too)")
    parser.add_argument("--workers", type=int, default=None,
                        help="dask threads (and reader threads of the read phases); default: neurokit's, "
                             "THREADS_PER_CORE per CPU (see neurokit.analysis.results)")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}")
    parser.add_argument("--workdir", default=None,
                        help=f"where the stores live (default {DEFAULT_WORKDIR.relative_to(REPO)}, with --quick "
                             f"{DEFAULT_WORKDIR.relative_to(REPO)}-quick, so a smoke test never replaces a kept store)")
    parser.add_argument("--keep", action="store_true", help="keep the stores (a later run reuses them)")
    parser.add_argument("--no-drop-caches", action="store_true", help="never drop the page cache between phases")
    parser.add_argument("--child", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--child-config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_child(args.child, json.loads(args.child_config))
        return
    if args.quick:
        args.gigabytes, args.train_examples, args.side_examples = 0.2, 128, 64
    if args.workers is None:
        from dask.system import CPU_COUNT

        from neurokit.analysis.results import THREADS_PER_CORE

        args.workers = THREADS_PER_CORE * CPU_COUNT
    phases = [phase.strip() for phase in args.phases.split(",") if phase.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown or not set(phases) & set(READ_PHASES):
        raise SystemExit(f"--phases: unknown {unknown}" if unknown else "--phases needs read-zarr or read-dask")
    command = shlex.join(sys.orig_argv)
    layout = Layout(args.layers, args.neurons, args.prompt_length, args.block_size)
    default = DEFAULT_WORKDIR.with_name(DEFAULT_WORKDIR.name + "-quick") if args.quick else DEFAULT_WORKDIR
    workdir = Path(args.workdir or default).resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    generator = SyntheticActivations(layout)
    per_example = compressed_bytes_per_example(generator, layout)
    blocks = max(1, math.ceil(args.gigabytes * 1e9 / per_example / layout.block_size))
    eval_examples = blocks * layout.block_size
    needed = eval_examples * per_example * 1.02 + 2e8
    existing = directory_bytes(workdir)
    free = shutil.disk_usage(workdir).free
    if needed > free + existing:
        raise SystemExit(f"the stores need about {needed / 1e9:.1f} GB; {workdir} has {free / 1e9:.1f} GB free")
    ram = _meminfo_bytes()

    plans = {
        "eval_a": StorePlan("bench-a-dev", "bench_task_a", "dev", eval_examples, seed=1),
        "train_a": StorePlan("bench-a-train", "bench_task_a", "train", args.train_examples, seed=2),
        "eval_b": StorePlan("bench-b-dev", "bench_task_b", "dev", args.side_examples, seed=3),
        "train_b": StorePlan("bench-b-train", "bench_task_b", "train", args.side_examples, seed=4),
    }
    paths = {key: workdir / f"{plan.name}.zarr" for key, plan in plans.items()}
    print(f"# Predictivity and selectivity at scale\n\ncommand: `{command}`\n", flush=True)
    store_rows = [write_store(paths[key], plan, layout, generator) for key, plan in plans.items()]
    del generator
    disk_bytes = directory_bytes(paths["eval_a"] / "activation")
    config = {key: str(path) for key, path in paths.items()} | {
        "results": str(workdir / "bench-results.zarr"), "workers": args.workers, "block_size": layout.block_size,
        "layout": {"layers": layout.layers, "neurons": layout.neurons, "prompt_length": layout.prompt_length,
                   "block_size": layout.block_size},
    }
    drop = not args.no_drop_caches
    measured = {}
    for phase in phases:
        print(f"phase {phase} ...", file=sys.stderr, flush=True)
        measured[phase] = measure(phase, config, drop)
    dropped = [phase for phase, row in measured.items() if row["cache dropped"]]

    print(f"machine: {machine_description(workdir, args.workers)}\n")
    shard = layout.block_size * layout.example_bytes
    print(f"stores: float16 activations, {layout.layers} layers × {layout.positions} positions "
          f"(mask, prompt_0…prompt_{layout.prompt_length - 1}, input_mean) × {layout.neurons} neurons, "
          f"blocks of {layout.block_size} (inner chunks of {shard / layout.layers / 1e6:.1f} MB, "
          f"shards of {shard / 1e6:.0f} MB); {PLANTED_SHARE:.0%} of the neurons per layer carry each task's label\n")
    print_table(store_rows, {"raw GB": ".2f", "disk GB": ".2f", "raw MB/s": ".0f"})
    size_note = ("larger than RAM" if disk_bytes > ram else
                 "NOT larger than RAM: the time goal is only meaningful for stores larger than RAM")
    print(f"\ntask A eval activations on disk: {disk_bytes / 1e9:.2f} GB, RAM {ram / 1e9:.1f} GB ({size_note})")
    if dropped:
        print(f"page cache dropped (sync; echo 3 > /proc/sys/vm/drop_caches) before: {', '.join(dropped)}")
    elif drop:
        print("page cache could not be dropped (no root); a store larger than RAM cannot stay cached between phases")
    reads = {phase: measured[phase]["seconds"] for phase in READ_PHASES if phase in measured}
    reference_phase = min(reads, key=reads.get)
    reference = reads[reference_phase]
    print(f"reference read + decompress: {reference_phase}, {reference:.1f} s "
          f"({disk_bytes / reference / 1e6:.0f} MB/s of compressed data)\n")
    print_table(phase_rows(measured, disk_bytes, reference),
                {"seconds": ".1f", "CPU s": ".1f", "disk MB/s": ".0f", "× read": ".2f", "peak RSS GB": ".2f",
                 "RSS after imports GB": ".2f"})
    if "integrity" in measured:
        checks = measured["integrity"]["facts"]
        print(f"\nintegrity checks on read (neurokit.extract.integrity): listing {checks['listing s']:.3f} s + "
              f"crc32c {checks['crc32c s']:.3f} s ({checks['crc32c GB/s']:.1f} GB/s, "
              f"{checks['crc32c implementation']}) = {checks['checks s']:.3f} s, "
              f"{checks['checks s'] / reference:.1%} of the reference read (goal ≤ 5 %)")
        read_cpu = measured[reference_phase]["cpu_seconds"]
        print(f"in CPU time (the read spreads its checksums over its threads): crc32c {checks['crc32c CPU s']:.3f} s "
              f"against the reference read's {read_cpu:.1f} s, {checks['crc32c CPU s'] / read_cpu:.1%}")
    facts = [{"phase": phase, **{key: value for key, value in row["facts"].items()}}
             for phase, row in measured.items() if phase in ("predictivity", "selectivity", "analyze")]
    if facts:
        print("\nresults (sanity: planted neurons should stand out):\n")
        for row in facts:
            print("- " + row["phase"] + ": " + ", ".join(
                f"{key} {value:.3f}" if isinstance(value, float) else f"{key} {value}"
                for key, value in row.items() if key != "phase"))
    if not args.keep:
        for path in [*paths.values(), workdir / "bench-results.zarr"]:
            shutil.rmtree(path, ignore_errors=True)
        try:
            workdir.rmdir()  # only if nothing else is left in it
        except OSError:
            pass
    else:
        print(f"\nstores kept in {workdir}")


if __name__ == "__main__":
    main()
