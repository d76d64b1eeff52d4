"""Extraction throughput and memory: how much the store costs on top of the forward passes.

(a) For each model: examples/s of a bare forward pass (the same batches through ``Backbone.class_scores``,
    no hooks, nothing kept) against a full ``extract_run`` into a store on local disk; the MB/s of stored
    activations and of compressed bytes written, against the disk's sequential write rate (a plain file of
    the same volume written in 8 MB pieces, then fsync'ed). Models: the embedded MiniLM, and RoBERTa-base-
    and T5-base-sized models built from configs with random weights. Inputs are synthetic texts truncated to
    exactly ``--length`` tokens; the prompt has ``--prompt-length`` positions, all stored, every layer.
(b) Peak memory of a child process extracting a small and a 10x larger split with the embedded model
    (``--no-memory-runs``: skipped):
    ru_maxrss (its lifetime peak, which model loading may set) and the peak during the extraction alone
    (the kernel's high-water mark, reset just before): flat if host memory is bounded by the block size,
    not by the split size.

Prints Markdown tables and the machine description. Heavy at the defaults (several GB written); ``--quick``
runs tiny models on a few examples, as a smoke test.

    .venv/bin/python benchmarks/extract_throughput.py [--quick] [--examples 128] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _machine import cpu_model, memory_gib, print_table, write_json

BENCH_TASK = "bench_synthetic_text"
GOAL_RATIO = 0.8
# Common words, about one token each in every tokenizer used here; sentences are long enough to be truncated.
WORDS = ("the of and to in is was for on that with as by at from his her an were are which this be has had "
         "one new first film story time people world city year music game team state school life work home "
         "water house family night light long great small good bad right left high low old young").split()


@dataclass(frozen=True)
class SyntheticSource:
    """Random word sequences of ``words`` words, two classes; any size of any split, deterministic per seed."""

    words: int = 400

    @property
    def splits(self) -> tuple[str, ...]:
        return ("train", "dev", "test")

    def describe(self) -> str:
        return f"synthetic ({self.words} random words per example)"

    def describe_splits(self) -> str:
        return "train, dev, test: any size"

    def load(self, spec, split, size, seed):
        from neurokit.tasks.loading import build_dataset

        count = size or 256
        rng = np.random.default_rng([seed, ("train", "dev", "test").index(split)])
        vocabulary = np.array(WORDS)
        texts = [" ".join(vocabulary[rng.integers(0, len(vocabulary), self.words)]) for _ in range(count)]
        return build_dataset(spec, ids=[f"{split}-{index:06d}" for index in range(count)], texts={"text": texts},
                             labels=np.arange(count) % 2)


def register_bench_task(words: int) -> None:
    from neurokit.tasks import TaskSpec, register_task

    register_task(TaskSpec(name=BENCH_TASK, task_type="sentiment", text_fields=("text",),
                           label_names=("negative", "positive"), label_words=("bad", "good"), template="{text}",
                           source=SyntheticSource(words)), replace=True)


def build_backbone(name: str, device: str):
    from neurokit.models import load_backbone
    from neurokit.models.random import random_backbone

    if name == "embedded":
        return load_backbone(device=device)
    architecture, size = name.rsplit("-", 1)  # e.g. roberta-base, t5-tiny
    backbone = random_backbone(architecture, size=size)
    backbone.model.to(device)
    return backbone


def make_prompt(backbone, length: int, folder: Path) -> Path:
    from neurokit.prompts import PromptMetadata, SoftPrompt

    prompt = SoftPrompt.initialise(backbone, length, "uniform", seed=0)
    return prompt.save_pretrained(folder, PromptMetadata(model_id=backbone.model_id,
                                                         weights_sha256=backbone.weights_sha256))


def bare_forward_seconds(backbone, checkpoint: Path, examples: int, batch_size: int, block_size: int,
                         length: int) -> float:
    """Seconds for the extraction's batches through ``class_scores`` (tokenisation included), no hooks."""
    import torch

    from neurokit.prompts import PromptCheckpoint
    from neurokit.tasks import get_task, load_split

    task = get_task(BENCH_TASK)
    texts = [task.render(example) for example in load_split(task, "dev", size=examples)]
    soft_prompt = PromptCheckpoint.from_pretrained(checkpoint).soft_prompt(backbone)
    prompt = soft_prompt().detach().to(backbone.device)
    verbalizer = backbone.verbalizer(task.label_words)
    batch = min(batch_size, block_size)
    synchronize = torch.cuda.synchronize if backbone.device.type == "cuda" else (lambda: None)
    started = time.perf_counter()
    with torch.inference_mode():
        for block_start in range(0, examples, block_size):
            block_stop = min(block_start + block_size, examples)
            for start in range(block_start, block_stop, batch):
                encoded = backbone.tokenize(texts[start:min(start + batch, block_stop)], length)
                assert encoded["input_ids"].shape[1] == length, "synthetic inputs must fill --length tokens"
                backbone.class_scores(prompt, encoded["input_ids"], encoded["attention_mask"], verbalizer,
                                      soft_prompt.layout)
        synchronize()
    return time.perf_counter() - started


