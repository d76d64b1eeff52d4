"""Exchange prompts with other tools: PEFT prompt-tuning adapters and google-research ``.npy`` prompts.

PEFT keeps a prompt-tuning adapter as ``adapter_config.json`` plus ``adapter_model.safetensors`` holding one
tensor ``prompt_embeddings`` of shape (num_virtual_tokens × num_transformer_submodules, token_dim). neurokit
exports encoder-only prompts for T5 (``num_transformer_submodules = 1``), as Lester et al. intended; an imported
seq2seq adapter that also prompts the decoder keeps only its encoder half. The google-research prompt-tuning code
releases prompts as ``.npy`` arrays of shape (P, d).

On MLM backbones neurokit keeps the frozen mask slot at position 0. An export writes the full prompt, mask slot
included, and notes that in ``neurokit_prompt.json`` beside the adapter, so a re-import restores it exactly. A
prompt trained elsewhere has no mask slot: importing it into an MLM backbone puts the mask slot in front of its
P vectors (P + 1 positions), which is where neurokit reads the class.

PEFT and google-research place the prompt in front of the input, so imports are ``prepend`` prompts (a
``.npy`` prompt tuned elsewhere behind the input can be imported as ``append``), and a prompt tuned behind the
input (``append``, the default on decoder-only backbones) is not exported: PEFT would run it in front.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from neurokit.errors import NeurokitError
from neurokit.models import Backbone, PromptLayout
from neurokit.prompts.metadata import PromptMetadata
from neurokit.prompts.soft_prompt import SoftPrompt, check_prompt_fits

PEFT_CONFIG_FILE = "adapter_config.json"
PEFT_WEIGHTS_FILE = "adapter_model.safetensors"
SIDE_FILE = "neurokit_prompt.json"

def export_peft(prompt: SoftPrompt, backbone: Backbone, folder: str | Path,
                metadata: PromptMetadata | None = None) -> Path:
    """Write ``prompt`` as a PEFT prompt-tuning adapter for ``backbone`` into ``folder``; ``metadata`` (the
    checkpoint's) goes into the side file beside it."""
    if prompt.layout is not PromptLayout.PREPEND:
        raise NeurokitError(f"PEFT puts a prompt in front of the input; this prompt was tuned in layout "
                            f"{prompt.layout.value!r} and would mean something else there")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    full = prompt().detach().float().cpu().contiguous()
    config = backbone.model.config
    adapter_config = {
        "peft_type": "PROMPT_TUNING",
        "task_type": backbone.adapter.peft_task_type,
        "base_model_name_or_path": backbone.model_id,
        "revision": backbone.revision,
        "num_virtual_tokens": full.shape[0],
        "token_dim": full.shape[1],
        "num_transformer_submodules": 1,
        "num_attention_heads": getattr(config, "num_attention_heads", None) or config.num_heads,
        "num_layers": getattr(config, "num_hidden_layers", None) or config.num_layers,
        "prompt_tuning_init": "RANDOM",
        "prompt_tuning_init_text": None,
        "tokenizer_name_or_path": None,
        "inference_mode": True,
    }
    (folder / PEFT_CONFIG_FILE).write_text(json.dumps(adapter_config, indent=2))
    save_file({"prompt_embeddings": full}, str(folder / PEFT_WEIGHTS_FILE))
    side = {"mask_slot": prompt.has_mask_slot, "weights_sha256": backbone.weights_sha256,
            **(metadata.to_dict() if metadata is not None else {})}
    (folder / SIDE_FILE).write_text(json.dumps(side, indent=2, default=str))
    return folder


def _from_external_vectors(vectors: torch.Tensor, backbone: Backbone, has_mask_slot: bool,
                           layout: PromptLayout | str = PromptLayout.PREPEND) -> SoftPrompt:
    check_prompt_fits(vectors, backbone)
    layout = backbone.adapter.check_layout(layout)
    if has_mask_slot:
        return SoftPrompt.from_full_prompt(vectors, backbone, layout)
    mask_slot = backbone.mask_slot_embedding() if backbone.adapter.uses_mask_slot else None
    return SoftPrompt(vectors, mask_slot, layout)


def import_peft(folder: str | Path, backbone: Backbone) -> SoftPrompt:
    """Read a PEFT prompt-tuning adapter folder as a SoftPrompt for ``backbone``."""
    folder = Path(folder)
    config_path, weights_path = folder / PEFT_CONFIG_FILE, folder / PEFT_WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise NeurokitError(f"{folder} is not a PEFT adapter (needs {PEFT_CONFIG_FILE} and {PEFT_WEIGHTS_FILE})")
    config = json.loads(config_path.read_text())
    if config.get("peft_type") != "PROMPT_TUNING":
        raise NeurokitError(f"{folder} holds a {config.get('peft_type')} adapter, not PROMPT_TUNING")
    weights = load_file(str(weights_path))
    if "prompt_embeddings" not in weights:
        raise NeurokitError(f"{weights_path} has no 'prompt_embeddings' tensor")
    vectors = weights["prompt_embeddings"][: config["num_virtual_tokens"]].float()  # encoder half only
    side_path = folder / SIDE_FILE
    has_mask_slot = bool(json.loads(side_path.read_text()).get("mask_slot")) if side_path.is_file() else False
    return _from_external_vectors(vectors, backbone, has_mask_slot)


def import_npy(path: str | Path, backbone: Backbone, layout: PromptLayout | str = PromptLayout.PREPEND) -> SoftPrompt:
    """Read a google-research prompt-tuning ``.npy`` prompt (P, d) as a SoftPrompt for ``backbone``, placed in
    ``layout`` (google-research prepends)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise NeurokitError(f"cannot read prompt {path}: {error}") from error
    if array.ndim != 2:
        raise NeurokitError(f"prompt {path} has shape {array.shape}; expected (P, d)")
    return _from_external_vectors(torch.from_numpy(np.asarray(array, dtype=np.float32)), backbone, False, layout)
