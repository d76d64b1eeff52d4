"""Exactness checks of neurokit's machinery on one backbone: what a user runs before trusting it on their model.

Interpretability tools fail silently in known ways; each check below measures one of them on the user's own
model and reports a state:

- ``supported``: exact (or within float32 round-off where the operation is not bit-reproducible);
- ``degraded``: usable with a known, measured loss (for example predictions that flip in bf16);
- ``wrong``: a result neurokit would report on this model cannot be trusted.

The checks run a few fixed sentences of different lengths behind a soft prompt (an initialised one, or the user's
checkpoint); nothing is downloaded beyond the model itself.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
import xarray as xr

from neurokit.dims import EXAMPLE, LAYER, NEURON
from neurokit.extract.spec import stored_dtype_policy
from neurokit.interventions.ablation import AblationMethod, Perturbation, perturbed
from neurokit.models import Backbone, NeuronSite, Verbalizer, capture_activations
from neurokit.prompts.soft_prompt import PromptInit, SoftPrompt
from neurokit.validation import as_enum, integer

#: Sentences of different lengths, so that a batch needs padding.
PROBE_SENTENCES = (
    "A gripping, funny and warm film.",
    "Dull.",
    "The plot wanders for two hours and the actors look as bored as the audience does by the end.",
    "I would gladly watch it again tomorrow.",
    "Not worth the ticket, the popcorn or the time it took to park the car.",
    "Brilliant!",
    "An honest, quiet story told with care by people who clearly loved the material.",
    "It never decides what it wants to be.",
)
PROBE_LABEL_WORDS = ("negative", "positive")

#: Relative error below which two float32 computations of one quantity count as the same (round-off of
#: differently shaped matrix products; bit-equality is not promised by BLAS).
FLOAT32_TOLERANCE = 1e-4


class CheckState(str, enum.Enum):
    SUPPORTED = "supported"
    DEGRADED = "degraded"
    WRONG = "wrong"


class ReducedPrecision(str, enum.Enum):
    """The dtype the user will run the model in, compared against float32."""

    BFLOAT16 = "bfloat16"
    FLOAT16 = "float16"

    @property
    def torch_dtype(self) -> torch.dtype:
        return torch.bfloat16 if self is ReducedPrecision.BFLOAT16 else torch.float16


@dataclass(frozen=True)
class CheckResult:
    """One check: its ``name``, ``state``, the ``measured`` value as text and what it means (``detail``)."""

    name: str
    state: CheckState
    measured: str
    detail: str


@dataclass(frozen=True)
class SelftestConfig:
    """``prompt_length``: positions of the initialised prompt (ignored when a prompt is given);
    ``reduced_precision``: the dtype compared with float32; ``max_length``: tokens per input; ``seed``: prompt
    initialisation and noise."""

    prompt_length: int = 8
    reduced_precision: ReducedPrecision | str = ReducedPrecision.BFLOAT16
    max_length: int = 64
    seed: int = 0

    def __post_init__(self) -> None:
        precision = as_enum(self.reduced_precision, ReducedPrecision, "reduced_precision")
        object.__setattr__(self, "reduced_precision", precision)
        integer(self.prompt_length, "prompt_length", minimum=2)
        integer(self.max_length, "max_length", minimum=8)
        integer(self.seed, "seed", minimum=0)


def _relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    scale = float(reference.abs().max())
    return float((value.float() - reference.float()).abs().max()) / (scale if scale > 0 else 1.0)


def _within_float32(error: float) -> CheckState:
    return CheckState.SUPPORTED if error <= FLOAT32_TOLERANCE else CheckState.WRONG


class _Probe:
    """The backbone, a prompt and the probe sentences, with the forward passes the checks share."""

    def __init__(self, backbone: Backbone, prompt: SoftPrompt, config: SelftestConfig):
        self.backbone = backbone
        self.prompt = prompt().detach().to(backbone.device, backbone.model.dtype)
        self.prompt_length = prompt.length
        self.layout = prompt.layout
        self.verbalizer: Verbalizer = backbone.verbalizer(PROBE_LABEL_WORDS)
        self.inputs = backbone.tokenize(list(PROBE_SENTENCES), config.max_length)
        self.sites: list[NeuronSite] = backbone.sites()

    def scores(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
               model_backbone: Backbone | None = None) -> torch.Tensor:
        """Class scores (examples, classes) float32 of the probe batch (or of the given inputs)."""
        backbone = model_backbone or self.backbone
        input_ids = self.inputs["input_ids"] if input_ids is None else input_ids
        attention_mask = self.inputs["attention_mask"] if attention_mask is None else attention_mask
        prompt = self.prompt.to(backbone.model.dtype)
        with torch.no_grad():
            return backbone.class_scores(prompt, input_ids, attention_mask, self.verbalizer, self.layout).float()

    def single(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Example ``index`` alone, without padding: (input_ids, attention_mask) of shape (1, its length)."""
        length = int(self.inputs["attention_mask"][index].sum())
        return (self.inputs["input_ids"][index:index + 1, :length],
                self.inputs["attention_mask"][index:index + 1, :length])

    @cached_property
    def batch_neurons(self) -> dict[str, torch.Tensor]:
        """:meth:`prompt_neurons` of the probe batch, computed once for every check that reads them."""
        return self.prompt_neurons()

    def prompt_neurons(self, input_ids=None, attention_mask=None) -> dict[str, torch.Tensor]:
        """Neurons at the prompt positions, per site (examples, P, width) float32."""
        prompt_length, layout = self.prompt_length, self.layout

        def at_prompt(neurons: torch.Tensor) -> torch.Tensor:
            return neurons[:, layout.prompt_slice(neurons.shape[1], prompt_length)].float()

        with capture_activations(self.backbone.model, self.sites, transform=at_prompt) as captured:
            self.scores(input_ids, attention_mask)
            return dict(captured)


