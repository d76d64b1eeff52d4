"""Perturbing FFN neurons at the soft-prompt positions and measuring what it costs (Wang et al. 2022, §6).

A perturbation edits the input of the FFN output projection (the neurons; see :mod:`neurokit.models.sites`)
of every site of the stack that reads the prompt (encoder; decoder for decoder-only models; never the T5
decoder), at the prompt positions only (wherever the prompt's layout puts them:
:meth:`~neurokit.models.PromptLayout.prompt_slice`) and at the selected neurons only:

- ``noise``: ``a + ε`` with ``ε ~ N(0, σ²)``, σ = 0.1 by default; one draw per example and neuron, the same at
  every prompt position (Wang et al.'s form);
- ``zero``: ``a ← 0``;
- ``mean``: ``a ← v``, a given per-neuron value, e.g. the train-set mean (optionally per prompt position).

Edits run on the model's device in the dtype the projection receives; everything not selected is passed
through bit for bit.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from neurokit.analysis._common import (
    LAYER,
    NEURON,
    POSITION,
    Selection,
    check_fractions,
    choice,
    prompt_position_mask,
)
from neurokit.errors import ConfigError, NeurokitError
from neurokit.interventions.masks import DRAW, FRACTION, NOISE_STREAM, as_masks, check_masks, random_masks
from neurokit.models import Backbone, NeuronSite, PromptLayout, Verbalizer, edit_activations
from neurokit.prompts.data import EncodedBatch, EncodedSplit
from neurokit.prompts.soft_prompt import SoftPrompt
from neurokit.prompts.trainer import Evaluation, evaluate

SELECTION = "selection"
#: Wang et al.'s noise level.
DEFAULT_NOISE_STD = 0.1


class AblationMethod(str, enum.Enum):
    """How the selected neurons are perturbed at the prompt positions."""

    NOISE = "noise"  # add seeded Gaussian noise, one draw per example, same at every prompt position
    ZERO = "zero"  # set to 0
    MEAN = "mean"  # set to given per-neuron values (the train-set mean in Wang et al.)


@dataclass(frozen=True, eq=False)
class Perturbation:
    """One perturbation of one neuron set: what to do to which neurons.

    ``mask``: bool (layer, neuron) over the prompt-reading stack. ``values`` (method ``mean`` only): float
    (layer, position, neuron) with one entry per prompt position, or (layer, neuron) for every position.
    ``noise_std`` (method ``noise``): σ. ``seed`` and ``draw`` pick the noise stream: example ``i`` gets the
    noise ``torch.randn((sites, width), generator)`` with the generator seeded from
    ``SeedSequence([1, seed, draw, i])``, so its noise depends neither on the batch size nor on which other
    neurons are perturbed.
    """

    mask: xr.DataArray
    method: AblationMethod = AblationMethod.NOISE
    values: xr.DataArray | None = None
    noise_std: float = DEFAULT_NOISE_STD
    seed: int = 0
    draw: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", choice(AblationMethod, self.method))
        if not isinstance(self.mask, xr.DataArray) or set(self.mask.dims) != {LAYER, NEURON} \
                or self.mask.dtype != bool:
            raise ConfigError("a perturbation's mask must be a boolean DataArray with dims (layer, neuron)")
        if self.method is AblationMethod.MEAN and self.values is None:
            raise ConfigError("method 'mean' needs the replacement values (e.g. the train-set mean)")
        if self.method is not AblationMethod.MEAN and self.values is not None:
            raise ConfigError(f"values are only used by method 'mean', not {self.method.value!r}")
        if not self.noise_std > 0:
            raise ConfigError(f"noise_std must be positive, got {self.noise_std}")
        if self.seed < 0 or self.draw < 0:
            raise ConfigError("seed and draw must be non-negative")


def _noise_seed(seed: int, draw: int, example: int) -> int:
    state = np.random.SeedSequence([NOISE_STREAM, seed, draw, example]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)  # 62 bits: within torch's manual_seed range


def _values_by_layer(values: xr.DataArray, prompt_length: int) -> xr.DataArray:
    """Replacement values as (layer, position, neuron) float32 with the P prompt positions (size 1 when the
    values hold for every position)."""
    if not isinstance(values, xr.DataArray) or not {LAYER, NEURON} <= set(values.dims) \
            or not set(values.dims) <= {LAYER, POSITION, NEURON}:
        raise ConfigError("replacement values must be a DataArray with dims (layer, [position,] neuron)")
    if POSITION not in values.dims:
        return values.expand_dims(POSITION).transpose(LAYER, POSITION, NEURON).astype(np.float32)
    if "position_role" in values.coords:
        values = values.isel({POSITION: np.flatnonzero(prompt_position_mask(
            [str(role) for role in values["position_role"].values]))})
    if values.sizes[POSITION] != prompt_length:
        raise NeurokitError(f"replacement values have {values.sizes[POSITION]} prompt positions, the prompt has "
                            f"{prompt_length}")
    return values.transpose(LAYER, POSITION, NEURON).astype(np.float32)


class _Hooks:
    """The compiled perturbation: per site the selected neuron indices (and values) on the model's device."""

    def __init__(self, backbone: Backbone, perturbation: Perturbation, prompt_length: int,
                 layout: PromptLayout | str | None = None):
        check_masks(perturbation.mask, backbone)
        self.perturbation = perturbation
        self.prompt_length = prompt_length
        self.layout = backbone.adapter.check_layout(layout)
        self.device = backbone.device
        self.sites = backbone.sites()
        self.width = max(site.width for site in self.sites)
        self.noise: torch.Tensor | None = None  # (batch, sites, width) float32 while a batch runs
        mask = perturbation.mask.transpose(LAYER, NEURON)
        values = None
        if perturbation.values is not None:
            values = _values_by_layer(perturbation.values, prompt_length)
            check_masks(values.isel({POSITION: 0}).notnull(), backbone)
        self.edits: dict[NeuronSite, Callable[[torch.Tensor], torch.Tensor]] = {}
        for row, site in enumerate(self.sites):
            if site.layer not in mask[LAYER].values:
                continue
            selected = np.flatnonzero(mask.sel({LAYER: site.layer}).values)
            if selected.size == 0:
                continue  # nothing to change: no hook at all, so the layer runs untouched
            index = torch.as_tensor(selected, device=self.device)
            replacement = None
            if values is not None:
                if site.layer not in values[LAYER].values:
                    raise NeurokitError(f"replacement values have no layer {site.layer}")
                chosen = values.sel({LAYER: site.layer}).values[:, selected]  # (positions, selected)
                if np.isnan(chosen).any():
                    raise NeurokitError(f"replacement values of layer {site.layer} are NaN for selected neurons")
                replacement = torch.as_tensor(chosen, device=self.device)
            self.edits[site] = self._edit(row, index, replacement)

    def _edit(self, row: int, index: torch.Tensor, replacement: torch.Tensor | None):
        method, prompt_length = self.perturbation.method, self.prompt_length

        def edit(neurons: torch.Tensor) -> torch.Tensor:
            if neurons.shape[1] < prompt_length:
                raise NeurokitError(f"the site sees {neurons.shape[1]} positions, fewer than the {prompt_length} "
                                    "prompt positions")
            edited = neurons.clone()  # the original stays intact for other hooks (e.g. a capture)
            prompt = self.layout.prompt_slice(neurons.shape[1], prompt_length)
            if method is AblationMethod.ZERO:
                edited[:, prompt, index] = 0
            elif method is AblationMethod.MEAN:
                edited[:, prompt, index] = replacement.to(neurons.dtype).expand(
                    neurons.shape[0], prompt_length, -1)
            else:
                if self.noise is None:
                    raise NeurokitError("noise perturbation outside a batch: run the forward pass inside "
                                        "examples(start, count) so that the noise is tied to the examples")
                if self.noise.shape[0] != neurons.shape[0]:
                    raise NeurokitError(f"noise for {self.noise.shape[0]} examples but the batch has "
                                        f"{neurons.shape[0]}")
                noise = self.noise[:, row, index].to(neurons.dtype).unsqueeze(1)  # (batch, 1, selected)
                edited[:, prompt, index] = neurons[:, prompt, index] + noise
            return edited

        return edit

    @contextmanager
    def examples(self, start: int, count: int) -> Iterator[None]:
        """Tie the next forward pass to examples ``start..start+count-1`` of the split (their noise)."""
        if self.perturbation.method is not AblationMethod.NOISE or not self.edits:
            yield
            return
        generator = torch.Generator(device=self.device)
        noise = torch.empty((count, len(self.sites), self.width), device=self.device)
        for offset in range(count):
            generator.manual_seed(_noise_seed(self.perturbation.seed, self.perturbation.draw, start + offset))
            noise[offset] = torch.randn((len(self.sites), self.width), generator=generator, device=self.device)
        self.noise = noise * self.perturbation.noise_std
        try:
            yield
        finally:
            self.noise = None


