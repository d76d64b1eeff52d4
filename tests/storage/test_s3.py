"""Stores, results and figures on a real S3-compatible server (moto's standalone server on 127.0.0.1, spoken to
by s3fs over HTTP): what the laptop half of "extract on a GPU box, analyse on a laptop" does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from neurokit.analysis import load_results, save_results
from neurokit.cli import main
from neurokit.errors import StoreError
from neurokit.extract import open_run
from tests.helpers.storage_helpers import S3_SECRET, copy_to, new_bucket

pytest.importorskip("s3fs")
pytest.importorskip("moto.server")
# A moto server, uploads and CLI runs over HTTP for every test.
pytestmark = pytest.mark.slow


@pytest.fixture
def bucket(s3_options):
    """A fresh bucket on the server and the s3fs filesystem that reaches it."""
    return new_bucket(s3_options)


def _fsspec_options(s3_options: dict[str, str]) -> dict:
    return {"endpoint_url": s3_options["endpoint_url"], "key": s3_options["key"], "secret": s3_options["secret"]}


def test_open_run_and_plain_xarray_read_a_store_on_s3(local_stores, bucket, s3_options):
    fs, name = bucket
    (remote,) = copy_to(fs, local_stores["eval"][:1], f"{name}/run")
    url = f"s3://{remote}"
    local = open_run(local_stores["eval"][0])
    xr.testing.assert_identical(open_run(url, storage_options=s3_options).compute(), local.compute())
    # Without neurokit: the store is an ordinary zarr v3 store that xarray opens from the URL.
    plain = xr.open_zarr(url, storage_options=_fsspec_options(s3_options), consolidated=False)
    xr.testing.assert_identical(plain.compute(), xr.open_zarr(local_stores["eval"][0], consolidated=False).compute())


def _without_store_paths(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_vars([name for name in ("store",) if name in ds.variables])


def test_analyze_reads_and_writes_s3_and_plot_reads_it(local_stores, bucket, s3_options, tmp_path, capsys,
                                                       monkeypatch):
    fs, name = bucket
    # The two prompts of sst2 (mnli's stores add run time, not coverage: reading is per store).
    train_local, evaluation_local = local_stores["train"][:2], local_stores["eval"][:2]
    train = [f"s3://{path}" for path in copy_to(fs, train_local, f"{name}/stores")]
    evaluation = [f"s3://{path}" for path in copy_to(fs, evaluation_local, f"{name}/stores")]
    options = json.dumps(s3_options)
    out = f"s3://{name}/results.zarr"
    argv = ["analyze", "--train", *train, "--eval", *evaluation, "--out", out, "--storage-options", options,
            "--no-progress"]
    monkeypatch.setattr(sys, "argv", ["neurokit", *argv])  # what the recorded command line is made from
    assert main(argv) == 0
    assert main(["analyze", "--train", *train_local, "--eval", *evaluation_local,
                 "--out", str(tmp_path / "local.zarr"), "--no-progress"]) == 0
    at_url, local = load_results(out, s3_options), load_results(tmp_path / "local.zarr")
    assert at_url.attrs["complete"] is True
    assert "<redacted>" in at_url.attrs["command"]
    recorded = [node.attrs for node in at_url.subtree] + [variable.attrs for node in at_url.subtree
                                                          for variable in node.variables.values()]
    assert not any(S3_SECRET in json.dumps(attrs, default=str) for attrs in recorded)  # nowhere in the store
    groups = sorted(node.path for node in local.subtree if node.has_data)
    assert groups == sorted(node.path for node in at_url.subtree if node.has_data) and "/sst2/skill" in groups
    for group in groups:  # the same numbers, whichever side the stores were read from
        xr.testing.assert_equal(_without_store_paths(at_url[group].to_dataset().compute()),
                                _without_store_paths(local[group].to_dataset().compute()))
    capsys.readouterr()

    # Figures from the results on S3, into a local folder and into the bucket.
    figures = ["--figures", "skill_map", "--formats", "png", "--dpi", "50", "--storage-options", options]
    assert main(["plot", out, "--out", str(tmp_path / "figures"), *figures]) == 0
    written = capsys.readouterr().out.split()
    assert written and all(Path(path).stat().st_size > 0 for path in written)
    assert main(["plot", out, "--out", f"s3://{name}/figures", *figures]) == 0
    uploaded = capsys.readouterr().out.split()
    assert sorted(Path(path).name for path in uploaded) == sorted(Path(path).name for path in written)
    for url, path in zip(sorted(uploaded), sorted(written), strict=True):
        assert fs.cat_file(url.removeprefix("s3://")) == Path(path).read_bytes()


def test_an_existing_results_store_on_s3_is_refused_before_any_work(local_stores, bucket, s3_options, capsys):
    fs, name = bucket
    fs.pipe(f"{name}/taken.zarr/zarr.json", b"{}")
    code = main(["analyze", "--train", *local_stores["train"], "--eval", *local_stores["eval"],
                 "--out", f"s3://{name}/taken.zarr", "--storage-options", json.dumps(s3_options)])
    error = capsys.readouterr().err.strip()
    assert code == 2 and f"s3://{name}/taken.zarr exists" in error and "\n" not in error


def test_results_on_s3_are_replaced_only_with_overwrite(bucket, s3_options):
    _, name = bucket
    url = f"s3://{name}/replaced.zarr"
    first = xr.Dataset({"score": ("neuron", np.arange(4.0))})
    save_results({"x/skill": first}, url, progress=False, storage_options=s3_options)
    with pytest.raises(StoreError, match="exists"):
        save_results({"x/skill": first}, url, progress=False, storage_options=s3_options)
    save_results({"y/skill": first * 3}, url, overwrite=True, progress=False, storage_options=s3_options)
    tree = load_results(url, s3_options)
    assert [node.path for node in tree.subtree if node.has_data] == ["/y/skill"]  # the old groups are gone
    np.testing.assert_array_equal(tree["y/skill"]["score"].values, 3 * np.arange(4.0))
