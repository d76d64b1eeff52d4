"""User tasks from spec files (JSON/TOML) over CSV, JSONL and Parquet data."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from neurokit.errors import ConfigError, NeurokitError
from neurokit.tasks import (
    FileSource,
    get_task,
    load_split,
    load_task_spec_file,
    register_task,
)

# A minimal spec; tests append keys and a [splits] table.
BASE_SPEC = 'name = "t"\ntask_type = "other"\ntext_fields = ["text"]\nlabel_names = ["a", "b"]\n'


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def csv_task(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text(
        "review,label\n"
        + "".join(f'"great, {row}",positive\nawful {row},negative\n' for row in range(10))
        + "007,negative\nNA,positive\n",
        encoding="utf-8",
    )
    (data / "test.csv").write_text("review,label\nfine,1\nbad,0\n", encoding="utf-8")
    return write_toml(
        tmp_path / "reviews.toml",
        """
name = "my_reviews"
task_type = "sentiment"
text_fields = ["review"]
label_names = ["negative", "positive"]
label_words = ["bad", "good"]

[splits]
train = "data/train.csv"
test = "data/test.csv"
""",
    )


def test_csv_task_with_label_names_and_carved_dev(csv_task: Path):
    spec = register_task(load_task_spec_file(csv_task))
    assert spec.template == "{review}"
    assert spec.splits == ("train", "dev", "test")
    train, dev, test = (load_split("my_reviews", split) for split in ("train", "dev", "test"))
    assert len(train) + len(dev) == 22
    assert len(dev) == round(0.2 * 22)
    assert not set(train["id"]) & set(dev["id"])
    assert all(identifier.startswith("train-") for identifier in [*train["id"], *dev["id"]])
    everything = {row["id"]: row for row in [*train, *dev]}
    assert everything["train-0"]["review"] == "great, 0"
    assert everything["train-0"]["label"] == 1
    # Text stays as written: no number out of "007", no missing value out of "NA".
    assert everything["train-20"]["review"] == "007"
    assert everything["train-21"]["review"] == "NA"
    assert test["label"] == [1, 0]
    assert test["id"] == ["test-0", "test-1"]


def test_get_task_accepts_a_spec_file_path(csv_task: Path):
    spec = get_task(str(csv_task))
    assert spec.name == "my_reviews"
    assert get_task("my_reviews") is spec
    assert get_task(str(csv_task)) == spec  # loading the same file again is fine


def test_jsonl_pair_task_from_json_spec_with_ids_and_dev_file(tmp_path: Path):
    for split, count in (("train", 8), ("dev", 4), ("test", 4)):
        with open(tmp_path / f"{split}.jsonl", "w", encoding="utf-8") as handle:
            for row in range(count):
                record = {"uid": f"{split}/{row}", "first": f"q{row}?", "second": f"r{row}?", "gold": row % 3}
                handle.write(json.dumps(record) + "\n")
    spec_path = tmp_path / "pairs.json"
    spec_path.write_text(
        json.dumps(
            {
                "name": "pairs",
                "task_type": "paraphrase",
                "text_fields": ["first", "second"],
                "label_names": ["no", "maybe", "yes"],
                "template": "{first} || {second}",
                "label_column": "gold",
                "id_column": "uid",
                "splits": {"train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"},
            }
        ),
        encoding="utf-8",
    )
    spec = load_task_spec_file(spec_path)
    assert spec.label_words == ("no", "maybe", "yes")  # defaults to the label names
    dev = load_split(spec, "dev")
    assert dev["id"] == ["dev/0", "dev/1", "dev/2", "dev/3"]
    assert dev["label"] == [0, 1, 2, 0]
    assert spec.render(dev[1]) == "q1? || r1?"
    assert len(load_split(spec, "train")) == 8  # a dev file means nothing is carved


def test_parquet_task_with_id_column_by_default_and_custom_dev_fraction(tmp_path: Path):
    rows = {"id": [f"doc{row}" for row in range(20)], "text": [f"t{row}" for row in range(20)], "label": [0, 1] * 10}
    datasets.Dataset.from_dict(rows).to_parquet(tmp_path / "all.parquet")
    spec_path = write_toml(
        tmp_path / "docs.toml",
        """
