"""Lazy xarray/Dask statistics of activation stores: predictivity and skill neurons (Wang et al. 2022),
their robustness (Ackermann & Ohmer 2024), AUROC, resampling tests and selectivity.

Importing this package registers the ``ds.neuro`` accessor. See ``docs/analysis.md``.
"""

from neurokit.analysis.accessor import NeuroAccessor
from neurokit.analysis.auc import auroc
from neurokit.analysis.common import PositionSet, RunAggregation, RunInfo, Selection, describe
from neurokit.analysis.compare import (
    ADVERSARIAL_FRACTIONS,
    binomial_p_value,
    chance_threshold,
    clean_vs_adversarial,
    model_accuracy,
    null_comparison,
    overlap_p_value,
    pairwise_agreement,
    spearman,
    stack_scores,
    task_selectivity,
)
from neurokit.analysis.pipeline import AnalysisOptions, analysis_provenance, analyze_stores
from neurokit.analysis.resampling import (
    benjamini_hochberg,
    bootstrap_interval,
    bootstrap_shares,
    percentile_bounds,
    permutation_p_values,
)
from neurokit.analysis.results import compute_results, load_results, save_results, tidy_table, write_tables
from neurokit.analysis.skill import (
    DEFAULT_FRACTIONS,
    BaselineKind,
    SkillNeurons,
    accuracy,
    balanced_baselines,
    class_statistics,
    filled_top,
    neuron_score,
    predictivity,
    skill_set,
    subtask_baselines,
    top_fraction,
)
from neurokit.analysis.stores import open_by_task
from neurokit.analysis.subtasks import SubTask, SubtaskScheme, subtask_labels, subtask_scheme, subtasks_for

__all__ = [
    "ADVERSARIAL_FRACTIONS", "AnalysisOptions", "BaselineKind", "DEFAULT_FRACTIONS", "NeuroAccessor", "PositionSet",
    "RunAggregation", "RunInfo", "Selection", "SkillNeurons", "SubTask", "SubtaskScheme", "accuracy",
    "analysis_provenance", "analyze_stores", "auroc", "balanced_baselines", "benjamini_hochberg", "binomial_p_value",
    "bootstrap_interval", "bootstrap_shares", "chance_threshold", "class_statistics",
    "clean_vs_adversarial", "compute_results", "describe", "filled_top", "load_results", "model_accuracy",
    "neuron_score", "null_comparison", "open_by_task", "overlap_p_value", "pairwise_agreement", "percentile_bounds",
    "permutation_p_values", "predictivity", "save_results", "skill_set", "spearman",
    "stack_scores", "subtask_baselines", "subtask_labels", "subtask_scheme", "subtasks_for", "task_selectivity",
    "tidy_table", "top_fraction", "write_tables",
]
