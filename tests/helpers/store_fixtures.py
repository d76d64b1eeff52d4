"""Synthetic runs for the store tests, shared by the test modules and by writer subprocesses.

Run as a script, it fills a store in a process of its own, optionally killing itself with SIGKILL at a
chosen moment:  ``python store_fixtures.py '{"path": ..., "spec": {...}, "shard": [0, 1], "kill": ...}'``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import zarr

from neurokit.extract import ActivationStoreWriter, Provenance, StoreSpec

ROLES = ("mask", "prompt_0", "prompt_1", "input_mean")


def make_provenance(**overrides) -> Provenance:
    fields = dict(
        model_id="test/tiny-roberta", model_revision="rev-1", weights_sha256="a" * 64,
        model_config={"hidden_size": 8, "num_hidden_layers": 3}, prompt_sha256="b" * 64,
        prompt_metadata={"seed": 0, "length": 2}, task={"name": "sst2", "labels": ["negative", "positive"]},
        template="{mask} {prompt} {text}", verbalizer={"negative": ["bad"], "positive": ["good"]},
        split="dev", dtype_policy="float16 for RoBERTa", prompt_layout="prepend", command="pytest",
        versions={"neurokit": "test"},
    )
    fields.update(overrides)
    return Provenance(**fields)


def make_spec(
    n_examples: int = 10,
    n_layers: int = 3,
    n_neurons: int = 8,
    block_size: int = 4,
    stored_dtype: str = "float16",
    compute_train_stats: bool = False,
    store_raw_activations: bool = True,
    **provenance_overrides,
) -> StoreSpec:
    """A small spec: E examples "ex-000".., L layers, the 4 ROLES, N neurons, classes negative/positive."""
    if compute_train_stats:
        provenance_overrides.setdefault("split", "train")
    return StoreSpec(
        example_ids=[f"ex-{index:03d}" for index in range(n_examples)],
        class_names=["negative", "positive"],
        sites=[f"encoder.layer.{layer}.ffn" for layer in range(n_layers)],
        layers=list(range(n_layers)),
        position_roles=ROLES,
        n_neurons=n_neurons,
        stored_dtype=stored_dtype,
        provenance=make_provenance(**provenance_overrides),
        store_raw_activations=store_raw_activations,
        compute_train_stats=compute_train_stats,
        block_size=block_size,
    )


def synthetic_run(spec: StoreSpec, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic per-example data for ``spec``: activation (E, L, P, N) float32 within float16 range."""
    rng = np.random.default_rng(seed)
    n_examples, n_classes = spec.n_examples, len(spec.class_names)
    return {
        "activation": (rng.normal(size=spec.activation_shape) * 3).astype(np.float32),
        "label": rng.integers(0, n_classes, n_examples),
        "prediction": rng.integers(0, n_classes, n_examples),
        "logits": rng.normal(size=(n_examples, n_classes)).astype(np.float32),
        "input_length": rng.integers(1, 40, n_examples),
    }


def write_blocks(writer: ActivationStoreWriter, run: dict[str, np.ndarray], blocks=None) -> None:
    """Write ``blocks`` (default: all pending ones) of ``run``."""
    for block in writer.pending_blocks() if blocks is None else blocks:
        rows = writer.spec.block_slice(block)
        writer.write_block(
            block, run["activation"][rows], label=run["label"][rows], prediction=run["prediction"][rows],
            logits=run["logits"][rows], input_length=run["input_length"][rows],
        )


def fill_store(path, spec: StoreSpec, seed=0, shard=(0, 1), finalize=True, overwrite=False) -> bool:
    """Write every pending block of ``shard`` and (optionally) finalize; returns whether the store is complete."""
    with ActivationStoreWriter.create_or_resume(path, spec, shard=tuple(shard), overwrite=overwrite) as writer:
        write_blocks(writer, synthetic_run(spec, seed))
        return writer.finalize() if finalize else False


def store_contents(path) -> tuple[dict[str, np.ndarray], dict]:
    """Every array of the store exactly as stored (raw bits), and the attributes without the times."""
    group = zarr.open_group(path, mode="r")
    arrays = {name: array[...] for name, array in group.arrays()}
    attrs = {key: value for key, value in group.attrs.items() if key not in ("started_at", "finished_at")}
    return arrays, attrs


