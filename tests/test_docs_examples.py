"""The Python examples of docs/usage.md run as written: every ```python block, in order, in one namespace.

The guide presents its examples as one session (later blocks use what earlier ones made), so they are executed
the same way, in a fresh temporary working directory. A failure names the block and its first line in the
Markdown file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

USAGE = Path(__file__).resolve().parents[1] / "docs" / "usage.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number of the block's first code line, code) of every ```python block, in document order."""
    return [(text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in FENCE.finditer(text)]


def test_usage_has_python_examples():
    blocks = python_blocks(USAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    for line, code in blocks:
        compile(code, f"{USAGE}:{line}", "exec")  # every block is valid Python on its own


def test_usage_links_resolve():
    for target in re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", USAGE.read_text(encoding="utf-8")):
        assert (USAGE.parent / target).is_file(), f"usage.md links to missing {target}"


@pytest.mark.slow
def test_usage_python_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs_example__"}
    for line, code in python_blocks(USAGE.read_text(encoding="utf-8")):
        # The file name makes a traceback point into docs/usage.md at the block's own lines.
        exec(compile("\n" * (line - 1) + code, str(USAGE), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "encoder.layer.3.output.dense" in printed
    assert (tmp_path / "prompts" / "movies-s0" / "prompt.safetensors").is_file()
    assert (tmp_path / "results.zarr").is_dir()
    assert (tmp_path / "figures" / "skill_map.png").is_file()
    assert (tmp_path / "figures" / "skill_map.pdf").is_file()
