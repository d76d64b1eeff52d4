"""Prompt initialisations, checkpoints and interop with PEFT and google-research prompts."""

import json

import numpy as np
import pytest
import torch

from neurokit.errors import ConfigError, NeurokitError
from neurokit.models import PromptLayout
from neurokit.models.random import RandomArchitecture, random_backbone
from neurokit.prompts import (
    PromptCheckpoint,
    PromptInit,
    PromptMetadata,
    SoftPrompt,
    export_peft,
    frequent_token_ids,
    import_npy,
    import_peft,
)


@pytest.fixture(scope="module")
def bert():
    return random_backbone("bert")


def test_mlm_prompts_keep_the_frozen_mask_slot_at_position_zero(bert):
    prompt = SoftPrompt.initialise(bert, 6, PromptInit.NORMAL, seed=1)
    full = prompt()
    assert full.shape == (6, bert.embedding_dim) and prompt.vectors.shape[0] == 5
    torch.testing.assert_close(full[0], bert.mask_slot_embedding())
    assert prompt.position_roles() == ["mask"] + [f"prompt_{k}" for k in range(5)]
    assert [name for name, p in prompt.named_parameters()] == ["vectors"]


def test_decoder_prompts_have_no_mask_slot():
    gpt2 = random_backbone("gpt2")
    prompt = SoftPrompt.initialise(gpt2, 4, PromptInit.UNIFORM, seed=0)
    assert not prompt.has_mask_slot and prompt().shape == (4, gpt2.embedding_dim)


def test_uniform_and_normal_inits_follow_their_distributions(bert):
    uniform = SoftPrompt.initialise(bert, 2001, PromptInit.UNIFORM, seed=0).vectors.detach()
    assert float(uniform.min()) >= -0.5 and float(uniform.max()) <= 0.5
    assert abs(float(uniform.mean())) < 0.01 and abs(float(uniform.var()) - 1 / 12) < 0.005
    normal = SoftPrompt.initialise(bert, 2001, PromptInit.NORMAL, seed=0).vectors.detach()
    assert abs(float(normal.std()) - 0.03) < 0.001


def test_inits_are_reproducible_from_the_seed(bert):
    for init in (PromptInit.UNIFORM, PromptInit.NORMAL, PromptInit.VOCAB):
        a = SoftPrompt.initialise(bert, 8, init, seed=3).vectors
        b = SoftPrompt.initialise(bert, 8, init, seed=3).vectors
        c = SoftPrompt.initialise(bert, 8, init, seed=4).vectors
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_vocab_init_samples_embeddings_of_frequent_whole_words(embedded_backbone):
    pool = frequent_token_ids(embedded_backbone)
    assert len(pool) == 5000
    first = embedded_backbone.tokenizer.convert_ids_to_tokens(pool[:5].tolist())
    assert first == ["the", "of", "and", "in", "to"]  # BERT's WordPiece order follows corpus frequency
    prompt = SoftPrompt.initialise(embedded_backbone, 20, PromptInit.VOCAB, seed=0)
    embedding = embedded_backbone.model.get_input_embeddings().weight
    for vector in prompt.vectors:
        matches = (embedding[pool] == vector).all(dim=1)
        assert bool(matches.any())


def test_label_init_averages_multi_token_labels_then_fills_from_vocabulary(embedded_backbone):
    words = ("negative", "unenthusiastic")  # the second splits into several WordPiece tokens
    ids = [embedded_backbone.label_token_ids(w) for w in words]
    assert len(ids[1]) > 1
    prompt = SoftPrompt.initialise(embedded_backbone, 10, PromptInit.LABELS, seed=0, label_words=words)
    embedding = embedded_backbone.model.get_input_embeddings().weight
    for k, token_ids in enumerate(ids):
        torch.testing.assert_close(prompt.vectors[k], embedding[list(token_ids)].mean(dim=0))
    pool = embedding[frequent_token_ids(embedded_backbone)]
    for vector in prompt.vectors[2:]:
        assert bool((pool == vector).all(dim=1).any())


def test_text_init_repeats_the_text_tokens(embedded_backbone):
    prompt = SoftPrompt.initialise(embedded_backbone, 8, PromptInit.TEXT, text="classify the review")
    ids = embedded_backbone.tokenizer.encode("classify the review", add_special_tokens=False)
    embedding = embedded_backbone.model.get_input_embeddings().weight
    expected = embedding[torch.tensor(ids).repeat(3)[:7]]
    torch.testing.assert_close(prompt.vectors, expected)


