"""Tasks whose data live on the Hugging Face Hub, and the local mirror used where the Hub cannot be reached.

Users get the data through ``datasets.load_dataset(path, config, split=...)``. When the environment variable
``NEUROKIT_HUB_MIRROR`` names a folder, each Hub split is read instead from
``<mirror>/<hub path>/<config or "default">/<split>.<parquet|jsonl|json|csv|tsv>`` or from a folder
``.../<split>/`` of shards (the layout of the Hub's Parquet conversion). Either way the rows then go through
the same checks, dev carving and sub-sampling (:func:`neurokit.tasks.loading.load_table_split`).
"""

from __future__ import annotations

import dataclasses
import os
import string
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets

from neurokit.errors import NeurokitError
from neurokit.tasks.loading import (
    DATA_FILE_SUFFIXES,
    ColumnRules,
    SplitPlan,
    load_table_split,
    load_with_datasets,
    read_data_file,
)
from neurokit.tasks.spec import TaskSpec, TaskType

#: Environment variable naming a local folder that replaces the Hub (offline clusters, tests).
MIRROR_ENV = "NEUROKIT_HUB_MIRROR"


@dataclass(frozen=True)
class HubSource:
    """A Hub dataset configuration mapped onto the canonical splits.

    Attributes:
        path: Hub repository id, e.g. ``"nyu-mll/glue"``.
        config: configuration name, e.g. ``"sst2"``; ``None`` for single-configuration datasets.
        plan: which Hub split serves each canonical split.
        rules: label column, Hub label order and id column.
    """

    path: str
    config: str | None
    plan: SplitPlan
    rules: ColumnRules

    @property
    def splits(self) -> tuple[str, ...]:
        return self.plan.splits

    def describe(self) -> str:
        return f"hub {self.path}" + (f":{self.config}" if self.config else "")

    def describe_splits(self) -> str:
        return self.plan.describe()

    def load(self, spec: TaskSpec, split: str, size: int | None, seed: int) -> datasets.Dataset:
        return load_table_split(
            spec,
            split,
            size,
            seed,
            plan=self.plan,
            rules=self.rules,
            read=lambda hub_split: read_hub_split(self, hub_split, spec.text_fields),
        )


def read_hub_split(source: HubSource, hub_split: str, text_columns: Sequence[str]) -> datasets.Dataset:
    """One Hub split as stored: from the Hub, or from the mirror folder when ``NEUROKIT_HUB_MIRROR`` is set."""
    mirror = os.environ.get(MIRROR_ENV)
    if not mirror:
        return load_with_datasets(
            source.path, source.config, None, hub_split, hint=f"; offline? set {MIRROR_ENV} (docs/tasks.md)"
        )
    return read_data_file(mirror_location(Path(mirror), source, hub_split), hub_split, text_columns)


def mirror_location(mirror: Path, source: HubSource, hub_split: str) -> Path:
    """The file or shard folder holding ``hub_split`` of ``source`` inside a mirror folder."""
    folder = mirror / source.path / (source.config or "default")
    found = [folder / hub_split] if (folder / hub_split).is_dir() else []
    found += [file for file in (folder / f"{hub_split}{suffix}" for suffix in DATA_FILE_SUFFIXES) if file.is_file()]
    if not found:
        raise NeurokitError(
            f"{MIRROR_ENV}: no copy of {source.path} ({source.config or 'default'}) split {hub_split!r}; "
            f"expected {folder / hub_split}.parquet (or .jsonl/.json/.csv/.tsv, or a folder of shards)"
        )
    if len(found) > 1:
        names = ", ".join(path.name for path in found)
        raise NeurokitError(f"{MIRROR_ENV}: several copies of split {hub_split!r} in {folder}: {names}")
    return found[0]


def _hub_task(
    name: str,
    task_type: TaskType,
    path: str,
    config: str | None,
    template: str,
    hub_label_names: tuple[str, ...],
    label_words: tuple[str, ...],
    splits: dict[str, str],
    *,
    label_names: tuple[str, ...] | None = None,
    label_map: tuple[int, ...] | None = None,
) -> TaskSpec:
    """A Hub task whose text fields are the template's placeholders (Hub column names), ids from ``idx`` if present."""
    text_fields = tuple(field for _, field, _, _ in string.Formatter().parse(template) if field)
    source = HubSource(
        path,
        config,
        SplitPlan(tuple(splits.items())),
        ColumnRules(source_label_names=hub_label_names, label_map=label_map, id_column="idx"),
    )
    return TaskSpec(
        name=name,
        task_type=task_type,
        text_fields=text_fields,
        label_names=label_names or hub_label_names,
        label_words=label_words,
        template=template,
        source=source,
    )


def _advglue_task(clean: TaskSpec, config: str) -> TaskSpec:
    """The AdvGLUE dev set for ``clean``: its one labelled split (validation) serves as both dev and test."""
    hub = clean.source
    assert isinstance(hub, HubSource)
    source = HubSource(
        "AI-Secure/adv_glue",
        config,
        SplitPlan((("dev", "validation"), ("test", "validation"))),
        hub.rules,
    )
    return dataclasses.replace(clean, name=f"adv_{clean.name}", adversarial_of=clean.name, source=source)


