"""The extraction driver: run a frozen backbone and a soft prompt over a task split into an activation store.

:func:`extract_run` is the whole stage; ``neurokit extract`` (:mod:`neurokit.extract.commands`) is its CLI.
Per batch there is exactly one forward pass (``Backbone.class_scores`` under
:func:`~neurokit.models.capture_activations`): its class scores become ``logits``/``prediction``, and the
hooks' transform selects the stored positions and casts them to the stored dtype **on the device**, so only
the stored values cross to the host. Examples go through in the writer's blocks, a block at a time, so host
memory stays bounded whatever the split's size; compression and IO run on the writer's thread. On CUDA the
device→host copies go into pinned buffers on a side stream, and a block is handed to the writer only after
the next block's forward passes have been queued, so copies overlap compute.

Everything that can be checked is checked before a store is created (one-line
:class:`~neurokit.errors.NeurokitError` each); an error while filling a store this run created removes it
again, while a store being resumed is never deleted (it stays resumable). See docs/store-format.md,
"Extraction".
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurokit.errors import ConfigError, NeurokitError, StoreError
from neurokit.extract.progress import exclusive_lock, live_writers, load_snapshots
from neurokit.extract.schema import read_store_attrs
from neurokit.extract.spec import Provenance, StoredDtype, StoreSpec
from neurokit.extract.writer import ActivationStoreWriter, _identity_mismatch
from neurokit.models import Backbone, NeuronSite, PromptLayout, Scoring, Stack, Verbalizer, parse_site_name
from neurokit.provenance import command_line
from neurokit.storage import require_local
from neurokit.validation import as_enum, as_enums, integer

#: The split whose store keeps per-class statistics (Wang et al.'s baselines) instead of, by default, raw values.
TRAIN_SPLIT = "train"


class PositionSelection(str, Enum):
    """Which positions of each example are stored (their roles are in docs/store-format.md).

    ``prompt`` stores every prompt position in prompt order, wherever the layout puts them: on MLM backbones
    the frozen mask slot (role ``mask``) and the soft vectors (``prompt_k``), the positions Wang et al. and
    Ackermann & Ohmer read; refused for a prompt that cannot see the input (one placed before it in a causal
    model). ``mask`` is the mask slot alone (MLM backbones only). ``input_mean``/``input_max`` aggregate over
    the real input tokens (no padding, no prompt slots); ``last_token`` is the last real input token (never a
    prompt vector; on the T5 decoder: the decoder step whose logits give the class).
    """

    MASK = "mask"
    PROMPT = "prompt"
    INPUT_MEAN = "input_mean"
    INPUT_MAX = "input_max"
    LAST_TOKEN = "last_token"


@dataclass(frozen=True)
class ExtractionConfig:
    """What to extract and how; validated on construction (one-line :class:`~neurokit.errors.ConfigError`).

    Attributes:
        positions: position selections, stored in this order (default: ``prompt``, as both papers).
        layers: ``None`` for every layer of the stack, else layer indices within the stack and/or canonical
            site names (``"encoder.layer.3.ffn"``); stored in ascending layer order.
        stack: which stack's FFN neurons: ``None`` for the one that reads the prompt (encoder of BERT/RoBERTa/
            T5, the decoder of GPT-2/Llama) or the stack the given site names name; T5's ``decoder`` is
            optional and holds only ``last_token`` (the first decoder step, read for the class).
        dtype: stored dtype; ``None`` applies the policy (:func:`stored_dtype_policy`): float32, the
            reference's precision; float16 on request (not for T5: its FFN exceeds the float16 range).
        batch_size: examples per forward pass (capped at ``block_size``; batches never straddle blocks).
        block_size: examples per store block, the unit of writing and resuming.
        max_length: input tokens kept per example (truncation); the prompt comes on top.
        store_train_activations: also keep raw activations of the train split (by default a train store
            holds only its per-class count/sum/sum-of-squares statistics and the per-example variables).
    """

    positions: Sequence[PositionSelection | str] = (PositionSelection.PROMPT,)
    layers: Sequence[int | str] | None = None
    stack: Stack | str | None = None
    dtype: StoredDtype | str | None = None
    batch_size: int = 32
    block_size: int = 64
    max_length: int = 128
    store_train_activations: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", as_enums(self.positions, PositionSelection, "positions", distinct=True))
        if self.layers is not None:
            layers = (self.layers,) if isinstance(self.layers, (str, int)) else tuple(self.layers)
            if not layers:
                raise ConfigError("layers must not be empty (leave it unset for every layer)")
            for layer in layers:
                if isinstance(layer, bool) or not isinstance(layer, (int, np.integer, str)):
                    raise ConfigError(f"layers must be layer indices or site names, got {layer!r}")
                if isinstance(layer, str):
                    parse_site_name(layer)  # malformed names fail here, before any model is loaded
            object.__setattr__(self, "layers", tuple(int(v) if not isinstance(v, str) else v for v in layers))
        if self.stack is not None:
            object.__setattr__(self, "stack", as_enum(self.stack, Stack, "stack"))
        if self.dtype is not None:
            object.__setattr__(self, "dtype", as_enum(self.dtype, StoredDtype, "dtype"))
        for name in ("batch_size", "block_size", "max_length"):
            integer(getattr(self, name), name)
        if not isinstance(self.store_train_activations, bool):
            raise ConfigError(f"store_train_activations must be true or false, got {self.store_train_activations!r}")


def stored_dtype_policy(family: str, requested: StoredDtype | str | None) -> tuple[StoredDtype, str]:
    """The stored dtype for a backbone family and the reason, as recorded in the ``dtype_policy`` attribute.

    float32 by default for every family: the papers' code computes activations, baselines and predictivity in
    float32, and a float16 store changes predictivities (on the embedded MiniLM, 37 % of them by up to 0.082
    and 1.1 % of the top-5 % skill neurons: ``benchmarks/store_precision.py``, docs/benchmarks.md). float16
    (half the size) or bfloat16 on request; T5 is never float16 (its FFN intermediate exceeds the float16
    range).
    """
    requested = None if requested is None else as_enum(requested, StoredDtype, "dtype")
    if family == "t5" and requested is StoredDtype.FLOAT16:
        raise ConfigError("T5 activations are never stored as float16 (its FFN exceeds the float16 range); "
                          "use float32 or bfloat16")
    if requested is not None:
        return requested, f"{requested.value}: requested for {family}"
    return StoredDtype.FLOAT32, f"float32: default for {family} (the reference's precision)"


_TORCH_DTYPES = {StoredDtype.FLOAT16: torch.float16, StoredDtype.FLOAT32: torch.float32,
                 StoredDtype.BFLOAT16: torch.bfloat16}


# --- validation and planning (no store is touched here) ------------------------------------------------------


@dataclass
class _Plan:
    """A validated run: the spec and everything the forward loop needs."""

    spec: StoreSpec
    sites: list[NeuronSite]
    reads_prompt: bool
    prompt: torch.Tensor  # (P, d) full prompt on the backbone's device, in the model's dtype
    prompt_roles: list[str]  # role of each prompt position, in prompt order
    layout: PromptLayout  # where the prompt goes relative to the input
    verbalizer: Verbalizer
    texts: list[str]
    labels: np.ndarray

    @property
    def torch_dtype(self) -> torch.dtype:
        return _TORCH_DTYPES[self.spec.stored_dtype]


def _resolve_sites(backbone: Backbone, config: ExtractionConfig) -> tuple[list[NeuronSite], bool]:
    """The sites to read, in ascending layer order, and whether their stack is the one that reads the prompt."""
    prompt_stack = backbone.all_sites[0].stack
    named = {parse_site_name(v)[0] for v in config.layers or () if isinstance(v, str)}
    if len(named) > 1:
        raise ConfigError("layers name sites of both the encoder and the decoder; "
                          "extract each stack into its own store")
    stack = config.stack or (named.pop() if named else prompt_stack)
    if named and stack not in named:
        raise ConfigError(f"layers name {next(iter(named)).value} sites but stack is {stack.value}")
    available = backbone.sites(stack)
    if not available:
        raise NeurokitError(f"{backbone.model_id} has no {stack.value} stack "
                            f"(its sites: {backbone.all_sites[0].name} … {backbone.all_sites[-1].name})")
    if config.layers is None:
        return list(available), stack is prompt_stack
    by_name = {site.name: site for site in available}
    chosen: dict[int, NeuronSite] = {}
    for value in config.layers:
        if isinstance(value, str):
            if value not in by_name:
                raise NeurokitError(f"{backbone.model_id} has no neuron site {value!r} "
                                    f"(it has {available[0].name} … {available[-1].name})")
            site = by_name[value]
        else:
            if not 0 <= value < len(available):
                raise NeurokitError(f"layer {value} is out of range: {backbone.model_id}'s {stack.value} has "
                                    f"layers 0…{len(available) - 1}")
            site = available[value]
        chosen[site.layer] = site
    return [chosen[layer] for layer in sorted(chosen)], stack is prompt_stack


def _position_roles(config: ExtractionConfig, prompt_roles: list[str], uses_mask_slot: bool, reads_prompt: bool,
                    model_id: str, stack: Stack) -> list[str]:
    roles: list[str] = []
    for selection in config.positions:
        if selection is PositionSelection.MASK and not uses_mask_slot:
            raise NeurokitError(f"position 'mask' needs an MLM backbone with a mask slot; {model_id} has none "
                                f"(use prompt, input_mean, input_max or last_token)")
        if selection is PositionSelection.LAST_TOKEN and stack is Stack.ENCODER:
            # An encoder's last real token is its end-of-sequence token, read like any other position in both
            # directions: it is no summary of the input, unlike a decoder's last token.
            raise NeurokitError(f"position last_token is for decoder stacks (GPT-2, Llama, T5's decoder); "
                                f"{model_id}'s encoder stack has none: use input_mean or input_max")
        if not reads_prompt and selection is not PositionSelection.LAST_TOKEN:
            raise NeurokitError(f"the T5 decoder never sees the prompt or the input tokens: with stack decoder "
                                f"only position last_token can be stored, not {selection.value}")
        if selection is PositionSelection.PROMPT:
            roles += prompt_roles
        else:
            roles.append(selection.value)
    # 'mask' and 'prompt' together would name the mask slot twice; keep its first place.
    return list(dict.fromkeys(roles))


def _max_positions(backbone: Backbone) -> int | None:
    """The longest sequence the backbone's position embeddings allow (None: relative positions, no limit)."""
    config = backbone.model.config
    family = backbone.adapter.family.value
    if family == "t5":
        return None
    limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if limit is None:
        return None
    if family == "roberta":  # RoBERTa's positions start after the padding index
        limit -= (getattr(config, "pad_token_id", 1) or 0) + 1
    return int(limit)