def exact_accuracy(evaluation: Evaluation) -> float:
    """Share of correct predictions counted in float64 (``Evaluation.accuracy`` is a float32 mean)."""
    return float((evaluation.predictions == evaluation.labels).double().mean())


@contextmanager
def perturbed(backbone: Backbone, perturbation: Perturbation, prompt_length: int,
              layout: PromptLayout | str | None = None) -> Iterator[_Hooks]:
    """Apply ``perturbation`` at the ``prompt_length`` prompt positions during forward passes in the block.

    ``layout``: where the prompt is (``SoftPrompt.layout``; None: the family's default layout).

    Yields the compiled hooks; with method ``noise`` every forward pass must run inside
    ``hooks.examples(start, count)``, which draws the examples' noise (:func:`evaluate_perturbed` does this).
    The hooks are removed on exit, also when the forward raises. An empty mask registers no hook.
    """
    hooks = _Hooks(backbone, perturbation, prompt_length, layout)
    with edit_activations(backbone.model, hooks.edits):
        yield hooks


@torch.no_grad()
def evaluate_perturbed(backbone: Backbone, prompt: SoftPrompt, verbalizer: Verbalizer, split: EncodedSplit,
                       perturbation: Perturbation, batch_size: int = 64, bf16: bool | None = None,
                       progress: bool = False) -> Evaluation:
    """:func:`neurokit.prompts.evaluate` with ``perturbation`` applied at the prompt's positions."""
    with perturbed(backbone, perturbation, prompt.length, prompt.layout) as hooks:
        start = 0

        def batch_context(batch: EncodedBatch):
            nonlocal start
            context = hooks.examples(start, len(batch.ids))
            start += len(batch.ids)
            return context

        return evaluate(backbone, prompt, verbalizer, split, batch_size, bf16, progress, batch_context)


