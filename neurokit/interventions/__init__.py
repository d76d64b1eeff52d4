"""Interventions on prompted models: perturbing (skill) neurons, across tasks too, and prompt transfer.

See ``docs/interventions.md``.
"""

from neurokit.interventions.ablation import (
    DEFAULT_NOISE_STD,
    DEFAULT_POSITIONS,
    AblationMethod,
    Perturbation,
    Positions,
    SkillAblation,
    evaluate_perturbed,
    perturbed,
    train_activations,
    train_mean,
)
from neurokit.interventions.cross_task import CrossTaskTarget, cross_task_ablation
from neurokit.interventions.masks import as_masks, check_masks, load_skill, random_masks, skill_masks
from neurokit.interventions.transfer import by_source_task, plan_transfer, transfer_matrix

__all__ = [
    "AblationMethod", "CrossTaskTarget", "DEFAULT_NOISE_STD", "DEFAULT_POSITIONS", "Perturbation", "Positions", "SkillAblation", "as_masks", "by_source_task",
    "check_masks", "cross_task_ablation", "evaluate_perturbed", "load_skill", "perturbed", "plan_transfer", "random_masks", "skill_masks",
    "train_activations", "train_mean", "transfer_matrix",
]
