"""Each figure: the requested width, what it draws (checked against the results it was given), files it
saves, one-line refusals of the wrong input, and no trace left in rcParams or pyplot."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib.collections import (
    LineCollection,
    PathCollection,
    PolyCollection,
    QuadMesh,
)
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle

import neurokit.plots as npl
from neurokit.analysis import top_fraction
from neurokit.errors import NeurokitError

N_LAYERS, N_NEURONS = 3, 40


def _mesh(ax) -> np.ndarray:
    meshes = [item for item in ax.collections if isinstance(item, QuadMesh)]
    assert len(meshes) == 1
    return np.ma.getdata(meshes[0].get_array()).reshape(meshes[0].get_coordinates().shape[:2] - np.array([1, 1]))


def _boxes(ax) -> int:
    return sum(isinstance(patch, PathPatch) for patch in ax.patches)


def _data_axes(figure: Figure) -> list:
    """The figure's axes without colorbars."""
    return [ax for ax in figure.axes if not hasattr(ax, "_colorbar")]


@pytest.mark.parametrize("width, inches", [("one", 3.3), ("two", 6.9)])
def test_predictivity_by_layer_one_box_per_layer(results, width, inches):
    skill = results["sst2/skill"]
    figure = npl.predictivity_by_layer(skill, width=width)
    assert isinstance(figure, Figure) and figure.get_figwidth() == pytest.approx(inches)
    (ax,) = figure.axes
    assert _boxes(ax) == N_LAYERS
    assert [label.get_text() for label in ax.get_xticklabels()] == ["0", "1", "2"]
    chance = [line for line in ax.get_lines() if list(line.get_ydata()) == [0.5, 0.5]]
    assert len(chance) == 1
    # the boxes' medians are those of the scores
    medians = skill["score"].isel(subtask=0).median("neuron").values
    drawn = sorted(line.get_ydata()[0] for line in ax.get_lines()
                   if len(line.get_ydata()) == 2 and line.get_ydata()[0] == line.get_ydata()[1]
                   and line.get_xdata()[1] - line.get_xdata()[0] < 1 and line not in chance)
    for median in medians:
        assert np.isclose(drawn, median).any()


def test_predictivity_by_layer_hues(results):
    figure = npl.predictivity_by_layer(results["sst2/skill"], hue="prompt")
    (ax,) = figure.axes
    assert _boxes(ax) == N_LAYERS * 2
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["prompt-one", "prompt-two"]
    tasks = {"sst2": results["sst2/skill"], "mnli": results["mnli/skill"]}
    figure = npl.predictivity_by_layer(tasks, kind="violin", width="two")
    violins = [item for item in figure.axes[0].collections if isinstance(item, PolyCollection)]
    assert len(violins) == N_LAYERS * 2
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["sst2", "mnli"]
    figure = npl.predictivity_by_layer(results["mnli/skill"], hue="subtask", kind="boxen")
    assert len(figure.axes[0].get_legend().get_texts()) == 2


def test_predictivity_by_layer_refuses_wrong_input(results):
    with pytest.raises(NeurokitError, match="needs variable 'score'"):
        npl.predictivity_by_layer(results["sst2/null"])
    with pytest.raises(NeurokitError, match="needs dim 'run'"):
        npl.predictivity_by_layer(results["mnli/skill"], hue="prompt")
    with pytest.raises(NeurokitError, match="needs dim 'layer'"):
        npl.predictivity_by_layer(xr.DataArray(np.ones((2, 3)), dims=("x", "neuron")))
    with pytest.raises(NeurokitError, match="dim 'run' of size 2"):
        npl.predictivity_by_layer(results["sst2/skill"]["run_score"])
    with pytest.raises(NeurokitError, match="dim 'position'"):
        npl.predictivity_by_layer(results["sst2/skill"]["predictivity"].isel(run=0))
    with pytest.raises(NeurokitError, match="kind must be one of"):
        npl.predictivity_by_layer(results["sst2/skill"], kind="pie")


def test_skill_map_natural_order_shows_the_scores_and_marks_the_skill_neurons(results):
    skill = results["sst2/skill"]
    figure = npl.skill_map(skill, order="natural", fraction=0.1, width="two")
    assert figure.get_figwidth() == pytest.approx(6.9)
    (ax,) = _data_axes(figure)
    scores = skill["score"].isel(subtask=0).values
    np.testing.assert_array_equal(_mesh(ax), scores)
    mask = skill["skill"].sel(fraction=0.1).values
    (marks,) = [item for item in ax.collections if isinstance(item, PathCollection)]
    rows, columns = np.nonzero(mask)
    np.testing.assert_array_equal(marks.get_offsets(), np.column_stack([columns + 0.5, rows + 0.5]))
    assert mask.sum() == N_LAYERS * 4  # 10 % of 40 neurons in every layer


