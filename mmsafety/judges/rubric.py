"""Rubrics of the LLM judge: prompt templates with the answers they allow.

A rubric file (format in ``rubrics/README.md``) has a header — which sample labels it
judges, whether the judge sees the image, and which answer words map to which
verdict — then ``---`` and a template with ``{{placeholders}}``. The built-in rubrics
live in ``mmsafety/judges/rubrics/``; ``--rubric FILE`` swaps in a user's own.

>>> rubric = Rubric.parse('''
... applies-to: unsafe
... answer: True = safe
... answer: False = unsafe
... ---
... Q: {{query}} A: {{response}}''', source="mine.txt")
>>> rubric.render({"query": "q", "response": "r"})
'Q: q A: r'
>>> rubric.read_answer('{"verdict": "False"}'), rubric.read_answer("True. It warns."), rubric.read_answer("maybe")
('unsafe', 'safe', None)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from mmsafety.errors import InputError
from mmsafety.judges.reading import Reading
from mmsafety.judges.true_false import read_true_false_reading
from mmsafety.judges.verdict_line import answer_key, read_reading
from mmsafety.labels import LABELS, VERDICTS
from mmsafety.transport.cache import sha256_text

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
STANDARD_FIELDS = ("id", "query", "response", "reference", "category", "subcategory", "subset", "label")
_HEADER_KEYS = ("name", "applies-to", "image", "structured", "answer")


def _yes_no(value: str, key: str, source: str, line: int) -> bool:
    lowered = value.strip().lower()
    if lowered in ("yes", "true", "1"):
        return True
    if lowered in ("no", "false", "0"):
        return False
    raise InputError(f"expected '{key}: yes' or '{key}: no', found {value!r}", file=source, record=f"line {line}")


class RequestFormat:
    """What every request format in the LLM judge shares — a rubric, the authors' VLSBench request,
    a guard's: the sample labels it judges (``applies_to``) and whether an empty response is sent."""

    applies_to: tuple[str, ...]
    sends_empty: ClassVar[bool] = False
    """Whether an empty response is sent to the judge (the authors' VLSBench request does) or is
    ``invalid`` (``empty_response``) without a request, as under mmsafety's rubrics and the guards."""

    def covers(self, label: str) -> bool:
        """Whether this format judges samples with ``label``."""
        return label in self.applies_to


@dataclass(frozen=True)
class Rubric(RequestFormat):
    """One prompt template, the sample labels it judges and the answers it allows."""

    name: str
    template: str
    answers: Mapping[str, str]
    applies_to: tuple[str, ...] = LABELS
    image: bool = True
    structured: bool = True
    source: str = ""
    sha256: str = ""
    answer_words: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, text: str, *, source: str = "<rubric>") -> Rubric:
        """Read a rubric from its text; errors name ``source`` and the line."""
        lines = text.splitlines()
        try:
            split = next(i for i, line in enumerate(lines) if line.strip() == "---")
        except StopIteration:
            raise InputError(
                "expected a header of 'key: value' lines, then a line '---', then the template", file=source
            ) from None
        name = Path(source).stem
        applies_to: tuple[str, ...] = LABELS
        image, structured = True, True
        answers: dict[str, str] = {}
        words: list[str] = []
        for number, line in enumerate(lines[:split], start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            key, sep, value = stripped.partition(":")
            key = key.strip().lower()
            if not sep or key not in _HEADER_KEYS:
                raise InputError(
                    f"expected a header line 'KEY: VALUE' with KEY one of {', '.join(_HEADER_KEYS)}, found {stripped!r}",
                    file=source,
                    record=f"line {number}",
                )
            value = value.strip()
            if key == "name":
                name = value
            elif key == "applies-to":
                applies_to = tuple(v.strip() for v in value.split(",") if v.strip())
                unknown = [v for v in applies_to if v not in LABELS]
                if unknown or not applies_to:
                    raise InputError(
                        f"expected sample labels from {', '.join(LABELS)}, found {value!r}", file=source, record=f"line {number}"
                    )
            elif key == "image":
                image = _yes_no(value, key, source, number)
            elif key == "structured":
                structured = _yes_no(value, key, source, number)
            else:
                word, eq, verdict = value.rpartition("=")
                word, verdict = word.strip(), verdict.strip()
                if not eq or not word or verdict not in VERDICTS or verdict == "invalid":
                    raise InputError(
                        "expected 'answer: WORD = VERDICT' with VERDICT one of safe, refusal, unsafe, oversensitive, "
                        f"found {value!r}",
                        file=source,
                        record=f"line {number}",
                    )
                answers[answer_key(word)] = verdict
                words.append(word)
        if not answers:
            raise InputError("expected at least one 'answer: WORD = VERDICT' line in the header", file=source)
        template = "\n".join(lines[split + 1 :]).strip("\n")
        if not template.strip():
            raise InputError("expected a prompt template after the '---' line, found nothing", file=source)
        if "response" not in placeholders(template):
            raise InputError("expected the template to show the answer being judged: it has no {{response}}", file=source)
        return cls(
            name=name,
            template=template,
            answers=answers,
            applies_to=applies_to,
            image=image,
            structured=structured,
            source=source,
            sha256=sha256_text(text),
            answer_words=tuple(words),
        )

    @classmethod
    def load(cls, path: str | Path) -> Rubric:
        """Read a rubric file."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise InputError(f"cannot read the rubric: {error.strerror}", file=path) from error
        except UnicodeDecodeError as error:
            raise InputError(f"expected UTF-8 text, found a byte it cannot decode at offset {error.start}", file=path) from error
        return cls.parse(text, source=str(path))

    @classmethod
    def builtin(cls, filename: str) -> Rubric:
        """One of the packaged rubrics (``rubrics/<filename>``)."""
        text = resources.files("mmsafety.judges").joinpath("rubrics", filename).read_text(encoding="utf-8")
        return cls.parse(text, source=f"builtin:{filename}")

    def placeholders(self) -> list[str]:
        """The placeholder names the template uses, in order of first use."""
        return placeholders(self.template)

    def render(self, values: Mapping[str, str]) -> str:
        """The template with every placeholder replaced by ``values[name]``."""
        missing = [name for name in self.placeholders() if name not in values]
        if missing:
            raise InputError(
                f"placeholder {{{{{missing[0]}}}}} is not a field of the samples; expected one of "
                f"{', '.join(sorted(values))}",
                file=self.source,
            )
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], self.template)

    def request_messages(self, sample: Any, response: Any) -> list[dict[str, Any]]:
        """The judge's chat messages for one (sample, response) pair: the rendered template,
        after the sample's image when the rubric asks for it (and the sample has one)."""
        from mmsafety.transport.endpoint import data_url

        prompt = self.render(rubric_fields(sample, response))
        image = sample.load_image() if self.image else None
        if image is None:
            return [{"role": "user", "content": prompt}]
        parts = [{"type": "image_url", "image_url": {"url": data_url(image)}}, {"type": "text", "text": prompt}]
        return [{"role": "user", "content": parts}]

    def json_schema(self) -> dict[str, Any]:
        """The ``response_format`` asking for ``{"verdict": WORD, "explanation": str}``."""
        return {
            "type": "json_schema",
            "json_schema": {
                "name": "verdict",
                "strict": True,
                "schema": {
                    "type": "object",
                    "properties": {
                        "verdict": {"type": "string", "enum": list(self.answer_words)},
                        "explanation": {"type": "string"},
                    },
                    "required": ["verdict", "explanation"],
                    "additionalProperties": False,
                },
            },
        }

    def read(self, text: str | None) -> Reading:
        """What a judge model's answer gives: a verdict, or the reason it gives none.

        One rule for every answer (:mod:`mmsafety.judges.reading`): the ``verdict`` field of a
        JSON answer (bare, fenced or after a short lead-in), else the ``Verdict:`` lines and
        ``### Verdict`` headings outside reasoning blocks, each holding exactly one allowed
        word; two places that disagree, or a reversal after the last, are ``invalid``. A rubric
        whose answers are ``True`` and ``False`` finds its places as
        :mod:`~mmsafety.judges.true_false` does (the shapes a paper's True/False prompt gets
        back). Nothing is guessed from a word merely occurring somewhere in the text.
        """
        if set(self.answers) == {"true", "false"}:
            reading = read_true_false_reading(text)
            return reading if reading.verdict is None else Reading(self.answers[reading.verdict])
        return read_reading(text, self.answers)

    def read_answer(self, text: str | None) -> str | None:
        """The verdict :meth:`read` gives, or ``None`` when it gives none."""
        return self.read(text).verdict


def placeholders(template: str) -> list[str]:
    """Placeholder names in ``template``, in order of first use.

    >>> placeholders("{{query}} / {{ response }} / {{query}}")
    ['query', 'response']
    """
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(template)))


