"""Which dask scheduler runs the analyses: the ``--scheduler`` and ``--workers`` options, a local or remote
``dask.distributed`` cluster, and a progress bar fed by a cluster's scheduler.

:func:`~neurokit.analysis.results.compute_results` decides the scheduler (:func:`~neurokit.analysis.results.
scheduler_options`): neurokit's threads unless the user chose one. :func:`use_scheduler` is how a choice made on
the command line reaches it: through dask's configuration, or a ``dask.distributed`` Client that dask then uses
as its default scheduler. ``distributed`` is an optional dependency (``pip install 'neurokit[distributed]'``),
imported only when a cluster is asked for.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum

import dask

from neurokit.errors import ConfigError, NeurokitError
from neurokit.validation import integer

#: dask threads in each worker process of the local cluster that ``--workers N`` starts. One: the worker
#: processes already keep several reads in flight, and with two workers two threads each were slower than one
#: (docs/benchmarks.md, "dask.distributed on this machine").
THREADS_PER_WORKER = 1

_ADDRESS = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")
_INSTALL_HINT = "pip install 'neurokit[distributed]'"


class LocalScheduler(str, Enum):
    """dask's schedulers inside this process (threads, processes) or without parallelism (synchronous)."""

    THREADS = "threads"
    PROCESSES = "processes"
    SYNCHRONOUS = "synchronous"


@dataclass(frozen=True)
class SchedulerChoice:
    """Where dask graphs run, as the user chose it (validated on construction).

    - ``scheduler``: ``None`` (neurokit's default: threads, ``THREADS_PER_CORE`` per core), a
      :class:`LocalScheduler` value, or the address of a running ``dask.distributed`` scheduler
      (``tcp://10.0.0.5:8786``);
    - ``workers``: without ``scheduler``, a local ``dask.distributed`` cluster of that many worker processes
      (:data:`THREADS_PER_WORKER` threads each); with ``threads`` or ``processes``, the size of that pool.
    """

    scheduler: LocalScheduler | str | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        scheduler = self.scheduler
        if scheduler is not None and not isinstance(scheduler, LocalScheduler):
            if scheduler in {item.value for item in LocalScheduler}:
                object.__setattr__(self, "scheduler", LocalScheduler(scheduler))
            elif not _ADDRESS.match(str(scheduler)):
                raise ConfigError(f"--scheduler must be threads, processes, synchronous or the address of a "
                                  f"dask.distributed scheduler (tcp://HOST:PORT), got {scheduler!r}")
        if self.workers is not None:  # a flag left out, not a Python None to mention
            integer(self.workers, "--workers")
        if self.workers is not None and self.scheduler is LocalScheduler.SYNCHRONOUS:
            raise ConfigError("--workers does not apply to the synchronous scheduler (one task at a time)")
        if self.workers is not None and self.address is not None:
            raise ConfigError("--workers starts a local cluster and cannot be combined with a scheduler address "
                              "(that cluster has its own workers)")

    @property
    def local(self) -> LocalScheduler | None:
        """The scheduler in this process (threads, processes, synchronous), or None."""
        return self.scheduler if isinstance(self.scheduler, LocalScheduler) else None

    @property
    def address(self) -> str | None:
        """The remote scheduler's address, or None for every other choice."""
        return self.scheduler if isinstance(self.scheduler, str) and self.local is None else None

    @property
    def local_cluster(self) -> bool:
        """Whether this choice starts a local ``dask.distributed`` cluster (``--workers`` alone)."""
        return self.scheduler is None and self.workers is not None


def add_scheduler_arguments(parser: argparse.ArgumentParser) -> None:
    """``--scheduler`` and ``--workers`` for a command whose work runs on dask (read by :func:`scheduler_choice`)."""
    parser.add_argument("--scheduler", default=None, metavar="SCHEDULER",
                        help="dask scheduler: threads (default: two per CPU core), processes, synchronous, or the "
                             "address of a dask.distributed scheduler, e.g. tcp://127.0.0.1:8786")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="alone: start a local dask.distributed cluster of N worker processes; with "
                             "--scheduler threads or processes: the pool's size")


