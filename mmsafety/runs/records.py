"""The records of a run: a benchmark :class:`Sample`, a model's :class:`Response` to it,
and a judge's :class:`Verdict` on that response; :class:`RunStats` counts what a run did.

``mmsafety respond`` turns samples into responses; judges turn (sample, response) pairs
into verdicts; scoring reads verdicts.

>>> Sample(id="7", label="unsafe").benign
False
>>> Verdict("7", "safe", "unsafe", "", "", "rules", "1").to_record()["verdict"]
'safe'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from mmsafety.labels import BENIGN_LABELS, LABELS, VERDICTS

EMPTY_RESPONSE = "empty_response"
"""The ``reason`` of a verdict on an empty (or whitespace-only) response."""


class InvalidImage(ValueError):
    """A sample's image that cannot be read as one: a path that is not a regular file, not
    an image by its header, or over Pillow's decompression-bomb limit. The run records the
    sample with reason ``invalid_image``, and nothing of the file is sent anywhere."""


@dataclass(frozen=True)
class Sample:
    """What a judge may know about one benchmark sample.

    ``label`` is a name from :data:`mmsafety.labels.LABELS`; ``extras`` holds a
    benchmark's own string columns (VLSBench ``image_description``, ...). The image is
    read only when a judge asks for it (:meth:`load_image`), so judging 2,000 cached
    answers never touches the image bytes.
    """

    id: str
    label: str
    query: str = ""
    reference: str = ""
    category: str = ""
    subcategory: str = ""
    subset: str = ""
    extras: Mapping[str, str] = field(default_factory=dict)
    image: bytes | None = field(default=None, repr=False)
    image_loader: Callable[[], bytes | None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"sample {self.id!r}: label must be one of {LABELS}, got {self.label!r}")

    @property
    def benign(self) -> bool:
        """True for samples whose right answer is to help (``safe``, ``oversensitive``)."""
        return self.label in BENIGN_LABELS

    def load_image(self) -> bytes | None:
        """The sample's original image bytes, or ``None`` when it has no image; raises
        :class:`InvalidImage` when its image cannot be read as one."""
        if self.image is not None:
            return self.image
        return self.image_loader() if self.image_loader is not None else None


@dataclass(frozen=True)
class Response:
    """One model response to judge: the ``id`` of its sample and its ``text``.

    ``model`` is the responding model when the responses file names it; ``line`` is
    the line of the responses file it came from (0 when built in code). ``error`` is
    set when there is no response because asking the model failed (``mmsafety respond``
    writes e.g. ``model_bad_request`` for an endpoint that refused the image), with
    ``error_detail`` saying how; such a response is judged ``invalid`` with that reason.
    ``blind`` marks a response given without the image (``mmsafety respond --blind``).
    """

    id: str
    text: str
    model: str | None = None
    line: int = 0
    error: str | None = None
    error_detail: str | None = None
    blind: bool = False


@dataclass(frozen=True)
class Verdict:
    """A judge's verdict on one response, as written to the verdicts JSONL.

    ``raw`` is the judge's own output (the model's text for the LLM judge, the
    matched cues for the rule judge); ``reason`` says why a verdict is ``invalid``;
    ``model`` is the responding model (when the responses name it), ``judge_model`` and
    ``rubric`` (name@hash) say what judged it; ``heuristic`` marks the rule judge's;
    ``blind`` marks a verdict on a response given without the image (written only when true);
    ``label_str_disagrees`` marks a VLSBench verdict whose judge answered a ``label`` and a
    ``label_str`` naming two labels, counted by ``label`` as the authors' ``eval.py`` counts it
    (written only when true).
    """

    id: str
    verdict: str
    label: str
    category: str
    subset: str
    judge: str
    judge_version: str
    raw: str | None = None
    reason: str | None = None
    model: str | None = None
    judge_model: str | None = None
    rubric: str | None = None
    heuristic: bool = False
    cached: bool = field(default=False, compare=False)
    blind: bool = False
    response_sha256: str | None = None
    """:func:`response_digest` of the response judged: files that judge the same responses agree on it."""
    label_str_disagrees: bool = False

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if (self.verdict == "invalid") != (self.reason is not None):
            raise ValueError("a verdict has a reason exactly when it is 'invalid'")

    def to_record(self) -> dict[str, Any]:
        """The JSON object written for this verdict (``model``/``judge_model`` only when known).

        >>> v = Verdict("1", "safe", "unsafe", "c", "s", "rules", "1", raw="cue")
        >>> sorted(v.to_record())
        ['category', 'heuristic', 'id', 'judge', 'judge_version', 'label', 'raw', 'reason', 'subset', 'verdict']
        """
        record: dict[str, Any] = {
            "id": self.id,
            "verdict": self.verdict,
            "label": self.label,
            "category": self.category,
            "subset": self.subset,
            "judge": self.judge,
            "judge_version": self.judge_version,
            "raw": self.raw,
            "reason": self.reason,
            "heuristic": self.heuristic,
        }
        if self.model is not None:
            record["model"] = self.model
        if self.judge_model is not None:
            record["judge_model"] = self.judge_model
        if self.rubric is not None:
            record["rubric"] = self.rubric
        if self.blind:
            record["blind"] = True
        if self.response_sha256 is not None:
            record["response_sha256"] = self.response_sha256
        if self.label_str_disagrees:
            record["label_str_disagrees"] = True
        return record


def response_digest(text: str) -> str:
    """The ``response_sha256`` of a response: the SHA-256 of its text in UTF-8, in hex.

    >>> response_digest("")[:12]
    'e3b0c44298fc'
    """
    return sha256(text.encode("utf-8")).hexdigest()


@dataclass
class RunStats:
    """What a run did: requests made, cache hits, retries, time (the counters
    :func:`~mmsafety.transport.ask.ask_all` keeps; the model under test's
    :class:`~mmsafety.runs.respond.RespondStats` and the judges'
    :class:`~mmsafety.judges.base.JudgeStats` add their own).

    >>> stats = RunStats(requests=3, retries=1)
    >>> stats.requests_line()
    'requests made 3, cache hits 0, retries 1'
    >>> stats.counters()
    {'requests': 3, 'cache_hits': 0, 'retries': 1, 'seconds': 0.0}
    """

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    seconds: float = 0.0

    def requests_line(self) -> str:
        return f"requests made {self.requests}, cache hits {self.cache_hits}, retries {self.retries}"

    def counters(self) -> dict[str, Any]:
        """The counts as a ``--json`` summary gives them (seconds to the millisecond)."""
        return {"requests": self.requests, "cache_hits": self.cache_hits, "retries": self.retries, "seconds": round(self.seconds, 3)}


def by_count(counts: Counter[str]) -> str:
    """``reason n, ...``, the most frequent first (ties by name).

    >>> by_count(Counter({"b": 1, "a": 1, "c": 2}))
    'c 2, a 1, b 1'
    """
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))
