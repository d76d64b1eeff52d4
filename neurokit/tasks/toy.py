"""The built-in offline task suite: small classification tasks generated from this project's word lists.

Each clean task draws sentences from templates × subjects × keywords × optional intensifiers and context
sentences (``neurokit/tasks/wordlists/*.json``). Generation is a pure function of (task name, split, seed):
a numpy Generator seeded through :class:`numpy.random.SeedSequence` from a BLAKE2b digest of the task name,
never from Python's ``hash()``. Properties:

- labels are balanced: each block of ``num_labels`` consecutive examples holds every label once;
- no text occurs twice in a task, and train/dev/test never share a text: a text belongs to the split
  that a digest of the text assigns it to (80 % train, 10 % dev, 10 % test), other draws are rejected;
- a smaller ``size`` gives a prefix of a larger one (same seed).

Each adversarial task (``adv_<clean name>``, dev and test only) takes fresh sentences of the clean task's
distribution from the same split bucket (so never a training sentence) and applies one
:class:`~neurokit.tasks.perturb.TextPerturbation` per example, the kinds cycling in shuffled blocks.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import datasets
import numpy as np

from neurokit.errors import ConfigError
from neurokit.tasks.loading import build_dataset, stable_digest
from neurokit.tasks.perturb import (
    Keyword,
    TextPerturbation,
    append_distractor,
    keywords,
    load_wordlist,
    pick,
    typo,
)
from neurokit.tasks.spec import SPLITS, TaskSpec, TaskType
from neurokit.validation import as_enums, one_of

CLEAN_SIZES: tuple[tuple[str, int], ...] = (("train", 2000), ("dev", 500), ("test", 500))
ADVERSARIAL_SIZES: tuple[tuple[str, int], ...] = (("dev", 500), ("test", 500))

# Upper bounds of the text digest (as a fraction of 2**64) for each split; the rest goes to test.
_SPLIT_BUCKETS = (("train", 0.8), ("dev", 0.9))
_BUCKET_SALT = b"neurokit/toy-split/v1\x00"
_STREAM_SALT = b"neurokit/toy-stream/v1\x00"
# Consecutive rejected draws after which the word lists are taken to be exhausted.
_MAX_REJECTIONS = 10_000


class _Generator(ABC):
    """Draws structured examples ("choices") for one task family, renders and negates them.

    Subclasses take the name of their word list (``wordlists/<name>.json``) as the only argument.
    """

    text_fields: tuple[str, ...]
    label_names: tuple[str, ...]
    keyword_slots: tuple[str, ...]  # choices that hold label-bearing Keywords (typo and synonym targets)
    negation_labels: tuple[int, ...] = ()  # labels a negated example can end up with; empty: no negation

    @abstractmethod
    def __init__(self, wordlist: str) -> None:
        """Read the word list ``wordlists/<wordlist>.json``."""

    @abstractmethod
    def draw(self, rng: np.random.Generator, label: int) -> dict[str, Any]:
        """Random choices for one clean example of class ``label``."""

    @abstractmethod
    def render(self, choices: dict[str, Any]) -> dict[str, str]:
        """Text field → text."""

    def negate(self, choices: dict[str, Any], label: int) -> tuple[dict[str, Any], int] | None:
        """Choices with the label-bearing statement negated and the new label, or ``None`` if not applicable."""
        return None

    def labels_after(self, kind: TextPerturbation) -> tuple[int, ...]:
        """Labels that examples perturbed by ``kind`` can have."""
        return self.negation_labels if kind is TextPerturbation.NEGATION else tuple(range(len(self.label_names)))


class _SentimentGenerator(_Generator):
    """Review sentences whose polarity sits in one adjective; negation inserts "not" and flips the label."""

    text_fields = ("sentence",)
    label_names = ("negative", "positive")
    keyword_slots = ("adjective",)
    negation_labels = (0, 1)

    def __init__(self, wordlist: str) -> None:
        words = load_wordlist(wordlist)
        self._subjects: list[str] = words["subjects"]
        self._templates: list[dict[str, str]] = words["templates"]
        self._intensifiers: list[str] = words["intensifiers"]
        self._contexts: list[str] = words["contexts"]
        self._adjectives = [keywords(words["adjectives"][name]) for name in self.label_names]

    def draw(self, rng: np.random.Generator, label: int) -> dict[str, Any]:
        return {
            "template": pick(rng, self._templates),
            "subject": pick(rng, self._subjects),
            "intensifier": pick(rng, self._intensifiers) if rng.random() < 0.5 else "",
            "adjective": pick(rng, self._adjectives[label]),
            "context": pick(rng, self._contexts) if rng.random() < 0.5 else None,
            "context_first": bool(rng.random() < 0.5),
            "negated": False,
        }

    def render(self, choices: dict[str, Any]) -> dict[str, str]:
        pattern = choices["template"]["negated" if choices["negated"] else "plain"]
        body = _sentence(
            pattern.format(
                subject=choices["subject"], intensifier=choices["intensifier"], adjective=choices["adjective"].word
            )
        )
        return {"sentence": _with_context(body, choices["context"], choices["context_first"])}

    def negate(self, choices: dict[str, Any], label: int) -> tuple[dict[str, Any], int] | None:
        # "not very great" is hedged rather than negative, so the intensifier goes.
        return {**choices, "negated": True, "intensifier": ""}, 1 - label


class _TopicGenerator(_Generator):
    """News sentences naming an actor and a thing of one topic; negation leaves a topic unchanged, so none."""

    text_fields = ("text",)
    label_names = ("sports", "business", "science", "politics")
    keyword_slots = ("actor", "thing")

    def __init__(self, wordlist: str) -> None:
        words = load_wordlist(wordlist)
        self._templates: list[str] = words["templates"]
        self._times: list[str] = words["times"]
        self._contexts: list[str] = words["contexts"]
        topics = words["topics"]
        self._actors = [keywords(topics[name]["actors"]) for name in self.label_names]
        self._things = [keywords(topics[name]["things"]) for name in self.label_names]

    def draw(self, rng: np.random.Generator, label: int) -> dict[str, Any]:
        return {
            "template": pick(rng, self._templates),
            "actor": pick(rng, self._actors[label]),
            "thing": pick(rng, self._things[label]),
            "time": pick(rng, self._times),
            "context": pick(rng, self._contexts) if rng.random() < 0.3 else None,
        }

    def render(self, choices: dict[str, Any]) -> dict[str, str]:
        body = _sentence(
            choices["template"].format(actor=choices["actor"].word, thing=choices["thing"].word, time=choices["time"])
        )
        return {"text": _with_context(body, choices["context"], context_first=False)}


class _NliGenerator(_Generator):
    """Premise: who did what to which thing, where, when. Entailed hypothesis: a part of it; not entailed: one
    detail changed. Negation turns an entailed hypothesis into a contradiction ("did not"), label → not."""

    text_fields = ("premise", "hypothesis")
    label_names = ("entailment", "not_entailment")
    keyword_slots = ("hypothesis_verb", "hypothesis_noun")
    negation_labels = (1,)
    _ENTAILED_FORMS = ("short", "adjective", "place")
    _CHANGED_DETAILS = ("name", "noun", "adjective", "place")

    def __init__(self, wordlist: str) -> None:
        words = load_wordlist(wordlist)
        self._names: list[str] = words["names"]
        self._templates: list[str] = words["premise_templates"]
        self._places: list[str] = words["places"]
        self._times: list[str] = words["times"]
        self._actions = [
            (
                Keyword(action["verb"]["word"], tuple(action["verb"]["synonyms"])),
                action["verb"]["base"],
                tuple(action["adjectives"]),
                keywords(action["nouns"]),
            )
            for action in words["actions"]
        ]

    def draw(self, rng: np.random.Generator, label: int) -> dict[str, Any]:
        verb, verb_base, adjectives, nouns = pick(rng, self._actions)
        name, noun, adjective, place = (
            pick(rng, options) for options in (self._names, nouns, adjectives, self._places)
        )
        choices = {
            "template": pick(rng, self._templates),
            "name": name,
            "verb": verb,
            "verb_base": verb_base,
            "noun": noun,
            "adjective": adjective,
            "place": place,
            "time": pick(rng, self._times),
            "hypothesis_name": name,
            "hypothesis_verb": verb,
            "hypothesis_noun": noun,
            "hypothesis_adjective": None,
            "hypothesis_place": None,
            "negated": False,
        }
        if label == 0:
            form = pick(rng, self._ENTAILED_FORMS)
            if form == "adjective":
                choices["hypothesis_adjective"] = adjective
            elif form == "place":
                choices["hypothesis_place"] = place
            return choices
        for detail in self._changed_details(rng):
            if detail == "name":
                choices["hypothesis_name"] = pick(rng, [other for other in self._names if other != name])
            elif detail == "noun":
                choices["hypothesis_noun"] = pick(rng, [other for other in nouns if other != noun])
            elif detail == "adjective":
                choices["hypothesis_adjective"] = pick(rng, [other for other in adjectives if other != adjective])
            else:
                choices["hypothesis_place"] = pick(rng, [other for other in self._places if other != place])
        return choices

    def _changed_details(self, rng: np.random.Generator) -> tuple[str, ...]:
        """The details a not-entailed hypothesis changes: one, at random."""
        return (pick(rng, self._CHANGED_DETAILS),)

    def render(self, choices: dict[str, Any]) -> dict[str, str]:
        premise = choices["template"].format(
            name=choices["name"],
            verb=choices["verb"].word,
            object=_with_article(f"{choices['adjective']} {choices['noun'].word}"),
            place=choices["place"],
            time=choices["time"],
        )
        hypothesis_object = " ".join(filter(None, (choices["hypothesis_adjective"], choices["hypothesis_noun"].word)))
        hypothesis = " ".join(
            filter(
                None,
                (
                    choices["hypothesis_name"],
                    f"did not {choices['verb_base']}" if choices["negated"] else choices["hypothesis_verb"].word,
                    _with_article(hypothesis_object),
                    choices["hypothesis_place"],
                ),
            )
        )
        return {"premise": _sentence(premise), "hypothesis": _sentence(hypothesis + ".")}

    def negate(self, choices: dict[str, Any], label: int) -> tuple[dict[str, Any], int] | None:
        # Negating a hypothesis that already fails to follow rarely makes it follow ("Tom did not buy a car"
        # says nothing about Anna), so only entailed hypotheses are negated: entailment → contradiction.
        if label != 0:
            return None
        return {**choices, "negated": True}, 1


class _ContrastNliGenerator(_NliGenerator):
    """The NLI premises and entailed hypotheses of :class:`_NliGenerator`; a not-entailed hypothesis names
    another person *and* another thing (and another adjective or place where it names one), so that it shares
    only the verb with its premise. Word overlap separates the classes: an NLI task that a small frozen model
    learns with a short prompt in a few dozen steps, where one changed detail is not learned (docs/tasks.md)."""

    def _changed_details(self, rng: np.random.Generator) -> tuple[str, ...]:
        # The hypothesis takes the entailed forms' shapes in the same shares (short, with the adjective, with
        # the place), so that its length says nothing about the label.
        form = pick(rng, self._ENTAILED_FORMS)
        return ("name", "noun") + ((form,) if form != "short" else ())


#: Family name → (generator class, word-list file name).
_FAMILIES: dict[str, tuple[type[_Generator], str]] = {
    "sentiment_movies": (_SentimentGenerator, "sentiment_movies"),
    "sentiment_products": (_SentimentGenerator, "sentiment_products"),
    "topic": (_TopicGenerator, "topic"),
    "nli": (_NliGenerator, "nli"),
    "nli_contrast": (_ContrastNliGenerator, "nli"),
}


@functools.cache
def _generator(family: str) -> _Generator:
    generator_class, wordlist = _FAMILIES[family]
    return generator_class(wordlist)


@dataclass(frozen=True)
class GeneratedSource:
    """Examples generated on the fly from the word lists.

    Attributes:
        family: which generator: ``"sentiment_movies"``, ``"sentiment_products"``, ``"topic"`` or ``"nli"``.
        perturbations: empty for a clean task; otherwise the adversarial kinds applied, one per example.
        sizes: default number of examples per split; the splits listed are the ones served.
    """

    family: str
    perturbations: tuple[TextPerturbation, ...] = ()
    sizes: tuple[tuple[str, int], ...] = CLEAN_SIZES

    def __post_init__(self) -> None:
        one_of(self.family, sorted(_FAMILIES), "generated task family")
        perturbations = as_enums(self.perturbations, TextPerturbation, "perturbations", allow_empty=True)
        object.__setattr__(self, "perturbations", perturbations)
        sizes = dict(self.sizes)
        if not sizes or set(sizes) - set(SPLITS) or not all(isinstance(n, int) and n > 0 for n in sizes.values()):
            raise ConfigError(
                f"sizes must give a positive example count for some of {', '.join(SPLITS)}, got {self.sizes}"
            )
        object.__setattr__(self, "sizes", tuple((split, sizes[split]) for split in SPLITS if split in sizes))

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(split for split, _ in self.sizes)

    def describe(self) -> str:
        if not self.perturbations:
            return f"generated ({self.family})"
        return f"generated ({self.family}; {', '.join(self.perturbations)})"

    def describe_splits(self) -> str:
        return ", ".join(f"{split} {size}" for split, size in self.sizes)

    def load(self, spec: TaskSpec, split: str, size: int | None, seed: int) -> datasets.Dataset:
        generator = _generator(self.family)
        if generator.text_fields != spec.text_fields or generator.label_names != spec.label_names:
            raise ConfigError(
                f"task {spec.name!r}: generated family {self.family!r} produces fields {list(generator.text_fields)} "
                f"and labels {list(generator.label_names)}, not the spec's"
            )
        count = dict(self.sizes)[split] if size is None else size
        root = np.random.SeedSequence([stable_digest(spec.name, _STREAM_SALT), SPLITS.index(split), seed])
        extra = None
        if self.perturbations:
            adversarial = list(islice(_adversarial_stream(generator, split, self.perturbations, root), count))
            rows = [(texts, label) for texts, label, _ in adversarial]
            extra = {"perturbation": [kind.value for _, _, kind in adversarial]}
        else:
            rows = [(texts, label) for texts, label, _ in islice(_clean_stream(generator, split, root), count)]
        prefix = f"{spec.name}-{split}-" + (f"s{seed}-" if seed else "")
        return build_dataset(
            spec,
            ids=[f"{prefix}{index:06d}" for index in range(len(rows))],
            texts={name: [texts[name] for texts, _ in rows] for name in spec.text_fields},
            labels=[label for _, label in rows],
            extra=extra,
        )


def _clean_stream(
    generator: _Generator, split: str, seed: np.random.SeedSequence
) -> Iterator[tuple[dict[str, str], int, dict[str, Any]]]:
    """Endless distinct clean examples of ``split``'s bucket: ``(texts, label, choices)``."""
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    while True:
        for label in rng.permutation(len(generator.label_names)):
            label = int(label)
            for _ in range(_MAX_REJECTIONS):
                choices = generator.draw(rng, label)
                texts = generator.render(choices)
                key = "\n".join(texts[name] for name in generator.text_fields)
                if key not in seen and _bucket(key) == split:
                    seen.add(key)
                    yield texts, label, choices
                    break
            else:
                raise ConfigError(f"the word lists hold too few distinct {split} examples; ask for a smaller size")