_BINARY_SENTIMENT = ("negative", "positive")
_MNLI_LABELS = ("entailment", "neutral", "contradiction")
_QNLI_LABELS = ("entailment", "not_entailment")
_GLUE = "nyu-mll/glue"
# GLUE hides its test labels (-1), so dev is carved from train and the official validation split is the test.
_GLUE_SPLITS = {"train": "train", "test": "validation"}

_SST2 = _hub_task(
    "sst2", TaskType.SENTIMENT, _GLUE, "sst2", "{sentence}", _BINARY_SENTIMENT, _BINARY_SENTIMENT, _GLUE_SPLITS
)
_MNLI = _hub_task(
    "mnli",
    TaskType.NLI,
    _GLUE,
    "mnli",
    "{premise} ? {hypothesis}",
    _MNLI_LABELS,
    ("yes", "maybe", "no"),
    {"train": "train", "test": "validation_matched"},
)
_MNLI_BINARY = _hub_task(
    "mnli_binary",
    TaskType.NLI,
    _GLUE,
    "mnli",
    "{premise} ? {hypothesis}",
    _MNLI_LABELS,
    ("yes", "no"),
    {"train": "train", "test": "validation_matched"},
    label_names=("entailment", "not_entailment"),
    label_map=(0, 1, 1),  # neutral and contradiction both become "not entailment"
)
_QNLI = _hub_task(
    "qnli", TaskType.NLI, _GLUE, "qnli", "{question} ? {sentence}", _QNLI_LABELS, ("yes", "no"), _GLUE_SPLITS
)
_QQP = _hub_task(
    "qqp",
    TaskType.PARAPHRASE,
    _GLUE,
    "qqp",
    "{question1} {question2}",  # Quora questions end in '?' already
    ("not_duplicate", "duplicate"),
    ("no", "yes"),
    _GLUE_SPLITS,
)
_MRPC = _hub_task(
    "mrpc",
    TaskType.PARAPHRASE,
    _GLUE,
    "mrpc",
    "{sentence1} ? {sentence2}",
    ("not_equivalent", "equivalent"),
    ("no", "yes"),
    _GLUE_SPLITS,
)

HUB_TASKS: tuple[TaskSpec, ...] = (
    _SST2,
    _hub_task(
        "imdb",
        TaskType.SENTIMENT,
        "stanfordnlp/imdb",
        None,
        "{text}",
        ("neg", "pos"),
        _BINARY_SENTIMENT,
        {"train": "train", "test": "test"},  # no validation split: dev is carved from train
        label_names=_BINARY_SENTIMENT,
    ),
    _hub_task(
        "rotten_tomatoes",
        TaskType.SENTIMENT,
        "cornell-movie-review-data/rotten_tomatoes",
        None,
        "{text}",
        ("neg", "pos"),
        _BINARY_SENTIMENT,
        {"train": "train", "dev": "validation", "test": "test"},
        label_names=_BINARY_SENTIMENT,
    ),
    _hub_task(
        "tweet_eval_sentiment",
        TaskType.SENTIMENT,
        "cardiffnlp/tweet_eval",
        "sentiment",
        "{text}",
        ("negative", "neutral", "positive"),
        ("negative", "neutral", "positive"),
        {"train": "train", "dev": "validation", "test": "test"},
    ),
    _MNLI,
    _MNLI_BINARY,
    _QNLI,
    _QQP,
    _MRPC,
    _hub_task(
        "ag_news",
        TaskType.TOPIC,
        "fancyzhx/ag_news",
        None,
        "{text}",
        ("World", "Sports", "Business", "Sci/Tech"),
        ("world", "sports", "business", "technology"),
        {"train": "train", "test": "test"},
    ),
    _hub_task(
        "dbpedia_14",
        TaskType.TOPIC,
        "fancyzhx/dbpedia_14",
        None,
        "{title}: {content}",
        (
            "Company",
            "EducationalInstitution",
            "Artist",
            "Athlete",
            "OfficeHolder",
            "MeanOfTransportation",
            "Building",
            "NaturalPlace",
            "Village",
            "Animal",
            "Plant",
            "Album",
            "Film",
            "WrittenWork",
        ),
        (
            "company",
            "school",
            "artist",
            "athlete",
            "politician",
            "vehicle",
            "building",
            "nature",
            "village",
            "animal",
            "plant",
            "album",
            "film",
            "book",
        ),
        {"train": "train", "test": "test"},
    ),
    _advglue_task(_SST2, "adv_sst2"),
    _advglue_task(_QQP, "adv_qqp"),
    _advglue_task(_QNLI, "adv_qnli"),
    _advglue_task(_MNLI, "adv_mnli"),
    _advglue_task(_MNLI_BINARY, "adv_mnli"),
)
