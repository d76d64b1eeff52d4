"""``neurokit plot`` end to end on a results store written by ``neurokit analyze``."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
from PIL import Image

from neurokit.cli import main

# Every test here draws from a results store that `neurokit analyze` writes first.
pytestmark = pytest.mark.slow
PER_TASK = ("predictivity_by_layer", "skill_map", "prompt_consistency", "clean_vs_adversarial", "null_comparison")


def test_plot_draws_every_supported_figure(results_store, tmp_path, capsys):
    before = dict(matplotlib.rcParams)
    out = tmp_path / "figures"
    assert main(["plot", str(results_store), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    written = [Path(line) for line in captured.out.splitlines()]
    assert all(path.exists() and path.stat().st_size > 0 for path in written)
    stems = {path.name.rsplit(".", 1)[0] for path in written}
    expected = {f"sst2__{name}" for name in PER_TASK} | {"mnli__predictivity_by_layer", "mnli__skill_map",
                                                        "tasks__predictivity_by_layer", "tasks__task_overlap"}
    assert stems == expected
    assert len(written) == 3 * len(expected)
    assert {path.suffix for path in written} == {".pdf", ".svg", ".png"}
    # figures without inputs are skipped with a note each: mnli has one prompt, no adversarial or null data
    notes = captured.err.strip().splitlines()
    assert {note.split(" for ")[0] for note in notes} == {
        "note: skipped prompt_consistency", "note: skipped clean_vs_adversarial", "note: skipped null_comparison"}
    assert all("mnli" in note for note in notes)
    assert dict(matplotlib.rcParams) == before


def test_plot_selects_figures_formats_and_width(results_store, tmp_path, capsys):
    out = tmp_path / "figures"
    code = main(["plot", str(results_store), "--out", str(out), "--figures", "skill_map,task_overlap",
                 "--formats", "png", "--width", "two", "--dpi", "100", "--fraction", "0.05"])
    assert code == 0
    written = sorted(Path(line).name for line in capsys.readouterr().out.splitlines())
    assert written == ["mnli__skill_map.png", "sst2__skill_map.png", "tasks__task_overlap.png"]
    assert Image.open(out / "sst2__skill_map.png").size[0] == 690  # 6.9 in at 100 dpi


@pytest.mark.parametrize("argv, message", [
    (["--figures", "pie_chart"], "unknown figure 'pie_chart'"),
    (["--formats", "png,docx"], "unsupported figure format 'docx'"),
    (["--fraction", "2"], "--fraction must be in (0, 1]"),
])
def test_plot_refusals_are_one_line(results_store, tmp_path, capsys, argv, message):
    assert main(["plot", str(results_store), "--out", str(tmp_path / "f"), *argv]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("neurokit: error:") and message in error and "\n" not in error
    assert not (tmp_path / "f").exists()


def test_plot_refuses_a_missing_store_and_a_store_without_results(tmp_path, capsys):
    assert main(["plot", str(tmp_path / "nothing.zarr"), "--out", str(tmp_path / "f")]) == 2
    assert "no results store" in capsys.readouterr().err
    import xarray as xr

    from neurokit.analysis import save_results

    other = save_results({"x/other": xr.Dataset({"value": ("n", [1.0, 2.0])})}, tmp_path / "other.zarr")
    assert main(["plot", str(other), "--out", str(tmp_path / "f")]) == 2
    assert "no analysis results to plot" in capsys.readouterr().err
