"""The extraction store: one zarr v3 store of FFN activations per (backbone, prompt, task, split).

The format is a public contract (docs/store-format.md): a store opens with plain ``xarray.open_zarr``.
:class:`ActivationStoreWriter` fills a store block by block, crash-safe and resumable, from one or several
processes; :func:`open_run` / :func:`open_runs` read stores lazily; :func:`check_store` and
:func:`store_info` validate and describe them.
"""

from neurokit.extract.check import check_store, store_info
from neurokit.extract.spec import Provenance, StoredDtype, StoreSpec
from neurokit.extract.writer import ActivationStoreWriter

__all__ = [
    "ActivationStoreWriter", "Provenance", "StoreSpec", "StoredDtype", "check_store", "open_run", "open_runs",
    "store_info",
]


def __getattr__(name: str):
    # The readers need xarray, whose import takes about half a second; writer processes and the CLI's
    # check/info never do, so it is imported on first use.
    if name in ("open_run", "open_runs"):
        from neurokit.extract import reader

        return getattr(reader, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
