"""Tasks: registry of classification tasks, their canonical train/dev/test splits and the offline suite.

>>> from neurokit.tasks import get_task, load_split
>>> spec = get_task("toy_sentiment_movies")
>>> dev = load_split(spec, "dev", size=100)
>>> spec.render(dev[0]) == dev[0]["sentence"]
True

Attributes are imported on first use (PEP 562), so that importing :mod:`neurokit.tasks.commands` for the
CLI's argument parser does not load ``datasets``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "SPLITS": "neurokit.tasks.spec",
    "TaskSpec": "neurokit.tasks.spec",
    "TaskSource": "neurokit.tasks.spec",
    "TaskType": "neurokit.tasks.spec",
    "get_task": "neurokit.tasks.registry",
    "list_tasks": "neurokit.tasks.registry",
    "load_split": "neurokit.tasks.registry",
    "register_task": "neurokit.tasks.registry",
    "load_task_spec_file": "neurokit.tasks.files",
    "FileSource": "neurokit.tasks.files",
    "HubSource": "neurokit.tasks.hub",
    "MIRROR_ENV": "neurokit.tasks.hub",
    "GeneratedSource": "neurokit.tasks.toy",
    "TextPerturbation": "neurokit.tasks.perturb",
    "DEV_FRACTION": "neurokit.tasks.loading",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from neurokit.tasks.files import FileSource, load_task_spec_file
    from neurokit.tasks.hub import MIRROR_ENV, HubSource
    from neurokit.tasks.loading import DEV_FRACTION
    from neurokit.tasks.perturb import TextPerturbation
    from neurokit.tasks.registry import get_task, list_tasks, load_split, register_task
    from neurokit.tasks.spec import SPLITS, TaskSource, TaskSpec, TaskType
    from neurokit.tasks.toy import GeneratedSource


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'neurokit.tasks' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
