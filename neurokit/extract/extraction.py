"""The extraction driver: run a frozen backbone and a soft prompt over a task split into an activation store.

:func:`extract_run` is the whole stage; ``neurokit extract`` (:mod:`neurokit.extract.commands`) is its CLI.
Per batch there is exactly one forward pass (``Backbone.class_scores`` under
:func:`~neurokit.models.capture_activations`): its class scores become ``logits``/``prediction``, and the
hooks' transform selects the stored positions and casts them to the stored dtype **on the device**, so only
the stored values cross to the host. Examples go through in the writer's blocks, a block at a time, so host
memory stays bounded whatever the split's size; compression and IO run on the writer's thread. On CUDA the
device→host copies go into pinned buffers on a side stream, and a block is handed to the writer only after
the next block's forward passes have been queued, so copies overlap compute.

Everything that can be checked is checked before a store is created (one-line
:class:`~neurokit.errors.NeurokitError` each); an error while filling a store this run created removes it
again, while a store being resumed is never deleted (it stays resumable). See docs/store-format.md,
"Extraction".

The stage's seams are modules of their own: ``_plan`` (the config and the checks, into a :class:`Plan`),
``_positions`` (the capture transform that selects the stored positions), ``_staging`` (host buffers) and this
module (the run: resuming, the forward loop, cleaning up after an error).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import overload

import torch

from neurokit.errors import ConfigError, NeurokitError, StoreError
from neurokit.extract._plan import ExtractionConfig, Plan, plan_extraction
from neurokit.extract._positions import PositionSelector
from neurokit.extract._staging import StagedBlock, Staging
from neurokit.extract.backends import store_backend
from neurokit.extract.schema import read_store_attrs
from neurokit.extract.spec import StoreSpec
from neurokit.extract.writer import ActivationStoreWriter, run_mismatch
from neurokit.models import Backbone
from neurokit.storage import Location, locate


def check_output_path(out: str | os.PathLike | Location) -> Path | Location:
    """``out`` as an absolute path, if a store can be created there (its nearest existing ancestor is a
    writable directory) or it is an existing directory; else one-line StoreError. A URL (or a Location, which
    carries its storage options) comes back as a Location: the writer's object-store backend keeps the resume
    and multi-writer guarantees there (docs/store-format.md, "Writing")."""
    location = locate(out)
    if location.local is None:
        return location
    path = Path(os.path.abspath(location.local))
    if path.exists():
        if not path.is_dir():
            raise StoreError(f"cannot write a store at {path}: it exists and is not a directory")
        if not os.access(path, os.W_OK):
            raise StoreError(f"cannot write a store at {path}: permission denied")
        return path
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise StoreError(f"cannot write a store at {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise StoreError(f"cannot write a store at {path}: {ancestor} is not writable")
    return path


def _fill(writer: ActivationStoreWriter, plan: Plan, backbone: Backbone, config: ExtractionConfig,
          bar) -> None:
    """Forward every pending block of the writer's shard and hand it to the writer, in ascending order."""
    from neurokit.models import capture_activations

    spec = plan.spec
    selector = PositionSelector(spec.position_roles, plan.prompt_roles, plan.reads_prompt, plan.torch_dtype,
                                 plan.layout)
    staging = Staging(backbone.device, spec.block_size, spec.activation_shape[1:], len(spec.class_names),
                       plan.torch_dtype)
    batch_size = min(config.batch_size, spec.block_size)
    started = time.perf_counter()
    written_bytes = 0

    def hand_over(staged: StagedBlock) -> None:
        nonlocal written_bytes
        staged.wait()
        rows = spec.block_slice(staged.index)
        logits = staged.logits.numpy()
        writer.write_block(staged.index, staged.activation, label=plan.labels[rows],
                           prediction=logits.argmax(axis=1), logits=logits, input_length=staged.lengths.numpy())
        written_bytes += staged.activation.numel() * staged.activation.element_size()
        bar.update(rows.stop - rows.start)
        elapsed = max(time.perf_counter() - started, 1e-9)
        bar.set_postfix_str(f"{written_bytes / elapsed / 1e6:.1f} MB/s", refresh=False)

    waiting: StagedBlock | None = None
    with torch.inference_mode(), capture_activations(backbone.model, plan.sites, transform=selector) as captured:
        for block in writer.pending_blocks():
            rows = spec.block_slice(block)
            staging.begin(block, rows.stop - rows.start)
            for start in range(rows.start, rows.stop, batch_size):
                stop = min(start + batch_size, rows.stop)
                encoded = backbone.tokenize(plan.texts[start:stop], config.max_length)
                mask = encoded["attention_mask"]
                selector.set_batch(mask)
                captured.clear()  # a site whose hook did not fire must fail loudly, not reuse the last batch
                scores = backbone.class_scores(plan.prompt, encoded["input_ids"], mask, plan.verbalizer, plan.layout)
                activation = torch.stack([captured[site.name] for site in plan.sites], dim=1)
                staging.add(start - rows.start, activation, scores.float(), mask.sum(dim=1))
            staged = staging.end()
            if waiting is not None:
                hand_over(waiting)
                waiting = None
            if staging.defers_writing:
                waiting = staged
            else:
                hand_over(staged)
        if waiting is not None:
            hand_over(waiting)


def _check_shard(shard) -> tuple[int, int]:
    try:
        index, count = (int(part) for part in shard)
    except (TypeError, ValueError):
        raise ConfigError(f"shard must be (index, count), got {shard!r}") from None
    if not 0 <= index < count:
        raise ConfigError(f"shard must be (index, count) with 0 <= index < count, got ({index}, {count})")
    return index, count


