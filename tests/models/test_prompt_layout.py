"""Where the soft prompt goes (PromptLayout) on tiny random GPT-2 and Llama, and that encoders keep prepending.

The references here are built by hand from the Hugging Face models: each example alone, unpadded, with the
prompt embeddings concatenated before or after its token embeddings; nothing of neurokit's layout code is used.
"""

import json

import pytest
import torch
import torch.nn.functional as F

from neurokit.errors import NeurokitError
from neurokit.models import PromptLayout, capture_activations
from neurokit.models.random import random_backbone
from neurokit.prompts import (
    EncodedSplit,
    PromptCheckpoint,
    PromptMetadata,
    PromptTrainer,
    PromptTuningConfig,
    SoftPrompt,
    evaluate,
    export_peft,
    import_npy,
)
from neurokit.tasks import get_task, load_split

DECODERS = ["gpt2", "llama"]
TEXTS = ["a truly great film .", "awful", "the plot was dull and slow", "fine"]
LABEL_WORDS = ["negative", "positive"]


@pytest.fixture(scope="module", params=DECODERS)
def decoder(request):
    return random_backbone(request.param)


def _prompt(backbone, length=3, seed=0):
    return torch.randn(length, backbone.embedding_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def _alone(backbone, prompt, text, layout):
    """(class scores (C,), neurons per site (sequence, N)) of one unpadded example with the prompt before or
    after it, from a plain forward pass on hand-concatenated embeddings."""
    model = backbone.model
    ids = backbone.tokenizer([text], truncation=True, max_length=16, return_tensors="pt")["input_ids"]
    tokens = model.get_input_embeddings()(ids)
    pieces = [tokens, prompt[None]] if layout == "append" else [prompt[None], tokens]
    with capture_activations(model, backbone.sites()) as captured:
        logits = model(inputs_embeds=torch.cat(pieces, dim=1)).logits[0, -1]
    first_tokens = [ids_[0] for ids_ in backbone.verbalizer(LABEL_WORDS).token_ids]
    return logits[first_tokens], {name: values[0] for name, values in captured.items()}, ids.shape[1]


def test_decoder_only_families_append_by_default_and_encoders_only_prepend():
    assert random_backbone("gpt2").adapter.default_layout is PromptLayout.APPEND
    assert random_backbone("llama").adapter.default_layout is PromptLayout.APPEND
    for architecture in ("bert", "t5"):
        backbone = random_backbone(architecture)
        assert backbone.adapter.default_layout is PromptLayout.PREPEND
        with pytest.raises(NeurokitError, match="does not fit") as error:
            SoftPrompt.initialise(backbone, 3, layout="append")
        assert "\n" not in str(error.value)


def test_layout_geometry_on_a_right_padded_batch():
    """arrange, prompt_slice, input_mask and last_input_position agree on toy embeddings that name their token."""
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    tokens = torch.tensor([[1.0, 2.0, 3.0, -1.0], [4.0, -1.0, -1.0, -1.0]]).unsqueeze(-1)  # -1: padding
    prompt = torch.tensor([[10.0], [20.0]])
    appended, appended_mask = PromptLayout.APPEND.arrange(prompt, tokens, mask)
    assert appended[..., 0].tolist() == [[-1, 1, 2, 3, 10, 20], [-1, -1, -1, 4, 10, 20]]
    assert appended_mask.tolist() == [[0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1]]
    prepended, prepended_mask = PromptLayout.PREPEND.arrange(prompt, tokens, mask)
    assert prepended[..., 0].tolist() == [[10, 20, 1, 2, 3, -1], [10, 20, 4, -1, -1, -1]]
    assert prepended_mask.tolist() == [[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]]
    for layout, arranged in ((PromptLayout.APPEND, appended), (PromptLayout.PREPEND, prepended)):
        assert arranged[:, layout.prompt_slice(6, 2), 0].tolist() == [[10, 20], [10, 20]]
        inputs = layout.input_mask(mask, 2)
        assert [arranged[row, inputs[row], 0].tolist() for row in range(2)] == [[1, 2, 3], [4]]
        last = layout.last_input_position(mask, 2)
        assert arranged[torch.arange(2), last, 0].tolist() == [3, 4]
    with pytest.raises(NeurokitError, match="right-padded"):
        PromptLayout.APPEND.arrange(prompt, tokens, mask.flip(dims=(1,)))


def test_appended_prompt_scores_and_neurons_equal_each_example_alone(decoder):
    """Batched with padding (left-padded, position ids over real tokens) equals each example run alone."""
    prompt = _prompt(decoder)
    encoded = decoder.tokenize(TEXTS, 16)
    assert len(set(encoded["attention_mask"].sum(dim=1).tolist())) > 1  # the batch does need padding
    with torch.no_grad(), capture_activations(decoder.model, decoder.sites()) as captured:
        scores = decoder.class_scores(prompt, **encoded, verbalizer=decoder.verbalizer(LABEL_WORDS),
                                      layout="append")
    for row, text in enumerate(TEXTS):
        expected_scores, expected_neurons, length = _alone(decoder, prompt, text, "append")
        torch.testing.assert_close(scores[row], expected_scores, rtol=1e-5, atol=1e-5)
        for name, neurons in captured.items():  # input and prompt positions: the last length + P of the row
            torch.testing.assert_close(neurons[row, -(length + 3):], expected_neurons[name], rtol=1e-5, atol=1e-5)


def test_prompt_neurons_see_the_input_only_when_appended(decoder):
    """The bug this layout fixes: a prepended prompt's neurons are identical for every input in a causal model."""
    prompt = _prompt(decoder, seed=1)
    for layout, differ in (("append", True), ("prepend", False)):
        prompt_neurons = []
        for text in TEXTS:
            _, neurons, length = _alone(decoder, prompt, text, layout)
            positions = slice(length, length + 3) if layout == "append" else slice(0, 3)
            prompt_neurons.append(torch.stack([values[positions] for values in neurons.values()]))
        spread = torch.stack(prompt_neurons).std(dim=0)  # across inputs, per (site, position, neuron)
        if differ:
            assert float(spread.min()) > 0  # every neuron at every prompt position varies with the input
        else:
            assert float(spread.max()) == 0.0  # bit-identical for every input: nothing to predict from
        assert decoder.adapter.prompt_sees_input(PromptLayout(layout)) is differ
    with pytest.raises(NeurokitError, match="--prompt-layout append"):
        decoder.adapter.check_prompt_sees_input(PromptLayout.PREPEND, "store prompt positions")


def test_prepended_prompt_still_scores_at_the_last_input_token(decoder):
    prompt = _prompt(decoder, seed=2)
    encoded = decoder.tokenize(TEXTS, 16)
    with torch.no_grad():
        scores = decoder.class_scores(prompt, **encoded, verbalizer=decoder.verbalizer(LABEL_WORDS),
                                      layout="prepend")
    for row, text in enumerate(TEXTS):
        torch.testing.assert_close(scores[row], _alone(decoder, prompt, text, "prepend")[0], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("architecture", DECODERS)
def test_training_an_appended_prompt_on_a_tiny_decoder_reduces_the_loss(architecture):
    backbone = random_backbone(architecture)
    task = get_task("toy_sentiment_movies")
    train = load_split(task, "train", size=32)
    # Full-batch steps on the split whose loss is measured: training must lower it.
    config = PromptTuningConfig(prompt_length=4, learning_rate=0.01, max_steps=30, batch_size=32, eval_every=30,
                                max_length=24, seed=3)
    split = EncodedSplit(backbone, task, train, config.max_length)
    verbalizer = backbone.verbalizer(task.label_words)

    def loss(prompt):
        return float(F.cross_entropy(evaluate(backbone, prompt, verbalizer, split).logits, split.labels))

    start = SoftPrompt.initialise(backbone, 4, config.init, config.seed, task.label_words)
    assert start.layout is PromptLayout.APPEND
    trainer = PromptTrainer(backbone, task, config, progress=False).fit(train, load_split(task, "dev", size=8))
    assert trainer.prompt_.layout is PromptLayout.APPEND
    assert loss(trainer.prompt_) < loss(start)


def test_checkpoints_record_the_layout_and_old_ones_read_as_prepend(decoder, tmp_path):
    prompt = SoftPrompt.initialise(decoder, 3, "normal", seed=1)
    prompt.save_pretrained(tmp_path / "new", PromptMetadata(model_id=decoder.model_id))
    assert json.loads((tmp_path / "new" / "prompt.json").read_text())["layout"] == "append"
    loaded = PromptCheckpoint.from_pretrained(tmp_path / "new")
    assert loaded.layout is PromptLayout.APPEND and loaded.soft_prompt(decoder).layout is PromptLayout.APPEND

    old = tmp_path / "old"
    prompt.save_pretrained(old, PromptMetadata(model_id=decoder.model_id))
    metadata = json.loads((old / "prompt.json").read_text())
    del metadata["layout"]  # as written before layouts were recorded
    (old / "prompt.json").write_text(json.dumps(metadata))
    legacy = PromptCheckpoint.from_pretrained(old)
    assert legacy.layout is PromptLayout.PREPEND
    assert legacy.soft_prompt(decoder).layout is PromptLayout.PREPEND

    metadata["layout"] = "sideways"
    (old / "prompt.json").write_text(json.dumps(metadata))
    with pytest.raises(NeurokitError, match="unknown layout"):
        PromptCheckpoint.from_pretrained(old).soft_prompt(decoder)


def test_peft_export_refuses_an_appended_prompt_and_npy_import_takes_a_layout(decoder, tmp_path):
    import numpy as np

    prompt = SoftPrompt.initialise(decoder, 3, "normal", seed=1)
    with pytest.raises(NeurokitError, match="PEFT puts a prompt in front"):
        export_peft(prompt, decoder, tmp_path / "peft")
    assert not (tmp_path / "peft").exists()
    np.save(tmp_path / "prompt.npy", prompt().detach().numpy())
    assert import_npy(tmp_path / "prompt.npy", decoder).layout is PromptLayout.PREPEND  # google-research's
    assert import_npy(tmp_path / "prompt.npy", decoder, "append").layout is PromptLayout.APPEND


def test_cli_prompt_layout_is_recorded_and_a_wrong_one_is_a_one_line_error(tmp_path, capsys):
    from neurokit.cli import main

    backbone = random_backbone("gpt2")
    backbone.model.save_pretrained(tmp_path / "model")
    backbone.tokenizer.save_pretrained(tmp_path / "model")
    common = ["prompt", "init", "--model", str(tmp_path / "model"), "--task", "toy_sentiment_movies",
              "--prompt-length", "3", "--dev-size", "0"]
    assert main([*common, "--out", str(tmp_path / "default")]) == 0
    assert main([*common, "--prompt-layout", "prepend", "--out", str(tmp_path / "prepended")]) == 0
    assert PromptCheckpoint.from_pretrained(tmp_path / "default").layout is PromptLayout.APPEND
    assert PromptCheckpoint.from_pretrained(tmp_path / "prepended").layout is PromptLayout.PREPEND
    capsys.readouterr()

    bert = random_backbone("bert")
    bert.model.save_pretrained(tmp_path / "bert")
    bert.tokenizer.save_pretrained(tmp_path / "bert")
    code = main(["prompt", "init", "--model", str(tmp_path / "bert"), "--task", "toy_sentiment_movies",
                 "--prompt-length", "3", "--dev-size", "0", "--prompt-layout", "append", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err  # (model loading may show progress bars before the error)
    assert err.strip().splitlines()[-1] == "neurokit: error: prompt layout 'append' does not fit bert; use prepend"
    assert not (tmp_path / "b").exists()
