"""Pruning to skill neurons (Wang et al. §6): exact against clamping the removed neurons to their train means,
really smaller matrices, a model folder that loads back, and one-line refusals of what cannot be pruned."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from neurokit.errors import NeurokitError
from neurokit.interventions.prune import (
    BiasFold,
    PruneConfig,
    default_layers,
    kept_neurons,
    neuron_means,
    parameter_count,
    prune,
    save_pruned,
)
from neurokit.models import edit_activations, load_backbone
from neurokit.models.backbone import FFN_WIDTHS_KEY
from tests.helpers.prompted_models import Prompted, make_prompted

# Over the fast tier's budget (CONTRIBUTING.md): pruned models built, saved and reloaded.
pytestmark = pytest.mark.slow


@pytest.fixture(params=["bert", "roberta", "gpt2", "embedded"])
def prunable(request, prompted_models) -> Prompted:
    if request.param not in prompted_models:
        prompted_models[request.param] = make_prompted(request.param)
    return prompted_models[request.param]


def _setup(prompted: Prompted, fraction: float = 0.1):
    config = PruneConfig(fraction=fraction)
    kept = kept_neurons(prompted.backbone, prompted.scores(), config)
    means = neuron_means(prompted.values(seed=5))
    return config, kept, means


def _outputs(backbone, prompted: Prompted, batch, edits=None) -> torch.Tensor:
    """The model's first output (logits or last hidden state) at every position of the prompted batch."""
    embeds, mask = backbone.adapter.prepared_inputs(backbone.model, prompted.prompt(), batch.input_ids,
                                                    batch.attention_mask, prompted.prompt.layout)
    with torch.no_grad(), edit_activations(backbone.model, edits or {}):
        return backbone.model(inputs_embeds=embeds, attention_mask=mask)[0]


def _clamped(prompted: Prompted, kept: xr.DataArray, means: xr.DataArray) -> dict:
    """Edits that set every removed neuron to its mean at every sequence position (the reference)."""
    edits = {}
    for site in prompted.backbone.sites():
        removed = np.flatnonzero(~kept.sel(layer=site.layer).values)
        if removed.size == 0:
            continue
        index = torch.as_tensor(removed)
        values = torch.as_tensor(means.sel(layer=site.layer).values[removed], dtype=torch.float32)

        def edit(neurons, index=index, values=values):
            edited = neurons.clone()
            edited[..., index] = values.to(neurons.dtype)
            return edited

        edits[site] = edit
    return edits


def test_pruned_model_equals_removed_neurons_clamped_to_their_means(prunable):
    _, kept, means = _setup(prunable)
    pruned = prune(prunable.backbone, kept, means)
    batch = next(prunable.split.batches(6))
    expected = _outputs(prunable.backbone, prunable, batch, _clamped(prunable, kept, means))
    unclamped = _outputs(prunable.backbone, prunable, batch)
    got = _outputs(pruned, prunable, batch)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert not torch.allclose(got, unclamped, atol=1e-3)  # the clamping changes something: the test can fail
    with torch.no_grad():
        scores = pruned.class_scores(prunable.prompt(), batch.input_ids, batch.attention_mask, prunable.verbalizer)
        with edit_activations(prunable.backbone.model, _clamped(prunable, kept, means)):
            reference = prunable.backbone.class_scores(prunable.prompt(), batch.input_ids, batch.attention_mask,
                                                       prunable.verbalizer)
    torch.testing.assert_close(scores, reference, atol=1e-5, rtol=0)


def test_pruned_matrices_are_smaller_and_the_original_is_untouched(prunable):
    _, kept, means = _setup(prunable)
    before = prunable.backbone.weights_sha256
    pruned = prune(prunable.backbone, kept, means)
    layers = default_layers(len(prunable.layers))
    width = prunable.width
    expected_width = {layer: int(np.floor(0.1 * width)) if layer in layers else width for layer in prunable.layers}
    assert {site.layer: site.width for site in pruned.sites()} == expected_width
    removed = sum(width - expected_width[layer] for layer in prunable.layers)
    # Each removed neuron takes one row of every input projection (and its bias entry) and one output column.
    site = prunable.backbone.sites()[0]
    inputs, output = prunable.backbone.adapter.ffn_projections(prunable.backbone.model, site)
    d = output.weight.numel() // width
    per_neuron = sum(d + (module.bias is not None) for module in inputs) + d
    assert parameter_count(prunable.backbone) - parameter_count(pruned) == removed * per_neuron
    assert prunable.backbone.weights_sha256 == before
    assert getattr(pruned.model.config, FFN_WIDTHS_KEY) == {
        site.name: expected_width[site.layer] for site in prunable.backbone.sites() if site.layer in layers}


