"""The per-chunk comparison of :func:`neurokit.analysis.skill.accuracy` keeps the neurons on the last axis.

With the sub-task and real/control-label dims last (xarray's default order for the broadcast), every
elementwise step loops over an axis of length 2 and runs 30-100x slower; this pins the fast layout and checks
that it gives the same values as the plain broadcast.
"""

from __future__ import annotations

import dask
import numpy as np
import xarray as xr

from neurokit.analysis.skill import matches

DIMS = ("run", "example", "layer", "position", "neuron")


def _inputs():
    rng = np.random.default_rng(0)
    activation = xr.DataArray(rng.normal(size=(1, 20, 2, 3, 5)).astype(np.float16), dims=DIMS)
    threshold = xr.DataArray(rng.normal(size=(1, 2, 2, 3, 5)).astype(np.float32),
                             dims=("run", "subtask", "layer", "position", "neuron"))
    positive = xr.DataArray(rng.random((2, 2, 1, 20)) < 0.5, dims=("subtask", "labels", "run", "example"))
    included = xr.DataArray(rng.random((2, 2, 1, 20)) < 0.8, dims=("subtask", "labels", "run", "example"))
    return activation, threshold, positive, included


def test_target_dims_lead_and_neurons_are_the_contiguous_last_axis():
    activation, threshold, positive, included = _inputs()
    lazy = matches(activation.chunk({"example": 7}), threshold, positive.chunk({"example": 7}),
                   included.chunk({"example": 7}))
    assert lazy.dims == ("subtask", "labels", *DIMS)
    with dask.config.set(scheduler="synchronous"):
        chunk = lazy.data.blocks[0, 0, 0, 1].compute()
    assert chunk.strides[-1] == chunk.itemsize


def test_same_values_as_the_plain_broadcast():
    activation, threshold, positive, included = _inputs()
    expected = ((activation > threshold) == positive) & included
    for chunks in (None, {"example": 6}):
        inputs = [activation, threshold, positive, included]
        if chunks:
            inputs = [value.chunk(chunks) if "example" in value.dims else value for value in inputs]
        result = matches(*inputs).compute()
        xr.testing.assert_equal(result, expected.transpose(*result.dims))
