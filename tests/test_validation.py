"""neurokit.validation: each validator accepts what it should and refuses the rest with one line that names the
parameter, the value and what is accepted; every config refuses a bad setting through it (a ConfigError)."""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Callable

import numpy as np
import pytest
import xarray as xr

from neurokit.errors import ConfigError, NeurokitError
from neurokit.validation import (
    FRACTION_RANGE,
    HALF_OPEN_UNIT,
    NON_NEGATIVE,
    OPEN_UNIT,
    POSITIVE,
    UNIT,
    Interval,
    as_enum,
    as_enums,
    integer,
    one_of,
    real,
    several_of,
)


class Colour(str, enum.Enum):
    RED = "red"
    BLUE = "blue"


class Shape(enum.Enum):  # no str mixin: members are not equal to their values
    ROUND = "round"
    SQUARE = "square"


def _refused(call: Callable[[], object], message: str) -> ConfigError:
    """The ConfigError ``call`` raises; its message must contain ``message`` literally and be one line."""
    with pytest.raises(ConfigError, match=re.escape(message)) as caught:
        call()
    assert "\n" not in str(caught.value)
    return caught.value


@pytest.mark.parametrize(("kind", "value", "member"), [
    (Colour, "red", Colour.RED), (Colour, Colour.BLUE, Colour.BLUE),
    (Shape, "square", Shape.SQUARE), (Shape, Shape.ROUND, Shape.ROUND),
])
def test_as_enum_accepts_members_and_values(kind, value, member):
    assert as_enum(value, kind, "colour") is member


@pytest.mark.parametrize(("kind", "value", "message"), [
    (Colour, "green", "colour must be one of red, blue (Colour), got 'green'"),
    (Colour, "RED", "colour must be one of red, blue (Colour), got 'RED'"),
    (Colour, None, "colour must be one of red, blue (Colour), got None"),
    (Shape, Colour.RED, "colour must be one of round, square (Shape), got <Colour.RED: 'red'>"),
    (Shape, ["round"], "colour must be one of round, square (Shape), got ['round']"),
])
def test_as_enum_refuses_the_rest(kind, value, message):
    _refused(lambda: as_enum(value, kind, "colour"), message)


def test_one_of():
    assert one_of("dev", ("train", "dev"), "split") == "dev"
    _refused(lambda: one_of("validation", ("train", "dev"), "split"),
             "split must be one of train, dev, got 'validation'")


@pytest.mark.parametrize(("values", "options", "expected"), [
    ("a", {}, ("a",)),  # a lone string is one item
    (["b", "a"], {}, ("b", "a")),
    (["a", "a"], {}, ("a", "a")),
    ([], {"allow_empty": True}, ()),
    (["a", "b"], {"distinct": True}, ("a", "b")),
])
def test_several_of_accepts(values, options, expected):
    assert several_of(values, ("a", "b"), "panels", **options) == expected


@pytest.mark.parametrize(("values", "options", "message"), [
    (["a", "c"], {}, "panels must be among a, b, got ['a', 'c']"),
    ([], {}, "panels must be among a, b, got []"),
    (["a", "a"], {"distinct": True}, "panels must be distinct names among a, b, got ['a', 'a']"),
    ("c", {"distinct": True}, "panels must be distinct names among a, b, got ['c']"),
])
def test_several_of_refuses(values, options, message):
    _refused(lambda: several_of(values, ("a", "b"), "panels", **options), message)


def test_as_enums():
    assert as_enums("red", Colour, "colours") == (Colour.RED,)
    assert as_enums(Shape.ROUND, Shape, "shapes") == (Shape.ROUND,)
    assert as_enums(["blue", Colour.RED], Colour, "colours", distinct=True) == (Colour.BLUE, Colour.RED)
    assert as_enums((), Colour, "colours", allow_empty=True) == ()
    _refused(lambda: as_enums(["red", "green"], Colour, "colours"),
             "colours must be among red, blue (Colour), got ['red', 'green']")
    _refused(lambda: as_enums(["red", Colour.RED], Colour, "colours", distinct=True),
             "colours must be distinct names among red, blue (Colour), got ['red', <Colour.RED: 'red'>]")
    _refused(lambda: as_enums([], Colour, "colours"), "colours must be among red, blue (Colour), got []")
    _refused(lambda: as_enums(3, Colour, "colours"), "colours must be among red, blue (Colour), got [3]")