def _check_prompt(checkpoint, backbone: Backbone):
    """The checkpoint's prompt as a SoftPrompt for ``backbone``; one-line errors for a prompt of another model."""
    from neurokit.prompts.soft_prompt import SoftPrompt

    metadata = checkpoint.metadata
    prompt = checkpoint.prompt
    if prompt.ndim != 2 or prompt.shape[1] != backbone.embedding_dim:
        raise NeurokitError(f"prompt {checkpoint.path} of shape {tuple(prompt.shape)} does not fit "
                            f"{backbone.model_id}, whose embeddings have width {backbone.embedding_dim}")
    recorded_weights = metadata.get("weights_sha256")
    recorded_model = metadata.get("model_id")
    source = metadata.get("model_source")
    hint = f"; load that model (--model {source})" if source else ""
    if recorded_weights and recorded_weights != backbone.weights_sha256:
        raise NeurokitError(f"prompt {checkpoint.path} was trained on {recorded_model!r} (weights "
                            f"{recorded_weights[:12]}…), not on {backbone.model_id!r} (weights "
                            f"{backbone.weights_sha256[:12]}…){hint}")
    if not recorded_weights and recorded_model and recorded_model != backbone.model_id:
        raise NeurokitError(f"prompt {checkpoint.path} was trained on {recorded_model!r}, "
                            f"not on {backbone.model_id!r}{hint}")
    mask_slot = metadata.get("mask_slot")
    if mask_slot is not None and bool(mask_slot) != backbone.adapter.uses_mask_slot:
        raise NeurokitError(f"prompt {checkpoint.path} was made for a backbone {'with' if mask_slot else 'without'} "
                            f"a mask slot; {backbone.model_id} is a {backbone.adapter.family.value} model")
    return SoftPrompt.from_full_prompt(prompt, backbone, checkpoint.layout)


