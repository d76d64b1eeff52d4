"""AdvGLUE-style perturbations for the offline suite: character typos, synonym swaps, distractor clauses and
label-flipping negation.

Typos and synonym swaps act on label-bearing keywords (the sentiment adjective, the topic words, the
hypothesis verb and noun); distractors append a label-irrelevant clause; negation is task-specific (it needs
the sentence's structure) and lives with each generator in :mod:`neurokit.tasks.toy`.
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np


class TextPerturbation(enum.StrEnum):
    """Kind of adversarial change, recorded per example in the ``perturbation`` column."""

    TYPO = "typo"  # one character-level edit in every label-bearing keyword; label kept
    SYNONYM = "synonym"  # every label-bearing keyword replaced by a synonym unseen in clean data; label kept
    DISTRACTOR = "distractor"  # ", and <tautology>." appended to the last text field; label kept
    NEGATION = "negation"  # the label-bearing statement negated; label changed accordingly


@dataclass(frozen=True)
class Keyword:
    """A label-bearing word or phrase and the synonyms that the synonym swap may put in its place."""

    word: str
    synonyms: tuple[str, ...] = ()


@functools.cache
def load_wordlist(name: str) -> dict[str, Any]:
    """The parsed ``neurokit/tasks/wordlists/<name>.json`` (cached; callers must not mutate it)."""
    text = resources.files("neurokit.tasks").joinpath("wordlists", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def keywords(entries: Sequence[dict[str, Any]]) -> tuple[Keyword, ...]:
    """Wordlist entries ``{"word": ..., "synonyms": [...]}`` as :class:`Keyword` objects."""
    return tuple(Keyword(entry["word"], tuple(entry["synonyms"])) for entry in entries)


def pick(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    """One element of ``options``, uniformly (index drawn with ``rng.integers``)."""
    return options[int(rng.integers(len(options)))]


def typo(phrase: str, rng: np.random.Generator) -> str:
    """``phrase`` with one character-level edit in its longest word (first of equals).

    Edits, as in character-level attacks: swap two neighbouring letters, drop a letter, double a letter, a
    look-alike digit or symbol (``o``→``0``, ``l``→``1``, ``a``→``@``) or a neighbouring key on a QWERTY row.
    The first letter is never touched, which keeps the word recognisable to a reader (and keeps "a"/"an"
    right). The result always differs from ``phrase``.
    """
    words = phrase.split(" ")
    target = max(range(len(words)), key=lambda index: (len(words[index]), -index))
    words[target] = _typo_word(words[target], rng)
    return " ".join(words)


def append_distractor(text: str, clause: str) -> str:
    """``"The film was great."`` + ``"true is true"`` → ``"The film was great, and true is true."``."""
    return f"{text.rstrip().rstrip('.!?')}, and {clause}."


def _typo_word(word: str, rng: np.random.Generator) -> str:
    settings = load_wordlist("adversarial")
    lookalikes: dict[str, str] = settings["typo_lookalikes"]
    neighbours = _keyboard_neighbours(tuple(settings["keyboard_rows"]))
    positions = range(1, len(word))
    candidates = []
    for index in positions:
        character = word[index]
        if index + 1 < len(word) and word[index + 1] != character:
            candidates.append(word[:index] + word[index + 1] + character + word[index + 2 :])
        if len(word) > 3:
            candidates.append(word[:index] + word[index + 1 :])
        candidates.append(word[: index + 1] + character + word[index + 1 :])
        if character in lookalikes:
            candidates.append(word[:index] + lookalikes[character] + word[index + 1 :])
        candidates.extend(word[:index] + key + word[index + 1 :] for key in neighbours.get(character, ()))
    # Duplicates (e.g. doubling either letter of "ll") would make some edits likelier than others.
    candidates = sorted({candidate for candidate in candidates if candidate != word})
    return pick(rng, candidates) if candidates else word + word[-1]


@functools.cache
def _keyboard_neighbours(rows: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {
        key: tuple(row[position] for position in (index - 1, index + 1) if 0 <= position < len(row))
        for row in rows
        for index, key in enumerate(row)
    }
