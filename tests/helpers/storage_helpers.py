"""Constants and helpers of the object-storage tests, importable by name (pytest's conftest modules are not)."""

from __future__ import annotations

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
