"""Helpers for the extraction tests: tiny model folders, prompt checkpoints, an independent hooked forward pass,
and a CLI wrapper that SIGKILLs itself at a chosen moment.

Run as a script, it runs ``neurokit`` with the given arguments in this process and kills itself with SIGKILL
at the ``at``-th (1-based) occurrence of ``point``::

    python extraction_fixtures.py POINT AT extract --model ... --out ...
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

FAMILY_OF = {"bert": "bert", "roberta": "roberta", "t5": "t5", "t5-gated": "t5", "gpt2": "gpt2", "llama": "llama",
             "embedded": "bert"}
TASK = "toy_sentiment_movies"
HERE = Path(__file__).resolve()
REPO = HERE.parents[2]

# Subprocesses compute with one thread, like the test process (tests/conftest.py), so that their float
# results are bit-identical to in-process runs.
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
                  "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
SUBPROCESS_ENV.pop("RANK", None)
SUBPROCESS_ENV.pop("WORLD_SIZE", None)


def save_model_folder(backbone, folder: Path) -> Path:
    """The backbone in Hugging Face format (safetensors + tokenizer), loadable with ``--model folder``."""
    backbone.model.save_pretrained(folder, safe_serialization=True)
    backbone.tokenizer.save_pretrained(folder)
    return folder


def make_checkpoint(backbone, folder: Path, length: int = 4, seed: int = 0, **metadata) -> Path:
    """A prompt checkpoint of ``length`` positions for ``backbone`` (random normal vectors, scaled up so that
    the prompt visibly moves the activations)."""
    from neurokit.prompts import PromptMetadata, SoftPrompt

    prompt = SoftPrompt.initialise(backbone, length, "uniform", seed=seed)
    fields = {"model_id": backbone.model_id, "weights_sha256": backbone.weights_sha256, "seed": seed}
    fields.update(metadata)
    return prompt.save_pretrained(folder, PromptMetadata(**fields))


# --- an independent reference: hand-built inputs_embeds and plain forward pre-hooks ---------------------------


def projection_modules(model, family: str, stack: str = "encoder") -> list:
    """The FFN output projections of every layer, found from the Hugging Face module layout directly."""
    if family in ("bert", "roberta"):
        return [layer.output.dense for layer in model.base_model.encoder.layer]
    if family == "t5":
        if stack == "decoder":
            return [block.layer[2].DenseReluDense.wo for block in model.decoder.block]
        return [block.layer[1].DenseReluDense.wo for block in model.encoder.block]
    if family == "gpt2":
        return [block.mlp.c_proj for block in model.transformer.h]
    return [layer.mlp.down_proj for layer in model.model.layers]


def full_prompt(backbone, checkpoint_prompt: torch.Tensor, family: str) -> torch.Tensor:
    """The prompt in sequence order: on MLM backbones row 0 is the frozen embedding of the mask token."""
    prompt = checkpoint_prompt.float()
    if family in ("bert", "roberta"):
        mask_row = backbone.model.get_input_embeddings().weight[backbone.tokenizer.mask_token_id].detach()
        prompt = torch.cat([mask_row[None], prompt[1:]])
    return prompt


@torch.no_grad()
def hooked_forward(backbone, prompt: torch.Tensor, texts: list[str], family: str, max_length: int,
                   stack: str = "encoder", layout: str = "prepend") -> tuple[list[np.ndarray], np.ndarray]:
    """Run ``texts`` as one right-padded batch behind ``prompt`` (``layout="append"``: unpadded texts followed by
    the prompt); returns the neurons of every layer (batch, sequence, N) as float32 numpy arrays and the
    attention mask of the inputs (batch, T)."""
    model, tokenizer = backbone.model, backbone.tokenizer
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    batch = ids.shape[0]
    pieces = [prompt[None].expand(batch, -1, -1), model.get_input_embeddings()(ids)]
    masks = [torch.ones(batch, prompt.shape[0], dtype=mask.dtype), mask]
    if layout == "append":
        assert bool(mask.all()), "the reference appends a prompt only to unpadded inputs"
        pieces, masks = pieces[::-1], masks[::-1]
    embeds, full_mask = torch.cat(pieces, dim=1), torch.cat(masks, dim=1)
    captured: dict[int, torch.Tensor] = {}
    handles = [
        module.register_forward_pre_hook(lambda _m, args, i=i: captured.__setitem__(i, args[0].detach().clone()))
        for i, module in enumerate(projection_modules(model, family, stack))
    ]
    try:
        if family == "t5":
            start = torch.full((batch, 1), model.config.decoder_start_token_id)
            model(inputs_embeds=embeds, attention_mask=full_mask, decoder_input_ids=start)
        else:
            model(inputs_embeds=embeds, attention_mask=full_mask)
    finally:
        for handle in handles:
            handle.remove()
    return [captured[i].float().numpy() for i in range(len(handles))], mask.numpy()


def select_positions(neurons: np.ndarray, mask: np.ndarray, roles: list[str], prompt_roles: list[str],
                     decoder: bool = False, layout: str = "prepend") -> np.ndarray:
    """(batch, R, N): the stored positions of one layer's neurons (batch, sequence, N), chosen with numpy;
    ``layout="append"``: the unpadded input comes first and the prompt follows it."""
    prompt_length = len(prompt_roles)
    rows = []
    for example in range(neurons.shape[0]):
        length = int(mask[example].sum())
        values = neurons[example]
        first_input, first_prompt = (prompt_length, 0) if layout == "prepend" else (0, length)
        inputs = values[first_input:first_input + length].astype(np.float64)
        chosen = []
        for role in roles:
            if decoder:
                chosen.append(values[-1])
            elif role in prompt_roles:
                chosen.append(values[first_prompt + prompt_roles.index(role)])
            elif role == "input_mean":
                chosen.append(inputs.mean(axis=0))
            elif role == "input_max":
                chosen.append(inputs.max(axis=0))
            elif role == "last_token":
                chosen.append(values[first_input + length - 1])
            else:
                raise ValueError(role)
        rows.append(np.stack(chosen))
    return np.stack(rows)


def batches(n_examples: int, block_size: int, batch_size: int):
    """The (start, stop) of each forward batch: batches never straddle a block."""
    for block_start in range(0, n_examples, block_size):
        block_stop = min(block_start + block_size, n_examples)
        for start in range(block_start, block_stop, batch_size):
            yield start, min(start + batch_size, block_stop)


# --- CLI processes ------------------------------------------------------------------------------------------


def cli(*arguments: str, env: dict | None = None) -> subprocess.Popen:
    """``python -m neurokit.cli ARGUMENTS`` in a process of its own."""
    return subprocess.Popen([sys.executable, "-m", "neurokit.cli", *arguments], cwd=REPO, env=env or SUBPROCESS_ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def killed_cli(point: str, at: int, *arguments: str) -> subprocess.Popen:
    """The CLI in a process that SIGKILLs itself at the ``at``-th ``point`` (see :func:`_install_kill`)."""
    return subprocess.Popen([sys.executable, str(HERE), point, str(at), *arguments], cwd=REPO, env=SUBPROCESS_ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _install_kill(point: str, at: int) -> None:
    counts = {"n": 0}

    def maybe_die() -> None:
        counts["n"] += 1
        if counts["n"] == at:
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "after_write_block":  # write_block returned; the block may still wait in the writer's queue
        from neurokit.extract.writer import ActivationStoreWriter

        original = ActivationStoreWriter.write_block

        def write_block(self, *args, **kwargs):
            original(self, *args, **kwargs)
            maybe_die()

        ActivationStoreWriter.write_block = write_block
    elif point == "mid_forward":  # inside a forward pass, part of a block's batches done
        from neurokit.models import Backbone

        original_scores = Backbone.class_scores

        def class_scores(self, *args, **kwargs):
            maybe_die()
            return original_scores(self, *args, **kwargs)

        Backbone.class_scores = class_scores
    elif point == "mid_finalize":  # train_sum written by finalize, train_sumsq not yet
        import zarr

        original_setitem = zarr.Array.__setitem__

        def setitem(self, selection, value):
            if self.basename == "train_sumsq":
                maybe_die()
            original_setitem(self, selection, value)

        zarr.Array.__setitem__ = setitem
    else:
        raise ValueError(f"unknown kill point {point!r}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    _install_kill(sys.argv[1], int(sys.argv[2]))
    from neurokit.cli import main

    sys.exit(main(sys.argv[3:]))
