"""The per-chunk kernel of ``Acc`` (:func:`neurokit.analysis.skill.accuracy`): ``1[a > b]`` for every
activation and baseline, counted per class, exactly as the float64 definition and without float64 temporaries.

:func:`above_counts` is the streaming dask reduction over the example chunks of a store; each chunk is read
once and reduced to counts at once by :func:`_above_counts_block`, a compiled loop (numba) that compares and
counts each activation in one pass. Baselines are first put in the form the activations compare with
(:func:`comparable_thresholds`: integer keys of the activations' width).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import xarray as xr

from neurokit.analysis.common import computed_once
from neurokit.dims import CLASS, EXAMPLE, LAYER, NEURON, POSITION, RUN, SUBTASK
from neurokit.errors import NeurokitError

#: The signed integer of each float width: activations are compared as these keys (see comparable_thresholds).
_KEY_DTYPES: dict[np.dtype, np.dtype] = {np.dtype(np.float16): np.dtype(np.int16),
                                          np.dtype(np.float32): np.dtype(np.int32),
                                          np.dtype(np.float64): np.dtype(np.int64)}


def _compared_dtype(activation_dtype: np.dtype) -> np.dtype:
    """The float dtype activations are compared in: their own for float16/32/64, float64 for any other."""
    dtype = np.dtype(activation_dtype).newbyteorder("=")
    return dtype if dtype in _KEY_DTYPES else np.dtype(np.float64)


def _round_down(baseline: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The largest value of ``dtype`` ≤ each baseline. For activations ``a`` of that dtype, ``a > b`` equals
    ``a > round_down(b)`` exactly: no value of the dtype lies strictly between them."""
    with np.errstate(over="ignore"):  # beyond the dtype's range: ±inf, then the largest finite value below
        rounded = baseline.astype(dtype)
        return np.where(rounded > baseline, np.nextafter(rounded, dtype.type(-np.inf)), rounded)


def comparable_thresholds(baseline: np.ndarray, activation_dtype: np.dtype) -> np.ndarray:
    """The baselines as integer keys that the activations' bit patterns compare with, exactly.

    IEEE floats order like their sign-magnitude bit patterns. With ``t`` the baseline rounded down to the
    activations' float dtype (+0 if zero) and bits read as the signed integer of that width (int16 for
    float16, int32, int64), ``a > t`` ⇔ ``bits(a) > bits(t)`` when ``t ≥ 0``, and ⇔
    ``bits(a) ^ M > bits(t) ^ M`` when ``t < 0``, M being all bits but the sign (0x7FFF for int16: the XOR
    reverses the order of the negative patterns and keeps the positive ones above them). The key is
    ``bits(t) ^ flip``, flip = M for negative ``t``; it keeps the sign bit, so the flip is recovered from
    the key alone. A NaN baseline gets the largest key, which no activation exceeds (``a > NaN`` is false).
    Integers compare fast, where numpy compares float16 element by element. Returns the key dtype.
    """
    baseline = np.asarray(baseline, dtype=np.float64)
    dtype = _compared_dtype(activation_dtype)
    key_dtype = _KEY_DTYPES[dtype]
    bits = (_round_down(baseline, dtype) + dtype.type(0)).view(key_dtype)  # −0 + 0 = +0
    magnitude = np.iinfo(key_dtype).max
    keys = bits ^ np.where(bits < 0, key_dtype.type(magnitude), key_dtype.type(0))
    return np.where(np.isnan(baseline), key_dtype.type(magnitude), keys)


