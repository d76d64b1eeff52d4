"""``neurokit demo``: its command-line registration and handler."""

from __future__ import annotations

import argparse
from dataclasses import replace

from neurokit.cli import add_progress_argument
from neurokit.demo.config import DemoConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = DemoConfig()
    parser = subparsers.add_parser(
        "demo", help="the whole pipeline on the embedded MiniLM and built-in tasks, into one folder",
        description="Prompt-tune the offline MiniLM-L6 on the built-in tasks (several seeds, plus untuned "
                    "prompts as the null), extract clean and adversarial activations, analyse skill neurons, "
                    "ablate them, measure transfer, and write figures and a Markdown summary into --out.")
    parser.add_argument("--out", default="cache/demo", help="output folder (default cache/demo)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: every step in under a minute")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"prompts of the first task (default {defaults.seeds})")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"optimizer steps per prompt (default {defaults.steps})")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    add_progress_argument(parser)
    parser.set_defaults(handler=handler)


def handler(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the pipeline loads torch, the analyses and the figures, which
    # `neurokit --help` (it imports this module to register the command) should not pay for.
    from neurokit.demo.pipeline import run_demo

    config = DemoConfig.quick() if args.quick else DemoConfig()
    changes = {name: value for name, value in (("seeds", args.seeds), ("steps", args.steps)) if value is not None}
    run_demo(args.out, replace(config, **changes), device=args.device, progress=not args.no_progress)
    return 0