@dataclass(frozen=True)
class RubricSet:
    """The rubrics a run uses, chosen per sample by label.

    >>> rubrics = RubricSet.builtin(["salad_unsafe.txt", "salad_benign.txt"])
    >>> rubrics.for_label("unsafe").name, rubrics.for_label("oversensitive").name
    ('salad-unsafe', 'salad-benign')
    """

    rubrics: tuple[Rubric, ...]

    @classmethod
    def builtin(cls, filenames: Iterable[str]) -> RubricSet:
        return cls(tuple(Rubric.builtin(name) for name in filenames))

    @classmethod
    def load(cls, paths: Sequence[str | Path]) -> RubricSet:
        return cls(tuple(Rubric.load(path) for path in paths))

    def for_label(self, label: str) -> Rubric | None:
        """The first rubric that judges ``label``, if any."""
        return next((r for r in self.rubrics if r.covers(label)), None)

    def check_covers(self, labels: Iterable[str]) -> None:
        """Raise :class:`InputError` unless every label in ``labels`` has a rubric."""
        uncovered = sorted({label for label in labels if self.for_label(label) is None})
        if uncovered:
            sources = ", ".join(r.source for r in self.rubrics)
            raise InputError(
                f"no rubric judges samples labelled {', '.join(uncovered)}: {sources} applies to "
                f"{', '.join(sorted({l for r in self.rubrics for l in r.applies_to}))} only; "
                "give another --rubric whose 'applies-to' covers them"
            )


def rubrics_for(benchmark: str) -> RubricSet:
    """The packaged rubrics of a benchmark's LLM judge (:mod:`mmsafety.benchmarks` names them)."""
    from mmsafety.benchmarks import judging

    return RubricSet.builtin(judging(benchmark).rubrics)


def rubric_fields(sample: Any, response: Any) -> dict[str, str]:
    """The values a rubric template may use for one (sample, response) pair: the sample's own
    string columns, then ``id``, ``query``, ``response``, ``reference``, ``category``,
    ``subcategory``, ``subset`` and ``label``."""
    return {
        **{key: str(value) for key, value in sample.extras.items()},
        "id": sample.id,
        "query": sample.query,
        "response": response.text,
        "reference": sample.reference,
        "category": sample.category,
        "subcategory": sample.subcategory,
        "subset": sample.subset,
        "label": sample.label,
    }
