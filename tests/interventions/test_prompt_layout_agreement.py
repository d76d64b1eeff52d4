"""Extraction, ablation, transfer and analysis agree on where a decoder's prompt is (PromptLayout).

Tiny random GPT-2 and Llama; the references are hand-built single-example forward passes or hand-made stores.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from neurokit.analysis.common import PositionSet, select_positions
from neurokit.errors import NeurokitError
from neurokit.extract import ExtractionConfig, extract_run, open_run
from neurokit.interventions import Perturbation, transfer_matrix
from neurokit.interventions.ablation import perturbed
from neurokit.models.random import random_backbone
from neurokit.prompts import PromptCheckpoint, PromptMetadata, SoftPrompt
from neurokit.tasks import get_task, load_split

TASK = get_task("toy_sentiment_movies")
PROMPT_LENGTH = 3


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def decoder(request):
    return random_backbone(request.param)


def _checkpoint(backbone, folder, layout=None):
    prompt = SoftPrompt.initialise(backbone, PROMPT_LENGTH, "uniform", seed=2, layout=layout)
    prompt.save_pretrained(folder, PromptMetadata(model_id=backbone.model_id, weights_sha256=backbone.weights_sha256,
                                                  task=TASK.name, label_names=list(TASK.label_names),
                                                  verbalizer=backbone.verbalizer(TASK.label_words).describe()))
    return PromptCheckpoint.from_pretrained(folder)


def test_extraction_refuses_the_prompt_positions_of_a_prepended_decoder_prompt(decoder, tmp_path):
    checkpoint = _checkpoint(decoder, tmp_path / "prompt", layout="prepend")
    config = ExtractionConfig(positions=["prompt", "last_token"], batch_size=4, block_size=4, max_length=16)
    with pytest.raises(NeurokitError, match="never attends to the input.*--prompt-layout append") as error:
        extract_run(decoder, checkpoint, TASK, "dev", tmp_path / "dev.zarr", config, size=6, progress=False)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "dev.zarr").exists()
    # Positions that do see the input stay allowed, and the store says where the prompt was.
    inputs_only = ExtractionConfig(positions=["input_mean", "last_token"], batch_size=4, block_size=4,
                                   max_length=16)
    path = extract_run(decoder, checkpoint, TASK, "dev", tmp_path / "inputs.zarr", inputs_only, size=6,
                       progress=False)
    assert open_run(path).attrs["prompt_layout"] == "prepend"


def test_ablation_edits_exactly_the_positions_extraction_stores_as_the_prompt(decoder, tmp_path):
    """Zeroing every neuron of layer 0 at the prompt positions, with the extraction's capture behind the edit:
    the stored prompt positions of layer 0 are zero, the last input token and the other layer are not."""
    checkpoint = _checkpoint(decoder, tmp_path / "prompt")
    assert checkpoint.layout.value == "append"
    sites = decoder.sites()
    mask = np.zeros((len(sites), sites[0].width), dtype=bool)
    mask[0] = True
    mask = xr.DataArray(mask, dims=("layer", "neuron"), coords={"layer": [site.layer for site in sites]})
    config = ExtractionConfig(positions=["prompt", "last_token"], batch_size=4, block_size=8, max_length=16)
    with perturbed(decoder, Perturbation(mask, "zero", positions="prompt"), PROMPT_LENGTH, checkpoint.layout):
        path = extract_run(decoder, checkpoint, TASK, "dev", tmp_path / "dev.zarr", config, size=10,
                           progress=False)
    ds = open_run(path).load()
    assert ds.attrs["prompt_layout"] == "append"
    prompt_roles = [f"prompt_{k}" for k in range(PROMPT_LENGTH)]
    assert list(ds.position_role.values) == [*prompt_roles, "last_token"]
    layer0 = ds.activation.isel(layer=0).values
    assert np.count_nonzero(layer0[:, :PROMPT_LENGTH]) == 0
    assert np.count_nonzero(layer0[:, PROMPT_LENGTH]) == layer0[:, PROMPT_LENGTH].size
    assert np.count_nonzero(ds.activation.isel(layer=1).values[:, :PROMPT_LENGTH]) > 0


@torch.no_grad()
def test_transfer_scores_an_appended_prompt_as_each_example_alone_with_the_prompt_after_it(decoder, tmp_path):
    checkpoint = _checkpoint(decoder, tmp_path / "prompt")
    dataset = load_split(TASK, "test", size=12)
    result = transfer_matrix(decoder, {"movies": checkpoint}, [(TASK, dataset)], batch_size=5, progress=False)
    model, prompt = decoder.model, checkpoint.prompt
    label_ids = [ids[0] for ids in decoder.verbalizer(TASK.label_words).token_ids]
    correct = 0
    for example in dataset:
        ids = decoder.tokenizer([TASK.render(example)], truncation=True, max_length=128,
                                return_tensors="pt")["input_ids"]
        embeds = torch.cat([model.get_input_embeddings()(ids), prompt[None]], dim=1)
        prediction = int(model(inputs_embeds=embeds).logits[0, -1, label_ids].argmax())
        correct += prediction == example["label"]
    assert float(result["accuracy"].sel(source="movies", target=TASK.name)) == pytest.approx(correct / len(dataset))


def _store(model_type: str, layout: str | None) -> xr.Dataset:
    roles = ["prompt_0", "prompt_1", "input_mean"]
    attrs = {"model_config": json.dumps({"model_type": model_type})}
    if layout is not None:
        attrs["prompt_layout"] = layout
    return xr.Dataset({"activation": (("example", "layer", "position", "neuron"), np.zeros((2, 1, 3, 4)))},
                      coords={"position_role": ("position", roles)}, attrs=attrs)


def test_analysis_refuses_the_prompt_positions_of_a_decoder_store_from_before_layouts():
    legacy = _store("gpt2", None)  # written before layouts were recorded: its prompt was prepended
    with pytest.raises(NeurokitError, match="cannot analyse prompt positions") as error:
        select_positions(legacy, PositionSet.PROMPT)
    assert "\n" not in str(error.value)
    with pytest.raises(NeurokitError, match="never attends to the input"):
        select_positions(legacy, ["prompt_1"])
    assert list(select_positions(legacy, ["input_mean"]).position_role.values) == ["input_mean"]
    assert select_positions(_store("gpt2", "append"), PositionSet.PROMPT).sizes["position"] == 2
    assert select_positions(_store("bert", None), PositionSet.ALL).sizes["position"] == 3
