"""Results do not depend on where the data live or how they are chunked: numpy, dask threads, a
dask.distributed cluster and random (irregular) chunks all give the same numbers."""

from __future__ import annotations

import threading

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from neurokit.analysis import SkillNeurons, auroc, compute_results
from neurokit.analysis.results import THREADS_PER_CORE, scheduler_options
from tests.helpers.synthetic_stores import THREE_WAY, combine_runs, make_store

LABELS = np.random.default_rng(0).integers(0, 3, 30)
TRAIN = combine_runs([make_store(seed, label_names=THREE_WAY, split="train", n_examples=40, prompt=f"p{seed}",
                                 statistics=True) for seed in (1, 2)])
DATA = combine_runs([make_store(seed + 10, label_names=THREE_WAY, n_examples=30, prompt=f"p{seed}", labels=LABELS)
                     for seed in (1, 2)])


def streaming(train: xr.Dataset, data: xr.Dataset) -> xr.Dataset:
    """The analyses that reduce over example chunks as they stream."""
    model = SkillNeurons().fit(train)
    score = model.score(data)
    return xr.Dataset({"accuracy": score["accuracy"], "score": score["score"], "skill": score["skill"],
                       "control": model.control_selectivity(data, seed=3)["selectivity"]})


def slabs(train: xr.Dataset, data: xr.Dataset, slab_bytes: int) -> xr.Dataset:
    """The analyses that need every example of a neuron (rechunked into slabs)."""
    model = SkillNeurons().fit(train)
    return xr.Dataset({
        "q_value": model.permutation_test(data, n_permutations=20, seed=4, slab_bytes=slab_bytes)["q_value"],
        "interval": model.bootstrap(data, n_resamples=20, seed=5, slab_bytes=slab_bytes),
        "auroc": auroc(data, slab_bytes=slab_bytes),
    })


def everything(train: xr.Dataset, data: xr.Dataset, slab_bytes: int = 2**20) -> xr.Dataset:
    return streaming(train, data).assign(slabs(train, data, slab_bytes).data_vars)


EXPECTED = everything(TRAIN, DATA).compute()


def test_in_memory_results_are_numpy():
    assert all(variable.chunks is None for variable in everything(TRAIN, DATA).data_vars.values())


def test_dask_threads_equal_in_memory():
    lazy = everything(TRAIN.chunk({"example": 9, "neuron": 5}), DATA.chunk({"example": 8, "neuron": 7}))
    with dask.config.set(scheduler="threads"):
        xr.testing.assert_allclose(lazy.compute(), EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("processes", [False, True], ids=["threads", "worker-processes"])
def test_distributed_cluster_equals_in_memory(processes):
    # Worker processes also prove that the graphs pickle and run away from the client's memory.
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2 if processes else 1, threads_per_worker=1 if processes else 2,
                                  processes=processes, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        assert scheduler_options() == {}  # the user's cluster, not neurokit's threads
        lazy = everything(TRAIN.chunk({"example": 11}), DATA.chunk({"example": 13, "layer": 1}))
        xr.testing.assert_allclose(lazy.compute(), EXPECTED)


def _compute_waiting_for(parties: int, **config) -> set[str]:
    """compute_results over 2 × ``parties`` tasks that each wait until ``parties`` of them run at once; the
    names of the threads that ran them. The barrier's timeout is no speed limit: it only turns a deadlock
    (fewer threads than ``parties``, which then wait forever) into a BrokenBarrierError, and is generous so
    that a loaded machine that starts the threads late still passes."""
    barrier = threading.Barrier(parties, timeout=600)
    names: list[str] = []

    def wait(block: np.ndarray) -> np.ndarray:
        names.append(threading.current_thread().name)
        barrier.wait()
        return block

    lazy = da.zeros(2 * parties, chunks=1).map_blocks(wait, meta=np.array((), dtype=float))
    with dask.config.set(**config):
        compute_results({"r": xr.Dataset({"x": (("i",), lazy)})}, progress=False)
    return set(names)


def test_compute_results_uses_threads_per_core_unless_the_user_chose_a_scheduler():
    threads = THREADS_PER_CORE * dask.system.CPU_COUNT
    assert scheduler_options() == {"scheduler": "threads", "num_workers": threads}
    assert len(_compute_waiting_for(threads)) == threads  # all of them at once
    with dask.config.set(num_workers=3):
        assert scheduler_options() == {}
    with dask.config.set(scheduler="synchronous"):
        assert scheduler_options() == {}
    assert _compute_waiting_for(1, scheduler="synchronous") == {threading.current_thread().name}


@pytest.mark.slow
@pytest.mark.parametrize("slab_bytes", [1, 5000, 2**30])
def test_slab_size_does_not_matter(slab_bytes):
    lazy = slabs(TRAIN.chunk({"example": 7}), DATA.chunk({"example": 6, "position": 2}), slab_bytes)
    with dask.config.set(scheduler="synchronous"):
        xr.testing.assert_allclose(lazy.compute(), EXPECTED[list(lazy.data_vars)])


def irregular_chunks(size: int, most: int) -> st.SearchStrategy[tuple[int, ...]]:
    """A random partition of ``size`` into at most ``most`` chunks of any (also unequal, also 1) sizes."""
    cuts = st.lists(st.integers(1, size - 1), max_size=most - 1, unique=True) if size > 1 else st.just([])
    return cuts.map(lambda points: tuple(np.diff([0, *sorted(points), size]).tolist()))


def chunkings(ds: xr.Dataset) -> st.SearchStrategy[dict[str, tuple[int, ...]]]:
    most = {"example": 4, "run": 2, "layer": 2, "position": 2, "neuron": 2}
    return st.fixed_dictionaries({dim: irregular_chunks(ds.sizes[dim], count) for dim, count in most.items()})


@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(train_chunks=chunkings(TRAIN), data_chunks=chunkings(DATA))
def test_any_chunking_gives_the_same_results(train_chunks, data_chunks):
    lazy = streaming(TRAIN.chunk(train_chunks), DATA.chunk(data_chunks))
    with dask.config.set(scheduler="synchronous"):
        xr.testing.assert_allclose(lazy.compute(), EXPECTED[list(lazy.data_vars)])
