"""Registry lookups, registration rules and load_split argument checks."""

from __future__ import annotations

import dataclasses

import pytest

from neurokit.errors import ConfigError, NeurokitError
from neurokit.tasks import TaskType, get_task, list_tasks, load_split, register_task

BUILTIN = {
    "sst2", "imdb", "rotten_tomatoes", "tweet_eval_sentiment", "mnli", "mnli_binary", "qnli", "qqp", "mrpc",
    "ag_news", "dbpedia_14", "adv_sst2", "adv_qqp", "adv_qnli", "adv_mnli", "adv_mnli_binary",
    "toy_sentiment_movies", "toy_sentiment_products", "toy_topic", "toy_nli", "toy_nli_contrast",
    "adv_toy_sentiment_movies", "adv_toy_sentiment_products", "adv_toy_topic", "adv_toy_nli",
    "adv_toy_nli_contrast",
}  # fmt: skip


def test_builtin_tasks_are_registered_and_sorted():
    names = [spec.name for spec in list_tasks()]
    assert set(names) == BUILTIN
    assert names == sorted(names)


def test_list_tasks_filters_by_type_enum_or_string():
    nli = {spec.name for spec in list_tasks(TaskType.NLI)}
    assert nli == {"mnli", "mnli_binary", "qnli", "adv_qnli", "adv_mnli", "adv_mnli_binary", "toy_nli", "adv_toy_nli",
                   "toy_nli_contrast", "adv_toy_nli_contrast"}
    assert {spec.name for spec in list_tasks("paraphrase")} == {"qqp", "mrpc", "adv_qqp"}
    assert list_tasks("other") == []


def test_list_tasks_rejects_unknown_type():
    with pytest.raises(ConfigError, match=r"task_type must be one of sentiment, .* \(TaskType\), got 'sarcasm'"):
        list_tasks("sarcasm")


def test_unknown_task_suggests_close_names_in_one_line():
    with pytest.raises(NeurokitError, match="unknown task 'sst'.*did you mean.*sst2") as caught:
        get_task("sst")
    assert "\n" not in str(caught.value)


def test_unknown_task_without_close_names():
    with pytest.raises(NeurokitError, match="unknown task 'zzzzzz' \\("):
        get_task("zzzzzz")


def test_adversarial_tasks_name_registered_clean_tasks_with_equal_labels():
    for spec in list_tasks():
        if spec.adversarial_of is not None:
            assert get_task(spec.adversarial_of).label_names == spec.label_names


def test_register_same_spec_twice_is_a_no_op():
    spec = get_task("toy_topic")
    assert register_task(spec) is spec


def test_register_conflicting_spec_needs_replace():
    changed = dataclasses.replace(get_task("toy_topic"), label_words=("sport", "money", "science", "politics"))
    with pytest.raises(ConfigError, match="already registered"):
        register_task(changed)
    register_task(changed, replace=True)
    assert get_task("toy_topic").label_words[0] == "sport"


def test_register_new_task_under_a_new_name():
    spec = dataclasses.replace(get_task("toy_nli"), name="toy_nli_copy")
    register_task(spec)
    assert get_task("toy_nli_copy") is spec
    assert "toy_nli_copy" in {task.name for task in list_tasks("nli")}


def test_register_requires_a_source_and_a_spec():
    with pytest.raises(ConfigError, match="no source"):
        register_task(dataclasses.replace(get_task("toy_nli"), name="nowhere", source=None))
    with pytest.raises(ConfigError, match="expects a TaskSpec"):
        register_task({"name": "x"})


def test_register_adversarial_task_checks_its_clean_task():
    base = get_task("adv_toy_topic")
    with pytest.raises(ConfigError, match="not registered"):
        register_task(dataclasses.replace(base, name="adv_x", adversarial_of="missing_task"))
    with pytest.raises(ConfigError, match="differ from those of its clean task"):
        register_task(
            dataclasses.replace(base, name="adv_y", adversarial_of="toy_nli")  # 4 topics vs entailment labels
        )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"split": "validation"}, "split must be one of train, dev, test, got 'validation'"),
        ({"split": "train", "size": 0}, "size must be a positive integer"),
        ({"split": "train", "size": 2.5}, "size must be a positive integer"),
        ({"split": "train", "seed": -1}, "seed must be a non-negative integer"),
        ({"split": "train", "seed": True}, "seed must be a non-negative integer"),
    ],
)
def test_load_split_argument_errors(arguments: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        load_split("toy_sentiment_movies", **arguments)


def test_load_split_without_source():
    with pytest.raises(NeurokitError, match="no data source"):
        load_split(dataclasses.replace(get_task("toy_nli"), source=None), "dev")


def test_load_split_of_a_missing_split():
    with pytest.raises(NeurokitError, match="has no train split \\(it has dev, test\\)"):
        load_split("adv_toy_nli", "train")


def test_load_split_accepts_a_name():
    assert len(load_split("toy_nli", "dev", size=10)) == 10
