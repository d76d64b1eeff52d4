"""Where stores live: a local path or an fsspec URL (``s3://``, ``gs://``, ``az://``, ``memory://``, ``file://``).

The one place that turns a path-or-URL (plus fsspec storage options: credentials, an endpoint) into what zarr
and xarray open, and answers exists / is-dir / join questions the same way for both. Local paths stay
:class:`~pathlib.Path` objects all the way to zarr (its ``LocalStore``); URLs become a
``zarr.storage.FsspecStore`` over the protocol's fsspec filesystem. The plugins for the clouds are optional
extras (``neurokit[s3]``, ``neurokit[gcs]``, ``neurokit[azure]``); a missing one is a one-line error naming it.

Storage options are never written into a store: they are passed at open time only, and
:func:`neurokit.provenance.command_line` blanks the value of :data:`STORAGE_OPTIONS_FLAG`.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neurokit.errors import ConfigError, StoreError

#: The CLI flag that carries fsspec storage options as JSON; its value never reaches a store's attributes.
STORAGE_OPTIONS_FLAG = "--storage-options"

#: The extra that installs each protocol's fsspec plugin (pyproject.toml's optional dependencies).
_EXTRA_OF_PROTOCOL = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure",
                      "abfss": "azure", "adl": "azure"}
_LOCAL_PROTOCOLS = ("file", "local")


def is_url(location: str | os.PathLike) -> bool:
    """Whether ``location`` names something through an fsspec protocol other than the local disk."""
    text = os.fspath(location)
    return "://" in text and text.split("://", 1)[0].lower() not in _LOCAL_PROTOCOLS


@dataclass(frozen=True)
class Location:
    """A store's place: ``local`` (a Path) for the local disk, else ``url`` through ``fs`` at ``fs_path``.

    ``str(location)`` is the path or URL as the user gave it (what messages and coordinates show); storage
    options are held for opening only and are left out of ``repr``.
    """

    url: str
    local: Path | None = None
    fs: Any = field(default=None, repr=False, compare=False)
    fs_path: str = ""
    storage_options: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __str__(self) -> str:
        return str(self.local) if self.local is not None else self.url

    def join(self, *parts: str) -> Location:
        """The location of ``parts`` below this one (``/``-separated keys on an object store)."""
        if self.local is not None:
            return Location(url=str(self.local.joinpath(*parts)), local=self.local.joinpath(*parts))
        suffix = "/".join(part.strip("/") for part in parts)
        return Location(url=f"{self.url.rstrip('/')}/{suffix}", fs=self.fs,
                        fs_path=f"{self.fs_path.rstrip('/')}/{suffix}", storage_options=self.storage_options)

    def exists(self) -> bool:
        return self.local.exists() if self.local is not None else bool(self._fresh().exists(self.fs_path))

    def is_dir(self) -> bool:
        """A folder locally; on an object store, a prefix with at least one key below it."""
        return self.local.is_dir() if self.local is not None else bool(self._fresh().isdir(self.fs_path))

    def is_file(self) -> bool:
        return self.local.is_file() if self.local is not None else bool(self._fresh().isfile(self.fs_path))

    def _fresh(self):
        """The filesystem with its listings of this path forgotten: zarr writes through another (asynchronous)
        instance, so a listing cached here before a write would answer from before it."""
        self.fs.invalidate_cache(self.fs_path)
        return self.fs

    def zarr_store(self, read_only: bool = True):
        """What ``zarr.open_*`` and ``xarray.open_zarr``/``to_zarr`` take: the Path itself for a local store,
        else a ``zarr.storage.FsspecStore`` (``read_only`` unless asked otherwise)."""
        if self.local is not None:
            return self.local
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(self.url, storage_options=dict(self.storage_options), read_only=read_only)


def locate(location: str | os.PathLike | Location, storage_options: Mapping[str, Any] | None = None) -> Location:
    """``location`` (a path, a ``file://`` URL or an fsspec URL) as a :class:`Location`; a Location passes
    through unchanged. StoreError names the extra to install when the protocol's fsspec plugin is missing."""
    if isinstance(location, Location):
        return location
    text = os.fspath(location)
    if not is_url(text):
        text = _local_text(text)
        return Location(url=text, local=Path(text))
    import fsspec

    protocol = text.split("://", 1)[0].lower()
    options = dict(storage_options or {})
    try:
        fs, fs_path = fsspec.core.url_to_fs(text, **options)
    except ImportError as error:
        extra = _EXTRA_OF_PROTOCOL.get(protocol)
        hint = f"pip install 'neurokit[{extra}]'" if extra else "install its fsspec plugin"
        raise StoreError(f"cannot open {text}: the {protocol}:// filesystem is not installed ({hint})") from error
    except ValueError as error:  # an unknown protocol
        raise StoreError(f"cannot open {text}: {error}") from error
    return Location(url=text.rstrip("/"), fs=fs, fs_path=fs_path.rstrip("/"), storage_options=options)


def _local_text(text: str) -> str:
    """A location that is not a URL, without its ``file://`` or ``local://`` prefix (the local disk)."""
    return text.split("://", 1)[1] if "://" in text else text


def upload(files: Sequence[Path], destination: Location) -> list[str]:
    """Copy local ``files`` into the folder ``destination`` (a URL), each as one whole object (an object
    store shows an object only once its upload has finished); returns their URLs."""
    uploaded = []
    for path in files:
        target = destination.join(path.name)
        target.fs.put_file(str(path), target.fs_path)
        uploaded.append(str(target))
    return uploaded


def require_local(location: str | os.PathLike, what: str, advice: str) -> Path:
    """``location`` as a local Path; a URL is refused with one line: ``what`` cannot go there, ``advice``."""
    if is_url(location):
        raise StoreError(f"{what} cannot be written to {os.fspath(location)}: {advice}")
    return Path(_local_text(os.fspath(location)))


def add_storage_argument(parser: argparse.ArgumentParser) -> None:
    """The :data:`STORAGE_OPTIONS_FLAG` option of commands that read or write URLs."""
    parser.add_argument(STORAGE_OPTIONS_FLAG, default=None, metavar="JSON",
                        help="fsspec storage options for every URL of this command, e.g. "
                             "'{\"endpoint_url\": \"http://127.0.0.1:9000\"}' (credentials are better left to the "
                             "environment or ~/.aws; this value is never recorded in a store)")


def storage_options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed :data:`STORAGE_OPTIONS_FLAG` value (``{}`` when absent); ConfigError unless a JSON object."""
    text = getattr(args, "storage_options", None)
    if not text:
        return {}
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{STORAGE_OPTIONS_FLAG} must be a JSON object: {error}") from error
    if not isinstance(options, dict):
        raise ConfigError(f"{STORAGE_OPTIONS_FLAG} must be a JSON object, got {type(options).__name__}")
    return options
