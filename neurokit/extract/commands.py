"""Sub-commands of the extraction stage: ``neurokit extract``, ``neurokit check STORE``, ``neurokit info STORE``.

``neurokit extract`` runs a backbone and a prompt checkpoint over a task split into an activation store
(:func:`neurokit.extract.extraction.extract_run`; docs/store-format.md, "Extraction"). Run the same command
again to resume an interrupted extraction. Several processes fill one store with ``--shard i/n``; under
``torchrun`` (``RANK``/``WORLD_SIZE`` set, no ``--shard``) each rank takes its own shard and, without
``--device``, the GPU ``cuda:LOCAL_RANK``.
"""

from __future__ import annotations

import argparse
import json
import os
import re

from neurokit.cli import add_progress_argument
from neurokit.errors import ConfigError, NeurokitError
from neurokit.extract.check import check_store, store_info
from neurokit.storage import add_storage_argument, locate, storage_options_from_args


def _check(args: argparse.Namespace) -> int:
    problems = check_store(args.store, scan_values=not args.quick)
    for problem in problems:
        print(f"{args.store}: {problem}")
    if not problems:
        print(f"{args.store}: OK")
    return 1 if problems else 0


def _info(args: argparse.Namespace) -> int:
    print(store_info(args.store))
    return 0


def parse_shard(text: str | None, environ=os.environ) -> tuple[int, int]:
    """``"i/n"`` → (i, n); without ``--shard``, torchrun's ``RANK``/``WORLD_SIZE``, else (0, 1)."""
    if text is None:
        rank, world = environ.get("RANK"), environ.get("WORLD_SIZE")
        if rank is None or world is None:
            return 0, 1
        text, origin = f"{rank}/{world}", "RANK/WORLD_SIZE"
    else:
        origin = "--shard"
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None or not int(match.group(1)) < int(match.group(2)):
        raise ConfigError(f"{origin} must be i/n with 0 <= i < n (e.g. 0/2), got {text!r}")
    return int(match.group(1)), int(match.group(2))


def parse_layers(text: str) -> list[int | str] | None:
    """``"all"`` → None; ``"0,1,5-7,decoder.layer.0.ffn"`` → indices (ranges inclusive) and site names."""
    if text.strip() == "all":
        return None
    layers: list[int | str] = []
    for item in (part.strip() for part in text.split(",")):
        if re.fullmatch(r"\d+", item):
            layers.append(int(item))
        elif match := re.fullmatch(r"(\d+)-(\d+)", item):
            first, last = int(match.group(1)), int(match.group(2))
            if first > last:
                raise ConfigError(f"--layers range {item!r} is empty")
            layers.extend(range(first, last + 1))
        elif item:
            layers.append(item)  # a site name; ExtractionConfig checks its form
        else:
            raise ConfigError(f"--layers has an empty item: {text!r}")
    return layers


def _extract(args: argparse.Namespace) -> int:
    from neurokit.extract import ExtractionConfig, extract_run
    from neurokit.extract.extraction import check_output_path
    from neurokit.models.backbone import default_device
    from neurokit.models.cli_args import backbone_from_args
    from neurokit.tasks import get_task

    # Everything that needs no model is checked first, so a typo fails in a second, not after loading.
    shard = parse_shard(args.shard)
    config = ExtractionConfig(
        positions=[part.strip() for part in args.positions.split(",")], layers=parse_layers(args.layers),
        stack=args.stack, dtype=None if args.dtype == "auto" else args.dtype, batch_size=args.batch_size,
        block_size=args.block_size, max_length=args.max_length, store_train_activations=args.store_train_activations,
    )
    task = get_task(args.task)
    if args.split not in task.splits:
        raise ConfigError(f"task {task.name!r} has no {args.split!r} split (it has {', '.join(task.splits)})")
    out = check_output_path(locate(args.out, storage_options_from_args(args)))
    from neurokit.prompts.checkpoint import PromptCheckpoint

    checkpoint = PromptCheckpoint.from_pretrained(args.prompt)
    args.device = default_device(args.device)
    recorded_scoring = checkpoint.metadata.scoring
    backbone = None
    if args.scoring is None and recorded_scoring:  # read the classes out as the prompt was trained to be read
        try:
            backbone = backbone_from_args(argparse.Namespace(**{**vars(args), "scoring": recorded_scoring}))
        except NeurokitError:
            pass  # a prompt of another family: the default read-out, and the prompt check below says why
    if backbone is None:
        backbone = backbone_from_args(args)
    path = extract_run(backbone, checkpoint, task, args.split, out, config, shard=shard,
                       overwrite=args.overwrite, size=args.size, data_seed=args.data_seed,
                       progress=not args.no_progress)
    from neurokit.extract.schema import read_store_attrs

    attrs = read_store_attrs(path)
    identity = json.loads(attrs["run_identity"])
    print(json.dumps({"store": str(path), "shard": f"{shard[0]}/{shard[1]}", "complete": bool(attrs["complete"]),
                      "examples": identity["n_examples"], "positions": attrs["positions"],
                      "layers": attrs["layers"], "stored_dtype": attrs["stored_dtype"]}))
    return 0


