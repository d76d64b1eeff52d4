"""Constants and helpers of the object-storage tests, importable by name (pytest's conftest modules are not)."""

from __future__ import annotations

import uuid
from pathlib import Path

#: moto accepts any credentials; these stand in for real ones (and must never reach a store's attributes).
S3_KEY, S3_SECRET = "testing-key-id", "testing-secret-value"


def copy_to(fs, local_paths: list[str], prefix: str) -> list[str]:
    """Upload local stores below ``prefix`` (``bucket/folder``) of ``fs``; returns their fs paths."""
    remote = []
    for path in local_paths:
        target = f"{prefix}/{Path(path).name}"
        fs.put(path, target, recursive=True)
        remote.append(target)
    return remote


def new_bucket(s3_options: dict[str, str]):
    """A fresh bucket on the test S3 server: (the s3fs filesystem that reaches it, its name)."""
    import s3fs

    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_options["endpoint_url"]}, key=S3_KEY,
                           secret=S3_SECRET, skip_instance_cache=True)
    name = f"neurokit-{uuid.uuid4().hex[:12]}"
    fs.mkdir(name)
    return fs, name