def test_skill_map_sorted_rows_put_the_skill_neurons_first(results):
    skill = results["sst2/skill"]
    figure = npl.skill_map(skill, fraction=0.05)
    (ax,) = _data_axes(figure)
    drawn = _mesh(ax)
    scores = skill["score"].isel(subtask=0).values
    np.testing.assert_array_equal(drawn, -np.sort(-scores, axis=1))  # per-layer top = the highest scores
    (cut,) = [item for item in ax.collections if isinstance(item, LineCollection)]
    assert [segment[0][0] for segment in cut.get_segments()] == [2] * N_LAYERS
    # a (balanced) 3-way task: best sub-task's score; the marks are the analysis's skill set, the first
    # sub-task's top filled from the second (fewer than the union of the sub-tasks' tops)
    mnli = results["mnli/skill"]
    figure = npl.skill_map(mnli["score"], fraction=0.1, order="natural")
    (ax,) = _data_axes(figure)
    np.testing.assert_array_equal(_mesh(ax), mnli["score"].max("subtask").values)
    (marks,) = [item for item in ax.collections if isinstance(item, PathCollection)]
    union = top_fraction(mnli["score"], [0.1]).any("subtask").isel(fraction=0).values
    filled = mnli["skill"].sel(fraction=0.1).values
    assert len(marks.get_offsets()) == filled.sum() == N_LAYERS * 4 < union.sum()


def test_skill_map_of_a_mask_alone(results):
    mask = results["sst2/skill"]["skill"]
    figure = npl.skill_map(mask, fraction=0.2, order="natural")
    (ax,) = figure.axes
    np.testing.assert_array_equal(_mesh(ax), mask.sel(fraction=0.2).values.astype(float))


def test_skill_map_refuses_wrong_input(results):
    with pytest.raises(NeurokitError, match="no fraction 0.5"):
        npl.skill_map(results["sst2/skill"], fraction=0.5)
    with pytest.raises(NeurokitError, match="needs variable 'score'"):
        npl.skill_map(results["sst2/prompt_agreement"])
    with pytest.raises(NeurokitError, match="dim 'run' of size 2"):
        npl.skill_map(results["sst2/skill"]["run_score"])
    with pytest.raises(NeurokitError, match="order must be one of"):
        npl.skill_map(results["sst2/skill"], order="random")


@pytest.mark.parametrize("function, group, dim", [(npl.task_overlap, "tasks/agreement", "task"),
                                                  (npl.prompt_consistency, "sst2/prompt_agreement", "run")])
def test_agreement_heatmaps_show_the_matrices(results, function, group, dim):
    agreement = results[group]
    figure = function(agreement)
    assert figure.get_figwidth() == pytest.approx(3.3)
    jaccard_ax, spearman_ax = _data_axes(figure)
    np.testing.assert_allclose(_mesh(jaccard_ax), agreement["jaccard"].transpose(dim, f"other_{dim}").values)
    np.testing.assert_allclose(_mesh(spearman_ax), agreement["spearman"].transpose(dim, f"other_{dim}").values)
    texts = [text.get_text() for text in jaccard_ax.texts]
    ratio = float(agreement["jaccard"][0, 1] / agreement["expected_jaccard"][0, 1])
    assert f"{float(agreement['jaccard'][0, 1]):.2f}\n×{ratio:.1f}" in texts
    labels = [label.get_text() for label in jaccard_ax.get_yticklabels()]
    assert labels == (["sst2", "mnli"] if dim == "task" else ["prompt-one", "prompt-two"])
    assert "top 10%" in jaccard_ax.get_title()


def test_agreement_metrics_and_refusals(results):
    figure = npl.task_overlap(results["tasks/agreement"], metrics="overlap", width="two", annotate=False)
    (ax,) = _data_axes(figure)
    np.testing.assert_array_equal(_mesh(ax), results["tasks/agreement"]["overlap"].values)
    assert not ax.texts
    with pytest.raises(NeurokitError, match="needs dim 'task'"):
        npl.task_overlap(results["sst2/prompt_agreement"])
    with pytest.raises(NeurokitError, match="needs variable 'expected_jaccard'"):
        npl.prompt_consistency(results["sst2/prompt_agreement"].drop_vars("expected_jaccard"))
    with pytest.raises(NeurokitError, match="metrics must be among"):
        npl.task_overlap(results["tasks/agreement"], metrics=["kendall"])