def _register_extract(subparsers: argparse._SubParsersAction) -> None:
    from neurokit.extract import ExtractionConfig
    from neurokit.models.cli_args import add_model_arguments

    defaults = ExtractionConfig()

    extract = subparsers.add_parser(
        "extract", help="run a backbone and prompt over a task split into an activation store", description=(
            "Run a frozen backbone with a prompt checkpoint over one split of a task and store the FFN neurons "
            "at the chosen positions, with labels, predictions and class scores, in a zarr store "
            "(docs/store-format.md). Rerun the same command to resume an interrupted extraction."
        ),
    )
    add_model_arguments(extract)
    extract.add_argument("--prompt", required=True, help="prompt checkpoint folder (from `neurokit train`)")
    extract.add_argument("--task", required=True, help="task name or spec file (see `neurokit tasks`)")
    extract.add_argument("--split", required=True, help="train, dev or test; train stores per-class statistics")
    extract.add_argument("--out", required=True, help="path or URL of the zarr store to write, e.g. cache/run/dev.zarr "
                                                      "or s3://bucket/run/dev.zarr")
    # PositionSelection members are str (a str Enum), so joining them joins their values.
    extract.add_argument("--positions", default=",".join(defaults.positions), help=(
        "comma-separated: prompt (every prompt position, the mask slot included on MLM backbones; default), "
        "mask (MLM only), input_mean, input_max, last_token"))
    extract.add_argument("--layers", default="all",
                         help="'all' (default), or comma-separated layer indices, ranges a-b and site names")
    extract.add_argument("--stack", default=None,
                         help="encoder or decoder (default: the stack that reads the prompt; T5 decoder: last_token)")
    extract.add_argument("--dtype", default="auto", help=(
        "stored dtype: auto (float32, the reference's precision), float16 (half the size; changes some "
        "predictivities), float32 or bfloat16; T5 is never float16"))
    extract.add_argument("--batch-size", type=int, default=defaults.batch_size,
                         help=f"examples per forward pass (default {defaults.batch_size})")
    extract.add_argument("--block-size", type=int, default=defaults.block_size,
                         help=f"examples per store block, the unit of writing and resuming (default "
                              f"{defaults.block_size})")
    extract.add_argument("--max-length", type=int, default=defaults.max_length,
                         help=f"max input tokens (default {defaults.max_length})")
    extract.add_argument("--size", type=int, default=None, help="number of examples (default: the whole split)")
    extract.add_argument("--data-seed", type=int, default=0, help="seed of the subset / generated examples")
    extract.add_argument("--store-train-activations", action="store_true",
                         help="keep raw activations of the train split too (default: statistics only)")
    extract.add_argument("--shard", default=None,
                         help="i/n: this process writes every n-th block (default: RANK/WORLD_SIZE, else 0/1)")
    extract.add_argument("--overwrite", action="store_true",
                         help="replace an existing store of another run (a store of this run is resumed); on "
                              "object storage also take over shard leases held from other hosts")
    add_storage_argument(extract)
    add_progress_argument(extract)
    extract.set_defaults(handler=_extract)


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_extract(subparsers)
    check = subparsers.add_parser(
        "check", help="validate an activation store", description=(
            "Check an activation store's provenance, schema, completeness and values; "
            "prints one line per problem and exits 1 if there is any."
        ),
    )
    check.add_argument("store", help="path of the zarr store")
    check.add_argument("--quick", action="store_true", help="skip the scan of every value (metadata and files only)")
    check.set_defaults(handler=_check)
    info = subparsers.add_parser("info", help="describe an activation store", description=(
        "Print an activation store's completeness, provenance, dims, variables and layout."
    ))
    info.add_argument("store", help="path of the zarr store")
    info.set_defaults(handler=_info)
