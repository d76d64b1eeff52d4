"""Canonical names of FFN-neuron sites.

A *neuron site* is one FFN block of one transformer layer. Its neurons are the components of the **input of the
FFN output projection** (RoBERTa/BERT ``intermediate`` output after GELU, T5 ``wo`` input, GPT-2 ``mlp.c_proj``
input, Llama ``down_proj`` input). Every stage names a site the same way: ``"{stack}.layer.{index}.ffn"``, where
``stack`` is ``encoder`` for encoder stacks (BERT, RoBERTa, T5 encoder) and ``decoder`` for decoder stacks
(T5 decoder, GPT-2, Llama).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from torch import nn

from neurokit.errors import NeurokitError


class Stack(str, Enum):
    ENCODER = "encoder"
    DECODER = "decoder"


_SITE_NAME = re.compile(r"^(encoder|decoder)\.layer\.(\d+)\.ffn$")


@dataclass(frozen=True)
class NeuronSite:
    """One FFN block: ``name`` (canonical), ``stack``, ``layer`` index, ``width`` (number of neurons) and
    ``module_path``, the dotted path of the output projection whose input holds the neurons."""

    stack: Stack
    layer: int
    width: int
    module_path: str

    @property
    def name(self) -> str:
        return f"{self.stack.value}.layer.{self.layer}.ffn"

    def resolve(self, model: nn.Module) -> nn.Module:
        """The output-projection module of this site inside ``model``."""
        return model.get_submodule(self.module_path)


def parse_site_name(name: str) -> tuple[Stack, int]:
    """Split a canonical site name into (stack, layer); a malformed name raises NeurokitError."""
    match = _SITE_NAME.match(name)
    if match is None:
        raise NeurokitError(f"not a neuron-site name: {name!r} (expected e.g. 'encoder.layer.3.ffn')")
    return Stack(match.group(1)), int(match.group(2))
