"""What an extraction run stores: the validated :class:`StoreSpec` and its :class:`Provenance`.

A *run* is one (backbone, prompt, task, split). Its spec fixes every dimension of the store, the stored dtype,
the block size (examples per write unit) and the provenance attributes. Two specs with the same
:meth:`StoreSpec.fingerprint` describe the same run, so a store written for one can be resumed by the other.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from neurokit.errors import ConfigError
from neurokit.provenance import command_line, package_versions
from neurokit.validation import as_enum, integer

if TYPE_CHECKING:
    from neurokit.models import ArchitectureAdapter

STORE_VERSION = 1

# Position roles (see docs/store-format.md): the frozen mask slot of MLM backbones, soft-prompt vector k,
# aggregates over the real input tokens, and the last token (decoder backbones).
_POSITION_ROLE = re.compile(r"^(mask|prompt_(0|[1-9][0-9]*)|input_mean|input_max|last_token)$")


class StoredDtype(str, Enum):
    """How activations are kept on disk.

    ``float16`` halves the size and suits BERT/RoBERTa; T5's FFN overflows float16, so T5 stores ``float32``
    or ``bfloat16``. Zarr has no bfloat16, so bfloat16 values are stored as their raw 16 bits in ``uint16``
    and decoded to float32 by :func:`neurokit.extract.open_run`.
    """

    FLOAT16 = "float16"
    FLOAT32 = "float32"
    BFLOAT16 = "bfloat16"

    @property
    def disk_dtype(self) -> np.dtype:
        """The numpy dtype of the zarr array."""
        return np.dtype(np.uint16 if self is StoredDtype.BFLOAT16 else self.value)

    @property
    def fill_value(self) -> float | int:
        """The zarr fill value: NaN, so that never-written regions read as missing (0x7FC0 is bfloat16 NaN)."""
        return 0x7FC0 if self is StoredDtype.BFLOAT16 else math.nan


def _json_text(value: Any, name: str) -> str:
    """``value`` as canonical JSON text (sorted keys), or a ConfigError naming the field."""
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"provenance field {name!r} is not JSON-serialisable: {error}") from None


@dataclass(frozen=True)
class Provenance:
    """Where a run's activations come from; stored as the store's attributes.

    Structured fields (``model_config``, ``prompt_metadata``, ``task``, ``verbalizer``) are stored as JSON
    text so that the attributes stay flat strings. ``command`` and ``versions`` describe the process that
    wrote the store, not the run, and are left out of the fingerprint.
    """

    model_id: str
    model_revision: str
    weights_sha256: str
    model_config: Mapping[str, Any]
    prompt_sha256: str
    prompt_metadata: Mapping[str, Any]
    task: Mapping[str, Any]
    template: str
    verbalizer: Any
    split: str
    dtype_policy: str
    #: Where the prompt sat relative to the input: a :class:`~neurokit.models.PromptLayout` value.
    prompt_layout: str
    command: str = field(default_factory=command_line)
    versions: Mapping[str, str] = field(default_factory=package_versions)

    def __post_init__(self) -> None:
        for name in ("model_id", "model_revision", "weights_sha256", "prompt_sha256", "split", "dtype_policy",
                     "prompt_layout"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"provenance field {name!r} must be a non-empty string, got {value!r}")
        for name in ("template", "command"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"provenance field {name!r} must be a string")
        for name in ("model_config", "prompt_metadata", "task", "versions"):
            if not isinstance(getattr(self, name), Mapping):
                raise ConfigError(f"provenance field {name!r} must be a mapping")
        for name in ("model_config", "prompt_metadata", "task", "verbalizer", "versions"):
            _json_text(getattr(self, name), name)

    def identity(self) -> dict[str, str]:
        """The fields that define the run (all but ``command`` and ``versions``), as attribute values: strings,
        with structured fields as JSON text."""
        return {
            "model_id": self.model_id,
            "model_revision": self.model_revision,
            "weights_sha256": self.weights_sha256,
            "model_config": _json_text(self.model_config, "model_config"),
            "prompt_sha256": self.prompt_sha256,
            "prompt_metadata": _json_text(self.prompt_metadata, "prompt_metadata"),
            "task": _json_text(self.task, "task"),
            "template": self.template,
            "verbalizer": _json_text(self.verbalizer, "verbalizer"),
            "split": self.split,
            "dtype_policy": self.dtype_policy,
            "prompt_layout": self.prompt_layout,
        }

    def to_attrs(self) -> dict[str, str | dict[str, str]]:
        """The store attributes: the :meth:`identity` fields, then ``command`` and ``versions`` (a mapping)."""
        return {**self.identity(), "command": self.command, "versions": dict(self.versions)}


def example_ids_digest(example_ids: Sequence[str]) -> str:
    """SHA-256 (hex) of the example ids in order: how the run identity pins the examples."""
    return hashlib.sha256("\n".join(example_ids).encode("utf-8")).hexdigest()


def _unique_strings(values: Sequence[str], name: str) -> tuple[str, ...]:
    values = tuple(values)
    if not values:
        raise ConfigError(f"{name} must not be empty")
    bad = [value for value in values if not isinstance(value, str) or not value]
    if bad:
        raise ConfigError(f"{name} must be non-empty strings, got {bad[:3]!r}")
    duplicates = [value for value, count in Counter(values).items() if count > 1]
    if duplicates:
        raise ConfigError(f"{name} must be unique; repeated: {duplicates[:3]!r}")
    return values


@dataclass(frozen=True)
class StoreSpec:
    """Everything that defines one store.

    Dimensions: ``example_ids`` (E dataset ids), ``class_names`` (C), ``sites``/``layers`` (L neuron sites and
    their layer indices, same order), ``position_roles`` (P positions read per example, see
    docs/store-format.md), ``n_neurons`` (N per site). The store's ``activation`` array has shape
    (E, L, P, N). Examples are written in blocks of ``block_size`` consecutive examples; block b covers
    examples ``[b * block_size, min((b + 1) * block_size, E))`` and is the unit of progress and of resuming.
    ``store_raw_activations=False`` keeps only the per-class statistics (``compute_train_stats`` must then
    be on): what a train split needs for baselines, at a fraction of the size.
    """

    example_ids: Sequence[str]
    class_names: Sequence[str]
    sites: Sequence[str]
    layers: Sequence[int]
    position_roles: Sequence[str]
    n_neurons: int
    stored_dtype: StoredDtype
    provenance: Provenance
    store_raw_activations: bool = True
    compute_train_stats: bool = False
    block_size: int = 64

    def __post_init__(self) -> None:
        # Normalise to tuples so that the spec is hashable and cannot change under the writer.
        object.__setattr__(self, "example_ids", _unique_strings(self.example_ids, "example_ids"))
        object.__setattr__(self, "class_names", _unique_strings(self.class_names, "class_names"))
        object.__setattr__(self, "sites", _unique_strings(self.sites, "sites"))
        object.__setattr__(self, "position_roles", _unique_strings(self.position_roles, "position_roles"))
        layers = tuple(self.layers)
        if not all(isinstance(layer, (int, np.integer)) and not isinstance(layer, bool) for layer in layers):
            raise ConfigError(f"layers must be integers, got {layers!r}")
        object.__setattr__(self, "layers", tuple(int(layer) for layer in layers))
        if len(self.layers) != len(self.sites):
            raise ConfigError(f"{len(self.sites)} sites but {len(self.layers)} layers: give one layer per site")
        if len(set(self.layers)) != len(self.layers):
            raise ConfigError(f"layers must be unique, got {self.layers!r}")
        bad_roles = [role for role in self.position_roles if not _POSITION_ROLE.match(role)]
        if bad_roles:
            raise ConfigError(
                f"unknown position roles {bad_roles!r}; expected mask, prompt_<k>, input_mean, input_max, last_token"
            )
        object.__setattr__(self, "stored_dtype", as_enum(self.stored_dtype, StoredDtype, "stored_dtype"))
        integer(self.n_neurons, "n_neurons")
        integer(self.block_size, "block_size")
        if not isinstance(self.provenance, Provenance):
            raise ConfigError("provenance must be a neurokit.extract.Provenance")
        if not (self.store_raw_activations or self.compute_train_stats):
            raise ConfigError("nothing to store: enable store_raw_activations or compute_train_stats")

    @property
    def n_examples(self) -> int:
        return len(self.example_ids)

    @property
    def n_blocks(self) -> int:
        return -(-self.n_examples // self.block_size)

    @property
    def activation_shape(self) -> tuple[int, int, int, int]:
        """(E, L, P, N) of the full ``activation`` array."""
        return (self.n_examples, len(self.layers), len(self.position_roles), self.n_neurons)

    def block_slice(self, block_index: int) -> slice:
        """The examples of block ``block_index`` as a slice along ``example``."""
        start = block_index * self.block_size
        return slice(start, min(start + self.block_size, self.n_examples))

    def identity(self) -> dict[str, Any]:
        """What defines the run: the provenance identity and every dimension and storage choice.

        Example ids enter as a digest so that the identity stays small enough to keep in the attributes.
        """
        return {
            **self.provenance.identity(),
            "example_ids_sha256": example_ids_digest(self.example_ids),
            "n_examples": self.n_examples,
            "class_names": list(self.class_names),
            "sites": list(self.sites),
            "layers": list(self.layers),
            "positions": list(self.position_roles),
            "n_neurons": int(self.n_neurons),
            "stored_dtype": self.stored_dtype.value,
            "store_raw_activations": bool(self.store_raw_activations),
            "compute_train_stats": bool(self.compute_train_stats),
            "block_size": int(self.block_size),
            "neurokit_store_version": STORE_VERSION,
        }

    def fingerprint(self) -> str:
        """SHA-256 (hex) of :meth:`identity`: equal fingerprints mean the same run; times and command excluded."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode("utf-8")).hexdigest()


def stored_dtype_policy(adapter: ArchitectureAdapter, requested: StoredDtype | str | None) -> tuple[StoredDtype, str]:
    """The stored dtype for a backbone family (its adapter) and the reason, as recorded in the ``dtype_policy``
    attribute.

    float32 by default for every family: the papers' code computes activations, baselines and predictivity in
    float32, and a float16 store changes predictivities (on the embedded MiniLM, 37 % of them by up to 0.082
    and 1.1 % of the top-5 % skill neurons: ``benchmarks/store_precision.py``, docs/benchmarks.md). float16
    (half the size) or bfloat16 on request; T5 is never float16 (its FFN intermediate exceeds the float16
    range: :attr:`~neurokit.models.ArchitectureAdapter.float16_overflows`).
    """
    family = adapter.family.value
    requested = None if requested is None else as_enum(requested, StoredDtype, "dtype")
    if adapter.float16_overflows and requested is StoredDtype.FLOAT16:
        raise ConfigError(f"{family} activations are never stored as float16 (its FFN exceeds the float16 range); "
                          "use float32 or bfloat16")
    if requested is not None:
        return requested, f"{requested.value}: requested for {family}"
    return StoredDtype.FLOAT32, f"float32: default for {family} (the reference's precision)"
