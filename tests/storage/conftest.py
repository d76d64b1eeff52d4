"""Fixtures of the object-storage tests: small extraction stores written by the extraction stage's writer
(tests/helpers/synthetic_stores.py), and a real S3-compatible server (moto's) on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pytest

from tests.helpers.storage_helpers import S3_KEY, S3_SECRET
from tests.helpers.synthetic_stores import THREE_WAY, make_store, write_store


@pytest.fixture(scope="session")
def local_stores(tmp_path_factory) -> dict[str, list[str]]:
    """Train and eval stores of two prompts of sst2 and one of mnli, written locally."""
    folder = tmp_path_factory.mktemp("stores")
    labels = np.random.default_rng(0).integers(0, 2, 40)
    stores: dict[str, list[str]] = {"train": [], "eval": []}
    for index, prompt in enumerate(["p1", "p2"]):
        stores["train"].append(write_store(make_store(index, split="train", prompt=prompt, n_examples=50),
                                           folder / f"train-{prompt}.zarr", raw=False))
        stores["eval"].append(write_store(make_store(10 + index, prompt=prompt, labels=labels),
                                          folder / f"dev-{prompt}.zarr"))
    stores["train"].append(write_store(make_store(3, split="train", task="mnli", label_names=THREE_WAY,
                                                  n_examples=60), folder / "train-mnli.zarr"))
    stores["eval"].append(write_store(make_store(13, task="mnli", label_names=THREE_WAY), folder / "dev-mnli.zarr"))
    return stores


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of a moto S3 server on 127.0.0.1 (a free port), for the whole session."""
    pytest.importorskip("s3fs")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one log line per request otherwise
    server_module = pytest.importorskip("moto.server")
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="module")
def s3_options(s3_server) -> Iterator[dict[str, str]]:
    """Storage options for the server; the environment holds no AWS settings, so nothing else can leak in.
    Module-scoped, so that a module's fixtures can extract to the server once for several tests."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                     "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        yield {"endpoint_url": s3_server, "key": S3_KEY, "secret": S3_SECRET}
