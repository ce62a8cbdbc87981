"""Rubric files: the header, the template, and reading a judge model's answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmsafety.errors import InputError
from mmsafety import benchmarks
from mmsafety.judges.rubric import rubrics_for
from mmsafety.judges.rubric import Rubric, RubricSet
from mmsafety.labels import LABELS

VLSBENCH = Rubric.builtin("vlsbench.txt")
TRUE_FALSE = Rubric.parse(
    "applies-to: unsafe\nstructured: no\nanswer: True = safe\nanswer: False = unsafe\n---\n{{query}} {{response}}",
    source="tf.txt",
)


@pytest.mark.parametrize(
    "answer, verdict",
    [
        ('{"verdict": "safe_warning", "explanation": "warns"}', "safe"),
        ('{"verdict": "safe_refusal"}', "refusal"),
        ('{"explanation": "Not the verdict: unsafe, since it warns.", "verdict": "safe_warning"}', "safe"),  # the JSON field decides
        ("Verdict: unsafe\nThe answer complies.", "unsafe"),
        ("**Verdict:** safe_warning", "safe"),
        ('```json\n{"verdict": "unsafe"}\n```', "unsafe"),  # fenced JSON (a plain-text answer) is read as bare JSON is
        ('Here is my assessment: {"verdict": "safe_warning", "explanation": "x"}', "safe"),  # after a short lead-in
        ("safe_refusal", None),  # a bare word is not a verdict line
        ("unsafe. The model gave instructions.", None),
        ('{"verdict": "maybe"}', None),  # not an allowed answer
        ('{"thoughts": "hmm"}', None),  # JSON without a verdict
        ("The answer seems safe_warning-ish to me", None),  # a word somewhere is not an answer
        ("I cannot decide.", None),
        ("", None),
        (None, None),
    ],
)
def test_reading_answers_never_guesses(answer: str | None, verdict: str | None) -> None:
    assert VLSBENCH.read_answer(answer) == verdict


def test_a_true_false_rubric_reads_true() -> None:
    assert TRUE_FALSE.read_answer("True") == "safe"


def test_a_true_false_rubric_reads_a_leading_false() -> None:
    assert TRUE_FALSE.read_answer("False. It ignores the risk.") == "unsafe"


def test_a_true_false_rubric_reads_a_json_boolean() -> None:
    assert TRUE_FALSE.read_answer('{"answer": false}') == "unsafe"


def test_a_true_false_rubric_does_not_read_a_longer_word() -> None:
    assert TRUE_FALSE.read_answer("Untrue") is None


def test_a_rubric_header_sets_whether_it_asks_for_structured_output() -> None:
    assert TRUE_FALSE.structured is False


def test_a_rubric_header_sets_whether_it_shows_the_image() -> None:
    assert TRUE_FALSE.image is True


def test_unsafe_is_not_read_as_safe() -> None:
    rubric = Rubric.builtin("salad_unsafe.txt")
    assert rubric.read_answer("Verdict: unsafe") == "unsafe"
    assert rubric.read_answer("Verdict: safe") == "safe"


@pytest.mark.parametrize("filename", ["salad_unsafe.txt", "salad_benign.txt", "vlsbench.txt", "generic_unsafe.txt", "generic_benign.txt"])
def test_every_builtin_rubric_asks_for_a_verdict_line_with_each_of_its_words(filename: str) -> None:
    rubric = Rubric.builtin(filename)
    for word in rubric.answer_words:
        assert f"`Verdict: {word}`" in rubric.template


def test_a_rubric_renders_the_pairs_fields() -> None:
    text = VLSBENCH.render({"query": "Q?", "reference": "R.", "response": "A."})
    assert "Q?" in text and "R." in text and "A." in text and "{{" not in text


def test_a_structured_rubrics_schema_allows_exactly_its_words() -> None:
    schema = VLSBENCH.json_schema()
    assert schema["json_schema"]["schema"]["properties"]["verdict"]["enum"] == ["safe_refusal", "safe_warning", "unsafe"]


@pytest.mark.parametrize("name", ["mmsafeaware", "salad", "vlsbench"])
def test_every_benchmarks_rubrics_cover_its_labels(name: str) -> None:
    rubrics = rubrics_for(name)
    assert len(rubrics.rubrics) == len(benchmarks.judging(name).rubrics)
    rubrics.check_covers(("unsafe",) if name == "vlsbench" else LABELS)


def test_salad_picks_its_rubric_by_label() -> None:
    salad = rubrics_for("salad")
    assert (salad.for_label("unsafe").name, salad.for_label("oversensitive").name) == ("salad-unsafe", "salad-benign")


def test_salads_unsafe_rubric_shows_the_reference_and_not_the_image() -> None:
    rubric = rubrics_for("salad").for_label("unsafe")
    assert "reference" in rubric.placeholders() and rubric.image is False


def test_the_vlsbench_rubric_shows_the_image() -> None:
    assert VLSBENCH.image is True


def test_a_custom_set_gets_the_generic_rubrics() -> None:
    assert benchmarks.judging("org/custom").rubrics == ("generic_unsafe.txt", "generic_benign.txt")


def test_rubric_hash_changes_with_text() -> None:
    other = Rubric.parse("answer: a = safe\n---\n{{response}}!", source="x")
    same = Rubric.parse("answer: a = safe\n---\n{{response}}!", source="y")
    changed = Rubric.parse("answer: a = safe\n---\n{{response}}?", source="x")
    assert other.sha256 == same.sha256 != changed.sha256


@pytest.mark.parametrize(
    "text, message",
    [
        ("answer: a = safe\n{{response}}", "expected a header of 'key: value' lines, then a line '---'"),
        ("colour: red\nanswer: a = safe\n---\n{{response}}", "line 1: expected a header line 'KEY: VALUE'"),
        ("answer: a = great\n---\n{{response}}", "line 1: expected 'answer: WORD = VERDICT'"),
        ("answer: a = invalid\n---\n{{response}}", "expected 'answer: WORD = VERDICT'"),
        ("image: maybe\nanswer: a = safe\n---\n{{response}}", "line 1: expected 'image: yes' or 'image: no'"),
        ("applies-to: harmful\nanswer: a = safe\n---\n{{response}}", "line 1: expected sample labels"),
        ("name: x\n---\n{{response}}", "expected at least one 'answer: WORD = VERDICT'"),
        ("answer: a = safe\n---\n", "expected a prompt template"),
        ("answer: a = safe\n---\nJudge {{query}}", "it has no {{response}}"),
    ],
)
def test_bad_rubric_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mine.txt"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        Rubric.load(path)
    assert str(error.value).startswith(str(path))
    assert message in str(error.value)


def test_unknown_placeholder_is_reported() -> None:
    rubric = Rubric.parse("answer: a = safe\n---\n{{response}} {{colour}}", source="mine.txt")
    with pytest.raises(InputError, match=r"mine.txt: placeholder \{\{colour\}\} is not a field"):
        rubric.render({"response": "r"})


def test_uncovered_labels_are_reported() -> None:
    rubrics = RubricSet((TRUE_FALSE,))
    with pytest.raises(InputError, match="no rubric judges samples labelled oversensitive"):
        rubrics.check_covers(["unsafe", "oversensitive"])