def disk_write_rate(folder: Path, volume: int) -> float:
    """MB/s of writing ``volume`` bytes sequentially (8 MB pieces of incompressible data) and fsync'ing."""
    piece = np.random.default_rng(0).integers(0, 256, 8 << 20, dtype=np.uint8).tobytes()
    path = folder / "disk-rate.bin"
    written = 0
    started = time.perf_counter()
    with open(path, "wb") as handle:
        while written < volume:
            handle.write(piece)
            written += len(piece)
        handle.flush()
        os.fsync(handle.fileno())
    seconds = time.perf_counter() - started
    path.unlink()
    return written / seconds / 1e6


def directory_bytes(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file())


def throughput_row(name: str, args, workdir: Path) -> dict:
    from neurokit.extract import ExtractionConfig, extract_run

    backbone = build_backbone(name, args.device)
    checkpoint = make_prompt(backbone, args.prompt_length, workdir / f"{name}-prompt")
    config = ExtractionConfig(positions=["prompt"], batch_size=args.batch_size, block_size=args.block_size,
                              max_length=args.length)
    # Warm-up (first-call allocations, lazy initialisation), then the measured runs.
    bare_forward_seconds(backbone, checkpoint, min(args.batch_size, args.examples), args.batch_size,
                         args.block_size, args.length)
    forward = bare_forward_seconds(backbone, checkpoint, args.examples, args.batch_size, args.block_size,
                                   args.length)
    store = workdir / f"{name}.zarr"
    started = time.perf_counter()
    extract_run(backbone, checkpoint, BENCH_TASK, "dev", store, config, size=args.examples, progress=False,
                command="benchmarks/extract_throughput.py")
    extraction = time.perf_counter() - started
    import zarr

    activation = zarr.open_group(store, mode="r")["activation"]
    raw_bytes = int(np.prod(activation.shape)) * activation.dtype.itemsize
    disk_bytes = directory_bytes(store)
    shutil.rmtree(store)
    disk_rate = disk_write_rate(workdir, max(disk_bytes, 64 << 20))
    sites = backbone.sites()
    return {
        "model": name, "shape": f"{len(sites)}×{activation.shape[2]}×{sites[0].width}",
        "dtype": str(activation.dtype), "forward ex/s": args.examples / forward,
        "extract ex/s": args.examples / extraction, "× forward": forward / extraction,
        "stored MB/s": raw_bytes / extraction / 1e6, "written MB/s": disk_bytes / extraction / 1e6,
        "disk MB/s": disk_rate, "× disk": disk_bytes / extraction / 1e6 / disk_rate,
        # the goal: extraction keeps up with the forward pass, or with the disk where writing is the limit
        f"≥ {GOAL_RATIO}× forward or disk": "yes" if max(forward / extraction,
                                                         disk_bytes / extraction / 1e6 / disk_rate) >= GOAL_RATIO
        else "NO",
        "store MB": disk_bytes / 1e6,
    }


def child_memory(args) -> None:
    """In a fresh process: extract ``--examples`` examples and print this process's peak RSS as JSON."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from neurokit.extract import ExtractionConfig, extract_run

    register_bench_task(args.words)
    workdir = Path(args.workdir)
    backbone = build_backbone(args.memory_model, args.device)
    checkpoint = make_prompt(backbone, args.memory_prompt_length, workdir / f"memory-{args.examples}-prompt")
    config = ExtractionConfig(positions=["prompt", "input_mean"], batch_size=args.batch_size,
                              block_size=args.block_size, max_length=args.length)
    # Loading the model can set the lifetime peak (ru_maxrss) by itself; so the peak of the extraction alone
    # is read too: the kernel's high-water mark (VmHWM), reset just before extracting.
    rss_before = _status_mb("VmRSS")
    reset = _reset_peak()
    started = time.perf_counter()
    store = workdir / f"memory-{args.examples}.zarr"
    extract_run(backbone, checkpoint, BENCH_TASK, "dev", store, config, size=args.examples, progress=False)
    seconds = time.perf_counter() - started
    extraction_peak = _status_mb("VmHWM") if reset else float("nan")
    lifetime_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    stored = directory_bytes(store)
    shutil.rmtree(store)
    print(json.dumps({"examples": args.examples, "ru_maxrss MB": lifetime_peak, "RSS before MB": rss_before,
                      "extraction peak MB": extraction_peak, "growth MB": extraction_peak - rss_before,
                      "seconds": seconds, "store MB": stored / 1e6}))


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (kB) in MB; NaN where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _reset_peak() -> bool:
    """Reset this process's resident-set high-water mark (Linux >= 4.0); whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_rows(args, workdir: Path) -> list[dict]:
    rows = []
    for examples in args.memory_examples:
        command = [sys.executable, __file__, "--child-memory", "--examples", str(examples), "--workdir", str(workdir),
                   "--device", args.device, "--batch-size", str(args.batch_size), "--block-size",
                   str(args.block_size), "--length", str(args.length), "--words", str(args.words),
                   "--memory-model", args.memory_model, "--memory-prompt-length", str(args.memory_prompt_length),
                   "--threads", str(args.threads)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"memory child failed:\n{result.stderr}")
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return rows