@pytest.mark.parametrize(("value", "minimum", "expected"), [
    (1, 1, 1), (7, 1, 7), (np.int64(3), 1, 3), (0, 0, 0), (np.uint8(2), 2, 2),
])
def test_integer_accepts_whole_numbers_from_the_minimum(value, minimum, expected):
    result = integer(value, "n", minimum=minimum)
    assert result == expected and type(result) is int


@pytest.mark.parametrize(("value", "minimum", "message"), [
    (0, 1, "n must be a positive integer, got 0"),
    (-1, 1, "n must be a positive integer, got -1"),
    (2.0, 1, "n must be a positive integer, got 2.0"),
    (True, 1, "n must be a positive integer, got True"),
    ("3", 1, "n must be a positive integer, got '3'"),
    (None, 1, "n must be a positive integer, got None"),
    (-1, 0, "n must be a non-negative integer, got -1"),
    (False, 0, "n must be a non-negative integer, got False"),
    (1, 2, "n must be an integer ≥ 2, got 1"),
])
def test_integer_refuses_the_rest(value, minimum, message):
    _refused(lambda: integer(value, "n", minimum=minimum), message)


def test_an_optional_integer_may_be_unset():
    assert integer(None, "size", optional=True) is None
    assert integer(5, "size", optional=True) == 5
    _refused(lambda: integer(0, "size", optional=True), "size must be a positive integer or None, got 0")


@pytest.mark.parametrize(("interval", "inside", "outside", "wording"), [
    (POSITIVE, [1e-9, 1, 3.5, math.inf], [0, -1.0], "positive"),
    (NON_NEGATIVE, [0, 0.0, 2], [-1e-9], "non-negative"),
    (FRACTION_RANGE, [1e-9, 0.05, 1, 1.0], [0, 0.0, 1.0000001, -0.5], "in (0, 1]"),
    (OPEN_UNIT, [0.5, 1e-9], [0, 1, 1.0], "in (0, 1)"),
    (HALF_OPEN_UNIT, [0, 0.06], [1, -0.1], "in [0, 1)"),
    (UNIT, [0, 0.5, 1, np.float32(0.25)], [-0.01, 1.01], "in [0, 1]"),
    (Interval(2.0), [2, 9], [1.5], "≥ 2"),
    (Interval(2.0, low_closed=False), [2.5], [2], "> 2"),
    (Interval(-1.0, 2.5), [-1, 2.5], [-1.5, 3], "in [-1, 2.5]"),
])
def test_real_accepts_its_interval_and_refuses_the_rest(interval, inside, outside, wording):
    for value in inside:
        result = real(value, "x", interval)
        assert result == value and type(result) is float
    for value in [*outside, math.nan, True, "0.5", None]:
        _refused(lambda value=value: real(value, "x", interval), f"x must be {wording}, got {value!r}")


def test_config_error_is_what_the_cli_reports():
    assert issubclass(ConfigError, NeurokitError) and issubclass(ConfigError, ValueError)


# ----- every config refuses a bad value with a ConfigError -----------------------------------------------------

def _prompt_tuning(**changes):
    from neurokit.prompts import PromptTuningConfig

    return PromptTuningConfig(**changes)


def _study(**changes):
    from neurokit.study.config import StudyConfig

    return StudyConfig(name="s", paper="p", models=("embedded",), tasks=("toy_sentiment_movies",), **changes)


def _analysis_options(**changes):
    from neurokit.analysis.pipeline import AnalysisOptions

    return AnalysisOptions(**changes)


def _skill_neurons(**changes):
    from neurokit.analysis import SkillNeurons

    return SkillNeurons(**changes)


def _scheduler(**changes):
    from neurokit.analysis.scheduler import SchedulerChoice

    return SchedulerChoice(**changes)


def _extraction(**changes):
    from neurokit.extract.extraction import ExtractionConfig

    return ExtractionConfig(**changes)


def _store_spec(**changes):
    from neurokit.extract.spec import Provenance, StoreSpec

    provenance = Provenance(model_id="m", model_revision="r", weights_sha256="a" * 64, model_config={},
                            prompt_sha256="b" * 64, prompt_metadata={}, task={}, template="{text}", verbalizer={},
                            split="dev", dtype_policy="float32", prompt_layout="prepend")
    settings = dict(example_ids=["e0"], class_names=["a", "b"], sites=["encoder.layer.0.ffn"], layers=[0],
                    position_roles=["mask"], n_neurons=4, stored_dtype="float32", provenance=provenance)
    return StoreSpec(**{**settings, **changes})