def scheduler_choice(args: argparse.Namespace) -> SchedulerChoice:
    return SchedulerChoice(args.scheduler, args.workers)


def _import_distributed():
    try:
        import distributed
    except ImportError as error:
        raise NeurokitError(f"a dask.distributed cluster needs the package 'distributed' ({_INSTALL_HINT})") \
            from error
    return distributed


@contextmanager
def use_scheduler(choice: SchedulerChoice) -> Iterator[None]:
    """Inside the block, dask graphs (and so :func:`~neurokit.analysis.results.compute_results`) run where
    ``choice`` says. A cluster's dashboard link is printed on stderr; a local cluster is shut down when the
    block ends, also when it raises."""
    if choice.address is None and not choice.local_cluster:
        settings: dict = {}
        if choice.local is not None and (choice.local is not LocalScheduler.THREADS or choice.workers):
            # threads without --workers is neurokit's default pool, which compute_results sizes itself
            settings["scheduler"] = choice.local.value
            if choice.workers is not None:
                settings["num_workers"] = choice.workers
        with dask.config.set(settings):
            yield
        return
    distributed = _import_distributed()
    if choice.workers is not None:  # a local cluster; its dashboard listens on this machine only
        with distributed.LocalCluster(n_workers=choice.workers, threads_per_worker=THREADS_PER_WORKER,
                                      processes=True, dashboard_address="127.0.0.1:0") as cluster, \
                distributed.Client(cluster) as client:
            plural = "es" * (choice.workers != 1)
            _announce_dashboard(client, f"local dask cluster of {choice.workers} worker process{plural}")
            yield
        return
    try:
        client = distributed.Client(choice.address)
    except (OSError, TimeoutError) as error:
        raise NeurokitError(f"cannot reach the dask scheduler at {choice.address}: "
                            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from error
    with client:
        workers = len(client.nthreads())
        _announce_dashboard(client, f"dask cluster at {choice.address} ({workers} worker{'s' * (workers != 1)})")
        yield


def _announce_dashboard(client, what: str) -> None:
    link = client.dashboard_link if "dashboard" in client.scheduler_info().get("services", {}) else None
    print(f"{what}; dashboard: {link or 'none'}", file=sys.stderr)


def distributed_client():
    """The ``dask.distributed`` Client that dask uses as its scheduler right now, or None (never imports
    ``distributed`` itself: a Client exists only where it was imported)."""
    if "distributed" not in sys.modules:
        return None
    from dask.base import get_scheduler
    from distributed import Client

    client = getattr(get_scheduler(), "__self__", None)
    return client if isinstance(client, Client) else None


def compute_on_cluster(client, arrays: Sequence, description: str, progress: bool) -> list:
    """Compute dask ``arrays`` together on ``client``'s cluster (one graph: shared reads), with a tqdm bar over
    the graph's tasks, fed by the cluster's scheduler, unless ``progress`` is off."""
    futures = client.compute(list(arrays))
    try:
        if progress:
            _cluster_progress(futures, description)
        return client.gather(futures)
    finally:
        for future in futures:
            future.release()


def _cluster_progress(futures: list, description: str) -> None:
    """Block until ``futures`` finish (or one fails), drawing a tqdm bar of their graph's tasks as the
    cluster's scheduler reports them (``distributed.diagnostics.progressbar``, polled every 100 ms)."""
    from distributed.diagnostics.progressbar import TextProgressBar
    from tqdm.auto import tqdm

    class TqdmProgressBar(TextProgressBar):
        def __init__(self, keys) -> None:
            self.bar = tqdm(desc=description, unit="task")
            super().__init__(keys, interval="100ms")  # listens until the tasks are done

        def _draw_bar(self, remaining: int, all: int, **kwargs) -> None:  # "all": the name distributed passes
            self.bar.total = all
            self.bar.n = all - remaining
            self.bar.refresh()

        def _draw_stop(self, **kwargs) -> None:
            self.bar.close()

    TqdmProgressBar(futures)
