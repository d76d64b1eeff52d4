"""In-memory stores that follow the extraction contract, and plain-numpy reference computations.

The reference functions here are written independently of ``neurokit.analysis`` (loops and direct numpy /
scipy calls) so that every statistic is checked against its definition, not against itself.
"""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

BINARY = ("negative", "positive")
THREE_WAY = ("negative", "neutral", "positive")


def position_roles(prompt_length: int) -> list[str]:
    """Mask slot, P − 1 soft vectors, then the input summaries (as the extractor lays them out)."""
    return ["mask"] + [f"prompt_{index}" for index in range(prompt_length - 1)] + [
        "input_mean", "input_max", "last_token"]


def make_store(seed: int, *, label_names=BINARY, n_examples: int = 40, n_layers: int = 2, n_neurons: int = 12,
               prompt_length: int = 4, prompt: str = "prompt-a", split: str = "dev", model_id: str = "tiny-lm",
               weights: str = "w" * 64, task: str = "sst2", raw: bool = True, statistics: bool = False,
               dtype=np.float16, labels: np.ndarray | None = None, adversarial_of: str | None = None) -> xr.Dataset:
    """One extraction run with numpy-backed data; a few neurons carry the label (signal), others noise.

    Activations are multiples of 1/8 so that ties (between examples, and with a baseline) really occur.
    """
    rng = np.random.default_rng(seed)
    roles = position_roles(prompt_length)
    n_classes = len(label_names)
    if labels is None:
        labels = rng.integers(0, n_classes, n_examples)
    shape = (n_examples, n_layers, len(roles), n_neurons)
    activation = rng.normal(size=shape)
    # Neurons 0..2 of every layer respond to class 1, neuron 3 is inhibited by it, at random positions.
    strength = rng.uniform(0.5, 2.5, size=(n_layers, len(roles), 4))
    activation[..., :3] += (labels == 1)[:, None, None, None] * strength[None, ..., :3]
    activation[..., 3] -= (labels == 1)[:, None, None] * strength[None, ..., 3]
    if n_classes > 2:
        activation[..., 4] += (labels == 2)[:, None, None] * 1.5
    activation = (np.round(activation * 8) / 8).astype(dtype)
    ds = xr.Dataset(
        {
            "label": ("example", labels.astype(np.int64)),
            "prediction": ("example", rng.integers(0, n_classes, n_examples).astype(np.int64)),
            "logits": (("example", "class"), rng.normal(size=(n_examples, n_classes)).astype(np.float32)),
            "input_length": ("example", rng.integers(5, 30, n_examples)),
        },
        coords={
            "example": [f"{split}-{index}" for index in range(n_examples)],
            "layer": np.arange(n_layers),
            "site": ("layer", [f"layer.{index}.ffn" for index in range(n_layers)]),
            "position": np.arange(len(roles)),
            "position_role": ("position", roles),
            "neuron": np.arange(n_neurons),
            "class": list(label_names),
        },
        attrs={
            "model_id": model_id, "weights_sha256": weights, "prompt_sha256": prompt, "split": split,
            "task": json.dumps({"name": task, "task_type": "sentiment", "label_names": list(label_names),
                                "adversarial_of": adversarial_of}),
        },
    )
    if raw:
        ds["activation"] = (("example", "layer", "position", "neuron"), activation)
    if statistics:
        values = activation.astype(np.float64)
        onehot = labels[:, None] == np.arange(n_classes)[None, :]
        ds["train_count"] = ("class", onehot.sum(axis=0).astype(np.int64))
        ds["train_sum"] = (("class", "layer", "position", "neuron"), np.einsum("ec,elpn->clpn", onehot, values))
        ds["train_sumsq"] = (("class", "layer", "position", "neuron"),
                             np.einsum("ec,elpn->clpn", onehot, values**2))
    return ds


