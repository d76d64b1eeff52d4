"""Prompt tuning: only the soft prompt learns; the backbone stays frozen and bit-identical."""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from neurokit.models import Backbone, Verbalizer
from neurokit.prompts.config import PromptTuningConfig
from neurokit.prompts.data import EncodedBatch, EncodedSplit
from neurokit.prompts.metadata import PromptMetadata
from neurokit.prompts.soft_prompt import SoftPrompt
from neurokit.provenance import package_versions, utc_now


@dataclass
class Evaluation:
    """``accuracy`` in [0, 1]; ``logits`` (examples, classes); ``predictions`` and ``labels`` (examples,)."""

    accuracy: float
    logits: torch.Tensor
    predictions: torch.Tensor
    labels: torch.Tensor
    ids: list[str]


def _autocast(backbone: Backbone, bf16: bool | None):
    use = backbone.device.type == "cuda" if bf16 is None else bf16
    return torch.autocast(device_type=backbone.device.type, dtype=torch.bfloat16) if use else nullcontext()


@torch.no_grad()
def evaluate(backbone: Backbone, prompt: SoftPrompt, verbalizer: Verbalizer, split: EncodedSplit,
             batch_size: int = 64, bf16: bool | None = None, progress: bool = False,
             batch_context: Callable[[EncodedBatch], AbstractContextManager] | None = None) -> Evaluation:
    """Class scores of every example of ``split`` in order, and the accuracy of their arg-max.

    ``batch_context(batch)``, when given, is entered around each batch's forward pass (batches come in split
    order); interventions use it to set per-example state such as seeded noise.
    """
    full_prompt = prompt().to(backbone.device)
    batch_logits: list[torch.Tensor] = []
    for batch in tqdm(split.batches(batch_size), total=math.ceil(len(split) / batch_size), disable=not progress,
                      desc="evaluate", leave=False):
        context = batch_context(batch) if batch_context is not None else nullcontext()
        with _autocast(backbone, bf16), context:
            scores = backbone.class_scores(full_prompt, batch.input_ids, batch.attention_mask, verbalizer,
                                           prompt.layout)
        batch_logits.append(scores.float().cpu())
    logits = torch.cat(batch_logits)
    predictions = logits.argmax(dim=1)
    return Evaluation(float((predictions == split.labels).float().mean()), logits, predictions, split.labels,
                      split.ids)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prompt_metadata(backbone: Backbone, task, config: PromptTuningConfig, verbalizer: Verbalizer,
                    dev_accuracy: float | None, step: int, started_at: str) -> PromptMetadata:
    """What a prompt checkpoint records for reuse: model identity, task, verbaliser, settings, versions, and the
    dev accuracy reached at optimizer step ``step`` (0 for an untuned prompt)."""
    return PromptMetadata(
        model_id=backbone.model_id, model_source=backbone.source, revision=backbone.revision,
        weights_sha256=backbone.weights_sha256, family=backbone.adapter.family.value,
        task=task.name, task_type=task.task_type.value, template=task.template,
        label_names=tuple(task.label_names), verbalizer=verbalizer.describe(),
        init=config.init.value, seed=config.seed, dev_accuracy=dev_accuracy,
        best_step=step, config=config.to_dict(), versions=package_versions(),
        started_at=started_at, saved_at=utc_now(),
    )


def initial_prompt(backbone: Backbone, task, config: PromptTuningConfig) -> SoftPrompt:
    """The prompt a tuning run with ``config`` starts from (``config.init`` seeded by ``config.seed``), on the
    backbone's device; an untuned prompt is exactly this."""
    return SoftPrompt.initialise(backbone, config.prompt_length, config.init, config.seed, task.label_words,
                                 config.init_text, config.layout).to(backbone.device)


def save_untuned_prompt(backbone: Backbone, task, config: PromptTuningConfig, folder: str | Path,
                        dev=None) -> float | None:
    """Initialise a prompt as training would (``config.init``, ``config.seed``) and save it untrained: the null
    of skill-neuron analyses. With a ``dev`` split its dev accuracy is measured and recorded (else None, JSON
    null: stores refuse NaN in provenance). Returns that accuracy."""
    started_at = utc_now()
    prompt = initial_prompt(backbone, task, config)
    verbalizer = backbone.verbalizer(task.label_words)
    dev_accuracy = None
    if dev is not None:
        dev_accuracy = evaluate(backbone, prompt, verbalizer, EncodedSplit(backbone, task, dev, config.max_length),
                                config.eval_batch_size, config.bf16).accuracy
    prompt.save_pretrained(folder, prompt_metadata(backbone, task, config, verbalizer, dev_accuracy, 0, started_at))
    return dev_accuracy


