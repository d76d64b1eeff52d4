"""Checking and reshaping the analysis results a figure is given, with one-line errors naming what is missing.

Figures accept what ``neurokit analyze`` writes: a group of the results store (an ``xarray.DataTree`` node or
its Dataset) or a single variable (DataArray). Everything is loaded into memory here: results are small.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import xarray as xr
from matplotlib.axes import Axes

from neurokit.dims import LAYER, NEURON, POSITION, RUN, SUBTASK
from neurokit.errors import NeurokitError


class PlotInputError(NeurokitError, ValueError):
    """A figure was given results without the variable or dim it draws."""


def as_dataset(obj, figure: str) -> xr.Dataset:
    """A Dataset from a DataTree node, a Dataset (view) or a named DataArray."""
    if isinstance(obj, xr.DataTree):
        return obj.to_dataset()
    if isinstance(obj, xr.Dataset):
        return obj
    if isinstance(obj, xr.DataArray):
        return obj.to_dataset(name=obj.name or "value")
    raise PlotInputError(f"{figure} needs an xarray Dataset or DataArray of analysis results, got {type(obj).__name__}")


def variable(ds: xr.Dataset, name: str, figure: str, group: str = "results") -> xr.DataArray:
    """``ds[name]`` loaded, or an error naming the missing variable."""
    if name not in ds.data_vars:
        have = ", ".join(sorted(str(key) for key in ds.data_vars)) or "none"
        raise PlotInputError(f"{figure} needs variable {name!r} in the {group} (it has: {have})")
    return ds[name].load()


def require_dims(values: xr.DataArray, dims: Sequence[str], figure: str) -> None:
    for dim in dims:
        if dim not in values.dims:
            name = f"{values.name!r}" if values.name else "the input"
            raise PlotInputError(f"{figure} needs dim {dim!r} in {name} (it has dims {tuple(values.dims)})")


def as_array(obj, figure: str, prefer: Sequence[str]) -> xr.DataArray:
    """A DataArray: ``obj`` itself, or the first of ``prefer`` in a Dataset/DataTree node."""
    if isinstance(obj, xr.DataArray):
        return obj.load()
    ds = as_dataset(obj, figure)
    for name in prefer:
        if name in ds.data_vars:
            return ds[name].load()
    return variable(ds, prefer[0], figure)


def neuron_scores(values: xr.DataArray, figure: str, keep: Sequence[str] = ()) -> xr.DataArray:
    """Scores over (``keep``…, layer, neuron): size-1 extra dims dropped, sub-tasks reduced to the best one
    (the analysis's rule for a multi-class task), any other extra dim refused."""
    require_dims(values, [LAYER, NEURON], figure)
    if POSITION in values.dims and POSITION not in keep:
        raise PlotInputError(f"{figure} needs neuron scores (variable 'score' or 'run_score'), got per-position "
                             f"values with dim {POSITION!r}")
    if SUBTASK in values.dims and SUBTASK not in keep:
        values = values.max(SUBTASK, skipna=False)
    for dim in list(values.dims):
        if dim in (LAYER, NEURON) or dim in keep:
            continue
        if values.sizes[dim] == 1:
            values = values.squeeze(dim, drop=True)
        else:
            raise PlotInputError(f"{figure} draws one value per neuron but the input has dim {dim!r} of size "
                                 f"{values.sizes[dim]}: select one (e.g. .isel({dim}=0)) or reduce it")
    return values.transpose(*keep, LAYER, NEURON)


def short_label(text: str, limit: int = 20) -> str:
    """Labels fit a figure: long identifiers (prompt hashes) are cut to 8 characters and an ellipsis."""
    return text if len(text) <= limit else f"{text[:8]}…"


def without_common_prefix(labels: list[str]) -> list[str]:
    """Labels without the prefix up to an underscore that all of them share (e.g. a task family's ``toy_``)."""
    cut = os.path.commonprefix(labels).rfind("_") + 1
    return [label[cut:] for label in labels] if len(labels) > 1 and cut else labels


def labels_of(values: xr.DataArray, dim: str) -> list[str]:
    """Readable labels of the entries along ``dim``: for runs the ``prompt`` coordinate, otherwise the
    coordinate of the dim (or the index), without a shared prefix, shortened, and made unique with the index
    where cutting clashes."""
    source = "prompt" if dim == RUN and "prompt" in values.coords and values["prompt"].dims == (RUN,) else dim
    raw = [str(value) for value in values[source].values] if source in values.coords else \
        [str(index) for index in range(values.sizes[dim])]
    labels = [short_label(text) for text in without_common_prefix(raw)]
    if len(set(labels)) < len(labels):
        labels = [f"{index}: {label}" for index, label in enumerate(labels)]
    return labels


def axes_for(ax: Axes | Sequence[Axes] | None, count: int, figure: str) -> list[Axes] | None:
    """The caller's axes as a list of ``count`` (one per panel), or None to make a new figure."""
    if ax is None:
        return None
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) != count or not all(isinstance(item, Axes) for item in axes):
        wanted = "one Axes" if count == 1 else f"{count} Axes"
        raise PlotInputError(f"{figure} draws {count} panel(s): pass ax as {wanted}")
    return axes


def finite(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def percent(fraction: float) -> str:
    """0.05 → "5%", 0.025 → "2.5%"."""
    return f"{round(float(fraction) * 100, 2):g}%"
