"""``--scheduler`` and ``--workers``: `neurokit analyze` gives the in-memory results on every scheduler, a local
dask.distributed cluster included (its dashboard link printed, its progress in the tqdm bar), and refuses
what cannot work with one line."""

from __future__ import annotations

import re
import socket
import sys

import dask
import numpy as np
import pytest

import neurokit.extract
from neurokit.analysis import analyze_stores, compute_results, load_results
from neurokit.analysis.results import THREADS_PER_CORE, result_groups, scheduler_options
from neurokit.analysis.scheduler import LocalScheduler, SchedulerChoice, use_scheduler
from neurokit.cli import main
from neurokit.errors import ConfigError
from tests.helpers.synthetic_stores import THREE_WAY, make_store, write_store

# Over the fast tier's budget (CONTRIBUTING.md): schedulers and clusters.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two prompts of a binary task and one prompt of a three-way task: train statistics and eval stores."""
    folder = tmp_path_factory.mktemp("stores")
    labels = np.random.default_rng(0).integers(0, 2, 40)
    train, evaluation = [], []
    for index, prompt in enumerate(["p1", "p2"]):
        train.append(write_store(make_store(index, split="train", prompt=prompt, n_examples=50),
                                 folder / f"train-{prompt}.zarr", raw=False))
        evaluation.append(write_store(make_store(10 + index, prompt=prompt, labels=labels),
                                      folder / f"dev-{prompt}.zarr"))
    train.append(write_store(make_store(3, split="train", task="mnli", label_names=THREE_WAY, n_examples=60),
                             folder / "train-mnli.zarr", raw=False))
    evaluation.append(write_store(make_store(13, task="mnli", label_names=THREE_WAY), folder / "dev-mnli.zarr"))
    return {"train": train, "eval": evaluation}


@pytest.fixture(scope="module")
def in_memory(stores):
    """Every result of `neurokit analyze` computed from the stores loaded into memory (numpy, no dask)."""
    readers = neurokit.extract.open_run, neurokit.extract.open_runs
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(neurokit.extract, "open_run", lambda path: readers[0](path).load())
        patch.setattr(neurokit.extract, "open_runs", lambda paths: readers[1](paths).load())
        results = result_groups(analyze_stores(stores["train"], stores["eval"]))
    assert not any(dask.is_dask_collection(variable.data) for ds in results.values()
                   for variable in ds.variables.values())
    return compute_results(results, progress=False)


def _analyze(stores, out, *options: str) -> int:
    return main(["analyze", "--train", *stores["train"], "--eval", *stores["eval"], "--out", str(out), *options])


def _assert_matches(out, expected) -> None:
    tree = load_results(out)
    assert {node.path.strip("/") for node in tree.subtree if node.has_data} == set(expected)
    for group, ds in expected.items():
        stored = tree[group].to_dataset().load()
        for name, variable in ds.variables.items():
            assert stored[name].dims == variable.dims, (group, name)
            if variable.dtype.kind in "fc":
                np.testing.assert_allclose(stored[name].values, variable.values, rtol=1e-12, err_msg=f"{group} {name}")
            else:
                np.testing.assert_array_equal(stored[name].values.astype(variable.dtype), variable.values,
                                              err_msg=f"{group} {name}")


# dask's own process pool is left out (slow to start, and only a dask setting:
# test_use_scheduler_feeds_compute_results);
# test_chunking.py shows that the graphs pickle and compute in worker processes.
@pytest.mark.slow
@pytest.mark.parametrize("options", [[], ["--scheduler", "synchronous"], ["--scheduler", "threads", "--workers", "3"]],
                         ids=["default", "synchronous", "threads"])
def test_analyze_gives_the_in_memory_results_on_every_local_scheduler(stores, in_memory, tmp_path, options):
    assert _analyze(stores, tmp_path / "results.zarr", *options, "--no-progress") == 0
    _assert_matches(tmp_path / "results.zarr", in_memory)


@pytest.mark.slow
def test_analyze_on_a_local_cluster_reports_its_dashboard_and_progress(stores, in_memory, tmp_path, capsys):
    pytest.importorskip("distributed")
    assert _analyze(stores, tmp_path / "results.zarr", "--workers", "1") == 0  # one worker: a process starts slowly
    _assert_matches(tmp_path / "results.zarr", in_memory)
    err = capsys.readouterr().err
    assert "local dask cluster of 1 worker process; dashboard: http://" in err
    # the bar, fed by the cluster's scheduler, counted the graph's tasks (many per result) up to the last one
    done, total = map(int, re.findall(r"analysis: 100%\|[^|]*\| (\d+)/(\d+)", err)[-1])
    assert done == total > 10 * len(in_memory)


@pytest.mark.slow
def test_analyze_on_a_running_cluster_by_its_address(stores, in_memory, tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    # a cluster of threads starts in a moment; the command reaches it only through its address
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        assert _analyze(stores, tmp_path / "results.zarr", "--scheduler", cluster.scheduler_address) == 0
    _assert_matches(tmp_path / "results.zarr", in_memory)
    err = capsys.readouterr().err
    assert f"dask cluster at {cluster.scheduler_address} (1 worker); dashboard: " in err
    assert re.search(r"analysis: 100%\|[^|]*\| (\d+)/\1", err)


def test_use_scheduler_feeds_compute_results(stores):
    default = {"scheduler": "threads", "num_workers": THREADS_PER_CORE * dask.system.CPU_COUNT}
    with use_scheduler(SchedulerChoice()):
        assert scheduler_options() == default
    with use_scheduler(SchedulerChoice("threads")):  # neurokit's thread pool, not dask's one per core
        assert scheduler_options() == default
    with use_scheduler(SchedulerChoice("threads", 3)):
        assert scheduler_options() == {} and dask.config.get("num_workers") == 3
    with use_scheduler(SchedulerChoice("processes")):
        assert scheduler_options() == {} and dask.config.get("scheduler") == "processes"
    with use_scheduler(SchedulerChoice("synchronous")):
        assert dask.config.get("scheduler") == "synchronous"
    assert scheduler_options() == default  # nothing left behind
    assert SchedulerChoice("synchronous").scheduler is LocalScheduler.SYNCHRONOUS
    assert SchedulerChoice("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert SchedulerChoice(workers=4).local_cluster and SchedulerChoice("threads", 4).address is None


@pytest.mark.parametrize(("scheduler", "workers", "message"), [
    ("thread", None, "must be threads, processes, synchronous or the address"),
    ("10.0.0.5:8786", None, "must be threads, processes, synchronous or the address"),
    (None, 0, "--workers must be a positive integer, got 0"),
    ("synchronous", 2, "does not apply to the synchronous scheduler"),
    ("tcp://10.0.0.5:8786", 2, "cannot be combined with a scheduler address"),
])
def test_impossible_choices_are_refused(scheduler, workers, message):
    with pytest.raises(ConfigError, match=message):
        SchedulerChoice(scheduler, workers)


def test_missing_distributed_is_one_line_and_writes_nothing(stores, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    out = tmp_path / "results.zarr"
    assert _analyze(stores, out, "--workers", "2", "--no-progress") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'neurokit[distributed]'" in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_unreachable_scheduler_is_one_line(stores, tmp_path, capsys):
    pytest.importorskip("distributed")
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        assert _analyze(stores, tmp_path / "results.zarr", "--scheduler", f"tcp://127.0.0.1:{port}") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot reach the dask scheduler at tcp://127.0.0.1:{port}" in err
    assert not list(tmp_path.iterdir())

