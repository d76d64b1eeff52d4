"""Interventions on prompted models: perturbing (skill) neurons, across tasks too, prompt transfer, and
pruning a backbone to its skill neurons.

See ``docs/interventions.md``.
"""

from neurokit.interventions.ablation import (
    DEFAULT_NOISE_STD,
    DEFAULT_POSITIONS,
    AblationMethod,
    Perturbation,
    Positions,
    SkillAblationExperiment,
    evaluate_perturbed,
    perturbed,
    train_activations,
    train_mean,
)
from neurokit.interventions.cross_task import CrossTaskTarget, cross_task_ablation
from neurokit.interventions.effects import Resampling, ablation_effects, with_effects
from neurokit.interventions.masks import as_masks, check_masks, load_skill, random_masks, skill_masks
from neurokit.interventions.prune import (
    DEFAULT_FRACTION,
    BiasFold,
    PruneConfig,
    default_layers,
    kept_neurons,
    neuron_means,
    parameter_count,
    prune,
    save_pruned,
)
from neurokit.interventions.transfer import by_source_task, plan_transfer, transfer_matrix

__all__ = [
    "AblationMethod", "BiasFold", "CrossTaskTarget", "DEFAULT_FRACTION", "DEFAULT_NOISE_STD", "DEFAULT_POSITIONS",
    "Perturbation", "Positions", "PruneConfig", "Resampling", "SkillAblationExperiment", "ablation_effects", "as_masks",
    "by_source_task", "check_masks", "cross_task_ablation", "default_layers", "evaluate_perturbed",
    "kept_neurons", "load_skill", "neuron_means", "parameter_count", "perturbed", "plan_transfer", "prune",
    "random_masks", "save_pruned", "skill_masks", "train_activations", "train_mean", "transfer_matrix",
    "with_effects",
]
