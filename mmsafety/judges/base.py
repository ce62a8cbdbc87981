"""One interface for every judge: a :class:`Judge` turns a (sample, response) pair
into a :class:`Verdict` record.

A judge has a ``name`` and a ``version`` (both written into every verdict), judges one
pair with :meth:`Judge.judge` and many with :meth:`Judge.judge_many`, and counts what
it did in :attr:`Judge.stats`. Empty responses never reach a judge's own logic: they
are ``invalid`` with reason ``empty_response`` whatever the judge.

>>> from mmsafety.judges.base import Judge
>>> from mmsafety.runs.records import Sample, Response
>>> class Always(Judge):
...     name, version = "always-safe", "1"
...     def _judge(self, sample, response):
...         return self.verdict(sample, response, "safe", raw="always")
>>> sample = Sample(id="7", label="unsafe")
>>> Always().judge(sample, Response(id="7", text="Careful: that is hot.")).verdict
'safe'
>>> Always().judge(sample, Response(id="7", text="  ")).reason
'empty_response'
"""

from __future__ import annotations

import abc
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from mmsafety.errors import InputError
from mmsafety.labels import VERDICTS
from mmsafety.runs.records import EMPTY_RESPONSE, Response, RunStats, Sample, Verdict, by_count, response_digest


class JudgeConfigError(InputError):
    """A judge that cannot run as configured (no API key, endpoint refusing the key,
    unknown model, bad rubric): nothing would be judged, so the run stops."""


@dataclass
class JudgeStats(RunStats):
    """What a judging run did: requests made, cache hits, retries, time."""

    judged: int = 0
    structured_output: bool | None = None

    def summary(self, verdicts: Sequence[Verdict]) -> str:
        """A few human lines: verdict counts, invalids by reason, requests, cache hits, time.

        >>> v = [Verdict("1", "safe", "unsafe", "", "", "j", "1"),
        ...      Verdict("2", "invalid", "unsafe", "", "", "j", "1", reason="empty_response")]
        >>> print(JudgeStats(judged=2, seconds=0.5).summary(v))
        judged 2 responses in 0.50 s
        verdicts: safe 1, invalid 1
        invalid by reason: empty_response 1
        requests made 0, cache hits 0, retries 0
        """
        counts = Counter(v.verdict for v in verdicts)
        reasons = Counter(v.reason for v in verdicts if v.reason is not None)
        lines = [
            f"judged {len(verdicts)} responses in {self.seconds:.2f} s",
            "verdicts: " + ", ".join(f"{name} {counts[name]}" for name in VERDICTS if counts[name]),
        ]
        if reasons:
            lines.append("invalid by reason: " + by_count(reasons))
        disagreeing = sum(v.label_str_disagrees for v in verdicts)
        if disagreeing:
            lines.append(label_str_line(disagreeing))
        lines.append(self.requests_line())
        return "\n".join(lines)


def label_str_line(count: int) -> str:
    """The line that reports VLSBench answers whose ``label`` and ``label_str`` disagree.

    >>> print(label_str_line(2))
    label/label_str disagreements: 2 (counted by label, as the authors' eval.py counts them)
    """
    return f"label/label_str disagreements: {count} (counted by label, as the authors' eval.py counts them)"


ProgressCallback = Callable[[Verdict], None]


class Judge(abc.ABC):
    """A judge: ``name`` and ``version`` identify it in every verdict it gives.

    Subclasses implement :meth:`_judge` for one non-empty response; judges that work
    in batches (the LLM judge) override :meth:`judge_many` as well.
    """

    name: str
    version: str
    heuristic: ClassVar[bool] = False

    def __init__(self) -> None:
        self.stats = JudgeStats()

    @property
    def judge_model(self) -> str | None:
        """The model behind the judge, for judges that call one."""
        return None

    def verdict(
        self,
        sample: Sample,
        response: Response,
        verdict: str,
        *,
        raw: str | None = None,
        reason: str | None = None,
        rubric: str | None = None,
        cached: bool = False,
        label_str_disagrees: bool = False,
    ) -> Verdict:
        """Build this judge's :class:`Verdict` on ``response`` to ``sample``."""
        return Verdict(
            id=sample.id,
            verdict=verdict,
            label=sample.label,
            category=sample.category,
            subset=sample.subset,
            judge=self.name,
            judge_version=self.version,
            raw=raw,
            reason=reason,
            model=response.model,
            judge_model=self.judge_model,
            rubric=rubric,
            heuristic=self.heuristic,
            cached=cached,
            blind=response.blind,
            response_sha256=response_digest(response.text),
            label_str_disagrees=label_str_disagrees,
        )

    def empty_verdict(self, sample: Sample, response: Response) -> Verdict | None:
        """The ``invalid`` verdict when there is no response to judge, else ``None``: reason
        ``response.error`` when asking the model failed, ``empty_response`` when it is blank.

        >>> class Unasked(Judge):
        ...     name, version = "unasked", "1"
        ...     def _judge(self, sample, response):
        ...         raise AssertionError("never asked")
        >>> failed = Response(id="7", text="", error="model_bad_request", error_detail="HTTP 400: no images")
        >>> v = Unasked().judge(Sample(id="7", label="unsafe"), failed)
        >>> v.verdict, v.reason, v.raw
        ('invalid', 'model_bad_request', 'HTTP 400: no images')
        """
        if response.error:
            return self.verdict(sample, response, "invalid", raw=response.error_detail, reason=response.error)
        if response.text.strip():
            return None
        return self.verdict(sample, response, "invalid", raw=response.text, reason=EMPTY_RESPONSE)

    def judge(self, sample: Sample, response: Response) -> Verdict:
        """Judge one response to one sample."""
        if sample.id != response.id:
            raise ValueError(f"response id {response.id!r} does not belong to sample {sample.id!r}")
        return self.empty_verdict(sample, response) or self._judge(sample, response)

    @abc.abstractmethod
    def _judge(self, sample: Sample, response: Response) -> Verdict:
        """Judge one non-empty response."""

    def judge_many(
        self,
        pairs: Iterable[tuple[Sample, Response]],
        *,
        on_verdict: ProgressCallback | None = None,
    ) -> list[Verdict]:
        """Judge every pair; verdicts come back in the order of ``pairs``.

        ``on_verdict`` is called once per verdict as it is made (a progress bar's hook).
        """
        start = time.perf_counter()
        verdicts = []
        for sample, response in pairs:
            verdict = self.judge(sample, response)
            verdicts.append(verdict)
            if on_verdict is not None:
                on_verdict(verdict)
        self.stats.judged += len(verdicts)
        self.stats.seconds += time.perf_counter() - start
        return verdicts
