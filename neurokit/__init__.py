"""neurokit: skill neurons and robustness in prompt-tuned language models.

Stages, each a subpackage, hand data one way: ``models`` and ``prompts`` (train), ``tasks``, ``extract``
(the Zarr activation store), ``analysis`` (lazy xarray/Dask statistics), ``interventions`` and ``plots``.
The most used entry points are re-exported here and imported on first use, so ``import neurokit`` stays
cheap (no torch, no xarray) until one is touched.
"""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("neurokit")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "unknown"

_LAZY = {
    "open_run": "neurokit.extract",
    "open_runs": "neurokit.extract",
    "extract_run": "neurokit.extract",
    "ExtractionConfig": "neurokit.extract",
    "SkillNeurons": "neurokit.analysis",
    "load_backbone": "neurokit.models",
    "get_task": "neurokit.tasks",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'neurokit' has no attribute {name!r}")
