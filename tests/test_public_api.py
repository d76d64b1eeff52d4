"""The public surface: every package exports its names lazily through one mechanism (lazy_loader reading the
package's ``__init__.pyi``), ``import neurokit`` stays light, and docs/api.md is what docs/gen_api.py writes."""

from __future__ import annotations

import importlib
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import neurokit

DOCS = Path(__file__).resolve().parents[1] / "docs"
PACKAGES = ("neurokit", "neurokit.analysis", "neurokit.extract", "neurokit.interventions", "neurokit.models",
            "neurokit.plots", "neurokit.prompts", "neurokit.selftest", "neurokit.study", "neurokit.tasks")


def test_import_neurokit_loads_no_heavy_library_until_a_name_is_used():
    code = ("import sys, neurokit; names = dir(neurokit); "
            "print(sorted({'torch', 'xarray', 'transformers', 'matplotlib'} & set(sys.modules)), len(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "[]" and int(out[1]) == len(neurokit.__all__) > 0


@pytest.mark.parametrize("package_name", PACKAGES)
def test_every_exported_name_resolves_and_dir_lists_it(package_name):
    package = importlib.import_module(package_name)
    assert package.__all__ == sorted(set(package.__all__)) and set(dir(package)) == set(package.__all__)
    for name in package.__all__:
        getattr(package, name)
    with pytest.raises(AttributeError):
        package.no_such_name  # noqa: B018


def test_top_level_names_are_the_stage_objects():
    from neurokit.analysis.skill import SkillNeurons
    from neurokit.extract.reader import open_run
    from neurokit.interventions.ablation import SkillAblationExperiment

    assert neurokit.open_run is open_run and neurokit.SkillNeurons is SkillNeurons
    assert neurokit.SkillAblationExperiment is SkillAblationExperiment


def test_api_page_is_generated_from_the_current_docstrings():
    render = runpy.run_path(str(DOCS / "gen_api.py"))["render"]
    assert (DOCS / "api.md").read_text(encoding="utf-8") == render(), "docs/api.md is stale: python docs/gen_api.py"
