"""What a prompt checkpoint records (``prompt.json``), as a typed :class:`PromptMetadata`.

A checkpoint folder holds two files (the format is unchanged since the first release)::

    prompt.safetensors   tensor "prompt", float32 (P, d): the full prompt in sequence order (row 0 = mask slot
                         on MLM)
    prompt.json          metadata: model id, revision, weights hash, task, template, verbaliser, P, layout
                         ("prepend"/"append"; absent in checkpoints written before layouts existed, which
                         were all prepended), init, seed, dev accuracy, training config, versions

Every key neurokit writes is a field of :class:`PromptMetadata`; keys it does not know (a hand-edited file, a
newer neurokit) are kept in :attr:`PromptMetadata.extra` and written back unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from neurokit.errors import NeurokitError
from neurokit.models import LEGACY_LAYOUT, PromptLayout

TENSOR_FILE = "prompt.safetensors"
METADATA_FILE = "prompt.json"

#: What prompt.json must record for a prompt to be checked against a model: which model it was trained on
#: (the weights hash, when recorded, is checked too) and whether row 0 is a mask slot (saving adds it).
REQUIRED_METADATA = ("model_id", "mask_slot")

# The JSON type of each optional field; None is allowed for all of them (JSON null).
_STRINGS = ("model_source", "revision", "weights_sha256", "family", "task", "task_type", "template", "init",
            "started_at", "saved_at", "imported_from")
_INTEGERS = ("seed", "best_step", "prompt_length", "embedding_dim")
_MAPPINGS = ("verbalizer", "config", "versions", "pruned_from")
_NOT_RECORDED = ("extra", "recorded")


class _Unset:
    """The default of a field that was not given: such a field reads as None and is not written."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset()


