"""The per-chunk kernels of ``Acc`` (:func:`neurokit.analysis.skill.accuracy`): ``1[a > b]`` for every
activation and baseline, counted per class, exactly as the float64 definition and without float64 temporaries.

:func:`above_counts` is the streaming dask reduction over the example chunks of a store; each chunk is read
once and reduced to counts at once by :func:`_above_counts_block`. Baselines are first put in the form the
activations compare with fastest (:func:`comparable_thresholds`: int16 keys for float16 activations).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from neurokit.analysis.common import computed_once
from neurokit.dims import CLASS, EXAMPLE, LAYER, NEURON, POSITION, RUN, SUBTASK
from neurokit.errors import NeurokitError


def _round_down(baseline: np.ndarray, dtype: type[np.floating]) -> np.ndarray:
    """The largest value of ``dtype`` ≤ each baseline. For activations ``a`` of that dtype, ``a > b`` equals
    ``a > round_down(b)`` exactly: no value of the dtype lies strictly between them."""
    with np.errstate(over="ignore"):  # beyond the dtype's range: ±inf, then the largest finite value below
        rounded = baseline.astype(dtype)
        return np.where(rounded > baseline, np.nextafter(rounded, dtype(-np.inf)), rounded)


def comparable_thresholds(baseline: np.ndarray, activation_dtype: np.dtype) -> np.ndarray:
    """The baselines in the form the activations are compared with fastest, exactly.

    - float16 activations: int16 *keys*. numpy compares and casts float16 element by element, and the
      comparison is most of the analysis's work per element; int16 comparisons are vectorised. IEEE floats
      order like their sign-magnitude bit patterns: with ``t`` the baseline rounded down to float16 (+0 if
      zero) and bits read as int16, ``a > t`` ⇔ ``bits(a) > bits(t)`` when ``t ≥ 0``, and ⇔
      ``bits(a) ^ 0x7FFF > bits(t) ^ 0x7FFF`` when ``t < 0`` (the XOR reverses the order of the negative
      patterns and keeps the positive ones above them). The key is ``bits(t) ^ flip``, flip = 0x7FFF for
      negative ``t``; it keeps the sign bit, so flip = ``(key >> 15) & 0x7FFF`` is recovered from the key alone.
    - float32 activations: the baseline rounded down to float32; float64: the baseline itself.
    """
    baseline = np.asarray(baseline, dtype=np.float64)
    if activation_dtype == np.float16:
        bits = (_round_down(baseline, np.float16) + np.float16(0)).view(np.int16)  # −0 + 0 = +0
        return bits ^ np.where(bits < 0, np.int16(0x7FFF), np.int16(0))
    if np.result_type(activation_dtype, np.float32) == np.float32:
        return _round_down(baseline, np.float32)
    return baseline


def _above(values: np.ndarray, threshold: np.ndarray, flip: np.ndarray | None, positive_nan: bool,
           out: np.ndarray, scratch: np.ndarray | None) -> np.ndarray:
    """``1[a > b]`` into ``out`` (bool, shape of ``values``) for thresholds from :func:`comparable_thresholds`.

    For int16 keys: ``flip`` is the XOR each key was made with (``(key >> 15) & 0x7FFF``), ``scratch`` an int16
    buffer of ``values``' shape, ``positive_nan`` whether ``values`` may hold a positive NaN (see
    :func:`_above_counts_block`); all three are unused for float thresholds.
    """
    if flip is None:
        return np.greater(values, threshold, out=out)
    if positive_nan:
        return np.greater(values, (threshold ^ flip).view(np.float16), out=out)
    assert scratch is not None  # int16 keys always come with their buffer (_above_counts_block)
    np.bitwise_xor(values.view(np.int16), flip, out=scratch)
    return np.greater(scratch, threshold, out=out)


#: Bytes of activations compared at a time inside a chunk (see :func:`_above_counts_block`).
_SLAB_BYTES = 1 << 19


def _counts_dtype(n_examples: int) -> np.dtype:
    """The narrowest unsigned integer that counts ``n_examples``: summing bytes is what numpy does fastest."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_examples <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def _above_counts_block(activation: np.ndarray, threshold: np.ndarray, labels: np.ndarray,
                        n_classes: int) -> np.ndarray:
    """One chunk's counts of examples above the baseline, per class.

    ``activation`` (run, example, layer, position, neuron); ``threshold`` (run, subtask, layer, position,
    neuron) from :func:`comparable_thresholds`; ``labels`` (labelling, subtask, run, example) class indices
    per sub-task (others, such as -1 for an example the sub-task leaves out, count nowhere). Returns
    (labelling, subtask, class, run, 1, layer, position, neuron) in the narrowest unsigned dtype that holds
    the chunk's examples; the example axis is kept with length 1 so that the chunks' counts add up along it.
    """
    n_labellings, n_runs, n_subtasks = labels.shape[0], activation.shape[0], threshold.shape[1]
    n_examples = activation.shape[1]
    dtype = _counts_dtype(n_examples)
    counts = np.zeros((n_labellings, n_subtasks, n_classes, n_runs, 1, *activation.shape[2:]), dtype=dtype)
    # Slabs of a few examples keep the temporaries in the core's cache and allocated once per chunk.
    slab = max(1, _SLAB_BYTES // max(1, activation[0, :1].nbytes))
    above = np.empty((min(slab, n_examples), *activation.shape[2:]), dtype=bool)
    keys = threshold.dtype == np.int16
    scratch = np.empty(above.shape, dtype=np.int16) if keys else None
    flips = (threshold >> 15) & np.int16(0x7FFF) if keys else None  # derived once per chunk, not per slab
    counted = (labels >= 0) & (labels < n_classes)  # (labelling, subtask, run, example)
    for run in range(n_runs):
        for start in range(0, n_examples, slab):
            stop = min(start + slab, n_examples)
            size = stop - start
            values = activation[run, start:stop]
            # A negative float16 NaN sorts below every key, as IEEE wants; a positive one (bits above +inf's
            # 0x7C00) would sort above, so a slab holding one is compared in float16, exact but slow.
            positive_nan = keys and bool(values.view(np.int16).max() > 0x7C00)
            # A NaN would count as "not above": a counted example must have none. A missing chunk reads as
            # the fill value, a positive NaN, which the check above already finds; float32/64 slabs are
            # checked by their maximum, which NaN propagates to.
            if positive_nan or (not keys and np.isnan(values.max())):
                _refuse_counted_nan(values, counted[:, run, start:stop], start)
            for subtask in range(n_subtasks):
                hits = _above(values, threshold[run, subtask], None if flips is None else flips[run, subtask],
                              positive_nan, above[:size], None if scratch is None else scratch[:size]).view(np.uint8)
                # Each example's row goes to its class's count, in place: one add per example and labelling,
                # where selecting each class's rows would copy them first.
                for row, example in enumerate(range(start, stop)):
                    for labelling in range(n_labellings):
                        if counted[labelling, subtask, run, example]:
                            total = counts[labelling, subtask, labels[labelling, subtask, run, example], run, 0]
                            np.add(total, hits[row], out=total)
    return counts


def _refuse_counted_nan(values: np.ndarray, counted: np.ndarray, first_example: int) -> None:
    """NeurokitError if a row of ``values`` (examples, ...) counted in some labelling (``counted``
    (labelling, examples)) holds a NaN; rows counted nowhere (label −1) may."""
    nan_rows = np.isnan(values.reshape(values.shape[0], -1)).any(axis=1) & counted.any(axis=0)
    if nan_rows.any():
        raise NeurokitError(
            f"NaN activations for {int(nan_rows.sum())} labelled example(s) (the first at example index "
            f"{first_example + int(np.argmax(nan_rows))} of its chunk): the store is damaged or incomplete; "
            "run `neurokit check` on it"
        )


def above_counts(activation: xr.DataArray, baseline: xr.DataArray, labels: xr.DataArray,
                 n_classes: int) -> xr.DataArray:
    """How many eval examples of each class have ``a > baseline``: int64 (…, subtask, class, run, layer,
    position, neuron), ``…`` being the dims of ``labels`` other than (subtask, run, example).

    ``activation`` (run, example, layer, position, neuron); ``baseline`` (run, subtask, layer, position,
    neuron); ``labels`` (…, subtask, run, example) class indices of the examples each sub-task uses (-1 for
    the others; see :func:`~neurokit.analysis.subtasks.subtask_labels`). Counting per class is all that
    ``Acc`` needs from the activations (:func:`~neurokit.analysis.skill.accuracy` combines the classes of each
    sub-task), so each activation chunk is compared once per sub-task, whatever the number of labellings, and
    reduced to counts in the task that reads it; dask then adds up the chunks' counts.
    """
    extra = [dim for dim in labels.dims if dim not in (SUBTASK, RUN, EXAMPLE)]
    labels = labels.transpose(*extra, SUBTASK, RUN, EXAMPLE)
    activation = activation.transpose(RUN, EXAMPLE, LAYER, POSITION, NEURON)
    baseline = baseline.transpose(RUN, SUBTASK, LAYER, POSITION, NEURON)
    flat_labels = labels.data.reshape(-1, labels.sizes[SUBTASK], labels.sizes[RUN], labels.sizes[EXAMPLE])
    dtype = activation.dtype
    if activation.chunks is None:
        threshold = comparable_thresholds(baseline.values, dtype)
        counts = _above_counts_block(activation.values, threshold, np.asarray(flat_labels), n_classes)
        counts = counts.sum(axis=4, dtype=np.int64)
    else:
        import dask.array as da

        chunks = dict(zip(activation.dims, activation.chunks, strict=True))
        # Prepared once per (run, layer) block of baselines; every example chunk of that block reuses it.
        threshold = computed_once(da.asarray(baseline.data).rechunk(
            (chunks[RUN], -1, chunks[LAYER], chunks[POSITION], chunks[NEURON])
        ).map_blocks(comparable_thresholds, dtype, dtype=comparable_thresholds(np.zeros(1), dtype).dtype))
        label_data = da.asarray(flat_labels).rechunk((-1, -1, chunks[RUN], chunks[EXAMPLE]))
        per_chunk = da.blockwise(
            _above_counts_block, "gskrelpn", activation.data, "relpn", threshold, "rslpn", label_data, "gsre",
            new_axes={"k": n_classes}, adjust_chunks={"e": 1}, n_classes=n_classes,
            meta=np.empty((0,) * 8, dtype=_counts_dtype(max(chunks[EXAMPLE]))),
        )
        # Summed in the narrowest dtype that holds all examples (int64 only at the end): the partial sums
        # are copied and added at every level of dask's tree, so their width is much of the reduction's cost.
        counts = per_chunk.sum(axis=4, dtype=_counts_dtype(activation.shape[1])).astype(np.int64)
    counts = counts.reshape(*[labels.sizes[dim] for dim in extra], *counts.shape[1:])
    dims = (*extra, SUBTASK, CLASS, RUN, LAYER, POSITION, NEURON)
    coords = {name: coord for name, coord in baseline.coords.items() if set(coord.dims) <= set(dims)}
    coords |= {name: coord for name, coord in labels.coords.items() if set(coord.dims) <= set(extra)}
    return xr.DataArray(counts, dims=dims, coords=coords, name="above")
