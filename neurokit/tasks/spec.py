"""Task specifications: what a task's examples hold and how one example becomes one model input string."""

from __future__ import annotations

import enum
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from neurokit.errors import ConfigError, NeurokitError
from neurokit.validation import as_enum

if TYPE_CHECKING:
    import datasets

#: The canonical splits, in the order of their roles: train → baselines and prompt training, dev → choosing
#: skill neurons and checkpoints, test → reported accuracy and perturbation experiments.
SPLITS: tuple[str, ...] = ("train", "dev", "test")

#: Columns that every loaded split may carry besides the text fields, so no text field may use these names.
RESERVED_COLUMNS: tuple[str, ...] = ("id", "label", "perturbation")

_TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


class TaskType(enum.StrEnum):
    """Kind of task; transfer and skill-neuron comparisons group tasks by this."""

    SENTIMENT = "sentiment"
    NLI = "nli"
    PARAPHRASE = "paraphrase"
    TOPIC = "topic"
    OTHER = "other"


class TaskSource(Protocol):
    """Where a task's examples come from (the Hub, local files, the offline generator)."""

    @property
    def splits(self) -> tuple[str, ...]:
        """Canonical splits this source can serve, in :data:`SPLITS` order."""

    def describe(self) -> str:
        """A short one-line origin, e.g. ``"hub nyu-mll/glue:sst2"``."""

    def describe_splits(self) -> str:
        """One line saying where each canonical split comes from, e.g. ``"train, dev<-train 20%, test<-validation"``."""

    def load(self, spec: TaskSpec, split: str, size: int | None, seed: int) -> datasets.Dataset:
        """The split as a standard dataset (see :func:`neurokit.tasks.load_split`)."""


