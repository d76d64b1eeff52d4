import dask.array as da
import numpy as np
import pytest

from neurokit.errors import StoreError
from neurokit.extract import ActivationStoreWriter, open_run, open_runs
from tests.helpers.store_fixtures import fill_store, make_spec, synthetic_run


def test_incomplete_store_is_refused_unless_allowed(tmp_path):
    spec = make_spec()
    fill_store(tmp_path / "s.zarr", spec, finalize=False, shard=(0, 2))
    with pytest.raises(StoreError, match=r"incomplete \(2 of 3 blocks written\)"):
        open_run(tmp_path / "s.zarr")
    dataset = open_run(tmp_path / "s.zarr", allow_incomplete=True)
    assert np.isnan(dataset["activation"].values[4:8]).all()  # block 1 belongs to the missing shard
    assert (dataset["label"].values[4:8] == -1).all()


def test_missing_or_foreign_paths_are_store_errors(tmp_path):
    with pytest.raises(StoreError, match="no zarr v3 store"):
        open_run(tmp_path / "nothing.zarr")


@pytest.fixture
def prompt_runs(tmp_path):
    """Two prompts of the same task and split, a third store of another split with other examples."""
    paths = []
    for index, prompt in enumerate(("b", "c")):
        path = tmp_path / f"prompt-{prompt}.zarr"
        fill_store(path, make_spec(prompt_sha256=prompt * 64, prompt_metadata={"seed": index}), seed=index)
        paths.append(path)
    return paths


def test_open_runs_stacks_runs_lazily(prompt_runs):
    combined = open_runs(prompt_runs)
    assert combined["activation"].dims == ("run", "example", "layer", "position", "neuron")
    assert isinstance(combined["activation"].data, da.Array)
    assert combined.sizes["run"] == 2
    assert list(combined["prompt_sha256"].values) == ["b" * 64, "c" * 64]
    assert list(combined["store"].values) == [str(path) for path in prompt_runs]
    assert "prompt_sha256" not in combined.attrs and combined.attrs["model_id"] == "test/tiny-roberta"
    assert "split" not in combined.coords and combined.attrs["split"] == "dev"
    first = open_run(prompt_runs[0])
    np.testing.assert_array_equal(combined["activation"].isel(run=0).values, first["activation"].values)
    np.testing.assert_array_equal(combined["site"].values, first["site"].values)


def test_open_runs_refuses_other_models_and_layouts(prompt_runs, tmp_path):
    other_model = tmp_path / "other-model.zarr"
    fill_store(other_model, make_spec(model_id="test/other"))
    with pytest.raises(StoreError, match="different models: model_id"):
        open_runs([prompt_runs[0], other_model])
    other_neurons = tmp_path / "other-neurons.zarr"
    fill_store(other_neurons, make_spec(n_neurons=6))
    with pytest.raises(StoreError, match="neuron coordinates differ"):
        open_runs([prompt_runs[0], other_neurons])


@pytest.mark.slow
def test_open_runs_aligns_different_examples_only_when_asked(prompt_runs, tmp_path):
    test_split = tmp_path / "test-split.zarr"
    fill_store(test_split, make_spec(n_examples=6, split="test"))
    with pytest.raises(StoreError, match="different examples; pass join="):
        open_runs([prompt_runs[0], test_split])
    inner = open_runs([prompt_runs[0], test_split], join="inner")
    assert inner.sizes["example"] == 6 and list(inner["split"].values) == ["dev", "test"]
    outer = open_runs([prompt_runs[0], test_split], join="outer")
    assert outer.sizes["example"] == 10
    assert np.isnan(outer["label"].sel(run=1).values[6:]).all()


def test_bfloat16_reads_as_float32(tmp_path):
    spec = make_spec(stored_dtype="bfloat16", n_examples=4)
    run = synthetic_run(spec)
    with ActivationStoreWriter.create_or_resume(tmp_path / "s.zarr", spec) as writer:
        writer.write_block(0, run["activation"], label=run["label"], prediction=run["prediction"],
                           logits=run["logits"], input_length=run["input_length"])
        writer.finalize()
    activation = open_run(tmp_path / "s.zarr")["activation"]
    assert activation.dtype == np.float32 and isinstance(activation.data, da.Array)
    np.testing.assert_allclose(activation.values, run["activation"], rtol=2**-8)