def test_clean_vs_adversarial_panels(results):
    result = results["sst2/clean_vs_adversarial"]
    figure = npl.clean_vs_adversarial_figure(result, clean=results["sst2/skill"],
                                      adversarial=results["sst2/adversarial_skill"], fraction=0.1, width="two")
    assert figure.get_figwidth() == pytest.approx(6.9)
    scatter_ax, overlap_ax = _data_axes(figure)
    points = [item for item in scatter_ax.collections if isinstance(item, PathCollection)]
    assert sum(len(item.get_offsets()) for item in points) == N_LAYERS * N_NEURONS
    assert len(points[1].get_offsets()) == N_LAYERS * 4  # the clean top 10 %
    clean = results["sst2/skill"]["score"].isel(subtask=0).values
    assert np.isin(points[1].get_offsets()[:, 0], clean).all()
    lines = overlap_ax.get_lines()
    assert len(lines) == N_LAYERS + 1  # one per layer and the chance overlap
    np.testing.assert_allclose(lines[0].get_ydata(), result["overlap"].mean("run").isel(layer=0).values)
    np.testing.assert_allclose(lines[-1].get_ydata(), result["chance_overlap"].values)
    np.testing.assert_allclose(lines[0].get_xdata(), result["fraction"].values * 100)

    figure = npl.clean_vs_adversarial_figure(result)  # without neuron scores: overlap and predictivity
    overlap_ax, predictivity_ax = _data_axes(figure)
    prompt_lines = [line for line in predictivity_ax.get_lines() if line.get_marker() == "o"]
    assert len(prompt_lines) == 2
    np.testing.assert_allclose(prompt_lines[1].get_ydata(), result["adversarial_predictivity"].isel(run=1).values)


def test_clean_vs_adversarial_refusals(results):
    result = results["sst2/clean_vs_adversarial"]
    with pytest.raises(NeurokitError, match="needs variable 'chance_overlap'"):
        npl.clean_vs_adversarial_figure(result.drop_vars("chance_overlap"))
    with pytest.raises(NeurokitError, match="adversarial scores are missing"):
        npl.clean_vs_adversarial_figure(result, clean=results["sst2/skill"])
    with pytest.raises(NeurokitError, match="panels must be"):
        npl.clean_vs_adversarial_figure(result, panels=["histogram"])


def test_null_comparison_panels(results):
    result = results["sst2/null"]
    figure = npl.null_comparison_figure(result, panels=("quantiles", "layers", "skill"), width="two")
    quantile_ax, layer_ax, skill_ax = figure.axes
    tuned, untuned = quantile_ax.get_lines()[:2]
    np.testing.assert_allclose(tuned.get_ydata(), result["tuned_quantile"].values)
    np.testing.assert_allclose(untuned.get_ydata(), result["null_quantile"].values)
    bars = [patch for patch in layer_ax.patches if isinstance(patch, Rectangle)]
    assert len(bars) == N_LAYERS
    np.testing.assert_allclose([bar.get_height() for bar in bars], result["share_above_null_by_layer"].values)
    np.testing.assert_allclose(skill_ax.get_lines()[0].get_ydata(), result["skill_share_above_null"].values)
    # the distribution panel needs the scores themselves
    figure = npl.null_comparison_figure(result, tuned=results["sst2/skill"], null=results["sst2/skill"]["score"] - 0.1)
    assert len(figure.axes) == 2
    with pytest.raises(NeurokitError, match="needs variable 'share_above_null_by_layer'"):
        npl.null_comparison_figure(result.drop_vars("share_above_null_by_layer"))
    with pytest.raises(NeurokitError, match="neuron scores"):
        npl.null_comparison_figure(result, panels="distribution")


def test_drawing_into_given_axes(results):
    with npl.paper_style():
        figure, axes = npl.new_figure("two", 1, 3)
    assert npl.predictivity_by_layer(results["sst2/skill"], ax=axes[0]) is figure
    assert npl.prompt_consistency(results["sst2/prompt_agreement"], metrics="spearman", ax=axes[1]) is figure
    assert npl.null_comparison_figure(results["sst2/null"], panels="layers", ax=axes[2]) is figure
    assert _boxes(axes[0]) == N_LAYERS
    with pytest.raises(NeurokitError, match="pass ax as 2 Axes"):
        npl.task_overlap(results["tasks/agreement"], ax=axes[0])


FIGURES = {
    "predictivity_by_layer": lambda r: npl.predictivity_by_layer(r["sst2/skill"], hue="prompt"),
    "skill_map": lambda r: npl.skill_map(r["sst2/skill"]),
    "task_overlap": lambda r: npl.task_overlap(r["tasks/agreement"]),
    "prompt_consistency": lambda r: npl.prompt_consistency(r["sst2/prompt_agreement"]),
    "clean_vs_adversarial": lambda r: npl.clean_vs_adversarial_figure(
        r["sst2/clean_vs_adversarial"], clean=r["sst2/skill"], adversarial=r["sst2/adversarial_skill"]),
    "null_comparison": lambda r: npl.null_comparison_figure(r["sst2/null"]),
}


@pytest.mark.slow
def test_every_figure_saves_and_leaves_no_trace(results, tmp_path, recwarn):
    import matplotlib.pyplot as plt

    before = dict(matplotlib.rcParams)
    open_figures = plt.get_fignums()
    for name, draw in FIGURES.items():
        paths = npl.save_figure(draw(results), tmp_path / name, dpi=72)
        assert [path.suffix for path in paths] == [".pdf", ".svg", ".png"]
        assert all(path.stat().st_size > 1000 for path in paths), name
    assert dict(matplotlib.rcParams) == before
    assert plt.get_fignums() == open_figures  # nothing registered with pyplot
    layout = [str(warning.message) for warning in recwarn if "layout" in str(warning.message)]
    assert not layout
