"""The extraction driver against an independent hooked forward pass, for every supported family.

Each test extracts a small split in blocks of 8 with forward batches of 5 (so batches end inside blocks and
the last batch of each block is short) and compares the store with a reference built here by hand: the prompt
concatenated with the token embeddings, plain forward pre-hooks on the FFN output projections, positions
chosen with numpy.
"""

import errno
import json
import warnings

import numpy as np
import pytest
import torch
import xarray as xr
import zarr

from neurokit.errors import ConfigError, NeurokitError, StoreError
from neurokit.extract import (
    ExtractionConfig,
    PositionSelection,
    check_store,
    extract_run,
    open_run,
)
from neurokit.extract.spec import stored_dtype_policy
from neurokit.extract.writer import ActivationStoreWriter
from neurokit.models import adapter_for
from neurokit.models.random import random_backbone
from neurokit.prompts import PromptCheckpoint
from neurokit.tasks import get_task, load_split
from tests.helpers.extraction_fixtures import (
    FAMILY_OF,
    TASK,
    batches,
    full_prompt,
    hooked_forward,
    make_checkpoint,
    projection_modules,
    select_positions,
)

N_EXAMPLES = 24
CONFIG = dict(batch_size=5, block_size=8, max_length=16)
ARCHITECTURES = ["bert", "roberta", "t5", "t5-gated", "gpt2", "llama", "embedded"]


@pytest.fixture(scope="module")
def backbones(embedded_backbone):
    cache = {"embedded": embedded_backbone}

    def get(architecture):
        if architecture not in cache:
            cache[architecture] = random_backbone(architecture)
        return cache[architecture]

    return get


def _positions(family: str) -> list[str]:
    common = ["prompt", "input_mean", "input_max"]
    if family in ("gpt2", "llama"):  # last_token is for decoder stacks
        common.append("last_token")
    return ["mask", *common] if family in ("bert", "roberta") else common


def _first_site_calls(backbone, family: str, stack: str = "encoder"):
    """A counter of the forward passes through the first FFN site, and the hook's handle."""
    calls = [0]
    module = projection_modules(backbone.model, family, stack)[0]
    handle = module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls, handle


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_stored_values_equal_an_independent_hooked_forward_pass(architecture, backbones, tmp_path):
    backbone = backbones(architecture)
    family = FAMILY_OF[architecture]
    checkpoint = PromptCheckpoint.from_pretrained(make_checkpoint(backbone, tmp_path / "prompt", length=4, seed=3))
    config = ExtractionConfig(positions=_positions(family), **CONFIG)
    calls, handle = _first_site_calls(backbone, family)
    try:
        path = extract_run(backbone, checkpoint, TASK, "dev", tmp_path / "dev.zarr", config, size=N_EXAMPLES,
                           progress=False)
    finally:
        handle.remove()
    n_batches = len(list(batches(N_EXAMPLES, CONFIG["block_size"], CONFIG["batch_size"])))
    assert calls[0] == n_batches  # one forward pass per batch: the scores come from the same pass
    assert check_store(path) == []
    ds = open_run(path).load()
    assert ds.activation.dtype == np.float32  # the default for every family: the reference's precision

    task = get_task(TASK)
    dev = load_split(task, "dev", size=N_EXAMPLES)
    texts = [task.render(example) for example in dev]
    assert list(ds.example.values) == list(dev["id"])
    np.testing.assert_array_equal(ds.label.values, dev["label"])
    prompt = full_prompt(backbone, checkpoint.prompt, family)
    mlm = family in ("bert", "roberta")  # position 0 is the mask slot, the other three are soft vectors
    prompt_roles = ["mask", "prompt_0", "prompt_1", "prompt_2"] if mlm else [f"prompt_{k}" for k in range(4)]
    roles = list(ds.position_role.values)
    assert roles == [*prompt_roles, *_positions(family)[1 + mlm:]]
    verbalizer = backbone.verbalizer(task.label_words)
    layout = checkpoint.layout.value  # the family's default: append on gpt2/llama, prepend elsewhere
    assert ds.attrs["prompt_layout"] == layout == ("append" if family in ("gpt2", "llama") else "prepend")
    tolerance = dict(rtol=1e-4, atol=1e-5)
    for index, text in enumerate(texts):  # each example alone, unpadded
        neurons, mask = hooked_forward(backbone, prompt, [text], family, CONFIG["max_length"], layout=layout)
        expected = np.stack([select_positions(layer, mask, roles, prompt_roles, layout=layout)[0]
                             for layer in neurons])
        np.testing.assert_allclose(ds.activation.values[index].astype(np.float32), expected, **tolerance,
                                   err_msg=f"example {index}")
        assert ds.input_length.values[index] == mask.sum()
        encoded = backbone.tokenizer([text], truncation=True, max_length=CONFIG["max_length"], return_tensors="pt")
        with torch.no_grad():
            scores = backbone.class_scores(prompt, encoded["input_ids"], encoded["attention_mask"], verbalizer,
                                           layout)
        np.testing.assert_allclose(ds.logits.values[index], scores[0].numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ds.prediction.values, ds.logits.values.argmax(axis=1))
    assert json.loads(ds.attrs["verbalizer"]) == verbalizer.describe()
    assert ds.attrs["prompt_sha256"] == checkpoint.sha256
    assert ds.attrs["weights_sha256"] == backbone.weights_sha256


