"""The least time a LoRA run on the embedded model can take on this machine, for a given set and epochs.

    python benchmarks/perf/training_floor.py [--samples N] [--epochs 3] [--minutes 15] [--data PATH]

Whichever layers carry the adapter, a run that trains on every answer token with the exact loss
does at least this much work:

* per dialogue, once: a forward pass through the whole model (after it, the frozen layers' output
  can be reused, as farore's frozen prefix does);
* per dialogue and epoch: the vocabulary head forward and backward at the answer's positions (the
  loss needs all the logits, and the gradient reaches the adapted layers only through the head).

This times exactly that work, without gradients where none are needed, on the curated training
set by default, and prints it as seconds per sample-pass and minutes for the whole set, beside a
time target: the adapted layers' own forward and backward come on top, so no preset goes below
it on this machine with the same data, epochs and arithmetic (fp32 here, bf16 where the CPU has
it natively). Not a test: it takes minutes, and its numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tqdm import tqdm
from training import load_rows, machine  # benchmarks/perf/training.py, beside this script

from farore.backends.hf import import_torch_stack
from farore.dataset.schema import shipped_dataset_dir
from farore.train.run import resolve_base
from farore.train.sft import load_tokenizer


def answer_split(tokenizer, messages: list[dict]) -> tuple[list[int], int]:
    """The dialogue's token ids and the index of its answer's first token."""
    ids = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=True, add_generation_prompt=True, return_dict=True)
    return ids, len(prompt["input_ids"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, help="the first N dialogues (default: all)")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--minutes", type=float, default=15.0, help="the time target to compare with")
    parser.add_argument("--data", type=Path, default=shipped_dataset_dir() / "train.jsonl")
    args = parser.parse_args()
    rows = load_rows(args.data, args.samples)  # a bad dataset stops before the model is loaded
    torch, transformers = import_torch_stack()
    base = resolve_base("embedded")
    tokenizer = load_tokenizer(base)
    model = transformers.AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32).eval()
    model.requires_grad_(False)
    dialogues = [answer_split(tokenizer, row["messages"]) for row in rows]
    print(
        f"training floor: embedded model, {len(dialogues)} dialogues of {args.data} x {args.epochs:g} epochs, "
        + machine(torch)
    )

    forward_s = head_s = 0.0
    for index, (ids, answer_start) in enumerate(tqdm([dialogues[0], *dialogues], desc="floor", unit="dialogue")):
        tokens = torch.tensor([ids])
        started = time.perf_counter()
        with torch.no_grad():
            hidden = model.model(tokens).last_hidden_state  # after the final norm
        forward = time.perf_counter() - started
        # The hidden state before each answer token predicts it; the gradient stops at the head's input.
        answer_hidden = hidden[:, answer_start - 1 : -1].detach().requires_grad_()
        started = time.perf_counter()
        logits = model.lm_head(answer_hidden)
        torch.nn.functional.cross_entropy(logits[0], tokens[0, answer_start:]).backward()
        head = time.perf_counter() - started
        if index:  # the first dialogue, timed twice, only warms up
            forward_s, head_s = forward_s + forward, head_s + head

    count, epochs = len(dialogues), args.epochs
    total_s = forward_s + epochs * head_s
    budget = args.minutes * 60 / (count * epochs)
    answers = sum(len(ids) - start for ids, start in dialogues) / count
    print(f"  mean tokens per dialogue {sum(len(ids) for ids, _ in dialogues) / count:.0f}, of them in the answer {answers:.0f}")
    print(f"  forward pass of the whole model, once per dialogue: {forward_s / count:.3f} s per dialogue")
    print(f"  vocabulary head forward and backward at the answer:  {head_s / count:.3f} s per dialogue and epoch")
    print(f"  floor: {total_s / (count * epochs):.3f} s per sample-pass, {total_s / 60:.1f} min for {count} x {epochs:g}")
    print(f"  {args.minutes:g} min for {count} x {epochs:g} allows {budget:.3f} s per sample-pass: floor / target {total_s / 60 / args.minutes:.2f}x")


if __name__ == "__main__":
    main()
