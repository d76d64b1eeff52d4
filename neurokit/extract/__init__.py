"""The extraction store: one zarr v3 store of FFN activations per (backbone, prompt, task, split).

The format is a public contract (docs/store-format.md): a store opens with plain ``xarray.open_zarr``.
:class:`ActivationStoreWriter` fills a store block by block, crash-safe and resumable, from one or several
processes; :func:`extract_run` drives a backbone with a prompt over a task split into one;
:func:`open_run` / :func:`open_runs` read stores lazily; :func:`check_store` and :func:`store_info`
validate and describe them.

Names are imported on first use (``__init__.pyi`` lists them): the readers need xarray and the extraction
driver needs torch, which writer processes and the CLI's ``check``/``info`` do not.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