def _model_config(backbone: Backbone) -> dict:
    """The model config as JSON values, without the fields that name where it was loaded from or by what
    transformers version (the weights hash identifies the weights; versions are recorded apart)."""
    config = json.loads(json.dumps(backbone.model.config.to_dict(), sort_keys=True, default=str))
    for key in ("_name_or_path", "_commit_hash", "transformers_version"):
        config.pop(key, None)
    return config


def _task_description(task, size: int | None, data_seed: int, max_length: int) -> dict:
    """The task spec as JSON, with how this run loaded and tokenised it."""
    source = task.source
    return {
        "name": task.name, "task_type": task.task_type.value, "text_fields": list(task.text_fields),
        "label_names": list(task.label_names), "label_words": list(task.label_words), "template": task.template,
        "adversarial_of": task.adversarial_of,
        "source": source.describe() if source is not None else None,
        "size": size, "data_seed": data_seed, "max_length": max_length,
    }


def _load_examples(task, split: str, size: int | None, data_seed: int) -> tuple[list[str], list[str], np.ndarray]:
    """Example ids, rendered texts and labels of the split; one-line errors for a missing or empty split."""
    from neurokit.tasks import load_split

    if split not in task.splits:
        raise NeurokitError(f"task {task.name!r} has no {split!r} split (it has {', '.join(task.splits) or 'none'})")
    dataset = load_split(task, split, size=size, seed=data_seed)
    if len(dataset) == 0:
        raise NeurokitError(f"split {split!r} of task {task.name!r} is empty")
    ids = [str(value) for value in dataset["id"]]
    texts = [task.render(example) for example in dataset]
    labels = np.asarray(dataset["label"], dtype=np.int64)
    n_classes = len(task.label_names)
    lowest = 0 if split == TRAIN_SPLIT else -1
    bad = np.flatnonzero((labels < lowest) | (labels >= n_classes))
    if bad.size:
        raise NeurokitError(f"split {split!r} of task {task.name!r} has labels outside {lowest}…{n_classes - 1} "
                            f"(example {ids[bad[0]]!r} has {labels[bad[0]]})")
    return ids, texts, labels


