"""What every benchmark prints about the machine it ran on, and its Markdown tables."""

from __future__ import annotations

import json
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> float | None:
    """Total RAM in GiB from /proc/meminfo, or None where it cannot be read."""
    try:
        return int(Path("/proc/meminfo").read_text().split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        return None


def print_table(rows: list[dict], formats: dict[str, str]) -> None:
    """A Markdown table of ``rows`` (one dict per row, same keys); numbers formatted by column."""
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = [format(value, formats.get(column, "")) if isinstance(value, (int, float)) else str(value)
                 for column, value in row.items()]
        print("| " + " | ".join(cells) + " |")


def write_json(path: str | None, rows: list[dict], settings: dict, machine: str) -> None:
    """Write a benchmark's rows, its settings and the machine as JSON to ``path`` (for benchmarks/study_cost.py)."""
    if path:
        Path(path).write_text(json.dumps({"rows": rows, "settings": settings, "machine": machine}, indent=1))
