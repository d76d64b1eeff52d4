"""The offline suite: determinism, sizes, balance, disjoint splits and the adversarial perturbations.

Labels are checked against the word lists directly, independently of the generator's bookkeeping.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import re
from importlib import resources

import pytest

from neurokit.errors import ConfigError, NeurokitError
from neurokit.tasks import (
    GeneratedSource,
    TextPerturbation,
    get_task,
    list_tasks,
    load_split,
)

CLEAN = ("toy_sentiment_movies", "toy_sentiment_products", "toy_topic", "toy_nli", "toy_nli_contrast")
ADVERSARIAL = tuple(f"adv_{name}" for name in CLEAN)
SENTIMENT = {"toy_sentiment_movies": "sentiment_movies", "toy_sentiment_products": "sentiment_products"}


@functools.cache
def rows(name: str, split: str) -> tuple[dict, ...]:
    """The default-size split as plain dicts, generated once per test session (the data never change)."""
    return tuple(load_split(name, split).to_list())


def wordlist(name: str) -> dict:
    return json.loads(resources.files("neurokit.tasks").joinpath("wordlists", f"{name}.json").read_text("utf-8"))


def words_in(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z\-']*", text.lower()))


def polarity_lexicon(family: str) -> tuple[dict[str, int], dict[str, int]]:
    """(clean adjective → label, synonym → label) with 0 negative, 1 positive."""
    adjectives = wordlist(family)["adjectives"]
    clean, synonyms = {}, {}
    for label, polarity in enumerate(("negative", "positive")):
        for entry in adjectives[polarity]:
            clean[entry["word"]] = label
            synonyms.update({synonym: label for synonym in entry["synonyms"]})
    return clean, synonyms


def test_the_suite_is_registered_with_types_and_adversarial_links():
    types = {spec.name: spec.task_type.value for spec in list_tasks()}
    assert [types[name] for name in CLEAN] == ["sentiment", "sentiment", "topic", "nli", "nli"]
    for clean, adversarial in zip(CLEAN, ADVERSARIAL, strict=True):
        assert get_task(adversarial).adversarial_of == clean
        assert get_task(adversarial).splits == ("dev", "test")
        assert get_task(clean).splits == ("train", "dev", "test")
    assert len(get_task("toy_topic").label_names) == 4


@pytest.mark.slow
@pytest.mark.parametrize("name", CLEAN + ADVERSARIAL)
def test_default_sizes_columns_and_ids(name: str):
    spec = get_task(name)
    defaults = {"train": 2000, "dev": 500, "test": 500}
    for split in spec.splits:
        dataset = load_split(spec, split)
        assert len(dataset) == defaults[split]
        extra = ["perturbation"] if name.startswith("adv_") else []
        assert dataset.column_names == ["id", *spec.text_fields, "label", *extra]
        assert dataset["id"][:2] == [f"{name}-{split}-000000", f"{name}-{split}-000001"]
        assert len(set(dataset["id"])) == len(dataset)
        texts = [spec.render(example) for example in dataset]
        assert len(set(texts)) == len(texts)  # no repeated example


@pytest.mark.slow
@pytest.mark.parametrize("name", CLEAN + ADVERSARIAL)
def test_generation_is_deterministic_and_sizes_nest(name: str):
    split = "dev"
    first = load_split(name, split, size=120)
    assert load_split(name, split, size=120).to_list() == first.to_list()
    assert load_split(name, split, size=40).to_list() == first.to_list()[:40]


def test_custom_sizes_and_seeds():
    spec = get_task("toy_sentiment_movies")
    assert len(load_split(spec, "train", size=3000)) == 3000
    other = load_split(spec, "dev", size=50, seed=7)
    assert other["id"][0] == "toy_sentiment_movies-dev-s7-000000"
    assert other["sentence"] != load_split(spec, "dev", size=50)["sentence"]


@pytest.mark.slow
@pytest.mark.parametrize("name", CLEAN)
def test_clean_labels_are_balanced(name: str):
    spec = get_task(name)
    for split in spec.splits:
        counts = collections.Counter(row["label"] for row in rows(name, split))
        assert set(counts.values()) == {len(rows(name, split)) // spec.num_labels}


@pytest.mark.slow
@pytest.mark.parametrize("name", CLEAN)
def test_splits_share_no_text(name: str):
    spec = get_task(name)
    texts = {split: {spec.render(row) for row in rows(name, split)} for split in spec.splits}
    assert not texts["train"] & texts["dev"]
    assert not texts["train"] & texts["test"]
    assert not texts["dev"] & texts["test"]
    adversarial = {spec.render(row) for row in rows(f"adv_{name}", "test")}
    assert not adversarial & texts["train"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SENTIMENT)
def test_clean_sentiment_label_is_the_polarity_of_exactly_one_known_adjective(name: str):
    clean, _ = polarity_lexicon(SENTIMENT[name])
    for row in rows(name, "train"):
        found = words_in(row["sentence"]) & set(clean)
        assert len(found) == 1, row
        assert clean[found.pop()] == row["label"]
        assert " not " not in row["sentence"]  # negation only in the adversarial set


@pytest.mark.slow
def test_clean_nli_hypotheses_hold_no_negation():
    assert all(" not " not in row["hypothesis"] for row in rows("toy_nli", "train"))


@pytest.mark.slow
def test_contrast_nli_label_is_whether_the_hypothesis_only_repeats_the_premise():
    # Entailed: every word of the hypothesis is in the premise (up to the article); not entailed: the person,
    # the thing (and the adjective or place where named) are new, and the hypotheses' lengths do not give the
    # label away.
    lengths = {0: [], 1: []}
    for row in rows("toy_nli_contrast", "train"):
        new_words = words_in(row["hypothesis"]) - words_in(row["premise"]) - {"a", "an"}
        assert (len(new_words) == 0) if row["label"] == 0 else (len(new_words) >= 2), row
        lengths[row["label"]].append(len(row["hypothesis"].split()))
    assert abs(sum(lengths[0]) / len(lengths[0]) - sum(lengths[1]) / len(lengths[1])) < 0.25


def test_synonyms_never_appear_in_clean_vocabulary():
    for family in ("sentiment_movies", "sentiment_products"):
        adjectives = wordlist(family)["adjectives"]
        entries = adjectives["negative"] + adjectives["positive"]
        assert not {s for entry in entries for s in entry["synonyms"]} & {entry["word"] for entry in entries}
    topics = wordlist("topic")["topics"].values()
    phrases = [entry for topic in topics for group in ("actors", "things") for entry in topic[group]]
    assert not {s for entry in phrases for s in entry["synonyms"]} & {entry["word"] for entry in phrases}
    actions = wordlist("nli")["actions"]
    nouns = [noun for action in actions for noun in action["nouns"]]
    verbs = [action["verb"] for action in actions]
    clean = {entry["word"] for entry in nouns + verbs}
    assert not {s for entry in nouns + verbs for s in entry["synonyms"]} & clean


@pytest.mark.slow
@pytest.mark.parametrize("name", ADVERSARIAL)
def test_adversarial_kinds_are_present_and_balanced(name: str):
    expected = {kind.value for kind in TextPerturbation} - ({"negation"} if name == "adv_toy_topic" else set())
    for split in ("dev", "test"):
        counts = collections.Counter(row["perturbation"] for row in rows(name, split))
        assert set(counts) == expected
        assert max(counts.values()) - min(counts.values()) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", SENTIMENT)
def test_adversarial_sentiment_labels_follow_the_perturbation(name: str):
    clean, synonyms = polarity_lexicon(SENTIMENT[name])
    distractors = wordlist("adversarial")["distractors"]
    labels = collections.Counter()
    for row in rows(f"adv_{name}", "test"):
        text, label, kind = row["sentence"], row["label"], row["perturbation"]
        labels[label] += 1
        words = words_in(text)
        if kind == "negation":  # the sentiment word is negated and the label flipped
            assert " not " in text
            (adjective,) = words & set(clean)
            assert label == 1 - clean[adjective]
        elif kind == "synonym":
            assert not words & set(clean)
            (synonym,) = {word for word in synonyms if re.search(rf"\b{word}\b", text)}
            assert label == synonyms[synonym]
        elif kind == "distractor":
            assert any(text.endswith(f", and {clause}.") for clause in distractors)
            (adjective,) = words & set(clean)
            assert label == clean[adjective]
        else:
            assert kind == "typo"
            assert not words & set(clean)  # the one label-bearing word is misspelled
    assert abs(labels[0] - labels[1]) <= 4


@pytest.mark.slow
def test_adversarial_nli_negation_contradicts_an_entailed_hypothesis():
    negated = [row for row in rows("adv_toy_nli", "dev") if row["perturbation"] == "negation"]
    assert negated
    for row in negated:
        assert " did not " in row["hypothesis"]
        assert row["label"] == 1  # not_entailment
        name = row["hypothesis"].split()[0]
        assert row["premise"].startswith(name) or f", {name} " in row["premise"]


@pytest.mark.slow
def test_adversarial_topic_keeps_the_topic():
    counts = collections.Counter(row["label"] for row in rows("adv_toy_topic", "test"))
    assert max(counts.values()) - min(counts.values()) <= 3


def test_adversarial_sets_have_no_train_split():
    with pytest.raises(NeurokitError, match="no train split"):
        load_split("adv_toy_sentiment_movies", "train")


def test_generator_and_spec_must_agree():
    spec = dataclasses.replace(get_task("toy_nli"), text_fields=("text",), template="{text}")
    with pytest.raises(ConfigError, match="produces fields"):
        load_split(spec, "dev", size=2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"family": "poetry"}, "generated task family must be one of nli, .*, got 'poetry'"),
        ({"family": "topic", "perturbations": ("shouting",)}, "perturbations must be among"),
        ({"family": "topic", "sizes": {"validation": 5}}, "sizes must give"),
        ({"family": "topic", "sizes": {"dev": 0}}, "sizes must give"),
    ],
)
def test_generated_source_is_validated(arguments: dict, message: str):
    with pytest.raises(ConfigError, match=message):
        GeneratedSource(**arguments)


def test_generated_source_coerces_kinds_and_orders_sizes():
    source = GeneratedSource("nli", ("typo", "negation"), {"test": 3, "dev": 2})
    assert source.perturbations == (TextPerturbation.TYPO, TextPerturbation.NEGATION)
    assert source.splits == ("dev", "test")
    spec = dataclasses.replace(get_task("adv_toy_nli"), name="adv_toy_nli_small", source=source)
    test = load_split(spec, "test")
    assert len(test) == 3
    assert set(test["perturbation"]) == {"typo", "negation"}


def test_negation_does_not_apply_to_topics():
    spec = dataclasses.replace(
        get_task("adv_toy_topic"), name="adv_topic_negated", source=GeneratedSource("topic", ("negation",))
    )
    with pytest.raises(ConfigError, match="do not apply"):
        load_split(spec, "dev", size=4)


def test_generated_data_are_pinned():
    # Golden values: editing a word list or the generator changes every generated split; that must be a
    # deliberate change (update these values on purpose), never an accident.
    assert list(load_split("toy_sentiment_movies", "dev", size=3)["sentence"]) == [
        "The camera work was truly terrible. I went with my brother.",
        "To be fair, the plot seemed great.",
        "After the credits rolled, I felt the script had been horrible.",
    ]
    assert load_split("adv_toy_nli", "test", size=2).to_list() == [
        {
            "id": "adv_toy_nli-test-000000",
            "premise": "David built a simple shed in the village on Tuesday.",
            "hypothesis": "David built a bench, and water is wet.",
            "label": 1,
            "perturbation": "distractor",
        },
        {
            "id": "adv_toy_nli-test-000001",
            "premise": "Olivia found a tiny key at the office last summer.",
            "hypothesis": "Olivia discovered a latchkey at the office.",
            "label": 0,
            "perturbation": "synonym",
        },
    ]