@dataclass
class SkillAblation:
    """Wang et al.'s perturbation experiment: accuracy after perturbing skill neurons vs random neurons.

    Settings (validated here; no work is done): ``method`` (``noise``, ``zero``, ``mean``), ``noise_std``
    (σ of ``noise``), ``fractions`` (which top fractions to perturb; ``None``: 0–20 % in 1 % steps for scores,
    every fraction of given masks), ``selection`` (top fraction ``per-layer`` or ``global``, for scores),
    ``draws`` (random sets per fraction; for ``noise`` also the noise draws of the skill set), ``seed``
    (random sets and noise), ``batch_size`` and ``bf16`` (as in :func:`neurokit.prompts.evaluate`).

    ``fit(backbone, prompt, verbalizer, split, values=None)`` evaluates the unperturbed model (``reference_``,
    an :class:`~neurokit.prompts.Evaluation`, and ``reference_accuracy_``); ``values`` are the replacement
    values of method ``mean``.
    ``score(skill)`` perturbs the skill sets and, for every draw, random sets of the same size in every layer,
    and returns the accuracies as an ``xr.Dataset``.
    """

    method: AblationMethod | str = AblationMethod.NOISE
    noise_std: float = DEFAULT_NOISE_STD
    fractions: tuple[float, ...] | None = None
    selection: Selection | str = Selection.PER_LAYER
    draws: int = 5
    seed: int = 0
    batch_size: int = 64
    bf16: bool | None = None
    progress: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        self.method = choice(AblationMethod, self.method)
        self.selection = choice(Selection, self.selection)
        if self.fractions is not None:
            self.fractions = check_fractions(self.fractions)
        if not self.noise_std > 0:
            raise ConfigError(f"noise_std must be positive, got {self.noise_std}")
        if self.draws < 1 or self.batch_size < 1:
            raise ConfigError(f"draws and batch_size must be at least 1, got {self.draws} and {self.batch_size}")
        if self.seed < 0:
            raise ConfigError(f"seed must be non-negative, got {self.seed}")

    def settings(self) -> dict:
        """The settings as JSON-ready values."""
        values = asdict(self)
        values.pop("progress")
        values |= {"method": self.method.value, "selection": self.selection.value,
                   "fractions": None if self.fractions is None else list(self.fractions)}
        return values

    def fit(self, backbone: Backbone, prompt: SoftPrompt, verbalizer: Verbalizer, split: EncodedSplit,
            values: xr.DataArray | None = None) -> SkillAblation:
        """Evaluate the unperturbed prompted model on ``split`` and keep what the perturbations need."""
        if self.method is AblationMethod.MEAN and values is None:
            raise ConfigError("method 'mean' needs the replacement values (e.g. neurokit.interventions.train_mean)")
        if self.method is not AblationMethod.MEAN and values is not None:
            raise ConfigError(f"values are only used by method 'mean', not {self.method.value!r}")
        if values is not None:
            _values_by_layer(values, prompt.length)  # fail now, not after the reference evaluation
        self.backbone_, self.prompt_, self.verbalizer_, self.split_, self.values_ = (
            backbone, prompt, verbalizer, split, values)
        self.reference_: Evaluation = evaluate(backbone, prompt, verbalizer, split, self.batch_size, self.bf16)
        self.reference_accuracy_ = exact_accuracy(self.reference_)
        return self

    def _accuracy(self, mask: xr.DataArray, draw: int) -> float:
        perturbation = Perturbation(mask.drop_vars([FRACTION, DRAW], errors="ignore"), self.method,
                                    self.values_, self.noise_std, self.seed, draw)
        return exact_accuracy(evaluate_perturbed(self.backbone_, self.prompt_, self.verbalizer_, self.split_,
                                                 perturbation, self.batch_size, self.bf16))

    def score(self, skill: xr.DataArray) -> xr.Dataset:
        """Accuracy with the skill sets and with size-matched random sets perturbed.

        ``skill``: float neuron scores ([subtask,] layer, neuron) or boolean masks ([fraction,] layer, neuron)
        (see :func:`neurokit.interventions.as_masks`). Returns ``accuracy`` and ``accuracy_drop`` (selection,
        fraction, draw) with selection ``skill``/``random`` and drop = unperturbed − perturbed accuracy,
        ``reference_accuracy`` (), ``n_perturbed`` (fraction, layer: neurons perturbed per layer, equal for
        both selections) and ``n_examples`` (); the settings are in ``attrs``. Zero and mean ablation of a skill
        set is deterministic, so it is evaluated once and repeated along ``draw``; an empty set is the
        unperturbed model.
        """
        if not hasattr(self, "reference_"):
            raise NeurokitError("SkillAblation is not fitted: call fit(backbone, prompt, verbalizer, split) first")
        masks = as_masks(skill, self.fractions, self.selection)
        check_masks(masks, self.backbone_)
        randoms = random_masks(masks, self.draws, self.seed)
        reference = self.reference_accuracy_
        n_fractions = masks.sizes[FRACTION]
        accuracy = np.full((2, n_fractions, self.draws), reference)
        deterministic = self.method is not AblationMethod.NOISE
        pending = [index for index in range(n_fractions) if bool(masks.isel({FRACTION: index}).any())]
        total = len(pending) * ((1 if deterministic else self.draws) + self.draws)
        with tqdm(total=total, desc=f"ablate ({self.method.value})", disable=not self.progress) as bar:
            for index in pending:
                mask = masks.isel({FRACTION: index})
                for draw in range(self.draws):
                    if draw == 0 or not deterministic:
                        skill_accuracy = self._accuracy(mask, draw)
                        bar.update(1)
                    accuracy[0, index, draw] = skill_accuracy
                    accuracy[1, index, draw] = self._accuracy(randoms.isel({DRAW: draw, FRACTION: index}), draw)
                    bar.update(1)
        coords = {SELECTION: ["skill", "random"], FRACTION: masks[FRACTION].values, DRAW: np.arange(self.draws)}
        accuracy = xr.DataArray(accuracy, dims=(SELECTION, FRACTION, DRAW), coords=coords)
        n_perturbed = masks.sum(NEURON).astype(np.int64)
        return xr.Dataset(
            {"accuracy": accuracy, "accuracy_drop": reference - accuracy,
             "reference_accuracy": reference, "n_perturbed": n_perturbed, "n_examples": len(self.split_)},
            attrs=self._attrs(skill),
        )

    def _attrs(self, skill: xr.DataArray) -> dict:
        backbone = self.backbone_
        return {
            "method": self.method.value,
            "settings": json.dumps(self.settings()),
            "positions": f"the {self.prompt_.length} prompt positions ({self.prompt_.layout.value}ed to the input) "
                         f"of the {backbone.sites()[0].stack.value}",
            "prompt_length": self.prompt_.length,
            "prompt_layout": self.prompt_.layout.value,
            "noise": "a + N(0, noise_std²), one draw per example and neuron, the same at every prompt position"
            if self.method is AblationMethod.NOISE else "none",
            "random_sets": "per draw, uniform random neurons of each layer, as many as the skill set has there",
            "model_id": backbone.model_id,
            "weights_sha256": backbone.weights_sha256,
            "scoring": self.verbalizer_.scoring.value,
            "verbalizer": json.dumps(self.verbalizer_.describe()),
            "skill_source": str(skill.name) if skill.name is not None else "",
        }


def train_mean(train: xr.Dataset) -> xr.DataArray:
    """Wang et al.'s baseline from a train store: mean activation over the train set, (layer, position,
    neuron) float64 at the prompt positions (roles ``mask`` and ``prompt_*``), from the train statistics
    (``train_sum``/``train_count``) or else from raw activations."""
    if "train_sum" in train and "train_count" in train:
        mean = train["train_sum"].sum("class") / train["train_count"].sum()
    elif "activation" in train:
        mean = train["activation"].astype(np.float64).mean("example")
    else:
        raise NeurokitError("the train store has neither train statistics nor raw activations")
    roles = [str(role) for role in train["position_role"].values]
    keep = np.flatnonzero(prompt_position_mask(roles))
    if keep.size == 0:
        raise NeurokitError("the train store holds no prompt positions (roles 'mask' or 'prompt_*')")
    return mean.isel({POSITION: keep}).transpose(LAYER, POSITION, NEURON).compute().rename("train_mean")
