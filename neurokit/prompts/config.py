"""Validated prompt-tuning settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from neurokit.errors import ConfigError
from neurokit.models import PromptLayout
from neurokit.prompts.soft_prompt import PromptInit
from neurokit.validation import (
    HALF_OPEN_UNIT,
    NON_NEGATIVE,
    POSITIVE,
    as_enum,
    integer,
    real,
)


@dataclass(frozen=True)
class PromptTuningConfig:
    """Everything that defines a prompt-tuning run besides the backbone and the task.

    ``epochs`` or ``max_steps`` (optimizer steps; wins when set) bound training. ``eval_every`` counts optimizer
    steps between dev evaluations (``None``: once per epoch); the best-dev prompt is kept. ``bf16`` autocasts
    the forward pass on CUDA (``None``: on when the device is CUDA); float16 is never used, since T5's FFN
    overflows it. ``layout`` places the prompt relative to the input (None: the backbone family's default,
    ``append`` for decoder-only models and ``prepend`` elsewhere; see :class:`~neurokit.models.PromptLayout`).
    """

    prompt_length: int = 100
    init: PromptInit = PromptInit.NORMAL
    init_text: str | None = None
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    epochs: int = 3
    max_steps: int | None = None
    batch_size: int = 16
    gradient_accumulation: int = 1
    eval_every: int | None = None
    eval_batch_size: int = 64
    max_length: int = 128
    seed: int = 0
    bf16: bool | None = None
    layout: PromptLayout | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "init", as_enum(self.init, PromptInit, "init"))
        if self.layout is not None:
            object.__setattr__(self, "layout", as_enum(self.layout, PromptLayout, "layout"))
        for name in ("prompt_length", "epochs", "batch_size", "gradient_accumulation", "eval_batch_size",
                     "max_length"):
            integer(getattr(self, name), name)
        for name in ("max_steps", "eval_every"):
            integer(getattr(self, name), name, optional=True)
        real(self.learning_rate, "learning_rate", POSITIVE)
        real(self.warmup_ratio, "warmup_ratio", HALF_OPEN_UNIT)
        real(self.weight_decay, "weight_decay", NON_NEGATIVE)
        real(self.max_grad_norm, "max_grad_norm", POSITIVE)
        if self.init is PromptInit.TEXT and not self.init_text:
            raise ConfigError("init 'text' needs init_text")

    def to_dict(self) -> dict:
        values = asdict(self)
        values["init"] = self.init.value
        values["layout"] = None if self.layout is None else self.layout.value
        return values
