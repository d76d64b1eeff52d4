"""The one validation layer of every config: each validator returns the checked value or raises
:class:`~neurokit.errors.ConfigError` with one line that names the parameter, the value and what is accepted.

Config dataclasses call these in ``__post_init__`` (and functions on their arguments), so a setting is refused
the same way, with the same words, wherever it is given: in Python, in a study file or on the command line.
``name`` is how the message names the parameter: a field name (``"batch_size"``), a flag (``"--workers"``) or
a field in context (``"task 'sst2': task_type"``). Booleans are never numbers here: ``True`` as a batch size or
a fraction is a mistake, not 1.
"""

from __future__ import annotations

import enum
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar, overload

from neurokit.errors import ConfigError

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")


def _listed(choices: Iterable[object]) -> str:
    return ", ".join(str(choice) for choice in choices)


def _enum_values(kind: type[enum.Enum]) -> str:
    return f"{_listed(member.value for member in kind)} ({kind.__name__})"


def as_enum(value: object, kind: type[E], name: str) -> E:
    """The member of ``kind`` that ``value`` is or whose value it is."""
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"{name} must be one of {_enum_values(kind)}, got {value!r}") from None


def one_of(value: T, choices: Sequence[T], name: str) -> T:
    """``value`` if it is one of ``choices`` (plain values; for an enum use :func:`as_enum`)."""
    if value not in choices:
        raise ConfigError(f"{name} must be one of {_listed(choices)}, got {value!r}")
    return value


def _items(values: object) -> tuple:
    # A lone string is one item, not a sequence of characters; so is anything that is not a collection.
    return tuple(values) if isinstance(values, Iterable) and not isinstance(values, str) else (values,)


def _refuse_several(values: tuple, accepted: str, name: str, distinct: bool) -> ConfigError:
    return ConfigError(f"{name} must be {'distinct names ' if distinct else ''}among {accepted}, got {list(values)}")


def _check_several(given: tuple, values: tuple, accepted: str, name: str, distinct: bool, allow_empty: bool) -> None:
    """Refuse no ``values`` at all (unless ``allow_empty``) or a repeat among them (if ``distinct``), quoting
    what was ``given``."""
    if (not values and not allow_empty) or (distinct and len(set(values)) != len(values)):
        raise _refuse_several(given, accepted, name, distinct)


def several_of(values: str | Iterable[T], choices: Sequence[T], name: str, *, distinct: bool = False,
               allow_empty: bool = False) -> tuple[T, ...]:
    """``values`` (a lone string counts as one) as a tuple, if each is one of ``choices``; ``distinct``: no
    value twice; ``allow_empty``: none at all is fine."""
    items = _items(values)
    if any(item not in choices for item in items):
        raise _refuse_several(items, _listed(choices), name, distinct)
    _check_several(items, items, _listed(choices), name, distinct, allow_empty)
    return items


def as_enums(values: object, kind: type[E], name: str, *, distinct: bool = False,
             allow_empty: bool = False) -> tuple[E, ...]:
    """Each of ``values`` (a lone string or member counts as one) as a member of ``kind``, as in
    :func:`several_of`."""
    items = (values,) if isinstance(values, kind) else _items(values)
    try:
        members = tuple(kind(item) for item in items)
    except ValueError:
        raise _refuse_several(items, _enum_values(kind), name, distinct) from None
    _check_several(items, members, _enum_values(kind), name, distinct, allow_empty)
    return members


@overload
def integer(value: object, name: str, *, minimum: int = 1, optional: Literal[False] = False) -> int: ...


@overload
def integer(value: object, name: str, *, minimum: int = 1, optional: bool) -> int | None: ...


def integer(value: object, name: str, *, minimum: int = 1, optional: bool = False) -> int | None:
    """``value`` as an ``int`` if it is a whole number (Python or numpy, not a bool or a float) ≥ ``minimum``;
    ``optional``: ``None`` (unset) is fine too, and returned."""
    if optional and value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        wanted = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer ≥ {minimum}")
        raise ConfigError(f"{name} must be {wanted}{' or None' if optional else ''}, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Interval:
    """A range of real numbers; each end is included unless said otherwise (``low_closed``/``high_closed``)."""

    low: float = -math.inf
    high: float = math.inf
    low_closed: bool = True
    high_closed: bool = True

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return bool(above and below)  # False for NaN, which compares false with everything

    def __str__(self) -> str:
        if self.high == math.inf and self.low == 0:
            return "non-negative" if self.low_closed else "positive"
        if self.high == math.inf:
            return f"{'≥' if self.low_closed else '>'} {self.low:g}"
        return f"in {'[' if self.low_closed else '('}{self.low:g}, {self.high:g}{']' if self.high_closed else ')'}"


#: > 0: a scale or a rate (noise σ, learning rate).
POSITIVE = Interval(0.0, low_closed=False)
#: ≥ 0: a penalty that may be off (weight decay).
NON_NEGATIVE = Interval(0.0)
#: [0, 1]: a share that may be nothing or everything (a sweep of top fractions).
UNIT = Interval(0.0, 1.0)
#: (0, 1]: a share of something that must not be empty (the top fraction of neurons).
FRACTION_RANGE = Interval(0.0, 1.0, low_closed=False)
#: [0, 1): a share that may be nothing but never everything (a warmup ratio, a pruned share).
HALF_OPEN_UNIT = Interval(0.0, 1.0, high_closed=False)
#: (0, 1): a share or probability strictly inside (a confidence level, a chance level, a dev split's share).
OPEN_UNIT = Interval(0.0, 1.0, low_closed=False, high_closed=False)


def real(value: object, name: str, interval: Interval) -> float:
    """``value`` as a ``float`` if it is a real number (not a bool) in ``interval``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or float(value) not in interval:
        raise ConfigError(f"{name} must be {interval}, got {value!r}")
    return float(value)
