"""Which judging protocol the LLM judge follows: the benchmark authors' own request, or mmsafety's rubrics.

- ``upstream``: the request the benchmark's authors send, built from their own evaluation
  code read at run time (VLSBench: :mod:`mmsafety.builders.vlsbench.upstream`); the default
  where mmsafety can build it;
- ``rubric``: the benchmark's packaged rubrics (``mmsafety/judges/rubrics/``), asking
  for a ``Verdict:`` line or a structured ``verdict`` field; the default elsewhere.
  ``mmsafety`` is accepted for it too (its earlier name, :data:`PROTOCOL_ALIASES`).

What a protocol gives the LLM judge to send is a :class:`JudgeRequest`.

>>> default_protocol("vlsbench"), default_protocol("salad"), default_protocol("org/custom")
('upstream', 'rubric', 'rubric')
>>> judge_request("salad", "mmsafety").name
'rubric'
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmsafety import benchmarks
from mmsafety.errors import InputError
from mmsafety.judges.rubric import RubricSet, rubrics_for

PROTOCOLS: tuple[str, ...] = ("upstream", "rubric")
"""The values of ``--protocol``."""
PROTOCOL_ALIASES: dict[str, str] = {"mmsafety": "rubric"}
"""Other spellings ``--protocol`` accepts, and the protocol each one means."""
PROTOCOL_CHOICES: tuple[str, ...] = (*PROTOCOLS, *PROTOCOL_ALIASES)
"""Every value ``--protocol`` accepts."""
JUDGE_MAX_TOKENS = 512
"""The LLM judge's answer length limit unless told or set by the protocol (the authors' VLSBench request: 128)."""


@dataclass(frozen=True)
class JudgeRequest:
    """The rubrics of an LLM judging run and the generation settings they come with."""

    name: str
    rubrics: RubricSet
    settings: dict[str, Any] = field(default_factory=dict)
    """``temperature`` / ``max_tokens`` the protocol prescribes (options given by the user win)."""


def default_protocol(benchmark: str) -> str:
    """``upstream`` where the authors' request can be built, else ``rubric``."""
    return benchmarks.judging(benchmark).default_protocol


def judge_request(
    benchmark: str,
    protocol: str | None = None,
    *,
    rubric_files: Sequence[str | Path] | None = None,
    source: str | Path | None = None,
) -> JudgeRequest:
    """The rubrics (and settings) of judging ``benchmark`` under ``protocol``.

    ``rubric_files`` (``--rubric``) replace the benchmark's rubrics and go with the
    ``rubric`` protocol only; ``source`` (``--source-dir``) is where the authors' file is.
    """
    if protocol is not None and protocol not in PROTOCOL_CHOICES:
        raise InputError(f"unknown protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}", record="--protocol")
    protocol = PROTOCOL_ALIASES.get(protocol, protocol) if protocol is not None else None
    if rubric_files:
        if protocol == "upstream":
            raise InputError("--rubric replaces the benchmark's rubrics: it goes with --protocol rubric, not upstream")
        if source is not None:
            raise InputError("--source-dir is where the authors' evaluation code is: it goes with --protocol upstream, not --rubric")
        return JudgeRequest("rubric", RubricSet.load(rubric_files))
    chosen = protocol or default_protocol(benchmark)
    if chosen == "rubric":
        if source is not None:
            raise InputError("--source-dir is where the authors' evaluation code is: it goes with --protocol upstream")
        return JudgeRequest("rubric", rubrics_for(benchmark))
    loader = benchmarks.judging(benchmark).upstream_request
    if not loader:
        with_request = [name for name in benchmarks.names() if benchmarks.judging(name).upstream_request]
        raise InputError(
            f"--protocol upstream: mmsafety builds the authors' judge request for {', '.join(with_request)} only, "
            f"not {benchmark}; use --protocol rubric"
        )
    module, _, function = loader.partition(":")
    authors = getattr(importlib.import_module(module), function)(source)
    return JudgeRequest("upstream", RubricSet((authors,)), {"temperature": authors.temperature, "max_tokens": authors.max_tokens})  # type: ignore[arg-type]
