"""The shared look: widths, a style that never leaks into the caller's rcParams, and saving figures."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
from PIL import Image

from neurokit.errors import NeurokitError
from neurokit.plots import Width, new_figure, paper_style, save_figure
from neurokit.plots.style import FONT_SIZES, as_width


def test_widths_are_paper_columns():
    assert Width.ONE.inches == pytest.approx(3.3) and Width.TWO.inches == pytest.approx(6.9)
    assert as_width("two") is Width.TWO and as_width(Width.ONE) is Width.ONE
    with pytest.raises(NeurokitError, match=r"width \(in columns\) must be one of one, two \(Width\), got 'three'"):
        as_width("three")


def test_paper_style_applies_inside_and_restores_everything():
    before = dict(matplotlib.rcParams)
    with paper_style():
        assert matplotlib.rcParams["font.size"] == FONT_SIZES["base"]
        assert matplotlib.rcParams["pdf.fonttype"] == 42
        figure, (ax,) = new_figure("one")
        label = ax.set_xlabel("layer")
    assert label.get_fontsize() == FONT_SIZES["label"]
    assert dict(matplotlib.rcParams) == before
    with pytest.raises(RuntimeError), paper_style():  # restored after an error as well
        raise RuntimeError("boom")
    assert dict(matplotlib.rcParams) == before
    assert figure.get_figwidth() == pytest.approx(3.3)


@pytest.mark.slow
def test_save_figure_writes_every_format_at_the_figure_size(tmp_path):
    with paper_style():
        figure, (ax,) = new_figure(Width.TWO)
        ax.plot(np.arange(5), np.arange(5) ** 2)
    paths = save_figure(figure, tmp_path / "sub" / "curve.v1", dpi=100)
    assert [path.name for path in paths] == ["curve.v1.pdf", "curve.v1.svg", "curve.v1.png"]
    assert all(path.stat().st_size > 0 for path in paths)
    assert paths[0].read_bytes().startswith(b"%PDF") and b"<svg" in paths[1].read_bytes()
    assert Image.open(paths[2]).size == (690, round(figure.get_figheight() * 100))
    assert not list(tmp_path.rglob(".*partial"))
    # reproducible output: saving again gives the same bytes
    again = save_figure(figure, tmp_path / "again", formats=["pdf", "svg"], dpi=100)
    assert again[0].read_bytes() == paths[0].read_bytes() and again[1].read_bytes() == paths[1].read_bytes()


def test_save_figure_refuses_unknown_formats(tmp_path):
    figure, _ = new_figure()
    with pytest.raises(NeurokitError, match="unsupported figure format 'docx'"):
        save_figure(figure, tmp_path / "x", formats=["png", "docx"])
    assert not list(tmp_path.iterdir())
