"""`neurokit train` and `neurokit prompt import|export`."""

from __future__ import annotations

import json
from pathlib import Path

from neurokit.cli import add_progress_argument
from neurokit.models import PromptLayout
from neurokit.models.cli_args import (
    add_model_arguments,
    backbone_for_checkpoint,
    backbone_from_args,
)
from neurokit.prompts.config import PromptTuningConfig
from neurokit.prompts.soft_prompt import PromptInit


def add_layout_argument(parser, default_help: str = "the family's default: append on GPT-2/Llama, else "
                                                     "prepend") -> None:
    """``--prompt-layout``: where the prompt goes relative to the input (:class:`~neurokit.models.PromptLayout`)."""
    parser.add_argument("--prompt-layout", choices=[m.value for m in PromptLayout], default=None,
                        help=f"prompt before (prepend) or after (append) the input (default: {default_help})")


def _train(args) -> int:
    from neurokit.prompts.checkpoint import check_checkpoint_out
    from neurokit.prompts.trainer import PromptTrainer
    from neurokit.tasks import get_task, load_split

    task = get_task(args.task)  # fail fast on an unknown task, before the model loads
    check_checkpoint_out(args.out, args.overwrite)
    config = _tuning_config(args)
    train = load_split(task, "train", size=args.train_size, seed=args.data_seed)
    dev = load_split(task, "dev", size=args.dev_size, seed=args.data_seed)
    backbone = backbone_from_args(args)
    out = Path(args.out)
    trainer = PromptTrainer(backbone, task, config, output_dir=out, progress=not args.no_progress).fit(train, dev)
    print(json.dumps({"task": task.name, "best_dev_accuracy": trainer.best_dev_accuracy_,
                      "best_step": trainer.best_step_, "checkpoint": str(out)}))
    return 0


def _tuning_config(args) -> PromptTuningConfig:
    return PromptTuningConfig(
        prompt_length=args.prompt_length, init=args.init, init_text=args.init_text,
        learning_rate=args.learning_rate, epochs=args.epochs, max_steps=args.max_steps,
        batch_size=args.batch_size, gradient_accumulation=args.gradient_accumulation,
        eval_every=args.eval_every, max_length=args.max_length, seed=args.seed, bf16=args.bf16,
        layout=args.prompt_layout)


def _init_prompt(args) -> int:
    from neurokit.prompts.checkpoint import check_checkpoint_out
    from neurokit.prompts.trainer import save_untuned_prompt
    from neurokit.tasks import get_task, load_split

    task = get_task(args.task)
    check_checkpoint_out(args.out, args.overwrite)
    config = PromptTuningConfig(prompt_length=args.prompt_length, init=args.init, init_text=args.init_text,
                                max_length=args.max_length, seed=args.seed, layout=args.prompt_layout)
    dev = load_split(task, "dev", size=args.dev_size, seed=args.data_seed) if args.dev_size != 0 else None
    accuracy = save_untuned_prompt(backbone_from_args(args), task, config, args.out, dev)
    print(json.dumps({"task": task.name, "dev_accuracy": accuracy, "checkpoint": str(args.out)}))
    return 0


def _neighbours(args) -> int:
    from neurokit.prompts.checkpoint import PromptCheckpoint
    from neurokit.prompts.neighbours import checkpoint_neighbours
    from neurokit.validation import integer

    checkpoint = PromptCheckpoint.from_pretrained(args.prompt)
    integer(args.k, "--k")
    result = checkpoint_neighbours(backbone_for_checkpoint(args, checkpoint), checkpoint, args.k, args.seed)
    for position in result["prompt_position"].values:
        tokens = result["token"].sel(vector="prompt", prompt_position=position).values
        print(f"{position:4d}  " + "  ".join(str(token) for token in tokens))
    rates = result["label_word_rate"]
    print(f"label words {list(result.attrs['label_words'])} among the {args.k} nearest tokens: "
          f"{float(rates.sel(vector='prompt')):.1%} of prompt vectors, "
          f"{float(rates.sel(vector='random')):.1%} of same-norm random vectors")
    if args.csv:
        table = result[["token", "cosine", "is_label_word"]].to_dataframe().reset_index()
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.csv, index=False)
    return 0


def _import_prompt(args) -> int:
    from neurokit.errors import ConfigError
    from neurokit.prompts.checkpoint import check_checkpoint_out
    from neurokit.prompts.interop import import_npy, import_peft
    from neurokit.prompts.metadata import PromptMetadata

    check_checkpoint_out(args.out, args.overwrite)
    backbone = backbone_from_args(args)
    source = Path(args.source)
    if source.suffix == ".npy":
        prompt = import_npy(source, backbone, args.prompt_layout or PromptLayout.PREPEND.value)
    elif args.prompt_layout is not None:
        raise ConfigError("--prompt-layout is for .npy prompts; a PEFT adapter's layout is PEFT's (prepend)")
    else:
        prompt = import_peft(source, backbone)
    prompt.save_pretrained(args.out, PromptMetadata(
        model_id=backbone.model_id, model_source=backbone.source, revision=backbone.revision,
        weights_sha256=backbone.weights_sha256, imported_from=str(source), task=args.task))
    print(f"imported {prompt.length}-position prompt from {source} into {args.out}")
    return 0


