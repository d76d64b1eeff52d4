"""The `neurokit` command line.

Each stage contributes its sub-commands through a ``register(subparsers)`` function; this module only
assembles them and turns :class:`~neurokit.errors.NeurokitError` into one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from neurokit.errors import NeurokitError

# Modules that expose ``register(subparsers)``; imported lazily so `neurokit --help` stays fast.
_COMMAND_MODULES = (
    "neurokit.tasks.commands",
    "neurokit.models.commands",
    "neurokit.prompts.commands",
    "neurokit.extract.commands",
    "neurokit.analysis.commands",
    "neurokit.interventions.commands",
    "neurokit.plots.commands",
    "neurokit.selftest.commands",
    "neurokit.study.commands",
    "neurokit.demo.commands",
)


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--no-progress`` for a command with long work, which shows tqdm progress bars unless told not to
    (``args.no_progress``)."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurokit",
        description="Prompt tuning, FFN-activation stores and skill-neuron analysis.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in _COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except NeurokitError as error:
        print(f"neurokit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurokit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
