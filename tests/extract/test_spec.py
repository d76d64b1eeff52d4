import json

import pytest

from neurokit.errors import ConfigError
from neurokit.extract import StoredDtype, StoreSpec
from tests.helpers.store_fixtures import make_provenance, make_spec


def test_spec_normalises_and_derives_sizes():
    spec = make_spec(n_examples=10, block_size=4)
    assert isinstance(spec.example_ids, tuple) and spec.stored_dtype is StoredDtype.FLOAT16
    assert spec.n_blocks == 3
    assert spec.block_slice(2) == slice(8, 10)
    assert spec.activation_shape == (10, 3, 4, 8)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(example_ids=["a", "b", "a"]), "repeated"),
        (dict(position_roles=["mask", "prompt_x"]), "unknown position roles"),
        (dict(layers=[0, 1]), "one layer per site"),
        (dict(layers=[0, 0, 1]), "unique"),
        (dict(stored_dtype="int8"), "stored_dtype"),
        (dict(n_neurons=0), "positive integer"),
        (dict(block_size=True), "positive integer"),
        (dict(store_raw_activations=False), "nothing to store"),
    ],
)
def test_spec_rejects_bad_settings(change, message):
    fields = {name: getattr(make_spec(), name) for name in StoreSpec.__dataclass_fields__}
    fields.update(change)
    with pytest.raises(ConfigError, match=message):
        StoreSpec(**fields)


def test_provenance_must_be_json_serialisable():
    with pytest.raises(ConfigError, match="model_config"):
        make_provenance(model_config={"bad": object()})
    with pytest.raises(ConfigError, match="model_id"):
        make_provenance(model_id="")


def test_provenance_attrs_are_json():
    attrs = make_provenance().to_attrs()
    json.dumps(attrs)
    assert json.loads(attrs["task"]) == {"name": "sst2", "labels": ["negative", "positive"]}


def test_fingerprint_covers_the_run_but_not_the_process():
    base = make_spec().fingerprint()
    assert make_spec().fingerprint() == base
    assert make_spec(command="other command", versions={"torch": "9"}).fingerprint() == base
    assert make_spec(prompt_sha256="c" * 64).fingerprint() != base
    assert make_spec(split="test").fingerprint() != base
    assert make_spec(stored_dtype="float32").fingerprint() != base
    assert make_spec(block_size=5).fingerprint() != base
    assert make_spec(n_examples=11).fingerprint() != base
