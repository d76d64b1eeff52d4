"""Adapters on tiny random models of every family: exact neuron sites, prompt prepending, hook hygiene."""

import pytest
import torch
import torch.nn.functional as F
from transformers.activations import ACT2FN

from neurokit.errors import NeurokitError
from neurokit.models import (
    Scoring,
    Stack,
    capture_activations,
    edit_activations,
    load_backbone,
)
from neurokit.models.random import RandomArchitecture, random_backbone

ARCHITECTURES = list(RandomArchitecture)


@pytest.fixture(scope="module", params=ARCHITECTURES, ids=[a.value for a in ARCHITECTURES])
def backbone(request):
    return random_backbone(request.param)


def _inputs(backbone):
    return backbone.tokenize(["a truly great film .", "awful", "the plot was dull and slow"], 16)


def _ffn_modules(backbone, site):
    """(FFN input module, FFN block module) of a site, located independently of the adapter's own paths."""
    model, family, i = backbone.model, backbone.adapter.family.value, site.layer
    if family in ("bert", "roberta"):
        layer = model.base_model.encoder.layer[i]
        return layer.intermediate, layer.output.dense
    if family == "t5":
        stack = model.encoder if site.stack is Stack.ENCODER else model.decoder
        ffn = stack.block[i].layer[-1].DenseReluDense
        return ffn, ffn
    if family == "gpt2":
        mlp = model.transformer.h[i].mlp
        return mlp, mlp.c_proj
    mlp = model.model.layers[i].mlp
    return mlp, mlp


def _neurons_by_hand(backbone, ffn, x):
    """The FFN neurons computed from the block input x with the weights and the config's activation."""
    config, family = backbone.model.config, backbone.adapter.family.value
    if family in ("bert", "roberta"):
        return ACT2FN[config.hidden_act](F.linear(x, ffn.dense.weight, ffn.dense.bias))
    if family == "t5":
        act = ACT2FN[config.dense_act_fn]
        if config.is_gated_act:
            return act(F.linear(x, ffn.wi_0.weight)) * F.linear(x, ffn.wi_1.weight)
        return act(F.linear(x, ffn.wi.weight))
    if family == "gpt2":
        return ACT2FN[config.activation_function](x @ ffn.c_fc.weight + ffn.c_fc.bias)
    return ACT2FN[config.hidden_act](F.linear(x, ffn.gate_proj.weight)) * F.linear(x, ffn.up_proj.weight)


def _project_by_hand(backbone, projection, neurons):
    if backbone.adapter.family.value == "gpt2":  # Conv1D keeps its weight as (in, out)
        return neurons @ projection.weight + projection.bias
    return F.linear(neurons, projection.weight, projection.bias)


def test_sites_are_named_canonically_and_cover_every_layer(backbone):
    config = backbone.model.config
    n_layers = getattr(config, "num_hidden_layers", None) or config.num_layers
    stacks = [Stack.ENCODER] if backbone.adapter.family.value in ("bert", "roberta") else \
        [Stack.ENCODER, Stack.DECODER] if backbone.adapter.family.value == "t5" else [Stack.DECODER]
    expected = [f"{s.value}.layer.{i}.ffn" for s in stacks for i in range(n_layers)]
    assert [site.name for site in backbone.all_sites] == expected
    assert backbone.sites()[0].stack is stacks[0]


def test_captured_neurons_are_the_input_of_the_output_projection(backbone):
    """Captured neurons equal act(W_in x) from the block input, and W_out · neurons equals the block output."""
    sites = backbone.all_sites
    ffn_inputs, ffn_outputs, handles = {}, {}, []
    for site in sites:
        block_in, block_out = _ffn_modules(backbone, site)
        handles.append(block_in.register_forward_pre_hook(
            lambda m, a, name=site.name: ffn_inputs.__setitem__(name, a[0].detach())))
        handles.append(block_out.register_forward_hook(
            lambda m, a, out, name=site.name: ffn_outputs.__setitem__(name, out.detach())))
    prompt = torch.randn(4, backbone.embedding_dim)
    verbalizer = backbone.verbalizer(["negative", "positive"])
    try:
        with capture_activations(backbone.model, sites) as captured:
            backbone.class_scores(prompt, **_inputs(backbone), verbalizer=verbalizer)
    finally:
        for handle in handles:
            handle.remove()
    for site in sites:
        neurons = captured[site.name]
        assert neurons.shape[-1] == site.width
        block_in, _ = _ffn_modules(backbone, site)
        torch.testing.assert_close(neurons, _neurons_by_hand(backbone, block_in, ffn_inputs[site.name]),
                                   rtol=1e-5, atol=1e-5)
        projected = _project_by_hand(backbone, site.resolve(backbone.model), neurons)
        torch.testing.assert_close(projected, ffn_outputs[site.name], rtol=1e-5, atol=1e-5)


