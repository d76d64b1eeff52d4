"""Pruning a backbone to its skill neurons (Wang et al. 2022, §6).

In every layer of a chosen range only the top ``fraction`` of neurons by skill score stay; each removed neuron is
replaced by a constant, its train-set mean, and since the FFN output projection is linear its contribution
``W[:, removed] · mean[removed]`` is folded into the projection's bias. The pruned FFN therefore computes exactly
what the full one computes with the removed neurons clamped to their means at every sequence position, with
smaller matrices. Layers outside the range are left whole.

A Hugging Face config holds one ``intermediate_size`` for all layers, so the widths of the shrunk sites are
written into the config under :data:`neurokit.models.backbone.FFN_WIDTHS_KEY`; :func:`neurokit.models.load_backbone`
builds the architecture, shrinks those sites and reads the safetensors weights strictly.
"""

from __future__ import annotations

import copy
import enum
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
import xarray as xr
from torch import nn

from neurokit.analysis.common import (
    Selection,
    check_fractions,
)
from neurokit.analysis.results import check_writable
from neurokit.dims import FRACTION, LAYER, NEURON, POSITION
from neurokit.errors import ConfigError, NeurokitError
from neurokit.interventions.masks import as_masks, check_masks, check_skill_weights
from neurokit.models import Backbone
from neurokit.models.backbone import FFN_WIDTHS_KEY, WEIGHTS_FILE
from neurokit.validation import as_enum

#: Wang et al.'s kept share of neurons per layer.
DEFAULT_FRACTION = 0.02
#: File of a pruned model folder that records how it was made.
PRUNING_FILE = "pruning.json"


class BiasFold(str, enum.Enum):
    """Whose train-mean contribution goes into the FFN output bias."""

    REMOVED = "removed"  # the removed neurons' only (Wang et al. §6): exact against clamping them to their means
    ALL = "all"  # every neuron's, kept ones too, as the released prune.py does: the kept neurons count twice


