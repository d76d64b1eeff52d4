"""Context managers that read FFN neurons through forward pre-hooks and always remove them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from neurokit.models.sites import NeuronSite

# Applied to each captured tensor (batch, sequence, width) before it is kept, e.g. to select positions on the
# device so that only what is stored crosses to the host.
CaptureTransform = Callable[[torch.Tensor], torch.Tensor]


@contextmanager
def capture_activations(
    model: nn.Module,
    sites: Sequence[NeuronSite],
    transform: CaptureTransform | None = None,
    detach: bool = True,
) -> Iterator[dict[str, torch.Tensor]]:
    """Capture the neurons of ``sites`` during forward passes run inside the ``with`` block.

    Yields a dict that fills as the model runs: ``captured[site.name]`` is the input of the site's output
    projection, shape (batch, sequence, width), in the model's compute dtype, after ``transform`` if one is given.
    A later forward pass overwrites the entry. Hooks are removed on exit, also when the forward raises.
    """
    captured: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(site_name: str):
        def hook(_module: nn.Module, args: tuple) -> None:
            neurons = args[0].detach() if detach else args[0]
            captured[site_name] = transform(neurons) if transform is not None else neurons

        return hook

    try:
        for site in sites:
            handles.append(site.resolve(model).register_forward_pre_hook(make_hook(site.name)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def edit_activations(
    model: nn.Module,
    edits: dict[NeuronSite, Callable[[torch.Tensor], torch.Tensor]],
) -> Iterator[None]:
    """Replace the neurons of each site by ``edit(neurons)`` during forward passes inside the block.

    ``edit`` receives the output projection's input (batch, sequence, width) and returns a tensor of the same
    shape; the projection then sees the edited neurons. Used by ``neurokit.interventions`` for ablations.
    Hooks are removed on exit, also when the forward raises.
    """
    handles = []

    def make_hook(edit):
        def hook(_module: nn.Module, args: tuple) -> tuple:
            return (edit(args[0]), *args[1:])

        return hook

    try:
        for site, edit in edits.items():
            handles.append(site.resolve(model).register_forward_pre_hook(make_hook(edit)))
        yield
    finally:
        for handle in handles:
            handle.remove()
