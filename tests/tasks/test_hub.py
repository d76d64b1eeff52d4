"""Hub tasks load through the real code path from local files in the Hub's format (via NEUROKIT_HUB_MIRROR)."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest

from neurokit.errors import NeurokitError
from neurokit.tasks import MIRROR_ENV, get_task, list_tasks, load_split
from tests.helpers.hub_fixtures import (
    EXPECTED,
    FORMATS,
    TRAIN_ROWS,
    expected_id,
    source_rows,
    write_all,
    write_mirror,
)


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "mirror"
    write_all(root)
    monkeypatch.setenv(MIRROR_ENV, str(root))
    return root


def test_every_hub_task_is_covered():
    hub_tasks = {spec.name for spec in list_tasks() if type(spec.source).__name__ == "HubSource"}
    assert hub_tasks == set(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hub_task_splits_come_from_the_right_hub_splits(name: str, mirror: Path):
    expected = EXPECTED[name]
    fmt = FORMATS[expected.format]
    spec = get_task(name)
    assert spec.label_names == expected.label_names
    assert spec.text_fields == fmt.columns
    assert spec.splits == (("train",) if expected.train else ()) + ("dev", "test")

    loaded = {split: load_split(spec, split) for split in spec.splits}
    for dataset in loaded.values():
        assert dataset.column_names == ["id", *fmt.columns, "label"]
        assert dataset.features["label"].names == list(expected.label_names)
        assert len(set(dataset["id"])) == len(dataset)

    def check_rows(dataset: datasets.Dataset, hub_split: str) -> None:
        rows = source_rows(fmt, hub_split)
        for example in dataset:
            row = int(example[fmt.columns[0]].split()[2])  # texts say "<split> <column> <row> é"
            assert example["id"] == expected_id(fmt, hub_split, row)
            for column in fmt.columns:
                assert example[column] == rows[column][row]
            hub_label = rows["label"][row]
            wanted = hub_label if expected.label_map is None else expected.label_map[hub_label]
            assert example["label"] == wanted

    check_rows(loaded["test"], expected.test)
    if expected.dev is not None:
        check_rows(loaded["dev"], expected.dev)
    if expected.train is not None:
        check_rows(loaded["train"], expected.train)
        if expected.dev is None:  # carved: train and dev partition the Hub train split, 20 % in dev
            check_rows(loaded["dev"], expected.train)
            assert not set(loaded["train"]["id"]) & set(loaded["dev"]["id"])
            assert len(loaded["train"]) + len(loaded["dev"]) == TRAIN_ROWS
            assert len(loaded["dev"]) == round(0.2 * TRAIN_ROWS)
        else:
            assert len(loaded["train"]) == TRAIN_ROWS


def test_adversarial_hub_tasks_point_to_their_clean_task():
    for name in ("adv_sst2", "adv_qqp", "adv_qnli", "adv_mnli", "adv_mnli_binary"):
        spec = get_task(name)
        clean = get_task(spec.adversarial_of)
        assert spec.adversarial_of == name.removeprefix("adv_")
        assert (spec.label_names, spec.label_words, spec.template) == (
            clean.label_names,
            clean.label_words,
            clean.template,
        )


def test_mnli_binary_verbaliser_has_two_words_not_three():
    # The robustness paper's code used a 3-way verbaliser on binarised MNLI; ours matches the labels.
    assert len(get_task("mnli_binary").label_words) == 2


def test_without_mirror_the_hub_is_asked_for_path_config_and_split(monkeypatch: pytest.MonkeyPatch):
    calls = []

    def fake_load_dataset(path, name=None, **options):
        calls.append((path, name, options))
        rows = source_rows(FORMATS["glue/sst2"], options["split"])
        return datasets.Dataset.from_dict(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    test = load_split("sst2", "test")
    assert len(test) > 0
    assert calls == [("nyu-mll/glue", "sst2", {"data_files": None, "split": "validation"})]


def test_unreachable_hub_gives_one_line_with_the_mirror_hint(monkeypatch: pytest.MonkeyPatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)\nmore")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(NeurokitError, match=MIRROR_ENV) as caught:
        load_split("sst2", "train")
    assert "\n" not in str(caught.value)


def test_missing_mirror_file_names_the_expected_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    with pytest.raises(NeurokitError, match=r"nyu-mll/glue/qnli/validation\.parquet"):
        load_split("qnli", "test")


def test_two_copies_of_one_split_are_ambiguous(mirror: Path):
    sst2 = FORMATS["glue/sst2"]
    datasets.Dataset.from_dict(source_rows(sst2, "validation")).to_json(
        mirror / sst2.path / "sst2" / "validation.jsonl", lines=True
    )
    with pytest.raises(NeurokitError, match="several copies"):
        load_split("sst2", "test")


def test_a_changed_label_order_on_the_hub_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_mirror(tmp_path, FORMATS["glue/qqp"], label_names=("duplicate", "not_duplicate"))
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    with pytest.raises(NeurokitError, match="differ from the expected order"):
        load_split("qqp", "train")


def test_unlabelled_split_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # A copy whose validation split is unlabelled (-1), like GLUE's test split.
    fmt = FORMATS["glue/sst2"]
    write_mirror(tmp_path, type(fmt)(**{**fmt.__dict__, "splits": {"train": True, "validation": False}}))
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    with pytest.raises(NeurokitError, match=r"outside 0\.\.1.*unlabelled") as caught:
        load_split("sst2", "test")
    assert "\n" not in str(caught.value)


def test_missing_text_column_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "nyu-mll/glue/mrpc"
    folder.mkdir(parents=True)
    datasets.Dataset.from_dict({"sentence1": ["a"], "label": [1], "idx": [0]}).to_parquet(folder / "validation.parquet")
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    with pytest.raises(NeurokitError, match="lacks column.*'sentence2'"):
        load_split("mrpc", "test")


def test_empty_hub_split_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "nyu-mll/glue/mrpc"
    folder.mkdir(parents=True)
    empty = datasets.Dataset.from_dict(
        {"sentence1": [], "sentence2": [], "label": [], "idx": []},
        features=datasets.Features(
            {
                "sentence1": datasets.Value("string"),
                "sentence2": datasets.Value("string"),
                "label": datasets.Value("int64"),
                "idx": datasets.Value("int32"),
            }
        ),
    )
    empty.to_parquet(folder / "validation.parquet")
    monkeypatch.setenv(MIRROR_ENV, str(tmp_path))
    with pytest.raises(NeurokitError, match="empty|no rows"):
        load_split("mrpc", "test")


def test_size_draws_a_seeded_nested_subset_in_source_order(mirror: Path):
    small = load_split("ag_news", "train", size=5, seed=3)
    large = load_split("ag_news", "train", size=15, seed=3)
    other = load_split("ag_news", "train", size=5, seed=4)
    assert set(small["id"]) < set(large["id"])
    assert small["id"] != other["id"]
    rows = [int(identifier.split("-")[1]) for identifier in large["id"]]
    assert rows == sorted(rows)
    assert load_split("ag_news", "train", size=5, seed=3)["id"] == small["id"]


def test_size_beyond_the_split_is_an_error(mirror: Path):
    with pytest.raises(NeurokitError, match="fewer than the requested size"):
        load_split("adv_sst2", "test", size=10_000)


def test_adversarial_glue_serves_one_split_as_dev_and_test(mirror: Path):
    dev, test = load_split("adv_qnli", "dev"), load_split("adv_qnli", "test")
    assert dev["id"] == test["id"]
    with pytest.raises(NeurokitError, match="no train split"):
        load_split("adv_qnli", "train")


def test_labels_are_int64(mirror: Path):
    test = load_split("tweet_eval_sentiment", "test")
    assert test.features["label"].dtype == "int64"
    assert np.asarray(test["label"]).dtype == np.int64