def _count_above(values: np.ndarray, strides: np.ndarray, keys: np.ndarray, labels: np.ndarray, counts: np.ndarray,
                 discard: np.ndarray, key_type: type[np.signedinteger], magnitude: np.signedinteger,
                 infinity: np.signedinteger, sign_shift: np.signedinteger) -> int:
    """Compiled by numba (:func:`_compiled_count_above`): the counts of one chunk, one pass over its values.

    ``values``: the chunk's bit patterns as a flat integer buffer; ``strides`` (run, example, layer,
    position) in elements, each row of neurons contiguous; ``keys`` (run, subtask, layer, position, neuron)
    from :func:`comparable_thresholds`; ``labels`` (labelling, subtask, run, example) class indices (others
    count nowhere); ``counts`` (labelling, subtask, class, run, 1, layer, position, neuron) added to;
    ``discard`` (layer, position, neuron) a scratch row for a labelling that does not count an example.
    ``key_type`` the keys' integer type; ``magnitude``/``infinity``/``sign_shift``: all bits but the
    sign, +inf's pattern, the width − 1, each of that type. Labellings are counted two at a time: each
    comparison is added to both rows, so real and control labels (control selectivity) cost one pass.
    Returns the first run with a NaN in an example that some labelling counts (the caller refuses it), or
    −1; examples no labelling counts are not read.
    """
    n_labellings, n_subtasks, n_classes = labels.shape[0], labels.shape[1], counts.shape[2]
    n_runs, n_examples = counts.shape[3], labels.shape[3]
    n_layers, n_positions, n_neurons = keys.shape[2], keys.shape[3], keys.shape[4]
    for run in range(n_runs):
        for example in range(n_examples):
            for subtask in range(n_subtasks):
                for first in range(0, n_labellings, 2):
                    second = min(first + 1, n_labellings - 1)
                    class_a = labels[first, subtask, run, example]
                    class_b = labels[second, subtask, run, example] if second != first else -1
                    counted_a = 0 <= class_a < n_classes
                    counted_b = 0 <= class_b < n_classes
                    if not (counted_a or counted_b):
                        continue
                    largest = key_type(0)
                    for layer in range(n_layers):
                        for position in range(n_positions):
                            start = (run * strides[0] + example * strides[1] + layer * strides[2]
                                     + position * strides[3])
                            row = values[start:start + n_neurons]  # a slice: indices known ≥ 0, so vectorised
                            key = keys[run, subtask, layer, position]
                            out_a = counts[first, subtask, class_a, run, 0, layer, position] if counted_a \
                                else discard[layer, position]
                            out_b = counts[second, subtask, class_b, run, 0, layer, position] if counted_b \
                                else discard[layer, position]
                            for neuron in range(n_neurons):
                                value = row[neuron]
                                above = (value ^ (magnitude & (key[neuron] >> sign_shift))) > key[neuron]
                                out_a[neuron] += above
                                out_b[neuron] += above
                                # The NaN check as a running maximum: a vectorised reduction, where counting
                                # NaNs is not; any NaN pattern, of either sign, lies above +inf's. Cast back to
                                # the key type: numba widens `&` to int64, which would halve the vectors.
                                largest = max(largest, key_type(value & magnitude))
                    if largest > infinity:
                        return run
    return -1


@functools.cache
def _compiled_count_above() -> Callable:
    """:func:`_count_above` compiled on first use (numba is imported only then); ``cache=True`` keeps the
    machine code on disk, so later processes load it instead of compiling (about 2 s per dtype)."""
    import numba

    return numba.njit(nogil=True, cache=True, boundscheck=False)(_count_above)


def _counts_dtype(n_examples: int) -> np.dtype:
    """The narrowest unsigned integer that counts ``n_examples``: narrow counts are what adds fastest."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_examples <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def _flat_rows(activation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``activation`` (run, example, layer, position, neuron) as a flat buffer of its bit patterns and the
    element strides of its first four axes; rows of neurons stay in place when contiguous (a slice of
    positions is not copied), anything else is copied once."""
    dtype = _compared_dtype(activation.dtype)
    if activation.dtype != dtype or (activation.shape[-1] > 1 and activation.strides[-1] != dtype.itemsize) \
            or any(stride < 0 or stride % dtype.itemsize for stride in activation.strides):
        activation = np.ascontiguousarray(activation, dtype=dtype)
    strides = np.array(activation.strides[:4], dtype=np.int64) // dtype.itemsize
    span = sum((size - 1) * stride for size, stride in zip(activation.shape[:4], strides, strict=True))
    # The view spans exactly the elements from the chunk's first to its last: nothing outside it is read.
    flat = np.lib.stride_tricks.as_strided(activation, shape=(int(span) + activation.shape[-1],),
                                           strides=(dtype.itemsize,), writeable=False)
    return flat.view(_KEY_DTYPES[dtype]), strides


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
    dtype = _counts_dtype(activation.shape[1])
    counts = np.zeros((n_labellings, n_subtasks, n_classes, n_runs, 1, *activation.shape[2:]), dtype=dtype)
    if activation.size == 0 or n_labellings == 0:
        return counts
    values, strides = _flat_rows(activation)
    key_dtype = values.dtype.type
    nan_run = _compiled_count_above()(
        values, strides, np.ascontiguousarray(threshold, dtype=key_dtype), np.ascontiguousarray(labels, np.int64),
        counts, np.zeros(activation.shape[2:], dtype=dtype), key_dtype, key_dtype(np.iinfo(key_dtype).max),
        np.array(np.inf, dtype=_compared_dtype(activation.dtype)).view(key_dtype)[()],
        key_dtype(8 * values.itemsize - 1),
    )
    if nan_run >= 0:
        run_labels = np.asarray(labels[:, :, nan_run])  # (labelling, subtask, example)
        counted = np.logical_and(run_labels >= 0, run_labels < n_classes).any(axis=1)  # (labelling, example)
        _refuse_counted_nan(activation[nan_run], np.asarray(counted))
    return counts


def _refuse_counted_nan(values: np.ndarray, counted: np.ndarray) -> None:
    """NeurokitError if a row of ``values`` (examples, ...) counted in some labelling (``counted``
    (labelling, examples)) holds a NaN; rows counted nowhere (label −1) may."""
    nan_rows = np.isnan(values.reshape(values.shape[0], -1)).any(axis=1) & counted.any(axis=0)
    if nan_rows.any():
        raise NeurokitError(
            f"NaN activations for {int(nan_rows.sum())} labelled example(s) (the first at example index "
            f"{int(np.argmax(nan_rows))} of its chunk): the store is damaged or incomplete; "
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