class PromptTrainer:
    """Prompt-tune ``backbone`` on ``task`` (a TaskSpec) with ``config``.

    ``fit(train, dev)`` takes ``datasets.Dataset`` splits and learns ``prompt_`` (the best-dev SoftPrompt),
    ``best_dev_accuracy_``, ``best_step_`` and ``history_`` (one dict per evaluation). With ``output_dir`` the
    best prompt is checkpointed whenever it improves and metrics go to ``metrics.jsonl`` as JSON lines.
    """

    def __init__(self, backbone: Backbone, task, config: PromptTuningConfig | None = None,
                 output_dir: str | Path | None = None, progress: bool = True):
        self.backbone = backbone
        self.task = task
        self.config = config or PromptTuningConfig()
        self.output_dir = output_dir
        self.progress = progress

    def fit(self, train, dev) -> PromptTrainer:
        config, backbone = self.config, self.backbone
        started_at = utc_now()
        seed_everything(config.seed)
        verbalizer = backbone.verbalizer(self.task.label_words)
        prompt = initial_prompt(backbone, self.task, config)
        train_split = EncodedSplit(backbone, self.task, train, config.max_length)
        dev_split = EncodedSplit(backbone, self.task, dev, config.max_length)

        per_epoch = math.ceil(len(train_split) / (config.batch_size * config.gradient_accumulation))
        total_steps = config.max_steps or config.epochs * per_epoch
        eval_every = config.eval_every or per_epoch
        warmup = int(config.warmup_ratio * total_steps)
        optimizer = torch.optim.AdamW([prompt.vectors], lr=config.learning_rate, weight_decay=config.weight_decay)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / max(warmup, 1), max(total_steps - step, 0) /
                                        max(total_steps - warmup, 1)))
        shuffle = torch.Generator().manual_seed(config.seed)
        metrics_file = None
        if self.output_dir is not None:
            Path(self.output_dir).mkdir(parents=True, exist_ok=True)
            metrics_file = open(Path(self.output_dir) / "metrics.jsonl", "w")

        self.best_dev_accuracy_, self.best_step_ = -1.0, 0
        self.history_: list[dict] = []
        self.prompt_ = copy.deepcopy(prompt)
        step, micro, correct, seen, started = 0, 0, 0, 0, time.perf_counter()
        bar = tqdm(total=total_steps, desc=f"prompt-tune {self.task.name}", disable=not self.progress)
        try:
            while step < total_steps:
                for batch in train_split.batches(config.batch_size, torch.randperm(len(train_split),
                                                                                    generator=shuffle)):
                    with _autocast(backbone, config.bf16):
                        scores = backbone.class_scores(prompt(), batch.input_ids, batch.attention_mask, verbalizer,
                                                       prompt.layout)
                    loss = F.cross_entropy(scores.float(), batch.labels)
                    (loss / config.gradient_accumulation).backward()
                    correct += int((scores.argmax(dim=1) == batch.labels).sum())
                    seen += len(batch.ids)
                    micro += 1
                    if micro % config.gradient_accumulation:
                        continue
                    torch.nn.utils.clip_grad_norm_([prompt.vectors], config.max_grad_norm)
                    optimizer.step()
                    schedule.step()
                    optimizer.zero_grad(set_to_none=True)
                    step += 1
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}", train_acc=f"{correct / seen:.3f}")
                    if step % eval_every == 0 or step == total_steps:
                        record = {"step": step, "loss": loss.item(), "train_accuracy": correct / seen,
                                  "learning_rate": schedule.get_last_lr()[0],
                                  "elapsed_s": round(time.perf_counter() - started, 3)}
                        self._evaluate(record, prompt, verbalizer, dev_split, metrics_file, started_at)
                        correct = seen = 0
                    if step >= total_steps:
                        break
        finally:
            bar.close()
            if metrics_file is not None:
                metrics_file.close()
        return self

    def _evaluate(self, record: dict, prompt, verbalizer, dev_split, metrics_file, started_at) -> None:
        """Score ``prompt`` on dev, log ``record`` with the dev accuracy, keep and save the prompt if it is best."""
        dev = evaluate(self.backbone, prompt, verbalizer, dev_split, self.config.eval_batch_size, self.config.bf16)
        record["dev_accuracy"] = dev.accuracy
        step = record["step"]
        self.history_.append(record)
        if metrics_file is not None:
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()
        if dev.accuracy > self.best_dev_accuracy_:
            self.best_dev_accuracy_, self.best_step_ = dev.accuracy, step
            self.prompt_ = copy.deepcopy(prompt)
            if self.output_dir is not None:
                self.prompt_.save_pretrained(self.output_dir, prompt_metadata(
                    self.backbone, self.task, self.config, verbalizer, dev.accuracy, step, started_at))
