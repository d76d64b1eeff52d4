"""Soft prompts: P trainable vectors joined to a frozen model's input embeddings (Lester et al. 2021)."""

from __future__ import annotations

import json
import os
import re
from enum import Enum
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from neurokit.errors import ConfigError
from neurokit.models import LEGACY_LAYOUT, Backbone, PromptLayout
from neurokit.models.adapters import embedding_matrix
from neurokit.prompts.metadata import METADATA_FILE, TENSOR_FILE, PromptMetadata
from neurokit.validation import as_enum

#: Lester et al. sample initial prompt vectors from the 5,000 most frequent vocabulary items.
FREQUENT_VOCABULARY_SIZE = 5000


class PromptInit(str, Enum):
    UNIFORM = "uniform"  # U[-0.5, 0.5] (Lester et al.)
    NORMAL = "normal"  # N(0, 0.03²) (Wang et al.'s released code)
    VOCAB = "vocab"  # embeddings of tokens sampled from the 5,000 most frequent vocabulary items
    LABELS = "labels"  # class-label embeddings (multi-token labels averaged), remaining slots from vocabulary
    TEXT = "text"  # embeddings of a text's tokens, repeated to fill the prompt


class SoftPrompt(nn.Module):
    """A prompt of ``length`` positions of width ``dim``.

    On MLM backbones position 0 is the frozen mask-token embedding (the slot whose output is read, as in
    Wang et al.), so ``length - 1`` vectors are trained; elsewhere all ``length`` are. ``forward()`` returns the
    full prompt (length, dim) in its order in the sequence. ``layout`` says where it goes relative to the input
    (:class:`~neurokit.models.PromptLayout`); a prompt is used in the layout it was tuned in.
    """

    mask_slot: torch.Tensor | None  # (1, dim) buffer registered in __init__

    def __init__(self, vectors: torch.Tensor, mask_slot: torch.Tensor | None = None,
                 layout: PromptLayout | str = LEGACY_LAYOUT):
        super().__init__()
        self.layout = as_enum(layout, PromptLayout, "layout")
        self.vectors = nn.Parameter(vectors.detach().clone().float())
        # A buffer, not a parameter: the mask slot is never trained and never receives gradients.
        self.register_buffer("mask_slot", None if mask_slot is None else mask_slot.detach().clone().float()[None])

    @property
    def length(self) -> int:
        return self.vectors.shape[0] + (0 if self.mask_slot is None else 1)

    @property
    def has_mask_slot(self) -> bool:
        return self.mask_slot is not None

    def forward(self) -> torch.Tensor:
        if self.mask_slot is None:
            return self.vectors
        return torch.cat([self.mask_slot, self.vectors], dim=0)

    def position_roles(self) -> list[str]:
        """Role of each prompt position: ``"mask"`` for the mask slot, ``"prompt_k"`` for trained vector k."""
        roles = [f"prompt_{k}" for k in range(self.vectors.shape[0])]
        return (["mask"] + roles) if self.has_mask_slot else roles

    def save_pretrained(self, folder: str | os.PathLike, metadata: PromptMetadata) -> Path:
        """Write the prompt as a checkpoint (``prompt.safetensors`` + ``prompt.json``, see
        :mod:`neurokit.prompts.metadata`) into ``folder``, created if missing, atomically (temporary files renamed
        into place); ``metadata`` gets the prompt's length, width, mask slot and layout. Read it back with
        :meth:`PromptCheckpoint.from_pretrained <neurokit.prompts.PromptCheckpoint.from_pretrained>`."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        full = self().detach().float().cpu().contiguous()
        metadata = metadata.replace(prompt_length=full.shape[0], embedding_dim=full.shape[1],
                                    mask_slot=self.has_mask_slot, layout=self.layout)
        tensor_tmp, json_tmp = folder / (TENSOR_FILE + ".tmp"), folder / (METADATA_FILE + ".tmp")
        save_file({"prompt": full}, str(tensor_tmp))
        json_tmp.write_text(json.dumps(metadata.to_dict(), indent=2, sort_keys=True, default=str))
        os.replace(tensor_tmp, folder / TENSOR_FILE)
        os.replace(json_tmp, folder / METADATA_FILE)
        return folder

    @classmethod
    def from_full_prompt(cls, prompt: torch.Tensor, backbone: Backbone,
                         layout: PromptLayout | str = LEGACY_LAYOUT) -> SoftPrompt:
        """Wrap a full (P, d) prompt in ``layout``; on MLM backbones row 0 is replaced by the frozen mask slot."""
        check_prompt_fits(prompt, backbone)
        layout = backbone.adapter.check_layout(layout)
        if backbone.adapter.uses_mask_slot:
            return cls(prompt[1:], backbone.mask_slot_embedding(), layout)
        return cls(prompt, layout=layout)

    @classmethod
    def initialise(cls, backbone: Backbone, length: int, init: PromptInit | str = PromptInit.NORMAL,
                   seed: int = 0, label_words: tuple[str, ...] = (), text: str | None = None,
                   layout: PromptLayout | str | None = None) -> SoftPrompt:
        """A new prompt of ``length`` positions (mask slot included on MLM backbones) in ``layout`` (None: the
        family's default, :attr:`~neurokit.models.ArchitectureAdapter.default_layout`)."""
        init = as_enum(init, PromptInit, "init")
        layout = backbone.adapter.check_layout(layout)
        mask_slot = backbone.mask_slot_embedding() if backbone.adapter.uses_mask_slot else None
        trained = length - (1 if mask_slot is not None else 0)
        if trained < 1:
            raise ConfigError(f"prompt length {length} leaves no trainable vector on {backbone.model_id}")
        generator = torch.Generator().manual_seed(seed)
        dim = backbone.embedding_dim
        embedding = embedding_matrix(backbone.model).detach().float().cpu()
        if init is PromptInit.UNIFORM:
            vectors = torch.rand(trained, dim, generator=generator) - 0.5
        elif init is PromptInit.NORMAL:
            vectors = torch.randn(trained, dim, generator=generator) * 0.03
        elif init is PromptInit.VOCAB:
            vectors = embedding[_sample_frequent(backbone, trained, generator)]
        elif init is PromptInit.LABELS:
            if not label_words:
                raise ConfigError("init 'labels' needs the task's label words")
            labels = [embedding[list(backbone.label_token_ids(w))].mean(dim=0) for w in label_words][:trained]
            rest = embedding[_sample_frequent(backbone, trained - len(labels), generator)]
            vectors = torch.cat([torch.stack(labels), rest]) if labels else rest
        else:
            if not text:
                raise ConfigError("init 'text' needs a non-empty text")
            ids = backbone.tokenizer.encode(text, add_special_tokens=False)
            if not ids:
                raise ConfigError(f"init text {text!r} has no tokens")
            vectors = embedding[torch.tensor(ids).repeat(trained // len(ids) + 1)[:trained]]
        return cls(vectors, mask_slot, layout)


def check_prompt_fits(prompt: torch.Tensor, backbone: Backbone) -> None:
    if prompt.ndim != 2 or prompt.shape[1] != backbone.embedding_dim:
        raise ConfigError(f"prompt of shape {tuple(prompt.shape)} does not fit {backbone.model_id}, whose "
                          f"embeddings have width {backbone.embedding_dim}")


_WORD_TOKEN = re.compile(r"^[▁Ġ]?[A-Za-z]{2,}$")


def frequent_token_ids(backbone: Backbone, count: int = FREQUENT_VOCABULARY_SIZE) -> torch.Tensor:
    """Ids of the ``count`` most frequent whole-word vocabulary tokens.

    Frequency is known from the vocabulary's own order: sentencepiece (T5, Llama) stores pieces by decreasing
    unigram probability, byte-level BPE (GPT-2, RoBERTa) by merge rank, and BERT's WordPiece lists whole words
    after its special, unused and single-character entries in corpus-frequency order. Keeping only alphabetic
    tokens of two or more letters (optionally with the word-start mark) drops special, unused, byte and
    continuation pieces, and the first ``count`` of those in id order are taken.
    """
    vocab = backbone.tokenizer.get_vocab()
    special = set(backbone.tokenizer.all_special_ids)
    ordered = sorted((index, token) for token, index in vocab.items() if index not in special)
    words = [index for index, token in ordered if _WORD_TOKEN.match(token)]
    return torch.tensor(words[:count])


def _sample_frequent(backbone: Backbone, count: int, generator: torch.Generator) -> torch.Tensor:
    pool = frequent_token_ids(backbone)
    return pool[torch.randint(len(pool), (count,), generator=generator)]