def check_ffn_capture(probe: _Probe) -> CheckResult:
    """Every site's hook fires once per forward pass, and the captured neurons pushed through the site's output
    projection give exactly what the projection put out (the neurons are its whole input)."""
    model = probe.backbone.model
    outputs: dict[str, list[torch.Tensor]] = {site.name: [] for site in probe.sites}
    handles = []

    def keep_output(name: str):
        return lambda _module, _args, output: outputs[name].append(output.detach().float())

    try:
        for site in probe.sites:
            handles.append(site.resolve(model).register_forward_hook(keep_output(site.name)))
        with capture_activations(model, probe.sites) as captured:
            probe.scores()
            neurons = dict(captured)
    finally:
        for handle in handles:
            handle.remove()
    silent = [site.name for site in probe.sites if site.name not in neurons or len(outputs[site.name]) != 1]
    if silent:
        return CheckResult("ffn capture", CheckState.WRONG, f"{len(silent)} of {len(probe.sites)} sites",
                           f"hooks that did not fire exactly once: {', '.join(silent[:3])}")
    worst = 0.0
    with torch.no_grad():
        for site in probe.sites:
            projection = site.resolve(model)
            recomputed = projection(neurons[site.name]).float()
            worst = max(worst, _relative_error(recomputed, outputs[site.name][0]))
            if neurons[site.name].shape[-1] != site.width:
                return CheckResult("ffn capture", CheckState.WRONG, f"width {neurons[site.name].shape[-1]}",
                                   f"{site.name} captured a width other than its {site.width} neurons")
    return CheckResult("ffn capture", _within_float32(worst), f"max rel. error {worst:.1e}",
                       f"{len(probe.sites)} sites: output projection of the captured neurons vs its real output")


def check_padding(probe: _Probe) -> CheckResult:
    """A padded batch gives the same class scores and prompt-position neurons as each example alone."""
    batched_scores = probe.scores()
    batched_neurons = probe.batch_neurons
    score_error = neuron_error = 0.0
    for index in range(len(PROBE_SENTENCES)):
        input_ids, attention_mask = probe.single(index)
        score_error = max(score_error, _relative_error(batched_scores[index:index + 1],
                                                       probe.scores(input_ids, attention_mask)))
        alone = probe.prompt_neurons(input_ids, attention_mask)
        for name, neurons in alone.items():
            neuron_error = max(neuron_error, _relative_error(batched_neurons[name][index:index + 1], neurons))
    worst = max(score_error, neuron_error)
    side = probe.backbone.tokenizer.padding_side
    return CheckResult("padding", _within_float32(worst),
                       f"max rel. error {score_error:.1e} (scores), {neuron_error:.1e} (neurons)",
                       f"{side}-padded batch of {len(PROBE_SENTENCES)} vs each example alone")


def check_reduced_precision(probe: _Probe, precision: ReducedPrecision) -> CheckResult:
    """float32 against the dtype the user will run in: the largest score error and how many predictions flip."""
    reference = probe.scores()
    reduced = copy.deepcopy(probe.backbone)
    # PreTrainedModel.to is typed through functools.wraps(nn.Module.to) as an unbound function (see load_backbone)
    reduced.model = reduced.model.to(precision.torch_dtype)  # type: ignore[arg-type]
    scores = probe.scores(model_backbone=reduced)
    name = f"{precision.value} vs float32"
    if not torch.isfinite(scores).all():
        return CheckResult(name, CheckState.WRONG, "non-finite scores",
                           f"the model overflows in {precision.value}: run it in float32")
    flips = int((scores.argmax(1) != reference.argmax(1)).sum())
    error = _relative_error(scores, reference)
    state = CheckState.SUPPORTED if flips == 0 else CheckState.DEGRADED
    return CheckResult(name, state, f"max rel. error {error:.1e}, {flips}/{len(reference)} predictions flip",
                       "class scores of the probe batch")


def check_prompt_sees_input(probe: _Probe) -> CheckResult:
    """Prompt-position neurons must differ between inputs; otherwise no neuron there can predict anything."""
    neurons = probe.batch_neurons
    spread = max(float(values.std(dim=0).max()) for values in neurons.values())
    state = CheckState.SUPPORTED if spread > 0 else CheckState.WRONG
    detail = "largest std across inputs of a prompt-position neuron"
    if state is CheckState.WRONG:
        detail = "prompt-position neurons are identical for every input: the prompt cannot see the input"
    return CheckResult("prompt sees input", state, f"spread {spread:.2e}", detail)