def test_bad_init_settings_are_config_errors(bert):
    with pytest.raises(ConfigError):
        SoftPrompt.initialise(bert, 1, PromptInit.NORMAL)  # only the mask slot would be left
    with pytest.raises(ConfigError):
        SoftPrompt.initialise(bert, 5, PromptInit.LABELS)
    with pytest.raises(ConfigError):
        SoftPrompt.initialise(bert, 5, PromptInit.TEXT, text="")


def test_checkpoint_round_trip_and_refusal_for_other_weights(bert, tmp_path):
    prompt = SoftPrompt.initialise(bert, 5, PromptInit.NORMAL, seed=2)
    prompt.save_pretrained(tmp_path, PromptMetadata(weights_sha256=bert.weights_sha256, model_id=bert.model_id))
    checkpoint = PromptCheckpoint.from_pretrained(tmp_path)
    assert json.loads((tmp_path / "prompt.json").read_text())["prompt_length"] == 5
    assert torch.equal(checkpoint.soft_prompt(bert)(), prompt())
    other = random_backbone("bert", seed=1)
    with pytest.raises(NeurokitError, match="was trained on"):
        checkpoint.soft_prompt(other)
    assert torch.equal(checkpoint.soft_prompt(other, allow_other_model=True).vectors, prompt.vectors)
    with pytest.raises(NeurokitError, match="no prompt checkpoint"):
        PromptCheckpoint.from_pretrained(tmp_path / "missing")


def test_a_prompt_of_another_width_is_refused(bert, tmp_path):
    np.save(tmp_path / "wide.npy", np.zeros((4, bert.embedding_dim + 8), dtype=np.float32))
    with pytest.raises(ConfigError, match="does not fit"):
        import_npy(tmp_path / "wide.npy", bert)


def test_google_npy_prompts_import_without_pickle(bert, tmp_path):
    vectors = np.random.default_rng(0).normal(size=(4, bert.embedding_dim)).astype(np.float32)
    np.save(tmp_path / "prompt.npy", vectors)
    prompt = import_npy(tmp_path / "prompt.npy", bert)
    assert prompt.length == 5  # the mask slot is put in front on MLM backbones
    assert np.array_equal(prompt.vectors.detach().numpy(), vectors)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(NeurokitError, match="cannot read prompt"):
        import_npy(tmp_path / "objects.npy", bert)


def _peft_scores(peft_model, backbone, inputs, prompt_length, verbalizer):
    """Class scores read from a real PEFT model the way neurokit reads them."""
    label_ids = [ids[0] for ids in verbalizer.token_ids]
    family = backbone.adapter.family.value
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    if family in ("bert", "roberta"):
        return peft_model(input_ids=ids, attention_mask=mask).logits[:, 0, label_ids]
    if family == "t5":
        start = torch.full((ids.shape[0], 1), backbone.model.config.decoder_start_token_id)
        return peft_model(input_ids=ids, attention_mask=mask, decoder_input_ids=start).logits[:, 0, label_ids]
    logits = peft_model(input_ids=ids, attention_mask=mask).logits
    last = prompt_length + mask.sum(dim=1) - 1
    return logits[torch.arange(ids.shape[0]), last][:, label_ids]


@pytest.mark.parametrize("architecture", list(RandomArchitecture), ids=[a.value for a in RandomArchitecture])
def test_peft_round_trip_gives_the_same_logits_in_the_real_peft(architecture, tmp_path):
    peft = pytest.importorskip("peft")
    backbone = random_backbone(architecture)
    prompt = SoftPrompt.initialise(backbone, 6, PromptInit.UNIFORM, seed=5, layout="prepend")  # PEFT's layout
    export_peft(prompt, backbone, tmp_path)
    inputs = backbone.tokenize(["a great film", "the plot was a dull mess"], 16)
    verbalizer = backbone.verbalizer(["negative", "positive"])
    ours = backbone.class_scores(prompt(), **inputs, verbalizer=verbalizer, layout=prompt.layout)

    peft_model = peft.PeftModel.from_pretrained(backbone.model, str(tmp_path))
    peft_model.eval()
    with torch.no_grad():
        theirs = _peft_scores(peft_model, backbone, inputs, prompt.length, verbalizer)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)

    back = import_peft(tmp_path, backbone)
    assert torch.equal(back(), prompt())
    assert back.layout is PromptLayout.PREPEND


def test_importing_a_non_prompt_adapter_is_refused(bert, tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(NeurokitError, match="not PROMPT_TUNING"):
        import_peft(tmp_path, bert)