def combine_runs(stores: list[xr.Dataset]) -> xr.Dataset:
    """Runs stacked along a leading ``run`` dim as ``neurokit.extract.open_runs`` returns them: attributes that
    differ between the runs (prompt_sha256, split, task, …) become string coordinates on ``run`` named after
    the attribute, shared ones stay attributes, and ``store`` names each run's path."""
    names = sorted(set().union(*(store.attrs for store in stores)))
    differing = [name for name in names if len({store.attrs.get(name) for store in stores}) > 1]
    combined = xr.concat([store.drop_attrs(deep=False) for store in stores], dim="run", data_vars="all",
                         coords="minimal", compat="override", join="exact", combine_attrs="drop")
    coords = {name: ("run", np.array([str(store.attrs.get(name)) for store in stores], dtype=np.dtypes.StringDType()))
              for name in differing}
    coords["store"] = ("run", np.array([f"store-{index}.zarr" for index in range(len(stores))],
                                       dtype=np.dtypes.StringDType()))
    combined = combined.assign_coords(run=np.arange(len(stores)), **coords)
    combined.attrs = {name: stores[0].attrs[name] for name in names if name not in differing}
    return combined


def chunked(ds: xr.Dataset, **chunks) -> xr.Dataset:
    return ds.chunk(chunks or {"example": 7, "neuron": 5})


# ----- independent reference computations (numpy / scipy, loops where that is clearer) -----

def reference_subtasks(label_names):
    """(positive classes, negative classes) per sub-task, from the paper's rules written out by hand."""
    if len(label_names) == 2:
        return [((1,), (0,))]
    if reference_balanced_by_default(label_names):
        middle = [i for i, name in enumerate(label_names) if "neutral" in name][0]
        low, high = [i for i in range(3) if i != middle]
        return [((high,), (low,)), ((middle,), (low, high))]
    return [((c,), tuple(i for i in range(len(label_names)) if i != c)) for c in range(len(label_names))]


def reference_balanced_by_default(label_names) -> bool:
    """Wang et al. balance the sub-tasks of 3-way tasks with a neutral class (and of no other task)."""
    return len(label_names) == 3 and sum("neutral" in name for name in label_names) == 1


def reference_kept(labels, positive, negative, balanced):
    """Indices of the examples a sub-task uses, in order: all of its classes, or (balanced) the first k of
    each side, k = the smaller side's count."""
    first = [index for index, label in enumerate(labels) if label in positive]
    second = [index for index, label in enumerate(labels) if label in negative]
    if balanced:
        k = min(len(first), len(second))
        first, second = first[:k], second[:k]
    return sorted(first + second)


def reference_accuracy(train_act, train_labels, eval_act, eval_labels, positive, negative, balanced=False):
    """Acc (layer, position, neuron) for one sub-task: baseline = plain mean over the sub-task's train examples
    (its balanced subset when ``balanced``), Acc over its eval examples (balanced likewise)."""
    train_keep = reference_kept(train_labels, positive, negative, balanced)
    baseline = train_act[train_keep].astype(np.float64).mean(axis=0)
    eval_keep = reference_kept(eval_labels, positive, negative, balanced)
    values = eval_act[eval_keep].astype(np.float64)
    target = np.isin(eval_labels[eval_keep], positive)
    _, n_layers, n_positions, n_neurons = values.shape
    acc = np.empty((n_layers, n_positions, n_neurons))
    for layer in range(n_layers):
        for position in range(n_positions):
            for neuron in range(n_neurons):
                fired = values[:, layer, position, neuron] > baseline[layer, position, neuron]
                acc[layer, position, neuron] = np.mean(fired == target)
    return acc


def prompt_positions(ds: xr.Dataset) -> np.ndarray:
    roles = list(ds["position_role"].values)
    return np.array([i for i, role in enumerate(roles) if role == "mask" or role.startswith("prompt_")])


def reference_scores(train_runs, eval_runs, aggregate=np.mean, balanced=None):
    """Neuron score (subtask, layer, neuron): max over prompt positions of Pred, aggregated over runs.
    ``balanced=None``: as Wang et al. (balanced for a 3-way task with a neutral class)."""
    label_names = json.loads(eval_runs[0].attrs["task"])["label_names"]
    if balanced is None:
        balanced = reference_balanced_by_default(label_names)
    per_subtask = []
    for positive, negative in reference_subtasks(label_names):
        per_run = []
        for train, data in zip(train_runs, eval_runs, strict=True):
            keep = prompt_positions(data)
            acc = reference_accuracy(train.activation.values[:, :, keep], train.label.values,
                                     data.activation.values[:, :, keep], data.label.values, positive, negative,
                                     balanced)
            per_run.append(np.maximum(acc, 1 - acc).max(axis=1))
        per_subtask.append(aggregate(np.stack(per_run), axis=0))
    return np.stack(per_subtask)


