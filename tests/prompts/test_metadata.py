"""PromptMetadata (prompt.json) round trips and PromptCheckpoint.check_compatible refusals."""

import json

import pytest
import torch

from neurokit.errors import ConfigError, NeurokitError
from neurokit.models import PromptLayout
from neurokit.models.random import random_backbone
from neurokit.prompts import PromptCheckpoint, PromptMetadata, SoftPrompt


@pytest.fixture(scope="module")
def bert():
    return random_backbone("bert")


@pytest.fixture(scope="module")
def gpt2():
    return random_backbone("gpt2")


#: A prompt.json as the trainer wrote it before metadata was typed, with explicit nulls and a key neurokit
#: does not know (a hand-edited file).
OLD_FILE = {
    "model_id": "random-bert-tiny", "model_source": None, "revision": None, "weights_sha256": "ab" * 32,
    "family": "bert", "task": "movies", "task_type": "sentiment", "template": "{text}",
    "label_names": ["negative", "positive"],
    "verbalizer": {"label_words": ["bad", "good"], "token_ids": [[2919], [2204]], "scoring": "mlm-head"},
    "init": "normal", "seed": 3, "dev_accuracy": 0, "best_step": 0, "config": {"prompt_length": 4},
    "versions": {"torch": "2.5"}, "started_at": "2026-01-01T00:00:00Z", "saved_at": "2026-01-01T00:00:01Z",
    "prompt_length": 4, "embedding_dim": 32, "mask_slot": True, "note": {"by": "hand"},
}


def test_a_recorded_prompt_json_round_trips_exactly():
    """Stores keep prompt.json's dict in their provenance (and run identity): it must come back unchanged."""
    metadata = PromptMetadata.from_dict(OLD_FILE)
    assert metadata.to_dict() == OLD_FILE
    assert json.dumps(metadata.to_dict(), sort_keys=True) == json.dumps(OLD_FILE, sort_keys=True)
    assert metadata.label_names == ("negative", "positive") and metadata.label_words == ("bad", "good")
    assert metadata.scoring == "mlm-head" and metadata.extra == {"note": {"by": "hand"}}
    assert metadata.layout is None and metadata.prompt_layout is PromptLayout.PREPEND  # before layouts


def test_changes_are_written_and_recorded_nulls_kept():
    changed = PromptMetadata.from_dict(OLD_FILE).replace(model_source="/models/pruned", task=None)
    data = changed.to_dict()
    assert data["model_source"] == "/models/pruned" and data["revision"] is None and data["task"] is None
    fresh = PromptMetadata(model_id="m", seed=1).to_dict()
    assert fresh == {"model_id": "m", "seed": 1}  # unset fields are not written


@pytest.mark.parametrize("data, message", [
    ({}, "lacks model_id, mask_slot"),
    ({"model_id": "m"}, "lacks mask_slot"),
    ([], "must hold a JSON object, got list"),
    ({"model_id": "m", "mask_slot": "yes"}, "mask_slot must be true or false"),
    ({"model_id": 7, "mask_slot": True}, "model_id must be a non-empty string"),
    ({"model_id": "m", "mask_slot": True, "seed": "3"}, "seed must be an integer"),
    ({"model_id": "m", "mask_slot": True, "verbalizer": ["good"]}, "verbalizer must be a JSON object"),
    ({"model_id": "m", "mask_slot": True, "layout": "sideways"}, "unknown layout 'sideways'"),
])
def test_from_dict_refuses_in_one_line(data, message):
    with pytest.raises(NeurokitError, match=message) as error:
        PromptMetadata.from_dict(data, "x/prompt.json")
    assert str(error.value).startswith("x/prompt.json") and "\n" not in str(error.value)


def test_save_pretrained_and_from_pretrained_keep_the_format(bert, tmp_path):
    prompt = SoftPrompt.initialise(bert, 4, "normal", seed=1)
    folder = prompt.save_pretrained(tmp_path / "p", PromptMetadata(model_id=bert.model_id, task="movies"))
    assert sorted(path.name for path in folder.iterdir()) == ["prompt.json", "prompt.safetensors"]
    written = json.loads((folder / "prompt.json").read_text())
    assert written == {"model_id": bert.model_id, "task": "movies", "prompt_length": 4, "embedding_dim": 32,
                       "mask_slot": True, "layout": "prepend"}
    checkpoint = PromptCheckpoint.from_pretrained(folder)
    assert checkpoint.metadata.to_dict() == written and torch.equal(checkpoint.prompt, prompt())
    assert PromptCheckpoint.from_pretrained(f"file://{folder}").sha256 == checkpoint.sha256


def test_from_pretrained_reads_an_fsspec_url(bert, tmp_path):
    import fsspec

    folder = SoftPrompt.initialise(bert, 3, "normal").save_pretrained(tmp_path / "p",
                                                                      PromptMetadata(model_id=bert.model_id))
    memory = fsspec.filesystem("memory")
    for name in ("prompt.json", "prompt.safetensors"):
        memory.pipe(f"/neurokit-test/p/{name}", (folder / name).read_bytes())
    remote = PromptCheckpoint.from_pretrained("memory://neurokit-test/p")
    local = PromptCheckpoint.from_pretrained(folder)
    assert remote.sha256 == local.sha256 and torch.equal(remote.prompt, local.prompt)
    assert remote.path == "memory://neurokit-test/p"


def _checkpoint(backbone, folder, **metadata):
    prompt = SoftPrompt.initialise(backbone, 3, "normal")
    return PromptCheckpoint.from_pretrained(prompt.save_pretrained(folder, PromptMetadata(**metadata)))


def test_check_compatible_refusals(bert, gpt2, tmp_path):
    other_bert = random_backbone("bert", seed=1)  # same architecture and width, other weights
    own = _checkpoint(bert, tmp_path / "own", model_id=bert.model_id, weights_sha256=bert.weights_sha256,
                      model_source="/models/bert")
    own.check_compatible(bert)
    with pytest.raises(NeurokitError, match=r"was trained on .* \(weights .*load that model \(--model /models/bert"):
        own.check_compatible(other_bert)
    own.check_compatible(other_bert, allow_other_model=True)
    named = _checkpoint(bert, tmp_path / "named", model_id="some/other-model")  # no weights hash recorded
    with pytest.raises(NeurokitError, match="was trained on 'some/other-model', not on 'random-bert-tiny'"):
        named.check_compatible(bert)
    wide = PromptCheckpoint(torch.zeros(3, 48), own.metadata, own.sha256, own.path)
    with pytest.raises(ConfigError, match="of shape \\(3, 48\\) does not fit"):
        wide.check_compatible(bert, allow_other_model=True)
    # a GPT-2 prompt (no mask slot) has GPT-2's width here; only the mask slot tells the families apart
    decoder = _checkpoint(gpt2, tmp_path / "gpt2", model_id=bert.model_id)
    with pytest.raises(NeurokitError, match="made for a backbone without a mask slot; .* is a bert model"):
        decoder.check_compatible(bert)
    with pytest.raises(NeurokitError, match="made for a backbone with a mask slot"):
        PromptCheckpoint(own.prompt, own.metadata, own.sha256, own.path).check_compatible(gpt2, True)
