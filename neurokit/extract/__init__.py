"""The extraction store: one zarr v3 store of FFN activations per (backbone, prompt, task, split).

The format is a public contract (docs/store-format.md): a store opens with plain ``xarray.open_zarr``.
:class:`ActivationStoreWriter` fills a store block by block, crash-safe and resumable, from one or several
processes; :func:`extract_run` drives a backbone with a prompt over a task split into one;
:func:`open_run` / :func:`open_runs` read stores lazily; :func:`check_store` and :func:`store_info`
validate and describe them.
"""

from neurokit.extract.check import check_store, store_info
from neurokit.extract.spec import Provenance, StoredDtype, StoreSpec
from neurokit.extract.writer import ActivationStoreWriter

__all__ = [
    "ActivationStoreWriter", "ExtractionConfig", "PositionSelection", "Provenance", "StoreSpec", "StoredDtype",
    "check_store", "extract_run", "open_run", "open_runs", "store_info",
]

_LAZY = {"open_run": "reader", "open_runs": "reader", "extract_run": "extraction", "ExtractionConfig": "_plan",
         "PositionSelection": "_plan"}


def __getattr__(name: str):
    # The readers need xarray and the extraction driver needs torch; writer processes and the CLI's
    # check/info need neither, so they are imported on first use.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"neurokit.extract.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
