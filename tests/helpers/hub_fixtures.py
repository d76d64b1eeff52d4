"""Tiny local copies of the Hub datasets, written in the Hub's own column format.

The formats below are written down here independently of ``neurokit.tasks.hub``, from the datasets' cards:
column names, ClassLabel names in Hub order, the splits and which of them are unlabelled (-1), and whether
an ``idx`` column exists. The tests compare what ``load_split`` makes of these files with these facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import datasets

TRAIN_ROWS = 30
OTHER_ROWS = 12
IDX_OFFSET = 1000  # idx values differ from row numbers, so a test can tell which one became the id


@dataclass(frozen=True)
class HubFormat:
    path: str
    config: str | None
    columns: tuple[str, ...]
    hub_labels: tuple[str, ...]
    splits: dict[str, bool]  # split → labelled
    has_idx: bool
    file_format: str = "parquet"  # how the mirror stores it: parquet, jsonl or shards (folder of parquet)


_GLUE = "nyu-mll/glue"
_GLUE_SPLITS = {"train": True, "validation": True, "test": False}
_MNLI_LABELS = ("entailment", "neutral", "contradiction")
_MNLI_SPLITS = {
    "train": True,
    "validation_matched": True,
    "validation_mismatched": True,
    "test_matched": False,
    "test_mismatched": False,
}
_DBPEDIA_LABELS = (
    "Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation", "Building",
    "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork",
)  # fmt: skip

FORMATS: dict[str, HubFormat] = {
    "glue/sst2": HubFormat(_GLUE, "sst2", ("sentence",), ("negative", "positive"), _GLUE_SPLITS, True),
    "glue/mnli": HubFormat(_GLUE, "mnli", ("premise", "hypothesis"), _MNLI_LABELS, _MNLI_SPLITS, True),
    "glue/qnli": HubFormat(
        _GLUE, "qnli", ("question", "sentence"), ("entailment", "not_entailment"), _GLUE_SPLITS, True
    ),
    "glue/qqp": HubFormat(_GLUE, "qqp", ("question1", "question2"), ("not_duplicate", "duplicate"), _GLUE_SPLITS, True),
    "glue/mrpc": HubFormat(
        _GLUE, "mrpc", ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), _GLUE_SPLITS, True
    ),
    "imdb": HubFormat(
        "stanfordnlp/imdb", None, ("text",), ("neg", "pos"),
        {"train": True, "test": True, "unsupervised": False}, False, "jsonl",
    ),  # fmt: skip
    "rotten_tomatoes": HubFormat(
        "cornell-movie-review-data/rotten_tomatoes", None, ("text",), ("neg", "pos"),
        {"train": True, "validation": True, "test": True}, False,
    ),  # fmt: skip
    "tweet_eval/sentiment": HubFormat(
        "cardiffnlp/tweet_eval", "sentiment", ("text",), ("negative", "neutral", "positive"),
        {"train": True, "validation": True, "test": True}, False,
    ),  # fmt: skip
    "ag_news": HubFormat(
        "fancyzhx/ag_news", None, ("text",), ("World", "Sports", "Business", "Sci/Tech"),
        {"train": True, "test": True}, False, "shards",
    ),  # fmt: skip
    "dbpedia_14": HubFormat(
        "fancyzhx/dbpedia_14", None, ("title", "content"), _DBPEDIA_LABELS, {"train": True, "test": True}, False
    ),
    "adv_glue/adv_sst2": HubFormat(
        "AI-Secure/adv_glue", "adv_sst2", ("sentence",), ("negative", "positive"), {"validation": True}, True
    ),
    "adv_glue/adv_qqp": HubFormat(
        "AI-Secure/adv_glue", "adv_qqp", ("question1", "question2"), ("not_duplicate", "duplicate"),
        {"validation": True}, True,
    ),  # fmt: skip
    "adv_glue/adv_qnli": HubFormat(
        "AI-Secure/adv_glue", "adv_qnli", ("question", "sentence"), ("entailment", "not_entailment"),
        {"validation": True}, True,
    ),  # fmt: skip
    "adv_glue/adv_mnli": HubFormat(
        "AI-Secure/adv_glue", "adv_mnli", ("premise", "hypothesis"), _MNLI_LABELS, {"validation": True}, True
    ),
}


@dataclass(frozen=True)
class Expectation:
    """What a registered task must make of its Hub format."""

    format: str
    label_names: tuple[str, ...]
    train: str | None  # Hub split for train (None: the task has no train split)
    dev: str | None  # Hub split for dev; None: carved from train
    test: str
    label_map: tuple[int, ...] | None = None


_BINARY = ("negative", "positive")
EXPECTED: dict[str, Expectation] = {
    "sst2": Expectation("glue/sst2", _BINARY, "train", None, "validation"),
    "imdb": Expectation("imdb", _BINARY, "train", None, "test"),
    "rotten_tomatoes": Expectation("rotten_tomatoes", _BINARY, "train", "validation", "test"),
    "tweet_eval_sentiment": Expectation(
        "tweet_eval/sentiment", ("negative", "neutral", "positive"), "train", "validation", "test"
    ),
    "mnli": Expectation("glue/mnli", _MNLI_LABELS, "train", None, "validation_matched"),
    "mnli_binary": Expectation(
        "glue/mnli", ("entailment", "not_entailment"), "train", None, "validation_matched", (0, 1, 1)
    ),
    "qnli": Expectation("glue/qnli", ("entailment", "not_entailment"), "train", None, "validation"),
    "qqp": Expectation("glue/qqp", ("not_duplicate", "duplicate"), "train", None, "validation"),
    "mrpc": Expectation("glue/mrpc", ("not_equivalent", "equivalent"), "train", None, "validation"),
    "ag_news": Expectation("ag_news", ("World", "Sports", "Business", "Sci/Tech"), "train", None, "test"),
    "dbpedia_14": Expectation("dbpedia_14", _DBPEDIA_LABELS, "train", None, "test"),
    "adv_sst2": Expectation("adv_glue/adv_sst2", _BINARY, None, "validation", "validation"),
    "adv_qqp": Expectation("adv_glue/adv_qqp", ("not_duplicate", "duplicate"), None, "validation", "validation"),
    "adv_qnli": Expectation(
        "adv_glue/adv_qnli", ("entailment", "not_entailment"), None, "validation", "validation"
    ),
    "adv_mnli": Expectation("adv_glue/adv_mnli", _MNLI_LABELS, None, "validation", "validation"),
    "adv_mnli_binary": Expectation(
        "adv_glue/adv_mnli", ("entailment", "not_entailment"), None, "validation", "validation", (0, 1, 1)
    ),
}


def source_rows(fmt: HubFormat, split: str) -> dict[str, list]:
    """Columns of the fake split: texts name their split/row, labels cycle, unlabelled splits hold -1."""
    n_rows = TRAIN_ROWS if split == "train" else OTHER_ROWS
    rows: dict[str, list] = {
        column: [f"{split} {column} {row} é" for row in range(n_rows)] for column in fmt.columns
    }
    labelled = fmt.splits[split]
    rows["label"] = [row % len(fmt.hub_labels) if labelled else -1 for row in range(n_rows)]
    if fmt.has_idx:
        rows["idx"] = [IDX_OFFSET + row for row in range(n_rows)]
    return rows


def write_mirror(root: Path, fmt: HubFormat, *, label_names: tuple[str, ...] | None = None) -> None:
    """Write every split of ``fmt`` under ``root`` in the mirror layout, with Hub-style features."""
    features = {column: datasets.Value("string") for column in fmt.columns}
    features["label"] = datasets.ClassLabel(names=list(label_names or fmt.hub_labels))
    if fmt.has_idx:
        features["idx"] = datasets.Value("int32")
    folder = root / fmt.path / (fmt.config or "default")
    folder.mkdir(parents=True, exist_ok=True)
    for split in fmt.splits:
        table = datasets.Dataset.from_dict(source_rows(fmt, split), features=datasets.Features(features))
        if fmt.file_format == "jsonl":
            table.to_json(folder / f"{split}.jsonl", lines=True)
        elif fmt.file_format == "shards":
            (folder / split).mkdir(exist_ok=True)
            half = len(table) // 2
            table.select(range(half)).to_parquet(folder / split / "0000.parquet")
            table.select(range(half, len(table))).to_parquet(folder / split / "0001.parquet")
        else:
            table.to_parquet(folder / f"{split}.parquet")


def write_all(root: Path) -> None:
    for fmt in FORMATS.values():
        write_mirror(root, fmt)


def expected_id(fmt: HubFormat, split: str, row: int) -> str:
    return str(IDX_OFFSET + row) if fmt.has_idx else f"{split}-{row}"
