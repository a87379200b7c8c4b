"""SmolLM2's ChatML template: marked for assistant-only loss without changing a byte it renders."""

import pytest

from farore.train.chatml import (
    OLLAMA_STOPS,
    OLLAMA_TEMPLATE,
    default_system_prompt,
    is_chatml,
    render_chatml,
    training_template,
)

transformers = pytest.importorskip("transformers")

CONVERSATION = [
    {"role": "system", "content": "You are Farore."},
    {"role": "user", "content": "Find the bug:\nREP #$20\nSTA $2100"},
    {"role": "assistant", "content": "**Bug: 16-bit store**\nThe store writes two bytes."},
    {"role": "user", "content": "And the fix?"},
    {"role": "assistant", "content": "**Fix:** SEP #$20 first."},
]


@pytest.fixture(scope="module")
def tokenizer():
    from farore.backends.embedded import embedded_checkpoint

    return transformers.AutoTokenizer.from_pretrained(embedded_checkpoint())


def test_the_embedded_template_is_chatml_with_a_default_system_prompt(tokenizer):
    assert is_chatml(tokenizer)
    assert default_system_prompt(tokenizer) == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@pytest.mark.parametrize("conversation", [CONVERSATION, CONVERSATION[1:3]])
@pytest.mark.parametrize("add_generation_prompt", [False, True])
def test_the_marked_template_renders_exactly_like_the_original(tokenizer, conversation, add_generation_prompt):
    marked = training_template(tokenizer)
    assert "{% generation %}" in marked
    render = lambda template: tokenizer.apply_chat_template(  # noqa: E731
        conversation, chat_template=template, tokenize=False, add_generation_prompt=add_generation_prompt
    )
    assert render(marked) == render(None)


def test_the_loss_mask_covers_each_answer_and_its_end_of_turn_only(tokenizer):
    encoded = tokenizer.apply_chat_template(
        CONVERSATION,
        chat_template=training_template(tokenizer),
        tokenize=True,
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    trained = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    expected = "".join(m["content"] + "<|im_end|>" for m in CONVERSATION if m["role"] == "assistant")
    assert tokenizer.decode(trained) == expected


def test_a_template_with_markers_or_unknown_to_farore_is_left_to_trl(tokenizer):
    marked = training_template(tokenizer)
    tokenizer_copy = transformers.AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tokenizer_copy.chat_template = marked
    assert training_template(tokenizer_copy) is None
    tokenizer_copy.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert training_template(tokenizer_copy) is None
    assert not is_chatml(tokenizer_copy)


def test_the_reference_rendering_is_chatml():
    assert render_chatml(CONVERSATION[:2], add_generation_prompt=True) == (
        "<|im_start|>system\nYou are Farore.<|im_end|>\n"
        "<|im_start|>user\nFind the bug:\nREP #$20\nSTA $2100<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_the_ollama_template_writes_the_same_chatml_markers():
    for piece in ("<|im_start|>system\n{{ .System }}<|im_end|>\n", "<|im_start|>{{ .Role }}\n{{ .Content }}", "<|im_start|>assistant\n"):
        assert piece in OLLAMA_TEMPLATE
    assert OLLAMA_TEMPLATE.count("{{- if") + OLLAMA_TEMPLATE.count("{{ if") == OLLAMA_TEMPLATE.count("end }}") - 1
    assert OLLAMA_STOPS == ("<|im_end|>", "<|im_start|>")
