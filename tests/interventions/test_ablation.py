"""Perturbations at every, the prompt or the input positions: exactness against captured activations and
independent computations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import xarray as xr

from neurokit.errors import ConfigError, NeurokitError
from neurokit.interventions import (
    Perturbation,
    SkillAblationExperiment,
    as_masks,
    evaluate_perturbed,
    perturbed,
    random_masks,
    train_activations,
    train_mean,
)
from neurokit.interventions.ablation import donors
from neurokit.interventions.masks import RESAMPLE_STREAM
from neurokit.models import capture_activations
from neurokit.prompts import evaluate
from tests.helpers.prompted_models import PROMPT_LENGTH, make_prompted


def _selection(prompted, seed=0, per_layer=3):
    """A few random neurons in every layer but the last (which stays untouched)."""
    rng = np.random.default_rng(seed)
    return {layer: sorted(rng.choice(prompted.width, per_layer, replace=False).tolist())
            for layer in prompted.layers[:-1]}


def _perturbation(prompted, method, selected, positions="all", **settings):
    """Per-position values at the prompt positions only; elsewhere one value per neuron (or donor)."""
    per_position = positions == "prompt"
    values = {"mean": prompted.values(per_position=per_position),
              "resample": prompted.pool(per_position=per_position)}.get(method)
    return Perturbation(prompted.mask(selected), method, values, positions=positions, **settings)


# The positions each setting edits, written out here for both layouts: a prepended prompt is at 0..P-1; an
# appended one (GPT-2's default) follows the left-padded input, at the last P positions of every example.
EDITED = {"prepend": {"all": slice(None), "prompt": slice(0, PROMPT_LENGTH), "input": slice(PROMPT_LENGTH, None)},
          "append": {"all": slice(None), "prompt": slice(-PROMPT_LENGTH, None), "input": slice(0, -PROMPT_LENGTH)}}


def _forward(prompted, batch):
    return prompted.backbone.class_scores(prompted.prompt().to(prompted.backbone.device), batch.input_ids,
                                          batch.attention_mask, prompted.verbalizer, prompted.prompt.layout)


def _hooks_left(backbone) -> int:
    return sum(len(site.resolve(backbone.model)._forward_pre_hooks) for site in backbone.all_sites)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["noise", "zero", "mean", "resample"])
def test_an_empty_mask_gives_exactly_the_unperturbed_logits(prompted, method):
    reference = evaluate(prompted.backbone, prompted.prompt, prompted.verbalizer, prompted.split, batch_size=5)
    for positions in ("all", "prompt", "input"):
        result = evaluate_perturbed(prompted.backbone, prompted.prompt, prompted.verbalizer, prompted.split,
                                    _perturbation(prompted, method, {}, positions), batch_size=5)
        assert torch.equal(result.logits, reference.logits)
        assert result.accuracy == reference.accuracy


@pytest.mark.slow
@pytest.mark.parametrize(("method", "positions"), [("zero", "all"), ("zero", "prompt"), ("zero", "input"),
                                                   ("mean", "all"), ("mean", "prompt"), ("mean", "input")])
def test_zero_and_mean_change_exactly_the_selected_neurons_at_the_chosen_positions(prompted, method, positions):
    backbone = prompted.backbone
    selected = _selection(prompted)
    perturbation = _perturbation(prompted, method, selected, positions)
    batch = next(prompted.split.batches(6))
    with torch.no_grad(), capture_activations(backbone.model, backbone.all_sites) as before:
        with perturbed(backbone, perturbation, PROMPT_LENGTH, prompted.prompt.layout):
            # Registered after the edit hooks, so it sees what the output projections receive.
            with capture_activations(backbone.model, backbone.all_sites) as after:
                _forward(prompted, batch)
    values = perturbation.values.values if method == "mean" else None
    for site in backbone.all_sites:
        old, new = before[site.name], after[site.name]
        assert new.dtype == old.dtype == backbone.model.dtype and new.device == old.device
        expected = old.clone()
        if site.stack is backbone.sites()[0].stack and site.layer in selected:  # never the T5 decoder
            index = selected[site.layer]
            replacement = 0.0 if method == "zero" else torch.tensor(
                values[prompted.layers.index(site.layer)][..., index], dtype=old.dtype)
            expected[:, EDITED[prompted.prompt.layout.value][positions], index] = replacement
            assert not torch.equal(new, old)
        assert torch.equal(new, expected), site.name


@pytest.mark.slow
@pytest.mark.parametrize("positions", ["all", "prompt", "input"])
def test_noise_is_one_draw_per_example_and_neuron_the_same_at_every_edited_position(embedded, positions):
    backbone = embedded.backbone
    selected = {layer: list(range(0, embedded.width, 2)) for layer in embedded.layers}
    perturbation = _perturbation(embedded, "noise", selected, positions, seed=4, draw=1)
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
    where = EDITED["prepend"][positions]
    untouched = torch.ones(difference.shape[1], dtype=torch.bool)
    untouched[where] = False
    assert torch.count_nonzero(difference[:, untouched]) == 0 and torch.count_nonzero(difference[..., others]) == 0
    edited = difference[:, where][..., index]
    noise = edited[:, 0]
    assert torch.allclose(edited, noise[:, None, :].expand(-1, edited.shape[1], -1), atol=1e-6)
    assert abs(float(noise.std()) - 0.1) < 0.01 and abs(float(noise.mean())) < 0.01
    assert not torch.allclose(noise[0], noise[1])  # a draw per example
    # The noise of an example depends on its index in the split, not on the batch it is in.
    second_half = noise_of(4, slice(4, None))
    assert torch.allclose(second_half[site.name][:, where][:, 0][:, index], noise[4:], atol=1e-6)
    other_draw = noise_of(0, slice(None), _perturbation(embedded, "noise", selected, positions, seed=4, draw=2))
    assert not torch.allclose(other_draw[site.name][:, where][:, 0][:, index], noise)


def test_noise_runs_are_reproducible_and_independent_of_the_batch_size(embedded):
    perturbation = _perturbation(embedded, "noise", _selection(embedded, per_layer=200), noise_std=2.0, seed=1)
    args = embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split, perturbation
    first = evaluate_perturbed(*args, batch_size=5)
    assert torch.allclose(evaluate_perturbed(*args, batch_size=12).logits, first.logits, atol=1e-5)
    assert torch.equal(evaluate_perturbed(*args, batch_size=5).logits, first.logits)
    reference = evaluate(*args[:4])
    assert not torch.allclose(first.logits, reference.logits)


@pytest.mark.slow
@pytest.mark.parametrize("positions", ["all", "input"])
def test_editing_the_padding_does_not_change_the_scores(prompted, positions):
    # Alone in a batch an example has no padding; in a batch of 12 the shorter examples are right-padded and
    # their padding is edited too: the attention mask keeps it from reaching any real position.
    perturbation = _perturbation(prompted, "noise", _selection(prompted, per_layer=20), positions, noise_std=5.0)
    args = prompted.backbone, prompted.prompt, prompted.verbalizer, prompted.split, perturbation
    alone = evaluate_perturbed(*args, batch_size=1).logits
    batch = next(prompted.split.batches(len(prompted.split)))
    assert not bool(batch.attention_mask.all())  # the batch does pad
    batched = evaluate_perturbed(*args, batch_size=len(prompted.split)).logits
    effect = float((alone - evaluate(*args[:4], batch_size=1).logits).abs().max())
    assert effect > 1e-4  # the edit acts, by far more than batching changes the numerics
    torch.testing.assert_close(batched, alone, rtol=1e-5, atol=1e-5)


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


def _independent_zero_logits(prompted, mask: np.ndarray | None, positions: str = "prompt") -> torch.Tensor:
    """Class scores with the masked neurons zeroed at the positions (< P, all, ≥ P), by a hook written here."""
    backbone = prompted.backbone
    handles = []
    if mask is not None:
        for row, site in enumerate(backbone.sites()):
            columns = torch.tensor(np.flatnonzero(mask[row]))

            def hook(_module, args, columns=columns):
                neurons = args[0].clone()
                first, last = {"prompt": (0, PROMPT_LENGTH), "all": (0, neurons.shape[1]),
                               "input": (PROMPT_LENGTH, neurons.shape[1])}[positions]
                for position in range(first, last):
                    neurons[:, position, columns] = 0.0
                return (neurons,)

            handles.append(site.resolve(backbone.model).register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            return torch.cat([_forward(prompted, batch) for batch in prompted.split.batches(7)])
    finally:
        for handle in handles:
            handle.remove()


@pytest.mark.parametrize("positions", ["prompt", "all", "input"])
def test_noise_logits_equal_an_independent_hook_bit_for_bit(embedded, positions):
    # The documented seeding written out here: example i's noise is σ · randn((sites, width)) from a generator
    # seeded with SeedSequence([1, seed, draw, i]) (62 bits), added at the edited positions, broadcast over them.
    # With positions="prompt" this is neurokit's perturbation before the positions option existed.
    backbone, seed, draw, std = embedded.backbone, 5, 2, 0.7
    selected = _selection(embedded, per_layer=40)
    perturbation = _perturbation(embedded, "noise", selected, positions, noise_std=std, seed=seed, draw=draw)
    batch_size, sites = 5, backbone.sites()
    width = max(site.width for site in sites)

    def noise_for(example: int) -> torch.Tensor:
        state = np.random.SeedSequence([1, seed, draw, example]).generate_state(2, np.uint32)
        generator = torch.Generator().manual_seed((int(state[0]) << 31) | (int(state[1]) >> 1))
        return torch.randn((len(sites), width), generator=generator) * std

    rows = []
    for start, batch in zip(range(0, len(embedded.split), batch_size), embedded.split.batches(batch_size), strict=True):
        noise = torch.stack([noise_for(start + offset) for offset in range(len(batch.ids))])
        handles = []
        for row, site in enumerate(sites):
            if site.layer not in selected:
                continue
            columns = torch.tensor(selected[site.layer])

            def hook(_module, args, row=row, columns=columns, noise=noise):
                neurons = args[0].clone()
                where = EDITED["prepend"][positions]
                neurons[:, where, columns] = neurons[:, where, columns] + noise[:, row, columns].unsqueeze(1)
                return (neurons,)

            handles.append(site.resolve(backbone.model).register_forward_pre_hook(hook))
        try:
            with torch.no_grad():
                rows.append(_forward(embedded, batch))
        finally:
            for handle in handles:
                handle.remove()
    result = evaluate_perturbed(backbone, embedded.prompt, embedded.verbalizer, embedded.split, perturbation,
                                batch_size=batch_size)
    assert torch.equal(result.logits, torch.cat(rows))
    assert not torch.equal(result.logits, evaluate(backbone, embedded.prompt, embedded.verbalizer, embedded.split,
                                                   batch_size=batch_size).logits)


@pytest.mark.slow
@pytest.mark.parametrize("positions", ["prompt", "all"])
def test_accuracies_equal_an_independent_computation(embedded, positions):
    scores = embedded.scores(seed=5)
    ablation = SkillAblationExperiment(method="zero", positions=positions, fractions=(0.0, 0.1, 0.5), draws=2,
                                       seed=3, batch_size=5, progress=False).prepare(
        embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split)
    result = ablation.run(scores)
    labels = embedded.split.labels.numpy()

    def correct(mask):
        return _independent_zero_logits(embedded, mask, positions).argmax(dim=1).numpy() == labels

    def accuracy(mask):
        return float(np.mean(correct(mask)))

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
    # Per-example outcomes: the skill set's at 50 % and one random set's, example by example in split order.
    assert result["correct"].dims == ("selection", "fraction", "draw", "example")
    assert list(result["example"].values) == embedded.split.ids
    np.testing.assert_array_equal(result["correct"].sel(selection="skill", fraction=0.5, draw=1).values,
                                  correct(skill_sets.sel(fraction=0.5).values))
    np.testing.assert_array_equal(result["correct"].sel(selection="random", fraction=0.1, draw=0).values,
                                  correct(random_sets.sel(fraction=0.1, draw=0).values))
    np.testing.assert_array_equal(result["correct"].sel(fraction=0.0).values,
                                  np.broadcast_to(correct(None), (2, 2, len(labels))))
    xr.testing.assert_equal(result["accuracy"], result["correct"].mean("example", dtype=np.float64))
    np.testing.assert_array_equal(result["n_perturbed"].values, skill_sets.sum("neuron").values)
    assert float(result["accuracy_drop"].sel(fraction=0.5).max()) != 0.0  # the perturbation did something
    assert result.attrs["method"] == "zero" and result.attrs["prompt_length"] == PROMPT_LENGTH
    assert result.attrs["positions"] == positions and json.loads(result.attrs["settings"])["positions"] == positions


@pytest.mark.slow
def test_noise_sweep_draws_the_skill_set_noise_per_draw(embedded):
    ablation = SkillAblationExperiment(method="noise", noise_std=3.0, fractions=(0.5,), draws=3, progress=False)
    result = ablation.prepare(embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split).run(
        embedded.scores())
    assert result["accuracy"].dims == ("selection", "fraction", "draw") and result.sizes["draw"] == 3
    again = SkillAblationExperiment(method="noise", noise_std=3.0, fractions=(0.5,), draws=3, progress=False).prepare(
        embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split).run(embedded.scores())
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
    perturbation = _perturbation(prompted, "mean", selected, "prompt")
    with torch.no_grad(), perturbed(prompted.backbone, perturbation, PROMPT_LENGTH):
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
    with pytest.raises(ConfigError, match=r"method must be one of noise, .* \(AblationMethod\), got 'scramble'"):
        Perturbation(embedded.mask(), "scramble")
    wrong_layer = embedded.mask().assign_coords(layer=[layer + 10 for layer in embedded.layers])
    with pytest.raises(NeurokitError, match="name layer 10"):
        evaluate_perturbed(embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split,
                           Perturbation(wrong_layer, "zero"))
    with pytest.raises(NeurokitError, match="neurons per layer"):
        with perturbed(embedded.backbone, Perturbation(embedded.mask().isel(neuron=slice(5)), "zero"), 4):
            pass
    with pytest.raises(NeurokitError, match="prompt positions"):
        with perturbed(embedded.backbone, Perturbation(embedded.mask(), "mean", embedded.values(), positions="prompt"),
                       6):
            pass
    with pytest.raises(ConfigError, match="draws"):
        SkillAblationExperiment(draws=0)
    with pytest.raises(NeurokitError, match="not prepared"):
        SkillAblationExperiment().run(embedded.scores())
    with pytest.raises(ConfigError, match="needs the replacement values"):
        SkillAblationExperiment(method="mean").prepare(embedded.backbone, embedded.prompt, embedded.verbalizer,
                                                       embedded.split)


def _train_store(examples: int = 9, seed: int = 0) -> tuple[xr.Dataset, np.ndarray]:
    """A small train store (statistics and raw activations) with 4 prompt positions and 2 input summaries."""
    rng = np.random.default_rng(seed)
    activation = rng.normal(size=(examples, 2, 6, 5))
    labels = rng.integers(0, 2, examples)
    roles = ["mask", "prompt_0", "prompt_1", "prompt_2", "input_mean", "input_max"]
    onehot = labels[:, None] == np.arange(2)
    store = xr.Dataset(
        {"activation": (("example", "layer", "position", "neuron"), activation),
         "train_count": ("class", onehot.sum(0)),
         "train_sum": (("class", "layer", "position", "neuron"), np.einsum("ec,elpn->clpn", onehot, activation))},
        coords={"layer": [0, 1], "position": np.arange(6), "position_role": ("position", roles),
                "class": ["negative", "positive"]})
    return store, activation


def test_train_mean_is_the_mean_over_the_train_set_and_the_prompt_positions():
    store, activation = _train_store()
    # Wang et al.: one value per neuron, the mean over train examples and prompt positions together.
    expected = activation[:, :, :4].transpose(1, 3, 0, 2).reshape(2, 5, -1).mean(axis=2)
    np.testing.assert_allclose(train_mean(store).values, expected, rtol=1e-12)
    np.testing.assert_allclose(train_mean(store.drop_vars(["train_sum", "train_count"])).values, expected,
                               rtol=1e-12)
    assert train_mean(store).dims == ("layer", "neuron")
    per_position = train_mean(store, per_position=True)
    assert per_position.dims == ("layer", "position", "neuron")
    np.testing.assert_allclose(per_position.values, activation[:, :, :4].mean(axis=0), rtol=1e-12)


def test_train_activations_are_each_examples_mean_over_the_prompt_positions():
    store, activation = _train_store()
    pool = train_activations(store.chunk({"example": 4}))
    assert pool.dims == ("example", "layer", "neuron") and pool.dtype == np.float32 and pool.chunks is not None
    np.testing.assert_allclose(pool.values, activation[:, :, :4].astype(np.float32).mean(axis=2), rtol=1e-6)
    np.testing.assert_allclose(pool.mean("example").values, train_mean(store).values, rtol=1e-5)
    per_position = train_activations(store, per_position=True)
    assert per_position.dims == ("example", "layer", "position", "neuron")
    np.testing.assert_array_equal(per_position.values, activation[:, :, :4].astype(np.float32))
    with pytest.raises(NeurokitError, match="raw activations"):
        train_activations(store.drop_vars("activation"))


def test_donors_are_seeded_per_example_and_independent_of_the_batch():
    whole = donors(seed=3, draw=1, start=0, count=40, pool_size=7)
    assert whole.shape == (40,) and whole.min() >= 0 and whole.max() < 7 and len(set(whole.tolist())) > 1
    np.testing.assert_array_equal(np.concatenate([donors(3, 1, 0, 15, 7), donors(3, 1, 15, 25, 7)]), whole)
    assert not np.array_equal(donors(3, 2, 0, 40, 7), whole) and not np.array_equal(donors(4, 1, 0, 40, 7), whole)
    expected = [np.random.default_rng([RESAMPLE_STREAM, 3, 1, example]).integers(7) for example in range(40)]
    np.testing.assert_array_equal(whole, expected)


@pytest.mark.parametrize("positions", ["all", "prompt", "input"])
def test_resample_sets_the_selected_neurons_to_the_donors_values(embedded, positions):
    backbone = embedded.backbone
    selected = _selection(embedded)
    perturbation = _perturbation(embedded, "resample", selected, positions, seed=2, draw=1)
    pool = perturbation.values.values  # (example, layer, [position,] neuron)
    batch = next(embedded.split.batches(6))
    start = 3
    with torch.no_grad(), capture_activations(backbone.model, backbone.sites()) as before, \
            perturbed(backbone, perturbation, PROMPT_LENGTH) as hooks, hooks.examples(start, 6), \
            capture_activations(backbone.model, backbone.sites()) as after:
        _forward(embedded, batch)
    chosen = [np.random.default_rng([RESAMPLE_STREAM, 2, 1, start + offset]).integers(len(pool)) for offset in range(6)]
    for site in backbone.sites():
        expected = before[site.name].clone()
        if site.layer in selected:
            index = selected[site.layer]
            donated = pool[chosen][:, embedded.layers.index(site.layer)][..., index]  # (6, [P,] selected)
            if positions != "prompt":
                donated = donated[:, None, :]
            expected[:, EDITED["prepend"][positions], index] = torch.tensor(donated, dtype=expected.dtype)
        assert torch.equal(after[site.name], expected), site.name


def test_resample_is_deterministic_and_independent_of_the_batch_size(embedded):
    perturbation = _perturbation(embedded, "resample", _selection(embedded, per_layer=200), seed=1)
    args = embedded.backbone, embedded.prompt, embedded.verbalizer, embedded.split, perturbation
    first = evaluate_perturbed(*args, batch_size=5)
    assert torch.equal(evaluate_perturbed(*args, batch_size=5).logits, first.logits)
    assert torch.allclose(evaluate_perturbed(*args, batch_size=12).logits, first.logits, atol=1e-5)
    assert not torch.allclose(first.logits, evaluate(*args[:4]).logits)
    other_seed = _perturbation(embedded, "resample", _selection(embedded, per_layer=200), seed=2)
    assert not torch.equal(evaluate_perturbed(*args[:4], other_seed, batch_size=5).logits, first.logits)


@pytest.mark.slow
def test_resample_sweep_draws_donors_per_draw(embedded):
    pool = embedded.pool()
    settings = {"method": "resample", "fractions": (0.5,), "draws": 3, "seed": 1, "batch_size": 5,
                "progress": False}
    result = SkillAblationExperiment(**settings).prepare(embedded.backbone, embedded.prompt, embedded.verbalizer,
                                                         embedded.split, values=pool).run(embedded.scores())
    again = SkillAblationExperiment(**settings).prepare(embedded.backbone, embedded.prompt, embedded.verbalizer,
                                                        embedded.split, values=pool).run(embedded.scores())
    xr.testing.assert_identical(result, again)
    assert result.attrs["method"] == "resample" and result.attrs["positions"] == "all"


def test_values_that_do_not_fit_the_method_or_positions_are_refused(embedded):
    with pytest.raises(ConfigError, match="only for the prompt positions"):
        Perturbation(embedded.mask(), "mean", embedded.values(per_position=True), positions="all")
    with pytest.raises(ConfigError, match="only for the prompt positions"):
        Perturbation(embedded.mask(), "resample", embedded.pool(per_position=True), positions="input")
    with pytest.raises(ConfigError, match="needs a donor pool"):
        Perturbation(embedded.mask(), "resample")
    with pytest.raises(ConfigError, match="must have dims"):
        Perturbation(embedded.mask(), "resample", embedded.values(per_position=False))
    with pytest.raises(ConfigError, match="must have dims"):
        Perturbation(embedded.mask(), "mean", embedded.pool())
    with pytest.raises(ConfigError, match=r"positions must be one of all, .* \(Positions\), got 'everywhere'"):
        SkillAblationExperiment(positions="everywhere")
    with pytest.raises(ConfigError, match="only for the prompt positions"):
        SkillAblationExperiment(method="mean").prepare(embedded.backbone, embedded.prompt, embedded.verbalizer,
                                                       embedded.split, values=embedded.values(per_position=True))


def test_python_callers_get_the_train_store_and_skill_weight_checks(tmp_path):
    """What `neurokit ablate` refuses, the library refuses too: a train store of another prompt, model or split,
    and skill neurons of other weights (at SkillAblationExperiment.run and kept_neurons, without any extra call)."""
    from neurokit.extract import open_run
    from neurokit.interventions import PruneConfig, check_train_store, kept_neurons
    from neurokit.models.random import random_backbone
    from tests.helpers.prompted_models import MOVIES, save_prompt, write_train_store

    prompted = make_prompted("bert")
    backbone = prompted.backbone
    checkpoint = save_prompt(backbone, MOVIES, tmp_path / "prompt", seed=1)
    other_prompt = save_prompt(backbone, MOVIES, tmp_path / "other-prompt", seed=2)
    store = open_run(write_train_store(backbone, checkpoint, tmp_path / "train.zarr")[0])
    check_train_store(store, backbone, checkpoint)
    with pytest.raises(NeurokitError, match="extracted with another prompt"):
        check_train_store(store, backbone, other_prompt)
    with pytest.raises(NeurokitError, match="comes from other weights"):
        check_train_store(store, random_backbone("bert", seed=1), checkpoint)
    with pytest.raises(NeurokitError, match="holds split 'dev'"):
        check_train_store(store.assign_attrs(split="dev"), backbone, checkpoint)

    skill = prompted.scores().assign_attrs(weights_sha256="0" * 64, model_id="another/model")
    ablation = SkillAblationExperiment(method="zero", fractions=[0.1], draws=1, progress=False)
    ablation.prepare(backbone, prompted.prompt, prompted.verbalizer, prompted.split)
    with pytest.raises(NeurokitError, match="come from other weights \\('another/model'\\)"):
        ablation.run(skill)
    with pytest.raises(NeurokitError, match="come from other weights"):
        kept_neurons(backbone, skill, PruneConfig(fraction=0.1))
    ablation.run(skill.assign_attrs(weights_sha256=backbone.weights_sha256))  # its own weights pass
