"""The Ollama Modelfile: written by export, read back by a small parser of its directives."""

import pytest

from farore.train.chatml import OLLAMA_TEMPLATE
from farore.train.export import ExportError, modelfile_text, parse_modelfile


def test_the_written_modelfile_parses_to_its_directives():
    directives = parse_modelfile(modelfile_text("./merged", 'You are Farore.\nSay "why" first.'))
    by_name = {}
    for directive in directives:
        by_name.setdefault(directive.name, []).append(directive.value)
    assert by_name["FROM"] == ["./merged"]
    assert by_name["TEMPLATE"] == [OLLAMA_TEMPLATE]
    assert by_name["SYSTEM"] == ['You are Farore.\nSay "why" first.']
    assert "temperature 0" in by_name["PARAMETER"]
    assert 'stop "<|im_end|>"' in by_name["PARAMETER"]
    assert directives[0].line == 1


def test_no_system_prompt_means_no_system_directive():
    assert "SYSTEM" not in [d.name for d in parse_modelfile(modelfile_text("./merged", None))]


def test_comments_blank_lines_and_lowercase_directives_are_fine():
    text = '# exported by farore\n\nfrom ./merged\nparameter num_ctx 2048\nsystem "short"\n'
    assert [(d.line, d.name, d.value) for d in parse_modelfile(text)] == [
        (3, "FROM", "./merged"),
        (4, "PARAMETER", "num_ctx 2048"),
        (5, "SYSTEM", "short"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM ./m\nTEMPERATURE 0\n", r"Modelfile:2: unknown directive 'TEMPERATURE'"),
        ('FROM ./m\nSYSTEM """never closed\n', r'Modelfile:2: unterminated """ value'),
        ("FROM ./m\nPARAMETER temprature 0\n", r"Modelfile:2: PARAMETER needs a known name"),
        ("FROM ./m\nPARAMETER stop\n", r"Modelfile:2: PARAMETER needs a known name and a value"),
        ("PARAMETER num_ctx 1\n", r"exactly one FROM"),
        ("FROM ./a\nFROM ./b\n", r"exactly one FROM"),
        ("FROM ./m\nSYSTEM\n", r"Modelfile:2: SYSTEM has no value"),
    ],
)
def test_broken_modelfiles_are_refused_at_their_line(text, message):
    with pytest.raises(ExportError, match=message):
        parse_modelfile(text)


def test_a_system_prompt_that_cannot_be_quoted_is_refused():
    with pytest.raises(ExportError, match='contains """'):
        modelfile_text("./merged", 'say """ this')
