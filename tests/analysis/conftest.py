"""Fixtures of the analysis tests; the store builders and references live in synthetic_stores.py."""

from __future__ import annotations

import pytest

from tests.helpers.synthetic_stores import make_store


@pytest.fixture
def binary_pair():
    """Train (raw + statistics) and eval store of one prompt of a binary task."""
    train = make_store(1, split="train", n_examples=60, statistics=True)
    data = make_store(2, split="dev", n_examples=45)
    return train, data
