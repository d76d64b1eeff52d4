"""Reuse of the demo's finished steps: the output folder's claim and the record of each finished prompt.

A prompt is reused when its folder holds a record of exactly the settings it would be made with now (a prompt
interrupted before its record was written is made again); stores are reused by ``extract_run`` from their
identity. Analysis, figures and summary are always rewritten.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from neurokit.demo.config import DemoConfig
from neurokit.study.runner import claim_folder

#: Marks a folder as written by this command; a non-empty folder without it is never written into.
MARKER = "demo.json"
FINISHED = "finished.json"


def prepare_folder(out: Path, config: DemoConfig) -> None:
    """Refuse a non-empty folder that is not a demo's; record the settings (earlier results stay reusable)."""
    claim_folder(out, MARKER, "demo", {"config": asdict(config)})


def finished_record(folder: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The record of a prompt finished with exactly ``settings``, else None."""
    path = folder / FINISHED
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("settings") == settings else None


def record_finished(folder: Path, settings: dict[str, Any], dev_accuracy: float, train_seconds: float) -> None:
    """Mark the prompt in ``folder`` finished with ``settings``, its best dev accuracy and its training time (s)."""
    (folder / FINISHED).write_text(json.dumps({"settings": settings, "dev_accuracy": dev_accuracy,
                                               "train_seconds": train_seconds}))