@dataclass(frozen=True)
class TaskSpec:
    """A validated, immutable description of one classification task.

    Lists given for the tuple fields are turned into tuples and a string ``task_type`` into
    :class:`TaskType`, so specs read from JSON/TOML need no conversion. Any inconsistency raises
    :class:`~neurokit.errors.ConfigError` with a one-line message.

    Attributes:
        name: registry key, letters/digits/``_.-``, e.g. ``"sst2"``.
        task_type: kind of task.
        text_fields: names of the text columns, e.g. ``("premise", "hypothesis")``.
        label_names: class names; label ``i`` of a loaded split means ``label_names[i]``.
        label_words: verbaliser, one word (or short phrase) per label, read at the mask slot / first
            decoder step; distinct from each other.
        template: :meth:`str.format` pattern whose placeholders are exactly the text fields; it joins an
            example's texts into the single model input string.
        adversarial_of: for an adversarial evaluation set, the name of the clean task it perturbs
            (same label names); ``None`` otherwise.
        source: where the examples come from; ``None`` for a spec used only to render texts.
    """

    name: str
    task_type: TaskType
    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    label_words: tuple[str, ...]
    template: str
    adversarial_of: str | None = None
    source: TaskSource | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TASK_NAME.fullmatch(self.name):
            raise ConfigError(
                f"task name {self.name!r} is invalid: use letters, digits, '_', '.', '-' "
                "(starting with a letter or digit)"
            )
        object.__setattr__(self, "task_type", as_enum(self.task_type, TaskType, f"task {self.name!r}: task_type"))
        for attribute in ("text_fields", "label_names", "label_words"):
            object.__setattr__(self, attribute, _string_tuple(self.name, attribute, getattr(self, attribute)))
        self._check_text_fields()
        self._check_labels()
        self._check_template()
        if self.adversarial_of is not None and (
            not isinstance(self.adversarial_of, str) or self.adversarial_of in ("", self.name)
        ):
            raise ConfigError(
                f"task {self.name!r}: adversarial_of must name another task, got {self.adversarial_of!r}"
            )

    @property
    def num_labels(self) -> int:
        """Number of classes."""
        return len(self.label_names)

    @property
    def splits(self) -> tuple[str, ...]:
        """Canonical splits that :func:`~neurokit.tasks.load_split` can serve for this task."""
        return () if self.source is None else self.source.splits

    def render(self, example: Mapping[str, Any]) -> str:
        """Fill the template with the example's text fields (other keys are ignored).

        Args:
            example: a mapping with at least the text fields, e.g. one row of a loaded split.

        Returns:
            The single input string, e.g. ``"A man sleeps ? A person rests"``.
        """
        missing = [name for name in self.text_fields if name not in example]
        if missing:
            raise NeurokitError(f"task {self.name!r}: example lacks text field(s) {', '.join(map(repr, missing))}")
        return self.template.format_map({name: str(example[name]) for name in self.text_fields})

    def _check_text_fields(self) -> None:
        if not self.text_fields:
            raise ConfigError(f"task {self.name!r}: text_fields must name at least one column")
        for name in self.text_fields:
            if not name.isidentifier() or name in RESERVED_COLUMNS:
                raise ConfigError(
                    f"task {self.name!r}: text field {name!r} must be an identifier other than "
                    f"{', '.join(RESERVED_COLUMNS)}"
                )
        _require_distinct(self.name, "text_fields", self.text_fields)

    def _check_labels(self) -> None:
        if len(self.label_names) < 2:
            raise ConfigError(
                f"task {self.name!r}: label_names needs at least two classes, got {len(self.label_names)}"
            )
        if len(self.label_words) != len(self.label_names):
            raise ConfigError(
                f"task {self.name!r}: label_words has {len(self.label_words)} entries but label_names has "
                f"{len(self.label_names)}"
            )
        for attribute in ("label_names", "label_words"):
            values = getattr(self, attribute)
            blank = [value for value in values if not value.strip() or value != value.strip()]
            if blank:
                raise ConfigError(
                    f"task {self.name!r}: {attribute} entries must be non-empty without surrounding spaces, "
                    f"got {blank[0]!r}"
                )
            # Two classes with one verbaliser word could never be told apart at the mask slot.
            _require_distinct(self.name, attribute, values)

    def _check_template(self) -> None:
        if not isinstance(self.template, str):
            raise ConfigError(f"task {self.name!r}: template must be a string, got {type(self.template).__name__}")
        try:
            pieces = list(string.Formatter().parse(self.template))
        except ValueError as error:
            raise ConfigError(f"task {self.name!r}: template {self.template!r} is malformed ({error})") from None
        placeholders = []
        for _, field_name, format_spec, conversion in pieces:
            if field_name is None:
                continue
            # Only bare names: positional fields, attribute/index access or format specs would let a template
            # depend on more than the text itself.
            if not field_name.isidentifier() or format_spec or conversion:
                raise ConfigError(
                    f"task {self.name!r}: template placeholders must be bare text-field names like "
                    f"{{{self.text_fields[0]}}}, got {{{field_name}{'!' + conversion if conversion else ''}"
                    f"{':' + format_spec if format_spec else ''}}}"
                )
            placeholders.append(field_name)
        if set(placeholders) != set(self.text_fields):
            raise ConfigError(
                f"task {self.name!r}: template placeholders {sorted(set(placeholders))} must be exactly the "
                f"text fields {sorted(self.text_fields)}"
            )


def _string_tuple(task_name: str, attribute: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise ConfigError(f"task {task_name!r}: {attribute} must be a list of strings, got {value!r}")
    if not all(isinstance(item, str) for item in value):
        raise ConfigError(f"task {task_name!r}: {attribute} must hold only strings, got {list(value)!r}")
    return tuple(value)


def _require_distinct(task_name: str, attribute: str, values: tuple[str, ...]) -> None:
    repeated = sorted({value for value in values if values.count(value) > 1})
    if repeated:
        raise ConfigError(f"task {task_name!r}: {attribute} repeats {', '.join(map(repr, repeated))}")
