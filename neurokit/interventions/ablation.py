"""Perturbing FFN neurons of a prompted model and measuring what it costs (Wang et al. 2022, §6).

A perturbation edits the input of the FFN output projection (the neurons; see :mod:`neurokit.models.sites`)
of every site of the stack that reads the prompt (encoder; decoder for decoder-only models; never the T5
decoder), at the selected neurons only and at the chosen positions (:class:`Positions`): every position by
default, as Wang et al.'s released code does, or the prompt positions only (wherever the prompt's layout puts
them: :meth:`~neurokit.models.PromptLayout.prompt_slice`), or the input positions only.

- ``noise``: ``a + ε`` with ``ε ~ N(0, σ²)``, σ = 0.1 by default; one draw per example and neuron, the same at
  every edited position (Wang et al.'s form);
- ``zero``: ``a ← 0``;
- ``mean``: ``a ← v``, a given per-neuron value: Wang et al. use the train mean averaged over the prompt
  positions (:func:`train_mean`), at every position; per-prompt-position values at the prompt positions;
- ``resample``: ``a ← a'``, the value of another (donor) example of a reference pool, the donor drawn per
  example with a seeded generator (:func:`train_activations` gives the pool).

Edits run on the model's device in the dtype the projection receives; everything not selected is passed
through bit for bit.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import cast

import numpy as np
import torch
import xarray as xr
from tqdm.auto import tqdm

from neurokit.analysis.common import (
    Selection,
    check_fractions,
    prompt_position_mask,
)
from neurokit.analysis.results import scheduler_options
from neurokit.dims import (
    CLASS,
    DRAW,
    EXAMPLE,
    FRACTION,
    LAYER,
    NEURON,
    POSITION,
    POSITION_ROLE,
    SELECTION,
)
from neurokit.errors import ConfigError, NeurokitError
from neurokit.extract.schema import ACTIVATION, TRAIN_COUNT, TRAIN_SUM
from neurokit.interventions.masks import (
    NOISE_STREAM,
    RESAMPLE_STREAM,
    SELECTIONS,
    as_masks,
    check_masks,
    check_skill_weights,
    random_masks,
)
from neurokit.models import (
    Backbone,
    NeuronSite,
    PromptLayout,
    Verbalizer,
    edit_activations,
)
from neurokit.prompts.checkpoint import PromptCheckpoint
from neurokit.prompts.data import EncodedBatch, EncodedSplit
from neurokit.prompts.soft_prompt import SoftPrompt
from neurokit.prompts.trainer import Evaluation, evaluate
from neurokit.validation import POSITIVE, as_enum, integer, real

#: Wang et al.'s noise level.
DEFAULT_NOISE_STD = 0.1


class AblationMethod(str, enum.Enum):
    """How the selected neurons are perturbed at the edited positions."""

    NOISE = "noise"  # add seeded Gaussian noise, one draw per example, the same at every edited position
    ZERO = "zero"  # set to 0
    MEAN = "mean"  # set to given per-neuron values (Wang et al.: the train mean over the prompt positions)
    RESAMPLE = "resample"  # set to a seeded donor example's values from a reference pool (our choice)


class Positions(str, enum.Enum):
    """Which sequence positions of the prompt-reading stack are edited."""

    ALL = "all"  # every position: prompt, input tokens and padding (Wang et al.'s released code)
    PROMPT = "prompt"  # the prompt positions only (mask slot and soft vectors), where skill neurons are read
    INPUT = "input"  # every position that is not a prompt position: input tokens, special tokens, padding


#: Wang et al.'s released code perturbs every position.
DEFAULT_POSITIONS = Positions.ALL

#: Methods whose edit depends on the examples (a draw per example), tied to them by ``_Hooks.examples``.
_PER_EXAMPLE = (AblationMethod.NOISE, AblationMethod.RESAMPLE)


def prompt_layout(layout: PromptLayout, sequence_length: int, prompt_length: int) -> tuple[slice, slice]:
    """(prompt positions, input positions) of a prompted sequence of ``sequence_length`` positions: where
    ``layout`` puts the prompt (:meth:`~neurokit.models.PromptLayout.prompt_slice`), and the rest (the input with
    its special tokens and padding)."""
    if sequence_length < prompt_length:
        raise NeurokitError(f"the site sees {sequence_length} positions, fewer than the {prompt_length} prompt "
                            "positions")
    prompt = layout.prompt_slice(sequence_length, prompt_length)
    rest = slice(prompt.stop, sequence_length) if prompt.start == 0 else slice(0, prompt.start)
    return prompt, rest


def edited_positions(positions: Positions, layout: PromptLayout, sequence_length: int, prompt_length: int) -> slice:
    """The positions a perturbation with ``positions`` edits in a sequence of ``sequence_length``."""
    prompt, rest = prompt_layout(layout, sequence_length, prompt_length)
    return {Positions.ALL: slice(0, sequence_length), Positions.PROMPT: prompt, Positions.INPUT: rest}[positions]


@dataclass(frozen=True, eq=False)
class Perturbation:
    """One perturbation of one neuron set: what to do to which neurons at which positions.

    ``mask``: bool (layer, neuron) over the prompt-reading stack. ``positions``: :class:`Positions` (default
    every position). ``values``: method ``mean``: float (layer, neuron), one value per neuron used at every
    edited position, or (layer, position, neuron) with one entry per prompt position (``positions='prompt'``
    only: no other position has its own value); method ``resample``: the donor pool, float
    (example, layer, [position,] neuron) likewise (may be lazy: only the donors' rows are read).
    ``noise_std`` (method ``noise``): σ. ``seed`` and ``draw`` pick the random stream of example ``i``:
    method ``noise`` draws ``torch.randn((sites, width), generator)`` with the generator seeded from
    ``SeedSequence([1, seed, draw, i])``; method ``resample`` draws its donor uniformly from the pool with
    ``numpy.random.default_rng([4, seed, draw, i])``; so neither depends on the batch size nor on which other
    neurons are perturbed.
    """

    mask: xr.DataArray
    method: AblationMethod = AblationMethod.NOISE
    values: xr.DataArray | None = None
    noise_std: float = DEFAULT_NOISE_STD
    seed: int = 0
    draw: int = 0
    positions: Positions = DEFAULT_POSITIONS

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", as_enum(self.method, AblationMethod, "method"))
        object.__setattr__(self, "positions", as_enum(self.positions, Positions, "positions"))
        if not isinstance(self.mask, xr.DataArray) or set(self.mask.dims) != {LAYER, NEURON} \
                or self.mask.dtype != bool:
            raise ConfigError("a perturbation's mask must be a boolean DataArray with dims (layer, neuron)")
        check_values(self.method, self.values, self.positions)
        real(self.noise_std, "noise_std", POSITIVE)
        integer(self.seed, "seed", minimum=0)
        integer(self.draw, "draw", minimum=0)


def check_values(method: AblationMethod, values: xr.DataArray | None, positions: Positions) -> None:
    """Refuse values that ``method`` does not use or cannot use at ``positions`` (one line, ConfigError)."""
    needs = {AblationMethod.MEAN: "the replacement values (e.g. neurokit.interventions.train_mean)",
             AblationMethod.RESAMPLE: "a donor pool (e.g. neurokit.interventions.train_activations)"}
    if method in needs and values is None:
        raise ConfigError(f"method {method.value!r} needs {needs[method]}")
    if method not in needs:
        if values is not None:
            raise ConfigError(f"values are only used by methods 'mean' and 'resample', not {method.value!r}")
        return
    if not isinstance(values, xr.DataArray):
        raise ConfigError(f"the values of method {method.value!r} must be an xarray DataArray")
    pooled = method is AblationMethod.RESAMPLE
    allowed = {LAYER, POSITION, NEURON} | ({EXAMPLE} if pooled else set())
    if not {LAYER, NEURON} <= set(values.dims) or not set(values.dims) <= allowed \
            or (EXAMPLE in values.dims) != pooled:
        raise ConfigError(f"the values of method {method.value!r} must have dims "
                          f"({'example, ' if pooled else ''}layer, [position,] neuron), got {list(values.dims)}")
    if pooled and values.sizes[EXAMPLE] == 0:
        raise ConfigError("the donor pool of method 'resample' is empty")
    if POSITION in values.dims and positions is not Positions.PROMPT:
        raise ConfigError("per-position values exist only for the prompt positions: use positions='prompt', or "
                          "values without a position dim (averaged over the prompt positions)")


def _noise_seed(seed: int, draw: int, example: int) -> int:
    state = np.random.SeedSequence([NOISE_STREAM, seed, draw, example]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) | (int(state[1]) >> 1)  # 62 bits: within torch's manual_seed range


def donors(seed: int, draw: int, start: int, count: int, pool_size: int) -> np.ndarray:
    """Donor indices (count,) into a pool of ``pool_size`` for examples ``start..start+count-1``: uniform
    with replacement, one generator per example, so a donor depends on neither the batch nor the batch size."""
    return np.array([np.random.default_rng([RESAMPLE_STREAM, seed, draw, example]).integers(pool_size)
                     for example in range(start, start + count)], dtype=np.int64)


def _prompt_positions_of(values: xr.DataArray, prompt_length: int) -> xr.DataArray:
    """Values with a position dim restricted to the P prompt positions (by role when roles are given)."""
    if POSITION not in values.dims:
        return values
    if POSITION_ROLE in values.coords:
        values = values.isel({POSITION: np.flatnonzero(prompt_position_mask(
            [str(role) for role in values[POSITION_ROLE].values]))})
    if values.sizes[POSITION] != prompt_length:
        raise NeurokitError(f"replacement values have {values.sizes[POSITION]} prompt positions, the prompt has "
                            f"{prompt_length}")
    return values


def _with_position_dim(values: xr.DataArray, prompt_length: int) -> xr.DataArray:
    """Values as ([example,] layer, position, neuron) with the P prompt positions, or one position (size 1)
    when the values hold for every edited position. Lazy values stay lazy."""
    values = _prompt_positions_of(values, prompt_length)
    if POSITION not in values.dims:
        values = values.expand_dims(POSITION)
    order = [dim for dim in (EXAMPLE, LAYER, POSITION, NEURON) if dim in values.dims]
    return values.transpose(*order)


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
        # While a batch runs (per-example methods), per edited site row: the examples' noise (batch, 1, selected)
        # or their donors' values (batch, 1 or P, selected), float32 on the device.
        self.drawn: dict[int, torch.Tensor] | None = None
        mask = perturbation.mask.transpose(LAYER, NEURON)
        values = None
        if perturbation.values is not None:
            values = _with_position_dim(perturbation.values, prompt_length)
            probe = values.isel({EXAMPLE: 0}) if EXAMPLE in values.dims else values
            check_masks(probe.isel({POSITION: 0}).notnull(), backbone)
        self.selected: dict[int, np.ndarray] = {}  # site row -> selected neuron indices
        self.indices: dict[int, torch.Tensor] = {}  # the same on the device
        self.edits: dict[NeuronSite, Callable[[torch.Tensor], torch.Tensor]] = {}
        for row, site in enumerate(self.sites):
            if site.layer not in mask[LAYER].values:
                continue
            selected = np.flatnonzero(mask.sel({LAYER: site.layer}).values)
            if selected.size == 0:
                continue  # nothing to change: no hook at all, so the layer runs untouched
            if values is not None and site.layer not in values[LAYER].values:
                raise NeurokitError(f"replacement values have no layer {site.layer}")
            replacement = None
            if values is not None and perturbation.method is AblationMethod.MEAN:
                chosen = values.sel({LAYER: site.layer}).values[:, selected]  # (positions, selected)
                if np.isnan(chosen).any():
                    raise NeurokitError(f"replacement values of layer {site.layer} are NaN for selected neurons")
                replacement = torch.as_tensor(chosen.astype(np.float32), device=self.device)
            self.selected[row] = selected
            self.indices[row] = torch.as_tensor(selected, device=self.device)
            self.edits[site] = self._edit(row, self.indices[row], replacement)
        self.pool = values if perturbation.method is AblationMethod.RESAMPLE else None

    def _edit(self, row: int, index: torch.Tensor, replacement: torch.Tensor | None):
        method, positions, prompt_length = self.perturbation.method, self.perturbation.positions, self.prompt_length

        def edit(neurons: torch.Tensor) -> torch.Tensor:
            where = edited_positions(positions, self.layout, neurons.shape[1], prompt_length)
            edited = neurons.clone()  # the original stays intact for other hooks (e.g. a capture)
            if method is AblationMethod.ZERO:
                edited[:, where, index] = 0
            elif method is AblationMethod.MEAN:
                # (1 or P, selected), broadcast; never None: Perturbation refuses method mean without values
                edited[:, where, index] = cast(torch.Tensor, replacement).to(neurons.dtype)
            else:
                if self.drawn is None:
                    raise NeurokitError(f"{method.value} perturbation outside a batch: run the forward pass inside "
                                        "examples(start, count) so that its draws are tied to the examples")
                drawn = self.drawn[row]
                if drawn.shape[0] != neurons.shape[0]:
                    raise NeurokitError(f"draws for {drawn.shape[0]} examples but the batch has {neurons.shape[0]}")
                if method is AblationMethod.NOISE:
                    edited[:, where, index] = neurons[:, where, index] + drawn.to(neurons.dtype)
                else:
                    edited[:, where, index] = drawn.to(neurons.dtype)
            return edited

        return edit

    @contextmanager
    def examples(self, start: int, count: int) -> Iterator[None]:
        """Tie the next forward pass to examples ``start..start+count-1`` of the split (their draws)."""
        if self.perturbation.method not in _PER_EXAMPLE or not self.edits:
            yield
            return
        if self.perturbation.method is AblationMethod.NOISE:
            self.drawn = self._noise(start, count)
        else:
            self.drawn = self._donated(cast(xr.DataArray, self.pool), start, count)
        try:
            yield
        finally:
            self.drawn = None

    def _noise(self, start: int, count: int) -> dict[int, torch.Tensor]:
        """The examples' noise of the selected neurons, per edited site row: (count, 1, selected)."""
        generator = torch.Generator(device=self.device)
        # Drawn for every site and neuron, so that a neuron's noise does not depend on which others are selected.
        noise = torch.empty((count, len(self.sites), self.width), device=self.device)
        for offset in range(count):
            generator.manual_seed(_noise_seed(self.perturbation.seed, self.perturbation.draw, start + offset))
            noise[offset] = torch.randn((len(self.sites), self.width), generator=generator, device=self.device)
        noise = noise * self.perturbation.noise_std
        return {row: noise[:, row, index].unsqueeze(1) for row, index in self.indices.items()}

    def _donated(self, pool: xr.DataArray, start: int, count: int) -> dict[int, torch.Tensor]:
        """The donors' values of the selected neurons, per edited site row: (count, 1 or P, selected)."""
        chosen = donors(self.perturbation.seed, self.perturbation.draw, start, count, pool.sizes[EXAMPLE])
        layers = [self.sites[row].layer for row in self.selected]
        neurons = np.unique(np.concatenate(list(self.selected.values())))
        # Read only the donors' rows of the selected neurons (the pool may be a lazy store).
        block = np.asarray(pool.isel({EXAMPLE: chosen}).sel({LAYER: layers}).isel({NEURON: neurons}).values,
                           dtype=np.float32)  # (count, layers, positions, neurons)
        if np.isnan(block).any():
            raise NeurokitError("the donor pool holds NaN values for selected neurons")
        donated = {}
        for column, (row, selected) in enumerate(self.selected.items()):
            donated[row] = torch.as_tensor(block[:, column][..., np.searchsorted(neurons, selected)],
                                           device=self.device)
        return donated


def exact_accuracy(evaluation: Evaluation) -> float:
    """Share of correct predictions counted in float64 (``Evaluation.accuracy`` is a float32 mean)."""
    return float((evaluation.predictions == evaluation.labels).double().mean())


def _correctness(evaluation: Evaluation) -> np.ndarray:
    """bool (example,): whether each prediction equals its label."""
    return (evaluation.predictions == evaluation.labels).cpu().numpy()


@contextmanager
def perturbed(backbone: Backbone, perturbation: Perturbation, prompt_length: int,
              layout: PromptLayout | str | None = None) -> Iterator[_Hooks]:
    """Apply ``perturbation`` during forward passes in the block, for a prompt of ``prompt_length`` positions
    placed by ``layout`` (``SoftPrompt.layout``; None: the family's default layout), which tells the prompt
    positions from the input positions (:func:`prompt_layout`).

    Yields the compiled hooks; with methods ``noise`` and ``resample`` every forward pass must run inside
    ``hooks.examples(start, count)``, which draws the examples' noise or donors (:func:`evaluate_perturbed`
    does this).
    The hooks are removed on exit, also when the forward raises. An empty mask registers no hook.
    """
    hooks = _Hooks(backbone, perturbation, prompt_length, layout)
    with edit_activations(backbone.model, hooks.edits):
        yield hooks


@torch.no_grad()
def evaluate_perturbed(backbone: Backbone, prompt: SoftPrompt, verbalizer: Verbalizer, split: EncodedSplit,
                       perturbation: Perturbation, batch_size: int = 64, bf16: bool | None = None,
                       progress: bool = False) -> Evaluation:
    """:func:`neurokit.prompts.evaluate` with ``perturbation`` applied (example ``i`` of the split in split
    order gets draw ``i``)."""
    with perturbed(backbone, perturbation, prompt.length, prompt.layout) as hooks:
        start = 0

        def batch_context(batch: EncodedBatch):
            nonlocal start
            context = hooks.examples(start, len(batch.ids))
            start += len(batch.ids)
            return context

        return evaluate(backbone, prompt, verbalizer, split, batch_size, bf16, progress, batch_context)


@dataclass
class SkillAblationExperiment:
    """Wang et al.'s perturbation experiment: accuracy after perturbing skill neurons vs random neurons.

    An experiment runner, not an estimator: nothing is learned, ``prepare`` evaluates the unperturbed model once
    and ``run`` perturbs it for the given skill sets (one preparation serves several runs, e.g. one per source
    task in :func:`~neurokit.interventions.cross_task_ablation`).

    Settings (validated here; no work is done): ``method`` (``noise``, ``zero``, ``mean``, ``resample``),
    ``positions`` (``all``: every position, Wang et al.'s code; ``prompt``; ``input``), ``noise_std``
    (σ of ``noise``), ``fractions`` (which top fractions to perturb; ``None``: 0–20 % in 1 % steps for scores,
    every fraction of given masks), ``selection`` (top fraction ``per-layer`` or ``global``, for scores),
    ``draws`` (random sets per fraction; for ``noise``/``resample`` also the draws of the skill set), ``seed``
    (random sets, noise and donors), ``batch_size`` and ``bf16`` (as in :func:`neurokit.prompts.evaluate`).

    ``prepare(backbone, prompt, verbalizer, split, values=None)`` evaluates the unperturbed model (``reference_``,
    an :class:`~neurokit.prompts.Evaluation`, and ``reference_accuracy_``); ``values`` are the replacement
    values of method ``mean`` (:func:`train_mean`) or the donor pool of ``resample`` (:func:`train_activations`).
    ``run(skill)`` perturbs the skill sets and, for every draw, random sets of the same size in every layer,
    and returns the accuracies as an ``xr.Dataset``.
    """

    method: AblationMethod | str = AblationMethod.NOISE
    positions: Positions | str = DEFAULT_POSITIONS
    noise_std: float = DEFAULT_NOISE_STD
    fractions: tuple[float, ...] | None = None
    selection: Selection | str = Selection.PER_LAYER
    draws: int = 5
    seed: int = 0
    batch_size: int = 64
    bf16: bool | None = None
    progress: bool = field(default=True, compare=False)

    def __post_init__(self) -> None:
        self.method = as_enum(self.method, AblationMethod, "method")
        self.positions = as_enum(self.positions, Positions, "positions")
        self.selection = as_enum(self.selection, Selection, "selection")
        if self.fractions is not None:
            self.fractions = check_fractions(self.fractions)
        real(self.noise_std, "noise_std", POSITIVE)
        integer(self.draws, "draws")
        integer(self.batch_size, "batch_size")
        integer(self.seed, "seed", minimum=0)

    def settings(self) -> dict:
        """The settings as JSON-ready values."""
        values = asdict(self)
        values.pop("progress")
        # Enum(member) is the member: the enum fields are members since __post_init__, which their annotation
        # (that also admits the strings users pass) does not tell a type checker.
        values |= {"method": AblationMethod(self.method).value, "positions": Positions(self.positions).value,
                   "selection": Selection(self.selection).value,
                   "fractions": None if self.fractions is None else list(self.fractions)}
        return values

    def prepare(self, backbone: Backbone, prompt: SoftPrompt, verbalizer: Verbalizer, split: EncodedSplit,
            values: xr.DataArray | None = None) -> SkillAblationExperiment:
        """Evaluate the unperturbed prompted model on ``split`` and keep what the perturbations need."""
        check_values(AblationMethod(self.method), values, Positions(self.positions))
        if values is not None:
            _with_position_dim(values, prompt.length)  # fail now, not after the reference evaluation
        self.backbone_, self.prompt_, self.verbalizer_, self.split_, self.values_ = (
            backbone, prompt, verbalizer, split, values)
        self.reference_: Evaluation = evaluate(backbone, prompt, verbalizer, split, self.batch_size, self.bf16)
        self.reference_accuracy_ = exact_accuracy(self.reference_)
        return self

    def _correct(self, mask: xr.DataArray, draw: int) -> np.ndarray:
        """Whether each example of the split is classified correctly with ``mask`` perturbed: bool (example,)."""
        perturbation = Perturbation(mask.drop_vars([FRACTION, DRAW], errors="ignore"), AblationMethod(self.method),
                                    self.values_, self.noise_std, self.seed, draw, Positions(self.positions))
        return _correctness(evaluate_perturbed(self.backbone_, self.prompt_, self.verbalizer_, self.split_,
                                               perturbation, self.batch_size, self.bf16))

    def run(self, skill: xr.DataArray) -> xr.Dataset:
        """Accuracy with the skill sets and with size-matched random sets perturbed.

        ``skill``: float neuron scores ([subtask,] layer, neuron) or boolean masks ([fraction,] layer, neuron)
        (see :func:`neurokit.interventions.as_masks`). Returns ``correct`` (selection, fraction, draw,
        example), bool: whether each example of the split (coordinate: its id, in split order) is classified
        correctly; ``accuracy`` (selection, fraction, draw), its mean over the examples in float64, and
        ``accuracy_drop`` = unperturbed − perturbed accuracy, with selection ``skill``/``random``;
        ``reference_accuracy`` (), ``n_perturbed`` (fraction, layer: neurons perturbed per layer, equal for
        both selections) and ``n_examples`` (); the settings are in ``attrs``. Zero and mean ablation of a skill
        set is deterministic, so it is evaluated once and repeated along ``draw`` (noise and resampling draw
        anew in every draw); an empty set is the unperturbed model. :func:`neurokit.interventions.ablation_effects`
        turns ``correct`` into the effect with its interval and p-value.
        """
        if not hasattr(self, "reference_"):
            raise NeurokitError("SkillAblationExperiment is not prepared: call prepare(backbone, prompt, verbalizer, "
                                "split) first")
        check_skill_weights(skill, self.backbone_)
        masks = as_masks(skill, self.fractions, self.selection)
        check_masks(masks, self.backbone_)
        randoms = random_masks(masks, self.draws, self.seed)
        reference = self.reference_accuracy_
        n_fractions = masks.sizes[FRACTION]
        correct = np.empty((2, n_fractions, self.draws, len(self.split_)), dtype=bool)
        correct[:] = _correctness(self.reference_)  # an empty set is the unperturbed model
        deterministic = self.method not in _PER_EXAMPLE
        pending = [index for index in range(n_fractions) if bool(masks.isel({FRACTION: index}).any())]
        total = len(pending) * ((1 if deterministic else self.draws) + self.draws)
        method = AblationMethod(self.method)  # the member (see settings)
        with tqdm(total=total, desc=f"ablate ({method.value})", disable=not self.progress) as bar:
            for index in pending:
                mask = masks.isel({FRACTION: index})
                for draw in range(self.draws):
                    if draw == 0 or not deterministic:
                        skill_correct = self._correct(mask, draw)
                        bar.update(1)
                    correct[0, index, draw] = skill_correct
                    correct[1, index, draw] = self._correct(randoms.isel({DRAW: draw, FRACTION: index}), draw)
                    bar.update(1)
        coords = {SELECTION: list(SELECTIONS), FRACTION: masks[FRACTION].values, DRAW: np.arange(self.draws),
                  EXAMPLE: list(self.split_.ids)}
        correct_labelled = xr.DataArray(correct, dims=(SELECTION, FRACTION, DRAW, EXAMPLE), coords=coords)
        # float64 mean of 0/1 values: the same number as exact_accuracy of each evaluation
        accuracy = correct_labelled.mean(EXAMPLE, dtype=np.float64)
        n_perturbed = masks.sum(NEURON).astype(np.int64)
        return xr.Dataset(
            {"correct": correct_labelled, "accuracy": accuracy, "accuracy_drop": reference - accuracy,
             "reference_accuracy": reference, "n_perturbed": n_perturbed, "n_examples": len(self.split_)},
            attrs=self._attrs(skill),
        )

    def _attrs(self, skill: xr.DataArray) -> dict:
        backbone = self.backbone_
        positions = Positions(self.positions)  # the member (see settings)
        return {
            "method": AblationMethod(self.method).value,
            "settings": json.dumps(self.settings()),
            "positions": positions.value,
            "positions_edited": f"{_POSITIONS_EDITED[positions]} of the {backbone.sites()[0].stack.value}",
            "prompt_length": self.prompt_.length,
            "prompt_layout": self.prompt_.layout.value,
            "noise": "a + N(0, noise_std²), one draw per example and neuron, the same at every edited position"
            if self.method is AblationMethod.NOISE else "none",
            "random_sets": "per draw, uniform random neurons of each layer, as many as the skill set has there",
            "model_id": backbone.model_id,
            "weights_sha256": backbone.weights_sha256,
            "scoring": self.verbalizer_.scoring.value,
            "verbalizer": json.dumps(self.verbalizer_.describe()),
            "skill_source": str(skill.name) if skill.name is not None else "",
        }


_POSITIONS_EDITED = {
    Positions.ALL: "every position (prompt, input tokens and padding)",
    Positions.PROMPT: "the prompt positions (mask slot and soft vectors)",
    Positions.INPUT: "every position but the prompt's (input tokens with special tokens, and padding)",
}


def _prompt_roles(train: xr.Dataset) -> np.ndarray:
    keep = np.flatnonzero(prompt_position_mask([str(role) for role in train[POSITION_ROLE].values]))
    if keep.size == 0:
        raise NeurokitError("the train store holds no prompt positions (roles 'mask' or 'prompt_*')")
    return keep


def check_train_store(train: xr.Dataset, backbone: Backbone, checkpoint: PromptCheckpoint,
                      where: str = "the train store") -> None:
    """Refuse a store that is not the train split extracted with ``backbone``'s weights and ``checkpoint``'s
    prompt: its means or donors would replace activations of another model or prompt. ``where`` names it."""
    if train.attrs.get("weights_sha256") != backbone.weights_sha256:
        raise NeurokitError(f"{where} comes from other weights ({str(train.attrs.get('model_id'))!r}) "
                            f"than {backbone.model_id!r}")
    if train.attrs.get("prompt_sha256") != checkpoint.sha256:
        raise NeurokitError(f"{where} was extracted with another prompt (sha256 "
                            f"{str(train.attrs.get('prompt_sha256'))[:12]}…) than {checkpoint.path} "
                            f"({checkpoint.sha256[:12]}…)")
    if train.attrs.get("split") != "train":
        raise NeurokitError(f"{where} holds split {train.attrs.get('split')!r}; the values come from the train split")


def train_mean(train: xr.Dataset, per_position: bool = False) -> xr.DataArray:
    """Wang et al.'s replacement value from a train store: the mean activation over the train set and over
    the prompt positions (roles ``mask`` and ``prompt_*``), (layer, neuron) float64, as their released code
    uses at every position; ``per_position`` (*our choice*): one mean per prompt position, (layer, position,
    neuron), for perturbations at the prompt positions only. From the train statistics
    (``train_sum``/``train_count``) or else from raw activations; every example holds every prompt position,
    so the mean over positions of the per-position means is the mean over all (example, position) pairs."""
    if TRAIN_SUM in train and TRAIN_COUNT in train:
        mean = train[TRAIN_SUM].sum(CLASS) / train[TRAIN_COUNT].sum()
    elif ACTIVATION in train:
        mean = train[ACTIVATION].astype(np.float64).mean(EXAMPLE)
    else:
        raise NeurokitError("the train store has neither train statistics nor raw activations")
    mean = mean.isel({POSITION: _prompt_roles(train)})
    if not per_position:
        return mean.mean(POSITION).transpose(LAYER, NEURON).compute(**scheduler_options()).rename("train_mean")
    return mean.transpose(LAYER, POSITION, NEURON).compute(**scheduler_options()).rename("train_mean")


def train_activations(train: xr.Dataset, per_position: bool = False) -> xr.DataArray:
    """The donor pool of method ``resample`` from a train store with raw activations, lazily: each train
    example's activations averaged over the prompt positions, (example, layer, neuron) float32, used at every
    edited position (the per-example counterpart of :func:`train_mean`: the mean over donors is its value);
    ``per_position``: (example, layer, position, neuron) at the prompt positions, for ``positions='prompt'``.
    Values are as the store holds them (exact for float32 stores)."""
    if ACTIVATION not in train:
        raise NeurokitError("resampling needs a train store with raw activations (train statistics are not enough)")
    pool = train[ACTIVATION].isel({POSITION: _prompt_roles(train)}).astype(np.float32)
    if not per_position:
        pool = pool.mean(POSITION, dtype=np.float32)
        return pool.transpose(EXAMPLE, LAYER, NEURON).rename("train_activations")
    return pool.transpose(EXAMPLE, LAYER, POSITION, NEURON).rename("train_activations")
