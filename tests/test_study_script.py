"""analyses/skill_neurons_study.sh runs end to end, offline, on the embedded model at tiny sizes.

The test is about the script's wiring: which commands it runs, in which order, on which files. The script
runs with ``NEUROKIT`` pointing at a shim that records each command line (and answers ``neurokit tasks``
with the real listing, which the script greps); the recorded commands then run in this process through
``neurokit.cli.main``, in order, each of which must succeed. That is the same work as running the script
with the real CLI, without a Python start and a torch import per command, and without any time limit.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from neurokit.cli import main

SCRIPT = Path(__file__).resolve().parents[1] / "analyses" / "skill_neurons_study.sh"


def _recorded_commands(tmp_path: Path, env: dict[str, str], listing: str) -> list[list[str]]:
    """The command lines the script gives to ``$NEUROKIT``, in order (each argument as given)."""
    (tmp_path / "tasks.txt").write_text(listing)
    log = tmp_path / "commands.log"
    shim = tmp_path / "neurokit"
    shim.write_text(
        "#!/usr/bin/env bash\n"
        f'if [[ "$1" == tasks ]]; then cat "{tmp_path / "tasks.txt"}"; exit 0; fi\n'
        f'{{ printf "%s\\0" "$@"; printf "\\n"; }} >> "{log}"\n'
    )
    shim.chmod(0o755)
    result = subprocess.run(["bash", str(SCRIPT)], env=os.environ | env | {"NEUROKIT": str(shim)},
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return [line.split("\0")[:-1] for line in log.read_text().splitlines()]


@pytest.mark.slow
def test_study_script_runs_every_stage(tmp_path, capsys):
    out = tmp_path / "study"
    env = {
        "MODEL": "embedded", "TASKS": "toy_sentiment_movies toy_nli", "SEEDS": "0 1", "PROMPT_LENGTH": "3",
        "INIT": "labels", "STEPS": "2", "LEARNING_RATE": "0.01", "TRAIN_SIZE": "24", "EVAL_SIZE": "20",
        "OUT": str(out), "PROGRESS": "--no-progress",
    }
    assert main(["tasks"]) == 0
    commands = _recorded_commands(tmp_path, env, capsys.readouterr().out)
    names = [command[0] for command in commands]
    assert names.count("train") == 4 and names.count("prompt") == 2 and names[-3:] == ["analyze", "plot", "ablate"]
    for command in commands:
        assert main(command) == 0, command
    assert (out / "results.zarr").is_dir() and (out / "ablation.zarr").is_dir()
    assert sorted(path.name for path in (out / "prompts").iterdir()) == [
        "toy_nli-seed0", "toy_nli-seed1", "toy_nli-untuned",
        "toy_sentiment_movies-seed0", "toy_sentiment_movies-seed1", "toy_sentiment_movies-untuned"]
    assert (out / "stores" / "toy_sentiment_movies-seed1" / "adversarial.zarr").is_dir()
    assert any((out / "figures").glob("toy_nli__prompt_consistency.*"))
    assert any((out / "tables").glob("tasks__agreement__jaccard.csv"))
