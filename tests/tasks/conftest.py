"""Shared fixtures: every task test gets its own `datasets` cache and no mirror (the registry copy is global)."""

from __future__ import annotations

import datasets
import pytest

from neurokit.tasks import MIRROR_ENV


@pytest.fixture(autouse=True)
def isolated_tasks(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # `datasets` caches every file it reads; keep those copies out of the user's cache.
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path_factory.mktemp("hf_datasets_cache")))
    monkeypatch.delenv(MIRROR_ENV, raising=False)
