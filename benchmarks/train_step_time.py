"""Prompt-tuning step time of base-sized backbones built from configs (random weights, no download).

One optimizer step = forward with the soft prompt prepended, cross-entropy on the class scores, backward into
the prompt only, gradient clipping and an AdamW update: exactly the trainer's inner loop
(:class:`neurokit.prompts.PromptTrainer`). Inputs are random token ids of exactly ``--length`` tokens, batch
``--batch-size``, prompt ``--prompt-length``. Reports the median and spread over ``--steps`` timed steps after
``--warmup`` untimed ones, and the peak GPU memory, for each of ``--precisions``: ``bf16`` (autocast on CUDA, as
the trainer does, T5 included: never float16; float32 on a CPU, said in the table) and ``fp32``.

    .venv/bin/python benchmarks/train_step_time.py [--device cuda] [--models roberta-base,t5-base]
                                                   [--precisions bf16,fp32] [--quick]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

from _machine import cpu_model, memory_gib, print_table, write_json


def build(name: str, device: str):
    from neurokit.models.random import random_backbone

    architecture, size = name.rsplit("-", 1)
    backbone = random_backbone(architecture, size=size)
    backbone.model.to(device)
    return backbone


def step_times(backbone, prompt_length: int, batch_size: int, length: int, steps: int, warmup: int,
               bf16: bool) -> tuple[list[float], float]:
    import torch
    import torch.nn.functional as F

    from neurokit.prompts import SoftPrompt

    device = backbone.device
    label_words = ("bad", "good")
    verbalizer = backbone.verbalizer(label_words)
    prompt = SoftPrompt.initialise(backbone, prompt_length, "uniform", seed=0).to(device)
    optimizer = torch.optim.AdamW([prompt.vectors], lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    vocabulary = backbone.tokenizer.vocab_size
    input_ids = torch.randint(1000, vocabulary - 1, (batch_size, length), generator=generator).to(device)
    attention_mask = torch.ones_like(input_ids)
    labels = torch.randint(0, 2, (batch_size,), generator=generator).to(device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda")
    times = []
    for index in range(warmup + steps):
        synchronize()
        started = time.perf_counter()
        with autocast:
            scores = backbone.class_scores(prompt(), input_ids, attention_mask, verbalizer, prompt.layout)
        loss = F.cross_entropy(scores.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([prompt.vectors], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        synchronize()
        if index >= warmup:
            times.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return times, peak


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="roberta-base,t5-base", help="comma-separated <family>-<size>")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--prompt-length", type=int, default=100)
    parser.add_argument("--length", type=int, default=128, help="input tokens per example")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--precisions", default="bf16", help="comma-separated: bf16 (autocast on CUDA), fp32")
    parser.add_argument("--quick", action="store_true", help="tiny models and sizes: a smoke test")
    parser.add_argument("--json", help="also write the rows and settings to this JSON file (study_cost.py reads it)")
    args = parser.parse_args()
    if args.quick:
        args.models, args.batch_size, args.prompt_length, args.length, args.steps, args.warmup = (
            "roberta-tiny,t5-tiny", 4, 8, 16, 3, 1)
    precisions = [item.strip() for item in args.precisions.split(",") if item.strip()]
    if not precisions or set(precisions) - {"bf16", "fp32"}:
        raise SystemExit(f"--precisions: choose from bf16, fp32; got {args.precisions!r}")
    cuda = args.device.startswith("cuda")
    rows = []
    names = args.models.split(",")
    for name in names:
        backbone = build(name, args.device)
        for precision in precisions:
            times, peak = step_times(backbone, args.prompt_length, args.batch_size, args.length, args.steps,
                                     args.warmup, precision == "bf16")
            rows.append({"model (random weights)": name,
                         "precision": ("bf16 autocast" if cuda else "float32 (bf16 needs CUDA)")
                         if precision == "bf16" else "float32",
                         "median step ms": 1000 * statistics.median(times), "min ms": 1000 * min(times),
                         "max ms": 1000 * max(times), "steps/s": 1 / statistics.median(times),
                         "peak GPU GiB": peak})
        del backbone
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    print(f"## Prompt-tuning step time: batch {args.batch_size}, P = {args.prompt_length}, "
          f"input length {args.length}, {args.steps} timed steps after {args.warmup}\n")
    print_table(rows, {"median step ms": ".1f", "min ms": ".1f", "max ms": ".1f", "steps/s": ".2f",
                       "peak GPU GiB": ".2f"})
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    memory = memory_gib()
    machine = (f"{platform.platform()}; {cpu_model()}; {gpu}; {memory:.0f} GiB RAM; torch {torch.__version__}; "
               f"device {args.device}")
    print(f"\nmachine: {machine}")
    keyed = [row | {"precision key": precision} for row, precision in zip(rows, precisions * len(names), strict=True)]
    write_json(args.json, keyed, {"batch_size": args.batch_size, "prompt_length": args.prompt_length,
                                  "length": args.length}, machine)


if __name__ == "__main__":
    main()