def check_output_path(out: str | os.PathLike) -> Path:
    """``out`` as an absolute path, if a store can be created there (its nearest existing ancestor is a
    writable directory) or it is an existing directory; else one-line StoreError. Extraction writes to the local
    disk only: its resume and multi-writer guarantees rest on atomic renames and file locks (docs/store-format.md)."""
    require_local(out, "an activation store", "extract to a local folder, then copy the finished store "
                  "(e.g. aws s3 sync, gsutil rsync, azcopy)")
    path = Path(os.path.abspath(out))
    if path.exists():
        if not path.is_dir():
            raise StoreError(f"cannot write a store at {path}: it exists and is not a directory")
        if not os.access(path, os.W_OK):
            raise StoreError(f"cannot write a store at {path}: permission denied")
        return path
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise StoreError(f"cannot write a store at {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise StoreError(f"cannot write a store at {path}: {ancestor} is not writable")
    return path


def _plan_extraction(backbone: Backbone, checkpoint, task, split: str, config: ExtractionConfig, *,
                    size: int | None = None, data_seed: int = 0, command: str | None = None) -> _Plan:
    """Validate a run and build its :class:`StoreSpec`; touches no store. ``checkpoint``: a
    :class:`~neurokit.prompts.PromptCheckpoint` or its folder; ``task``: a TaskSpec or a registered name."""
    from neurokit.prompts.checkpoint import PromptCheckpoint, load_checkpoint
    from neurokit.tasks import get_task

    if not isinstance(config, ExtractionConfig):
        raise ConfigError("config must be a neurokit.extract.extraction.ExtractionConfig")
    task = get_task(task) if isinstance(task, str) else task
    ids, texts, labels = _load_examples(task, split, size, data_seed)
    if not isinstance(checkpoint, PromptCheckpoint):
        checkpoint = load_checkpoint(checkpoint)
    soft_prompt = _check_prompt(checkpoint, backbone)
    sites, reads_prompt = _resolve_sites(backbone, config)
    family = backbone.adapter.family.value
    if not reads_prompt and backbone.scoring is not Scoring.FIRST_TOKEN:
        raise NeurokitError(f"the T5 decoder's neurons can be stored only with first-token scoring (with "
                            f"{backbone.scoring.value} the decoder runs once per class)")
    roles = _position_roles(config, soft_prompt.position_roles(), backbone.adapter.uses_mask_slot, reads_prompt,
                            backbone.model_id, sites[0].stack)
    if set(roles) & set(soft_prompt.position_roles()):
        backbone.adapter.check_prompt_sees_input(soft_prompt.layout, "store prompt positions")
    limit = _max_positions(backbone)
    if limit is not None and soft_prompt.length + config.max_length > limit:
        raise NeurokitError(f"a {soft_prompt.length}-position prompt plus max_length {config.max_length} exceeds "
                            f"{backbone.model_id}'s {limit} positions; lower max_length (--max-length)")
    stored_dtype, policy = stored_dtype_policy(family, config.dtype)
    widths = {site.width for site in sites}
    if len(widths) != 1:  # never happens with the supported families; a store needs one neuron count
        raise NeurokitError(f"the chosen sites have different widths {sorted(widths)}")
    verbalizer = backbone.verbalizer(task.label_words)
    is_train = split == TRAIN_SPLIT
    provenance = Provenance(
        model_id=backbone.model_id, model_revision=backbone.revision or "none",
        weights_sha256=backbone.weights_sha256, model_config=_model_config(backbone),
        prompt_sha256=checkpoint.sha256, prompt_metadata=dict(checkpoint.metadata),
        task=_task_description(task, size, data_seed, config.max_length), template=task.template,
        verbalizer=verbalizer.describe(), split=split, dtype_policy=policy,
        prompt_layout=soft_prompt.layout.value, command=command if command is not None else command_line(),
    )
    spec = StoreSpec(
        example_ids=ids, class_names=list(task.label_names), sites=[site.name for site in sites],
        layers=[site.layer for site in sites], position_roles=roles, n_neurons=widths.pop(),
        stored_dtype=stored_dtype, provenance=provenance,
        store_raw_activations=(not is_train) or config.store_train_activations, compute_train_stats=is_train,
        block_size=config.block_size,
    )
    weight = backbone.model.get_input_embeddings().weight
    prompt = soft_prompt().detach().to(device=weight.device, dtype=weight.dtype)
    return _Plan(spec, sites, reads_prompt, prompt, soft_prompt.position_roles(), soft_prompt.layout, verbalizer,
                 texts, labels)


# --- position selection on the device -----------------------------------------------------------------------


class _PositionSelector:
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
                values = neurons.float().masked_fill(~self._inputs, 0.0)
                piece = (values.sum(dim=1) / self._lengths.unsqueeze(-1)).unsqueeze(1)
            elif kind == "input_max":
                piece = neurons.masked_fill(~self._inputs, -math.inf).amax(dim=1, keepdim=True)
            else:  # last_token: the last real input token
                piece = neurons.gather(1, self._last.view(batch, 1, 1).expand(batch, 1, width))
            pieces.append(piece.to(self.dtype))
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=1)


