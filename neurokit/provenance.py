"""Provenance shared by checkpoints, stores and results: package versions, hashes, timestamps."""

from __future__ import annotations

import hashlib
import re
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from neurokit.storage import STORAGE_OPTIONS_FLAG

#: ``scheme://user:password@`` (or ``scheme://token@``) in a URL: credentials that must not be recorded.
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")

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
    return datetime.now(UTC).isoformat(timespec="seconds")


def command_line() -> str:
    """The command line, scrubbed of secrets before it is recorded in a store: the value of
    ``--storage-options`` becomes ``<redacted>`` and a URL's ``user:password@`` is dropped."""
    scrubbed: list[str] = []
    for argument in sys.argv:
        if scrubbed and scrubbed[-1] == STORAGE_OPTIONS_FLAG:
            argument = "<redacted>"
        elif argument.startswith(f"{STORAGE_OPTIONS_FLAG}="):
            argument = f"{STORAGE_OPTIONS_FLAG}=<redacted>"
        scrubbed.append(_URL_CREDENTIALS.sub(r"\1", argument))
    return " ".join(scrubbed)