def test_prepending_equals_a_hand_built_inputs_embeds_concatenation(backbone):
    inputs = _inputs(backbone)
    prompt = torch.randn(5, backbone.embedding_dim) * 0.1
    verbalizer = backbone.verbalizer(["negative", "positive"])
    scores = backbone.class_scores(prompt, **inputs, verbalizer=verbalizer, layout="prepend")

    model, ids, mask = backbone.model, inputs["input_ids"], inputs["attention_mask"]
    batch = ids.shape[0]
    embeds = torch.cat([prompt.expand(batch, -1, -1), model.get_input_embeddings()(ids)], dim=1)
    full_mask = torch.cat([torch.ones(batch, 5, dtype=mask.dtype), mask], dim=1)
    label_ids = [ids_[0] for ids_ in verbalizer.token_ids]
    family = backbone.adapter.family.value
    if family in ("bert", "roberta"):
        expected = model(inputs_embeds=embeds, attention_mask=full_mask).logits[:, 0, label_ids]
    elif family == "t5":
        start = torch.full((batch, 1), model.config.decoder_start_token_id)
        expected = model(inputs_embeds=embeds, attention_mask=full_mask,
                         decoder_input_ids=start).logits[:, 0, label_ids]
    else:
        logits = model(inputs_embeds=embeds, attention_mask=full_mask).logits
        last = 5 + mask.sum(dim=1) - 1
        expected = logits[torch.arange(batch), last][:, label_ids]
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)


def test_right_padding_does_not_change_an_example_s_scores(backbone):
    """Scoring a batch equals scoring each example alone: the read-out ignores padding."""
    inputs = _inputs(backbone)
    prompt = torch.randn(3, backbone.embedding_dim) * 0.1
    verbalizer = backbone.verbalizer(["negative", "positive"])
    together = backbone.class_scores(prompt, **inputs, verbalizer=verbalizer)
    for row in range(inputs["input_ids"].shape[0]):
        length = int(inputs["attention_mask"][row].sum())
        alone = backbone.class_scores(prompt, inputs["input_ids"][row:row + 1, :length],
                                      inputs["attention_mask"][row:row + 1, :length], verbalizer)
        torch.testing.assert_close(alone[0], together[row], rtol=1e-4, atol=1e-5)


def _hook_count(model):
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in model.modules())


def test_no_hook_survives_an_exception(backbone):
    before = _hook_count(backbone.model)
    with pytest.raises(RuntimeError, match="boom"):
        with capture_activations(backbone.model, backbone.all_sites):
            assert _hook_count(backbone.model) == before + len(backbone.all_sites)
            raise RuntimeError("boom")
    assert _hook_count(backbone.model) == before

    def failing_edit(neurons):
        raise RuntimeError("edit failed")

    with pytest.raises(RuntimeError, match="edit failed"):
        with edit_activations(backbone.model, {backbone.all_sites[0]: failing_edit}):
            backbone.class_scores(torch.zeros(2, backbone.embedding_dim), **_inputs(backbone),
                                  verbalizer=backbone.verbalizer(["no", "yes"]))
    assert _hook_count(backbone.model) == before


def test_zeroing_a_site_through_edit_changes_scores_only_inside_the_block(backbone):
    inputs, verbalizer = _inputs(backbone), backbone.verbalizer(["negative", "positive"])
    prompt = torch.randn(3, backbone.embedding_dim)
    clean = backbone.class_scores(prompt, **inputs, verbalizer=verbalizer)
    with edit_activations(backbone.model, {site: torch.zeros_like for site in backbone.sites()}):
        edited = backbone.class_scores(prompt, **inputs, verbalizer=verbalizer)
    assert not torch.allclose(clean, edited)
    torch.testing.assert_close(backbone.class_scores(prompt, **inputs, verbalizer=verbalizer), clean)


