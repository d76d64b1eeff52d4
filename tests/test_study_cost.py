"""benchmarks/study_cost.py: the work a study does at full size, counted independently of the script."""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

STUDY = """
name = "cost-test"
paper = "test"
models = ["roberta-base"]
tasks = ["sst2"]
seeds = [0, 1]
choose_split = "dev"
report_split = "test"
adversarial = true
adversarial_ablation = true
ablation_fractions = [0.0, 0.1]
ablation_draws = 2

[prompt]
prompt_length = 10
batch_size = 16
epochs = 2
max_length = 20
"""


@pytest.fixture
def study_cost(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return importlib.import_module("study_cost")


@pytest.fixture
def study_file(tmp_path) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(STUDY)
    return path


# SST-2 on the Hub: 67,349 train rows (20 % of them carved as dev, rounded half up), 872 validation rows (the
# test split), 148 AdvGLUE rows.
TRAIN_SOURCE, TEST, ADVERSARIAL = 67_349, 872, 148
DEV = round(0.2 * TRAIN_SOURCE)
TRAIN = TRAIN_SOURCE - DEV


def test_split_sizes_follow_the_task_split_plan(study_cost):
    assert study_cost.split_rows("sst2", "dev") == DEV == 13_470
    assert study_cost.split_rows("sst2", "train") == TRAIN
    assert study_cost.split_rows("sst2", "test") == TEST
    assert study_cost.split_rows("adv_sst2", "test") == ADVERSARIAL


def test_work_counts_match_a_hand_count(study_cost, study_file):
    from neurokit.study.config import StudyConfig

    work = study_cost.study_work(StudyConfig.from_toml(study_file), "roberta-base")
    seeds = 2
    steps = 2 * math.ceil(TRAIN / 16)
    assert work.tuning_example_passes == seeds * steps * 16
    assert work.tuning_eval_forwards == seeds * 2 * DEV  # one dev evaluation per epoch
    assert work.extraction_forwards == seeds * (TRAIN + DEV + TEST + ADVERSARIAL)
    assert work.stored_examples == seeds * (DEV + TEST + ADVERSARIAL)
    # fraction 0 perturbs nothing; 0.1: skill and random sets, two draws each, plus the unperturbed pass
    assert work.intervention_forwards == (1 + 2 * 2) * (TEST + ADVERSARIAL)


def test_hours_and_disk_from_measured_throughput(study_cost, study_file, tmp_path, monkeypatch, capsys):
    settings = {"batch_size": 8, "prompt_length": 20, "length": 40}  # a study sequence of 30 tokens: scale 0.5
    train_json, extract_json = tmp_path / "train.json", tmp_path / "extract.json"
    train_json.write_text(json.dumps({"machine": "test machine", "settings": settings, "rows": [
        {"model (random weights)": "roberta-base", "precision key": "bf16", "median step ms": 100.0}]}))
    extract_json.write_text(json.dumps({"machine": "test machine", "settings": settings, "rows": [
        {"model": "roberta-base", "forward ex/s": 50.0, "extract ex/s": 25.0, "stored MB/s": 10.0,
         "written MB/s": 5.0}]}))
    monkeypatch.setattr("sys.argv", ["study_cost.py", str(study_file), "--train-json", str(train_json),
                                     "--extract-json", str(extract_json)])
    study_cost.main()
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| cost-test"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    steps = 2 * 2 * math.ceil(TRAIN / 16) * 16 / 8  # example passes / timed batch size
    tuning_hours = steps * 0.1 * 0.5 / 3600
    extraction_hours = 2 * (TRAIN + DEV + TEST + ADVERSARIAL) / 25.0 * 0.5 / 3600
    other_hours = (2 * 2 * DEV + 5 * (TEST + ADVERSARIAL)) / 50.0 * 0.5 / 3600
    stored_tb = 2 * (DEV + TEST + ADVERSARIAL) * 10 * 12 * 3072 * 4 * 0.5 / 1e12
    assert cells[6] == f"{stored_tb:.2f}"
    assert cells[7:11] == [f"{tuning_hours:.1f}", f"{extraction_hours:.1f}", f"{other_hours:.1f}",
                           f"{tuning_hours + extraction_hours + other_hours:.1f}"]
