"""Prompt checkpoints: the prompt tensor in safetensors plus a JSON with everything that reuse needs.

Layout of a checkpoint folder::

    prompt.safetensors   tensor "prompt", float32 (P, d): the full prompt in sequence order (row 0 = mask slot
                         on MLM)
    prompt.json          metadata: model id, revision, weights hash, task, template, verbaliser, P, layout
                         ("prepend"/"append"; absent in checkpoints written before layouts existed, which
                         were all prepended), init, seed, dev accuracy, training config, versions
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from neurokit.errors import NeurokitError
from neurokit.models import LEGACY_LAYOUT, Backbone, PromptLayout
from neurokit.prompts.soft_prompt import SoftPrompt, check_prompt_fits
from neurokit.provenance import file_sha256

TENSOR_FILE = "prompt.safetensors"
METADATA_FILE = "prompt.json"


@dataclass(frozen=True)
class PromptCheckpoint:
    """A loaded checkpoint: the full prompt (P, d), its metadata dict and the safetensors file's SHA-256."""

    prompt: torch.Tensor
    metadata: dict
    sha256: str
    path: Path

    @property
    def layout(self) -> PromptLayout:
        """Where the prompt was placed when it was tuned; a checkpoint that records none was prepended."""
        try:
            return PromptLayout(self.metadata.get("layout", LEGACY_LAYOUT.value))
        except ValueError:
            raise NeurokitError(f"prompt {self.path} records an unknown layout {self.metadata['layout']!r}") from None

    def soft_prompt(self, backbone: Backbone, allow_other_model: bool = False) -> SoftPrompt:
        """The prompt as a module for ``backbone``; a prompt trained on other weights is refused unless allowed."""
        expected = self.metadata.get("weights_sha256")
        if expected and expected != backbone.weights_sha256 and not allow_other_model:
            raise NeurokitError(f"prompt {self.path} was trained on {self.metadata.get('model_id')!r} "
                                f"(weights {expected[:12]}…), not on {backbone.model_id!r} "
                                f"(weights {backbone.weights_sha256[:12]}…)")
        check_prompt_fits(self.prompt, backbone)
        return SoftPrompt.from_full_prompt(self.prompt, backbone, self.layout)


def save_checkpoint(folder: str | Path, prompt: SoftPrompt, metadata: dict) -> Path:
    """Write ``prompt`` and ``metadata`` into ``folder`` atomically (temporary files renamed into place)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    full = prompt().detach().float().cpu().contiguous()
    metadata = {**metadata, "prompt_length": full.shape[0], "embedding_dim": full.shape[1],
                "mask_slot": prompt.has_mask_slot, "layout": prompt.layout.value}
    tensor_tmp, json_tmp = folder / (TENSOR_FILE + ".tmp"), folder / (METADATA_FILE + ".tmp")
    save_file({"prompt": full}, str(tensor_tmp))
    json_tmp.write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str))
    os.replace(tensor_tmp, folder / TENSOR_FILE)
    os.replace(json_tmp, folder / METADATA_FILE)
    return folder


def load_checkpoint(folder: str | Path) -> PromptCheckpoint:
    folder = Path(folder)
    tensor_path = folder / TENSOR_FILE
    if not tensor_path.is_file():
        raise NeurokitError(f"no prompt checkpoint at {folder} (missing {TENSOR_FILE})")
    tensors = load_file(str(tensor_path))
    if "prompt" not in tensors:
        raise NeurokitError(f"{tensor_path} holds no tensor named 'prompt'")
    metadata_path = folder / METADATA_FILE
    metadata = json.loads(metadata_path.read_text()) if metadata_path.is_file() else {}
    return PromptCheckpoint(tensors["prompt"], metadata, file_sha256(tensor_path), folder)
