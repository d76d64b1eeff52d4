"""Validating and describing stores: :func:`check_store` and :func:`store_info`."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import zarr
from tqdm import tqdm

from neurokit.dims import CLASS, EXAMPLE, LAYER, NEURON, POSITION, POSITION_ROLE, SITE
from neurokit.errors import StoreError
from neurokit.extract.checksum import fast_checksums
from neurokit.extract.integrity import missing_blocks
from neurokit.extract.progress import PROGRESS_DIR, covered_blocks
from neurokit.extract.schema import (
    ACTIVATION,
    INPUT_LENGTH,
    LABEL,
    LOGITS,
    NO_LABEL,
    PER_EXAMPLE,
    PREDICTION,
    TRAIN_COUNT,
    TRAIN_STATS,
    TRAIN_SUM,
    TRAIN_SUMSQ,
    TRUE_DTYPE_ATTR,
    array_dims,
    n_blocks,
    nonfinite_by_example_layer,
    open_array,
    read_store_attrs,
    read_values,
    variable_schemas,
)
from neurokit.extract.spec import StoredDtype, example_ids_digest

_REQUIRED_ATTRS = (
    "neurokit_store_version", "model_id", "model_revision", "weights_sha256", "model_config", "prompt_sha256",
    "prompt_metadata", "task", "template", "verbalizer", "split", "positions", "layers", "dtype_policy",
    "stored_dtype", "block_size", "versions", "command", "started_at", "finished_at", "complete",
    "run_fingerprint", "run_identity",
)
_JSON_ATTRS = ("model_config", "prompt_metadata", "task", "verbalizer", "run_identity")
_COORDS = (EXAMPLE, LAYER, SITE, POSITION, POSITION_ROLE, NEURON, CLASS)


def check_store(path: str | os.PathLike, *, scan_values: bool = True) -> list[str]:
    """Problems with the store at ``path``, one line each; an empty list means the store is sound.

    Checks the provenance attributes, the schema (names, dims, dtypes, the block-aligned shard layout),
    completeness (every block written, no progress or temporary files left) and, with ``scan_values``,
    every value: activations finite, labels and predictions in range, logits finite, input lengths
    positive, train statistics consistent with the labels. The value scan reads the whole store, one block
    at a time.
    """
    path = Path(path)
    try:
        attrs = read_store_attrs(path)
    except StoreError as error:
        return [str(error)]
    problems = _attr_problems(attrs)
    if problems:
        return problems  # the schema is derived from the attributes
    identity = json.loads(attrs["run_identity"])
    with fast_checksums():  # the arrays keep the codec classes they are opened with
        group = zarr.open_group(path, mode="r")
    problems = _schema_problems(group, attrs, identity)
    if problems:
        return problems
    done = set(range(n_blocks(attrs))) if attrs["complete"] else covered_blocks(path)
    problems = _completeness_problems(path, group, attrs, identity, done)
    if scan_values:
        problems += _value_problems(group, identity, sorted(done), attrs["complete"])
    return problems


def _attr_problems(attrs: dict) -> list[str]:
    problems = [f"missing attribute {name!r}" for name in _REQUIRED_ATTRS if name not in attrs]
    for name in _JSON_ATTRS:
        try:
            json.loads(attrs.get(name, "null"))
        except (TypeError, ValueError):
            problems.append(f"attribute {name!r} is not JSON text")
    if not isinstance(attrs.get("complete"), bool):
        problems.append("attribute 'complete' is not a boolean")
    if attrs.get("stored_dtype") not in {dtype.value for dtype in StoredDtype}:
        problems.append(f"unknown stored_dtype {attrs.get('stored_dtype')!r}")
    return problems


def _schema_problems(group: zarr.Group, attrs: dict, identity: dict) -> list[str]:
    problems = []
    arrays = dict(group.arrays())
    missing = [name for name in _COORDS if name not in arrays]
    if missing:
        return [f"missing coordinates {missing}"]
    example = read_values(arrays[EXAMPLE]).tolist()
    if example_ids_digest(example) != identity["example_ids_sha256"] or len(example) != identity["n_examples"]:
        problems.append("the example ids differ from those the store was created for")
    expected_coords = {
        LAYER: identity["layers"], SITE: identity["sites"], POSITION_ROLE: identity["positions"],
        POSITION: list(range(len(identity["positions"]))), NEURON: list(range(identity["n_neurons"])),
        CLASS: identity["class_names"],
    }
    for name, expected in expected_coords.items():
        if read_values(arrays[name]).tolist() != expected:
            problems.append(f"coordinate {name!r} differs from the run's")
    for name, expected in (("layers", identity["layers"]), ("positions", identity["positions"]),
                           ("stored_dtype", identity["stored_dtype"]), ("block_size", identity["block_size"])):
        if attrs[name] != expected:
            problems.append(f"attribute {name!r} is {attrs[name]!r} but the run has {expected!r}")
    schemas = variable_schemas(
        StoredDtype(identity["stored_dtype"]), identity["store_raw_activations"], identity["compute_train_stats"]
    )
    for name, schema in schemas.items():
        if name not in arrays:
            problems.append(f"missing variable {name!r}")
            continue
        array = arrays[name]
        if array_dims(array) != schema.dims:
            problems.append(f"variable {name!r} has dims {array_dims(array)}, expected {schema.dims}")
        if array.dtype != schema.dtype:
            problems.append(f"variable {name!r} has dtype {array.dtype}, expected {schema.dtype}")
    unexpected = sorted(set(arrays) - set(schemas) - set(_COORDS))
    if unexpected:
        problems.append(f"unexpected variables {unexpected}")
    if ACTIVATION in schemas and ACTIVATION in arrays:
        activation = arrays[ACTIVATION]
        shards = activation.shards or activation.chunks
        if shards[0] != min(identity["block_size"], identity["n_examples"]) or shards[1:] != activation.shape[1:]:
            problems.append(f"activation shards {shards} are not one per block of {identity['block_size']} examples")
    return problems


def _completeness_problems(path: Path, group: zarr.Group, attrs: dict, identity: dict, done: set[int]) -> list[str]:
    problems = []
    total = n_blocks(attrs)
    if not attrs["complete"]:
        missing = sorted(set(range(total)) - done)
        problems.append(
            f"incomplete: {len(done)} of {total} blocks written (missing blocks {missing[:10]}"
            f"{' ...' if len(missing) > 10 else ''})"
        )
    else:
        if (path / PROGRESS_DIR).exists():
            problems.append(f"complete store still holds progress files ({PROGRESS_DIR}/)")
        if attrs["finished_at"] is None:
            problems.append("complete store without finished_at")
        leftovers = list(path.rglob("*.partial"))
        if leftovers:
            problems.append(f"{len(leftovers)} temporary '*.partial' files left from an interrupted write")
    arrays = dict(group.arrays())
    per_block = [name for name in (ACTIVATION, *PER_EXAMPLE) if name in arrays]
    for name in per_block:
        absent = [index[0] for index in missing_blocks(path, arrays[name], name, done)]
        if absent:
            problems.append(f"variable {name!r}: data of blocks {absent[:10]} missing on disk")
    if attrs["complete"] and identity["compute_train_stats"]:
        for name in TRAIN_STATS:
            if missing_blocks(path, arrays[name], name, None):
                problems.append(f"variable {name!r} is not fully written")
    return problems


def _value_problems(group: zarr.Group, identity: dict, blocks: list[int], complete: bool) -> list[str]:
    """Scan every value of the written ``blocks``, one block in memory at a time, then the statistics."""
    problems = []
    n_classes = len(identity["class_names"])
    example_ids = read_values(open_array(group, EXAMPLE))
    label_counts = np.zeros(n_classes, dtype=np.int64)
    all_read = True
    for block in tqdm(blocks, desc="checking blocks", unit="block", disable=None):
        try:
            block_problems, labels = _block_problems(group, identity, block, example_ids)
        except Exception as error:  # a damaged chunk file: zarr's errors vary with the damage
            problems.append(f"block {block}: unreadable ({type(error).__name__}: {error})")
            all_read = False
            continue
        problems += block_problems
        label_counts += np.bincount(labels[(labels >= 0) & (labels < n_classes)], minlength=n_classes)
    if complete and identity["compute_train_stats"]:
        if all_read:
            train_count = read_values(open_array(group, TRAIN_COUNT))
            if not np.array_equal(train_count, label_counts):
                problems.append(
                    f"{TRAIN_COUNT} {train_count.tolist()} differs from the label counts {label_counts.tolist()}"
                )
        for name in (TRAIN_SUM, TRAIN_SUMSQ):
            if not np.isfinite(read_values(open_array(group, name))).all():
                problems.append(f"{name} holds NaN or infinite values")
        if (read_values(open_array(group, TRAIN_SUMSQ)) < 0).any():
            problems.append(f"{TRAIN_SUMSQ} holds negative values")
    return problems


def _block_problems(
    group: zarr.Group, identity: dict, block: int, example_ids: np.ndarray
) -> tuple[list[str], np.ndarray]:
    """The problems of one block's values, and its labels (B,)."""
    problems = []
    n_classes = len(identity["class_names"])
    start = block * identity["block_size"]
    rows = slice(start, min(start + identity["block_size"], identity["n_examples"]))
    ids = example_ids[rows]
    label = read_values(open_array(group, LABEL), rows)
    prediction = read_values(open_array(group, PREDICTION), rows)
    lowest_label = 0 if identity["compute_train_stats"] else NO_LABEL
    for name, values, low in ((LABEL, label, lowest_label), (PREDICTION, prediction, 0)):
        bad = np.flatnonzero((values < low) | (values >= n_classes))
        if bad.size:
            problems.append(f"block {block}: {name} outside [{low}, {n_classes}) for examples {list(ids[bad][:5])}")
    if not np.isfinite(read_values(open_array(group, LOGITS), rows)).all():
        problems.append(f"block {block}: non-finite {LOGITS}")
    if (read_values(open_array(group, INPUT_LENGTH), rows) < 1).any():
        problems.append(f"block {block}: {INPUT_LENGTH} < 1")
    if ACTIVATION in group:
        activation = read_values(open_array(group, ACTIVATION), rows)
        bad = nonfinite_by_example_layer(activation, StoredDtype(identity["stored_dtype"]))
        for layer_index in np.flatnonzero(bad.any(axis=0)):
            problems.append(
                f"block {block}: NaN or infinite activations at layer {identity['layers'][layer_index]} "
                f"({identity['sites'][layer_index]}) for examples {list(ids[bad[:, layer_index]][:5])}"
            )
    return problems, label


