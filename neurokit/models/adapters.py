"""One adapter per architecture family: where neurons are, where the prompt goes, how classes are scored.

The soft prompt joins the tokenized input at the embedding level of the stack that reads it (T5: the encoder
input only, never the decoder), in one of two layouts (:class:`PromptLayout`): in front of the input (the
prompt at positions ``0..P-1``; BERT, RoBERTa and T5 always, decoder-only models on request) or behind it
(the prompt at the last P positions; the default of decoder-only models, whose causal attention would keep a
prepended prompt from ever seeing the input). :meth:`PromptLayout.prompt_slice` is the one answer to "where
are the prompt positions" that every stage uses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, cast

import torch
import torch.nn.functional as F
from torch import nn

from neurokit.errors import NeurokitError
from neurokit.models.sites import NeuronSite, Stack

if TYPE_CHECKING:  # types only: transformers is imported where a model is loaded, not with neurokit
    from transformers import PreTrainedModel
    from transformers.models.auto.auto_factory import _BaseAutoModelClass as AutoModelClass


class Family(str, Enum):
    BERT = "bert"
    ROBERTA = "roberta"
    T5 = "t5"
    GPT2 = "gpt2"
    LLAMA = "llama"


class Scoring(str, Enum):
    """How class scores are read from the model (the verbaliser's read-out)."""

    MLM_HEAD = "mlm-head"  # MLM logits at the mask slot (position 0) over the label words (Wang et al.)
    TIED_EMBEDDING = "tied-embedding"  # mask-slot hidden state · frozen input embeddings of the label words
    FIRST_TOKEN = "first-token"  # T5: first decoder step's logits over the label words' first tokens
    SEQUENCE_LOGLIK = "sequence-loglik"  # T5: log-likelihood of each label's whole token sequence
    NEXT_TOKEN = "next-token"  # decoder-only: next-token logits after the input over the label words' first tokens


@dataclass(frozen=True)
class Verbalizer:
    """Label words and their token ids; ``token_ids[c]`` is the token sequence of class ``c``'s word."""

    label_words: tuple[str, ...]
    token_ids: tuple[tuple[int, ...], ...]
    scoring: Scoring

    def first_token_ids(self) -> torch.Tensor:
        firsts = [ids[0] for ids in self.token_ids]
        if len(set(firsts)) != len(firsts):
            raise NeurokitError(
                f"label words {self.label_words} share a first token; first-token scoring cannot tell them apart"
            )
        return torch.tensor(firsts)

    def describe(self) -> dict:
        return {"label_words": list(self.label_words), "token_ids": [list(t) for t in self.token_ids],
                "scoring": self.scoring.value}


class PromptLayout(str, Enum):
    """Where the P soft-prompt vectors go relative to the input tokens (docs/methods.md, section 6).

    Callers always pass right-padded inputs (batch, T); the layout arranges the prompted sequence of
    S = P + T positions:

    - ``prepend``: prompt, then the right-padded input. The prompt is at ``0..P-1``, example ``i``'s tokens
      at ``P..P+len_i-1``. Lester et al., PEFT, and Wang et al.'s MLM class.
    - ``append``: the input moved to the right end (left padding), then the prompt. The prompt is at the last
      P positions ``S-P..S-1`` of every example, example ``i``'s tokens at ``T-len_i..T-1``. Wang et al.'s
      released decoder class appends the prompt; left padding (with position ids counted over real tokens
      only, see :class:`DecoderOnlyAdapter`) is our choice, so that a batched example is computed exactly as
      it is alone.
    """

    PREPEND = "prepend"
    APPEND = "append"

    def prompt_slice(self, sequence_length: int, prompt_length: int) -> slice:
        """The positions of the ``prompt_length`` prompt vectors in a prompted batch of ``sequence_length``
        positions; the same for every example of the batch."""
        if self is PromptLayout.PREPEND:
            return slice(0, prompt_length)
        return slice(sequence_length - prompt_length, sequence_length)

    def arrange(self, prompt: torch.Tensor, token_embeds: torch.Tensor,
                attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs_embeds`` (B, P + T, d) and ``attention_mask`` (B, P + T) of a (P, d) prompt joined to the
        right-padded token embeddings (B, T, d) with their mask (B, T)."""
        batch = token_embeds.shape[0]
        prompt = prompt.to(token_embeds.dtype).unsqueeze(0).expand(batch, -1, -1)
        prompt_mask = attention_mask.new_ones(batch, prompt.shape[1])
        if self is PromptLayout.PREPEND:
            return torch.cat([prompt, token_embeds], dim=1), torch.cat([prompt_mask, attention_mask], dim=1)
        if bool((attention_mask[:, 1:] > attention_mask[:, :-1]).any()):  # the rotation below assumes it
            raise NeurokitError("appending a prompt needs right-padded inputs (as Backbone.tokenize makes them)")
        order = _left_padding_order(attention_mask)
        tokens = token_embeds.gather(1, order.unsqueeze(-1).expand(-1, -1, token_embeds.shape[-1]))
        return torch.cat([tokens, prompt], dim=1), torch.cat([attention_mask.gather(1, order), prompt_mask], dim=1)

    def input_mask(self, attention_mask: torch.Tensor, prompt_length: int) -> torch.Tensor:
        """bool (B, P + T): True at the real input tokens of the prompted sequence (no prompt, no padding),
        for inputs with the right-padded mask (B, T)."""
        real = attention_mask.bool()
        no_prompt = real.new_zeros(real.shape[0], prompt_length)
        if self is PromptLayout.PREPEND:
            return torch.cat([no_prompt, real], dim=1)
        return torch.cat([real.gather(1, _left_padding_order(attention_mask)), no_prompt], dim=1)

    def last_input_position(self, attention_mask: torch.Tensor, prompt_length: int) -> torch.Tensor:
        """int64 (B,): position of each example's last real input token in the prompted sequence."""
        lengths = attention_mask.sum(dim=1)
        if self is PromptLayout.PREPEND:
            return prompt_length + lengths - 1
        return torch.full_like(lengths, attention_mask.shape[1] - 1)


#: The layout of prompts and stores that record none: everything neurokit made before layouts existed.
LEGACY_LAYOUT = PromptLayout.PREPEND


def embedding_matrix(model: PreTrainedModel) -> torch.Tensor:
    """The input token embeddings (vocab, d) of ``model``: its embedding module's weight, not a copy."""
    # An embedding module's weight is a Parameter; torch types any Module attribute it does not declare as
    # Tensor | Module.
    return cast(torch.Tensor, model.get_input_embeddings().weight)


def _left_padding_order(attention_mask: torch.Tensor) -> torch.Tensor:
    """int64 (B, T): for each target position, the source position that moves a right-padded row's real
    tokens to its right end (a rotation by T - len: padding comes first, token order is kept)."""
    batch, length = attention_mask.shape
    shift = length - attention_mask.sum(dim=1, keepdim=True)
    return (torch.arange(length, device=attention_mask.device).expand(batch, -1) - shift) % length


def _select_neurons(module: nn.Module, keep: torch.Tensor, produces: bool) -> None:
    """Keep the neurons ``keep`` of a projection that produces them (``produces``) or reads them."""
    from transformers.pytorch_utils import Conv1D

    if not isinstance(module, (nn.Linear, Conv1D)):
        raise NeurokitError(f"cannot resize an FFN projection of type {type(module).__name__}")
    linear = isinstance(module, nn.Linear)  # nn.Linear stores (out, in); GPT-2's Conv1D stores (in, out)
    axis = int(linear != produces)
    keep = keep.to(module.weight.device)
    module.weight = nn.Parameter(module.weight.detach().index_select(axis, keep).contiguous(),
                                 requires_grad=module.weight.requires_grad)
    if produces and module.bias is not None:
        module.bias = nn.Parameter(module.bias.detach().index_select(0, keep).contiguous(),
                                   requires_grad=module.bias.requires_grad)
    count = int(keep.numel())
    if linear:
        setattr(module, "out_features" if produces else "in_features", count)
    else:
        setattr(module, "nf" if produces else "nx", count)


class ArchitectureAdapter(ABC):
    """What neurokit needs to know about one architecture family."""

    family: Family
    model_types: tuple[str, ...]
    default_scoring: Scoring
    allowed_scorings: tuple[Scoring, ...]
    #: MLM backbones keep a frozen mask-token embedding at prompt position 0 (Wang et al.).
    uses_mask_slot: bool = False
    #: FFN projections inside one layer block: those whose outputs are the neurons, and the output projection
    #: whose input they are. Empty ``ffn_inputs``: neurokit cannot resize this family's FFNs.
    ffn_inputs: tuple[str, ...] = ()
    ffn_output: str = ""
    #: Causal attention: a position sees only itself and the positions before it.
    causal: bool = False
    #: The layouts a prompt may have on this family, the default first.
    layouts: tuple[PromptLayout, ...] = (PromptLayout.PREPEND,)
    #: FFN activations can exceed the float16 range (T5), so they are never stored as float16.
    float16_overflows: bool = False
    #: The PEFT ``task_type`` whose model class prepends a prompt the way neurokit does for this family.
    peft_task_type: str = ""

    @property
    def default_layout(self) -> PromptLayout:
        return self.layouts[0]

    def check_layout(self, layout: PromptLayout | str | None) -> PromptLayout:
        """``layout`` as the enum (None: the family's default); a layout the family does not take raises."""
        if layout is None:
            return self.default_layout
        try:
            layout = PromptLayout(layout)
        except ValueError:
            raise NeurokitError(f"prompt layout must be one of {', '.join(m.value for m in PromptLayout)}, "
                                f"got {layout!r}") from None
        if layout not in self.layouts:
            raise NeurokitError(f"prompt layout {layout.value!r} does not fit {self.family.value}; use "
                                f"{' or '.join(m.value for m in self.layouts)}")
        return layout

    def prompt_sees_input(self, layout: PromptLayout) -> bool:
        """Whether the prompt positions attend to the input: not when a causal model has the prompt first."""
        return not (self.causal and PromptLayout(layout) is PromptLayout.PREPEND)

    def check_prompt_sees_input(self, layout: PromptLayout, what: str) -> None:
        """Refuse (one line) to ``what`` at prompt positions that never see the input: their activations are
        the same for every example, so no neuron there can predict anything."""
        if not self.prompt_sees_input(layout):
            raise NeurokitError(f"cannot {what}: a prompt placed before the input of a causal "
                                f"{self.family.value} model never attends to the input, so its positions are the "
                                f"same for every example; use a prompt tuned with --prompt-layout append")

    def max_positions(self, config) -> int | None:
        """The longest sequence (prompt + input tokens) the position embeddings of a model with the transformers
        ``config`` allow; None: no limit (relative positions)."""
        limit = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
        return None if limit is None else int(limit)

    @abstractmethod
    def auto_class(self, want_head: bool) -> type[AutoModelClass]:
        """The transformers Auto class whose head fits the family (``want_head``: with the MLM head, where
        the family's head is optional)."""

    @abstractmethod
    def sites(self, model: nn.Module) -> list[NeuronSite]:
        """All FFN neuron sites of ``model``, encoder stack first, in layer order."""

    @abstractmethod
    def class_scores(self, model: PreTrainedModel, prompt: torch.Tensor, input_ids: torch.Tensor,
                     attention_mask: torch.Tensor, verbalizer: Verbalizer, layout: PromptLayout) -> torch.Tensor:
        """Class scores (batch, classes), unnormalised, for right-padded inputs (batch, T) joined to a (P, d)
        prompt in ``layout``."""

    def prepared_inputs(self, model: PreTrainedModel, prompt: torch.Tensor, input_ids: torch.Tensor,
                        attention_mask: torch.Tensor,
                        layout: PromptLayout) -> tuple[torch.Tensor, torch.Tensor]:
        """``inputs_embeds`` (batch, P + T, d) and ``attention_mask`` (batch, P + T) of the prompted input."""
        token_embeds = model.get_input_embeddings()(input_ids)
        return layout.arrange(prompt, token_embeds, attention_mask)

    def ffn_projections(self, model: nn.Module, site: NeuronSite) -> tuple[list[nn.Module], nn.Module]:
        """The modules whose outputs are ``site``'s neurons, and its output projection (whose input they are)."""
        if not self.ffn_inputs:
            raise NeurokitError(f"neurokit cannot resize the FFNs of {self.family.value} models")
        block = site.module_path.removesuffix("." + self.ffn_output)
        return [model.get_submodule(f"{block}.{path}") for path in self.ffn_inputs], site.resolve(model)

    def keep_ffn_neurons(self, model: nn.Module, site: NeuronSite, keep: torch.Tensor) -> None:
        """Shrink ``site``'s FFN in place to the neurons ``keep`` (int64 indices, in the order given): the rows
        that produce them and the output projection's columns that read them; the output bias is unchanged."""
        inputs, output = self.ffn_projections(model, site)
        for module in inputs:
            _select_neurons(module, keep, produces=True)
        _select_neurons(output, keep, produces=False)

    @staticmethod
    def _sites_from(stack: Stack, layers: nn.ModuleList, layers_path: str, projection: str,
                    width_of) -> list[NeuronSite]:
        return [
            NeuronSite(stack, index, width_of(block.get_submodule(projection)),
                       f"{layers_path}.{index}.{projection}")
            for index, block in enumerate(layers)
        ]


class EncoderMLMAdapter(ArchitectureAdapter):
    """BERT and RoBERTa: neurons are the ``intermediate`` output after GELU, the input of ``output.dense``."""

    default_scoring = Scoring.MLM_HEAD
    allowed_scorings = (Scoring.MLM_HEAD, Scoring.TIED_EMBEDDING)
    uses_mask_slot = True
    ffn_inputs = ("intermediate.dense",)
    ffn_output = "output.dense"
    peft_task_type = "FEATURE_EXTRACTION"

    def __init__(self, family: Family, model_types: tuple[str, ...], positions_after_padding: bool = False):
        self.family = family
        self.model_types = model_types
        #: RoBERTa numbers positions from ``pad_token_id + 1``, so that many positions are never used.
        self._positions_after_padding = positions_after_padding

    def max_positions(self, config) -> int | None:
        limit = super().max_positions(config)
        if limit is not None and self._positions_after_padding:
            limit -= (getattr(config, "pad_token_id", 1) or 0) + 1
        return limit

    def auto_class(self, want_head: bool) -> type[AutoModelClass]:
        import transformers

        return transformers.AutoModelForMaskedLM if want_head else transformers.AutoModel

    def sites(self, model):
        prefix = model.base_model_prefix
        encoder = model.base_model.encoder
        path = f"{prefix}.encoder.layer" if model is not model.base_model else "encoder.layer"
        return self._sites_from(Stack.ENCODER, encoder.layer, path, self.ffn_output, lambda m: m.in_features)

    def class_scores(self, model, prompt, input_ids, attention_mask, verbalizer, layout):
        inputs_embeds, mask = self.prepared_inputs(model, prompt, input_ids, attention_mask, layout)
        if verbalizer.scoring is Scoring.MLM_HEAD:
            logits = model(inputs_embeds=inputs_embeds, attention_mask=mask).logits[:, 0, :]  # (B, V)
            return torch.stack([logits[:, list(ids)].mean(dim=1) for ids in verbalizer.token_ids], dim=1)
        # Tied-embedding read-out: the model needs no MLM head; the label vectors are frozen input embeddings.
        hidden = model.base_model(inputs_embeds=inputs_embeds, attention_mask=mask).last_hidden_state[:, 0, :]
        embedding = embedding_matrix(model)
        label_vectors = torch.stack([embedding[list(ids)].mean(dim=0) for ids in verbalizer.token_ids])
        return hidden @ label_vectors.to(hidden.dtype).T


class T5Adapter(ArchitectureAdapter):
    """T5 v1.0 (ReLU ``wi``) and v1.1 / LM-adapted (gated ``act(wi_0 x) * wi_1 x``): neurons are ``wo``'s input.

    The prompt goes to the encoder only; the decoder starts from ``decoder_start_token_id``.
    """

    family = Family.T5
    model_types = ("t5",)
    default_scoring = Scoring.FIRST_TOKEN
    allowed_scorings = (Scoring.FIRST_TOKEN, Scoring.SEQUENCE_LOGLIK)
    float16_overflows = True  # its FFN intermediate exceeds the float16 range
    peft_task_type = "SEQ_2_SEQ_LM"

    def max_positions(self, config) -> int | None:
        return None  # relative position buckets: no learned limit

    def auto_class(self, want_head: bool) -> type[AutoModelClass]:
        import transformers

        return transformers.AutoModelForSeq2SeqLM

    def sites(self, model):
        width = lambda wo: wo.in_features  # noqa: E731 - same rule for both stacks
        sites = self._sites_from(Stack.ENCODER, model.encoder.block, "encoder.block", "layer.1.DenseReluDense.wo",
                                 width)
        decoder = getattr(model, "decoder", None)
        if decoder is not None:  # the decoder's FFN is the third sub-layer (after cross-attention)
            sites += self._sites_from(Stack.DECODER, decoder.block, "decoder.block", "layer.2.DenseReluDense.wo",
                                      width)
        return sites

    def class_scores(self, model, prompt, input_ids, attention_mask, verbalizer, layout):
        inputs_embeds, mask = self.prepared_inputs(model, prompt, input_ids, attention_mask, layout)
        encoder_out = model.get_encoder()(inputs_embeds=inputs_embeds, attention_mask=mask)
        batch = input_ids.shape[0]
        start = torch.full((batch, 1), model.config.decoder_start_token_id, dtype=torch.long,
                           device=input_ids.device)
        if verbalizer.scoring is Scoring.FIRST_TOKEN:
            logits = model(encoder_outputs=encoder_out, attention_mask=mask, decoder_input_ids=start).logits
            return logits[:, 0, verbalizer.first_token_ids().to(logits.device)]
        scores = []
        for ids in verbalizer.token_ids:  # teacher-forced log-likelihood of each label sequence
            target = torch.tensor(ids, device=input_ids.device).unsqueeze(0).expand(batch, -1)
            decoder_input = torch.cat([start, target[:, :-1]], dim=1)
            logits = model(encoder_outputs=encoder_out, attention_mask=mask, decoder_input_ids=decoder_input).logits
            log_probs = F.log_softmax(logits.float(), dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
            scores.append(log_probs.sum(dim=1))
        return torch.stack(scores, dim=1)


class DecoderOnlyAdapter(ArchitectureAdapter):
    """GPT-2 (neurons: ``mlp.c_proj`` input after GELU) and Llama (``down_proj`` input, ``act(gate) * up``).

    The class is read from the next-token logits at the last real position of the prompted sequence: the last
    soft vector of an appended prompt (the default, as Wang et al.'s decoder class), the last input token
    behind a prepended one. Position ids count real tokens only (``cumsum(mask) - 1``), so the left padding of
    an appended prompt shifts no position: GPT-2's learned and Llama's rotary positions are then those of the
    example alone, and padding is masked out of attention, so a batch equals its examples run one by one.
    """

    default_scoring = Scoring.NEXT_TOKEN
    allowed_scorings = (Scoring.NEXT_TOKEN,)
    causal = True
    layouts = (PromptLayout.APPEND, PromptLayout.PREPEND)
    peft_task_type = "CAUSAL_LM"

    def __init__(self, family: Family, model_types: tuple[str, ...], layers_attr: str,
                 ffn_inputs: tuple[str, ...], ffn_output: str):
        self.family = family
        self.model_types = model_types
        self._layers_attr = layers_attr
        self.ffn_inputs = ffn_inputs
        self.ffn_output = ffn_output

    def auto_class(self, want_head: bool) -> type[AutoModelClass]:
        import transformers

        return transformers.AutoModelForCausalLM

    def sites(self, model):
        base = model.base_model
        path = f"{model.base_model_prefix}.{self._layers_attr}" if model is not base else self._layers_attr

        def width(projection):  # GPT-2's Conv1D stores (in, out); nn.Linear has in_features
            return projection.in_features if hasattr(projection, "in_features") else projection.weight.shape[0]

        return self._sites_from(Stack.DECODER, getattr(base, self._layers_attr), path, self.ffn_output, width)

    def class_scores(self, model, prompt, input_ids, attention_mask, verbalizer, layout):
        inputs_embeds, mask = self.prepared_inputs(model, prompt, input_ids, attention_mask, layout)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        logits = model(inputs_embeds=inputs_embeds, attention_mask=mask, position_ids=positions).logits
        # The last real position, whichever side the padding is on.
        last = mask.shape[1] - 1 - mask.flip(dims=(1,)).argmax(dim=1)
        rows = torch.arange(logits.shape[0], device=logits.device)
        return logits[rows, last][:, verbalizer.first_token_ids().to(logits.device)]


ADAPTERS: tuple[ArchitectureAdapter, ...] = (
    EncoderMLMAdapter(Family.BERT, ("bert",)),
    EncoderMLMAdapter(Family.ROBERTA, ("roberta",), positions_after_padding=True),
    T5Adapter(),
    DecoderOnlyAdapter(Family.GPT2, ("gpt2",), "h", ("mlp.c_fc",), "mlp.c_proj"),
    DecoderOnlyAdapter(Family.LLAMA, ("llama",), "layers", ("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj"),
)


def adapter_for(model_type: str) -> ArchitectureAdapter:
    """The adapter for a Hugging Face ``config.model_type``; unsupported types raise NeurokitError."""
    for adapter in ADAPTERS:
        if model_type in adapter.model_types:
            return adapter
    supported = ", ".join(t for a in ADAPTERS for t in a.model_types)
    raise NeurokitError(f"unsupported model type {model_type!r}; supported: {supported}")
