"""Threshold-free predictivity: the area under the ROC curve of each neuron's activation per binary sub-task.

AUROC = P(a⁺ > a⁻) + ½·P(a⁺ = a⁻) for a random positive and negative example, computed from the
Mann–Whitney U statistic on mid-ranks (ties share the average rank):
``AUROC = (R⁺ − n⁺(n⁺ + 1)/2) / (n⁺ n⁻)`` with ``R⁺`` the rank sum of the positives. Unlike ``Acc`` it
needs no train baseline. A rank needs every example of a neuron, so the activations are rechunked into slabs
of whole (example, position) and a few neurons; each slab is ranked independently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.stats
import xarray as xr

from neurokit.analysis.common import (
    DEFAULT_SLAB_BYTES,
    PositionSet,
    as_position_set,
    describe,
    select_positions,
    slab_chunks,
    with_runs,
)
from neurokit.analysis.subtasks import SubTask, subtask_coords, subtasks_for
from neurokit.dims import EXAMPLE, LAYER, NEURON, POSITION, RUN, SUBTASK
from neurokit.errors import StoreError
from neurokit.extract.schema import ACTIVATION, LABEL


def _auroc_kernel(values: np.ndarray, labels: np.ndarray, subtasks: Sequence[SubTask]) -> np.ndarray:
    """values (…, example) activations, labels (…, example) class indices → (…, subtask) AUROC.

    Positives are the sub-task's positive classes; examples outside the sub-task and NaN activations are
    left out of the ranking. NaN where a side has no example.
    """
    values = values.astype(np.float64)
    labels = np.broadcast_to(labels, values.shape)
    result = np.empty(values.shape[:-1] + (len(subtasks),))
    for number, task in enumerate(subtasks):
        present = ~np.isnan(values)
        positive = np.isin(labels, task.positive) & present
        negative = np.isin(labels, task.negative) & present
        ranks = scipy.stats.rankdata(np.where(positive | negative, values, np.nan), axis=-1, nan_policy="omit")
        n_positive, n_negative = positive.sum(axis=-1), negative.sum(axis=-1)
        rank_sum = np.where(positive, ranks, 0.0).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            result[..., number] = (rank_sum - n_positive * (n_positive + 1) / 2.0) / (n_positive * n_negative)
    return result


def auroc(data: xr.Dataset, positions: PositionSet | str | Sequence[str] = PositionSet.PROMPT,
          slab_bytes: int = DEFAULT_SLAB_BYTES) -> xr.DataArray:
    """AUROC of every neuron at every chosen position: ([run,] subtask, layer, position, neuron) in [0, 1].

    Oriented toward the sub-task's positive side (0.5 = chance; values below 0.5 mean the neuron fires
    for the negative side: fold with ``max(A, 1 − A)`` to rank neurons as predictivity does). ``slab_bytes``
    bounds the working memory of one slab. Lazy for dask-backed data.
    """
    info = describe(data)
    runs = select_positions(with_runs(data, info), as_position_set(positions))
    if LABEL not in runs or ACTIVATION not in runs:
        raise StoreError(f"store has no {ACTIVATION!r} or no {LABEL!r}")
    subtasks = subtasks_for(info.label_names)
    activation = runs[ACTIVATION]
    # values, ranks and masks in float64 per (example, position) element of a neuron
    bytes_per_neuron = 40 * activation.sizes[EXAMPLE] * activation.sizes[POSITION]
    activation = slab_chunks(activation, (EXAMPLE, POSITION), bytes_per_neuron, slab_bytes)
    labels = runs[LABEL].broadcast_like(runs[RUN])
    if labels.chunks is not None:
        labels = labels.chunk({RUN: 1, EXAMPLE: -1})
    result = xr.apply_ufunc(
        _auroc_kernel, activation, labels,
        input_core_dims=[[EXAMPLE], [EXAMPLE]], output_core_dims=[[SUBTASK]],
        kwargs={"subtasks": subtasks}, dask="parallelized", output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {SUBTASK: len(subtasks)}},
    )
    result = result.assign_coords(subtask_coords(subtasks, info.label_names)).transpose(
        RUN, SUBTASK, LAYER, POSITION, NEURON)
    if RUN not in data.dims:
        result = result.squeeze(RUN, drop=True)
    return result.rename("auroc").assign_attrs(info.attrs())
