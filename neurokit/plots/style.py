"""The look of every neurokit figure, in one place: palette, colormaps, fonts, sizes, saving.

Figures are plain :class:`matplotlib.figure.Figure` objects, created without pyplot, so no display and no
interactive backend is ever needed and no figure is left registered with pyplot. The style is applied with
:func:`paper_style`, a context manager on top of :func:`matplotlib.rc_context`: it changes the global
``rcParams`` only while a figure is built or saved and restores them afterwards, so calling a figure
function never changes how the caller's own plots look.
"""

from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import seaborn as sns
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.colors import Colormap
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.rcsetup import cycler
from matplotlib.typing import RcKeyType

from neurokit.errors import ConfigError, NeurokitError
from neurokit.validation import POSITIVE, as_enum, real

#: Colour-blind-safe colours for categories (tasks, prompts, tuned vs untuned): seaborn's "colorblind"
#: palette (Okabe & Ito-like), as RGB tuples.
PALETTE: tuple[tuple[float, float, float], ...] = tuple(sns.color_palette("colorblind"))
#: Perceptually uniform sequential colormap for magnitudes (predictivity, overlap); legible in grey scale.
SEQUENTIAL_CMAP = "viridis"
#: Diverging colormap for signed values centred at 0 (Spearman's ρ, selectivity); colour-blind safe.
DIVERGING_CMAP = "RdBu_r"
#: Two colours for boolean maps (not selected, selected).
BINARY_COLORS = ("#e8e8e8", "#1f3b73")
#: Reference lines (chance level, diagonal): neutral grey, dashed.
REFERENCE_COLOR = "0.35"
REFERENCE_STYLE: dict[str, Any] = {"color": REFERENCE_COLOR, "linestyle": "--", "linewidth": 0.8, "zorder": 1}
#: Marks drawn over a colormap (skill neurons on a heatmap): black with a white outline, visible on any colour.
MARK_COLOR = "black"
MARK_OUTLINE = "white"

#: Font sizes in points for print: the body text of a paper is ~9–10 pt, figure text a little smaller.
FONT_SIZES = {"base": 8.0, "label": 8.0, "title": 8.5, "tick": 7.0, "legend": 7.0, "annotation": 6.5}
#: Resolution of raster output (PNG) and of rasterised parts of vector output.
DEFAULT_DPI = 300
#: The formats :func:`save_figure` writes by default.
DEFAULT_FORMATS = ("pdf", "svg", "png")

_SANS_SERIF_PREFERENCE = ("Helvetica", "Arial", "Liberation Sans", "DejaVu Sans")


class Width(enum.Enum):
    """Figure widths of a two-column paper (ACL, EMNLP, LREC-COLING: ~3.3 in column, ~6.9 in page)."""

    ONE = "one"
    TWO = "two"

    @property
    def inches(self) -> float:
        return {Width.ONE: 3.3, Width.TWO: 6.9}[self]

    @property
    def panel_height(self) -> float:
        """Height of one row of panels, in inches."""
        return {Width.ONE: 2.4, Width.TWO: 2.6}[self]


def as_width(width: Width | str) -> Width:
    """The :class:`Width` for a member or its value ("one", "two")."""
    if isinstance(width, Width):
        return width
    return as_enum(str(width).lower(), Width, "width (in columns)")


def _sans_serif() -> list[str]:
    """The preferred print fonts that are installed, first; DejaVu Sans (shipped with matplotlib) always last,
    where matplotlib finds the glyphs other fonts lack (ρ, ×, ∩, ≤, ←).

    Listing only installed fonts keeps matplotlib from logging a warning for each missing family.
    """
    installed = {font.name for font in font_manager.fontManager.ttflist}
    return list(dict.fromkeys([*(name for name in _SANS_SERIF_PREFERENCE if name in installed), "DejaVu Sans"]))


def style_rc() -> dict[RcKeyType, Any]:
    """The rcParams of the paper style: seaborn's "ticks" look at print font sizes, embeddable fonts,
    reproducible vector output."""
    rc: dict[RcKeyType, Any] = {}
    rc.update(sns.axes_style("ticks"))
    rc.update(sns.plotting_context("paper"))
    rc.update({
        "font.family": "sans-serif",
        "font.sans-serif": _sans_serif(),
        "font.size": FONT_SIZES["base"],
        "axes.labelsize": FONT_SIZES["label"],
        "axes.titlesize": FONT_SIZES["title"],
        "xtick.labelsize": FONT_SIZES["tick"],
        "ytick.labelsize": FONT_SIZES["tick"],
        "legend.fontsize": FONT_SIZES["legend"],
        "legend.title_fontsize": FONT_SIZES["legend"],
        "figure.titlesize": FONT_SIZES["title"],
        "axes.linewidth": 0.6,
        "xtick.major.width": 0.6,
        "ytick.major.width": 0.6,
        "xtick.major.size": 2.5,
        "ytick.major.size": 2.5,
        "lines.linewidth": 1.0,
        "lines.markersize": 3.0,
        "patch.linewidth": 0.6,
        "legend.frameon": False,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.prop_cycle": cycler(color=list(PALETTE)),
        "image.cmap": SEQUENTIAL_CMAP,
        "figure.dpi": 100,
        "savefig.dpi": DEFAULT_DPI,
        "figure.constrained_layout.use": False,
        # Text stays text in vector output (TrueType in PDF, <text> in SVG): editable and searchable.
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        "svg.fonttype": "none",
        "svg.hashsalt": "neurokit",  # deterministic element ids in SVG output
    })
    return rc


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """Apply the paper style inside a ``with`` block; every rcParam is restored on exit (also on errors)."""
    with matplotlib.rc_context(style_rc()):
        yield


