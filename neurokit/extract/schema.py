"""The on-disk layout of an activation store: variable names, dims, dtypes, chunks and shards.

One table (:func:`variable_schemas`) serves both the writer that creates a store and ``check_store`` that
validates one. The layout rules, and the measurements behind them, are in docs/store-format.md:

- ``activation`` (example, layer, position, neuron): one zarr shard per block of examples, spanning every
  layer, position and neuron, so that a block is written as one file by one writer; inner chunks hold one
  layer of the block (block_size, 1, P, N), so that a reduction over examples for one layer reads only that
  layer and plain ``xarray.open_zarr`` gets Dask chunks aligned with the shards.
- per-example variables: one chunk per block (no sharding needed: a chunk file is already written whole).
- train statistics: one chunk per (class, layer); written once, at finalize.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr
from zarr.codecs import ZstdCodec
from zarr.core.common import JSON

from neurokit.dims import CLASS, EXAMPLE, LAYER, NEURON, POSITION, POSITION_ROLE, SITE
from neurokit.errors import StoreError
from neurokit.extract.checksum import FastCrc32cCodec
from neurokit.extract.spec import STORE_VERSION, StoredDtype, StoreSpec
from neurokit.storage import Location, locate

ACTIVATION = "activation"
LABEL = "label"
PREDICTION = "prediction"
LOGITS = "logits"
INPUT_LENGTH = "input_length"
TRAIN_COUNT = "train_count"
TRAIN_SUM = "train_sum"
TRAIN_SUMSQ = "train_sumsq"
PER_EXAMPLE = (LABEL, PREDICTION, LOGITS, INPUT_LENGTH)
TRAIN_STATS = (TRAIN_COUNT, TRAIN_SUM, TRAIN_SUMSQ)
#: The dims of ``activation``, in their order on disk.
ACTIVATION_DIMS = (EXAMPLE, LAYER, POSITION, NEURON)
# Variable attribute naming the real dtype of an array whose zarr dtype only carries its bits.
TRUE_DTYPE_ATTR = "neurokit_true_dtype"
# Variable-length UTF-8 strings: the zarr v3 "string" data type, which (unlike numpy's fixed-width "<U")
# has a published specification.
STRING_DTYPE = np.dtypes.StringDType()
NO_LABEL = -1

# zstd, then a crc32c checksum of the compressed bytes, which zarr verifies on every read: a flipped bit
# anywhere in a chunk is an error rather than a silently wrong value (zstd alone checks only its framing).
# The checksum costs 4 bytes per chunk and, computed by the crc32c package (neurokit.extract.checksum), about
# 4 % of the chunk's zstd decompression time (docs/benchmarks.md).
_COMPRESSORS = (ZstdCodec(level=3), FastCrc32cCodec())


@dataclass(frozen=True)
class VariableSchema:
    """One data variable: ``dims``, zarr ``dtype`` and ``fill_value`` (what a never-written region reads as)."""

    name: str
    dims: tuple[str, ...]
    dtype: np.dtype
    fill_value: float | int


def variable_schemas(
    stored_dtype: StoredDtype, store_raw_activations: bool, compute_train_stats: bool
) -> dict[str, VariableSchema]:
    """The data variables of a store with these settings, by name."""
    stats_dims = (CLASS, LAYER, POSITION, NEURON)
    schemas = [
        # Label -1 marks an unlabelled example (e.g. a test split without gold labels).
        VariableSchema(LABEL, (EXAMPLE,), np.dtype(np.int64), NO_LABEL),
        VariableSchema(PREDICTION, (EXAMPLE,), np.dtype(np.int64), NO_LABEL),
        VariableSchema(LOGITS, (EXAMPLE, CLASS), np.dtype(np.float32), math.nan),
        VariableSchema(INPUT_LENGTH, (EXAMPLE,), np.dtype(np.int32), 0),
    ]
    if store_raw_activations:
        schemas.append(VariableSchema(ACTIVATION, ACTIVATION_DIMS, stored_dtype.disk_dtype, stored_dtype.fill_value))
    if compute_train_stats:
        schemas += [
            VariableSchema(TRAIN_COUNT, (CLASS,), np.dtype(np.int64), 0),
            VariableSchema(TRAIN_SUM, stats_dims, np.dtype(np.float64), math.nan),
            VariableSchema(TRAIN_SUMSQ, stats_dims, np.dtype(np.float64), math.nan),
        ]
    return {schema.name: schema for schema in schemas}


def read_store_attrs(path: str | os.PathLike | Location) -> dict:
    """The root attributes of the neurokit store at ``path`` (a path, URL or
    :class:`~neurokit.storage.Location`); StoreError if there is none or its version is not one this
    neurokit reads."""
    location = locate(path)
    if not location.join("zarr.json").is_file():
        raise StoreError(f"no zarr v3 store at {location}")
    try:
        attrs = dict(zarr.open_group(location.zarr_store(), mode="r").attrs)
    except Exception as error:  # zarr raises various errors for damaged metadata
        raise StoreError(f"unreadable store {location}: {error}") from error
    version = attrs.get("neurokit_store_version")
    if version is None:
        raise StoreError(f"{location} is a zarr store but not a neurokit activation store")
    if version != STORE_VERSION:
        raise StoreError(f"{location} has store version {version}; this neurokit reads version {STORE_VERSION}")
    return attrs


def open_array(group: zarr.Group, name: str) -> zarr.Array:
    """The array ``name`` of a store's ``group`` (KeyError if absent, as zarr's own lookup); StoreError if the
    store holds a group of that name, which no neurokit store does."""
    member = group[name]
    if not isinstance(member, zarr.Array):
        raise StoreError(f"{name!r} in {group.store} is a group, not an array")
    return member


def array_dims(array: zarr.Array) -> tuple[str, ...]:
    """The dims of ``array``: its zarr v3 ``dimension_names``, () where it has none."""
    return tuple(getattr(array.metadata, "dimension_names", None) or ())


def read_values(array: zarr.Array, selection: slice = slice(None)) -> np.ndarray:
    """The values of ``array`` at ``selection`` (along its first dim; all by default) as a numpy array.

    zarr annotates a read as any array-like or scalar; a slice of a store's arrays always reads as a numpy
    array, which ``np.asarray`` returns unchanged (no copy)."""
    return np.asarray(array[selection])


def n_blocks(attrs: dict) -> int:
    """The number of blocks of a store, from its root attributes."""
    identity = json.loads(attrs["run_identity"])
    return -(-identity["n_examples"] // identity["block_size"])


def write_chunks(spec: StoreSpec, name: str) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """(inner chunk shape, shard shape or None) of variable ``name``; see the module docstring for why."""
    n_examples, n_layers, n_positions, n_neurons = spec.activation_shape
    block = min(spec.block_size, n_examples)
    if name == ACTIVATION:
        return (block, 1, n_positions, n_neurons), (block, n_layers, n_positions, n_neurons)
    if name == LOGITS:
        return (block, len(spec.class_names)), None
    if name in (LABEL, PREDICTION, INPUT_LENGTH):
        return (block,), None
    if name == TRAIN_COUNT:
        return (len(spec.class_names),), None
    return (1, 1, n_positions, n_neurons), None


def _coordinates(spec: StoreSpec) -> dict[str, tuple[str, np.ndarray]]:
    return {
        EXAMPLE: (EXAMPLE, np.array(spec.example_ids, dtype=STRING_DTYPE)),
        LAYER: (LAYER, np.array(spec.layers, dtype=np.int64)),
        SITE: (LAYER, np.array(spec.sites, dtype=STRING_DTYPE)),
        POSITION: (POSITION, np.arange(len(spec.position_roles), dtype=np.int64)),
        POSITION_ROLE: (POSITION, np.array(spec.position_roles, dtype=STRING_DTYPE)),
        NEURON: (NEURON, np.arange(spec.n_neurons, dtype=np.int64)),
        CLASS: (CLASS, np.array(spec.class_names, dtype=STRING_DTYPE)),
    }


def create_skeleton(path: Path, spec: StoreSpec, attrs: dict) -> None:
    """Write a new store at ``path`` (which must not exist): coordinates, attributes, empty data arrays.

    Written with zarr directly in the conventions ``xarray.open_zarr`` reads: dims in ``dimension_names``,
    auxiliary coordinates (``site``, ``position_role``) named in each data variable's ``coordinates``
    attribute, and no ``_FillValue`` attribute (no CF masking on read: it would cost a pass over the data
    and turn integer variables into floats; the zarr fill value alone marks never-written regions).
    Metadata is consolidated once here: afterwards only the root attributes change, and consolidated
    metadata lets ``xarray.open_zarr`` open the store without listing its directory.
    """
    group = zarr.open_group(path, mode="w-", zarr_format=3, attributes=attrs)
    for name, (dim, values) in _coordinates(spec).items():
        group.create_array(name, data=values, dimension_names=(dim,), compressors=_COMPRESSORS)
    sizes = dict(zip(ACTIVATION_DIMS, spec.activation_shape, strict=True))
    sizes[CLASS] = len(spec.class_names)
    for name, schema in variable_schemas(
        spec.stored_dtype, spec.store_raw_activations, spec.compute_train_stats
    ).items():
        chunks, shards = write_chunks(spec, name)
        auxiliary = [coord for coord, dim in ((POSITION_ROLE, POSITION), (SITE, LAYER)) if dim in schema.dims]
        var_attrs: dict[str, JSON] = {"coordinates": " ".join(auxiliary)} if auxiliary else {}
        if schema.dtype == np.uint16:
            var_attrs[TRUE_DTYPE_ATTR] = StoredDtype.BFLOAT16.value
        group.create_array(
            name, shape=tuple(sizes[dim] for dim in schema.dims), dtype=schema.dtype, chunks=chunks, shards=shards,
            fill_value=schema.fill_value, compressors=_COMPRESSORS, dimension_names=schema.dims,
            attributes=var_attrs,
        )
    with warnings.catch_warnings():
        # zarr notes that consolidated metadata is not yet part of the v3 specification; we rely on it only
        # as a cache of the per-array metadata, which stays valid.
        warnings.filterwarnings("ignore", message="Consolidated metadata", module="zarr")
        zarr.consolidate_metadata(path)


def to_stored(values, stored_dtype: StoredDtype) -> np.ndarray:
    """``values`` (B, L, ...) (numpy array or torch tensor, any float dtype) in the zarr dtype of ``stored_dtype``.

    A torch tensor is converted on its own device first, so that only the stored 16 or 32 bits cross to the
    host; bfloat16 becomes its raw bits (uint16). numpy input is rounded to bfloat16 here (round to nearest,
    ties to even, like torch), one layer at a time to bound the temporaries. The result never shares memory
    with ``values``: the writer thread reads it later, while the caller may already reuse its buffer.
    """
    if hasattr(values, "detach"):  # torch.Tensor, without importing torch for numpy callers
        import torch

        if not values.is_floating_point():
            raise TypeError(f"activations must be floating point, got {values.dtype}")
        target = {StoredDtype.FLOAT16: torch.float16, StoredDtype.FLOAT32: torch.float32,
                  StoredDtype.BFLOAT16: torch.bfloat16}[stored_dtype]
        converted = values.detach().to(dtype=target).cpu().contiguous()
        if converted.data_ptr() == values.data_ptr():  # already a CPU tensor of the stored dtype
            converted = converted.clone()
        if stored_dtype is StoredDtype.BFLOAT16:
            return converted.view(torch.int16).numpy().view(np.uint16)
        return converted.numpy()
    values = np.asarray(values)
    if values.dtype.kind != "f":
        raise TypeError(f"activations must be floating point, got {values.dtype}")
    if stored_dtype is not StoredDtype.BFLOAT16:
        return np.array(values, dtype=stored_dtype.disk_dtype)
    out = np.empty(values.shape, dtype=np.uint16)
    for layer in range(values.shape[1]):
        out[:, layer] = _bfloat16_bits(values[:, layer])
    return out


def _bfloat16_bits(values: np.ndarray) -> np.ndarray:
    """Round float values to bfloat16 (nearest, ties to even) and return the 16 bits as uint16."""
    single = np.ascontiguousarray(values, dtype=np.float32)
    bits = single.view(np.uint32)
    # Adding 0x7FFF plus the lowest kept bit, then truncating, rounds to nearest with ties to even; a carry
    # out of the mantissa correctly increments the exponent (up to inf for the largest float32 values).
    rounded = ((bits + (np.uint32(0x7FFF) + ((bits >> 16) & np.uint32(1)))) >> 16).astype(np.uint16)
    rounded[np.isnan(single)] = 0x7FC0  # the canonical quiet NaN, as torch writes it
    return rounded


def decode_stored(values: np.ndarray, stored_dtype: StoredDtype) -> np.ndarray:
    """Stored values as floats: bfloat16 bits become float32 (exactly); float16/float32 pass through."""
    if stored_dtype is StoredDtype.BFLOAT16:
        return (values.astype(np.uint32) << 16).view(np.float32)
    return values


def nonfinite_by_example_layer(stored: np.ndarray, stored_dtype: StoredDtype) -> np.ndarray:
    """(B, L) bool: which (example, layer) of a stored block (B, L, P, N) holds a NaN or an infinity."""
    bad = np.zeros(stored.shape[:2], dtype=bool)
    for layer in range(stored.shape[1]):
        if stored_dtype is StoredDtype.BFLOAT16:
            # All exponent bits set is inf or NaN in bfloat16.
            layer_bad = (stored[:, layer] & np.uint16(0x7F80)) == 0x7F80
        else:
            layer_bad = ~np.isfinite(stored[:, layer])
        bad[:, layer] = layer_bad.reshape(stored.shape[0], -1).any(axis=1)
    return bad