def reference_filled(scores_3d: np.ndarray, fraction: float, per_layer: bool = True) -> np.ndarray:
    """Wang et al.'s 3-way skill set: the top ⌊fraction/2·N⌋ of sub-task 0, then sub-task 1's ranking, skipping
    neurons already chosen, until ⌊fraction·N⌋ are chosen (per layer or over all neurons; ties → lower
    index; NaN never chosen)."""
    mask = np.zeros(scores_3d.shape[1:], dtype=bool)
    n_layers, n_neurons = scores_3d.shape[1:]
    groups = [[(layer, n) for n in range(n_neurons)] for layer in range(n_layers)] if per_layer \
        else [[(layer, n) for layer in range(n_layers) for n in range(n_neurons)]]
    for group in groups:
        first = int(np.floor(fraction / 2 * len(group) + 1e-9))
        total = int(np.floor(fraction * len(group) + 1e-9))
        for task, count in ((0, first), (1, total)):
            ranked = sorted((index for index in group if not np.isnan(scores_3d[task][index])),
                            key=lambda index: (-scores_3d[task][index], index))
            for index in ranked:
                if sum(mask[other] for other in group) >= count:
                    break
                mask[index] = True
    return mask


def reference_top(scores_2d: np.ndarray, fraction: float, per_layer: bool = True) -> np.ndarray:
    """Top ⌊fraction·N⌋ by score (ties → lower layer/neuron index), per layer or over all neurons."""
    mask = np.zeros(scores_2d.shape, dtype=bool)
    groups = [[(layer, n) for n in range(scores_2d.shape[1])] for layer in range(scores_2d.shape[0])] if per_layer \
        else [[(layer, n) for layer in range(scores_2d.shape[0]) for n in range(scores_2d.shape[1])]]
    for group in groups:
        count = int(np.floor(fraction * len(group) + 1e-9))
        ranked = sorted(group, key=lambda index: (-scores_2d[index], index))
        for index in ranked[:count]:
            mask[index] = True
    return mask


def write_store(ds: xr.Dataset, path, raw: bool = True) -> str:
    """Write an in-memory run as a real store with the extraction stage's writer, which computes the train
    statistics of train splits itself (``raw=False``: statistics only)."""
    from neurokit.extract import ActivationStoreWriter, Provenance, StoreSpec

    provenance = Provenance(
        model_id=ds.attrs["model_id"], model_revision="test", weights_sha256=ds.attrs["weights_sha256"],
        model_config={}, prompt_sha256=ds.attrs["prompt_sha256"], prompt_metadata={},
        task=json.loads(ds.attrs["task"]), template="{mask} {prompt} {text}", verbalizer={},
        split=ds.attrs["split"], dtype_policy="float16 for tests", prompt_layout="prepend")
    spec = StoreSpec(
        example_ids=list(ds["example"].values), class_names=list(ds["class"].values),
        sites=list(ds["site"].values), layers=list(ds["layer"].values),
        position_roles=list(ds["position_role"].values), n_neurons=ds.sizes["neuron"], stored_dtype="float16",
        provenance=provenance, store_raw_activations=raw, compute_train_stats=ds.attrs["split"] == "train",
        block_size=16)
    with ActivationStoreWriter.create_or_resume(path, spec) as writer:
        for block in writer.pending_blocks():
            rows = spec.block_slice(block)
            writer.write_block(block, ds["activation"].values[rows], label=ds["label"].values[rows],
                               prediction=ds["prediction"].values[rows], logits=ds["logits"].values[rows],
                               input_length=ds["input_length"].values[rows])
        assert writer.finalize()
    return str(path)
