"""The command-line arguments that choose a backbone, shared by every stage's ``commands.py``, and the backbone
they name."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from neurokit.models.adapters import Scoring
from neurokit.models.backbone import (
    EMBEDDED_MODEL,
    Backbone,
    default_device,
    load_backbone,
)

if TYPE_CHECKING:  # a type only: the models stage does not import the prompts stage at run time
    from neurokit.prompts.checkpoint import PromptCheckpoint


def add_model_arguments(parser: argparse.ArgumentParser, *, from_checkpoint: bool = False) -> None:
    """``--model``, ``--revision``, ``--scoring``, ``--device``, ``--trust-remote-code``: shared by every stage.

    ``from_checkpoint``: the command reads a prompt checkpoint, and ``--model`` defaults to the model that
    prompt was tuned on (None here; resolved by :func:`backbone_for_checkpoint`).
    """
    if from_checkpoint:
        parser.add_argument("--model", default=None,
                            help="Hub id or local folder (default: the model the prompt was tuned on)")
    else:
        parser.add_argument("--model", default=EMBEDDED_MODEL,
                            help=f"Hub id or local folder (default: {EMBEDDED_MODEL}, the offline MiniLM-L6)")
    parser.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    parser.add_argument("--scoring", choices=[s.value for s in Scoring], default=None,
                        help="class read-out (default: the family's own)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="allow the checkpoint's own Python code (off by default)")


def backbone_from_args(args: argparse.Namespace) -> Backbone:
    """The backbone that the arguments of :func:`add_model_arguments` name, loaded onto ``--device``."""
    return load_backbone(args.model, revision=args.revision, scoring=args.scoring,
                         trust_remote_code=args.trust_remote_code, device=default_device(args.device))


def backbone_for_checkpoint(args: argparse.Namespace, checkpoint: PromptCheckpoint) -> Backbone:
    """The backbone of ``--model``, or, when it is not given, of the model the checkpoint was tuned on."""
    if args.model is None:
        args.model = checkpoint.metadata.model_source or EMBEDDED_MODEL
    return backbone_from_args(args)
