"""benchmarks/gpu_suite.sh: end to end at tiny sizes on a CPU (--smoke), and its stop before any measurement when
a package is missing (benchmarks/gpu_preflight.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from benchmarks import gpu_preflight as preflight

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "benchmarks" / "gpu_suite.sh"
STEPS = ("Prompt-tuning step time", "Extraction against the bare forward pass",
         "What the papers' studies cost at full size (estimate from the two steps above)",
         "Analysis store, read and predictivity on dask's threads", "Predictivity on dask.distributed clusters")


def _suite(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "OUT"} | {"PYTHON": sys.executable}
    return subprocess.run(["bash", str(SUITE), *args], capture_output=True, text=True, env=environment, cwd=cwd,
                          timeout=900, check=False)


def _wheel(folder: Path, requirement: str) -> Path:
    """A pure-Python wheel of one empty module whose metadata requires ``requirement``."""
    path = folder / "carried_probe-1.0-py3-none-any.whl"
    files = {
        "carried_probe/__init__.py": "",
        "carried_probe-1.0.dist-info/METADATA": f"Metadata-Version: 2.1\nName: carried-probe\nVersion: 1.0\n"
                                                f"Requires-Dist: {requirement}\n",
        "carried_probe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                             "Tag: py3-none-any\n",
    }
    record = "".join(f"{name},,\n" for name in [*files, "carried_probe-1.0.dist-info/RECORD"])
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in {**files, "carried_probe-1.0.dist-info/RECORD": record}.items():
            archive.writestr(name, text)
    return path


@pytest.mark.slow
def test_smoke_run_measures_every_step_into_the_report(tmp_path):
    result = _suite(tmp_path, "--smoke", "--no-wheels", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-4000:]
    report = (tmp_path / "out" / "gpu-suite.md").read_text()
    assert report in result.stdout  # printed too, for a run whose files do not come back
    assert report.startswith("# GPU suite (smoke") and "preflight ok" in report
    for title in STEPS:
        assert f"\n## {title}\n" in report
    assert "**Failed**" not in report and "Not run" not in report and "Not measured" not in report
    # each benchmark's table, its headings moved below the step's
    for model in ("roberta-tiny", "t5-tiny"):
        assert f"| {model} | float32 (bf16 needs CUDA) |" in report and f"| {model} | float32 |" in report
    assert "× forward" in report and "× disk" in report and "≥ 0.8× forward or disk" in report
    assert "| read-dask |" in report
    assert "| wang2022 | roberta-base | 21 |" in report and "| h total |" in report  # hours from the JSON rows
    assert "× linear" in report and "scores identical for every cluster size" in report
    assert "\n### " in report and "\n## Prompt-tuning step time:" not in report
    assert (tmp_path / "out" / "gpu-suite.log").stat().st_size > 0


@pytest.mark.slow
def test_a_missing_requirement_stops_the_suite_before_any_measurement(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "neurokit-test-absent-package>=1.0")
    result = _suite(tmp_path, "--smoke", "--wheels", str(wheels), "--out", str(tmp_path / "out"))
    assert result.returncode == 3, result.stderr[-4000:]
    assert "gpu_suite: neurokit-test-absent-package is missing (carried-probe 1.0, carried needs " in result.stderr
    assert "benchmarks/gpu_wheels.sh" in result.stderr
    assert not (tmp_path / "out" / "gpu-suite.md").exists()


def test_preflight_names_what_is_missing_or_too_old():
    assert preflight.unmet(Requirement("numpy>=1"), "neurokit") is None
    assert preflight.unmet(Requirement("numpy>=1; python_version < '3'"), "x") is None  # not for this Python
    assert "numpy" in preflight.unmet(Requirement("numpy>=999"), "neurokit") and \
        "does not satisfy numpy>=999 (neurokit)" in preflight.unmet(Requirement("numpy>=999"), "neurokit")
    assert preflight.unmet(Requirement("neurokit-test-absent-package"), "x") == \
        "neurokit-test-absent-package is missing (x needs neurokit-test-absent-package)"
    assert preflight.project_problems() == []  # the test environment has everything neurokit needs


def test_preflight_stops_for_missing_carried_requirements_and_warns_for_other_versions(tmp_path):
    info = tmp_path / "carried_probe-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: carried-probe\nVersion: 1.0\n"
                                   "Requires-Dist: numpy>=999\nRequires-Dist: neurokit-test-absent-package\n"
                                   "Requires-Dist: neurokit-test-optional; extra == 'docs'\n")
    missing, versions = preflight.carried_problems(tmp_path)
    assert missing == ["neurokit-test-absent-package is missing (carried-probe 1.0, carried needs "
                       "neurokit-test-absent-package)"]
    assert len(versions) == 1 and versions[0].startswith("numpy ") and "does not satisfy numpy>=999" in versions[0]


def test_usage_errors_exit_2(tmp_path):
    result = _suite(tmp_path, "--bogus")
    assert result.returncode == 2 and "unknown option --bogus" in result.stderr
