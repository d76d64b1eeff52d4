"""Lazy xarray/Dask statistics of activation stores: predictivity and skill neurons (Wang et al. 2022),
their robustness (Ackermann & Ohmer 2024), AUROC, resampling tests, selectivity and prompt interpretation.

Importing this package registers the ``ds.neuro`` accessor; the names it exports (``__init__.pyi``) are
imported on first use. Helpers behind them (formula pieces, resampling kernels) stay importable from their
modules (``neurokit.analysis.skill``, ``.compare``, ``.resampling``, ``.subtasks``). See ``docs/analysis.md``.
"""

import lazy_loader

from neurokit.analysis import accessor as _accessor  # noqa: F401  (registers the ds.neuro accessor)

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
