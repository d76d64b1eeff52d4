"""Backbones with random weights built from configs: tiny ones for tests, base-sized ones for benchmarks.

They use the embedded MiniLM's WordPiece tokenizer for every family, so nothing is downloaded; only the
architecture (the adapter's concern) differs between them.
"""

from __future__ import annotations

from enum import Enum

import transformers

from neurokit.models.backbone import Backbone, backbone_from_config, embedded_model_path
from neurokit.validation import as_enum, one_of


class RandomArchitecture(str, Enum):
    BERT = "bert"
    ROBERTA = "roberta"
    T5 = "t5"  # v1.0: ReLU FFN
    T5_GATED = "t5-gated"  # v1.1 / LM-adapted: gated GELU FFN
    GPT2 = "gpt2"
    LLAMA = "llama"


def random_config(architecture: RandomArchitecture | str, size: str = "tiny", vocab_size: int = 30522):
    """A transformers config; ``size`` is ``"tiny"`` (2 layers, width 32) or ``"base"`` (roberta-/t5-base)."""
    architecture = as_enum(architecture, RandomArchitecture, "architecture")
    base = one_of(size, ("tiny", "base"), "size") == "base"
    width, ffn, layers, heads = (768, 3072, 12, 12) if base else (32, 64, 2, 4)
    if architecture in (RandomArchitecture.BERT, RandomArchitecture.ROBERTA):
        config_class = transformers.BertConfig if architecture is RandomArchitecture.BERT \
            else transformers.RobertaConfig
        return config_class(vocab_size=vocab_size, hidden_size=width, intermediate_size=ffn,
                            num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=514,
                            pad_token_id=0 if architecture is RandomArchitecture.BERT else 1,
                            architectures=["BertForMaskedLM" if architecture is RandomArchitecture.BERT
                                           else "RobertaForMaskedLM"])
    if architecture in (RandomArchitecture.T5, RandomArchitecture.T5_GATED):
        gated = architecture is RandomArchitecture.T5_GATED
        # T5Config takes extra keyword arguments at run time (strict(accept_kwargs=True)), but its
        # dataclass_transform signature lists only the declared fields, which lack decoder_start_token_id.
        return transformers.T5Config(vocab_size=vocab_size, d_model=width, d_ff=2048 if (base and gated) else ffn,
                                     num_layers=layers, num_heads=heads, d_kv=width // heads,
                                     feed_forward_proj="gated-gelu" if gated else "relu",
                                     decoder_start_token_id=0,  # type: ignore[call-arg]
                                     pad_token_id=0, eos_token_id=102,
                                     architectures=["T5ForConditionalGeneration"])
    if architecture is RandomArchitecture.GPT2:
        return transformers.GPT2Config(vocab_size=vocab_size, n_embd=width, n_layer=layers, n_head=heads,
                                       n_positions=512, bos_token_id=101, eos_token_id=102,
                                       architectures=["GPT2LMHeadModel"])
    return transformers.LlamaConfig(vocab_size=vocab_size, hidden_size=width, intermediate_size=ffn,
                                    num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                                    max_position_embeddings=512, bos_token_id=101, eos_token_id=102,
                                    pad_token_id=0, architectures=["LlamaForCausalLM"])


def random_backbone(architecture: RandomArchitecture | str, size: str = "tiny", seed: int = 0) -> Backbone:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(embedded_model_path()))
    config = random_config(architecture, size, vocab_size=len(tokenizer))
    return backbone_from_config(config, tokenizer, seed=seed,
                                model_id=f"random-{RandomArchitecture(architecture).value}-{size}")
