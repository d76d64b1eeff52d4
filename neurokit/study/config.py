"""A paper's experiment as data: a validated study configuration, read from a TOML file in ``analyses/``.

A study prompt-tunes every (model, task, seed), extracts train statistics, the split that chooses skill neurons
and the split that reports, analyses them, measures accuracy, perturbation, transfer and pruning where the paper
did, and writes a reproduction report. The file names the settings; ``--set key=value`` overrides any of them
(values in TOML syntax), e.g. tiny sizes for a test run.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from neurokit.analysis.skill import DEFAULT_FRACTION
from neurokit.errors import ConfigError
from neurokit.prompts import PromptTuningConfig
from neurokit.tasks.spec import SPLITS
from neurokit.validation import (
    FRACTION_RANGE,
    HALF_OPEN_UNIT,
    integer,
    one_of,
    real,
    several_of,
)

#: Sections of the reproduction report, in the order written (see :mod:`neurokit.study.report`).
REPORT_SECTIONS = ("accuracy", "adversarial_accuracy", "predictivity", "ablation", "adversarial_ablation",
                   "task_specificity", "pruning", "transfer", "consistency")


@dataclass(frozen=True)
class StudyConfig:
    """Everything one paper's reproduction needs.

    ``models``: Hub ids or folders (``embedded`` for the offline MiniLM). ``tasks``: registered task names.
    ``seeds``: one prompt per (model, task, seed). ``prompt``: :class:`~neurokit.prompts.PromptTuningConfig`
    fields (without ``seed``); ``learning_rates`` overrides the learning rate per model. Splits: ``train`` gives
    the baselines, ``choose_split`` chooses skill neurons, ``report_split`` reports accuracy and perturbation
    (Wang et al.'s roles); ``*_size`` caps the examples (``0``: the whole split). ``adversarial``: also extract
    and report each task's registered adversarial set. ``fraction``: the top share compared across prompts and
    tasks. Perturbation: ``ablation_fractions``, ``ablation_draws`` random sets per fraction, on the report split
    and (``adversarial_ablation``) on the adversarial set. ``transfer``: every prompt on every task with as many
    classes. ``prune_fraction``: prune each task's first prompt's model to that top share per layer (Wang et al.
§6; 0: no pruning). ``sections``: which report sections to write. ``paper_numbers``: numbers read in the paper, by
    section and row; a number nobody has read in the paper is left out, and the report says so.
    """

    name: str
    paper: str
    models: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    prompt: Mapping[str, Any] = field(default_factory=dict)
    learning_rates: Mapping[str, float] = field(default_factory=dict)
    choose_split: str = "dev"
    report_split: str = "test"
    train_size: int = 0
    choose_size: int = 0
    report_size: int = 0
    adversarial: bool = False
    fraction: float = DEFAULT_FRACTION
    ablation_fractions: tuple[float, ...] = ()
    ablation_draws: int = 5
    adversarial_ablation: bool = False
    transfer: bool = False
    prune_fraction: float = 0.0
    sections: tuple[str, ...] = REPORT_SECTIONS
    paper_numbers: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("models", "tasks", "seeds", "ablation_fractions", "notes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.models or not self.tasks or not self.seeds:
            raise ConfigError("a study needs at least one model, one task and one seed")
        object.__setattr__(self, "sections", several_of(self.sections, REPORT_SECTIONS, "sections", allow_empty=True))
        one_of(self.choose_split, SPLITS, "choose_split")
        one_of(self.report_split, SPLITS, "report_split")
        for name in ("train_size", "choose_size", "report_size"):
            integer(getattr(self, name), f"{name} (0: the whole split)", minimum=0)
        integer(self.ablation_draws, "ablation_draws")
        real(self.prune_fraction, "prune_fraction (0: no pruning)", HALF_OPEN_UNIT)
        real(self.fraction, "fraction", FRACTION_RANGE)
        if "seed" in self.prompt:
            raise ConfigError("prompt.seed is set by the study's seeds, not in [prompt]")
        self.tuning("embedded", self.seeds[0])  # every prompt setting is valid before anything runs

    def tuning(self, model: str, seed: int) -> PromptTuningConfig:
        """The prompt-tuning settings of one model and seed."""
        settings = dict(self.prompt)
        if model in self.learning_rates:
            settings["learning_rate"] = self.learning_rates[model]
        try:
            return PromptTuningConfig(**settings, seed=seed)
        except TypeError as error:
            raise ConfigError(f"[prompt] has a setting PromptTuningConfig does not know: {error}") from None

    def size(self, split_role: str) -> int | None:
        value = getattr(self, f"{split_role}_size")
        return value or None

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_toml(cls, path: str | Path, overrides: Sequence[str] = ()) -> StudyConfig:
        """Read a study file; ``overrides`` are ``key=value`` strings (dotted keys reach into tables)."""
        path = Path(path)
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"no study file at {path}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{path} is not valid TOML: {error}") from None
        for override in overrides:
            _apply_override(values, override)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown settings {unknown}")
        try:
            return cls(**values)
        except TypeError as error:
            raise ConfigError(f"{path}: {error}") from None

    def with_changes(self, **changes) -> StudyConfig:
        return replace(self, **changes)


def _apply_override(values: dict, override: str) -> None:
    key, separator, text = override.partition("=")
    if not separator or not key.strip():
        raise ConfigError(f"--set takes key=value, got {override!r}")
    try:
        value = tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        value = text  # a bare word: a string
    *tables, last = key.strip().split(".")
    target = values
    for table in tables:
        target = target.setdefault(table, {})
        if not isinstance(target, dict):
            raise ConfigError(f"--set {key}: {table!r} is not a table")
    target[last] = value
