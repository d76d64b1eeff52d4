"""Turning tables (Hub datasets, local CSV/JSONL/Parquet files) into the standard split format.

Every loaded split is a :class:`datasets.Dataset` with the columns ``id`` (str), one str column per text
field and ``label`` (int64 :class:`datasets.ClassLabel` over the task's label names), optionally followed by
extra str columns such as ``perturbation``.

Randomness here never uses Python's ``hash()``, whose string hashes change with ``PYTHONHASHSEED``: dev
carving ranks examples by a BLAKE2b digest of their id, and sub-sampling uses a numpy Generator seeded by
the caller.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from neurokit.errors import ConfigError, NeurokitError
from neurokit.tasks.spec import SPLITS, TaskSpec
from neurokit.validation import OPEN_UNIT, integer, real, several_of

#: Fraction of the training source that becomes dev when a dataset has no labelled split to spare for dev.
DEV_FRACTION = 0.2

# Versioned salt: changing how dev is carved must change this, so old and new carvings are never mixed.
_CARVE_SALT = b"neurokit/dev-carve/v1\x00"

#: File suffix → (``datasets`` packaged builder, extra builder arguments).
_FILE_BUILDERS: dict[str, tuple[str, dict[str, object]]] = {
    ".parquet": ("parquet", {}),
    ".jsonl": ("json", {}),
    ".json": ("json", {}),
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
}

DATA_FILE_SUFFIXES: tuple[str, ...] = tuple(_FILE_BUILDERS)


def stable_digest(text: str, salt: bytes) -> int:
    """A 64-bit unsigned integer from ``text``, identical on every run, machine and ``PYTHONHASHSEED``."""
    return int.from_bytes(hashlib.blake2b(salt + text.encode("utf-8"), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class SplitPlan:
    """Which source split serves each canonical split.

    Attributes:
        sources: ``(canonical split, source split name)`` pairs, e.g. ``(("train", "train"), ("test",
            "validation"))``. Two canonical splits may share a source split (AdvGLUE's single labelled
            split serves as both dev and test).
        dev_fraction: when ``dev`` has no source but ``train`` has, this fraction of the training source
            (rounded to the nearest example) becomes dev and the rest stays train.
    """

    sources: tuple[tuple[str, str], ...]
    dev_fraction: float = DEV_FRACTION

    def __post_init__(self) -> None:
        several_of([split for split, _ in self.sources], SPLITS, "splits", distinct=True)
        real(self.dev_fraction, "dev_fraction", OPEN_UNIT)

    @property
    def carves_dev(self) -> bool:
        """Whether dev is cut out of the training source."""
        mapping = dict(self.sources)
        return "dev" not in mapping and "train" in mapping

    @property
    def splits(self) -> tuple[str, ...]:
        """Canonical splits served, in :data:`~neurokit.tasks.spec.SPLITS` order."""
        mapping = dict(self.sources)
        return tuple(split for split in SPLITS if split in mapping or (split == "dev" and self.carves_dev))

    def describe(self) -> str:
        """E.g. ``"train, dev<-train 20%, test<-validation"``."""
        mapping = dict(self.sources)
        parts = []
        for split in self.splits:
            if split == "dev" and self.carves_dev:
                parts.append(f"dev<-{mapping['train']} {self.dev_fraction:.0%}")
            elif mapping[split] == split:
                parts.append(split)
            else:
                parts.append(f"{split}<-{mapping[split]}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ColumnRules:
    """How a source table's columns map onto the standard columns.

    Attributes:
        label_column: column holding the class, as integers or as label-name strings.
        source_label_names: class names in the source's own order; string labels are looked up here, and a
            :class:`datasets.ClassLabel` column must carry exactly these names (a guard against a silently
            changed label order).
        label_map: source class index → task class index (e.g. MNLI's 3 classes → entailment vs not);
            ``None`` keeps the index.
        id_column: column whose values become ``id``; without it ids are ``"{source split}-{row}"``.
        id_column_required: whether a missing ``id_column`` is an error rather than a fallback to row ids.
    """

    source_label_names: tuple[str, ...]
    label_column: str = "label"
    label_map: tuple[int, ...] | None = None
    id_column: str | None = None
    id_column_required: bool = False

    def __post_init__(self) -> None:
        if self.label_map is not None and (
            len(self.label_map) != len(self.source_label_names) or min(self.label_map) < 0
        ):
            raise ConfigError(
                f"label_map {self.label_map} must give a task class (>= 0) for each of {list(self.source_label_names)}"
            )


def read_data_file(path: Path, split_name: str, text_columns: Sequence[str]) -> datasets.Dataset:
    """Read one local table (Parquet, JSON lines, CSV/TSV, chosen by suffix) with ``datasets``.

    Args:
        path: a file, or a folder of shards that share one suffix (read in name order).
        split_name: name under which ``datasets`` builds and caches the split.
        text_columns: columns that must stay strings (CSV type inference would turn ``"007"`` into 7).
    """
    if not path.exists():
        raise NeurokitError(f"data file {path} does not exist")
    files = sorted(p for p in path.iterdir() if p.suffix in _FILE_BUILDERS) if path.is_dir() else [path]
    suffixes = {file.suffix for file in files}
    if not files or len(suffixes) != 1:
        raise NeurokitError(
            f"{path}: expected one file or a folder of shards with one of {', '.join(DATA_FILE_SUFFIXES)}"
        )
    suffix = suffixes.pop()
    if suffix not in _FILE_BUILDERS:
        raise NeurokitError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(DATA_FILE_SUFFIXES)}")
    if all(file.stat().st_size == 0 for file in files):
        # The JSON builder fails on an empty file with a bare StopIteration.
        raise NeurokitError(f"data file {path} is empty")
    builder, options = _FILE_BUILDERS[suffix]
    if builder in ("csv", "json"):
        _check_utf8(files)
    options = dict(options)
    if builder == "csv":
        # Keep text as written: no "NA"/"null" → missing, no numbers out of digit-only strings.
        options.update(keep_default_na=False, converters={column: str for column in text_columns})
    return load_with_datasets(builder, None, {split_name: [str(file) for file in files]}, split_name, options)


def load_with_datasets(
    path: str,
    config: str | None,
    data_files: Mapping[str, list[str]] | None,
    split: str,
    options: Mapping[str, object] | None = None,
    hint: str = "",
) -> datasets.Dataset:
    """``datasets.load_dataset`` with its failures (network, missing config, unreadable file) as one line.

    Args:
        hint: appended to the failure message, e.g. how to work offline.
    """
    try:
        return datasets.load_dataset(path, config, data_files=data_files, split=split, **(options or {}))
    except datasets.exceptions.DatasetGenerationError as error:  # wraps the reader's error, e.g. a malformed CSV
        cause = error.__cause__
        reason = " ".join(str(cause or error).split())
        raise NeurokitError(f"could not load split {split!r} of {path}: {type(cause or error).__name__}: "
                            f"{reason}") from None
    except (OSError, ValueError) as error:
        where = path if data_files is None else ", ".join(file for files in data_files.values() for file in files)
        reason = " ".join(str(error).split()) or type(error).__name__
        if "corresponds to no data" in reason:  # `datasets` wording for a table without rows
            raise NeurokitError(f"split {split!r} of {where} has no rows") from None
        configuration = f" ({config})" if config else ""
        raise NeurokitError(f"could not load split {split!r} of {where}{configuration}: {reason}{hint}") from None


def _check_utf8(files: Sequence[Path]) -> None:
    """NeurokitError naming the file, the byte and the likely encoding if a text data file is not UTF-8.

    Checked here, streaming, because `datasets` reports it as a generic generation error after a log line."""
    for file in files:
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = 0
        with open(file, "rb") as stream:
            while chunk := stream.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    # latin-1 and cp1252 cannot be told apart from the bytes; both are the usual culprits.
                    raise NeurokitError(
                        f"data file {file} is not UTF-8 text (byte 0x{chunk[error.start]:02x} at offset "
                        f"{offset + error.start}, perhaps latin-1 or cp1252): re-save it as UTF-8, e.g. "
                        "`iconv -f latin1 -t utf-8`"
                    ) from None
                offset += len(chunk)
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise NeurokitError(f"data file {file} is not UTF-8 text (it ends inside a character)") from None


def load_table_split(
    spec: TaskSpec,
    split: str,
    size: int | None,
    seed: int,
    *,
    plan: SplitPlan,
    rules: ColumnRules,
    read: Callable[[str], datasets.Dataset],
) -> datasets.Dataset:
    """Serve canonical ``split`` of a table-backed task: read, standardise, carve dev, sub-sample.

    Args:
        read: source split name → the raw dataset as stored.
    """
    mapping = dict(plan.sources)
    carve = split in ("train", "dev") and plan.carves_dev
    source_split = mapping["train"] if carve else mapping[split]
    ids, texts, labels = standardise(read(source_split), spec, rules, source_split)
    if carve:
        in_dev = carve_dev_mask(ids, plan.dev_fraction)
        keep = np.flatnonzero(in_dev if split == "dev" else ~in_dev)
        if keep.size == 0:
            raise NeurokitError(
                f"task {spec.name!r}: carving dev from {len(ids)} training examples leaves {split} empty"
            )
        ids, texts, labels = _take(ids, texts, labels, keep)
    chosen = subsample_indices(len(ids), size, seed, f"task {spec.name!r} split {split!r}")
    if chosen is not None:
        ids, texts, labels = _take(ids, texts, labels, chosen)
    return build_dataset(spec, ids, texts, labels)


def standardise(
    raw: datasets.Dataset, spec: TaskSpec, rules: ColumnRules, source_split: str
) -> tuple[pa.Array, dict[str, pa.ChunkedArray], np.ndarray]:
    """Check a raw split and pull out ids, texts and task labels.

    Returns:
        ``(ids, texts, labels)``: ids a string array of n unique values, texts a mapping text field → n
        strings, labels an int64 array of shape (n,) with values in ``range(spec.num_labels)``.
    """
    where = f"task {spec.name!r} split {source_split!r}"
    if len(raw) == 0:
        raise NeurokitError(f"{where} is empty")
    wanted = [*spec.text_fields, rules.label_column] + ([rules.id_column] if rules.id_column_required else [])
    missing = [column for column in wanted if column not in raw.column_names]
    if missing:
        raise NeurokitError(
            f"{where} lacks column(s) {', '.join(map(repr, missing))} (has {', '.join(map(repr, raw.column_names))})"
        )
    label_feature = raw.features[rules.label_column]
    if isinstance(label_feature, datasets.ClassLabel) and tuple(label_feature.names) != rules.source_label_names:
        raise NeurokitError(
            f"{where}: label names {label_feature.names} differ from the expected order "
            f"{list(rules.source_label_names)}"
        )
    table = raw.with_format("arrow")[:]
    texts = {name: _text_column(table.column(name), f"{where} column {name!r}") for name in spec.text_fields}
    labels = _task_labels(table.column(rules.label_column), rules, where)
    has_ids = rules.id_column is not None and rules.id_column in table.column_names
    ids = _ids(table.column(rules.id_column) if has_ids else None, len(table), source_split, where)
    return ids, texts, labels


def carved_dev_size(n_train_source: int, fraction: float) -> int:
    """How many of ``n_train_source`` training rows become dev: ``fraction`` of them, rounded half up."""
    return int(fraction * n_train_source + 0.5)


def carve_dev_mask(ids: pa.Array | Sequence[str], fraction: float) -> np.ndarray:
    """Which training examples become dev: a bool mask of shape (n,) with ``round(fraction * n)`` True values.

    Examples are ranked by a salted BLAKE2b digest of their id and the lowest ranks go to dev, so the carving
    depends only on the ids: not on row order, ``PYTHONHASHSEED``, the machine or the library version.
    """
    values = ids.to_pylist() if isinstance(ids, pa.Array) else list(ids)
    digests = np.fromiter((stable_digest(value, _CARVE_SALT) for value in values), dtype=np.uint64, count=len(values))
    n_dev = carved_dev_size(len(values), fraction)
    mask = np.zeros(len(values), dtype=bool)
    mask[np.argsort(digests, kind="stable")[:n_dev]] = True
    return mask


def subsample_indices(n_rows: int, size: int | None, seed: int, where: str) -> np.ndarray | None:
    """Sorted row indices of a seeded random subset of ``size`` rows, or ``None`` for all rows.

    ``size`` and ``seed`` must already have passed :func:`check_size_and_seed`.

    With one seed, a smaller subset is always contained in a larger one (both are prefixes of one
    permutation), so growing ``size`` only adds examples.
    """
    if size is None:
        return None
    if size > n_rows:
        raise ConfigError(f"{where} has {n_rows} examples, fewer than the requested size {size}")
    return np.sort(np.random.default_rng(seed).permutation(n_rows)[:size])


def check_size_and_seed(size: int | None, seed: int) -> None:
    """Reject sizes below 1 and negative or non-integer seeds with a one-line :class:`ConfigError`."""
    integer(size, "size", optional=True)
    integer(seed, "seed", minimum=0)


def build_dataset(
    spec: TaskSpec,
    ids: pa.Array | Sequence[str],
    texts: Mapping[str, pa.ChunkedArray | Sequence[str]],
    labels: np.ndarray | Sequence[int],
    extra: Mapping[str, Sequence[str]] | None = None,
) -> datasets.Dataset:
    """Assemble the standard split: ``id``, the text fields, ``label`` (ClassLabel), then ``extra`` str columns."""
    extra = dict(extra or {})
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            **{name: datasets.Value("string") for name in spec.text_fields},
            "label": datasets.ClassLabel(names=list(spec.label_names)),
            **{name: datasets.Value("string") for name in extra},
        }
    )
    columns = {
        "id": ids,
        **{name: texts[name] for name in spec.text_fields},
        "label": np.asarray(labels, dtype=np.int64),
    }
    return datasets.Dataset.from_dict({**columns, **extra}, features=features)


def _take(
    ids: pa.Array, texts: dict[str, pa.ChunkedArray], labels: np.ndarray, rows: np.ndarray
) -> tuple[pa.Array, dict[str, pa.ChunkedArray], np.ndarray]:
    indices = pa.array(rows, type=pa.int64())
    return ids.take(indices), {name: column.take(indices) for name, column in texts.items()}, labels[rows]


def _text_column(column: pa.ChunkedArray, where: str) -> pa.ChunkedArray:
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise NeurokitError(f"{where} holds {column.type}, expected text")
    if column.null_count:
        raise NeurokitError(f"{where} has {column.null_count} missing value(s)")
    return column.cast(pa.string())


def _task_labels(column: pa.ChunkedArray, rules: ColumnRules, where: str) -> np.ndarray:
    where = f"{where} column {rules.label_column!r}"
    if column.null_count:
        raise NeurokitError(f"{where} has {column.null_count} missing label(s)")
    n_source = len(rules.source_label_names)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        position = {name: index for index, name in enumerate(rules.source_label_names)}
        values = column.to_pylist()
        bad_cells = [value for value in values if value not in position]
        if bad_cells:
            unknown = sorted(set(bad_cells))
            shown = ", ".join(repr(value) for value in unknown[:3]) + (" ..." if len(unknown) > 3 else "")
            raise NeurokitError(
                f"{where} has {len(bad_cells)} label cell(s) outside the label set {list(rules.source_label_names)}"
                f" ({len(unknown)} distinct: {shown})"
            )
        labels = np.fromiter((position[value] for value in values), dtype=np.int64, count=len(values))
    elif pa.types.is_integer(column.type):
        labels = column.to_numpy().astype(np.int64)
        outside = labels[(labels < 0) | (labels >= n_source)]
        if outside.size:
            # GLUE marks its hidden test labels with -1: such a split cannot be used for evaluation.
            raise NeurokitError(
                f"{where} has {outside.size} label(s) outside 0..{n_source - 1}, e.g. {int(outside[0])} "
                f"(an unlabelled split?)"
            )
    else:
        raise NeurokitError(f"{where} holds {column.type}, expected integer labels or label names")
    return labels if rules.label_map is None else np.asarray(rules.label_map, dtype=np.int64)[labels]


def _ids(column: pa.ChunkedArray | None, n_rows: int, source_split: str, where: str) -> pa.Array:
    if column is None:
        return pa.array([f"{source_split}-{row}" for row in range(n_rows)], type=pa.string())
    if column.null_count:
        raise NeurokitError(f"{where}: id column has {column.null_count} missing value(s)")
    ids = column.cast(pa.string()).combine_chunks()
    if pc.count_distinct(ids).as_py() != n_rows:
        raise NeurokitError(f"{where}: id column repeats values; ids must be unique within a split")
    return ids
