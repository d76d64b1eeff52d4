"""The group layout of a results store: one vocabulary for the commands that write results (``analyze``,
``ablate``, ``ablate-matrix``, ``transfer``, the demo, the study) and the code that reads them (``plot``,
:func:`~neurokit.interventions.load_skill`, the demo's summary, the study's report).

A group path is ``<parent>/<kind>``: the parent is a task's name for the results of one task, or one of
:data:`ACROSS_TASKS`, :data:`TRANSFER` and :data:`CROSS_TASK` for results that span tasks.
"""

from __future__ import annotations

import re

#: Parent of the comparisons across tasks (``tasks/selectivity``, ``tasks/agreement``).
ACROSS_TASKS = "tasks"
#: Parent of prompt transfer (``transfer/prompts``, ``transfer/source_tasks``).
TRANSFER = "transfer"
#: Parent of the task × task perturbation of ``neurokit ablate-matrix`` (``cross_task/ablation``).
CROSS_TASK = "cross_task"

# Kinds of results of one task (``<task>/<kind>``).
SKILL = "skill"
MODEL_ACCURACY = "model_accuracy"
CONTROL = "control"
PROMPT_AGREEMENT = "prompt_agreement"
AUROC = "auroc"
BOOTSTRAP = "bootstrap"
PERMUTATION = "permutation"
ADVERSARIAL_SKILL = "adversarial_skill"
ADVERSARIAL_ACCURACY = "adversarial_accuracy"
CLEAN_VS_ADVERSARIAL = "clean_vs_adversarial"
NULL = "null"
ABLATION = "ablation"
ADVERSARIAL_ABLATION = "adversarial_ablation"
PRUNING = "pruning"
REPORT_ACCURACY = "report_accuracy"  # the study: accuracy of every prompt on the report split
ADVERSARIAL_REPORT_ACCURACY = "adversarial_report_accuracy"

# Kinds of the results across tasks and of prompt transfer.
SELECTIVITY = "selectivity"
AGREEMENT = "agreement"
PROMPTS = "prompts"  # the source prompt × target task matrix of transfer_matrix
SOURCE_TASKS = "source_tasks"  # the same, averaged over the prompts of each source task (by_source_task)


def group_path(parent: str, kind: str) -> str:
    """The path of the ``kind`` results of ``parent`` (a task's name, or :data:`ACROSS_TASKS`,
    :data:`TRANSFER`, :data:`CROSS_TASK`), e.g. ``group_path("sst2", SKILL) == "sst2/skill"``."""
    return f"{parent}/{kind}"


def by_class_count(kind: str, classes: int) -> str:
    """The kind of a result restricted to the tasks with ``classes`` classes (the study's transfer matrices:
    prompts only transfer between tasks with as many classes), e.g. ``prompts_2way``."""
    return f"{kind}_{classes}way"


def class_count(name: str, kind: str) -> int | None:
    """The class count of a name that :func:`by_class_count` made from ``kind``, else None."""
    match = re.fullmatch(rf"{re.escape(kind)}_(\d+)way", name)
    return int(match.group(1)) if match else None
