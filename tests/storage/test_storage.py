"""neurokit.storage and the readers and writers that use it, on fsspec's in-memory filesystem (``memory://``)."""

from __future__ import annotations

import sys
import uuid

import fsspec
import numpy as np
import pytest
import xarray as xr

from neurokit.analysis import load_results, save_results
from neurokit.analysis.results import check_writable
from neurokit.cli import main
from neurokit.errors import ConfigError, StoreError
from neurokit.extract import open_run, open_runs
from neurokit.provenance import command_line
from neurokit.storage import is_url, locate, storage_options_from_args
from tests.helpers.storage_helpers import copy_to


@pytest.fixture
def memory_prefix():
    """A fresh folder of the process-wide memory filesystem, removed afterwards."""
    fs = fsspec.filesystem("memory")
    prefix = f"/neurokit-tests-{uuid.uuid4().hex}"
    yield fs, prefix
    if fs.exists(prefix):
        fs.rm(prefix, recursive=True)


def test_locate_tells_local_paths_from_urls(tmp_path):
    (tmp_path / "a").mkdir()
    assert locate(tmp_path).local == tmp_path and locate(f"file://{tmp_path}").local == tmp_path
    assert not is_url(tmp_path) and not is_url(f"file://{tmp_path}") and is_url("s3://bucket/x")
    assert locate(tmp_path).join("a").is_dir() and not locate(tmp_path).join("b").exists()
    fs = fsspec.filesystem("memory")
    fs.pipe("/bucket-locate/run.zarr/zarr.json", b"{}")
    location = locate("memory://bucket-locate/run.zarr/")
    assert location.local is None and str(location) == "memory://bucket-locate/run.zarr"
    assert location.is_dir() and location.join("zarr.json").is_file() and not location.join("other").exists()
    assert str(location.join("a", "b")) == "memory://bucket-locate/run.zarr/a/b"
    assert locate(location) is location


def test_a_missing_plugin_names_the_extra():
    pytest.importorskip("fsspec")
    try:
        import adlfs  # noqa: F401
    except ImportError:
        with pytest.raises(StoreError, match=r"neurokit\[azure\]"):
            locate("az://container/run.zarr")
    else:
        pytest.skip("adlfs is installed")


def test_storage_options_come_as_a_json_object():
    parse = storage_options_from_args
    assert parse(type("Args", (), {"storage_options": None})()) == {}
    assert parse(type("Args", (), {"storage_options": '{"anon": true}'})()) == {"anon": True}
    for text in ("{anon", "[1]"):
        with pytest.raises(ConfigError, match="--storage-options must be a JSON object"):
            parse(type("Args", (), {"storage_options": text})())


def test_recorded_command_lines_hold_no_secrets(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["neurokit", "analyze", "--storage-options", '{"secret": "s3cr3t"}',
                                      "--out", "s3://user:s3cr3t@bucket/r.zarr", "--storage-options={\"key\": 1}"])
    recorded = command_line()
    assert "s3cr3t" not in recorded and '"key"' not in recorded
    assert recorded == ("neurokit analyze --storage-options <redacted> --out s3://bucket/r.zarr "
                        "--storage-options=<redacted>")


def test_open_run_reads_a_store_at_a_url_as_it_reads_it_locally(local_stores, memory_prefix):
    fs, prefix = memory_prefix
    remote = copy_to(fs, local_stores["eval"][:2], prefix)
    urls = [f"memory://{path}" for path in remote]
    local, at_url = open_run(local_stores["eval"][0]), open_run(urls[0])
    assert at_url["activation"].chunks == local["activation"].chunks
    xr.testing.assert_identical(at_url.compute(), local.compute())
    stacked = open_runs(urls)
    np.testing.assert_array_equal(stacked["store"].values, urls)
    xr.testing.assert_identical(stacked.drop_vars("store").compute(),
                                open_runs(local_stores["eval"][:2]).drop_vars("store").compute())


def test_incomplete_and_missing_stores_at_a_url_are_refused(local_stores, memory_prefix):
    import zarr

    fs, prefix = memory_prefix
    (remote,) = copy_to(fs, local_stores["eval"][:1], prefix)
    zarr.open_group(locate(f"memory://{remote}").zarr_store(read_only=False), mode="r+").attrs["complete"] = False
    with pytest.raises(StoreError, match=r"incomplete \(0 of 3 blocks written\)"):
        open_run(f"memory://{remote}")
    assert open_run(f"memory://{remote}", allow_incomplete=True).sizes["example"] == 40
    with pytest.raises(StoreError, match="no zarr v3 store at memory://"):
        open_run(f"memory://{prefix}/nothing.zarr")


def test_results_at_a_url_round_trip_and_refuse_overwriting(memory_prefix):
    _, prefix = memory_prefix
    url = f"memory://{prefix}/results.zarr"
    result = xr.Dataset({"score": (("layer", "neuron"), np.arange(6.0).reshape(2, 3))}, coords={"layer": [0, 1]})
    assert save_results({"sst2/skill": result.chunk()}, url, attrs={"note": "test"}, progress=False) == url
    back = load_results(url)
    assert back.attrs["note"] == "test" and back.attrs["complete"] is True
    xr.testing.assert_identical(back["sst2/skill"].to_dataset().compute(), result)
    with pytest.raises(StoreError, match="exists"):
        save_results({"sst2/skill": result}, url, progress=False)
    save_results({"sst2/skill": result * 2}, url, overwrite=True, progress=False)
    np.testing.assert_array_equal(load_results(url)["sst2/skill"]["score"].values, 2 * result["score"].values)


def test_results_whose_writer_died_are_refused(memory_prefix, monkeypatch):
    """The writer dies after the groups are written but before ``complete`` is set (the last step)."""
    import neurokit.analysis.results as results_module

    _, prefix = memory_prefix
    url = f"memory://{prefix}/results.zarr"
    real_open_group = results_module.zarr.open_group

    def dying(store, mode="r", **kwargs):
        if mode == "r+":
            raise KeyboardInterrupt  # the kill arrives just before the final attribute
        return real_open_group(store, mode=mode, **kwargs)

    monkeypatch.setattr(results_module.zarr, "open_group", dying)
    with pytest.raises(KeyboardInterrupt):
        save_results({"x/skill": xr.Dataset({"score": ("neuron", [1.0, 2.0])})}, url, progress=False)
    monkeypatch.undo()
    assert locate(url).join("x", "skill").is_dir()  # written, but not marked complete
    with pytest.raises(StoreError, match="incomplete: the analysis writing it has not finished"):
        load_results(url)


def test_tables_and_pruned_folders_refuse_urls_with_one_line(local_stores, capsys):
    with pytest.raises(StoreError, match="give a local path"):  # ablate/transfer tables, pruned model folders
        check_writable("s3://bucket/pruned", overwrite=False)
    code = main(["analyze", "--train", *local_stores["train"], "--eval", *local_stores["eval"],
                 "--out", "memory://tables-refused/r.zarr", "--tables", "s3://bucket/tables", "--no-progress"])
    error = capsys.readouterr().err.strip()
    assert code == 2 and "tables cannot be written to s3://bucket/tables" in error and "\n" not in error
    assert not locate("memory://tables-refused/r.zarr").exists()
