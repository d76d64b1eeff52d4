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
from safetensors import SafetensorError
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


def check_checkpoint_out(folder: str | Path, overwrite: bool) -> None:
    """Refuse an output folder that cannot take a checkpoint, before any work: an existing file, or a folder
    that already holds a checkpoint (unless ``overwrite``)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NeurokitError(f"--out {folder} is an existing file, not a checkpoint folder")
    if not overwrite and ((folder / TENSOR_FILE).exists() or (folder / METADATA_FILE).exists()):
        raise NeurokitError(f"{folder} already holds a prompt checkpoint; pass --overwrite to replace it")


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


#: What prompt.json must record for a prompt to be checked against a model: which model it was trained on
#: (the weights hash, when recorded, is checked too) and whether row 0 is a mask slot (save_checkpoint adds it).
REQUIRED_METADATA = ("model_id", "mask_slot")


def load_checkpoint(folder: str | Path) -> PromptCheckpoint:
    """The checkpoint in ``folder``; NeurokitError (one line) for a missing, unreadable or unidentified one.

    The tensor file is read only as safetensors (never unpickled), and ``prompt.json`` must name the model
    (:data:`REQUIRED_METADATA`): without it every prompt/model compatibility check would pass unseen."""
    folder = Path(folder)
    tensor_path = folder / TENSOR_FILE
    if not tensor_path.is_file():
        raise NeurokitError(f"no prompt checkpoint at {folder} (missing {TENSOR_FILE})")
    try:
        tensors = load_file(str(tensor_path))
    except (SafetensorError, OSError, ValueError) as error:  # truncated, or another format (e.g. a torch pickle)
        reason = " ".join(str(error).split())[:160]
        raise NeurokitError(f"{tensor_path} is not a readable safetensors file ({reason}); "
                            "make checkpoints with `neurokit train`, `neurokit prompt init` or `neurokit prompt import`") from None
    if "prompt" not in tensors:
        raise NeurokitError(f"{tensor_path} holds no tensor named 'prompt'")
    metadata_path = folder / METADATA_FILE
    if not metadata_path.is_file():
        raise NeurokitError(f"{folder} has {TENSOR_FILE} but no {METADATA_FILE}: without it the prompt cannot be "
                            "checked against the model")
    try:
        metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise NeurokitError(f"{metadata_path} is not JSON text ({' '.join(str(error).split())[:120]})") from None
    if not isinstance(metadata, dict):
        raise NeurokitError(f"{metadata_path} must hold a JSON object, got {type(metadata).__name__}")
    missing = [key for key in REQUIRED_METADATA if metadata.get(key) is None]
    if missing:
        raise NeurokitError(f"{metadata_path} lacks {', '.join(missing)}: without them the prompt cannot be "
                            "checked against the model")
    return PromptCheckpoint(tensors["prompt"], metadata, file_sha256(tensor_path), folder)
