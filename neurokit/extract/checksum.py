"""The ``crc32c`` checksum of every stored chunk, computed by the fastest implementation installed.

Stores carry zarr v3's ``crc32c`` codec after zstd (:mod:`neurokit.extract.schema`). zarr computes it with
``google_crc32c`` (about 7 GB/s on the project's VM); the ``crc32c`` package (hardware instructions,
interleaved) computes the same values at 17 to 20 GB/s, which keeps the check within 5 % of a read's CPU
time (docs/benchmarks.md). :class:`FastCrc32cCodec` is zarr's codec with that function: same name, same
bytes on disk, so any zarr reads neurokit's stores and neurokit reads any store as before.

zarr picks the class that implements a codec name from its config (``codecs.crc32c``) when it parses an
array's metadata, i.e. when the array is opened; the opened array keeps its codec objects for every later
read, in any thread. So neurokit selects its class only around its own opens (:func:`fast_checksums`) and
leaves the config of the user's other zarr use as it was. (zarr's sharding codec looks its inner codecs up
again when unpickled, e.g. on a dask.distributed worker: ``integrity.CheckedArray`` therefore rebuilds its
array inside :func:`fast_checksums` when unpickled.) Where the ``crc32c`` package is missing (an environment
made before it was a dependency, or installed without dependencies), :data:`crc32c` is google-crc32c's, as
in zarr.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec
from zarr.registry import register_codec

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer

CODEC_NAME = "crc32c"
# The checksum is stored after the data as 4 little-endian bytes (zarr v3 crc32c codec specification).
_CHECKSUM_DTYPE = np.dtype("<u4")
_CHECKSUM_BYTES = _CHECKSUM_DTYPE.itemsize


def _fastest_crc32c() -> Callable[[bytes | np.ndarray], int]:
    """The CRC-32C (Castagnoli) function of a contiguous byte buffer: the ``crc32c`` package's, else
    google-crc32c's (what zarr itself uses)."""
    try:
        from crc32c import crc32c as fast
    except ImportError:
        import google_crc32c

        return google_crc32c.value
    # The package's type stub omits the defaults of its optional arguments (start value, GIL release mode).
    return cast("Callable[[bytes | np.ndarray], int]", fast)


#: CRC-32C of a contiguous byte buffer (numpy uint8 array or bytes) as an int; what :class:`FastCrc32cCodec`
#: computes, and what benchmarks/analysis_scale.py times.
crc32c: Callable[[bytes | np.ndarray], int] = _fastest_crc32c()


class FastCrc32cCodec(Crc32cCodec):
    """zarr's ``crc32c`` bytes-to-bytes codec (same name, configuration and bytes) computed by :data:`crc32c`.

    Encoding appends the CRC-32C of the chunk's bytes as 4 little-endian bytes; decoding checks and strips
    them, and raises ValueError on a mismatch, as zarr's codec does (the readers turn it into one
    StoreError line naming the chunk, :mod:`neurokit.extract.integrity`).
    """

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer:
        data = chunk_bytes.as_numpy_array()
        inner = data[:-_CHECKSUM_BYTES]
        stored = bytes(data[-_CHECKSUM_BYTES:])
        computed = _CHECKSUM_DTYPE.type(crc32c(inner)).tobytes()
        if computed != stored:
            # zarr's own wording, so that a mismatch reads the same whichever class decoded it.
            raise ValueError(f"Stored and computed checksum do not match. Stored: {stored!r}. Computed: {computed!r}.")
        return chunk_spec.prototype.buffer.from_array_like(inner)

    def _encode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer | None:
        data = chunk_bytes.as_numpy_array()
        checksum = np.array([crc32c(data)], dtype=_CHECKSUM_DTYPE)
        return chunk_spec.prototype.buffer.from_array_like(np.append(data, checksum.view(np.uint8)))


_QUALIFIED_NAME = f"{FastCrc32cCodec.__module__}.{FastCrc32cCodec.__qualname__}"
# Registering only adds a choice: zarr keeps its own class for "crc32c" until its config names this one.
register_codec(CODEC_NAME, FastCrc32cCodec, qualname=_QUALIFIED_NAME)
# zarr's config is one process-wide dict and `config.set` restores on exit what it found on entry: two
# overlapping scopes in two threads could restore in the wrong order, so neurokit's scopes take turns.
_SCOPE_LOCK = threading.Lock()


@contextmanager
def fast_checksums() -> Iterator[None]:
    """Arrays opened (or created from metadata) inside this block compute their ``crc32c`` codec with
    :class:`FastCrc32cCodec`, for as long as they are used; zarr's config is restored on exit.

    While the block runs, other threads' zarr opens also get this class, which writes and reads the same
    bytes as zarr's."""
    with _SCOPE_LOCK, zarr.config.set({f"codecs.{CODEC_NAME}": _QUALIFIED_NAME}):
        yield