def _resumes(path: Path | Location, spec: StoreSpec, overwrite: bool) -> bool:
    """Whether ``path`` holds this very run (resumed); a store of another run is refused unless ``overwrite``."""
    if not store_backend(path).exists():
        return False
    try:
        attrs = read_store_attrs(path)
    except StoreError as error:
        raise StoreError(f"{error}; not touching it: remove it or choose another --out") from None
    mismatch = run_mismatch(attrs, spec)
    if mismatch is None:
        return True
    if not overwrite:
        raise StoreError(f"{path} holds another run ({mismatch}); pass --overwrite (overwrite=True) to replace it")
    return False


def _make_parents(path: Path) -> list[Path]:
    """Create the missing parent folders of ``path``; returns those created, deepest first."""
    missing = []
    folder = path.parent
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _discard_new_store(path: Path | Location, shard: tuple[int, int]) -> bool:
    """Remove the incomplete store this run created, unless another writer has a share in it; returns
    whether it is gone. Under the lock on the parent folder (local disk), so no writer registers meanwhile."""
    backend = store_backend(path)
    try:
        with backend.creation_lock():
            if not backend.exists():
                return True
            if read_store_attrs(path).get("complete"):
                return False
            if backend.live_writers() or any(other != shard for other in backend.load_snapshots()):
                return False
            backend.remove()
            return True
    except (OSError, NeurokitError):
        return False


@overload
def extract_run(backbone: Backbone, checkpoint, task, split: str, out: os.PathLike,
                config: ExtractionConfig | None = None, *, shard: tuple[int, int] = (0, 1), overwrite: bool = False,
                size: int | None = None, data_seed: int = 0, progress: bool = True,
                command: str | None = None) -> Path: ...
@overload
def extract_run(backbone: Backbone, checkpoint, task, split: str, out: str | Location,
                config: ExtractionConfig | None = None, *, shard: tuple[int, int] = (0, 1), overwrite: bool = False,
                size: int | None = None, data_seed: int = 0, progress: bool = True,
                command: str | None = None) -> Path | Location: ...
def extract_run(
    backbone: Backbone,
    checkpoint,
    task,
    split: str,
    out: str | os.PathLike | Location,
    config: ExtractionConfig | None = None,
    *,
    shard: tuple[int, int] = (0, 1),
    overwrite: bool = False,
    size: int | None = None,
    data_seed: int = 0,
    progress: bool = True,
    command: str | None = None,
) -> Path | Location:
    """Run ``backbone`` with the prompt of ``checkpoint`` over ``split`` of ``task`` into the store ``out``.

    Args:
        backbone: a loaded :class:`~neurokit.models.Backbone` (its device is where the forward passes run).
        checkpoint: a :class:`~neurokit.prompts.PromptCheckpoint` or its folder; refused if it was made for
            another model (embedding width, recorded weights hash or model id, mask slot).
        task: a :class:`~neurokit.tasks.TaskSpec` or a registered task name (or spec-file path).
        split: ``train``, ``dev`` or ``test``. A ``train`` store holds per-class statistics (and raw
            activations only with ``config.store_train_activations``).
        out: the store's path (missing parent folders are created), or a URL on an object store (give a
            :class:`~neurokit.storage.Location` from :func:`~neurokit.storage.locate` to pass storage options).
        config: what to extract (:class:`ExtractionConfig`; default: prompt positions, every layer).
        shard: (i, n): this process writes blocks ``b % n == i``; all n together fill the store and the last
            one to finish completes it. Same-run stores are resumed; another run's store is refused unless
            ``overwrite`` (then replaced).
        size, data_seed: which examples (see :func:`neurokit.tasks.load_split`).
        progress: show a tqdm bar (examples/s, MB/s of stored activations).
        command: the command line recorded in the store (default: this process's ``sys.argv``).

    Returns:
        The store's absolute path (its Location for a URL). Whether it is complete (all shards done) is its
        ``complete`` attribute.

    Raises:
        NeurokitError: one line, before any store is created, for every invalid input; and when writing fails
        (e.g. a full disk): a store this call created is then removed, a resumed one stays resumable.
    """
    config = ExtractionConfig() if config is None else config
    shard = _check_shard(shard)
    path = check_output_path(out)
    plan = plan_extraction(backbone, checkpoint, task, split, config, size=size, data_seed=data_seed,
                           command=command)
    resuming = _resumes(path, plan.spec, overwrite)
    created_folders = _make_parents(path) if isinstance(path, Path) else []
    try:
        writer = ActivationStoreWriter.create_or_resume(path, plan.spec, overwrite=overwrite, shard=shard)
    except BaseException:
        _remove_empty(created_folders)
        raise
    from tqdm.auto import tqdm

    spec = plan.spec
    owned = range(shard[0], spec.n_blocks, shard[1])
    pending = set(writer.pending_blocks())
    size_of = lambda block: spec.block_slice(block).stop - spec.block_slice(block).start  # noqa: E731
    bar = tqdm(total=sum(size_of(b) for b in owned), initial=sum(size_of(b) for b in owned if b not in pending),
               unit="ex", desc=f"extract {split}" + (f" [{shard[0]}/{shard[1]}]" if shard[1] > 1 else ""),
               disable=not progress, dynamic_ncols=True)
    try:
        with writer:
            _fill(writer, plan, backbone, config, bar)
            writer.finalize()
    except Exception as error:
        bar.close()
        removed = not resuming and _discard_new_store(path, shard)
        if removed:
            _remove_empty(created_folders)
        if not isinstance(error, (NeurokitError, OSError)):
            raise
        outcome = "removed the incomplete new store" if removed else "the store is kept and can be resumed"
        message = f"{str(error).splitlines()[0] if str(error) else type(error).__name__}; {outcome}"
        raise (type(error) if isinstance(error, NeurokitError) else StoreError)(message) from error
    finally:
        bar.close()
    return path
