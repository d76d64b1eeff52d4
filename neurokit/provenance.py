"""Provenance shared by checkpoints, stores and results: package versions, hashes, timestamps."""

from __future__ import annotations

import hashlib
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

_PACKAGES = ("neurokit", "torch", "transformers", "datasets", "safetensors", "zarr", "xarray", "dask", "numpy")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change a result (missing ones are left out)."""
    versions = {"python": sys.version.split()[0]}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def utc_now() -> str:
    """The current time as an ISO-8601 string in UTC, second resolution."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def command_line() -> str:
    return " ".join(sys.argv)