@dataclass(frozen=True)
class PromptMetadata:
    """The contents of a checkpoint's ``prompt.json``.

    Attributes:
        model_id: the model the prompt was tuned on (as :attr:`~neurokit.models.Backbone.model_id`).
        mask_slot: whether row 0 is the frozen mask slot of an MLM backbone (set from the prompt on saving).
        model_source: what loads that model again (Hub id, folder or ``"embedded"``).
        revision, weights_sha256, family: the model's revision, the SHA-256 of its weights, its family.
        task, task_type, template, label_names: the task the prompt was tuned on and how it was rendered.
        verbalizer: ``{"label_words", "token_ids", "scoring"}`` (:meth:`~neurokit.models.Verbalizer.describe`).
        init, seed, dev_accuracy, best_step, config: how it was tuned and how far (dev accuracy in [0, 1] at
            optimizer step ``best_step``; 0 for an untuned prompt).
        versions, started_at, saved_at: package versions and UTC times.
        prompt_length, embedding_dim, layout: the prompt's shape (P, d) and where it goes (None: not recorded,
            the checkpoint predates layouts and was prepended; :attr:`prompt_layout` answers for both).
        imported_from, pruned_from: where an imported prompt came from; the model a pruned one's model was cut
            from (``{"model_id", "weights_sha256"}``).
        extra: keys neurokit does not know, kept as they were.
        recorded: the fields that were given (read from the file, or passed), None included: exactly these are
            written, so that ``from_dict(d).to_dict() == d`` (a store's provenance, and with it its run
            identity, holds this dict) and a field given as None is written as null, as before metadata was
            typed. Fields not given read as None.
    """

    model_id: str
    mask_slot: bool | None = _UNSET
    model_source: str | None = _UNSET
    revision: str | None = _UNSET
    weights_sha256: str | None = _UNSET
    family: str | None = _UNSET
    task: str | None = _UNSET
    task_type: str | None = _UNSET
    template: str | None = _UNSET
    label_names: tuple[str, ...] | None = _UNSET
    verbalizer: Mapping[str, Any] | None = _UNSET
    init: str | None = _UNSET
    seed: int | None = _UNSET
    dev_accuracy: float | None = _UNSET
    best_step: int | None = _UNSET
    config: Mapping[str, Any] | None = _UNSET
    versions: Mapping[str, Any] | None = _UNSET
    started_at: str | None = _UNSET
    saved_at: str | None = _UNSET
    prompt_length: int | None = _UNSET
    embedding_dim: int | None = _UNSET
    layout: PromptLayout | None = _UNSET
    imported_from: str | None = _UNSET
    pruned_from: Mapping[str, Any] | None = _UNSET
    extra: Mapping[str, Any] = field(default_factory=dict)
    recorded: frozenset[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        given = set()
        for spec in dataclasses.fields(self):
            if spec.name in _NOT_RECORDED:
                continue
            if getattr(self, spec.name) is _UNSET:
                object.__setattr__(self, spec.name, None)
            else:
                given.add(spec.name)
        object.__setattr__(self, "recorded", frozenset(given))
        if isinstance(self.label_names, list):  # as JSON and callers give it
            object.__setattr__(self, "label_names", tuple(self.label_names))
        problem = _type_problem(self)
        if problem:
            raise NeurokitError(f"prompt metadata {problem}")

    # --- reading ----------------------------------------------------------------------------------------------
    @property
    def prompt_layout(self) -> PromptLayout:
        """Where the prompt goes; a checkpoint that records no layout was prepended (:data:`LEGACY_LAYOUT`)."""
        return LEGACY_LAYOUT if self.layout is None else self.layout

    @property
    def label_words(self) -> tuple[str, ...] | None:
        """The verbaliser's label words, if recorded."""
        words = (self.verbalizer or {}).get("label_words")
        return tuple(words) if words else None

    @property
    def scoring(self) -> str | None:
        """How the classes were read out in tuning (a :class:`~neurokit.models.Scoring` value), if recorded."""
        return (self.verbalizer or {}).get("scoring") or None

    # --- conversion -------------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, source: str = METADATA_FILE) -> PromptMetadata:
        """The metadata of a parsed ``prompt.json`` (``source`` names it in errors): a JSON object that records
        at least :data:`REQUIRED_METADATA`; one-line NeurokitError otherwise, or for a field of the wrong type
        or an unknown layout."""
        if not isinstance(data, dict):
            raise NeurokitError(f"{source} must hold a JSON object, got {type(data).__name__}")
        missing = [key for key in REQUIRED_METADATA if data.get(key) is None]
        if missing:
            raise NeurokitError(f"{source} lacks {', '.join(missing)}: without them the prompt cannot be "
                                "checked against the model")
        known = {f.name for f in dataclasses.fields(cls)} - set(_NOT_RECORDED)
        values: dict[str, Any] = {key: value for key, value in data.items() if key in known}
        if values.get("layout") is not None:
            try:
                values["layout"] = PromptLayout(values["layout"])
            except ValueError:
                raise NeurokitError(f"{source} records an unknown layout {values['layout']!r}") from None
        extra = {key: value for key, value in data.items() if key not in known}
        try:
            return cls(**values, extra=extra)
        except NeurokitError as error:
            raise NeurokitError(f"{source}: {str(error).removeprefix('prompt metadata ')}") from None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``prompt.json``: the fields that were given (:attr:`recorded`), then :attr:`extra`."""
        data: dict[str, Any] = {}
        for spec in dataclasses.fields(self):
            if spec.name not in self.recorded:
                continue
            value = getattr(self, spec.name)
            if isinstance(value, PromptLayout):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            data[spec.name] = value
        return {**data, **self.extra}

    def replace(self, **changes: Any) -> PromptMetadata:
        """A copy with ``changes`` (field names) given; the fields this one was given stay given."""
        kept = {name: getattr(self, name) for name in self.recorded}
        return PromptMetadata(**{**kept, "extra": self.extra, **changes})


def _type_problem(metadata: PromptMetadata) -> str | None:
    """What is wrong with the fields' types (a hand-edited file), or None."""
    if not isinstance(metadata.model_id, str) or not metadata.model_id:
        return f"model_id must be a non-empty string, got {metadata.model_id!r}"
    if metadata.mask_slot is not None and not isinstance(metadata.mask_slot, bool):
        return f"mask_slot must be true or false, got {metadata.mask_slot!r}"
    for name in _STRINGS:
        value = getattr(metadata, name)
        if value is not None and not isinstance(value, str):
            return f"{name} must be a string, got {value!r}"
    for name in _INTEGERS:
        value = getattr(metadata, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{name} must be an integer, got {value!r}"
    for name in _MAPPINGS:
        value = getattr(metadata, name)
        if value is not None and not isinstance(value, Mapping):
            return f"{name} must be a JSON object, got {value!r}"
    accuracy = metadata.dev_accuracy
    if accuracy is not None and (isinstance(accuracy, bool) or not isinstance(accuracy, (int, float))):
        return f"dev_accuracy must be a number, got {accuracy!r}"
    names = metadata.label_names
    if names is not None and (not isinstance(names, tuple) or not all(isinstance(n, str) for n in names)):
        return f"label_names must be a list of strings, got {names!r}"
    if metadata.layout is not None and not isinstance(metadata.layout, PromptLayout):
        return f"layout must be a PromptLayout, got {metadata.layout!r}"
    return None
