"""Fixtures: prompted models built once per session (see prompted_models.py)."""

from __future__ import annotations

import pytest

from tests.helpers.prompted_models import ARCHITECTURES, Prompted, make_prompted


@pytest.fixture(scope="session")
def prompted_models() -> dict[str, Prompted]:
    """Built once per session: each architecture's backbone is loaded a single time."""
    return {}


@pytest.fixture(params=ARCHITECTURES)
def prompted(request, prompted_models) -> Prompted:
    if request.param not in prompted_models:
        prompted_models[request.param] = make_prompted(request.param)
    return prompted_models[request.param]


@pytest.fixture
def embedded(prompted_models) -> Prompted:
    if "embedded" not in prompted_models:
        prompted_models["embedded"] = make_prompted("embedded")
    return prompted_models["embedded"]
