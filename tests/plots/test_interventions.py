"""Ablation and transfer figures: drawn from the intervention results' layout, refusing other inputs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

from neurokit.plots import ablation_curve, transfer_heatmap
from neurokit.plots._inputs import PlotInputError


def ablation_result() -> xr.Dataset:
    accuracy = xr.DataArray(np.array([[[0.8, 0.8], [0.6, 0.62]], [[0.9, 0.88], [0.89, 0.87]]]),
                            dims=("selection", "fraction", "draw"),
                            coords={"selection": ["skill", "random"], "fraction": [0.02, 0.1], "draw": [0, 1]})
    interval = xr.DataArray(np.array([[[0.7, 0.85], [0.5, 0.7]], [[0.85, 0.93], [0.84, 0.92]]]),
                            dims=("selection", "fraction", "bound"),
                            coords={"selection": ["skill", "random"], "fraction": [0.02, 0.1],
                                    "bound": ["lower", "upper"]}, attrs={"confidence": 0.95})
    return xr.Dataset({"accuracy": accuracy, "accuracy_interval": interval, "reference_accuracy": 0.9})


def _band(ax, index: int) -> np.ndarray:
    """The (x, y) outline of the index-th filled band."""
    return ax.collections[index].get_paths()[0].vertices


def transfer_result() -> xr.Dataset:
    relative = xr.DataArray([[1.0, 0.9], [0.5, 1.0]], dims=("source", "target"),
                            coords={"source": ["movies-seed0", "nli-seed0"], "target": ["movies", "nli"]})
    return xr.Dataset({"relative": relative, "accuracy": relative * 0.9})


def test_ablation_curve_draws_means_bands_and_reference():
    figure = ablation_curve(ablation_result())
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["skill neurons"].get_ydata(), [0.8, 0.61])
    np.testing.assert_allclose(lines["random neurons"].get_xdata(), [2.0, 10.0])
    assert lines["unperturbed"].get_ydata()[0] == pytest.approx(0.9)
    skill_band = _band(ax, 0)  # the skill set's bootstrap interval, not the range of the draws
    assert {tuple(point) for point in skill_band} >= {(2.0, 0.7), (10.0, 0.5), (2.0, 0.85), (10.0, 0.7)}
    assert ax.get_ylabel() == "accuracy (bands: 95% CI)"


def test_ablation_curve_computes_the_intervals_from_per_example_outcomes_or_refuses_without():
    rng = np.random.default_rng(0)
    correct = xr.DataArray(rng.random((2, 2, 3, 40)) < 0.7, dims=("selection", "fraction", "draw", "example"),
                           coords={"selection": ["skill", "random"], "fraction": [0.02, 0.1]})
    result = xr.Dataset({"correct": correct, "accuracy": correct.mean("example")})
    from neurokit.interventions import ablation_effects

    expected = ablation_effects(result)["accuracy_interval"].sel(selection="random")
    ax = ablation_curve(result).axes[0]
    points = {tuple(np.round(point, 12)) for point in _band(ax, 1)}
    assert (10.0, round(float(expected.sel(fraction=0.1, bound="upper")), 12)) in points
    with pytest.raises(PlotInputError, match="accuracy_interval"):
        ablation_curve(result.drop_vars("correct"))


def test_transfer_heatmap_labels_rows_by_prompt_and_columns_by_task():
    figure = transfer_heatmap(transfer_result())
    heatmap_ax = figure.axes[0]
    assert [label.get_text() for label in heatmap_ax.get_yticklabels()] == ["movies-seed0", "nli-seed0"]
    assert [label.get_text() for label in heatmap_ax.get_xticklabels()] == ["movies", "nli"]
    assert sorted(text.get_text() for text in heatmap_ax.texts) == ["0.50", "0.90", "1.00", "1.00"]


@pytest.mark.parametrize("draw, result", [(ablation_curve, transfer_result()), (transfer_heatmap, ablation_result())])
def test_wrong_results_are_refused_with_one_line(draw, result):
    with pytest.raises(PlotInputError):
        draw(result)


def test_transfer_heatmap_drops_a_shared_prefix_and_annotates_only_readable_cells():
    names = [f"toy_task{index}" for index in range(6)]
    relative = xr.DataArray(np.ones((2, 6)), dims=("source", "target"),
                            coords={"source": ["toy_a-seed0", "toy_b-seed0"], "target": names})
    ax = transfer_heatmap(xr.Dataset({"relative": relative})).axes[0]
    assert [label.get_text() for label in ax.get_yticklabels()] == ["a-seed0", "b-seed0"]
    assert [label.get_text() for label in ax.get_xticklabels()] == [f"task{index}" for index in range(6)]
    assert len(ax.texts) == 0  # six columns do not fit one paper column with numbers in them
    assert len(transfer_heatmap(xr.Dataset({"relative": relative}), width="two").axes[0].texts) == 12


def test_labels_drop_a_shared_prefix_but_keep_hashes_short():
    from neurokit.plots._inputs import labels_of

    tasks = xr.DataArray(np.zeros(3), dims="task", coords={"task": ["toy_sentiment_movies", "toy_topic", "toy_nli"]})
    assert labels_of(tasks, "task") == ["sentiment_movies", "topic", "nli"]
    runs = xr.DataArray(np.zeros(2), dims="run", coords={"prompt": ("run", ["a" * 64, "b" * 64])})
    assert labels_of(runs, "run") == ["aaaaaaaa…", "bbbbbbbb…"]
