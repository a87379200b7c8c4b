"""trl's SFTTrainer with a NaN guard, and the callbacks of a farore training stage.

Imported only once torch, transformers and trl are known to be installed (``farore.train.sft``).
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from tqdm.auto import tqdm
from transformers import TrainerCallback
from trl import SFTTrainer

from farore.train.sft import NonFiniteLoss


def trained_token_loss(model, inputs: dict, num_items_in_batch=None, weights: torch.Tensor | None = None):
    """Mean next-token cross-entropy over the tokens that have a label (the assistant's), or the
    sum divided by ``num_items_in_batch`` when gradient accumulation counts tokens across batches.
    ``weights`` (one per next-token label) scale each token's share of the sum.

    The vocabulary projection (a sixth of the model's multiply-adds at SmolLM2's 49152 tokens) runs
    only at the positions whose next token is trained, about half of a dialogue.
    """
    labels = inputs["labels"][:, 1:]
    positions = (labels != -100).any(dim=0).nonzero().squeeze(-1)
    features = {key: value for key, value in inputs.items() if key != "labels"}
    outputs = model(**features, logits_to_keep=positions)
    targets = labels[:, positions]
    losses = torch.nn.functional.cross_entropy(
        outputs.logits.float().transpose(1, 2), targets, ignore_index=-100, reduction="none"
    )
    if weights is not None:
        losses = losses * weights[:, positions]
    count = num_items_in_batch if num_items_in_batch is not None else (targets != -100).sum().clamp(min=1)
    return losses.sum() / count, outputs


def first_line_mask(labels: torch.Tensor, line_ends: torch.Tensor) -> torch.Tensor:
    """True at the first line of each assistant turn: its trained labels up to and including the
    first one that ends a line (the diagnosis-first format puts the bug type there)."""
    trained = (labels != -100).tolist()
    ends = torch.isin(labels, line_ends).tolist()
    mask = [[False] * len(row) for row in trained]
    for row, (trained_row, ends_row) in enumerate(zip(trained, ends)):
        open_line = False
        for index, is_trained in enumerate(trained_row):
            if is_trained and (index == 0 or not trained_row[index - 1]):
                open_line = True
            mask[row][index] = is_trained and open_line
            if is_trained and ends_row[index]:
                open_line = False
    return torch.tensor(mask, device=labels.device)


def line_end_ids(tokenizer) -> torch.Tensor:
    """The ids of the tokens whose text contains a line break."""
    return torch.tensor([i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i])])


class GuardedSFTTrainer(SFTTrainer):
    """SFTTrainer that stops at the first non-finite loss instead of training on garbage, and
    weighs each answer's first line ``first_line_weight`` times."""

    def __init__(self, *args, first_line_weight: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.first_line_weight = first_line_weight
        self.line_ends = line_end_ids(self.processing_class).to(self.args.device) if first_line_weight != 1.0 else None

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """trl's chunked log-prob head computes this loss plus entropy and token accuracy for its
        logs, and took 40% of each step on 2 CPU cores (2.8 of 7.0 s on a 916-token dialogue)."""
        scaled = self.model_accepts_loss_kwargs and num_items_in_batch is not None
        weights = None
        if self.line_ends is not None:
            first_line = first_line_mask(inputs["labels"][:, 1:], self.line_ends)
            weights = 1.0 + (self.first_line_weight - 1.0) * first_line.float()
        loss, outputs = trained_token_loss(model, inputs, num_items_in_batch if scaled else None, weights)
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss).all():
            raise NonFiniteLoss(
                f"the training loss became {loss.item()} at step {self.state.global_step + 1} "
                f"(epoch {self.state.epoch or 0:.2f}); training stopped. Lower the learning rate "
                f"(now {self.args.learning_rate:g}) or check the data for broken dialogues."
            )
        return loss


class ProgressBar(TrainerCallback):
    """Optimizer steps with the latest training and validation loss; tqdm adds the rate and the ETA."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None
        self.postfix: dict[str, str] = {}

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = tqdm(total=state.max_steps, desc=self.label, unit="step", dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key, shown in (("loss", "loss"), ("eval_loss", "eval")):
            if logs and key in logs:
                self.postfix[shown] = f"{logs[key]:.3f}"
        if self.bar is not None:
            self.bar.set_postfix(self.postfix, refresh=True)

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.close()


class StopAtInterrupt(TrainerCallback):
    """Ctrl-C once: finish this step, save a checkpoint, stop. Twice: abort now."""

    def __init__(self):
        self.requested = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("farore: stopping after this step and saving a checkpoint (Ctrl-C again aborts without one)", file=sys.stderr)

    def on_step_end(self, args, state, control, **kwargs):
        if self.requested:
            control.should_save = True
            control.should_training_stop = True


class StepClock(TrainerCallback):
    """Seconds spent inside optimizer steps (forward, backward, update), evaluations and saves left out."""

    def __init__(self):
        self.seconds = 0.0
        self._began: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._began = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._began is not None:
            self.seconds += time.perf_counter() - self._began
            self._began = None


class EvaluateAtEnd(TrainerCallback):
    """The last step is evaluated and saved as well, so that the best checkpoint is chosen among
    all of the training, not only among the steps that happen to be multiples of eval_steps."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == state.max_steps:
            control.should_evaluate = True
            control.should_save = True