def default_layers(n_layers: int) -> tuple[int, ...]:
    """The layers Wang et al. prune, scaled to depth: 3–11 (0-based) of RoBERTa-base's 12 leave the first
    quarter of the stack whole, so ``⌊n_layers / 4⌋ … n_layers − 1`` (MiniLM-L6: 1–5; 24 layers: 6–23)."""
    return tuple(range(n_layers // 4, n_layers))


@dataclass(frozen=True)
class PruneConfig:
    """What to prune: the kept ``fraction`` per layer (top by skill score, ``selection`` per layer as Wang et al.
    or global), the ``layers`` to prune (``None``: :func:`default_layers`) and the bias ``fold``."""

    fraction: float = DEFAULT_FRACTION
    layers: tuple[int, ...] | None = None
    selection: Selection | str = Selection.PER_LAYER
    fold: BiasFold | str = BiasFold.REMOVED

    def __post_init__(self) -> None:
        object.__setattr__(self, "selection", as_enum(self.selection, Selection, "selection"))
        object.__setattr__(self, "fold", as_enum(self.fold, BiasFold, "fold"))
        check_fractions([self.fraction])
        if self.layers is not None:
            layers = tuple(int(layer) for layer in self.layers)
            if not layers or min(layers) < 0 or len(set(layers)) != len(layers):
                raise ConfigError(f"layers to prune must be distinct non-negative indices, got {self.layers}")
            object.__setattr__(self, "layers", tuple(sorted(layers)))

    def layers_of(self, backbone: Backbone) -> tuple[int, ...]:
        """The layers to prune in ``backbone``'s prompt-reading stack."""
        present = [site.layer for site in backbone.sites()]
        layers = default_layers(len(present)) if self.layers is None else self.layers
        missing = [layer for layer in layers if layer not in present]
        if missing:
            raise NeurokitError(f"cannot prune layer {missing[0]}: {backbone.model_id} has layers "
                                f"0..{len(present) - 1}")
        return layers

    def settings(self) -> dict:
        return {"fraction": self.fraction, "layers": None if self.layers is None else list(self.layers),
                "selection": Selection(self.selection).value, "fold": BiasFold(self.fold).value}


def kept_neurons(backbone: Backbone, skill: xr.DataArray, config: PruneConfig) -> xr.DataArray:
    """Which neurons stay: bool (layer, neuron) over the prompt-reading stack, every neuron of a layer outside
    the range, the top ``config.fraction`` by skill score inside it (⌊fraction · width⌋ per layer, as
    :func:`neurokit.analysis.top_fraction`; a multi-class task's sub-task tops united).

    ``skill``: float scores ([subtask,] layer, neuron) or boolean masks ([fraction,] layer, neuron).
    """
    check_skill_weights(skill, backbone)
    single_mask = skill.dtype == bool and FRACTION not in skill.dims
    masks = as_masks(skill, None if single_mask else [config.fraction], config.selection)
    top = masks.isel({FRACTION: 0}, drop=True)
    check_masks(top, backbone)
    layers = config.layers_of(backbone)
    pruned = top[LAYER].isin(list(layers))
    if int(pruned.sum()) != len(layers):
        raise NeurokitError("the skill neurons do not cover every layer to prune")
    return xr.where(pruned, top, True).transpose(LAYER, NEURON).rename("kept")


def neuron_means(train_means: xr.DataArray) -> xr.DataArray:
    """One value per neuron (layer, neuron) float64 from :func:`neurokit.interventions.train_mean`: the mean over
    the prompt positions of the per-position train means, as the released prune.py averages its (layer,
    position, neuron) baseline over positions. (layer, neuron) values are returned as they are."""
    if not isinstance(train_means, xr.DataArray) or not {LAYER, NEURON} <= set(train_means.dims) \
            or not set(train_means.dims) <= {LAYER, POSITION, NEURON}:
        raise ConfigError("train means must be a DataArray with dims (layer, [position,] neuron)")
    if POSITION in train_means.dims:
        train_means = train_means.mean(POSITION)
    return train_means.astype(np.float64).transpose(LAYER, NEURON)


@torch.no_grad()
def prune(backbone: Backbone, kept: xr.DataArray, means: xr.DataArray,
          fold: BiasFold | str = BiasFold.REMOVED) -> Backbone:
    """A pruned copy of ``backbone`` (the original is untouched).

    ``kept``: bool (layer, neuron) from :func:`kept_neurons`; a layer keeping every neuron is left whole.
    ``means``: float (layer, neuron) from :func:`neuron_means`, in the units of the neurons. In each shrunk
    layer the output bias becomes ``b + W · m`` with ``m`` the means of the removed neurons and 0 elsewhere
    (fold ``removed``), or the means of all neurons (fold ``all``, the released code's).
    """
    fold = as_enum(fold, BiasFold, "fold")
    check_masks(kept, backbone)
    model = copy.deepcopy(backbone.model)
    sites = {site.layer: site for site in backbone.sites()}
    widths = dict(getattr(model.config, FFN_WIDTHS_KEY, None) or {})
    for layer in kept[LAYER].values:
        keep = kept.sel({LAYER: layer}).values
        if keep.all():
            continue
        site = sites[int(layer)]
        _, output = backbone.adapter.ffn_projections(model, site)
        if output.bias is None:
            raise NeurokitError(f"{backbone.adapter.family.value} FFN output projections have no bias to fold the "
                                "removed neurons' train mean into (pruning supports bert, roberta and gpt2)")
        if int(layer) not in means[LAYER].values:
            raise NeurokitError(f"the train means have no layer {int(layer)}")
        values = means.sel({LAYER: layer}).values
        if values.shape != keep.shape or np.isnan(values[~keep]).any():
            raise NeurokitError(f"the train means of layer {int(layer)} do not give a value for every removed neuron")
        folded = values if fold is BiasFold.ALL else np.where(keep, 0.0, values)
        # The projection applied to the folded means is b + W·m, whichever way the module stores W.
        weight = cast(torch.Tensor, output.weight)  # nn.Linear's or transformers' Conv1D's Parameter
        bias = output(torch.as_tensor(folded, dtype=weight.dtype, device=weight.device)[None])[0]
        backbone.adapter.keep_ffn_neurons(model, site, torch.as_tensor(np.flatnonzero(keep)))
        output.bias = nn.Parameter(bias.contiguous(), requires_grad=False)
        widths[site.name] = int(keep.sum())
    setattr(model.config, FFN_WIDTHS_KEY, widths)
    return Backbone(model, backbone.tokenizer, backbone.adapter, f"{backbone.model_id} (pruned)", None,
                    backbone.scoring)


def parameter_count(backbone: Backbone) -> int:
    """Number of distinct parameter values of the model (tied weights counted once)."""
    return sum(parameter.numel() for parameter in backbone.model.parameters())


def save_pruned(backbone: Backbone, folder: str | Path, record: dict, overwrite: bool = False,
                extra: Callable[[Path], object] | None = None) -> Path:
    """Write a pruned backbone as a model folder :func:`neurokit.models.load_backbone` reads: ``config.json``
    (with the per-site widths), ``model.safetensors``, the tokenizer files and ``pruning.json`` (``record``).
    ``extra(partial_folder)`` may add files. The folder appears only when complete."""
    from safetensors.torch import save_model

    folder = check_writable(folder, overwrite)
    partial = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        backbone.model.config.save_pretrained(partial)
        save_model(backbone.model, str(partial / WEIGHTS_FILE))
        backbone.tokenizer.save_pretrained(partial)
        (partial / PRUNING_FILE).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
        if extra is not None:
            extra(partial)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(partial, folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return folder