def _adversarial_stream(
    generator: _Generator, split: str, kinds: tuple[TextPerturbation, ...], seed: np.random.SeedSequence
) -> Iterator[tuple[dict[str, str], int, TextPerturbation]]:
    """Endless distinct perturbed examples of ``split``'s bucket: ``(texts, label, kind)``.

    Kinds come in shuffled blocks, so each kind has the same share. Within each kind the resulting labels
    come in shuffled blocks too (clean examples are taken until one ends with the wanted label), so labels
    are balanced wherever the kind can produce every label; negation in NLI only ever yields "not entailed".
    """
    targets = {kind: generator.labels_after(kind) for kind in kinds}
    useless = [kind.value for kind, labels in targets.items() if not labels]
    if useless:
        raise ConfigError(
            f"perturbation(s) {', '.join(useless)} do not apply to the {type(generator).__name__} examples"
        )
    clean_seed, perturb_seed = seed.spawn(2)
    clean = _clean_stream(generator, split, clean_seed)
    rng = np.random.default_rng(perturb_seed)
    label_blocks: dict[TextPerturbation, list[int]] = {kind: [] for kind in kinds}
    seen: set[str] = set()
    while True:
        for kind_index in rng.permutation(len(kinds)):
            kind = kinds[int(kind_index)]
            if not label_blocks[kind]:
                label_blocks[kind] = [targets[kind][int(index)] for index in rng.permutation(len(targets[kind]))]
            wanted = label_blocks[kind].pop()
            for _ in range(_MAX_REJECTIONS):
                _, label, choices = next(clean)
                perturbed = _perturb(generator, choices, label, kind, rng)
                if perturbed is None or perturbed[1] != wanted:
                    continue
                texts, _ = perturbed
                key = "\n".join(texts[name] for name in generator.text_fields)
                if key not in seen:
                    seen.add(key)
                    yield texts, wanted, kind
                    break
            else:
                raise ConfigError(f"the word lists hold too few distinct {split} examples for {kind.value!r}")


