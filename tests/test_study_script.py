"""analyses/skill_neurons_study.sh runs end to end, offline, on the embedded model at tiny sizes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "analyses" / "skill_neurons_study.sh"


@pytest.mark.slow
def test_study_script_runs_every_stage(tmp_path):
    env = os.environ | {
        "MODEL": "embedded", "TASKS": "toy_sentiment_movies toy_nli", "SEEDS": "0 1", "PROMPT_LENGTH": "3",
        "INIT": "labels", "STEPS": "2", "LEARNING_RATE": "0.01", "TRAIN_SIZE": "24", "EVAL_SIZE": "20",
        "OUT": str(tmp_path / "study"), "NEUROKIT": str(Path(sys.executable).with_name("neurokit")),
        "PROGRESS": "--no-progress", "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "study"
    assert (out / "results.zarr").is_dir() and (out / "ablation.zarr").is_dir()
    assert sorted(path.name for path in (out / "prompts").iterdir()) == [
        "toy_nli-seed0", "toy_nli-seed1", "toy_nli-untuned",
        "toy_sentiment_movies-seed0", "toy_sentiment_movies-seed1", "toy_sentiment_movies-untuned"]
    assert (out / "stores" / "toy_sentiment_movies-seed1" / "adversarial.zarr").is_dir()
    assert any((out / "figures").glob("toy_nli__prompt_consistency.*"))
    assert any((out / "tables").glob("tasks__agreement__jaccard.csv"))