# --- staging a block on the host ----------------------------------------------------------------------------


@dataclass
class _StagedBlock:
    """One block's stored values on the host; ``ready`` is the CUDA event after which they are all there."""

    index: int
    activation: torch.Tensor  # (B, L, R, N) in the stored dtype
    logits: torch.Tensor  # (B, C) float32
    lengths: torch.Tensor  # (B,) int64
    ready: Any = None

    def wait(self) -> None:
        if self.ready is not None:
            self.ready.synchronize()


class _Staging:
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
        return tuple(torch.empty(shape, dtype=dtype, pin_memory=pin) for shape, dtype in zip(self.shapes, self.dtypes))

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
            for buffer, value in zip(self._current, values):
                buffer[offset:offset + size].copy_(value)
            return
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            for buffer, value in zip(self._current, values):
                buffer[offset:offset + size].copy_(value, non_blocking=True)
                value.record_stream(self.stream)  # its memory is not reused before the copy is done

    def end(self) -> _StagedBlock:
        views = [buffer[:self._rows] for buffer in self._current]
        ready = None
        if self.cuda:
            ready = torch.cuda.Event()
            ready.record(self.stream)
        return _StagedBlock(self._index, *views, ready=ready)


# --- the run ------------------------------------------------------------------------------------------------


def _fill(writer: ActivationStoreWriter, plan: _Plan, backbone: Backbone, config: ExtractionConfig,
          bar) -> None:
    """Forward every pending block of the writer's shard and hand it to the writer, in ascending order."""
    from neurokit.models import capture_activations

    spec = plan.spec
    selector = _PositionSelector(spec.position_roles, plan.prompt_roles, plan.reads_prompt, plan.torch_dtype,
                                 plan.layout)
    staging = _Staging(backbone.device, spec.block_size, spec.activation_shape[1:], len(spec.class_names),
                       plan.torch_dtype)
    batch_size = min(config.batch_size, spec.block_size)
    started = time.perf_counter()
    written_bytes = 0

    def hand_over(staged: _StagedBlock) -> None:
        nonlocal written_bytes
        staged.wait()
        rows = spec.block_slice(staged.index)
        logits = staged.logits.numpy()
        writer.write_block(staged.index, staged.activation, label=plan.labels[rows],
                           prediction=logits.argmax(axis=1), logits=logits, input_length=staged.lengths.numpy())
        written_bytes += staged.activation.numel() * staged.activation.element_size()
        bar.update(rows.stop - rows.start)
        elapsed = max(time.perf_counter() - started, 1e-9)
        bar.set_postfix_str(f"{written_bytes / elapsed / 1e6:.1f} MB/s", refresh=False)

    waiting: _StagedBlock | None = None
    with torch.inference_mode(), capture_activations(backbone.model, plan.sites, transform=selector) as captured:
        for block in writer.pending_blocks():
            rows = spec.block_slice(block)
            staging.begin(block, rows.stop - rows.start)
            for start in range(rows.start, rows.stop, batch_size):
                stop = min(start + batch_size, rows.stop)
                encoded = backbone.tokenize(plan.texts[start:stop], config.max_length)
                mask = encoded["attention_mask"]
                selector.set_batch(mask)
                captured.clear()  # a site whose hook did not fire must fail loudly, not reuse the last batch
                scores = backbone.class_scores(plan.prompt, encoded["input_ids"], mask, plan.verbalizer, plan.layout)
                activation = torch.stack([captured[site.name] for site in plan.sites], dim=1)
                staging.add(start - rows.start, activation, scores.float(), mask.sum(dim=1))
            staged = staging.end()
            if waiting is not None:
                hand_over(waiting)
                waiting = None
            if staging.defers_writing:
                waiting = staged
            else:
                hand_over(staged)
        if waiting is not None:
            hand_over(waiting)