def _perturb(
    generator: _Generator, choices: dict[str, Any], label: int, kind: TextPerturbation, rng: np.random.Generator
) -> tuple[dict[str, str], int] | None:
    """Texts and label of ``choices`` after ``kind``, or ``None`` when ``kind`` does not apply."""
    if kind is TextPerturbation.NEGATION:
        negated = generator.negate(choices, label)
        if negated is None:
            return None
        choices, label = negated
    elif kind in (TextPerturbation.TYPO, TextPerturbation.SYNONYM):
        choices = dict(choices)
        for slot in generator.keyword_slots:
            keyword: Keyword = choices[slot]
            replacement = typo(keyword.word, rng) if kind is TextPerturbation.TYPO else pick(rng, keyword.synonyms)
            choices[slot] = Keyword(replacement)
    texts = generator.render(choices)
    if kind is TextPerturbation.DISTRACTOR:
        last = generator.text_fields[-1]
        texts[last] = append_distractor(texts[last], pick(rng, load_wordlist("adversarial")["distractors"]))
    return texts, label


def _bucket(key: str) -> str:
    fraction = stable_digest(key, _BUCKET_SALT) / 2.0**64
    return next((split for split, upper in _SPLIT_BUCKETS if fraction < upper), "test")


def _sentence(text: str) -> str:
    """Single spaces, no space before punctuation, capital first letter."""
    text = re.sub(r"\s+([,.!?])", r"\1", " ".join(text.split()))
    return text[:1].upper() + text[1:]


