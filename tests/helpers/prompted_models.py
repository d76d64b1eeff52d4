"""Prompted tiny random models (bert, t5, gpt2) and the embedded MiniLM, with a small split of a toy task.

A module of its own name (not ``conftest``) so that tests import it unambiguously beside other test folders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from neurokit.models import Backbone, Verbalizer, capture_activations
from neurokit.prompts import EncodedSplit, PromptCheckpoint, PromptMetadata, SoftPrompt
from neurokit.tasks import get_task, load_split

TASK = MOVIES = get_task("toy_sentiment_movies")
PRODUCTS = get_task("toy_sentiment_products")
PROMPT_LENGTH = 4
ARCHITECTURES = ["bert", "t5", "gpt2", "embedded"]


@dataclass
class Prompted:
    backbone: Backbone
    prompt: SoftPrompt
    verbalizer: Verbalizer
    split: EncodedSplit

    @property
    def layers(self) -> list[int]:
        return [site.layer for site in self.backbone.sites()]

    @property
    def width(self) -> int:
        return self.backbone.sites()[0].width

    def mask(self, selected: dict[int, list[int]] | None = None) -> xr.DataArray:
        """Boolean (layer, neuron) mask with the given neurons per layer selected."""
        values = np.zeros((len(self.layers), self.width), dtype=bool)
        for layer, neurons in (selected or {}).items():
            values[self.layers.index(layer), neurons] = True
        return xr.DataArray(values, dims=("layer", "neuron"),
                            coords={"layer": self.layers, "neuron": np.arange(self.width)})

    def scores(self, seed: int = 0) -> xr.DataArray:
        rng = np.random.default_rng(seed)
        return xr.DataArray(rng.random((len(self.layers), self.width)), dims=("layer", "neuron"),
                            coords={"layer": self.layers})

    def values(self, seed: int = 0, per_position: bool = True) -> xr.DataArray:
        """Random replacement values (layer, [position,] neuron), as the train mean would be."""
        rng = np.random.default_rng(seed)
        shape = (len(self.layers), PROMPT_LENGTH, self.width) if per_position else (len(self.layers), self.width)
        dims = ("layer", "position", "neuron") if per_position else ("layer", "neuron")
        return xr.DataArray(rng.normal(size=shape), dims=dims, coords={"layer": self.layers})

    def pool(self, seed: int = 0, per_position: bool = False, examples: int = 7) -> xr.DataArray:
        """A random donor pool (example, layer, [position,] neuron), as train activations would be."""
        values = self.values(seed, per_position)
        rng = np.random.default_rng(seed + 1)
        return values.expand_dims(example=examples).copy(data=rng.normal(size=(examples, *values.shape)))


def make_prompted(architecture: str, size: int = 12) -> Prompted:
    from neurokit.models import load_backbone
    from neurokit.models.random import random_backbone

    backbone = load_backbone() if architecture == "embedded" else random_backbone(architecture)
    prompt = SoftPrompt.initialise(backbone, PROMPT_LENGTH, "vocab", seed=3)
    split = EncodedSplit(backbone, TASK, load_split(TASK, "test", size=size), max_length=24)
    return Prompted(backbone, prompt, backbone.verbalizer(TASK.label_words), split)


def save_prompt(backbone: Backbone, task, folder, seed: int) -> PromptCheckpoint:
    """A random prompt saved as a checkpoint with the metadata the trainer writes."""
    prompt = SoftPrompt.initialise(backbone, PROMPT_LENGTH, "vocab", seed=seed)
    prompt.save_pretrained(folder, PromptMetadata(
        model_id=backbone.model_id, model_source=backbone.source, weights_sha256=backbone.weights_sha256,
        task=task.name, label_names=list(task.label_names),
        verbalizer=backbone.verbalizer(task.label_words).describe()))
    return PromptCheckpoint.from_pretrained(folder)


def write_train_store(backbone, checkpoint, path, raw: bool = False):
    """A train store of the prompt's activations at its positions (statistics, and raw activations if ``raw``),
    written by the extraction stage's writer; returns its path and the train mean computed here."""
    from neurokit.extract import ActivationStoreWriter, Provenance, StoreSpec

    prompt = checkpoint.soft_prompt(backbone)
    dataset = load_split(MOVIES, "train", size=12)
    split = EncodedSplit(backbone, MOVIES, dataset, 128)
    sites = backbone.sites()
    with torch.no_grad(), capture_activations(backbone.model, sites) as captured:
        batch = next(split.batches(len(split)))
        logits = backbone.class_scores(prompt(), batch.input_ids, batch.attention_mask,
                                       backbone.verbalizer(MOVIES.label_words))
        activation = torch.stack([captured[site.name][:, :PROMPT_LENGTH] for site in sites], dim=1).numpy()
    provenance = Provenance(
        model_id=backbone.model_id, model_revision="embedded", weights_sha256=backbone.weights_sha256,
        model_config={}, prompt_sha256=checkpoint.sha256, prompt_metadata={},
        task={"name": MOVIES.name, "label_names": list(MOVIES.label_names)}, template=MOVIES.template,
        verbalizer={}, split="train", dtype_policy="float32 for tests", prompt_layout="prepend")
    spec = StoreSpec(example_ids=list(dataset["id"]), class_names=list(MOVIES.label_names),
                     sites=[site.name for site in sites], layers=[site.layer for site in sites],
                     position_roles=["mask", *(f"prompt_{k}" for k in range(PROMPT_LENGTH - 1))],
                     n_neurons=sites[0].width, stored_dtype="float32", provenance=provenance,
                     store_raw_activations=raw, compute_train_stats=True, block_size=8)
    with ActivationStoreWriter.create_or_resume(path, spec) as writer:
        for block in writer.pending_blocks():
            rows = spec.block_slice(block)
            writer.write_block(block, activation[rows], label=np.asarray(dataset["label"])[rows],
                               prediction=logits.argmax(1).numpy()[rows], logits=logits.numpy()[rows],
                               input_length=batch.attention_mask.sum(1).numpy()[rows])
        assert writer.finalize()
    mean = xr.DataArray(activation.astype(np.float64).mean(axis=0), dims=("layer", "position", "neuron"),
                        coords={"layer": [site.layer for site in sites]})
    return str(path), mean
