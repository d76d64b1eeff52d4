"""User tasks from local CSV/TSV, JSON lines or Parquet files, described by a small JSON or TOML spec file."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from neurokit.errors import ConfigError
from neurokit.tasks.loading import (
    DATA_FILE_SUFFIXES,
    DEV_FRACTION,
    ColumnRules,
    SplitPlan,
    load_table_split,
    read_data_file,
)
from neurokit.tasks.spec import SPLITS, TaskSpec
from neurokit.validation import OPEN_UNIT, real

#: Spec-file suffixes that :func:`neurokit.tasks.get_task` treats as a path rather than a task name.
SPEC_FILE_SUFFIXES: tuple[str, ...] = (".toml", ".json")

_REQUIRED_KEYS = ("name", "task_type", "text_fields", "label_names", "splits")
_OPTIONAL_KEYS = ("label_words", "template", "adversarial_of", "label_column", "id_column", "dev_fraction")


@dataclass(frozen=True)
class FileSource:
    """Splits stored in local files, one file (or folder of shards) per canonical split.

    Attributes:
        files: ``(canonical split, path)`` pairs; a mapping is accepted and put in train/dev/test order.
            Without a dev file, ``dev_fraction`` of the train file becomes dev (see docs/tasks.md).
        label_column: column with integer labels (indices into the task's label names) or label names.
        id_column: column with unique example ids; by default a column ``id`` is used when present, else
            ids are ``"{split}-{row}"``. When given explicitly, the column must exist.
        dev_fraction: share of train carved into dev when there is no dev file.
        origin: what to show as the source, e.g. the spec file; defaults to the first file's folder.
    """

    files: tuple[tuple[str, Path], ...]
    label_column: str = "label"
    id_column: str | None = None
    dev_fraction: float = DEV_FRACTION
    origin: str | None = None
    plan: SplitPlan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pairs = dict(self.files)
        unknown = sorted(set(pairs) - set(SPLITS))
        if unknown or not pairs:
            raise ConfigError(f"split files must be given for some of {', '.join(SPLITS)}, got {sorted(pairs)}")
        ordered = tuple((split, Path(pairs[split])) for split in SPLITS if split in pairs)
        object.__setattr__(self, "files", ordered)
        object.__setattr__(self, "plan", SplitPlan(tuple((split, split) for split, _ in ordered), self.dev_fraction))

    @property
    def splits(self) -> tuple[str, ...]:
        return self.plan.splits

    def describe(self) -> str:
        return f"files {self.origin or self.files[0][1].parent}"

    def describe_splits(self) -> str:
        return self.plan.describe()

    def load(self, spec: TaskSpec, split: str, size: int | None, seed: int) -> datasets.Dataset:
        id_column = self.id_column or "id"
        rules = ColumnRules(
            source_label_names=spec.label_names,
            label_column=self.label_column,
            id_column=id_column,
            id_column_required=self.id_column is not None,
        )
        paths = dict(self.files)
        text_columns = [*spec.text_fields, id_column]
        return load_table_split(
            spec,
            split,
            size,
            seed,
            plan=self.plan,
            rules=rules,
            read=lambda file_split: read_data_file(paths[file_split], file_split, text_columns),
        )


def load_task_spec_file(path: str | Path) -> TaskSpec:
    """Read a user task from a JSON or TOML spec file; split files are relative to the spec file's folder.

    Required keys: ``name``, ``task_type``, ``text_fields``, ``label_names``, ``splits`` (a table
    ``{train = "...", dev = "...", test = "..."}``, any subset). Optional: ``label_words`` (default: the label
    names), ``template`` (default ``"{field}"`` for one text field; required for several), ``adversarial_of``,
    ``label_column`` (default ``"label"``), ``id_column``, ``dev_fraction`` (default 0.2). The spec is
    returned, not registered: pass it to :func:`neurokit.tasks.register_task`.
    """
    path = Path(path)
    content = _parse_spec_file(path)
    unknown = sorted(set(content) - set(_REQUIRED_KEYS) - set(_OPTIONAL_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_REQUIRED_KEYS + _OPTIONAL_KEYS)}"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in content]
    if missing:
        raise ConfigError(f"{path}: missing key(s) {', '.join(missing)}")
    try:
        return TaskSpec(
            name=content["name"],
            task_type=content["task_type"],
            text_fields=content["text_fields"],
            label_names=content["label_names"],
            label_words=content.get("label_words", content["label_names"]),
            template=content["template"] if "template" in content else _default_template(content["text_fields"]),
            adversarial_of=content.get("adversarial_of"),
            source=FileSource(
                files=tuple(_split_files(path, content["splits"]).items()),
                label_column=_optional_string(content, "label_column") or "label",
                id_column=_optional_string(content, "id_column"),
                dev_fraction=_dev_fraction(content),
                origin=str(path),
            ),
        )
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def _parse_spec_file(path: Path) -> dict[str, Any]:
    if path.suffix not in SPEC_FILE_SUFFIXES:
        raise ConfigError(f"{path}: a task spec file must end in {' or '.join(SPEC_FILE_SUFFIXES)}")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the task spec file ({error.strerror or error})") from None
    try:
        content = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()} ({' '.join(str(error).split())})") from None
    if not isinstance(content, dict):
        raise ConfigError(f"{path}: the top level must be a table/object of settings")
    return content


def _default_template(text_fields: object) -> str:
    # Several fields need a joiner, and the joiner matters to the model, so the user must choose it.
    if isinstance(text_fields, list) and len(text_fields) > 1:
        raise ConfigError(
            'a template is required when there is more than one text field, e.g. "{premise} ? {hypothesis}"'
        )
    # One field needs no joining; malformed text_fields get "" and TaskSpec reports what is wrong with them.
    if isinstance(text_fields, list) and text_fields and isinstance(text_fields[0], str):
        return "{" + text_fields[0] + "}"
    return ""


def _split_files(spec_path: Path, splits: object) -> dict[str, Path]:
    if not isinstance(splits, Mapping) or not all(isinstance(file, str) for file in splits.values()):
        raise ConfigError('splits must map split names to file paths, e.g. {train = "train.csv"}')
    files = {}
    for split, file in splits.items():
        location = (spec_path.parent / file).resolve()
        if not location.exists():
            raise ConfigError(f"the {split} file {location} does not exist")
        if location.is_file() and location.suffix not in DATA_FILE_SUFFIXES:
            raise ConfigError(f"the {split} file {location.name} is not one of {', '.join(DATA_FILE_SUFFIXES)}")
        files[split] = location
    return files


def _optional_string(content: Mapping[str, Any], key: str) -> str | None:
    value = content.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _dev_fraction(content: Mapping[str, Any]) -> float:
    return real(content.get("dev_fraction", DEV_FRACTION), "dev_fraction", OPEN_UNIT)
