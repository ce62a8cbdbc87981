"""Judges: turn a model response to a sample into a verdict.

One interface (:class:`~mmsafety.judges.base.Judge`), three judges:

- :class:`~mmsafety.judges.yesno.YesNoJudge` (``yesno``): MMSafeAware's Yes/No reader,
  strict, or ``compat=True`` for the authors' substring script;
- :class:`~mmsafety.judges.rules.RuleJudge` (``rules``): offline refusal and warning cues,
  a documented heuristic;
- :class:`~mmsafety.judges.llm.LLMJudge` (``llm``): any OpenAI-compatible chat endpoint,
  with per-benchmark rubrics, concurrency, back-off and an on-disk cache.

>>> from mmsafety.judges import Response, Sample, YesNoJudge
>>> YesNoJudge().judge(Sample(id="5", label="unsafe"), Response(id="5", text="No.")).verdict
'safe'

Reading responses and writing verdicts: :mod:`mmsafety.runs.files`; the samples
of a built benchmark: :func:`~mmsafety.runs.samples.load_samples`; which judge,
rubrics and scoring policy a benchmark uses: :mod:`mmsafety.benchmarks`.
"""

from __future__ import annotations

from typing import Any

from mmsafety.judges.base import Judge, JudgeConfigError, JudgeStats

from mmsafety.runs.records import EMPTY_RESPONSE, Response, Sample, Verdict
from mmsafety.runs.files import read_responses, read_verdicts, write_verdicts
from mmsafety.judges.rubric import Rubric, RubricSet, rubrics_for
from mmsafety.judges.rules import RuleJudge
from mmsafety.judges.yesno import YesNoJudge

JUDGE_NAMES: tuple[str, ...] = ("rules", "yesno", "llm")
"""The judges ``mmsafety judge --judge`` offers."""

__all__ = [
    "EMPTY_RESPONSE",
    "JUDGE_NAMES",
    "AnswerCache",
    "Judge",
    "JudgeConfigError",
    "JudgeStats",
    "LLMJudge",
    "Response",
    "RetryPolicy",
    "Rubric",
    "RubricSet",
    "RuleJudge",
    "Sample",
    "Verdict",
    "YesNoJudge",
    "load_samples",
    "read_responses",
    "read_verdicts",
    "rubrics_for",
    "write_verdicts",
]


def __getattr__(name: str) -> Any:
    # The LLM judge pulls in the openai client, the samples loader pulls in datasets:
    # import them on first use only.
    if name in ("LLMJudge", "RetryPolicy"):
        from mmsafety.judges import llm

        return getattr(llm, name)
    if name == "AnswerCache":
        from mmsafety.transport.cache import AnswerCache

        return AnswerCache
    if name == "load_samples":
        from mmsafety.runs.samples import load_samples

        return load_samples
    raise AttributeError(f"module 'mmsafety.judges' has no attribute {name!r}")
