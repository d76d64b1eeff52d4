"""CPU per chunk of the predictivity kernel (neurokit.analysis.kernels), in one process, without the read.

One chunk as ``benchmarks/analysis_scale.py`` gives it to the kernel: float16 activations of one run, 192
examples (three blocks of 64), one layer, the 16 prompt positions of 17 stored (a view, not a copy), 3,072
neurons (18.9 MB); GELU of Gaussian pre-activations; baselines are the chunk's means; labels random, binary.
Reports the kernel's CPU time with one labelling (predictivity) and two (real and control labels: control
selectivity), and, as the floor of any kernel, one numpy pass that only reads the chunk (the maximum of its
int16 view).
CPU time, not wall time: on a shared machine it is the robust number; the minimum and median of ``--repeats``.
The kernel is compiled (or loaded from numba's cache) before the clock starts.

``--compare-with DIR`` also times the kernel of another checkout (DIR/neurokit/analysis/kernels.py),
alternating with this one in the same process, and checks that both count the same.

    .venv/bin/python benchmarks/analysis_kernel.py [--repeats 150] [--compare-with DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np

from neurokit.analysis import kernels

EXAMPLES, POSITIONS, STORED_POSITIONS, NEURONS = 192, 16, 17, 3072


def load_kernels(checkout: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("other_kernels", checkout / "neurokit" / "analysis" / "kernels.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no neurokit/analysis/kernels.py in {checkout}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cpu_ms(function: Callable[[], object]) -> float:
    started = time.process_time()
    function()
    return (time.process_time() - started) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=150)
    parser.add_argument("--compare-with", type=Path, help="another checkout whose kernel to time alternately")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pre = rng.standard_normal((1, EXAMPLES, 1, STORED_POSITIONS, NEURONS), dtype=np.float32) * 1.2 - 0.5
    stored = (0.5 * pre * (1 + np.tanh(0.7978846 * (pre + 0.044715 * pre**3)))).astype(np.float16)
    activation = stored[:, :, :, :POSITIONS]
    threshold = kernels.comparable_thresholds(activation.astype(np.float64).mean(axis=1)[:, None], activation.dtype)
    real = rng.integers(0, 2, (1, 1, 1, EXAMPLES))
    control = rng.permutation(real[0, 0, 0])[None, None, None]
    labellings = {"1 labelling": real, "2 labellings": np.concatenate([real, control])}
    versions = {"this checkout": kernels}
    if args.compare_with:
        versions[str(args.compare_with)] = load_kernels(args.compare_with)
    bits = activation.view(np.int16)  # numpy compares float16 element by element, int16 in vectors
    for module in versions.values():  # compiled (or loaded from the cache) before the clock starts
        module._above_counts_block(activation, threshold, real, 2)

    times: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for version, module in versions.items():
            for name, labels in labellings.items():
                times.setdefault(f"kernel, {name} ({version})", []).append(
                    cpu_ms(lambda m=module, y=labels: m._above_counts_block(activation, threshold, y, 2)))
        times.setdefault("one read of the chunk (numpy maximum of its int16 view)", []).append(cpu_ms(bits.max))
    if args.compare_with:
        for labels in labellings.values():
            counts = [module._above_counts_block(activation, threshold, labels, 2) for module in versions.values()]
            if not np.array_equal(*counts):
                raise SystemExit("the two kernels count differently")
    print(f"command: `{' '.join(sys.orig_argv)}`\n")
    print(f"one chunk: {EXAMPLES} examples × 1 layer × {POSITIONS} positions × {NEURONS} neurons float16 "
          f"({activation.nbytes / 1e6:.1f} MB); CPU ms per chunk, {args.repeats} repeats\n")
    print("| what | min ms | median ms |\n|---|---|---|")
    for name, values_ms in times.items():
        print(f"| {name} | {min(values_ms):.2f} | {statistics.median(values_ms):.2f} |")


if __name__ == "__main__":
    main()
