"""``neurokit tasks``: a table of the registered tasks."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from neurokit.tasks.spec import TaskSpec, TaskType

_HEADERS = ("NAME", "TYPE", "LABELS", "SPLITS", "SOURCE")
# Beyond this many classes the label cell shows the first few and a count (DBpedia has 14).
_MAX_LISTED_LABELS = 4


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tasks`` sub-command."""
    parser = subparsers.add_parser(
        "tasks",
        help="list the registered tasks",
        description="List the registered tasks: name, type, label names, splits (with where each comes from) and "
        "data source. 'dev<-train 20%%' means dev is carved deterministically from the training data.",
    )
    parser.add_argument(
        "--type",
        dest="task_type",
        choices=[member.value for member in TaskType],
        help="only tasks of this type",
    )
    parser.add_argument(
        "--spec-file",
        dest="spec_files",
        action="append",
        default=[],
        metavar="PATH",
        help="register a user task from a JSON/TOML spec file first (repeatable); checks the file",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the task table to stdout; returns the exit code 0."""
    # Imported here: the registry loads `datasets`, which `neurokit --help` should not pay for.
    from neurokit.tasks.files import load_task_spec_file
    from neurokit.tasks.registry import list_tasks, register_task

    for path in args.spec_files:
        register_task(load_task_spec_file(path))
    specs = list_tasks(args.task_type)
    if not specs:
        print(f"no registered tasks of type {args.task_type}")
        return 0
    print(format_table(_HEADERS, [_row(spec) for spec in specs]))
    return 0


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, without trailing spaces."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    )


def _row(spec: TaskSpec) -> tuple[str, str, str, str, str]:
    labels = list(spec.label_names)
    if len(labels) > _MAX_LISTED_LABELS:
        labels = [*labels[: _MAX_LISTED_LABELS - 1], f"+{len(spec.label_names) - _MAX_LISTED_LABELS + 1} more"]
    source = spec.source.describe() if spec.source is not None else "-"
    if spec.adversarial_of:
        source += f" [adversarial of {spec.adversarial_of}]"
    splits = spec.source.describe_splits() if spec.source is not None else "-"
    return spec.name, spec.task_type.value, ",".join(labels), splits, source
