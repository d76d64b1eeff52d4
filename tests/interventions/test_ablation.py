"""Perturbations at the prompt positions: exactness against captured activations and independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from prompted_models import PROMPT_LENGTH, make_prompted

from neurokit.errors import ConfigError, NeurokitError
from neurokit.interventions import (
    Perturbation,
    SkillAblation,
    as_masks,
    evaluate_perturbed,
    perturbed,
    random_masks,
    train_mean,
)
from neurokit.models import capture_activations
from neurokit.prompts import evaluate


def _selection(prompted, seed=0, per_layer=3):
    """A few random neurons in every layer but the last (which stays untouched)."""
    rng = np.random.default_rng(seed)
    return {layer: sorted(rng.choice(prompted.width, per_layer, replace=False).tolist())
            for layer in prompted.layers[:-1]}


def _perturbation(prompted, method, selected, **settings):
    values = prompted.values() if method == "mean" else None
    return Perturbation(prompted.mask(selected), method, values, **settings)


def _forward(prompted, batch):
    return prompted.backbone.class_scores(prompted.prompt().to(prompted.backbone.device), batch.input_ids,
                                          batch.attention_mask, prompted.verbalizer, prompted.prompt.layout)


def _hooks_left(backbone) -> int:
    return sum(len(site.resolve(backbone.model)._forward_pre_hooks) for site in backbone.all_sites)


@pytest.mark.parametrize("method", ["noise", "zero", "mean"])
def test_an_empty_mask_gives_exactly_the_unperturbed_logits(prompted, method):
    reference = evaluate(prompted.backbone, prompted.prompt, prompted.verbalizer, prompted.split, batch_size=5)
    result = evaluate_perturbed(prompted.backbone, prompted.prompt, prompted.verbalizer, prompted.split,
                                _perturbation(prompted, method, {}), batch_size=5)
    assert torch.equal(result.logits, reference.logits)
    assert result.accuracy == reference.accuracy


@pytest.mark.parametrize("method", ["zero", "mean"])
def test_zero_and_mean_change_exactly_the_selected_neurons_at_the_prompt_positions(prompted, method):
    backbone = prompted.backbone
    selected = _selection(prompted)
    perturbation = _perturbation(prompted, method, selected)
    batch = next(prompted.split.batches(6))
    with torch.no_grad(), capture_activations(backbone.model, backbone.all_sites) as before:
        with perturbed(backbone, perturbation, PROMPT_LENGTH, prompted.prompt.layout):
            # Registered after the edit hooks, so it sees what the output projections receive.
            with capture_activations(backbone.model, backbone.all_sites) as after:
                _forward(prompted, batch)
    values = prompted.values().values
    # GPT-2's prompt follows the (left-padded) input: its positions are the last P of every example.
    prompt_positions = slice(-PROMPT_LENGTH, None) if prompted.prompt.layout.value == "append" \
        else slice(0, PROMPT_LENGTH)
    for site in backbone.all_sites:
        old, new = before[site.name], after[site.name]
        assert new.dtype == old.dtype == backbone.model.dtype and new.device == old.device
        expected = old.clone()
        if site.stack is backbone.sites()[0].stack and site.layer in selected:  # never the T5 decoder
            index = selected[site.layer]
            replacement = 0.0 if method == "zero" else torch.tensor(
                values[prompted.layers.index(site.layer)][:, index], dtype=old.dtype)
            expected[:, prompt_positions, index] = replacement
            assert not torch.equal(new, old)
        assert torch.equal(new, expected), site.name


def test_noise_is_one_draw_per_example_and_neuron_the_same_at_every_prompt_position(embedded):
    backbone = embedded.backbone
    selected = {layer: list(range(0, embedded.width, 2)) for layer in embedded.layers}
    perturbation = _perturbation(embedded, "noise", selected, seed=4, draw=1)
    batch = next(embedded.split.batches(8))

    def noise_of(start: int, rows: slice, draw_perturbation=perturbation):
        sub_ids = batch.input_ids[rows], batch.attention_mask[rows]
        with torch.no_grad(), capture_activations(backbone.model, backbone.sites()) as before:
            with perturbed(backbone, draw_perturbation, PROMPT_LENGTH) as hooks, hooks.examples(start, len(sub_ids[0])):
                with capture_activations(backbone.model, backbone.sites()) as after:
                    backbone.class_scores(embedded.prompt(), *sub_ids, embedded.verbalizer)
        return {name: after[name] - before[name] for name in after}

    whole = noise_of(0, slice(None))
    site = backbone.sites()[2]
    difference = whole[site.name]
    index = selected[site.layer]
    others = [n for n in range(embedded.width) if n not in index]
    assert torch.count_nonzero(difference[:, PROMPT_LENGTH:]) == 0 and torch.count_nonzero(difference[..., others]) == 0
    noise = difference[:, 0, index]
    assert torch.allclose(difference[:, :PROMPT_LENGTH, index], noise[:, None, :].expand(-1, PROMPT_LENGTH, -1),
                          atol=1e-6)
    assert abs(float(noise.std()) - 0.1) < 0.01 and abs(float(noise.mean())) < 0.01
    assert not torch.allclose(noise[0], noise[1])  # a draw per example
    # The noise of an example depends on its index in the split, not on the batch it is in.
    second_half = noise_of(4, slice(4, None))
    assert torch.allclose(second_half[site.name][:, 0, index], noise[4:], atol=1e-6)
    other_draw = noise_of(0, slice(None), _perturbation(embedded, "noise", selected, seed=4, draw=2))
    assert not torch.allclose(other_draw[site.name][:, 0, index], noise)


def test_noise_runs_are_reproducible_and_independent_of_the_batch_size(embedded):
    perturbation = _perturbation(embedded, "noise", _selection(embedded, per_layer=200), noise_std=2.0, seed=1)
    args = embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split, perturbation
    first = evaluate_perturbed(*args, batch_size=5)
    assert torch.allclose(evaluate_perturbed(*args, batch_size=12).logits, first.logits, atol=1e-5)
    assert torch.equal(evaluate_perturbed(*args, batch_size=5).logits, first.logits)
    reference = evaluate(*args[:4])
    assert not torch.allclose(first.logits, reference.logits)


def test_random_sets_match_the_skill_sets_layer_sizes_and_are_seeded(embedded):
    masks = as_masks(embedded.scores(), fractions=(0.0, 0.05, 0.2))
    draws = random_masks(masks, draws=3, seed=11)
    assert draws.dims == ("draw", "fraction", "layer", "neuron")
    xr.testing.assert_equal(draws.sum("neuron").isel(draw=0, drop=True), masks.sum("neuron"))
    assert (draws.sum("neuron") == masks.sum("neuron")).all()
    assert not (draws.isel(draw=0) == draws.isel(draw=1)).all()
    xr.testing.assert_equal(draws, random_masks(masks, draws=3, seed=11))
    assert not (random_masks(masks, draws=1, seed=12).isel(draw=0) == draws.isel(draw=0)).all()
    small, large = draws.sel(fraction=0.05), draws.sel(fraction=0.2)
    assert bool((~small | large).all())  # nested across fractions
    assert not (draws.isel(draw=0, fraction=2) == masks.isel(fraction=2)).all()


def _independent_zero_logits(prompted, mask: np.ndarray | None) -> torch.Tensor:
    """Class scores with the masked neurons zeroed at positions < P, by a hook written here."""
    backbone = prompted.backbone
    handles = []
    if mask is not None:
        for row, site in enumerate(backbone.sites()):
            columns = torch.tensor(np.flatnonzero(mask[row]))

            def hook(_module, args, columns=columns):
                neurons = args[0].clone()
                for position in range(PROMPT_LENGTH):
                    neurons[:, position, columns] = 0.0
                return (neurons,)

            handles.append(site.resolve(backbone.model).register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            return torch.cat([_forward(prompted, batch) for batch in prompted.split.batches(7)])
    finally:
        for handle in handles:
            handle.remove()


def test_accuracies_equal_an_independent_computation(embedded):
    scores = embedded.scores(seed=5)
    ablation = SkillAblation(method="zero", fractions=(0.0, 0.1, 0.5), draws=2, seed=3, batch_size=5,
                             progress=False).fit(embedded.backbone, embedded.prompt, embedded.verbalizer,
                                                 embedded.split)
    result = ablation.score(scores)
    labels = embedded.split.labels.numpy()

    def accuracy(mask):
        return float(np.mean(_independent_zero_logits(embedded, mask).argmax(dim=1).numpy() == labels))

    reference = accuracy(None)
    assert float(result["reference_accuracy"]) == reference
    skill_sets = as_masks(scores, fractions=(0.0, 0.1, 0.5))
    random_sets = random_masks(skill_sets, draws=2, seed=3)
    for fraction in (0.1, 0.5):
        skill = result["accuracy"].sel(selection="skill", fraction=fraction)
        assert (skill == accuracy(skill_sets.sel(fraction=fraction).values)).all()  # the same in every draw
        for draw in range(2):
            expected = accuracy(random_sets.sel(fraction=fraction, draw=draw).values)
            assert float(result["accuracy"].sel(selection="random", fraction=fraction, draw=draw)) == expected
    assert (result["accuracy"].sel(fraction=0.0) == reference).all()
    xr.testing.assert_equal(result["accuracy_drop"], reference - result["accuracy"])
    np.testing.assert_array_equal(result["n_perturbed"].values, skill_sets.sum("neuron").values)
    assert float(result["accuracy_drop"].sel(fraction=0.5).max()) != 0.0  # the perturbation did something
    assert result.attrs["method"] == "zero" and result.attrs["prompt_length"] == PROMPT_LENGTH


def test_noise_sweep_draws_the_skill_set_noise_per_draw(embedded):
    ablation = SkillAblation(method="noise", noise_std=3.0, fractions=(0.5,), draws=3, progress=False)
    result = ablation.fit(embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split).score(
        embedded.scores())
    assert result["accuracy"].dims == ("selection", "fraction", "draw") and result.sizes["draw"] == 3
    again = SkillAblation(method="noise", noise_std=3.0, fractions=(0.5,), draws=3, progress=False).fit(
        embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split).score(embedded.scores())
    xr.testing.assert_identical(result, again)


def test_hooks_are_removed_after_an_exception():
    prompted = make_prompted("bert", size=4)
    backbone = prompted.backbone
    perturbation = _perturbation(prompted, "noise", _selection(prompted))
    batch = next(prompted.split.batches(4))
    with pytest.raises(NeurokitError, match="outside a batch"):  # raised inside the hook, mid-forward
        with perturbed(backbone, perturbation, PROMPT_LENGTH):
            assert _hooks_left(backbone) == len(prompted.layers) - 1
            _forward(prompted, batch)
    assert _hooks_left(backbone) == 0
    with pytest.raises(RuntimeError, match="boom"):
        with perturbed(backbone, _perturbation(prompted, "zero", _selection(prompted)), PROMPT_LENGTH):
            raise RuntimeError("boom")
    assert _hooks_left(backbone) == 0


def test_edits_run_in_the_model_dtype():
    prompted = make_prompted("bert", size=4)
    prompted.backbone.model.to(torch.bfloat16)
    selected = _selection(prompted)
    batch = next(prompted.split.batches(4))
    with torch.no_grad(), perturbed(prompted.backbone, _perturbation(prompted, "mean", selected), PROMPT_LENGTH):
        with capture_activations(prompted.backbone.model, prompted.backbone.sites()) as after:
            _forward(prompted, batch)
    layer = prompted.layers[0]
    edited = after[prompted.backbone.sites()[0].name]
    assert edited.dtype == torch.bfloat16
    expected = torch.tensor(prompted.values().values[0][:, selected[layer]]).to(torch.bfloat16)
    assert torch.equal(edited[0, :PROMPT_LENGTH, selected[layer]], expected)


def test_masks_from_scores_and_stored_masks():
    scores = xr.DataArray(np.random.default_rng(0).random((2, 2, 10)), dims=("subtask", "layer", "neuron"),
                          coords={"layer": [0, 1]})
    masks = as_masks(scores, fractions=(0.1, 0.3))
    expected = np.zeros((2, 2, 10), dtype=bool)
    for f, count in enumerate((1, 3)):
        for subtask in range(2):
            for layer in range(2):
                expected[f, layer, np.argsort(-scores.values[subtask, layer])[:count]] = True
    np.testing.assert_array_equal(masks.values, expected)  # union of the sub-tasks' tops
    picked = as_masks(masks, fractions=(0.3,))
    np.testing.assert_array_equal(picked.values, expected[1:])
    single = as_masks(masks.isel(fraction=0, drop=True))
    assert single["fraction"].values.tolist() == [float(expected[0].sum()) / 20]
    with pytest.raises(ConfigError, match="not among"):
        as_masks(masks, fractions=(0.2,))
    with pytest.raises(ConfigError, match="single mask"):
        as_masks(masks.isel(fraction=0, drop=True), fractions=(0.1,))
    with pytest.raises(ConfigError, match="dims"):
        as_masks(scores.rename(neuron="unit"))


def test_invalid_perturbations_are_refused(embedded):
    with pytest.raises(ConfigError, match="needs the replacement values"):
        Perturbation(embedded.mask(), "mean")
    with pytest.raises(ConfigError, match="only used by method"):
        Perturbation(embedded.mask(), "zero", embedded.values())
    with pytest.raises(ConfigError, match="not a valid AblationMethod"):
        Perturbation(embedded.mask(), "scramble")
    wrong_layer = embedded.mask().assign_coords(layer=[layer + 10 for layer in embedded.layers])
    with pytest.raises(NeurokitError, match="name layer 10"):
        evaluate_perturbed(embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split,
                           Perturbation(wrong_layer, "zero"))
    with pytest.raises(NeurokitError, match="neurons per layer"):
        with perturbed(embedded.backbone, Perturbation(embedded.mask().isel(neuron=slice(5)), "zero"), 4):
            pass
    with pytest.raises(NeurokitError, match="prompt positions"):
        with perturbed(embedded.backbone, Perturbation(embedded.mask(), "mean", embedded.values()), 6):
            pass
    with pytest.raises(ConfigError, match="draws"):
        SkillAblation(draws=0)
    with pytest.raises(NeurokitError, match="not fitted"):
        SkillAblation().score(embedded.scores())
    with pytest.raises(ConfigError, match="needs the replacement values"):
        SkillAblation(method="mean").fit(embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split)


def test_train_mean_is_the_mean_over_the_train_set_at_the_prompt_positions():
    rng = np.random.default_rng(0)
    activation = rng.normal(size=(9, 2, 6, 5))
    labels = rng.integers(0, 2, 9)
    roles = ["mask", "prompt_0", "prompt_1", "prompt_2", "input_mean", "input_max"]
    onehot = labels[:, None] == np.arange(2)
    store = xr.Dataset(
        {"activation": (("example", "layer", "position", "neuron"), activation),
         "train_count": ("class", onehot.sum(0)),
         "train_sum": (("class", "layer", "position", "neuron"), np.einsum("ec,elpn->clpn", onehot, activation))},
        coords={"layer": [0, 1], "position": np.arange(6), "position_role": ("position", roles),
                "class": ["negative", "positive"]})
    expected = activation[:, :, :4].mean(axis=0)
    np.testing.assert_allclose(train_mean(store).values, expected, rtol=1e-12)
    np.testing.assert_allclose(train_mean(store.drop_vars(["train_sum", "train_count"])).values, expected,
                               rtol=1e-12)
    assert train_mean(store).dims == ("layer", "position", "neuron")
