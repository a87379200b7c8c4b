"""The frozen prefix: reused outputs give exactly the loss and gradients of a full forward pass."""

import torch
from peft import get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from farore.train.config import TrainConfig
from farore.train.prefix import decoder_layers, frozen_prefix_cached


def tiny_lora_model(adapted_layers: int):
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4, vocab_size=97)
    model = LlamaForCausalLM(config)
    settings = TrainConfig(lora={"target_modules": "all-linear", "layers": adapted_layers, "dropout": 0.0}).lora
    model = get_peft_model(model, settings.peft_config(model))
    for name, parameter in model.named_parameters():  # LoRA's B starts at zero; make the adapter matter
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.1)
    return model


def loss_and_gradients(model, input_ids):
    model.zero_grad()
    loss = model(input_ids=input_ids, labels=input_ids).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_reused_prefix_gives_the_same_loss_and_gradients_and_is_restored_after():
    model = tiny_lora_model(adapted_layers=2)
    dialogues = [torch.randint(0, 97, (1, 12)), torch.randint(0, 97, (1, 9))]
    expected = [loss_and_gradients(model, ids) for ids in dialogues]
    layers_before = list(decoder_layers(model))

    with frozen_prefix_cached(model, 2) as prefix:
        for _epoch in range(2):
            for ids, (loss, gradients) in zip(dialogues, expected):
                got_loss, got_gradients = loss_and_gradients(model, ids)
                assert got_loss == loss
                assert gradients.keys() == got_gradients.keys()
                assert all(torch.equal(gradients[n], got_gradients[n]) for n in gradients)
    assert (len(prefix.outputs), prefix.reused) == (2, 2)
    assert list(decoder_layers(model)) == layers_before


def test_layers_with_trainable_weights_are_never_cached():
    model = tiny_lora_model(adapted_layers=3)
    with frozen_prefix_cached(model, 2) as prefix:
        assert prefix is None
    with frozen_prefix_cached(model, 0) as prefix:
        assert prefix is None
    with frozen_prefix_cached(model, 1) as prefix:
        assert prefix is not None