name = "docs"
task_type = "other"
text_fields = ["text"]
label_names = ["a", "b"]
dev_fraction = 0.5
splits = { train = "all.parquet" }
""",
    )
    spec = load_task_spec_file(spec_path)
    assert spec.splits == ("train", "dev")
    dev = load_split(spec, "dev")
    assert len(dev) == 10
    assert all(identifier.startswith("doc") for identifier in dev["id"])


def test_parquet_with_class_label_names_in_another_order_is_rejected(tmp_path: Path):
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["b", "a"])})
    datasets.Dataset.from_dict({"text": ["x", "y"], "label": [0, 1]}, features=features).to_parquet(
        tmp_path / "test.parquet"
    )
    spec_path = write_toml(
        tmp_path / "t.toml",
        BASE_SPEC + 'splits = { test = "test.parquet" }\n',
    )
    with pytest.raises(NeurokitError, match="differ from the expected order"):
        load_split(load_task_spec_file(spec_path), "test")


def test_file_source_accepts_a_mapping_in_python(tmp_path: Path):
    (tmp_path / "x.csv").write_text("text,label\na,0\nb,1\n", encoding="utf-8")
    source = FileSource(files={"test": tmp_path / "x.csv"})
    assert source.splits == ("test",)
    assert source.describe_splits() == "test"



@pytest.mark.parametrize(
    ("spec_text", "files", "message"),
    [
        (BASE_SPEC + 'colour = "red"\nsplits = { test = "x.csv" }\n', {"x.csv": "text,label\na,0\n"}, "unknown key"),
        ('name = "t"\nsplits = { test = "x.csv" }\n', {"x.csv": "text,label\na,0\n"}, "missing key"),
        (BASE_SPEC + 'splits = { test = "nope.csv" }\n', {}, "does not exist"),
        (BASE_SPEC + 'splits = { test = "x.txt" }\n', {"x.txt": "a"}, "is not one of"),
        (BASE_SPEC + 'splits = { validation = "x.csv" }\n', {"x.csv": "text,label\na,0\n"}, "some of train, dev, test"),
        (BASE_SPEC + 'splits = "x.csv"\n', {"x.csv": "text,label\na,0\n"}, "map split names"),
        (BASE_SPEC + 'dev_fraction = 1.5\nsplits = { train = "x.csv" }\n', {"x.csv": "t\n"},
         r"dev_fraction must be in \(0, 1\), got 1\.5"),
        (BASE_SPEC + 'dev_fraction = "half"\nsplits = { train = "x.csv" }\n', {"x.csv": "t\n"}, "dev_fraction"),
        (BASE_SPEC + 'id_column = 3\nsplits = { test = "x.csv" }\n', {"x.csv": "t\n"}, "id_column must be"),
        (
            BASE_SPEC.replace('["text"]', '["q", "r"]') + 'splits = { test = "x.csv" }\n',
            {"x.csv": "q,r,label\na,b,0\n"},
            "template is required",
        ),
        (BASE_SPEC + 'label_words = ["x"]\nsplits = { test = "x.csv" }\n', {"x.csv": "t\n"}, "label_words has 1"),
        ("name = \n", {}, "not valid TOML"),
        (BASE_SPEC.replace('["text"]', '"text"') + 'splits = { test = "x.csv" }\n', {"x.csv": "t\n"}, "must be a list"),
        (BASE_SPEC.replace('["text"]', "[]") + 'splits = { test = "x.csv" }\n', {"x.csv": "t\n"}, "at least one"),
    ],
)
def test_bad_spec_files_raise_one_line_config_errors(tmp_path: Path, spec_text: str, files: dict, message: str):
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    spec_path = write_toml(tmp_path / "task.toml", spec_text)
    with pytest.raises(ConfigError, match=message) as caught:
        load_task_spec_file(spec_path)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(str(spec_path))


def test_spec_file_must_be_json_or_toml_and_exist(tmp_path: Path):
    with pytest.raises(ConfigError, match="must end in .toml or .json"):
        load_task_spec_file(tmp_path / "task.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_task_spec_file(tmp_path / "absent.toml")
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level"):
        load_task_spec_file(tmp_path / "list.json")


def _task_over(tmp_path: Path, content: str, suffix: str = ".csv", extra: str = "") -> str:
    (tmp_path / f"test{suffix}").write_text(content, encoding="utf-8")
    spec_path = write_toml(tmp_path / "task.toml", BASE_SPEC + extra + f'splits = {{ test = "test{suffix}" }}\n')
    return register_task(load_task_spec_file(spec_path)).name


@pytest.mark.parametrize(
    ("content", "suffix", "extra", "message"),
    [
        ("text,label\nx,c\n", ".csv", "", "outside the label set.*'c'"),
        ("text,label\nx,2\n", ".csv", "", r"outside 0\.\.1"),
        ("text,label\nx,0.5\n", ".csv", "", "expected integer labels"),
        ("body,label\nx,0\n", ".csv", "", "lacks column.*'text'"),
        ("text,label\n", ".csv", "", "no rows"),
        ("", ".jsonl", "", "is empty"),
        ('{"text": "x", "label": 0}\n{"text": null, "label": 1}\n', ".jsonl", "", "missing value"),
        ('{"text": 5, "label": 0}\n', ".jsonl", "", "expected text"),
        ('{"text": "x", "label": null}\n{"text": "y", "label": 1}\n', ".jsonl", "", "missing label"),
        ("text,label,key\nx,0,k\ny,1,k\n", ".csv", 'id_column = "key"\n', "repeats values"),
        ("text,label\nx,0\n", ".csv", 'id_column = "key"\n', "lacks column.*'key'"),
        ("text\tlabel\nx\t0\n", ".tsv", 'label_column = "gold"\n', "lacks column.*'gold'"),
    ],
)
def test_bad_data_raise_one_line_errors(tmp_path: Path, content: str, suffix: str, extra: str, message: str):
    name = _task_over(tmp_path, content, suffix, extra)
    with pytest.raises(NeurokitError, match=message) as caught:
        load_split(name, "test")
    assert "\n" not in str(caught.value)


def test_tsv_files_are_read(tmp_path: Path):
    name = _task_over(tmp_path, "text\tlabel\nhello, world\t1\n", ".tsv")
    assert load_split(name, "test")[0] == {"id": "test-0", "text": "hello, world", "label": 1}


def test_user_adversarial_task_links_to_its_clean_task(csv_task: Path, tmp_path: Path):
    register_task(load_task_spec_file(csv_task))
    (tmp_path / "adv.csv").write_text("review,label\ngr8,positive\n", encoding="utf-8")
    spec_path = write_toml(
        tmp_path / "adv.toml",
        """
name = "adv_my_reviews"
task_type = "sentiment"
text_fields = ["review"]
label_names = ["negative", "positive"]
label_words = ["bad", "good"]
adversarial_of = "my_reviews"
splits = { test = "adv.csv" }
""",
    )
    spec = register_task(load_task_spec_file(spec_path))
    assert spec.adversarial_of == "my_reviews"
    assert load_split(spec, "test")["label"] == [1]
