"""``neurokit ablate`` (skill vs random neuron perturbation), ``neurokit transfer`` (prompt transfer matrix) and
``neurokit prune`` (a smaller model that keeps the skill neurons).

``ablate`` and ``transfer`` write a Zarr results store in the format of ``neurokit analyze``
(:func:`neurokit.analysis.save_results`: one group per result, provenance in the root attributes) and a tidy CSV
table beside it; ``prune`` writes a model folder that ``--model`` accepts.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from neurokit.errors import ConfigError, NeurokitError

_ABLATION_METHODS = ("noise", "zero", "mean")  # AblationMethod's values, without importing torch for --help
_SELECTIONS = ("per-layer", "global")
_BIAS_FOLDS = ("removed", "all")  # BiasFold's values


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--split", default="test", help="split to evaluate on (default: test, as Wang et al.)")
    parser.add_argument("--size", type=int, default=None, help="examples of the split (built-in tasks: size)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the split's subset or generator")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128, help="max input tokens")
    parser.add_argument("--bf16", action="store_true", default=None, help="bf16 autocast (default: on CUDA)")


def _add_skill_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--skill", required=True, metavar="RESULTS_OR_MASK",
                        help="results store of `neurokit analyze` (scores or skill masks), or a .npy mask/scores "
                             "array (layers, neurons)")
    parser.add_argument("--skill-group", default=None, metavar="GROUP",
                        help="group of the results store (default: the only one with skill neurons, else "
                             "<task>/skill)")


def _add_selection_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--selection", choices=_SELECTIONS, default=None,
                        help="top fraction per layer or global, for scores (default: the results' own, else "
                             "per-layer)")


def _add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="RESULTS.zarr", help="results store to write")
    parser.add_argument("--table", metavar="CSV", default=None,
                        help="tidy CSV table to write (default: the results path with suffix .csv)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing results store and table")


def register(subparsers: argparse._SubParsersAction) -> None:
    from neurokit.prompts.commands import add_model_arguments

    ablate = subparsers.add_parser(
        "ablate", help="perturb skill neurons vs random neurons at the prompt positions",
        description="Wang et al.'s perturbation experiment: accuracy of a prompted model when its skill neurons "
                    "(top fractions per layer) are perturbed at the prompt positions, against random neurons of "
                    "the same number per layer.")
    add_model_arguments(ablate, from_checkpoint=True)
    ablate.add_argument("--prompt", required=True, metavar="CKPT", help="prompt checkpoint folder")
    ablate.add_argument("--task", required=True, help="task to evaluate on (see `neurokit tasks`)")
    _add_skill_arguments(ablate)
    ablate.add_argument("--fractions", type=float, nargs="+", default=None, metavar="F",
                        help="top fractions to perturb (default: 0 to 0.20 in steps of 0.01 from scores; every "
                             "fraction of stored masks)")
    _add_selection_argument(ablate)
    ablate.add_argument("--method", choices=_ABLATION_METHODS, default="noise",
                        help="add Gaussian noise (default), set to zero, or set to the train mean")
    ablate.add_argument("--noise-std", type=float, default=0.1, help="σ of the noise (default 0.1)")
    ablate.add_argument("--train-store", metavar="STORE", default=None,
                        help="train activation store of this model and prompt (method mean: its train means)")
    ablate.add_argument("--draws", type=int, default=5, help="random neuron sets (and noise draws) per fraction")
    ablate.add_argument("--seed", type=int, default=0, help="seed of the random sets and the noise")
    _add_data_arguments(ablate)
    _add_output_arguments(ablate)
    ablate.set_defaults(handler=_ablate)

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
    prune.add_argument("--fraction", type=float, default=0.02,
                       help="share of neurons kept in each pruned layer (default 0.02, as Wang et al.)")
    prune.add_argument("--layers", default=None, metavar="FIRST-LAST",
                       help="layers to prune, 0-based and inclusive, e.g. 3-11 (default: ⌊L/4⌋ to L−1 of the L "
                            "layers, Wang et al.'s 3-11 of 12)")
    _add_selection_argument(prune)
    prune.add_argument("--fold", choices=_BIAS_FOLDS, default="removed",
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
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def _save(results: dict, out: Path, table, frame, settings: dict) -> None:
    from neurokit.analysis.results import save_results
    from neurokit.provenance import command_line, package_versions, utc_now

    provenance = {"command": command_line(), "created": utc_now(), "versions": json.dumps(package_versions()),
                  "settings": json.dumps(settings)}
    save_results(results, out, overwrite=True, attrs=provenance)
    partial = table.with_name(f".{table.name}.partial")
    frame.to_csv(partial, index=False)
    os.replace(partial, table)


# ----- ablate --------------------------------------------------------------------------------------------------

def _train_means(path: str, backbone, checkpoint):
    """Train means at the prompt positions from a train store of this backbone and prompt."""
    from neurokit.extract import open_run
    from neurokit.interventions.ablation import train_mean

    store = open_run(path)
    if store.attrs.get("weights_sha256") != backbone.weights_sha256:
        raise NeurokitError(f"train store {path} comes from other weights ({str(store.attrs.get('model_id'))!r}) "
                            f"than {backbone.model_id!r}")
    if store.attrs.get("prompt_sha256") != checkpoint.sha256:
        raise NeurokitError(f"train store {path} was extracted with another prompt (sha256 "
                            f"{str(store.attrs.get('prompt_sha256'))[:12]}…) than {checkpoint.path} "
                            f"({checkpoint.sha256[:12]}…)")
    if store.attrs.get("split") != "train":
        raise NeurokitError(f"{path} holds split {store.attrs.get('split')!r}; the means come from the train split")
    return train_mean(store)


def _check_skill_weights(skill, backbone, path) -> None:
    if skill.attrs.get("weights_sha256") not in (None, backbone.weights_sha256):
        raise NeurokitError(f"the skill neurons in {path} come from other weights "
                            f"({str(skill.attrs.get('model_id'))!r}) than {backbone.model_id!r}")


def _ablation_table(result):
    totals = result["n_perturbed"].sum("layer").to_series().rename("n_perturbed")
    frame = result[["accuracy", "accuracy_drop"]].reset_coords(drop=True).to_dataframe().reset_index()
    frame = frame.merge(totals.reset_index(), on="fraction")
    frame.insert(0, "method", result.attrs["method"])
    frame["reference_accuracy"] = float(result["reference_accuracy"])
    return frame


def _ablate(args: argparse.Namespace) -> int:
    from neurokit.interventions.ablation import SkillAblation
    from neurokit.interventions.masks import load_skill
    from neurokit.prompts.checkpoint import load_checkpoint
    from neurokit.prompts.commands import backbone_for_checkpoint
    from neurokit.prompts.data import EncodedSplit
    from neurokit.tasks import get_task, load_split

    out, table = _outputs(args)
    _check_positive(args, "draws", "batch_size", "max_length", "size")
    if (args.method == "mean") != (args.train_store is not None):
        raise ConfigError("--method mean needs --train-store (the train means), and --train-store is only used by it")
    task = get_task(args.task)
    skill = load_skill(args.skill, args.skill_group, task=task.name)
    selection = args.selection or skill.attrs.get("selection") or "per-layer"
    ablation = SkillAblation(method=args.method, noise_std=args.noise_std, fractions=args.fractions,
                             selection=selection, draws=args.draws, seed=args.seed, batch_size=args.batch_size,
                             bf16=args.bf16)
    checkpoint = load_checkpoint(args.prompt)
    dataset = load_split(task, args.split, size=args.size, seed=args.data_seed)
    backbone = backbone_for_checkpoint(args, checkpoint)
    _check_skill_weights(skill, backbone, args.skill)
    prompt = checkpoint.soft_prompt(backbone)
    values = _train_means(args.train_store, backbone, checkpoint) if args.method == "mean" else None
    split = EncodedSplit(backbone, task, dataset, args.max_length)
    ablation.fit(backbone, prompt, backbone.verbalizer(task.label_words), split, values)
    result = ablation.score(skill)
    result.attrs |= {"task": task.name, "split": args.split, "prompt": str(checkpoint.path),
                     "prompt_sha256": checkpoint.sha256, "skill": str(args.skill)}
    settings = {**ablation.settings(), "task": task.name, "split": args.split, "size": args.size,
                "data_seed": args.data_seed, "max_length": args.max_length, "skill": str(args.skill),
                "skill_group": str(skill.name), "train_store": args.train_store}
    _save({f"{task.name}/ablation": result}, out, table, _ablation_table(result), settings)
    print(f"wrote {task.name}/ablation ({args.method}, {result.sizes['fraction']} fractions × {args.draws} draws, "
          f"reference accuracy {float(result['reference_accuracy']):.4f}) to {out} and {table}")
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
    frame = result[["accuracy", "relative"]].to_dataframe().reset_index()
    own = result["own_accuracy"].to_series().rename("own_accuracy").reset_index()
    return frame.merge(own, on="target")[["source", "source_task", "target", "accuracy", "own_accuracy", "relative"]]


def _transfer(args: argparse.Namespace) -> int:
    from neurokit.interventions.transfer import by_source_task, plan_transfer, transfer_matrix
    from neurokit.prompts.checkpoint import load_checkpoint
    from neurokit.prompts.commands import backbone_for_checkpoint
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
    checkpoints = {path: load_checkpoint(path) for path in args.prompts}
    if len(checkpoints) != len(args.prompts):
        raise ConfigError("--prompts repeats a checkpoint")
    plan_transfer(checkpoints, tasks, label_maps)  # refuse what cannot work before the model loads
    targets = [(task, load_split(task, args.split, size=args.size, seed=args.data_seed)) for task in tasks]
    backbone = backbone_for_checkpoint(args, next(iter(checkpoints.values())))
    result = transfer_matrix(backbone, checkpoints, targets, label_maps, args.batch_size, args.max_length, args.bf16)
    result.attrs |= {"split": args.split}
    settings = {"prompts": list(args.prompts), "tasks": list(args.tasks), "split": args.split, "size": args.size,
                "data_seed": args.data_seed, "max_length": args.max_length, "batch_size": args.batch_size,
                "label_maps": list(args.label_map)}
    _save({"transfer/prompts": result, "transfer/source_tasks": by_source_task(result)}, out, table,
          _transfer_table(result), settings)
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
    from neurokit.analysis.results import check_writable
    from neurokit.interventions.masks import load_skill
    from neurokit.interventions.prune import (
        PruneConfig,
        kept_neurons,
        neuron_means,
        parameter_count,
        prune,
        save_pruned,
    )
    from neurokit.prompts.checkpoint import load_checkpoint, save_checkpoint
    from neurokit.prompts.commands import backbone_for_checkpoint
    from neurokit.provenance import command_line, package_versions, utc_now

    out = check_writable(args.out, args.overwrite)
    layers = parse_layer_range(args.layers)
    checkpoint = load_checkpoint(args.prompt)
    skill = load_skill(args.skill, args.skill_group, task=checkpoint.metadata.get("task"))
    selection = args.selection or skill.attrs.get("selection") or "per-layer"
    config = PruneConfig(fraction=args.fraction, layers=layers, selection=selection, fold=args.fold)
    backbone = backbone_for_checkpoint(args, checkpoint)
    _check_skill_weights(skill, backbone, args.skill)
    prompt = checkpoint.soft_prompt(backbone)
    means = neuron_means(_train_means(args.train_store, backbone, checkpoint))
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
    metadata = {**checkpoint.metadata, "model_id": f"{backbone.model_id} pruned to {out.name}",
                "model_source": str(out.resolve()), "weights_sha256": pruned.weights_sha256,
                "pruned_from": {"model_id": backbone.model_id, "weights_sha256": backbone.weights_sha256,
                                "prompt_sha256": checkpoint.sha256}}
    save_pruned(pruned, out, record, overwrite=args.overwrite,
                extra=lambda folder: save_checkpoint(folder / "prompt", prompt, metadata))
    kept_counts = sorted({len(indices) for indices in record["kept_neurons"].values()})
    print(f"kept {'/'.join(map(str, kept_counts))} of {backbone.sites()[0].width} neurons in layers "
          f"{layers[0]}-{layers[-1]} ({fold} means folded); parameters {before:,} -> {after:,}; "
          f"wrote {out} (prompt checkpoint: {out / 'prompt'})")
    return 0
