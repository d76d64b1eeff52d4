"""`neurokit selftest --model ID [--prompt CHECKPOINT]`: a table of states; exit 1 when any check is wrong."""

from __future__ import annotations

from neurokit.models import EMBEDDED_MODEL
from neurokit.models.cli_args import add_model_arguments
from neurokit.selftest.checks import ReducedPrecision, SelftestConfig


def _selftest(args) -> int:
    from neurokit.models.cli_args import backbone_for_checkpoint, backbone_from_args
    from neurokit.prompts.checkpoint import PromptCheckpoint
    from neurokit.selftest.checks import CheckState, format_table, run_selftest

    config = SelftestConfig(prompt_length=args.prompt_length, reduced_precision=args.dtype,
                            max_length=args.max_length, seed=args.seed)  # invalid settings fail before loading
    prompt = None
    if args.prompt is not None:
        checkpoint = PromptCheckpoint.from_pretrained(args.prompt)
        backbone = backbone_for_checkpoint(args, checkpoint)
        prompt = checkpoint.soft_prompt(backbone)
    else:
        args.model = args.model or EMBEDDED_MODEL
        backbone = backbone_from_args(args)
    results = run_selftest(backbone, prompt, config)
    print(format_table(results, f"{backbone.model_id} ({backbone.adapter.family.value}, {backbone.device})"))
    return 1 if any(result.state is CheckState.WRONG for result in results) else 0


def register(subparsers) -> None:
    defaults = SelftestConfig()
    parser = subparsers.add_parser(
        "selftest", help="check captures, padding, precision and interventions on a model (exit 1 if wrong)")
    add_model_arguments(parser, from_checkpoint=True)
    parser.add_argument("--prompt", default=None,
                        help="prompt checkpoint to test behind (default: a freshly initialised prompt)")
    parser.add_argument("--prompt-length", type=int, default=defaults.prompt_length,
                        help="positions of the initialised prompt (without --prompt)")
    parser.add_argument("--dtype", choices=[p.value for p in ReducedPrecision],
                        default=ReducedPrecision(defaults.reduced_precision).value,
                        help="the reduced precision compared with float32")
    parser.add_argument("--max-length", type=int, default=defaults.max_length, help="tokens per probe input")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="prompt initialisation and noise seed")
    parser.set_defaults(handler=_selftest)
