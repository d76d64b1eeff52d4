"""Neuron sets for interventions: boolean masks over (layer, neuron), skill masks and size-matched random sets.

A *mask* is a boolean ``xr.DataArray`` with dims ``layer`` (the layer index of a neuron site, as in the
activation stores and analysis results) and ``neuron`` (0 … N−1), optionally led by ``fraction``. Masks name
neurons of the stack that reads the prompt (the encoder, or the decoder of a decoder-only model).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from neurokit.analysis.common import Selection, check_fractions
from neurokit.analysis.groups import SKILL, group_path
from neurokit.analysis.results import load_results
from neurokit.analysis.skill import DEFAULT_FRACTIONS, skill_set
from neurokit.dims import DRAW, FRACTION, LAYER, NEURON, SITE, SUBTASK
from neurokit.errors import ConfigError, NeurokitError
from neurokit.models import Backbone
from neurokit.validation import integer

#: The values of the ``selection`` dim: which neurons an ablation perturbed (size-matched random sets).
SELECTIONS = ("skill", "random")

# First entries of the seed sequences, so that random neuron sets, noise, resampling donors and the resamplings
# of the ablation statistics (neurokit.interventions.effects) never share a random stream.
SET_STREAM = 0
NOISE_STREAM = 1
BOOTSTRAP_STREAM = 2
SIGN_FLIP_STREAM = 3
RESAMPLE_STREAM = 4


def skill_masks(scores: xr.DataArray, fractions: Sequence[float] = DEFAULT_FRACTIONS,
                selection: Selection | str = Selection.PER_LAYER) -> xr.DataArray:
    """Skill masks (fraction, layer, neuron) from neuron scores ([subtask,] layer, neuron): the top fraction per
    layer (or globally); a multi-class task's set as :func:`~neurokit.analysis.skill.skill_set` makes it (a
    balanced 3-way task's first sub-task filled from its second, as Wang et al.; else the union)."""
    return skill_set(scores, fractions, selection).transpose(FRACTION, LAYER, NEURON).compute()


def as_masks(skill: xr.DataArray, fractions: Sequence[float] | None = None,
             selection: Selection | str = Selection.PER_LAYER) -> xr.DataArray:
    """Normalise what names the neurons to perturb into masks (fraction, layer, neuron).

    - float scores ([subtask,] layer, neuron): the top ``fractions`` (default: 0–20 % in 1 % steps), per
      ``selection``;
    - boolean masks ([subtask,] [fraction,] layer, neuron): sub-tasks are united; ``fractions`` picks some of
      the masks' fractions (default: all). A mask without ``fraction`` becomes one fraction whose coordinate is
      the share of neurons it selects (``fractions`` must then be ``None``).
    """
    if not isinstance(skill, xr.DataArray):
        raise ConfigError(f"neuron sets must be an xarray DataArray, got {type(skill).__name__}")
    missing = {LAYER, NEURON} - set(skill.dims)
    if missing:
        raise ConfigError(f"neuron sets need dims 'layer' and 'neuron' (missing {sorted(missing)}); "
                          f"got {list(skill.dims)}")
    extra = set(skill.dims) - {LAYER, NEURON, FRACTION, SUBTASK}
    if extra:
        raise ConfigError(f"neuron sets may only have dims fraction, subtask, layer, neuron; got {list(skill.dims)}")
    if skill.dtype != bool:
        if not np.issubdtype(skill.dtype, np.floating) or FRACTION in skill.dims:
            raise ConfigError(f"neuron sets must be boolean masks or float scores over (layer, neuron), "
                              f"got dtype {skill.dtype} with dims {list(skill.dims)}")
        return skill_masks(skill, DEFAULT_FRACTIONS if fractions is None else fractions, selection)
    masks = skill.any(SUBTASK) if SUBTASK in skill.dims else skill
    if FRACTION not in masks.dims:
        if fractions is not None:
            raise ConfigError("fractions cannot be chosen for a single mask; pass scores or masks with a "
                              "'fraction' dim")
        share = float(masks.sum()) / (masks.sizes[LAYER] * masks.sizes[NEURON])
        masks = masks.expand_dims({FRACTION: [share]})
    elif fractions is not None:
        masks = masks.sel({FRACTION: _stored_fractions(masks, check_fractions(fractions))})
    return masks.transpose(FRACTION, LAYER, NEURON).compute()


def _stored_fractions(masks: xr.DataArray, wanted: tuple[float, ...]) -> list[float]:
    """The masks' own fraction coordinates that equal the wanted ones (to binary rounding)."""
    stored = np.asarray(masks[FRACTION].values, dtype=float)
    picked = []
    for fraction in wanted:
        close = np.flatnonzero(np.isclose(stored, fraction, rtol=0, atol=1e-9))
        if close.size == 0:
            raise ConfigError(f"fraction {fraction} is not among the masks' fractions "
                              f"({', '.join(f'{value:g}' for value in stored)}); pass scores to choose any fraction")
        picked.append(stored[close[0]])
    return picked


def check_skill_weights(skill: xr.DataArray, backbone: Backbone, where: str | None = None) -> None:
    """Refuse neuron scores or masks whose recorded weights (the ``weights_sha256`` attribute that
    :func:`load_skill` and the analyses carry) are not ``backbone``'s; ``where`` names their source in the
    message (default: the array's name)."""
    recorded = skill.attrs.get("weights_sha256")
    if recorded not in (None, backbone.weights_sha256):
        raise NeurokitError(f"the skill neurons in {where or skill.name or 'the given array'} come from other "
                            f"weights ({str(skill.attrs.get('model_id'))!r}) than {backbone.model_id!r}")


