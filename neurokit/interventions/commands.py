"""``neurokit ablate`` (skill vs random neuron perturbation), ``neurokit ablate-matrix`` (task A's skill neurons
perturbed on task B), ``neurokit transfer`` (prompt transfer matrix) and ``neurokit prune`` (a smaller model that
keeps the skill neurons).

``ablate`` and ``transfer`` write a Zarr results store in the format of ``neurokit analyze``
(:func:`neurokit.analysis.save_results`: one group per result, provenance in the root attributes) and a tidy CSV
table beside it; ``prune`` writes a model folder that ``--model`` accepts.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from neurokit.cli import add_progress_argument
from neurokit.dims import (
    BOUND,
    FRACTION,
    LAYER,
    SELECTION,
    SOURCE,
    SOURCE_TASK,
    TARGET,
    TARGET_TASK,
)
from neurokit.errors import ConfigError, NeurokitError
from neurokit.validation import OPEN_UNIT, integer, real

_ABLATION_METHODS = ("noise", "zero", "mean", "resample")  # AblationMethod's values, without importing torch
_POSITIONS = ("all", "prompt", "input")  # Positions' values, likewise
_RESAMPLINGS = ("examples-and-draws", "examples")  # effects.Resampling's values
_BIAS_FOLDS = ("removed", "all")  # BiasFold's values
_NEEDS_TRAIN_STORE = ("mean", "resample")


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    from neurokit.prompts.config import PromptTuningConfig

    defaults = PromptTuningConfig()  # a prompt is evaluated as its tuning evaluates it
    parser.add_argument("--split", default="test", help="split to evaluate on (default: test, as Wang et al.)")
    parser.add_argument("--size", type=int, default=None, help="examples of the split (built-in tasks: size)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the split's subset or generator")
    parser.add_argument("--batch-size", type=int, default=defaults.eval_batch_size,
                        help=f"examples per forward pass (default {defaults.eval_batch_size})")
    parser.add_argument("--max-length", type=int, default=defaults.max_length,
                        help=f"max input tokens (default {defaults.max_length})")
    parser.add_argument("--bf16", action="store_true", default=None, help="bf16 autocast (default: on CUDA)")


def _add_skill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skill", required=True, metavar="RESULTS_OR_MASK",
                        help="results store of `neurokit analyze` (scores or skill masks), or a .npy mask/scores "
                             "array (layers, neurons)")
    parser.add_argument("--skill-group", default=None, metavar="GROUP",
                        help="group of the results store (default: the only one with skill neurons, else "
                             "<task>/skill)")


def _add_selection_argument(parser: argparse.ArgumentParser) -> None:
    from neurokit.analysis import Selection

    parser.add_argument("--selection", choices=[selection.value for selection in Selection], default=None,
                        help="top fraction per layer or global, for scores (default: the results' own, else "
                             "per-layer)")


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="RESULTS.zarr", help="results store to write")
    parser.add_argument("--table", metavar="CSV", default=None,
                        help="tidy CSV table to write (default: the results path with suffix .csv)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing results store and table")


def _add_ablation_arguments(parser: argparse.ArgumentParser) -> None:
    """The settings of :class:`~neurokit.interventions.SkillAblationExperiment` shared by ``ablate`` and
    ``ablate-matrix``."""
    from neurokit.interventions.ablation import AblationMethod, Positions, SkillAblationExperiment

    defaults = SkillAblationExperiment()
    parser.add_argument("--fractions", type=float, nargs="+", default=None, metavar="F",
                        help="top fractions to perturb (default: 0 to 0.20 in steps of 0.01 from scores; every "
                             "fraction of stored masks)")
    _add_selection_argument(parser)
    parser.add_argument("--method", choices=_ABLATION_METHODS, default=AblationMethod(defaults.method).value,
                        help="add Gaussian noise (default), set to zero, set to the train mean, or resample from "
                             "train examples")
    parser.add_argument("--positions", choices=_POSITIONS, default=Positions(defaults.positions).value,
                        help="positions to perturb: every position (default, as Wang et al.'s code), the prompt "
                             "positions, or the input positions")
    parser.add_argument("--per-position", action="store_true",
                        help="methods mean and resample: one value per prompt position (needs --positions prompt; "
                             "default: the mean over the prompt positions, used at every position)")
    parser.add_argument("--noise-std", type=float, default=defaults.noise_std,
                        help=f"σ of the noise (default {defaults.noise_std:g})")
    parser.add_argument("--draws", type=int, default=defaults.draws,
                        help=f"random neuron sets (and noise or donor draws) per fraction (default {defaults.draws})")
    parser.add_argument("--seed", type=int, default=defaults.seed,
                        help="seed of the random sets, the noise, the donors and the resamplings of the statistics")
    add_progress_argument(parser)


def register(subparsers: argparse._SubParsersAction) -> None:
    from neurokit.analysis.resampling import DEFAULT_CONFIDENCE
    from neurokit.analysis.scheduler import add_scheduler_arguments
    from neurokit.interventions.effects import (
        DEFAULT_N_BOOT,
        DEFAULT_N_PERMUTATIONS,
        DEFAULT_RESAMPLING,
    )
    from neurokit.interventions.prune import BiasFold, PruneConfig
    from neurokit.models.cli_args import add_model_arguments

    ablate = subparsers.add_parser(
        "ablate", help="perturb skill neurons vs random neurons",
        description="Wang et al.'s perturbation experiment: accuracy of a prompted model when its skill neurons "
                    "(top fractions per layer) are perturbed (at every position by default, as their code does), "
                    "against random neurons of the same number per layer.")
    add_model_arguments(ablate, from_checkpoint=True)
    ablate.add_argument("--prompt", required=True, metavar="CKPT", help="prompt checkpoint folder")
    ablate.add_argument("--task", required=True, help="task to evaluate on (see `neurokit tasks`)")
    _add_skill_arguments(ablate)
    _add_ablation_arguments(ablate)
    ablate.add_argument("--train-store", metavar="STORE", default=None,
                        help="train activation store of this model and prompt (method mean: its train means; "
                             "resample: its raw activations as donors)")
    ablate.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT,
                        help=f"bootstrap resamples (examples and draws) of the effect's interval (default "
                             f"{DEFAULT_N_BOOT})")
    ablate.add_argument("--n-permutations", type=int, default=DEFAULT_N_PERMUTATIONS,
                        help=f"random sign flips of the effect's one-sided test (default {DEFAULT_N_PERMUTATIONS})")
    ablate.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE,
                        help=f"level of the intervals (default {DEFAULT_CONFIDENCE:g})")
    ablate.add_argument("--resampling", choices=_RESAMPLINGS, default=DEFAULT_RESAMPLING.value,
                        help="what the bootstrap resamples: examples and draws (default, conservative) or examples "
                             "only (conditional on the drawn sets)")
    add_scheduler_arguments(ablate)  # where --train-store's means (a reduction over the store) are computed
    _add_data_arguments(ablate)
    _add_output_arguments(ablate)
    ablate.set_defaults(handler=_ablate)

    matrix = subparsers.add_parser(
        "ablate-matrix", help="perturb each task's skill neurons on every task: a task × task matrix",
        description="Wang et al.'s cross-task perturbation: for every target task (with its own prompt) and every "
                    "source task, the accuracy drop when the source's skill neurons (and size-matched random "
                    "neurons) are perturbed, with same-type and other-type summaries.")
    add_model_arguments(matrix, from_checkpoint=True)
    matrix.add_argument("--tasks", nargs="+", required=True, metavar="TASK",
                        help="the tasks: sources of skill neurons and targets to evaluate on")
    matrix.add_argument("--prompts", nargs="+", required=True, metavar="CKPT",
                        help="one prompt checkpoint per task, in the order of --tasks")
    matrix.add_argument("--skill", required=True, metavar="RESULTS",
                        help="results store of `neurokit analyze` with a group <task>/skill for every task")
    _add_ablation_arguments(matrix)
    matrix.add_argument("--train-stores", nargs="+", default=None, metavar="STORE",
                        help="methods mean and resample: one train store per task's prompt, in the order of --tasks")
    _add_data_arguments(matrix)
    _add_output_arguments(matrix)
    matrix.set_defaults(handler=_ablate_matrix)

    transfer = subparsers.add_parser(
        "transfer", help="evaluate prompts on other tasks: accuracy and relative transfer matrix",
        description="Prompt transfer (Su et al.; Ackermann & Ohmer): every prompt on every task, and its accuracy "
                    "relative to the task's own prompts.")
    add_model_arguments(transfer, from_checkpoint=True)
    transfer.add_argument("--prompts", nargs="+", required=True, metavar="CKPT", help="prompt checkpoint folders")
    transfer.add_argument("--tasks", nargs="+", required=True, metavar="TASK", help="target tasks")
    transfer.add_argument("--label-map", action="append", default=[], metavar="SOURCE:TARGET:A=X,B=Y",
                          help="map the classes of source task SOURCE to those of TARGET (needed when the class "
                               "counts differ; repeatable)")
    _add_data_arguments(transfer)
    _add_output_arguments(transfer)
    add_progress_argument(transfer)
    transfer.set_defaults(handler=_transfer)

    prune = subparsers.add_parser(
        "prune", help="keep only the skill neurons of a layer range: a smaller model folder",
        description="Wang et al.'s pruning: in each layer of a range keep the top fraction of neurons by skill "
                    "score, fold the removed neurons' train-mean contribution into the FFN output bias, and write "
                    "a model folder with smaller FFN matrices that --model accepts, with the prompt beside it "
                    "(OUT/prompt). BERT, RoBERTa and GPT-2 backbones.")
    add_model_arguments(prune, from_checkpoint=True)
    prune.add_argument("--prompt", required=True, metavar="CKPT",
                       help="prompt checkpoint the skill neurons and train store belong to")
    _add_skill_arguments(prune)
    prune.add_argument("--train-store", required=True, metavar="STORE",
                       help="train activation store of this model and prompt: the removed neurons' means")
    prune_defaults = PruneConfig()
    prune.add_argument("--fraction", type=float, default=prune_defaults.fraction,
                       help=f"share of neurons kept in each pruned layer (default {prune_defaults.fraction:g}, as "
                            "Wang et al.)")
    prune.add_argument("--layers", default=None, metavar="FIRST-LAST",
                       help="layers to prune, 0-based and inclusive, e.g. 3-11 (default: ⌊L/4⌋ to L−1 of the L "
                            "layers, Wang et al.'s 3-11 of 12)")
    _add_selection_argument(prune)
    prune.add_argument("--fold", choices=_BIAS_FOLDS, default=BiasFold(prune_defaults.fold).value,
                       help="fold the removed neurons' means into the bias (default, exact), or all neurons' as "
                            "the released code does (counts the kept neurons twice)")
    prune.add_argument("--out", required=True, metavar="FOLDER", help="model folder to write")
    prune.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    prune.set_defaults(handler=_prune)


# ----- shared helpers ------------------------------------------------------------------------------------------

def _outputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """The results store and CSV paths, refused up front if they exist (unless --overwrite)."""
    from neurokit.analysis.results import check_writable

    out = check_writable(args.out, args.overwrite)
    table = Path(args.table) if args.table else out.with_suffix(".csv")
    if table == out:
        raise ConfigError(f"--table {table} would overwrite the results store")
    check_writable(table, args.overwrite)
    return out, table


def _check_positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None:  # a flag left out
            integer(value, f"--{name.replace('_', '-')}")


def _save(results: dict, out: Path, table, frame, settings: dict) -> None:
    from neurokit.analysis.results import save_results
    from neurokit.provenance import command_line, package_versions, utc_now

    provenance = {"command": command_line(), "created": utc_now(), "versions": json.dumps(package_versions()),
                  "settings": json.dumps(settings)}
    # The table is written first under a temporary name, so that a full disk leaves neither file behind.
    partial = table.with_name(f".{table.name}.partial")
    try:
        frame.to_csv(partial, index=False)
        save_results(results, out, overwrite=True, attrs=provenance)
        os.replace(partial, table)
    except OSError as error:
        raise NeurokitError(f"cannot write {table}: {error.strerror or error}") from None
    finally:
        partial.unlink(missing_ok=True)


# ----- ablate --------------------------------------------------------------------------------------------------

def _check_ablation_arguments(args: argparse.Namespace, option: str) -> None:
    """Refuse combinations of the shared ablation settings that cannot work, before any model loads;
    ``option``: the train store option of the command (``--train-store`` or ``--train-stores``)."""
    _check_positive(args, "draws", "batch_size", "max_length", "size")
    given = getattr(args, option.lstrip("-").replace("-", "_")) is not None
    if args.method in _NEEDS_TRAIN_STORE and not given:
        raise ConfigError(f"--method {args.method} needs {option} (the train means or donors)")
    if given and args.method not in _NEEDS_TRAIN_STORE:
        raise ConfigError(f"{option} is only used by methods mean and resample, not {args.method}")
    if args.per_position and (args.method not in _NEEDS_TRAIN_STORE or args.positions != "prompt"):
        raise ConfigError("--per-position needs --method mean or resample and --positions prompt (no other "
                          "position has a value of its own)")


def _skill_ablation(args: argparse.Namespace, selection: str):
    from neurokit.interventions.ablation import SkillAblationExperiment

    return SkillAblationExperiment(method=args.method, positions=args.positions, noise_std=args.noise_std,
                         fractions=args.fractions, selection=selection, draws=args.draws, seed=args.seed,
                         batch_size=args.batch_size, bf16=args.bf16, progress=not args.no_progress)


def _train_values(path: str | None, method: str, per_position: bool, backbone, checkpoint):
    """What methods mean and resample need from a train store of this backbone and prompt: the train mean
    (:func:`~neurokit.interventions.train_mean`) or the donor pool
    (:func:`~neurokit.interventions.train_activations`); ``None`` for the other methods."""
    from neurokit.extract import open_run
    from neurokit.interventions.ablation import (
        check_train_store,
        train_activations,
        train_mean,
    )

    if method not in _NEEDS_TRAIN_STORE:
        return None
    if path is None:  # _check_ablation_arguments refuses this before any model loads; this keeps the type exact
        raise ConfigError(f"--method {method} needs a train store (the train means or donors)")
    store = open_run(path)
    check_train_store(store, backbone, checkpoint, f"train store {path}")
    return (train_mean if method == "mean" else train_activations)(store, per_position=per_position)


def _ablation_table(result):
    """One row per (selection, fraction, draw); the statistics of :func:`ablation_effects` repeated on the rows
    of their selection and fraction."""
    totals = result["n_perturbed"].sum(LAYER).to_series().rename("n_perturbed")
    frame = result[["accuracy", "accuracy_drop"]].reset_coords(drop=True).to_dataframe().reset_index()
    frame = _with_settings(frame.merge(totals.reset_index(), on=FRACTION), result)
    frame["reference_accuracy"] = float(result["reference_accuracy"])
    accuracy_interval = result["accuracy_interval"].to_series().unstack(BOUND).add_prefix("accuracy_")
    effect = result[["effect", "p_value"]].to_dataframe().join(
        result["effect_interval"].to_series().unstack(BOUND).add_prefix("effect_"))
    frame = frame.merge(accuracy_interval.reset_index(), on=[SELECTION, FRACTION])
    return frame.merge(effect[["effect", "effect_lower", "effect_upper", "p_value"]].reset_index(), on=FRACTION)


def _with_settings(frame, result):
    """The table with the method and the perturbed positions as its first columns."""
    frame.insert(0, "method", result.attrs["method"])
    frame.insert(1, "positions", result.attrs["positions"])
    return frame


def _ablate(args: argparse.Namespace) -> int:
    from neurokit.analysis import Selection
    from neurokit.analysis.groups import ABLATION, group_path
    from neurokit.analysis.scheduler import scheduler_choice, use_scheduler
    from neurokit.interventions.effects import with_effects
    from neurokit.interventions.masks import check_skill_weights, load_skill
    from neurokit.models.cli_args import backbone_for_checkpoint
    from neurokit.prompts.checkpoint import PromptCheckpoint
    from neurokit.prompts.data import EncodedSplit
    from neurokit.tasks import get_task, load_split

    out, table = _outputs(args)
    _check_ablation_arguments(args, "--train-store")
    _check_positive(args, "n_boot", "n_permutations")
    real(args.confidence, "--confidence", OPEN_UNIT)
    scheduler = scheduler_choice(args)
    task = get_task(args.task)
    skill = load_skill(args.skill, args.skill_group, task=task.name)
    ablation = _skill_ablation(args, args.selection or skill.attrs.get("selection") or Selection.PER_LAYER.value)
    checkpoint = PromptCheckpoint.from_pretrained(args.prompt)
    dataset = load_split(task, args.split, size=args.size, seed=args.data_seed)
    backbone = backbone_for_checkpoint(args, checkpoint)
    check_skill_weights(skill, backbone, args.skill)
    prompt = checkpoint.soft_prompt(backbone)
    with use_scheduler(scheduler):  # the train means are a reduction over the store
        values = _train_values(args.train_store, args.method, args.per_position, backbone, checkpoint)
    split = EncodedSplit(backbone, task, dataset, args.max_length)
    ablation.prepare(backbone, prompt, backbone.verbalizer(task.label_words), split, values)
    result = ablation.run(skill)
    result = with_effects(result, n_boot=args.n_boot, confidence=args.confidence,
                          n_permutations=args.n_permutations, seed=args.seed, resampling=args.resampling)
    result.attrs |= {"task": task.name, "split": args.split, "prompt": str(checkpoint.path),
                     "prompt_sha256": checkpoint.sha256, "skill": str(args.skill)}
    settings = {**ablation.settings(), "task": task.name, "split": args.split, "size": args.size,
                "data_seed": args.data_seed, "max_length": args.max_length, "skill": str(args.skill),
                "skill_group": str(skill.name), "train_store": args.train_store, "per_position": args.per_position,
                "n_boot": args.n_boot, "n_permutations": args.n_permutations, "confidence": args.confidence,
                "resampling": args.resampling}
    group = group_path(task.name, ABLATION)
    _save({group: result}, out, table, _ablation_table(result), settings)
    largest = result.isel({FRACTION: int(result[FRACTION].argmax(FRACTION))})
    interval = largest["effect_interval"].values
    print(f"wrote {group} ({args.method} at {args.positions} positions, {result.sizes[FRACTION]} "
          f"fractions × {args.draws} draws, reference accuracy {float(result['reference_accuracy']):.4f}; at fraction "
          f"{float(largest[FRACTION]):g} skill − random drop {float(largest['effect']):+.4f} "
          f"[{interval[0]:+.4f}, {interval[1]:+.4f}], one-sided p = {float(largest['p_value']):.3g}) to {out} and "
          f"{table}")
    return 0


# ----- ablate-matrix -------------------------------------------------------------------------------------------

def _matrix_table(result):
    frame = result[["accuracy", "accuracy_drop"]].reset_coords(drop=True).to_dataframe().reset_index()
    references = result["reference_accuracy"].to_series().rename("reference_accuracy").reset_index()
    return _with_settings(frame.merge(references, on=TARGET_TASK), result)


def _ablate_matrix(args: argparse.Namespace) -> int:
    from neurokit.analysis import Selection
    from neurokit.analysis.groups import ABLATION, CROSS_TASK, SKILL, group_path
    from neurokit.interventions.cross_task import CrossTaskTarget, cross_task_ablation
    from neurokit.interventions.masks import check_skill_weights, load_skill
    from neurokit.models.cli_args import backbone_for_checkpoint
    from neurokit.prompts.checkpoint import PromptCheckpoint
    from neurokit.prompts.data import EncodedSplit
    from neurokit.tasks import get_task, load_split

    out, table = _outputs(args)
    _check_ablation_arguments(args, "--train-stores")
    if len(set(args.tasks)) != len(args.tasks):
        raise ConfigError(f"--tasks repeats a task: {' '.join(args.tasks)}")
    for name, given in (("--prompts", args.prompts), ("--train-stores", args.train_stores)):
        if given is not None and len(given) != len(args.tasks):
            raise ConfigError(f"{name} needs one entry per task of --tasks ({len(args.tasks)}), got {len(given)}")
    tasks = [get_task(name) for name in args.tasks]
    skills = {task.name: load_skill(args.skill, group_path(task.name, SKILL)) for task in tasks}
    own = {str(skill.attrs["selection"]) for skill in skills.values() if skill.attrs.get("selection")}
    if args.selection is None and len(own) > 1:
        raise ConfigError(f"the tasks' skill results use different selections ({', '.join(sorted(own))}); choose "
                          "one with --selection")
    ablation = _skill_ablation(args, args.selection or next(iter(own), Selection.PER_LAYER.value))
    checkpoints = [PromptCheckpoint.from_pretrained(path) for path in args.prompts]
    for task, checkpoint in zip(tasks, checkpoints, strict=True):
        recorded = checkpoint.metadata.task
        if recorded and recorded != task.name:
            raise NeurokitError(f"prompt {checkpoint.path} was tuned on {recorded}, not on {task.name}")
    datasets = [load_split(task, args.split, size=args.size, seed=args.data_seed) for task in tasks]
    backbone = backbone_for_checkpoint(args, checkpoints[0])
    for name, skill in skills.items():
        check_skill_weights(skill, backbone, f"{args.skill} ({group_path(name, SKILL)})")
    stores = args.train_stores or [None] * len(tasks)
    values = {task.name: _train_values(store, args.method, args.per_position, backbone, checkpoint)
              for task, store, checkpoint in zip(tasks, stores, checkpoints, strict=True)}
    targets = [CrossTaskTarget(task, checkpoint.soft_prompt(backbone),
                               EncodedSplit(backbone, task, dataset, args.max_length))
               for task, checkpoint, dataset in zip(tasks, checkpoints, datasets, strict=True)]
    result = cross_task_ablation(ablation, backbone, skills, targets, values)
    result.attrs |= {"split": args.split, "prompts": json.dumps([str(c.path) for c in checkpoints]),
                     "prompt_sha256": json.dumps([c.sha256 for c in checkpoints]), "skill": str(args.skill)}
    settings = {**ablation.settings(), "tasks": list(args.tasks), "prompts": list(args.prompts),
                "split": args.split, "size": args.size, "data_seed": args.data_seed, "max_length": args.max_length,
                "skill": str(args.skill), "train_stores": args.train_stores, "per_position": args.per_position}
    group = group_path(CROSS_TASK, ABLATION)
    _save({group: result}, out, table, _matrix_table(result), settings)
    print(f"wrote {group} ({args.method} at {args.positions} positions, {len(tasks)} × {len(tasks)} "
          f"tasks, {result.sizes[FRACTION]} fractions × {args.draws} draws) to {out} and {table}")
    return 0


# ----- transfer ------------------------------------------------------------------------------------------------

def parse_label_map(text: str) -> tuple[tuple[str, str], dict[str, str]]:
    """``SOURCE:TARGET:A=X,B=Y`` -> ((SOURCE, TARGET), {A: X, B: Y})."""
    parts = text.split(":")
    if len(parts) != 3 or not all(part.strip() for part in parts):
        raise ConfigError(f"--label-map {text!r} is not SOURCE:TARGET:A=X,B=Y")
    source, target, pairs = (part.strip() for part in parts)
    mapping = {}
    for pair in pairs.split(","):
        label, equals, mapped = pair.partition("=")
        if not equals or not label.strip() or not mapped.strip():
            raise ConfigError(f"--label-map {text!r}: {pair!r} is not SOURCE_CLASS=TARGET_CLASS")
        if label.strip() in mapping:
            raise ConfigError(f"--label-map {text!r} maps {label.strip()!r} twice")
        mapping[label.strip()] = mapped.strip()
    return (source, target), mapping


def _transfer_table(result):
    frame = result[["accuracy", "relative", "n_correct", "p_value", "p_adjusted"]].to_dataframe().reset_index()
    per_target = result[["own_accuracy", "n_examples", "chance"]].to_dataframe().reset_index()
    return frame.merge(per_target, on=TARGET)[[SOURCE, SOURCE_TASK, TARGET, "accuracy", "own_accuracy", "relative",
                                               "n_correct", "n_examples", "chance", "p_value", "p_adjusted"]]


def _transfer(args: argparse.Namespace) -> int:
    from neurokit.analysis.groups import PROMPTS, SOURCE_TASKS, TRANSFER, group_path
    from neurokit.interventions.transfer import (
        by_source_task,
        plan_transfer,
        transfer_matrix,
    )
    from neurokit.models.cli_args import backbone_for_checkpoint
    from neurokit.prompts.checkpoint import PromptCheckpoint
    from neurokit.tasks import get_task, load_split

    out, table = _outputs(args)
    _check_positive(args, "batch_size", "max_length", "size")
    label_maps = {}
    for text in args.label_map:
        key, mapping = parse_label_map(text)
        if key in label_maps:
            raise ConfigError(f"--label-map {key[0]}:{key[1]} is given twice")
        label_maps[key] = mapping
    tasks = [get_task(name) for name in args.tasks]
    checkpoints = {path: PromptCheckpoint.from_pretrained(path) for path in args.prompts}
    if len(checkpoints) != len(args.prompts):
        raise ConfigError("--prompts repeats a checkpoint")
    plan_transfer(checkpoints, tasks, label_maps)  # refuse what cannot work before the model loads
    targets = [(task, load_split(task, args.split, size=args.size, seed=args.data_seed)) for task in tasks]
    backbone = backbone_for_checkpoint(args, next(iter(checkpoints.values())))
    result = transfer_matrix(backbone, checkpoints, targets, label_maps, args.batch_size, args.max_length, args.bf16,
                             progress=not args.no_progress)
    result.attrs |= {"split": args.split}
    settings = {"prompts": list(args.prompts), "tasks": list(args.tasks), "split": args.split, "size": args.size,
                "data_seed": args.data_seed, "max_length": args.max_length, "batch_size": args.batch_size,
                "label_maps": list(args.label_map)}
    _save({group_path(TRANSFER, PROMPTS): result, group_path(TRANSFER, SOURCE_TASKS): by_source_task(result)}, out,
          table, _transfer_table(result), settings)
    print(f"wrote transfer of {len(checkpoints)} prompts onto {len(tasks)} tasks to {out} and {table}")
    return 0


# ----- prune ---------------------------------------------------------------------------------------------------

def parse_layer_range(text: str | None) -> tuple[int, ...] | None:
    """``"3-11"`` -> (3, …, 11); ``"5"`` -> (5,); None stays None (the default range)."""
    if text is None:
        return None
    first, dash, last = text.partition("-")
    try:
        start, stop = int(first), int(last if dash else first)
    except ValueError:
        raise ConfigError(f"--layers {text!r} is not FIRST-LAST, e.g. 3-11") from None
    if start < 0 or stop < start:
        raise ConfigError(f"--layers {text!r} must be FIRST-LAST with 0 <= FIRST <= LAST")
    return tuple(range(start, stop + 1))


def _prune(args: argparse.Namespace) -> int:
    from neurokit.analysis import Selection
    from neurokit.analysis.results import check_writable
    from neurokit.interventions.masks import check_skill_weights, load_skill
    from neurokit.interventions.prune import (
        PruneConfig,
        kept_neurons,
        neuron_means,
        parameter_count,
        prune,
        save_pruned,
    )
    from neurokit.models.cli_args import backbone_for_checkpoint
    from neurokit.prompts.checkpoint import PromptCheckpoint
    from neurokit.provenance import command_line, package_versions, utc_now

    out = check_writable(args.out, args.overwrite)
    layers = parse_layer_range(args.layers)
    checkpoint = PromptCheckpoint.from_pretrained(args.prompt)
    skill = load_skill(args.skill, args.skill_group, task=checkpoint.metadata.task)
    selection = args.selection or skill.attrs.get("selection") or Selection.PER_LAYER.value
    config = PruneConfig(fraction=args.fraction, layers=layers, selection=selection, fold=args.fold)
    backbone = backbone_for_checkpoint(args, checkpoint)
    check_skill_weights(skill, backbone, args.skill)
    prompt = checkpoint.soft_prompt(backbone)
    means = neuron_means(_train_values(args.train_store, "mean", False, backbone, checkpoint))
    kept = kept_neurons(backbone, skill, config)
    pruned = prune(backbone, kept, means, config.fold)
    before, after = parameter_count(backbone), parameter_count(pruned)
    layers = config.layers_of(backbone)
    fold = config.settings()["fold"]
    record = {
        "method": "Wang et al. 2022 §6: keep the top fraction of skill neurons per layer, fold the train means of "
                  f"{'the removed' if fold == 'removed' else 'all'} neurons into the FFN output bias",
        "settings": {**config.settings(), "layers": list(layers)},
        "source_model": backbone.model_id, "source_model_folder": args.model,
        "source_weights_sha256": backbone.weights_sha256, "weights_sha256": pruned.weights_sha256,
        "prompt": str(checkpoint.path), "prompt_sha256": checkpoint.sha256, "skill": str(args.skill),
        "skill_group": str(skill.name), "train_store": args.train_store,
        "means": "train mean per neuron: the per-position train means averaged over the prompt positions",
        "kept_neurons": {site.name: [int(n) for n in kept.sel(layer=site.layer).values.nonzero()[0]]
                         for site in backbone.sites() if site.layer in layers},
        "parameters": {"before": before, "after": after},
        "command": command_line(), "created": utc_now(), "versions": package_versions(),
    }
    metadata = checkpoint.metadata.replace(
        model_id=f"{backbone.model_id} pruned to {out.name}", model_source=str(out.resolve()),
        weights_sha256=pruned.weights_sha256,
        pruned_from={"model_id": backbone.model_id, "weights_sha256": backbone.weights_sha256,
                     "prompt_sha256": checkpoint.sha256})
    save_pruned(pruned, out, record, overwrite=args.overwrite,
                extra=lambda folder: prompt.save_pretrained(folder / "prompt", metadata))
    kept_counts = sorted({len(indices) for indices in record["kept_neurons"].values()})
    print(f"kept {'/'.join(map(str, kept_counts))} of {backbone.sites()[0].width} neurons in layers "
          f"{layers[0]}-{layers[-1]} ({fold} means folded); parameters {before:,} -> {after:,}; "
          f"wrote {out} (prompt checkpoint: {out / 'prompt'})")
    return 0