def assert_same_arrays(arrays: dict[str, np.ndarray], expected_arrays: dict[str, np.ndarray], exact_stats: bool = True,
                       equal_nan: bool = False) -> None:
    """The same variables with the same dtypes and values bit for bit (the train sums to float64 rounding if not
    ``exact_stats``; NaN equal to NaN in float variables if ``equal_nan``)."""
    assert sorted(arrays) == sorted(expected_arrays)
    for name, expected in expected_arrays.items():
        assert arrays[name].dtype == expected.dtype, name
        if not exact_stats and name in ("train_sum", "train_sumsq"):
            np.testing.assert_allclose(arrays[name], expected, rtol=1e-12, err_msg=name)
        else:
            assert np.array_equal(arrays[name], expected, equal_nan=equal_nan and expected.dtype.kind == "f"), name


def assert_same_store(path, reference, exact_stats: bool = True) -> None:
    """The two stores hold the same arrays bit for bit (train sums to float64 rounding if not
    ``exact_stats``), the same attributes apart from the times, and the same files."""
    arrays, attrs = store_contents(path)
    expected_arrays, expected_attrs = store_contents(reference)
    assert attrs == expected_attrs
    assert_same_arrays(arrays, expected_arrays, exact_stats, equal_nan=True)
    files = sorted(str(file.relative_to(path)) for file in Path(path).rglob("*") if file.is_file())
    expected_files = sorted(str(file.relative_to(reference)) for file in Path(reference).rglob("*") if file.is_file())
    assert files == expected_files


def _install_kill(point: str, at: int) -> None:
    """Make this process SIGKILL itself at the ``at``-th (1-based) occurrence of ``point``."""
    import neurokit.extract.backends as backends_module

    counts = {"n": 0}

    def hit() -> bool:
        counts["n"] += 1
        return counts["n"] == at

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "after_write_block":  # the caller returns from write_block; the block may still be queued
        original_write_block = ActivationStoreWriter.write_block

        def write_block(self, *args, **kwargs):
            original_write_block(self, *args, **kwargs)
            if hit():
                die()

        ActivationStoreWriter.write_block = write_block
    elif point in ("mid_block", "mid_finalize"):  # activation written, per-example data not yet / stats written
        target = "label" if point == "mid_block" else "train_sumsq"
        original_setitem = zarr.Array.__setitem__

        def setitem(self, selection, value):
            original_setitem(self, selection, value)
            if self.basename == target and hit():
                die()

        zarr.Array.__setitem__ = setitem
    elif point == "torn_shard":  # zarr dies halfway through writing a shard file (its temporary copy)
        from zarr.storage import LocalStore

        original_set = LocalStore.set

        async def set_(self, key, value):
            if key.startswith("activation/c/") and hit():
                partial = Path(self.root) / f"{key}.torn.partial"
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_bytes(value.to_bytes()[: len(value) // 2])
                die()
            await original_set(self, key, value)

        LocalStore.set = set_
    elif point in ("mid_snapshot", "before_cleanup"):  # snapshot temp written, not renamed / store complete
        original_replace, original_rmtree = os.replace, backends_module.shutil.rmtree

        def replace(source, destination, *args, **kwargs):
            if point == "mid_snapshot" and str(destination).endswith(".npz") and hit():
                die()
            return original_replace(source, destination, *args, **kwargs)

        def rmtree(path, *args, **kwargs):
            if point == "before_cleanup" and Path(path).name == "_neurokit_progress" and hit():
                die()
            return original_rmtree(path, *args, **kwargs)

        os.replace = replace
        backends_module.shutil.rmtree = rmtree
    else:
        raise ValueError(f"unknown kill point {point!r}")


def main(config: dict) -> None:
    if config.get("kill"):
        _install_kill(config["kill"]["point"], config["kill"]["at"])
    complete = fill_store(config["path"], make_spec(**config["spec"]), seed=config.get("seed", 0),
                          shard=config.get("shard", (0, 1)), finalize=config.get("finalize", True))
    print(json.dumps({"complete": complete}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
