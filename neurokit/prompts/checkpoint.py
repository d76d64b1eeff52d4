"""Prompt checkpoints: the prompt tensor in safetensors plus ``prompt.json`` (:class:`PromptMetadata`).

The format is in :mod:`neurokit.prompts.metadata`. :meth:`SoftPrompt.save_pretrained
<neurokit.prompts.SoftPrompt.save_pretrained>` writes a checkpoint, :meth:`PromptCheckpoint.from_pretrained` reads
one (a folder or an fsspec URL), and :meth:`PromptCheckpoint.check_compatible` is the one answer to "may this
prompt run on this backbone".
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load

from neurokit.errors import ConfigError, NeurokitError
from neurokit.models import Backbone, PromptLayout
from neurokit.prompts.metadata import METADATA_FILE, TENSOR_FILE, PromptMetadata
from neurokit.prompts.soft_prompt import SoftPrompt
from neurokit.storage import locate


@dataclass(frozen=True)
class PromptCheckpoint:
    """A loaded checkpoint: the full prompt (P, d) float32, its metadata and the safetensors file's SHA-256.

    ``path``: the folder it was read from (a Path, or the URL as given).
    """

    prompt: torch.Tensor
    metadata: PromptMetadata
    sha256: str
    path: Path | str

    @property
    def layout(self) -> PromptLayout:
        """Where the prompt was placed when it was tuned; a checkpoint that records none was prepended."""
        return self.metadata.prompt_layout

    @classmethod
    def from_pretrained(cls, folder_or_url: str | os.PathLike,
                        storage_options: Mapping[str, Any] | None = None) -> PromptCheckpoint:
        """The checkpoint in a folder or at an fsspec URL (``s3://…``; ``storage_options``: credentials, an
        endpoint); NeurokitError (one line) for a missing, unreadable or unidentified one.

        The tensor file is read only as safetensors (never unpickled), and ``prompt.json`` must name the model
        (:data:`~neurokit.prompts.metadata.REQUIRED_METADATA`): without it every prompt/model compatibility
        check would pass unseen."""
        location = locate(folder_or_url, storage_options)
        tensor_location, metadata_location = location.join(TENSOR_FILE), location.join(METADATA_FILE)
        if not tensor_location.is_file():
            raise NeurokitError(f"no prompt checkpoint at {location} (missing {TENSOR_FILE})")
        data = _read_bytes(tensor_location)
        try:
            tensors = load(data)
        except (SafetensorError, OSError, ValueError) as error:  # truncated, or another format (a torch pickle)
            reason = " ".join(str(error).split())[:160]
            raise NeurokitError(f"{tensor_location} is not a readable safetensors file ({reason}); make "
                                "checkpoints with `neurokit train`, `neurokit prompt init` or `neurokit prompt "
                                "import`") from None
        if "prompt" not in tensors:
            raise NeurokitError(f"{tensor_location} holds no tensor named 'prompt'")
        if not metadata_location.is_file():
            raise NeurokitError(f"{location} has {TENSOR_FILE} but no {METADATA_FILE}: without it the prompt "
                                "cannot be checked against the model")
        try:
            parsed = json.loads(_read_bytes(metadata_location).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as error:
            raise NeurokitError(f"{metadata_location} is not JSON text ({' '.join(str(error).split())[:120]})"
                                ) from None
        metadata = PromptMetadata.from_dict(parsed, str(metadata_location))
        path = location.local if location.local is not None else location.url
        return cls(tensors["prompt"], metadata, hashlib.sha256(data).hexdigest(), path)

    def check_compatible(self, backbone: Backbone, allow_other_model: bool = False) -> None:
        """Refuse (one line) to run this prompt on ``backbone``: a prompt of another embedding width, trained on
        other weights (the recorded weights hash, or the model id where no hash is recorded; skipped with
        ``allow_other_model``), or made for a backbone with(out) a mask slot when ``backbone`` has none (has one).
        """
        # The most telling reason first: other weights, then the width, then another model's name.
        metadata = self.metadata
        hint = f"; load that model (--model {metadata.model_source})" if metadata.model_source else ""
        recorded = metadata.weights_sha256
        if not allow_other_model and recorded and recorded != backbone.weights_sha256:
            raise NeurokitError(f"prompt {self.path} was trained on {metadata.model_id!r} (weights "
                                f"{recorded[:12]}…), not on {backbone.model_id!r} (weights "
                                f"{backbone.weights_sha256[:12]}…){hint}")
        if self.prompt.ndim != 2 or self.prompt.shape[1] != backbone.embedding_dim:
            raise ConfigError(f"prompt {self.path} of shape {tuple(self.prompt.shape)} does not fit "
                              f"{backbone.model_id}, whose embeddings have width {backbone.embedding_dim}")
        if not allow_other_model and not recorded and metadata.model_id != backbone.model_id:
            raise NeurokitError(f"prompt {self.path} was trained on {metadata.model_id!r}, "
                                f"not on {backbone.model_id!r}{hint}")
        if metadata.mask_slot is not None and metadata.mask_slot != backbone.adapter.uses_mask_slot:
            raise NeurokitError(f"prompt {self.path} was made for a backbone "
                                f"{'with' if metadata.mask_slot else 'without'} a mask slot; {backbone.model_id} "
                                f"is a {backbone.adapter.family.value} model")

    def soft_prompt(self, backbone: Backbone, allow_other_model: bool = False) -> SoftPrompt:
        """The prompt as a module for ``backbone``, after :meth:`check_compatible`."""
        self.check_compatible(backbone, allow_other_model)
        return SoftPrompt.from_full_prompt(self.prompt, backbone, self.layout)


def _read_bytes(location) -> bytes:
    if location.local is not None:
        return location.local.read_bytes()
    return location.fs.cat_file(location.fs_path)


def check_checkpoint_out(folder: str | Path, overwrite: bool) -> None:
    """Refuse an output folder that cannot take a checkpoint, before any work: an existing file, or a folder
    that already holds a checkpoint (unless ``overwrite``)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NeurokitError(f"--out {folder} is an existing file, not a checkpoint folder")
    if not overwrite and ((folder / TENSOR_FILE).exists() or (folder / METADATA_FILE).exists()):
        raise NeurokitError(f"{folder} already holds a prompt checkpoint; pass --overwrite to replace it")