def _compact_roles(roles: list[str]) -> str:
    """Position roles with runs of consecutive soft-prompt slots shortened, e.g. 'mask, prompt_0..prompt_15'."""
    parts: list[str | list[int]] = []  # a role, or [first, last] of a run of prompt_k
    for role in roles:
        match = re.fullmatch(r"prompt_(\d+)", role)
        if match and parts and isinstance(parts[-1], list) and int(match[1]) == parts[-1][1] + 1:
            parts[-1][1] += 1
        else:
            parts.append([int(match[1]), int(match[1])] if match else role)
    return ", ".join(
        part if isinstance(part, str) else f"prompt_{part[0]}" + (f"..prompt_{part[1]}" if part[1] > part[0] else "")
        for part in parts
    )


def _disk_size(directory: Path) -> str:
    """The size of the files under ``directory``, e.g. '3.2 MB'."""
    size = float(sum(file.stat().st_size for file in directory.rglob("*") if file.is_file()))
    units = ("B", "kB", "MB", "GB", "TB")
    power = 0
    while size >= 1000 and power < len(units) - 1:
        size /= 1000
        power += 1
    return f"{size:.1f} {units[power]}" if power else f"{size:.0f} B"


def store_info(path: str | os.PathLike) -> str:
    """A human-readable summary: completeness, provenance, dims and sizes, variables and their layout."""
    path = Path(path)
    attrs = read_store_attrs(path)
    identity = json.loads(attrs["run_identity"])
    group = zarr.open_group(path, mode="r")
    total = n_blocks(attrs)
    if attrs["complete"]:
        status = f"complete (finished {attrs['finished_at']})"
    else:
        status = f"INCOMPLETE: {len(covered_blocks(path))} of {total} blocks written"
    sizes = {
        EXAMPLE: identity["n_examples"], LAYER: len(identity["layers"]), POSITION: len(identity["positions"]),
        NEURON: identity["n_neurons"], CLASS: len(identity["class_names"]),
    }
    lines = [
        f"store        {path}",
        f"status       {status}; started {attrs['started_at']}",
        f"model        {attrs['model_id']}"
        + (f" @ {attrs['model_revision']}" if attrs["model_revision"] not in (None, "none") else "")
        + f" (weights sha256 {attrs['weights_sha256'][:12]})",
        f"prompt       sha256 {attrs['prompt_sha256'][:12]}",
        f"task         {attrs['task']}",
        f"split        {attrs['split']}",
        "dims         " + ", ".join(f"{dim}={size}" for dim, size in sizes.items()),
        f"positions    {_compact_roles(identity['positions'])}",
        f"sites        {identity['sites'][0]} .. {identity['sites'][-1]}",
        f"classes      {', '.join(identity['class_names'])}",
        f"stored dtype {attrs['stored_dtype']} ({attrs['dtype_policy']})",
        f"blocks       {total} of up to {attrs['block_size']} examples each",
        "variables",
    ]
    for name, array in sorted(group.arrays()):
        if name in _COORDS:
            continue
        dtype = array.attrs.get(TRUE_DTYPE_ATTR, str(array.dtype))
        layout = f"chunks {array.chunks}" + (f", shards {array.shards}" if array.shards else "")
        dims = ", ".join(array_dims(array))
        lines.append(f"  {name:<13}({dims}) {dtype}, {_disk_size(path / name)}, {layout}")
    lines.append("versions     " + ", ".join(f"{name} {version}" for name, version in attrs["versions"].items()))
    lines.append(f"command      {attrs['command']}")
    return "\n".join(lines)