def test_a_prompt_of_the_wrong_width_is_refused(backbone):
    with pytest.raises(NeurokitError, match="does not fit"):
        backbone.class_scores(torch.zeros(3, backbone.embedding_dim + 1), **_inputs(backbone),
                              verbalizer=backbone.verbalizer(["no", "yes"]))


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES, ids=[a.value for a in ARCHITECTURES])
def test_local_folder_in_hub_format_loads_through_the_hub_code_path(architecture, tmp_path):
    original = random_backbone(architecture)
    original.model.save_pretrained(tmp_path, safe_serialization=True)
    original.tokenizer.save_pretrained(tmp_path)
    loaded = load_backbone(str(tmp_path))
    assert loaded.weights_sha256 == original.weights_sha256
    assert [s.name for s in loaded.all_sites] == [s.name for s in original.all_sites]
    assert not any(p.requires_grad for p in loaded.model.parameters())


def test_t5_sequence_loglik_scores_are_log_probabilities():
    backbone = random_backbone("t5-gated")
    verbalizer = backbone.verbalizer(["negative", "positive"], Scoring.SEQUENCE_LOGLIK)
    scores = backbone.class_scores(torch.randn(3, backbone.embedding_dim), **_inputs(backbone),
                                   verbalizer=verbalizer)
    assert scores.shape == (3, 2) and bool((scores <= 0).all())


def test_unknown_model_and_unsupported_scoring_are_one_line_errors(tmp_path):
    with pytest.raises(NeurokitError) as error:
        load_backbone(str(tmp_path / "missing-model"))
    assert "\n" not in str(error.value)
    with pytest.raises(NeurokitError, match="scoring"):
        load_backbone(scoring="next-token")


def test_embedded_default_is_the_real_minilm(embedded_backbone):
    assert embedded_backbone.adapter.family.value == "bert"
    assert [s.width for s in embedded_backbone.sites()] == [1536] * 6
    assert embedded_backbone.scoring is Scoring.TIED_EMBEDDING
    assert embedded_backbone.model.config.hidden_size == 384


# --- family questions the adapters answer (from configs alone: no weights are built) ---------------------------

#: Per family: (max positions of the tiny config, float16 overflows, PEFT task type, Auto class name with the head).
FAMILY_ANSWERS = {
    "bert": (514, False, "FEATURE_EXTRACTION", "AutoModelForMaskedLM"),
    "roberta": (512, False, "FEATURE_EXTRACTION", "AutoModelForMaskedLM"),  # positions start after pad id 1
    "t5": (None, True, "SEQ_2_SEQ_LM", "AutoModelForSeq2SeqLM"),  # relative positions: no limit
    "gpt2": (512, False, "CAUSAL_LM", "AutoModelForCausalLM"),
    "llama": (512, False, "CAUSAL_LM", "AutoModelForCausalLM"),
}


@pytest.mark.parametrize("family", list(FAMILY_ANSWERS))
def test_every_family_answers_its_questions(family):
    from neurokit.models import ADAPTERS, adapter_for
    from neurokit.models.random import random_config

    positions, overflows, peft_task_type, auto_name = FAMILY_ANSWERS[family]
    adapter = adapter_for(family)
    assert adapter.max_positions(random_config(family)) == positions
    assert adapter.float16_overflows is overflows
    assert adapter.peft_task_type == peft_task_type
    assert adapter.auto_class(want_head=True).__name__ == auto_name
    expected_bare = "AutoModel" if adapter.uses_mask_slot else auto_name  # only MLM heads are optional
    assert adapter.auto_class(want_head=False).__name__ == expected_bare
    assert {a.family.value for a in ADAPTERS} == set(FAMILY_ANSWERS)  # a new family needs a row here


def test_roberta_limit_follows_the_padding_index():
    from neurokit.models import adapter_for
    from neurokit.models.random import random_config

    config = random_config("roberta")
    config.pad_token_id = 3
    assert adapter_for("roberta").max_positions(config) == 514 - 4
    assert adapter_for("bert").max_positions(config) == 514  # BERT counts from 0 whatever its padding


def test_default_device_takes_the_request_else_the_rank_s_gpu(monkeypatch):
    from neurokit.models.backbone import default_device

    assert default_device("cpu") == "cpu" and default_device("cuda:3") == "cuda:3"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert default_device() == "cuda"
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert default_device() == "cuda:2"