def _export_prompt(args) -> int:
    from neurokit.prompts.checkpoint import PromptCheckpoint
    from neurokit.prompts.interop import export_peft

    checkpoint = PromptCheckpoint.from_pretrained(args.prompt)
    backbone = backbone_for_checkpoint(args, checkpoint)
    export_peft(checkpoint.soft_prompt(backbone), backbone, args.out, checkpoint.metadata)
    print(f"wrote PEFT prompt-tuning adapter to {args.out}")
    return 0


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="prompt-tune a frozen backbone on a task")
    add_model_arguments(train)
    train.add_argument("--task", required=True, help="task name (see `neurokit tasks`)")
    train.add_argument("--out", required=True, help="checkpoint folder (prompt.safetensors, prompt.json, metrics)")
    defaults = PromptTuningConfig()
    train.add_argument("--prompt-length", type=int, default=defaults.prompt_length)
    train.add_argument("--init", choices=[i.value for i in PromptInit], default=defaults.init.value)
    train.add_argument("--init-text", default=None, help="text for --init text")
    train.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--max-steps", type=int, default=None, help="optimizer steps; overrides --epochs")
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--gradient-accumulation", type=int, default=defaults.gradient_accumulation)
    train.add_argument("--eval-every", type=int, default=None, help="steps between dev evaluations")
    train.add_argument("--max-length", type=int, default=defaults.max_length, help="max input tokens")
    train.add_argument("--seed", type=int, default=defaults.seed)
    add_layout_argument(train)
    train.add_argument("--bf16", action="store_true", default=None, help="bf16 autocast (default: on CUDA)")
    train.add_argument("--train-size", type=int, default=None, help="examples of train (built-in tasks: size)")
    train.add_argument("--dev-size", type=int, default=None)
    train.add_argument("--data-seed", type=int, default=0, help="seed of the built-in tasks' generator")
    train.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in --out")
    add_progress_argument(train)
    train.set_defaults(handler=_train)

    prompt = subparsers.add_parser("prompt", help="make an untuned prompt, import or export prompts (PEFT, .npy)")
    actions = prompt.add_subparsers(dest="prompt_command", required=True)
    initial = actions.add_parser("init", help="save an untuned prompt (the null of skill-neuron analyses)",
                                 description="Initialise a prompt exactly as `neurokit train` would and save it "
                                             "without training, with its dev accuracy.")
    add_model_arguments(initial)
    initial.add_argument("--task", required=True, help="task name (see `neurokit tasks`)")
    initial.add_argument("--out", required=True, help="checkpoint folder to write")
    initial.add_argument("--prompt-length", type=int, default=defaults.prompt_length)
    initial.add_argument("--init", choices=[i.value for i in PromptInit], default=defaults.init.value)
    initial.add_argument("--init-text", default=None, help="text for --init text")
    initial.add_argument("--seed", type=int, default=defaults.seed)
    add_layout_argument(initial)
    initial.add_argument("--max-length", type=int, default=defaults.max_length, help="max input tokens")
    initial.add_argument("--dev-size", type=int, default=None, help="dev examples to score (0: skip scoring)")
    initial.add_argument("--data-seed", type=int, default=0, help="seed of the built-in tasks' generator")
    initial.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in --out")
    initial.set_defaults(handler=_init_prompt)
    importer = actions.add_parser("import", help="PEFT adapter folder or google-research .npy -> checkpoint")
    add_model_arguments(importer)
    importer.add_argument("source", help="PEFT adapter folder or .npy file")
    importer.add_argument("--task", default=None, help="task the prompt was trained on (recorded)")
    add_layout_argument(importer, "prepend, as google-research's prompt tuning; .npy only")
    importer.add_argument("--out", required=True, help="neurokit checkpoint folder to write")
    importer.add_argument("--overwrite", action="store_true", help="replace a checkpoint already in --out")
    importer.set_defaults(handler=_import_prompt)
    exporter = actions.add_parser("export", help="checkpoint -> PEFT prompt-tuning adapter")
    add_model_arguments(exporter, from_checkpoint=True)
    exporter.description = "Write a PEFT prompt-tuning adapter; --model defaults to the checkpoint's own model."
    exporter.add_argument("--prompt", required=True, help="neurokit checkpoint folder")
    exporter.add_argument("--out", required=True, help="PEFT adapter folder to write")
    exporter.set_defaults(handler=_export_prompt)
    neighbours = actions.add_parser(
        "neighbours", help="nearest vocabulary tokens of each prompt vector (Lester et al.)",
        description="For each trained prompt vector, the nearest input-embedding tokens by cosine, and how often "
                    "the label words are among them, against random vectors of the same norms.")
    add_model_arguments(neighbours, from_checkpoint=True)
    neighbours.add_argument("--prompt", required=True, help="neurokit checkpoint folder")
    neighbours.add_argument("--k", type=int, default=5, help="neighbours per vector (default 5)")
    neighbours.add_argument("--seed", type=int, default=0, help="seed of the random control vectors")
    neighbours.add_argument("--csv", default=None, help="also write the neighbours as a tidy CSV table")
    neighbours.set_defaults(handler=_neighbours)

