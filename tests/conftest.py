import os

import pytest
import torch

# Tests run on 2 CPU cores beside other work: keep torch from oversubscribing them.
torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


@pytest.fixture(autouse=True)
def private_task_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests register user tasks (also through the CLI's spec-file paths); a copy keeps them from leaking.
    from neurokit.tasks import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


@pytest.fixture(scope="session")
def embedded_backbone():
    from neurokit.models import load_backbone

    return load_backbone()
