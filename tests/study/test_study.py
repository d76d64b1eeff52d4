"""The paper study files run end to end offline at tiny sizes, resume, and end in a reproduction report."""

from pathlib import Path

import pytest

from neurokit.cli import main
from neurokit.errors import ConfigError
from neurokit.models.random import random_backbone
from neurokit.study import StudyConfig

ANALYSES = Path(__file__).resolve().parents[2] / "analyses"
TINY = ["seeds=[0, 1]", "train_size=48", "choose_size=24", "report_size=24", "prompt.prompt_length=3",
        "prompt.max_steps=2", "prompt.batch_size=8", "prompt.max_length=24", "prompt.init='labels'",
        "prompt.learning_rate=0.01", "ablation_draws=1"]


def _sets(overrides: list[str]) -> list[str]:
    return [word for override in overrides for word in ("--set", override)]


def _tiny_model_folder(tmp_path: Path, architecture: str) -> str:
    backbone = random_backbone(architecture)
    folder = tmp_path / f"tiny-{architecture}"
    backbone.model.save_pretrained(folder, safe_serialization=True)
    backbone.tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.mark.slow
def test_wang2022_runs_at_tiny_size_and_resumes(tmp_path, capsys):
    out = tmp_path / "wang"
    overrides = [*TINY, "models=['embedded']", "tasks=['toy_sentiment_movies', 'toy_topic']",
                 "ablation_fractions=[0.0, 0.1]"]
    arguments = ["study", str(ANALYSES / "wang2022.toml"), "--out", str(out), "--no-progress", *_sets(overrides)]
    assert main(arguments) == 0
    report = (out / "report.md").read_text()
    for title in ("Prompt-tuning accuracy", "Skill-neuron predictivity", "Perturbing skill neurons",
                  "Task specificity", "Pruning to skill neurons"):
        assert f"## {title}" in report
    assert "| toy_sentiment_movies |" in report and "not entered" in report
    prompt = out / "embedded" / "prompts" / "toy_topic-seed1" / "prompt.safetensors"
    stamp = prompt.stat().st_mtime_ns
    assert main(arguments) == 0  # a second run reuses the finished prompts and stores
    assert prompt.stat().st_mtime_ns == stamp
    assert main(["report", str(out)]) == 0


@pytest.mark.slow
def test_ackermann2024_runs_on_encoder_and_t5_with_adversarial_sets(tmp_path):
    models = [_tiny_model_folder(tmp_path, "roberta"), _tiny_model_folder(tmp_path, "t5")]
    out = tmp_path / "ackermann"
    overrides = [*TINY, f"models={models!r}".replace("'", '"'),
                 "tasks=['toy_sentiment_movies', 'toy_sentiment_products', 'toy_nli']", "ablation_fractions=[0.1]",
                 f'learning_rates={{"{models[1]}" = 0.05}}']
    arguments = ["study", str(ANALYSES / "ackermann2024.toml"), "--out", str(out), "--no-progress",
                 *_sets(overrides)]
    assert main(arguments) == 0
    report = (out / "report.md").read_text()
    for title in ("Accuracy on adversarial data", "Relative transfer", "Consistency of skill neurons under attack",
                  "Suppressing clean skill neurons on adversarial data"):
        assert title in report
    assert report.count("## Relative transfer") == 2  # one per model
    assert "Consistency ↔ robustness" in report


def test_study_files_are_valid_and_overrides_apply():
    for name in ("wang2022", "ackermann2024"):
        config = StudyConfig.from_toml(ANALYSES / f"{name}.toml")
        assert config.tasks and config.models
    config = StudyConfig.from_toml(ANALYSES / "ackermann2024.toml", ["seeds=[7]", "prompt.epochs=1"])
    assert config.seeds == (7,) and config.tuning("t5-base", 7).learning_rate == 0.005
    assert config.tuning("roberta-base", 7).epochs == 1


@pytest.mark.parametrize("override, message", [
    ("sections=['nonsense']", r"sections must be among accuracy, .*, got \['nonsense'\]"),
    ("prompt.prompt_length=0", "prompt_length must be a positive integer"),
    ("prompt.seed=3", "set by the study's seeds"),
    ("prompt.colour='red'", "does not know"),
    ("surprise=1", "unknown settings"),
    ("seeds", "key=value"),
])
def test_bad_study_settings_fail_with_one_line(override, message, tmp_path, capsys):
    with pytest.raises(ConfigError, match=message):
        StudyConfig.from_toml(ANALYSES / "wang2022.toml", [override])
    assert main(["study", str(ANALYSES / "wang2022.toml"), "--out", str(tmp_path / "x"), "--set", override]) == 2
    assert message.split()[0] in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
