"""The task registry (built-in Hub and offline tasks plus user tasks) and :func:`load_split`."""

from __future__ import annotations

import difflib
from pathlib import Path

import datasets

from neurokit.errors import ConfigError, NeurokitError
from neurokit.tasks.files import SPEC_FILE_SUFFIXES, load_task_spec_file
from neurokit.tasks.hub import HUB_TASKS
from neurokit.tasks.loading import check_size_and_seed
from neurokit.tasks.spec import SPLITS, TaskSpec, TaskType
from neurokit.tasks.toy import TOY_TASKS
from neurokit.validation import as_enum, one_of

_REGISTRY: dict[str, TaskSpec] = {}


def register_task(spec: TaskSpec, *, replace: bool = False) -> TaskSpec:
    """Add ``spec`` to the registry and return it.

    Registering a spec equal to the registered one is a no-op. An adversarial task must name a registered
    clean task with the same label names.

    Args:
        replace: allow replacing a different spec of the same name.
    """
    if not isinstance(spec, TaskSpec):
        raise ConfigError(f"register_task expects a TaskSpec, got {type(spec).__name__}")
    if spec.source is None:
        raise ConfigError(f"task {spec.name!r} has no source, so it has no data to register")
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing != spec and not replace:
        raise ConfigError(
            f"task {spec.name!r} is already registered with another definition; pass replace=True to override"
        )
    if spec.adversarial_of is not None:
        clean = _REGISTRY.get(spec.adversarial_of)
        if clean is None:
            raise ConfigError(
                f"task {spec.name!r}: adversarial_of names {spec.adversarial_of!r}, which is not registered"
            )
        if clean.label_names != spec.label_names:
            raise ConfigError(
                f"task {spec.name!r}: label names {list(spec.label_names)} differ from those of its clean task "
                f"{clean.name!r} {list(clean.label_names)}"
            )
    _REGISTRY[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    """The registered task called ``name``.

    A path ending in ``.toml`` or ``.json`` is read with :func:`load_task_spec_file` and registered, so every
    command that takes a task name also takes a user task's spec file.
    """
    if name in _REGISTRY:
        return _REGISTRY[name]
    if Path(name).suffix in SPEC_FILE_SUFFIXES:
        return register_task(load_task_spec_file(name))
    close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise NeurokitError(f"unknown task {name!r}{hint} (`neurokit tasks` lists them all)")


def list_tasks(task_type: TaskType | str | None = None) -> list[TaskSpec]:
    """Registered tasks sorted by name, optionally only those of one :class:`TaskType` (or its value)."""
    if task_type is not None:
        task_type = as_enum(task_type, TaskType, "task_type")
    return sorted(
        (spec for spec in _REGISTRY.values() if task_type is None or spec.task_type is task_type),
        key=lambda spec: spec.name,
    )


def load_split(spec: TaskSpec | str, split: str, size: int | None = None, seed: int = 0) -> datasets.Dataset:
    """One canonical split of a task.

    Args:
        spec: a task spec, or a registered name (or spec-file path) looked up with :func:`get_task`.
        split: ``"train"``, ``"dev"`` or ``"test"`` (see ``spec.splits`` for what the task has).
        size: number of examples; ``None`` gives the whole split (for generated tasks: the default size).
            For stored data a seeded random subset, ordered as in the source; for generated data the first
            ``size`` examples of the seeded stream. Either way a smaller size is a subset of a larger one.
        seed: selects the subset (stored data) or the generated stream (generated data); non-negative.

    Returns:
        A :class:`datasets.Dataset` of n rows with columns ``id`` (str, unique within the split and stable
        across runs), one str column per text field, ``label`` (int64 ClassLabel over ``spec.label_names``)
        and, for generated adversarial tasks, ``perturbation`` (str).
    """
    if isinstance(spec, str):
        spec = get_task(spec)
    one_of(split, SPLITS, "split")
    check_size_and_seed(size, seed)
    if spec.source is None:
        raise NeurokitError(f"task {spec.name!r} has no data source")
    if split not in spec.splits:
        raise NeurokitError(f"task {spec.name!r} has no {split} split (it has {', '.join(spec.splits)})")
    return spec.source.load(spec, split, size, seed)


for _builtin in (*HUB_TASKS, *TOY_TASKS):
    register_task(_builtin)
