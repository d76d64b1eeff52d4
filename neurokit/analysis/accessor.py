"""``ds.neuro``: the analyses of one store (or of runs combined along ``run``) as Dataset methods.

Registered on import of :mod:`neurokit.analysis`. Methods that need train baselines take the train store
and use :class:`~neurokit.analysis.SkillNeurons`; the others need only the store itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from neurokit.analysis.auc import auroc
from neurokit.analysis.common import DEFAULT_SLAB_BYTES, PositionSet, RunInfo, describe
from neurokit.analysis.compare import model_accuracy
from neurokit.analysis.skill import SkillNeurons
from neurokit.analysis.subtasks import SubTask, subtasks_for


@xr.register_dataset_accessor("neuro")
class NeuroAccessor:
    """Analyses of an activation store; all results are labelled and lazy until computed."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    @property
    def info(self) -> RunInfo:
        """Model, task, labels, prompts and splits of the store (checked for consistency across runs)."""
        return describe(self._ds)

    @property
    def subtasks(self) -> tuple[SubTask, ...]:
        """The binary sub-tasks predictivity is computed for."""
        return subtasks_for(self.info.label_names)

    def skill_neurons(self, train: xr.Dataset, **settings) -> xr.Dataset:
        """Predictivity, neuron scores and skill masks of this (held-out) store with baselines from ``train``;
        ``settings`` are those of :class:`SkillNeurons` (positions, over_runs, selection, fractions)."""
        return SkillNeurons(**settings).fit(train).score(self._ds)

    def auroc(self, positions: PositionSet | str | Sequence[str] = PositionSet.PROMPT,
              slab_bytes: int = DEFAULT_SLAB_BYTES) -> xr.DataArray:
        """Threshold-free AUROC per ([run,] subtask, layer, position, neuron); see :func:`auroc`."""
        return auroc(self._ds, positions=positions, slab_bytes=slab_bytes)

    def model_accuracy(self, chance: float | None = None) -> xr.Dataset:
        """The model's accuracy on this store with an exact binomial test against chance."""
        return model_accuracy(self._ds, chance=chance)