def check_masks(masks: xr.DataArray, backbone: Backbone) -> None:
    """Refuse masks whose layers or neurons are not those of the backbone's prompt-reading stack."""
    sites = {site.layer: site for site in backbone.sites()}
    layers = [int(layer) for layer in masks[LAYER].values] if LAYER in masks.coords else None
    if layers is None:
        raise ConfigError("neuron sets need a 'layer' coordinate (the layer index of each site)")
    unknown = [layer for layer in layers if layer not in sites]
    if unknown:
        raise NeurokitError(f"neuron sets name layer {unknown[0]}, but {backbone.model_id} has layers "
                            f"0..{len(sites) - 1} in its {backbone.sites()[0].stack.value}")
    if len(set(layers)) != len(layers):
        raise ConfigError("neuron sets repeat a layer")
    if SITE in masks.coords:
        for layer, name in zip(layers, masks[SITE].values, strict=True):
            if str(name) != sites[layer].name:
                raise NeurokitError(f"neuron sets name site {str(name)!r} for layer {layer}, but that layer of "
                                    f"{backbone.model_id} is {sites[layer].name!r}")
    for layer in layers:
        if masks.sizes[NEURON] != sites[layer].width:
            raise NeurokitError(f"neuron sets have {masks.sizes[NEURON]} neurons per layer, but layer {layer} of "
                                f"{backbone.model_id} has {sites[layer].width}")
    if NEURON in masks.coords and not np.array_equal(masks[NEURON].values, np.arange(masks.sizes[NEURON])):
        raise ConfigError("the neuron coordinate of neuron sets must be 0, 1, …, N−1")


def random_masks(masks: xr.DataArray, draws: int, seed: int = 0) -> xr.DataArray:
    """Random neuron sets (draw, …, layer, neuron) of the same size as ``masks`` in every layer.

    Draw ``d`` permutes each layer's neurons with ``numpy.random.default_rng([0, seed, d, layer])`` and takes
    the first k of the permutation, k being the number of neurons ``masks`` selects in that layer (and at that
    fraction): sets are uniform over the layer's neurons, reproducible from the seed, independent between
    draws and layers, and nested across fractions (a larger set contains a smaller one of the same draw).
    """
    integer(draws, "draws")
    masks = masks.transpose(..., LAYER, NEURON)
    counts = masks.sum(NEURON).values  # (…, layer)
    width = masks.sizes[NEURON]
    result = np.zeros((draws, *masks.shape), dtype=bool)
    for draw in range(draws):
        for column, layer in enumerate(masks[LAYER].values):
            order = np.random.default_rng([SET_STREAM, seed, draw, int(layer)]).permutation(width)
            rank = np.empty(width, dtype=np.int64)
            rank[order] = np.arange(width)  # rank[n] = place of neuron n in the permutation
            layer_counts = counts[..., column]
            result[draw][..., column, :] = rank < np.asarray(layer_counts)[..., None]
    return xr.DataArray(result, dims=(DRAW, *masks.dims), coords={**masks.coords, DRAW: np.arange(draws)})


def load_skill(path: str | Path, group: str | None = None, task: str | None = None) -> xr.DataArray:
    """Neuron scores or masks saved on disk, for :func:`as_masks`.

    ``path`` is a results store of ``neurokit analyze`` (or any Zarr store written with
    :func:`neurokit.analysis.save_results` or ``Dataset.to_zarr``) or a ``.npy`` array (layers, neurons) of
    booleans (a mask) or floats (scores), layers numbered from 0. In a store, the group holding ``score``
    (preferred: any fraction can be chosen) or ``skill`` is ``group``, else the only such group, else
    ``<task>/skill``. The group's attributes (model, weights, selection) travel with the returned array.
    """
    path = Path(path)
    if not path.exists():
        raise NeurokitError(f"no skill-neuron results or mask at {path}")
    if path.suffix == ".npy":
        values = np.load(path, allow_pickle=False)
        if values.ndim != 2 or not (values.dtype == bool or np.issubdtype(values.dtype, np.floating)):
            raise NeurokitError(f"{path} must hold a 2-d boolean mask or float scores (layers, neurons), "
                                f"got {values.dtype} of shape {values.shape}")
        return xr.DataArray(values, dims=(LAYER, NEURON),
                            coords={LAYER: np.arange(values.shape[0]), NEURON: np.arange(values.shape[1])})
    try:
        tree = load_results(path)  # refuses a damaged results store, naming the variable
    except NeurokitError:
        raise
    except Exception as error:  # noqa: BLE001 - any unreadable input is the user's to fix
        raise NeurokitError(f"cannot read {path} as a Zarr results store ({type(error).__name__}: "
                            f"{str(error).splitlines()[0] if str(error) else ''})") from None
    candidates = {node.path.strip("/"): node for node in tree.subtree
                  if "score" in node.data_vars or "skill" in node.data_vars}
    if group is None:
        if len(candidates) == 1:
            group = next(iter(candidates))
        elif task is not None and group_path(task, SKILL) in candidates:
            group = group_path(task, SKILL)
        else:
            listed = ", ".join(sorted(name or "/" for name in candidates)) or "none"
            raise NeurokitError(f"{path} holds several or no skill-neuron groups ({listed}); choose one")
    group = group.strip("/")
    if group not in candidates:
        listed = ", ".join(sorted(name or "/" for name in candidates)) or "none"
        raise NeurokitError(f"{path} has no group {group!r} with 'score' or 'skill' (groups with them: {listed})")
    node = candidates[group]
    variable = node["score"] if "score" in node.data_vars else node["skill"]
    attrs = {**tree.attrs, **node.attrs}
    return variable.load().assign_attrs(attrs).rename(group or "skill")