def _with_context(body: str, context: str | None, context_first: bool) -> str:
    if context is None:
        return body
    return f"{context} {body}" if context_first else f"{body} {context}"


def _with_article(noun_phrase: str) -> str:
    return f"{'an' if noun_phrase[:1].lower() in 'aeiou' else 'a'} {noun_phrase}"


def _toy_task(name: str, task_type: TaskType, family: str, label_words: tuple[str, ...], template: str) -> TaskSpec:
    generator_class, _ = _FAMILIES[family]
    return TaskSpec(
        name=name,
        task_type=task_type,
        text_fields=generator_class.text_fields,
        label_names=generator_class.label_names,
        label_words=label_words,
        template=template,
        source=GeneratedSource(family),
    )


def _adversarial_task(clean: TaskSpec, kinds: tuple[TextPerturbation, ...]) -> TaskSpec:
    source = clean.source
    assert isinstance(source, GeneratedSource)
    return dataclasses.replace(
        clean,
        name=f"adv_{clean.name}",
        adversarial_of=clean.name,
        source=GeneratedSource(source.family, kinds, ADVERSARIAL_SIZES),
    )


_SENTIMENT_WORDS = ("negative", "positive")
_MOVIES = _toy_task("toy_sentiment_movies", TaskType.SENTIMENT, "sentiment_movies", _SENTIMENT_WORDS, "{sentence}")
_PRODUCTS = _toy_task(
    "toy_sentiment_products", TaskType.SENTIMENT, "sentiment_products", _SENTIMENT_WORDS, "{sentence}"
)
_TOPIC = _toy_task("toy_topic", TaskType.TOPIC, "topic", ("sports", "business", "science", "politics"), "{text}")
_NLI = _toy_task("toy_nli", TaskType.NLI, "nli", ("yes", "no"), "{premise} ? {hypothesis}")
_NLI_CONTRAST = _toy_task("toy_nli_contrast", TaskType.NLI, "nli_contrast", ("yes", "no"), "{premise} ? {hypothesis}")
_ALL_KINDS = tuple(TextPerturbation)

TOY_TASKS: tuple[TaskSpec, ...] = (
    _MOVIES,
    _PRODUCTS,
    _TOPIC,
    _NLI,
    _NLI_CONTRAST,
    _adversarial_task(_MOVIES, _ALL_KINDS),
    _adversarial_task(_PRODUCTS, _ALL_KINDS),
    # A topic does not change under negation, so the topic set uses the three label-preserving kinds.
    _adversarial_task(_TOPIC, (TextPerturbation.TYPO, TextPerturbation.SYNONYM, TextPerturbation.DISTRACTOR)),
    _adversarial_task(_NLI, _ALL_KINDS),
    _adversarial_task(_NLI_CONTRAST, _ALL_KINDS),
)
