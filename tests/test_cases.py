import pytest

from farore.cases import DEFAULT_ANTI_KEYWORDS, CaseFileError, load_cases
from farore.resources import default_cases_dir
from farore.scoring import concept_found

VALID = """\
category: mode_mismatch
concepts: [16-bit, 8-bit, REP/SEP]
cases:
  - id: mm-01
    prompt: "Find the bug"
    symptom: the sprite jumps
  - id: mm-02
    prompt: "Why?"
    threshold: 0.8
    concepts:
      - {name: "16/8 mix", any: ["16/8-bit"]}
    anti_keywords: [no idea]
"""


def test_valid_file_loads_with_file_defaults_and_case_extras(write_cases):
    first, second = load_cases(write_cases(VALID))
    assert [c.name for c in first.concepts] == ["16-bit", "8-bit", "REP/SEP"]
    assert first.threshold == 0.6 and first.anti_keywords == DEFAULT_ANTI_KEYWORDS
    assert first.symptom == "the sprite jumps"
    assert second.threshold == 0.8
    assert concept_found("a 16/8-bit mix-up", second.concepts[-1])
    assert second.anti_keywords[-1] == "no idea"


def test_error_names_file_case_and_field(write_cases):
    path = write_cases(VALID.replace("threshold: 0.8", "threshold: 1.5"))
    with pytest.raises(CaseFileError) as error:
        load_cases(path)
    assert str(error.value).startswith(f"{path}: case 'mm-02': field 'threshold': ")


def test_missing_field_is_named(write_cases):
    path = write_cases(VALID.replace('    prompt: "Why?"\n', ""))
    with pytest.raises(CaseFileError, match=r"case 'mm-02': field 'prompt': Field required"):
        load_cases(path)


def test_duplicate_ids_across_files_are_refused(write_cases):
    write_cases(VALID, "a.yaml")
    path = write_cases(VALID, "b.yaml")
    with pytest.raises(CaseFileError, match=r"b.yaml: case 'mm-01': field 'id': duplicate"):
        load_cases(path.parent)


def test_invalid_yaml_names_the_file(write_cases):
    path = write_cases("category: [unclosed")
    with pytest.raises(CaseFileError, match=f"^{path}: not valid YAML"):
        load_cases(path)


def test_builtin_benchmark_has_five_categories_of_at_least_eight_cases():
    cases = load_cases(default_cases_dir())
    counts: dict[str, int] = {}
    for case in cases:
        counts[case.category] = counts.get(case.category, 0) + 1
    assert set(counts) == {"mode_mismatch", "stack_corruption", "register_clobbering", "dma_errors", "missing_mode_switch"}
    assert min(counts.values()) >= 8