def _hook_counts(model: torch.nn.Module) -> int:
    return sum(len(module._forward_pre_hooks) + len(module._forward_hooks) for module in model.modules())


def _masks(probe: _Probe) -> tuple[xr.DataArray, xr.DataArray]:
    """An empty mask and one with every other neuron of every prompt-reading layer, (layer, neuron) bool."""
    width = max(site.width for site in probe.sites)
    layers = [site.layer for site in probe.sites]
    half = np.zeros((len(layers), width), dtype=bool)
    half[:, ::2] = True
    coords = {LAYER: layers, NEURON: np.arange(width)}
    return (xr.DataArray(np.zeros_like(half), dims=(LAYER, NEURON), coords=coords),
            xr.DataArray(half, dims=(LAYER, NEURON), coords=coords))


@contextmanager
def _perturbed_scores(probe: _Probe, perturbation: Perturbation) -> Iterator[Callable[[], torch.Tensor]]:
    with perturbed(probe.backbone, perturbation, probe.prompt_length, probe.layout) as hooks:
        def run() -> torch.Tensor:
            with hooks.examples(0, len(PROBE_SENTENCES)):
                return probe.scores()

        yield run


def check_interventions(probe: _Probe, seed: int) -> list[CheckResult]:
    """Each perturbation method moves the scores with a non-empty mask, leaves them bit-identical with an empty
    mask, and leaves no hook behind."""
    reference = probe.scores()
    hooks_before = _hook_counts(probe.backbone.model)
    empty, half = _masks(probe)
    # mean: a constant per neuron; resample: the probe's own examples (averaged over the prompt positions) as donors
    donors = np.stack([probe.batch_neurons[site.name].mean(dim=1).numpy() for site in probe.sites], axis=1)
    values = {
        AblationMethod.MEAN: xr.DataArray(np.ones(half.shape, dtype=np.float32), dims=half.dims, coords=half.coords),
        AblationMethod.RESAMPLE: xr.DataArray(donors[::-1].copy(), dims=(EXAMPLE, LAYER, NEURON),
                                              coords={LAYER: half[LAYER].values}),
    }
    results = []
    for method in AblationMethod:
        with _perturbed_scores(probe, Perturbation(empty, method, values.get(method), seed=seed)) as run:
            untouched = run()
        with _perturbed_scores(probe, Perturbation(half, method, values.get(method), seed=seed)) as run:
            changed = run()
        moved = float((changed - reference).abs().max())
        identical = bool(torch.equal(untouched, reference))
        leftover = _hook_counts(probe.backbone.model) - hooks_before
        problems = ([] if identical else ["an empty mask changed the scores"]) + \
            ([] if moved > 0 else ["the scores did not move"]) + \
            ([] if leftover == 0 else [f"{leftover} hook(s) left behind"])
        results.append(CheckResult(
            f"intervention {method.value}", CheckState.WRONG if problems else CheckState.SUPPORTED,
            f"moved {moved:.2e}, empty mask {'bit-identical' if identical else 'differs'}, {leftover} hooks left",
            "; ".join(problems) or "half of each layer's neurons perturbed vs none"))
    return results


def check_stored_dtype(probe: _Probe) -> CheckResult:
    """The dtype extraction would store this family in holds the largest prompt-position activation."""
    stored, _reason = stored_dtype_policy(probe.backbone.adapter, None)
    limit = float(torch.finfo(getattr(torch, stored.value)).max)
    largest = max(float(values.abs().max()) for values in probe.batch_neurons.values())
    ratio = largest / limit
    state = CheckState.WRONG if ratio >= 1 else CheckState.DEGRADED if ratio >= 0.1 else CheckState.SUPPORTED
    return CheckResult(f"stored dtype {stored.value}", state, f"max abs. activation {largest:.3g}",
                       f"{ratio:.1e} of the {stored.value} range (degraded from 0.1: little headroom)")


def run_selftest(backbone: Backbone, prompt: SoftPrompt | None = None,
                 config: SelftestConfig | None = None) -> list[CheckResult]:
    """Run every check on ``backbone`` behind ``prompt`` (default: a prompt initialised N(0, 0.03²))."""
    config = config or SelftestConfig()
    if prompt is None:
        prompt = SoftPrompt.initialise(backbone, config.prompt_length, PromptInit.NORMAL, config.seed)
    probe = _Probe(backbone, prompt, config)
    return [
        check_ffn_capture(probe),
        check_padding(probe),
        check_reduced_precision(probe, ReducedPrecision(config.reduced_precision)),  # the member, typed
        check_prompt_sees_input(probe),
        *check_interventions(probe, config.seed),
        check_stored_dtype(probe),
    ]


def format_table(results: list[CheckResult], title: str) -> str:
    """A Markdown table of the results, as pasted into a bug report."""
    rows = [f"selftest: {title}", "", "| check | state | measured | what |", "|---|---|---|---|"]
    rows += [f"| {r.name} | {r.state.value} | {r.measured} | {r.detail} |" for r in results]
    return "\n".join(rows)