def _check_shard(shard) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in shard)
    except (TypeError, ValueError):
        raise ConfigError(f"shard must be (index, count), got {shard!r}") from None
    if not 0 <= index < count:
        raise ConfigError(f"shard must be (index, count) with 0 <= index < count, got ({index}, {count})")
    return index, count


def _resumes(path: Path, spec: StoreSpec, overwrite: bool) -> bool:
    """Whether ``path`` holds this very run (resumed); a store of another run is refused unless ``overwrite``."""
    if not path.exists():
        return False
    try:
        attrs = read_store_attrs(path)
    except StoreError as error:
        raise StoreError(f"{error}; not touching it: remove it or choose another --out") from None
    mismatch = _identity_mismatch(attrs, spec)
    if mismatch is None:
        return True
    if not overwrite:
        raise StoreError(f"{path} holds another run ({mismatch}); pass --overwrite (overwrite=True) to replace it")
    return False


def _make_parents(path: Path) -> list[Path]:
    """Create the missing parent folders of ``path``; returns those created, deepest first."""
    missing = []
    folder = path.parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _discard_new_store(path: Path, shard: tuple[int, int]) -> bool:
    """Remove the incomplete store this run created, unless another writer has a share in it; returns
    whether it is gone. Under the lock on the parent folder, so no writer registers meanwhile."""
    try:
        with exclusive_lock(path.parent):
            if not path.exists():
                return True
            if read_store_attrs(path).get("complete"):
                return False
            if live_writers(path) or any(other != shard for other in load_snapshots(path)):
                return False
            shutil.rmtree(path)
            return True
    except (OSError, NeurokitError):
        return False