def new_figure(width: Width | str = Width.ONE, nrows: int = 1, ncols: int = 1, height: float | None = None,
               **subplot_kw) -> tuple[Figure, list[Axes]]:
    """A figure of the paper width with constrained layout and its axes (row-major list).

    Call inside :func:`paper_style` so that the axes pick up the style. ``height`` defaults to one
    :attr:`Width.panel_height` per row. No pyplot: the figure belongs to nobody and is freed with its last
    reference.
    """
    width = as_width(width)
    height = width.panel_height * nrows if height is None else height
    figure = Figure(figsize=(width.inches, height),
                    layout=ConstrainedLayoutEngine(w_pad=0.02, h_pad=0.02, wspace=0.04, hspace=0.04))
    axes = figure.subplots(nrows, ncols, squeeze=False, subplot_kw=subplot_kw or None)
    return figure, [ax for row in axes for ax in row]


def root_figure(ax: Axes) -> Figure:
    """The top-level figure of ``ax`` (not a subfigure)."""
    figure = ax.figure
    while not isinstance(figure, Figure):
        figure = figure.figure
    return figure


def legend_above(ax: Axes, handles: Sequence | None = None, title: str | None = None, ncol: int | None = None,
                 labels: Sequence[str] | None = None):
    """A frameless legend centred above ``ax`` (out of the data's way), in as many columns as fit its width.

    ``handles`` default to the labelled artists of ``ax``; ``labels`` to the handles' own labels.
    """
    if handles is None:
        handles = ax.get_legend_handles_labels()[0]
    if not handles:
        return None
    labels = [str(handle.get_label()) for handle in handles] if labels is None else list(labels)
    if ncol is None:
        # Rough widths in inches at the legend font size: ~0.55 em per character, plus handle and spacing.
        em = FONT_SIZES["legend"] / 72
        entries = [0.55 * em * len(label) + 2.4 * em for label in labels]
        available = ax.get_position().width * root_figure(ax).get_figwidth()
        ncol = len(handles)
        while ncol > 1 and ncol * max(entries) > available:
            ncol -= 1
    return ax.legend(handles=handles, labels=labels, title=title, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                     ncol=ncol, frameon=False, borderaxespad=0.2, handlelength=1.4, columnspacing=1.0,
                     handletextpad=0.4)


def colormap(name: str) -> Colormap:
    return matplotlib.colormaps[name]


def save_figure(fig: Figure, path_stem: str | os.PathLike, formats: Sequence[str] = DEFAULT_FORMATS,
                dpi: int = DEFAULT_DPI) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.<format>`` for each format (default PDF, SVG and PNG); returns the paths.

    Parent folders are created. Each file is written under a hidden temporary name and renamed into place,
    so a failure never leaves a truncated figure. The figure keeps its size (no tight bounding box): a
    one-column figure is exactly one column wide. Output is reproducible: no creation dates, fixed SVG ids.
    """
    path_stem = Path(path_stem)
    formats = [str(fmt).lower().lstrip(".") for fmt in formats]
    if not formats:
        raise ConfigError("save_figure needs at least one format")
    supported = fig.canvas.get_supported_filetypes()
    unknown = [fmt for fmt in formats if fmt not in supported]
    if unknown:
        raise ConfigError(f"unsupported figure format {unknown[0]!r}: choose from {', '.join(sorted(supported))}")
    real(dpi, "dpi", POSITIVE)
    path_stem.parent.mkdir(parents=True, exist_ok=True)
    metadata = {"pdf": {"CreationDate": None, "Creator": "neurokit"}, "svg": {"Date": None, "Creator": "neurokit"},
                "png": {"Software": "neurokit"}}
    written = []
    with paper_style():
        for fmt in formats:
            path = path_stem.with_name(f"{path_stem.name}.{fmt}")
            partial = path.with_name(f".{path.name}.partial")
            try:
                fig.savefig(partial, format=fmt, dpi=dpi, metadata=metadata.get(fmt))
                os.replace(partial, path)
            except OSError as error:
                raise NeurokitError(f"cannot write figure {path}: {error.strerror or error}") from None
            finally:
                partial.unlink(missing_ok=True)
            written.append(path)
    return written
