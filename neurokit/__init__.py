"""neurokit: skill neurons and robustness in prompt-tuned language models.

Stages, each a subpackage, hand data one way: ``models`` and ``prompts`` (train), ``tasks``, ``extract``
(the Zarr activation store), ``analysis`` (lazy xarray/Dask statistics), ``interventions`` and ``plots``.
The main entry point of each stage is exported here (``__init__.pyi`` lists them; ``docs/api.md``) and
imported on first use, so ``import neurokit`` stays cheap (no torch, no xarray) until one is touched.
"""

from importlib import metadata as _metadata

import lazy_loader

try:
    __version__ = _metadata.version("neurokit")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "unknown"

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
