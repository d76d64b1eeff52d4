"""Validated prompt-tuning settings."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from neurokit.errors import ConfigError
from neurokit.models import PromptLayout
from neurokit.prompts.soft_prompt import PromptInit


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
        object.__setattr__(self, "init", PromptInit(self.init))
        if self.layout is not None:
            try:
                object.__setattr__(self, "layout", PromptLayout(self.layout))
            except ValueError:
                raise ConfigError(f"layout must be one of {', '.join(m.value for m in PromptLayout)}, "
                                  f"got {self.layout!r}") from None
        positive = ("prompt_length", "learning_rate", "epochs", "batch_size", "gradient_accumulation",
                    "eval_batch_size", "max_length")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("max_steps", "eval_every"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be positive or unset, got {value}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.weight_decay < 0 or self.max_grad_norm <= 0:
            raise ConfigError("weight_decay must be ≥ 0 and max_grad_norm > 0")
        if self.init is PromptInit.TEXT and not self.init_text:
            raise ConfigError("init 'text' needs init_text")

    def to_dict(self) -> dict:
        values = asdict(self)
        values["init"] = self.init.value
        values["layout"] = None if self.layout is None else self.layout.value
        return values
