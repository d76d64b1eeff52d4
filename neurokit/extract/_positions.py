"""Position selection on the device: the capture transform that keeps only the stored positions of each
example (prompt slices, input aggregates, the last token) in the stored dtype."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from neurokit.models import PromptLayout


class PositionSelector:
    """The capture transform: neurons (batch, sequence, width) → (batch, R, width) in the stored dtype.

    Runs on the neurons' device, so only the R stored positions (not the whole sequence) are kept and copied.
    Call :meth:`set_batch` before each forward pass: the input aggregates need the batch's attention mask.
    Aggregates are computed in float32 (mean) or the compute dtype (max, exact), then cast. Where the prompt
    and the input tokens sit in the sequence is the ``layout``'s answer (:class:`~neurokit.models.PromptLayout`).
    """

    def __init__(self, roles: Sequence[str], prompt_roles: Sequence[str], reads_prompt: bool, dtype: torch.dtype,
                 layout: PromptLayout):
        self.reads_prompt = reads_prompt
        self.dtype = dtype
        self.layout = layout
        self.prompt_length = len(prompt_roles)
        position_of = {role: index for index, role in enumerate(prompt_roles)}
        # Consecutive prompt positions are taken as one slice: ("slice", start, stop) or (aggregate, 0, 0).
        self._steps: list[tuple[str, int, int]] = []
        for role in roles:
            if role in position_of:
                index = position_of[role]
                last = self._steps[-1] if self._steps else None
                if last is not None and last[0] == "slice" and last[2] == index:
                    self._steps[-1] = ("slice", last[1], index + 1)
                else:
                    self._steps.append(("slice", index, index + 1))
            else:
                self._steps.append((role, 0, 0))
        self._inputs: torch.Tensor | None = None
        self._lengths: torch.Tensor | None = None
        self._last: torch.Tensor | None = None

    def set_batch(self, attention_mask: torch.Tensor) -> None:
        """``attention_mask`` (batch, T): the right-padded mask of the batch's inputs, before the prompt joins."""
        self._inputs = self.layout.input_mask(attention_mask, self.prompt_length).unsqueeze(-1)  # (batch, S, 1)
        self._lengths = attention_mask.sum(dim=1)  # (batch,)
        self._last = self.layout.last_input_position(attention_mask, self.prompt_length)  # (batch,)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The input mask (batch, S, 1), input lengths (batch,) and last input positions (batch,) that
        :meth:`set_batch` derived; RuntimeError if it was never called."""
        if self._inputs is None or self._lengths is None or self._last is None:
            raise RuntimeError("PositionSelector.set_batch must be called before the forward pass")
        return self._inputs, self._lengths, self._last

    def __call__(self, neurons: torch.Tensor) -> torch.Tensor:
        batch, sequence, width = neurons.shape
        if not self.reads_prompt:  # the T5 decoder: its last step is the one whose logits give the class
            return neurons[:, sequence - 1:, :].to(self.dtype)
        offset = self.layout.prompt_slice(sequence, self.prompt_length).start
        pieces = []
        for kind, start, stop in self._steps:
            if kind == "slice":
                piece = neurons[:, offset + start:offset + stop, :]
            elif kind == "input_mean":
                inputs, lengths, _ = self._batch()
                values = neurons.float().masked_fill(~inputs, 0.0)
                piece = (values.sum(dim=1) / lengths.unsqueeze(-1)).unsqueeze(1)
            elif kind == "input_max":
                inputs, _, _ = self._batch()
                piece = neurons.masked_fill(~inputs, -math.inf).amax(dim=1, keepdim=True)
            else:  # last_token: the last real input token
                _, _, last = self._batch()
                piece = neurons.gather(1, last.view(batch, 1, 1).expand(batch, 1, width))
            pieces.append(piece.to(self.dtype))
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)
