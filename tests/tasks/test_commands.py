"""`neurokit tasks` through neurokit.cli.main."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from neurokit.cli import main

from .test_registry import BUILTIN


def table_rows(output: str) -> dict[str, str]:
    lines = output.strip().splitlines()
    assert lines[0].split() == ["NAME", "TYPE", "LABELS", "SPLITS", "SOURCE"]
    return {line.split()[0]: line for line in lines[1:]}


def test_tasks_lists_every_task_with_type_labels_splits_and_source(capsys: pytest.CaptureFixture[str]):
    assert main(["tasks"]) == 0
    rows = table_rows(capsys.readouterr().out)
    assert set(rows) == BUILTIN
    assert rows["sst2"].split()[1:3] == ["sentiment", "negative,positive"]
    assert "dev<-train 20%" in rows["sst2"] and "test<-validation" in rows["sst2"]
    assert "hub nyu-mll/glue:sst2" in rows["sst2"]
    assert "train 2000, dev 500, test 500" in rows["toy_topic"]
    assert "[adversarial of toy_nli]" in rows["adv_toy_nli"]
    assert "+11 more" in rows["dbpedia_14"]


def test_tasks_type_filter(capsys: pytest.CaptureFixture[str]):
    assert main(["tasks", "--type", "paraphrase"]) == 0
    assert set(table_rows(capsys.readouterr().out)) == {"qqp", "mrpc", "adv_qqp"}


def test_tasks_with_no_match(capsys: pytest.CaptureFixture[str]):
    assert main(["tasks", "--type", "other"]) == 0
    assert capsys.readouterr().out.strip() == "no registered tasks of type other"


def test_tasks_rejects_an_unknown_type(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        main(["tasks", "--type", "sarcasm"])
    assert exited.value.code == 2


def test_tasks_registers_spec_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    (tmp_path / "t.csv").write_text("text,label\na,0\n", encoding="utf-8")
    spec = tmp_path / "mine.toml"
    spec.write_text(
        'name = "mine"\ntask_type = "other"\ntext_fields = ["text"]\nlabel_names = ["a", "b"]\n'
        'splits = { train = "t.csv", test = "t.csv" }\n',
        encoding="utf-8",
    )
    assert main(["tasks", "--type", "other", "--spec-file", str(spec)]) == 0
    row = table_rows(capsys.readouterr().out)["mine"]
    assert f"files {spec}" in row and "train, dev<-train 20%, test" in row


def test_a_bad_spec_file_is_one_line_on_stderr_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "bad"\n', encoding="utf-8")
    assert main(["tasks", "--spec-file", str(spec)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("neurokit: error: ") and "missing key" in captured.err


def test_building_the_parser_does_not_import_datasets():
    # `neurokit --help` imports every stage's commands module; ours must stay light.
    code = "import sys, neurokit.tasks.commands; print('datasets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
