"""The frozen prefix: with LoRA on the last N decoder layers only, the layers below them have no
trainable weight and no dropout, so what they compute for a dialogue is the same in every epoch
and every evaluation. It is computed once and reused (the same tensor, so the loss is exactly the
one the layers would give again); from the second epoch on a step runs only the adapted layers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class FrozenPrefix(nn.Module):
    """Stands in for the first of the frozen layers and runs all of them, once per distinct input."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.outputs: dict[str, torch.Tensor] = {}  # kept for the whole run: ~2 MB per 860-token dialogue
        self.reused = 0

    def forward(self, hidden_states: torch.Tensor, **kwargs) -> torch.Tensor:
        key = input_key(hidden_states, kwargs.get("position_ids"), kwargs.get("attention_mask"))
        output = self.outputs.get(key)
        if output is not None:
            self.reused += 1
            return output
        with torch.no_grad():
            for layer in self.layers:
                hidden_states = layer(hidden_states, **kwargs)
        self.outputs[key] = hidden_states
        return hidden_states


class Skipped(nn.Module):
    """Stands in for the other frozen layers: their work is done by the FrozenPrefix."""

    def forward(self, hidden_states: torch.Tensor, **kwargs) -> torch.Tensor:
        return hidden_states


def input_key(*tensors: torch.Tensor | None) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for tensor in tensors:
        if isinstance(tensor, torch.Tensor):
            digest.update(str((tensor.dtype, tuple(tensor.shape))).encode())
            digest.update(tensor.detach().contiguous().cpu().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The model's stack of decoder layers: the one list of ``num_hidden_layers`` modules."""
    count = model.config.num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == count and name.endswith("layers"):
            return module
    raise ValueError(f"no list of {count} decoder layers in {type(model).__name__}")


@contextmanager
def frozen_prefix_cached(model: nn.Module, frozen: int) -> Iterator[FrozenPrefix | None]:
    """Within the block, the first ``frozen`` decoder layers of ``model`` compute once per input.

    Yields None (and changes nothing) when those layers are not truly frozen: a trainable weight
    or attention dropout would make a reused output wrong.
    """
    layers = decoder_layers(model)
    original = list(layers[:frozen])
    trainable = any(p.requires_grad for layer in original for p in layer.parameters())
    if frozen < 1 or trainable or getattr(model.config, "attention_dropout", 0.0):
        yield None
        return
    prefix = FrozenPrefix(original)
    for index in range(frozen):
        layers[index] = prefix if index == 0 else Skipped()
    try:
        yield prefix
    finally:
        for index, layer in enumerate(original):
            layers[index] = layer
