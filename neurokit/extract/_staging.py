"""Staging a block on the host: each batch's stored values copied into (on CUDA pinned, double-buffered) host
tensors on a side stream, so device→host copies overlap the next forward passes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class StagedBlock:
    """One block's stored values on the host; ``ready`` is the CUDA event after which they are all there."""

    index: int
    activation: torch.Tensor  # (B, L, R, N) in the stored dtype
    logits: torch.Tensor  # (B, C) float32
    lengths: torch.Tensor  # (B,) int64
    ready: Any = None

    def wait(self) -> None:
        if self.ready is not None:
            self.ready.synchronize()


class Staging:
    """Collects each batch's selected activations, class scores and input lengths into a block on the host.

    On CUDA: two sets of pinned buffers used in turn (block k fills one while block k − 1, in the other, waits
    to be handed to the writer, which copies it before returning), filled by non-blocking copies on a side
    stream that waits for the compute stream, so device→host copies overlap the next forward passes. On the
    CPU: plain tensors, no copy stream.
    """

    def __init__(self, device: torch.device, block_size: int, tail: tuple[int, int, int], n_classes: int,
                 dtype: torch.dtype):
        self.device = device
        self.cuda = device.type == "cuda"
        self.shapes = ((block_size, *tail), (block_size, n_classes), (block_size,))
        self.dtypes = (dtype, torch.float32, torch.int64)
        self._turn = 0
        self._buffers: list[tuple[torch.Tensor, ...]] = []
        if self.cuda:
            self.stream = torch.cuda.Stream(device=device)
            self._buffers = [self._allocate(pin=True) for _ in range(2)]
        self._current: tuple[torch.Tensor, ...] = ()
        self._rows = 0
        self._index = -1

    @property
    def defers_writing(self) -> bool:
        """Whether a block should be handed over only after the next one is queued (CUDA: overlap)."""
        return self.cuda

    def _allocate(self, pin: bool) -> tuple[torch.Tensor, ...]:
        return tuple(torch.empty(shape, dtype=dtype, pin_memory=pin)
                     for shape, dtype in zip(self.shapes, self.dtypes, strict=True))

    def begin(self, index: int, rows: int) -> None:
        self._index, self._rows = index, rows
        if self.cuda:
            self._current = self._buffers[self._turn]
            self._turn = 1 - self._turn
        else:
            self._current = self._allocate(pin=False)

    def add(self, offset: int, *values: torch.Tensor) -> None:
        """Copy a batch's (activation, logits, lengths) into rows ``offset:`` of the block."""
        size = values[0].shape[0]
        if not self.cuda:
            for buffer, value in zip(self._current, values, strict=True):
                buffer[offset:offset + size].copy_(value)
            return
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            for buffer, value in zip(self._current, values, strict=True):
                buffer[offset:offset + size].copy_(value, non_blocking=True)
                value.record_stream(self.stream)  # its memory is not reused before the copy is done

    def end(self) -> StagedBlock:
        activation, logits, lengths = (buffer[:self._rows] for buffer in self._current)
        ready = None
        if self.cuda:
            ready = torch.cuda.Event()
            ready.record(self.stream)
        return StagedBlock(self._index, activation, logits, lengths, ready=ready)
