"""TaskSpec validation and rendering."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from neurokit.errors import ConfigError, NeurokitError
from neurokit.tasks import TaskSpec, TaskType


def make_spec(**changes) -> TaskSpec:
    settings = dict(
        name="pairs",
        task_type="nli",
        text_fields=["premise", "hypothesis"],
        label_names=["entailment", "not_entailment"],
        label_words=["yes", "no"],
        template="{premise} ? {hypothesis}",
    )
    settings.update(changes)
    return TaskSpec(**settings)


def test_lists_and_strings_are_coerced():
    spec = make_spec()
    assert spec.task_type is TaskType.NLI
    assert spec.text_fields == ("premise", "hypothesis")
    assert spec.label_names == ("entailment", "not_entailment")
    assert spec.label_words == ("yes", "no")
    assert spec.num_labels == 2
    assert spec.splits == ()  # no source


def test_render_fills_the_template_and_ignores_other_keys():
    spec = make_spec()
    example = {"id": "x", "premise": "A cat sleeps.", "hypothesis": "An animal rests.", "label": 0}
    assert spec.render(example) == "A cat sleeps. ? An animal rests."


def test_render_keeps_braces_in_texts_literal():
    assert make_spec().render({"premise": "{hypothesis}", "hypothesis": "{0}"}) == "{hypothesis} ? {0}"


def test_render_missing_field():
    with pytest.raises(NeurokitError, match="lacks text field.*'hypothesis'"):
        make_spec().render({"premise": "p"})


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        make_spec().name = "other"


def test_task_type_values():
    assert [member.value for member in TaskType] == ["sentiment", "nli", "paraphrase", "topic", "other"]
    assert TaskType("topic") is TaskType.TOPIC


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "task name"),
        ({"name": "has space"}, "task name"),
        ({"task_type": "sarcasm"}, r"task_type must be one of sentiment, .* \(TaskType\), got 'sarcasm'"),
        ({"text_fields": []}, "at least one"),
        ({"text_fields": "premise"}, "must be a list"),
        ({"text_fields": ["premise", "premise"], "template": "{premise}"}, "repeats 'premise'"),
        ({"text_fields": ["label", "hypothesis"], "template": "{label} {hypothesis}"}, "identifier other than"),
        ({"text_fields": ["pre mise", "hypothesis"]}, "identifier"),
        ({"label_names": ["only"], "label_words": ["one"]}, "at least two"),
        ({"label_words": ["yes"]}, "label_words has 1 entries but label_names has 2"),
        ({"label_words": ["yes", "yes"]}, "label_words repeats 'yes'"),
        ({"label_names": ["a", "a"]}, "label_names repeats"),
        ({"label_words": ["yes", " no"]}, "surrounding spaces"),
        ({"label_words": ["yes", ""]}, "non-empty"),
        ({"label_words": ["yes", 2]}, "only strings"),
        ({"template": "{premise}"}, "exactly the text fields"),
        ({"template": "{premise} {hypothesis} {extra}"}, "exactly the text fields"),
        ({"template": "{premise} {}"}, "bare text-field names"),
        ({"template": "{premise} {0}"}, "bare text-field names"),
        ({"template": "{premise!r} {hypothesis}"}, "bare text-field names"),
        ({"template": "{premise:>10} {hypothesis}"}, "bare text-field names"),
        ({"template": "{premise.upper} {hypothesis}"}, "bare text-field names"),
        ({"template": "{premise} {hypothesis"}, "malformed"),
        ({"template": 3}, "must be a string"),
        ({"adversarial_of": "pairs"}, "adversarial_of must name another task"),
        ({"adversarial_of": ""}, "adversarial_of"),
    ],
)
def test_invalid_specs_raise_one_line_config_errors(changes: dict, message: str):
    with pytest.raises(ConfigError, match=message) as caught:
        make_spec(**changes)
    assert "\n" not in str(caught.value)


def test_config_error_is_a_neurokit_error():
    with pytest.raises(NeurokitError):
        make_spec(label_words=["yes"])


@given(template=st.text(alphabet="{}ab !:0.", max_size=12))
def test_any_template_is_accepted_or_rejected_in_one_line(template: str):
    try:
        spec = make_spec(text_fields=["a"], template=template)
    except ConfigError as error:
        assert "\n" not in str(error)
    else:
        assert spec.render({"a": "TEXT"}).count("TEXT") >= 1