def _perturbation(**changes):
    from neurokit.interventions.ablation import Perturbation

    mask = xr.DataArray(np.zeros((1, 4), dtype=bool), dims=("layer", "neuron"))
    return Perturbation(mask, **changes)


def _skill_ablation(**changes):
    from neurokit.interventions.ablation import SkillAblationExperiment

    return SkillAblationExperiment(**changes)


def _prune(**changes):
    from neurokit.interventions.prune import PruneConfig

    return PruneConfig(**changes)


def _demo(**changes):
    from neurokit.demo import DemoConfig

    return DemoConfig(**changes)


def _selftest(**changes):
    from neurokit.selftest.checks import SelftestConfig

    return SelftestConfig(**changes)


def _task_spec(**changes):
    from neurokit.tasks.spec import TaskSpec

    settings = dict(name="t", task_type="sentiment", text_fields=("text",), label_names=("neg", "pos"),
                    label_words=("bad", "good"), template="{text}")
    return TaskSpec(**{**settings, **changes})


def _generated_source(**changes):
    from neurokit.tasks.toy import GeneratedSource

    return GeneratedSource(**{"family": "topic", **changes})


def _split_plan(**changes):
    from neurokit.tasks.loading import SplitPlan

    return SplitPlan(**{"sources": (("train", "train"),), **changes})


CONFIGS = {
    # PromptInit("bogus") used to escape as a plain ValueError, which the CLI printed with a traceback.
    "PromptTuningConfig init": (_prompt_tuning, {"init": "bogus"}, "init must be one of uniform, normal"),
    "PromptTuningConfig layout": (_prompt_tuning, {"layout": "middle"}, "layout must be one of prepend, append"),
    "PromptTuningConfig epochs": (_prompt_tuning, {"epochs": 2.5}, "epochs must be a positive integer, got 2.5"),
    "PromptTuningConfig warmup": (_prompt_tuning, {"warmup_ratio": 1}, "warmup_ratio must be in [0, 1), got 1"),
    "PromptTuningConfig weight decay": (_prompt_tuning, {"weight_decay": -1},
                                        "weight_decay must be non-negative, got -1"),
    "StudyConfig": (_study, {"fraction": 0}, "fraction must be in (0, 1], got 0"),
    "StudyConfig sections": (_study, {"sections": ["nonsense"]}, "sections must be among accuracy, "),
    # Refused when the study file is read, not after its prompts have been tuned.
    "StudyConfig split": (_study, {"report_split": "validation"},
                          "report_split must be one of train, dev, test, got 'validation'"),
    "AnalysisOptions": (_analysis_options, {"bootstrap": -1}, "bootstrap must be a non-negative integer, got -1"),
    "SkillNeurons": (_skill_neurons, {"selection": "local"}, "selection must be one of per-layer, global"),
    "SchedulerChoice": (_scheduler, {"workers": 0}, "--workers must be a positive integer, got 0"),
    "ExtractionConfig": (_extraction, {"positions": ["mask", "mask"]}, "positions must be distinct names among"),
    "StoreSpec": (_store_spec, {"n_neurons": 0}, "n_neurons must be a positive integer, got 0"),
    "Perturbation": (_perturbation, {"noise_std": 0.0}, "noise_std must be positive, got 0.0"),
    "SkillAblationExperiment": (_skill_ablation, {"draws": 0}, "draws must be a positive integer, got 0"),
    "SkillAblationExperiment fractions": (_skill_ablation, {"fractions": ("0.5",)},
                                          "fractions must be in [0, 1], got '0.5'"),
    "PruneConfig": (_prune, {"fold": "some"}, "fold must be one of removed, all (BiasFold), got 'some'"),
    "DemoConfig": (_demo, {"seeds": 0}, "seeds must be a positive integer, got 0"),
    "SelftestConfig": (_selftest, {"prompt_length": 1}, "prompt_length must be an integer ≥ 2, got 1"),
    "TaskSpec": (_task_spec, {"task_type": "sarcasm"}, "task 't': task_type must be one of sentiment, nli"),
    "GeneratedSource": (_generated_source, {"perturbations": ("shouting",)}, "perturbations must be among typo"),
    "SplitPlan": (_split_plan, {"dev_fraction": 1.5}, "dev_fraction must be in (0, 1), got 1.5"),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_every_config_refuses_a_bad_value_with_a_config_error(case):
    make, changes, message = CONFIGS[case]
    _refused(lambda: make(**changes), message)