def extract_run(
    backbone: Backbone,
    checkpoint,
    task,
    split: str,
    out: str | os.PathLike,
    config: ExtractionConfig | None = None,
    *,
    shard: tuple[int, int] = (0, 1),
    overwrite: bool = False,
    size: int | None = None,
    data_seed: int = 0,
    progress: bool = True,
    command: str | None = None,
) -> Path:
    """Run ``backbone`` with the prompt of ``checkpoint`` over ``split`` of ``task`` into the store ``out``.

    Args:
        backbone: a loaded :class:`~neurokit.models.Backbone` (its device is where the forward passes run).
        checkpoint: a :class:`~neurokit.prompts.PromptCheckpoint` or its folder; refused if it was made for
            another model (embedding width, recorded weights hash or model id, mask slot).
        task: a :class:`~neurokit.tasks.TaskSpec` or a registered task name (or spec-file path).
        split: ``train``, ``dev`` or ``test``. A ``train`` store holds per-class statistics (and raw
            activations only with ``config.store_train_activations``).
        out: the store's path; missing parent folders are created.
        config: what to extract (:class:`ExtractionConfig`; default: prompt positions, every layer).
        shard: (i, n): this process writes blocks ``b % n == i``; all n together fill the store and the last
            one to finish completes it. Same-run stores are resumed; another run's store is refused unless
            ``overwrite`` (then replaced).
        size, data_seed: which examples (see :func:`neurokit.tasks.load_split`).
        progress: show a tqdm bar (examples/s, MB/s of stored activations).
        command: the command line recorded in the store (default: this process's ``sys.argv``).

    Returns:
        The store's absolute path. Whether it is complete (all shards done) is its ``complete`` attribute.

    Raises:
        NeurokitError: one line, before any store is created, for every invalid input; and when writing fails
        (e.g. a full disk): a store this call created is then removed, a resumed one stays resumable.
    """
    config = ExtractionConfig() if config is None else config
    shard = _check_shard(shard)
    path = check_output_path(out)
    plan = _plan_extraction(backbone, checkpoint, task, split, config, size=size, data_seed=data_seed,
                           command=command)
    resuming = _resumes(path, plan.spec, overwrite)
    created_folders = _make_parents(path)
    try:
        writer = ActivationStoreWriter.create_or_resume(path, plan.spec, overwrite=overwrite, shard=shard)
    except BaseException:
        _remove_empty(created_folders)
        raise
    from tqdm.auto import tqdm

    spec = plan.spec
    owned = range(shard[0], spec.n_blocks, shard[1])
    pending = set(writer.pending_blocks())
    size_of = lambda block: spec.block_slice(block).stop - spec.block_slice(block).start  # noqa: E731
    bar = tqdm(total=sum(size_of(b) for b in owned), initial=sum(size_of(b) for b in owned if b not in pending),
               unit="ex", desc=f"extract {split}" + (f" [{shard[0]}/{shard[1]}]" if shard[1] > 1 else ""),
               disable=not progress, dynamic_ncols=True)
    try:
        with writer:
            _fill(writer, plan, backbone, config, bar)
            writer.finalize()
    except Exception as error:
        bar.close()
        removed = not resuming and _discard_new_store(path, shard)
        if removed:
            _remove_empty(created_folders)
        if not isinstance(error, (NeurokitError, OSError)):
            raise
        outcome = "removed the incomplete new store" if removed else "the store is kept and can be resumed"
        message = f"{str(error).splitlines()[0] if str(error) else type(error).__name__}; {outcome}"
        raise (type(error) if isinstance(error, NeurokitError) else StoreError)(message) from error
    finally:
        bar.close()
    return path
