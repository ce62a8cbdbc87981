"""Which judging protocol the LLM judge follows: the benchmark authors' own request, or mmsafety's rubrics.

- ``upstream``: the request the benchmark's authors send, built from their own evaluation
  code read at run time (VLSBench: :mod:`mmsafety.builders.vlsbench.upstream`); the default
  where mmsafety can build it;
- ``mmsafety``: the benchmark's packaged rubrics (``mmsafety/judges/rubrics/``), asking
  for a ``Verdict:`` line or a structured ``verdict`` field; the default elsewhere.

>>> default_protocol("vlsbench"), default_protocol("salad"), default_protocol("org/custom")
('upstream', 'mmsafety', 'mmsafety')
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

PROTOCOLS: tuple[str, ...] = ("upstream", "mmsafety")
JUDGE_MAX_TOKENS = 512
"""The LLM judge's answer length limit unless told or set by the protocol (the authors' VLSBench request: 128)."""


@dataclass(frozen=True)
class LLMProtocol:
    """The rubrics of an LLM judging run and the generation settings they come with."""

    name: str
    rubrics: RubricSet
    settings: dict[str, Any] = field(default_factory=dict)
    """``temperature`` / ``max_tokens`` the protocol prescribes (options given by the user win)."""


def default_protocol(benchmark: str) -> str:
    """``upstream`` where the authors' request can be built, else ``mmsafety``."""
    return benchmarks.judging(benchmark).llm_protocol


def llm_protocol(
    benchmark: str,
    protocol: str | None = None,
    *,
    rubric_files: Sequence[str | Path] | None = None,
    source: str | Path | None = None,
) -> LLMProtocol:
    """The rubrics (and settings) of judging ``benchmark`` under ``protocol``.

    ``rubric_files`` (``--rubric``) replace the benchmark's rubrics and go with the
    ``mmsafety`` protocol only; ``source`` (``--source-dir``) is where the authors' file is.
    """
    if protocol is not None and protocol not in PROTOCOLS:
        raise InputError(f"unknown protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}", record="--protocol")
    if rubric_files:
        if protocol == "upstream":
            raise InputError("--rubric replaces the benchmark's rubrics: it goes with --protocol mmsafety, not upstream")
        if source is not None:
            raise InputError("--source-dir is where the authors' evaluation code is: it goes with --protocol upstream, not --rubric")
        return LLMProtocol("mmsafety", RubricSet.load(rubric_files))
    chosen = protocol or default_protocol(benchmark)
    if chosen == "mmsafety":
        if source is not None:
            raise InputError("--source-dir is where the authors' evaluation code is: it goes with --protocol upstream")
        return LLMProtocol("mmsafety", rubrics_for(benchmark))
    loader = benchmarks.judging(benchmark).upstream_request
    if not loader:
        with_request = [name for name in benchmarks.names() if benchmarks.judging(name).upstream_request]
        raise InputError(
            f"--protocol upstream: mmsafety builds the authors' judge request for {', '.join(with_request)} only, "
            f"not {benchmark}; use --protocol mmsafety"
        )
    module, _, function = loader.partition(":")
    authors = getattr(importlib.import_module(module), function)(source)
    return LLMProtocol("upstream", RubricSet((authors,)), {"temperature": authors.temperature, "max_tokens": authors.max_tokens})  # type: ignore[arg-type]
