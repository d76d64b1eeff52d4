"""Planning an extraction run: what to extract (:class:`ExtractionConfig`), checked against the backbone, the
prompt and the task, into a :class:`Plan` whose :class:`~neurokit.extract.StoreSpec` fixes the store. Nothing
here touches a store: every one-line error comes before one is created."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import cast

import numpy as np
import torch

from neurokit.errors import ConfigError, NeurokitError
from neurokit.extract.spec import (
    Provenance,
    StoredDtype,
    StoreSpec,
    stored_dtype_policy,
)
from neurokit.models import (
    Backbone,
    NeuronSite,
    PromptLayout,
    Scoring,
    Stack,
    Verbalizer,
    parse_site_name,
)
from neurokit.provenance import command_line
from neurokit.validation import as_enum, as_enums, integer

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


TORCH_DTYPES = {StoredDtype.FLOAT16: torch.float16, StoredDtype.FLOAT32: torch.float32,
                 StoredDtype.BFLOAT16: torch.bfloat16}


@dataclass
class Plan:
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
        return TORCH_DTYPES[self.spec.stored_dtype]


def _resolve_sites(backbone: Backbone, config: ExtractionConfig) -> tuple[list[NeuronSite], bool]:
    """The sites to read, in ascending layer order, and whether their stack is the one that reads the prompt."""
    prompt_stack = backbone.all_sites[0].stack
    named = {parse_site_name(v)[0] for v in config.layers or () if isinstance(v, str)}
    if len(named) > 1:
        raise ConfigError("layers name sites of both the encoder and the decoder; "
                          "extract each stack into its own store")
    # cast: ExtractionConfig.__post_init__ turned a given stack into a Stack member (the field also admits str)
    stack = cast("Stack | None", config.stack) or (named.pop() if named else prompt_stack)
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
    # cast: ExtractionConfig.__post_init__ turned every position into a PositionSelection member
    for selection in cast("tuple[PositionSelection, ...]", config.positions):
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


def plan_extraction(backbone: Backbone, checkpoint, task, split: str, config: ExtractionConfig, *,
                    size: int | None = None, data_seed: int = 0, command: str | None = None) -> Plan:
    """Validate a run and build its :class:`StoreSpec`; touches no store. ``checkpoint``: a
    :class:`~neurokit.prompts.PromptCheckpoint` or its folder; ``task``: a TaskSpec or a registered name."""
    from neurokit.prompts.checkpoint import PromptCheckpoint
    from neurokit.tasks import get_task

    if not isinstance(config, ExtractionConfig):
        raise ConfigError("config must be a neurokit.extract.ExtractionConfig")
    task = get_task(task) if isinstance(task, str) else task
    ids, texts, labels = _load_examples(task, split, size, data_seed)
    if not isinstance(checkpoint, PromptCheckpoint):
        checkpoint = PromptCheckpoint.from_pretrained(checkpoint)
    soft_prompt = checkpoint.soft_prompt(backbone)
    sites, reads_prompt = _resolve_sites(backbone, config)
    if not reads_prompt and backbone.scoring is not Scoring.FIRST_TOKEN:
        raise NeurokitError(f"the T5 decoder's neurons can be stored only with first-token scoring (with "
                            f"{backbone.scoring.value} the decoder runs once per class)")
    roles = _position_roles(config, soft_prompt.position_roles(), backbone.adapter.uses_mask_slot, reads_prompt,
                            backbone.model_id, sites[0].stack)
    if set(roles) & set(soft_prompt.position_roles()):
        backbone.adapter.check_prompt_sees_input(soft_prompt.layout, "store prompt positions")
    limit = backbone.adapter.max_positions(backbone.model.config)
    if limit is not None and soft_prompt.length + config.max_length > limit:
        raise NeurokitError(f"a {soft_prompt.length}-position prompt plus max_length {config.max_length} exceeds "
                            f"{backbone.model_id}'s {limit} positions; lower max_length (--max-length)")
    stored_dtype, policy = stored_dtype_policy(backbone.adapter, config.dtype)
    widths = {site.width for site in sites}
    if len(widths) != 1:  # never happens with the supported families; a store needs one neuron count
        raise NeurokitError(f"the chosen sites have different widths {sorted(widths)}")
    verbalizer = backbone.verbalizer(task.label_words)
    is_train = split == TRAIN_SPLIT
    provenance = Provenance(
        model_id=backbone.model_id, model_revision=backbone.revision or "none",
        weights_sha256=backbone.weights_sha256, model_config=_model_config(backbone),
        prompt_sha256=checkpoint.sha256, prompt_metadata=checkpoint.metadata.to_dict(),
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
    return Plan(spec, sites, reads_prompt, prompt, soft_prompt.position_roles(), soft_prompt.layout, verbalizer,
                 texts, labels)