@pytest.mark.slow
def test_t5_decoder_stack_stores_the_first_decoder_step(backbones, tmp_path):
    backbone = backbones("t5")
    checkpoint = PromptCheckpoint.from_pretrained(make_checkpoint(backbone, tmp_path / "prompt", length=3))
    config = ExtractionConfig(positions=["last_token"], stack="decoder", layers=[1], **CONFIG)
    path = extract_run(backbone, checkpoint, TASK, "dev", tmp_path / "dec.zarr", config, size=10, progress=False)
    ds = open_run(path).load()
    assert list(ds.site.values) == ["decoder.layer.1.ffn"] and list(ds.layer.values) == [1]
    task = get_task(TASK)
    texts = [task.render(example) for example in load_split(task, "dev", size=10)]
    neurons, mask = hooked_forward(backbone, checkpoint.prompt, texts, "t5", CONFIG["max_length"], stack="decoder")
    expected = select_positions(neurons[1], mask, ["last_token"], [], decoder=True)
    np.testing.assert_allclose(ds.activation.values[:, 0], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_t5_bfloat16_bits_are_exactly_the_forward_values(backbones, tmp_path):
    backbone = backbones("t5-gated")
    checkpoint = PromptCheckpoint.from_pretrained(make_checkpoint(backbone, tmp_path / "prompt", length=3, seed=5))
    config = ExtractionConfig(positions=["prompt", "input_max", "input_mean"], dtype="bfloat16",
                              **CONFIG)
    path = extract_run(backbone, checkpoint, TASK, "dev", tmp_path / "bf16.zarr", config, size=N_EXAMPLES,
                       progress=False)
    raw = xr.open_zarr(path)["activation"]
    assert raw.dtype == np.uint16 and raw.attrs["neurokit_true_dtype"] == "bfloat16"
    bits = raw.values
    task = get_task(TASK)
    texts = [task.render(example) for example in load_split(task, "dev", size=N_EXAMPLES)]
    roles = ["prompt_0", "prompt_1", "prompt_2", "input_max", "input_mean"]
    for start, stop in batches(N_EXAMPLES, CONFIG["block_size"], CONFIG["batch_size"]):  # the same batches
        neurons, mask = hooked_forward(backbone, checkpoint.prompt, texts[start:stop], "t5", CONFIG["max_length"])
        expected = np.stack([select_positions(layer, mask, roles, roles[:3]) for layer in neurons], axis=1)
        expected_bits = torch.from_numpy(expected.astype(np.float32)).to(torch.bfloat16).view(torch.int16)
        expected_bits = expected_bits.numpy().view(np.uint16)
        # Prompt positions and max are exact float32 values rounded once: identical bits.
        np.testing.assert_array_equal(bits[start:stop, :, :4], expected_bits[:, :, :4])
        # The mean's float32 sum order differs from numpy's float64: at most one bfloat16 step apart.
        steps = np.abs(bits[start:stop, :, 4].astype(np.int32) - expected_bits[:, :, 4].astype(np.int32))
        assert steps.max() <= 1
    decoded = open_run(path).activation.values
    np.testing.assert_array_equal(decoded.view(np.uint32) >> 16, bits.astype(np.uint32))


@pytest.mark.slow
def test_a_train_store_holds_statistics_of_the_stored_values_and_plain_xarray_reads_it(backbones, tmp_path):
    backbone = backbones("bert")
    checkpoint = make_checkpoint(backbone, tmp_path / "prompt", length=3)
    config = ExtractionConfig(positions=["prompt", "input_mean"], store_train_activations=True, **CONFIG)
    raw = extract_run(backbone, checkpoint, TASK, "train", tmp_path / "raw.zarr", config, size=20, progress=False)
    lean = extract_run(backbone, checkpoint, TASK, "train", tmp_path / "lean.zarr",
                       ExtractionConfig(positions=["prompt", "input_mean"], **CONFIG), size=20, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_zarr(raw)  # plain xarray, no neurokit
        lean_ds = xr.open_zarr(lean)
    assert set(ds.dims) == {"example", "layer", "position", "neuron", "class"}
    assert {"example", "layer", "site", "position", "position_role", "neuron", "class"} <= set(ds.coords)
    assert set(ds.data_vars) == {"activation", "label", "prediction", "logits", "input_length", "train_count",
                                 "train_sum", "train_sumsq"}
    assert "activation" not in lean_ds.data_vars  # by default a train store keeps only statistics
    assert list(ds.position_role.values) == ["mask", "prompt_0", "prompt_1", "input_mean"]
    assert list(ds.site.values) == ["encoder.layer.0.ffn", "encoder.layer.1.ffn"]
    for name in ("model_id", "model_revision", "weights_sha256", "prompt_sha256", "split", "dtype_policy",
                 "command", "started_at", "finished_at"):
        assert ds.attrs[name], name
    assert json.loads(ds.attrs["task"])["name"] == TASK and json.loads(ds.attrs["task"])["max_length"] == 16
    assert json.loads(ds.attrs["prompt_metadata"])["seed"] == 0
    assert json.loads(ds.attrs["model_config"])["model_type"] == "bert"
    assert ds.attrs["complete"] is True and ds.attrs["split"] == "train"
    labels = ds.label.values
    values = ds.activation.values.astype(np.float64)
    for klass in (0, 1):
        np.testing.assert_allclose(ds.train_sum.values[klass], values[labels == klass].sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(ds.train_sumsq.values[klass], (values[labels == klass] ** 2).sum(axis=0),
                                   rtol=1e-12)
        assert ds.train_count.values[klass] == (labels == klass).sum()
    for name in ("train_sum", "train_sumsq", "train_count", "label", "logits"):
        np.testing.assert_array_equal(lean_ds[name].values, ds[name].values)


def test_defaults_follow_the_papers_and_the_dtype_policy():
    assert ExtractionConfig().positions == (PositionSelection.PROMPT,)
    assert stored_dtype_policy(adapter_for("roberta"), None)[0].value == "float32"
    assert stored_dtype_policy(adapter_for("bert"), "float16")[0].value == "float16"
    assert stored_dtype_policy(adapter_for("t5"), None)[0].value == "float32"
    assert stored_dtype_policy(adapter_for("llama"), None)[0].value == "float32"
    assert stored_dtype_policy(adapter_for("gpt2"), "float16")[0].value == "float16"
    with pytest.raises(ConfigError, match="never stored as float16"):
        stored_dtype_policy(adapter_for("t5"), "float16")
    for bad in (dict(positions=["prompt", "prompt"]), dict(positions=["everything"]), dict(positions=[]),
                dict(batch_size=0), dict(block_size=-1), dict(dtype="int8"), dict(stack="middle"),
                dict(layers=["encoder.layer.x.ffn"]), dict(layers=[]), dict(layers=[True])):
        with pytest.raises(NeurokitError) as error:
            ExtractionConfig(**bad)
        assert "\n" not in str(error.value)


@pytest.mark.slow
def test_layer_selection_by_index_and_site_name(backbones, tmp_path):
    backbone = backbones("gpt2")
    checkpoint = make_checkpoint(backbone, tmp_path / "prompt", length=2)
    config = ExtractionConfig(layers=["decoder.layer.1.ffn", 0], positions=["last_token"], **CONFIG)
    ds = open_run(extract_run(backbone, checkpoint, TASK, "dev", tmp_path / "s.zarr", config, size=6,
                              progress=False))
    assert list(ds.layer.values) == [0, 1] and list(ds.site.values) == ["decoder.layer.0.ffn", "decoder.layer.1.ffn"]
    with pytest.raises(NeurokitError, match="out of range"):
        extract_run(backbone, checkpoint, TASK, "dev", tmp_path / "t.zarr", ExtractionConfig(layers=[2]), size=6)
    with pytest.raises(NeurokitError, match="mask slot"):
        extract_run(backbone, checkpoint, TASK, "dev", tmp_path / "t.zarr", ExtractionConfig(positions=["mask"]))
    assert not (tmp_path / "t.zarr").exists()


def _fail_on_second_block(monkeypatch):
    """Make the writer thread hit a full disk when it writes the second block it is given."""
    original = ActivationStoreWriter._write
    seen = []

    def write(self, block):
        seen.append(block.index)
        if len(seen) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(self, block)

    monkeypatch.setattr(ActivationStoreWriter, "_write", write)


@pytest.mark.slow
def test_a_full_disk_removes_a_new_store_but_keeps_a_resumed_one(backbones, tmp_path, monkeypatch):
    backbone = backbones("bert")
    checkpoint = make_checkpoint(backbone, tmp_path / "prompt", length=3)
    config = ExtractionConfig(**{**CONFIG, "block_size": 4})  # six blocks: three per shard of two
    new = tmp_path / "deep" / "er" / "new.zarr"
    with monkeypatch.context() as patch:
        _fail_on_second_block(patch)
        with pytest.raises(StoreError) as error:
            extract_run(backbone, checkpoint, TASK, "dev", new, config, size=N_EXAMPLES, progress=False)
    assert "No space left on device" in str(error.value) and "removed" in str(error.value)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "deep").exists()  # neither the store nor the folders made for it are left

    resumed = tmp_path / "resumed.zarr"
    extract_run(backbone, checkpoint, TASK, "dev", resumed, config, size=N_EXAMPLES, shard=(0, 2), progress=False)
    with monkeypatch.context() as patch:
        _fail_on_second_block(patch)
        with pytest.raises(StoreError, match="kept and can be resumed"):
            extract_run(backbone, checkpoint, TASK, "dev", resumed, config, size=N_EXAMPLES, shard=(1, 2),
                        progress=False)
    assert resumed.exists()
    extract_run(backbone, checkpoint, TASK, "dev", resumed, config, size=N_EXAMPLES, shard=(1, 2), progress=False)
    assert zarr.open_group(resumed, mode="r").attrs["complete"] is True
    assert check_store(resumed) == []
    single = extract_run(backbone, checkpoint, TASK, "dev", tmp_path / "single.zarr", config, size=N_EXAMPLES,
                         progress=False)
    np.testing.assert_array_equal(open_run(resumed).activation.values, open_run(single).activation.values)

