"""The ChatML chat template (SmolLM2's): marked for assistant-only loss, and as an Ollama TEMPLATE.

trl computes the assistant-only loss from ``{% generation %}`` markers in the chat template and
ships marked copies of a few templates only; SmolLM2's is not among them. ``training_template``
marks it (the assistant's content and its ``<|im_end|>``, so that the model learns to stop) and
proves the marked copy renders exactly like the original before it is used.
"""

from __future__ import annotations

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

#: One turn as SmolLM2's template renders it (the literal newlines are part of the template).
_TURN = "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
_MARKED_TURN = (
    "{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}" + _TURN + "{% endif %}"
)

#: Conversations on which a marked template must render exactly like the original one.
_PROBES: tuple[list[dict[str, str]], ...] = (
    [{"role": "user", "content": "Find the bug."}, {"role": "assistant", "content": "**Bug: x**\nbecause."}],
    [
        {"role": "system", "content": "You debug 65816 code."},
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c"},
        {"role": "user", "content": "d"},
        {"role": "assistant", "content": "e"},
    ],
)

#: ChatML for Ollama (Go text/template): the system prompt, then each user and assistant turn, then
#: the assistant's opening, as SmolLM2's template renders them with add_generation_prompt.
OLLAMA_TEMPLATE = """\
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if or (eq .Role "user") (eq .Role "assistant") }}<|im_start|>{{ .Role }}
{{ .Content }}{{ if not (and $last (eq .Role "assistant")) }}<|im_end|>
{{ end }}
{{- end }}
{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant
{{ end }}
{{- end }}"""
OLLAMA_STOPS = (IM_END, IM_START)


class TemplateError(ValueError):
    pass


def render_chatml(messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """ChatML as written out by hand: the reference the base model's template is compared with."""
    text = "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
    return text + (f"{IM_START}assistant\n" if add_generation_prompt else "")


def _render(tokenizer, messages, template: str | None = None, add_generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(
        messages, chat_template=template, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def is_chatml(tokenizer) -> bool:
    """Whether the tokenizer renders conversations with a system message exactly as ChatML."""
    probe = _PROBES[1][:4]
    return _render(tokenizer, probe, add_generation_prompt=True) == render_chatml(probe, add_generation_prompt=True)


def default_system_prompt(tokenizer) -> str | None:
    """The system prompt the template adds when a conversation has none (SmolLM2 has one)."""
    text = _render(tokenizer, [{"role": "user", "content": "x"}])
    opening = f"{IM_START}system\n"
    if not text.startswith(opening) or IM_END not in text:
        return None
    return text[len(opening) : text.index(IM_END)]


def training_template(tokenizer) -> str | None:
    """SmolLM2's template with loss markers, or None when the template needs none from farore
    (it has markers already, or trl knows a marked copy of it)."""
    template = tokenizer.chat_template
    if not isinstance(template, str) or "{% generation %}" in template or _TURN not in template:
        return None
    marked = template.replace(_TURN, _MARKED_TURN)
    for probe in _PROBES:
        for prompt in (False, True):
            if _render(tokenizer, probe, marked, prompt) != _render(tokenizer, probe, None, prompt):
                raise TemplateError("the marked chat template renders differently from the base model's own")
    return marked
