"""Chunk/shard layouts for the ``activation`` array: write time, size, and read+reduce time.

Writes the same synthetic float16 activations (GELU of Gaussian pre-activations) block by block, as the
extraction writer does, under each layout, then times the analyses' access pattern, reductions over
examples per neuron, through plain ``xarray.open_zarr`` (Dask chunks = zarr inner chunks). Prints seconds
(median of repeats) and ratios to the chosen layout. Results go to docs/store-format.md.

    .venv/bin/python benchmarks/extract_layouts.py [--examples 512] [--neurons 3072] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr
import zarr
from zarr.codecs import ZstdCodec

DIMS = ("example", "layer", "position", "neuron")


def layouts(block: int, n_layers: int, n_positions: int, n_neurons: int) -> dict[str, tuple[tuple, tuple | None]]:
    """name -> (inner chunks, shards or None)."""
    whole_block = (block, n_layers, n_positions, n_neurons)
    return {
        "A block shard, chunk per layer (chosen)": ((block, 1, n_positions, n_neurons), whole_block),
        "B block shard, chunk per layer+position": ((block, 1, 1, n_neurons), whole_block),
        "C no shard, file per block+layer": ((block, 1, n_positions, n_neurons), None),
        "D block shard, one chunk per block": (whole_block, whole_block),
    }


def synthetic_block(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    pre = rng.normal(-0.5, 1.2, size=shape).astype(np.float32)
    return (0.5 * pre * (1 + np.tanh(0.7978846 * (pre + 0.044715 * pre**3)))).astype(np.float16)


def write_store(path: Path, shape: tuple[int, ...], block: int, chunks: tuple, shards: tuple | None) -> float:
    array = zarr.open_group(path, mode="w", zarr_format=3).create_array(
        "activation", shape=shape, dtype=np.float16, chunks=chunks, shards=shards, fill_value=np.nan,
        compressors=(ZstdCodec(level=3),), dimension_names=DIMS,
    )
    rng = np.random.default_rng(0)
    seconds = 0.0
    for start in range(0, shape[0], block):
        values = synthetic_block(rng, (min(block, shape[0] - start), *shape[1:]))
        began = time.perf_counter()
        array[start:start + block] = values
        seconds += time.perf_counter() - began
    return seconds


def timed(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--positions", type=int, default=16)
    parser.add_argument("--neurons", type=int, default=3072)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    shape = (args.examples, args.layers, args.positions, args.neurons)
    print(f"activation {shape} float16 = {np.prod(shape) * 2 / 1e6:.0f} MB, blocks of {args.block} examples")
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, (chunks, shards) in layouts(args.block, *shape[1:]).items():
            path = Path(scratch) / f"{len(results)}.zarr"
            write_seconds = write_store(path, shape, args.block, chunks, shards)
            size = sum(file.stat().st_size for file in path.rglob("*") if file.is_file())

            def reduce(path: Path = path, **selection) -> None:  # this iteration's store, bound now
                activation = xr.open_zarr(path, consolidated=False)["activation"].isel(selection)
                activation.mean("example", dtype=np.float64).compute()

            results[name] = {
                "write": write_seconds,
                "MB": size / 1e6,
                "files": sum(1 for file in path.rglob("*") if file.is_file()),
                "mean all": timed(reduce, args.repeats),
                "mean 1 layer": timed(lambda: reduce(layer=0), args.repeats),
                "mean 1 position": timed(lambda: reduce(position=0), args.repeats),
            }
    chosen = next(iter(results.values()))
    columns = list(chosen)
    print(f"{'layout':<42}" + "".join(f"{column:>17}" for column in columns))
    for name, row in results.items():
        cells = []
        for column in columns:
            if column in ("MB", "files"):
                cells.append(f"{row[column]:>17.0f}")
            else:
                cells.append(f"{row[column]:>8.2f}s ({row[column] / chosen[column]:4.2f}x)")
        print(f"{name:<42}" + "".join(cells))


if __name__ == "__main__":
    main()