def test_saved_pruned_model_loads_back_as_a_backbone(prunable, tmp_path):
    config, kept, means = _setup(prunable)
    pruned = prune(prunable.backbone, kept, means)
    folder = save_pruned(pruned, tmp_path / "pruned", {"settings": config.settings()})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pruned"]  # no partial folder left
    loaded = load_backbone(str(folder))
    assert loaded.weights_sha256 == pruned.weights_sha256
    assert [site.width for site in loaded.sites()] == [site.width for site in pruned.sites()]
    batch = next(prunable.split.batches(4))
    torch.testing.assert_close(_outputs(loaded, prunable, batch), _outputs(pruned, prunable, batch), atol=0, rtol=0)
    with pytest.raises(NeurokitError, match="exists"):
        save_pruned(pruned, folder, {})


def test_plain_transformers_refuses_the_pruned_folder_instead_of_reinitialising(embedded, tmp_path):
    import transformers

    _, kept, means = _setup(embedded)
    folder = save_pruned(prune(embedded.backbone, kept, means), tmp_path / "pruned", {})
    with pytest.raises(Exception, match="ignore_mismatched_sizes"):
        transformers.AutoModel.from_pretrained(folder, use_safetensors=True)


def test_kept_neurons_are_the_top_fraction_of_each_pruned_layer(embedded):
    scores = embedded.scores(seed=1)
    config = PruneConfig(fraction=0.05, layers=(2, 4))
    kept = kept_neurons(embedded.backbone, scores, config)
    count = int(np.floor(0.05 * embedded.width))
    for layer in embedded.layers:
        row = kept.sel(layer=layer).values
        if layer in (2, 4):
            top = np.argsort(-scores.sel(layer=layer).values, kind="stable")[:count]
            assert set(np.flatnonzero(row)) == set(top)
        else:
            assert row.all()


def test_fold_all_adds_the_kept_neurons_means_too(embedded):
    _, kept, means = _setup(embedded)
    removed_only = prune(embedded.backbone, kept, means, BiasFold.REMOVED)
    released = prune(embedded.backbone, kept, means, BiasFold.ALL)
    for site in embedded.backbone.sites():
        keep = kept.sel(layer=site.layer).values
        if keep.all():
            continue
        _, output = embedded.backbone.adapter.ffn_projections(embedded.backbone.model, site)
        weight = output.weight.detach().double().numpy()  # (d, N)
        bias = output.bias.detach().double().numpy()
        values = means.sel(layer=site.layer).values
        got_removed = removed_only.adapter.ffn_projections(removed_only.model, site)[1].bias.double().numpy()
        got_all = released.adapter.ffn_projections(released.model, site)[1].bias.double().numpy()
        np.testing.assert_allclose(got_removed, bias + weight[:, ~keep] @ values[~keep], atol=1e-5)
        np.testing.assert_allclose(got_all, bias + weight @ values, atol=1e-5)


def test_default_layers_scale_wang_et_al_3_to_11_of_12():
    assert default_layers(12) == tuple(range(3, 12))
    assert default_layers(6) == (1, 2, 3, 4, 5)
    assert default_layers(24) == tuple(range(6, 24))
    assert default_layers(2) == (0, 1)


@pytest.mark.parametrize("architecture, message", [("t5", "cannot resize"), ("llama", "no bias")])
def test_families_without_a_foldable_ffn_are_refused(architecture, message):
    from neurokit.models.random import random_backbone

    backbone = random_backbone(architecture)
    sites = backbone.sites()
    layers = [site.layer for site in sites]
    scores = xr.DataArray(np.random.default_rng(0).random((len(sites), sites[0].width)), dims=("layer", "neuron"),
                          coords={"layer": layers})
    kept = kept_neurons(backbone, scores, PruneConfig(fraction=0.25))
    means = xr.zeros_like(scores)
    with pytest.raises(NeurokitError, match=message):
        prune(backbone, kept, means)


def test_bad_settings_are_refused(embedded):
    with pytest.raises(NeurokitError, match="layer 9"):
        kept_neurons(embedded.backbone, embedded.scores(), PruneConfig(layers=(1, 9)))
    with pytest.raises(NeurokitError):
        PruneConfig(fraction=1.5)
    with pytest.raises(NeurokitError, match="distinct"):
        PruneConfig(layers=(1, 1))
    _, kept, means = _setup(embedded)
    with pytest.raises(NeurokitError, match="train means"):
        prune(embedded.backbone, kept, means.where(means.layer != 1))
