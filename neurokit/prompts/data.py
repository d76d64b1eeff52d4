"""Batches of a task split, tokenized for a backbone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from neurokit.errors import NeurokitError
from neurokit.models import Backbone


@dataclass
class EncodedBatch:
    """``ids``: example ids; ``input_ids``/``attention_mask`` (batch, T), right-padded; ``labels`` (batch,)."""

    ids: list[str]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor


class EncodedSplit:
    """A task split rendered through the task's template once, tokenized batch by batch.

    ``order`` lets the trainer shuffle with its own seeded generator; evaluation keeps the split's order.
    """

    def __init__(self, backbone: Backbone, task, dataset, max_length: int = 128):
        if len(dataset) == 0:
            raise NeurokitError(f"split of task {task.name!r} is empty")
        self.backbone = backbone
        self.max_length = max_length
        self.ids = [str(i) for i in dataset["id"]]
        self.texts = [task.render(example) for example in dataset]
        self.labels = torch.tensor(dataset["label"], dtype=torch.long)
        n_classes = len(task.label_names)
        if int(self.labels.min()) < 0 or int(self.labels.max()) >= n_classes:
            raise NeurokitError(f"task {task.name!r} has labels outside 0..{n_classes - 1} "
                                f"(found {int(self.labels.min())}..{int(self.labels.max())})")

    def __len__(self) -> int:
        return len(self.ids)

    def batches(self, batch_size: int, order: torch.Tensor | None = None) -> Iterator[EncodedBatch]:
        order = torch.arange(len(self)) if order is None else order
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size].tolist()
            encoded = self.backbone.tokenize([self.texts[r] for r in rows], self.max_length)
            yield EncodedBatch([self.ids[r] for r in rows], encoded["input_ids"], encoded["attention_mask"],
                               self.labels[rows].to(self.backbone.device))
