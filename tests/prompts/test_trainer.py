"""Prompt tuning on tiny random models: frozen backbone, reproducibility, checkpoints, CLI."""

import hashlib
import json

import pytest
import torch

from neurokit.cli import main
from neurokit.models.random import random_backbone
from neurokit.prompts import (
    PromptCheckpoint,
    PromptTrainer,
    PromptTuningConfig,
    SoftPrompt,
)
from neurokit.tasks import get_task, load_split

TASK = get_task("toy_sentiment_movies")


def _state_hash(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode() + tensor.contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def splits():
    return load_split(TASK, "train", size=48), load_split(TASK, "dev", size=16)


CONFIG = PromptTuningConfig(prompt_length=4, learning_rate=0.05, max_steps=4, batch_size=8, eval_every=2,
                            eval_batch_size=16, max_length=24, seed=7)


@pytest.mark.parametrize("architecture", ["bert", "t5", "gpt2"])
def test_only_the_prompt_learns_and_the_backbone_stays_bit_identical(architecture, splits, tmp_path):
    backbone = random_backbone(architecture)
    before = _state_hash(backbone.model)
    trainer = PromptTrainer(backbone, TASK, CONFIG, output_dir=tmp_path, progress=False).fit(*splits)
    assert _state_hash(backbone.model) == before
    assert all(p.grad is None and not p.requires_grad for p in backbone.model.parameters())
    start = SoftPrompt.initialise(backbone, CONFIG.prompt_length, CONFIG.init, CONFIG.seed)
    assert not torch.equal(trainer.prompt_.vectors, start.vectors)  # the prompt itself did learn


@pytest.mark.slow
def test_training_is_reproducible_from_the_seed(splits):
    backbone = random_backbone("bert")
    first = PromptTrainer(backbone, TASK, CONFIG, progress=False).fit(*splits)
    second = PromptTrainer(backbone, TASK, CONFIG, progress=False).fit(*splits)
    assert torch.equal(first.prompt_.vectors, second.prompt_.vectors)
    assert [h["loss"] for h in first.history_] == [h["loss"] for h in second.history_]
    other = PromptTrainer(backbone, TASK, PromptTuningConfig(**{**CONFIG.to_dict(), "seed": 8}),
                          progress=False).fit(*splits)
    assert not torch.equal(first.prompt_.vectors, other.prompt_.vectors)


def test_best_dev_checkpoint_and_metrics_are_written(splits, tmp_path):
    backbone = random_backbone("bert")
    trainer = PromptTrainer(backbone, TASK, CONFIG, output_dir=tmp_path, progress=False).fit(*splits)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert trainer.best_dev_accuracy_ == max(r["dev_accuracy"] for r in records)
    checkpoint = PromptCheckpoint.from_pretrained(tmp_path)
    meta = checkpoint.metadata
    for key in ("model_id", "weights_sha256", "task", "template", "verbalizer", "prompt_length", "init", "seed",
                "dev_accuracy", "versions", "config"):
        assert key in meta.to_dict()
    assert meta.dev_accuracy == trainer.best_dev_accuracy_ and meta.weights_sha256 == backbone.weights_sha256
    assert torch.equal(checkpoint.soft_prompt(backbone).vectors, trainer.prompt_.vectors)


def test_gradient_accumulation_counts_optimizer_steps(splits):
    config = PromptTuningConfig(**{**CONFIG.to_dict(), "gradient_accumulation": 2, "batch_size": 4})
    trainer = PromptTrainer(random_backbone("bert"), TASK, config, progress=False).fit(*splits)
    assert [h["step"] for h in trainer.history_] == [2, 4]


@pytest.mark.slow
def test_cli_trains_from_a_local_checkpoint_folder(tmp_path, capsys):
    backbone = random_backbone("bert")
    backbone.model.save_pretrained(tmp_path / "model")
    backbone.tokenizer.save_pretrained(tmp_path / "model")
    code = main(["train", "--model", str(tmp_path / "model"), "--task", "toy_sentiment_movies",
                 "--prompt-length", "4", "--max-steps", "2", "--batch-size", "8", "--train-size", "16",
                 "--dev-size", "8", "--max-length", "24", "--out", str(tmp_path / "prompt")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["task"] == "toy_sentiment_movies"
    assert (tmp_path / "prompt" / "prompt.safetensors").is_file()


@pytest.mark.parametrize("arguments, message", [
    (["--task", "no_such_task"], "no_such_task"),
    (["--task", "toy_sentiment_movies", "--prompt-length", "0"], "prompt_length"),
    (["--task", "toy_sentiment_movies", "--model", "/nonexistent/model"], "cannot load model"),
])
def test_cli_user_errors_are_one_line_without_traceback(arguments, message, tmp_path, capsys):
    code = main(["train", "--out", str(tmp_path / "out"), "--max-steps", "1", *arguments])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_prompt_init_saves_the_untrained_initialisation(tmp_path, capsys):
    backbone = random_backbone("bert")
    backbone.model.save_pretrained(tmp_path / "model")
    backbone.tokenizer.save_pretrained(tmp_path / "model")
    code = main(["prompt", "init", "--model", str(tmp_path / "model"), "--task", "toy_sentiment_movies",
                 "--prompt-length", "4", "--init", "labels", "--seed", "3", "--dev-size", "8", "--max-length", "24",
                 "--out", str(tmp_path / "null")])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    checkpoint = PromptCheckpoint.from_pretrained(tmp_path / "null")
    expected = SoftPrompt.initialise(backbone, 4, "labels", 3, TASK.label_words)
    torch.testing.assert_close(checkpoint.prompt, expected().detach(), rtol=0, atol=0)
    assert checkpoint.metadata.best_step == 0 and checkpoint.metadata.seed == 3
    assert checkpoint.metadata.dev_accuracy == summary["dev_accuracy"]
    assert 0.0 <= summary["dev_accuracy"] <= 1.0


def test_untuned_prompt_without_dev_records_no_accuracy(tmp_path):
    from neurokit.prompts import save_untuned_prompt

    backbone = random_backbone("bert")
    config = PromptTuningConfig(prompt_length=3, init="normal", seed=1)
    assert save_untuned_prompt(backbone, TASK, config, tmp_path / "null") is None
    text = (tmp_path / "null" / "prompt.json").read_text()
    assert json.loads(text)["dev_accuracy"] is None and "NaN" not in text


@pytest.mark.slow
def test_cli_prompt_neighbours_reads_the_trained_vectors(tmp_path, capsys):
    from neurokit.prompts import checkpoint_neighbours, prompt_neighbours

    backbone = random_backbone("bert")
    backbone.model.save_pretrained(tmp_path / "model")
    backbone.tokenizer.save_pretrained(tmp_path / "model")
    assert main(["prompt", "init", "--model", str(tmp_path / "model"), "--task", "toy_sentiment_movies",
                 "--prompt-length", "4", "--init", "labels", "--dev-size", "0", "--out", str(tmp_path / "p")]) == 0
    checkpoint = PromptCheckpoint.from_pretrained(tmp_path / "p")
    result = checkpoint_neighbours(backbone, checkpoint, k=3)
    direct = prompt_neighbours(checkpoint.prompt[1:], backbone.model.get_input_embeddings().weight,
                               backbone.tokenizer.convert_ids_to_tokens, 3, TASK.label_words)
    assert result.sizes["prompt_position"] == 3  # the mask slot is not a trained vector
    assert (result["token_id"].values == direct["token_id"].values).all()
    # Label init: the first trained vectors are the label words' embeddings, their own nearest tokens.
    assert result["token"].sel(vector="prompt", rank=1).values[:2].tolist() == list(TASK.label_words)
    capsys.readouterr()
    assert main(["prompt", "neighbours", "--model", str(tmp_path / "model"), "--prompt", str(tmp_path / "p"),
                 "--k", "3", "--csv", str(tmp_path / "n.csv")]) == 0
    assert "label words" in capsys.readouterr().out and (tmp_path / "n.csv").is_file()