def machine_description(workdir: Path) -> str:
    import torch

    cpu = cpu_model()
    memory = memory_gib()
    memory_text = f"{memory:.0f} GiB RAM" if memory is not None else "RAM unknown"
    usage = shutil.disk_usage(workdir)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.platform()}; {cpu}; {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}; "
            f"{memory_text}; {gpu}; Python {platform.python_version()}, torch {torch.__version__}; "
            f"workdir {workdir} ({usage.free / 1e9:.0f} GB free)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny models and sizes: a smoke test")
    parser.add_argument("--models", default=None,
                        help="comma-separated: embedded, or <bert|roberta|t5|t5-gated|gpt2|llama>-<tiny|base> "
                             "(default embedded,roberta-base,t5-base; with --quick embedded,roberta-tiny,t5-tiny)")
    parser.add_argument("--examples", type=int, default=128, help="examples per throughput run")
    parser.add_argument("--prompt-length", type=int, default=100)
    parser.add_argument("--length", type=int, default=128, help="input tokens per example (exactly)")
    parser.add_argument("--words", type=int, default=400, help="words per synthetic text (must exceed --length)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--block-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--memory-examples", default="1000,10000", help="split sizes for the peak-memory runs")
    parser.add_argument("--memory-model", default="embedded")
    parser.add_argument("--no-memory-runs", action="store_true", help="skip (b), the peak-memory runs")
    parser.add_argument("--memory-prompt-length", type=int, default=8,
                        help="prompt positions in the memory runs (small, so that 10k examples stay ~1 GB on disk)")
    parser.add_argument("--workdir", default=None, help="folder on the local disk to write stores in")
    parser.add_argument("--json", help="also write the throughput rows and settings to this JSON file "
                                       "(study_cost.py reads it)")
    parser.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.models, args.examples, args.prompt_length = args.models or "embedded,roberta-tiny,t5-tiny", 12, 4
        args.length, args.words = 32, 60
        args.batch_size, args.block_size, args.memory_examples, args.memory_prompt_length = 4, 4, "16,64", 4
    args.models = args.models or "embedded,roberta-base,t5-base"
    if args.child_memory:
        child_memory(args)
        return
    args.memory_examples = [int(size) for size in args.memory_examples.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="neurokit-bench-", dir=args.workdir))
    try:
        # The memory children run first, while this process holds no model: a child's ru_maxrss starts from
        # the RSS of the process it was forked from.
        memory = [] if args.no_memory_runs else memory_rows(args, workdir)
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        register_bench_task(args.words)
        machine = machine_description(workdir)
        print(f"machine: {machine}\n")
        print(f"(a) throughput: {args.examples} examples of exactly {args.length} tokens, prompt of "
              f"{args.prompt_length} positions (all stored, every layer), batches of {args.batch_size}, blocks of "
              f"{args.block_size}, device {args.device}\n")
        rows = [throughput_row(name.strip(), args, workdir) for name in args.models.split(",")]
        print_table(rows, {"forward ex/s": ".1f", "extract ex/s": ".1f", "× forward": ".2f", "stored MB/s": ".0f",
                           "written MB/s": ".0f", "disk MB/s": ".0f", "× disk": ".2f", "store MB": ".0f"})
        write_json(args.json, rows, {"batch_size": args.batch_size, "prompt_length": args.prompt_length,
                                     "length": args.length, "device": args.device}, machine)
        if not memory:
            return
        print(f"\n(b) peak memory of a child process: {args.memory_model}, prompt of {args.memory_prompt_length} "
              f"positions + input_mean, every layer, blocks of {args.block_size}\n")
        print_table(memory, {"ru_maxrss MB": ".0f", "RSS before MB": ".0f", "extraction peak MB": ".0f",
                             "growth MB": "+.0f", "seconds": ".1f", "store MB": ".0f"})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

if __name__ == "__main__":
    main()
