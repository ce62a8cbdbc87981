"""The benchmark registry: the one place that says what a benchmark is.

A :class:`Benchmark` names its Hub repo id, its builder, its scoring policy, how it is
judged (the offline judge and the LLM judge's rubrics) and where its citation and the
paper's published rows live (``CITATIONS.bib`` and ``published.json`` in the builder's
folder). Every other module asks :func:`get` or :data:`REGISTRY`; nothing else spells a
repo id, a policy or a rubric per benchmark.

A set that is not registered (a custom build, named by its repo id) is judged and scored
by :data:`DEFAULT` — the ``default`` policy, the rule judge, generic rubrics.

Adding a benchmark is one folder under ``builders/`` and one :func:`register` call (the
three built-in entries are registered below).

>>> get("salad").repo_id, get("salad").policy
('mmsafety/salad', 'salad')
>>> get("mmsafety/mmsafeaware").offline_judge
'yesno'
>>> get("someone/custom-set") is None
True
>>> protocol("someone/custom-set").policy
'default'
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError

HUB_ORGANISATION = "mmsafety"
"""The Hub organisation the built-in benchmarks are published under."""


@dataclass(frozen=True)
class Protocol:
    """How a benchmark is judged and scored."""

    policy: str
    """The scoring policy (``mmsafety.score(policy=...)``)."""
    offline_judge: str
    """The judge used when no endpoint is given: ``yesno`` or ``rules``."""
    rubrics: tuple[str, ...]
    """Packaged rubric files of the LLM judge, tried in order by sample label."""
    upstream_request: str = ""
    """``module:function`` that loads the authors' own judge request from their evaluation code
    (VLSBench: :func:`mmsafety.builders.vlsbench.upstream.load_protocol`), or ``""``. Where it is
    set the LLM judge follows it by default (``--protocol upstream``)."""

    @property
    def llm_protocol(self) -> str:
        """The LLM judge's default protocol: ``upstream`` where the authors' request can be built,
        else ``mmsafety`` (the rubrics above)."""
        return "upstream" if self.upstream_request else "mmsafety"


@dataclass(frozen=True)
class Benchmark:
    """One registered benchmark."""

    name: str
    """Short name: ``mmsafety build NAME``, ``mmsafety judge NAME``."""
    builder: str
    """``module:Class`` of its :class:`~mmsafety.data.builder.SafetyBuilder` (imported on demand)."""
    protocol: Protocol
    repo_id: str = ""
    """Hub repo id; ``mmsafety/<name>`` when not given."""

    def __post_init__(self) -> None:
        if not self.repo_id:
            object.__setattr__(self, "repo_id", f"{HUB_ORGANISATION}/{self.name}")

    @property
    def policy(self) -> str:
        return self.protocol.policy

    @property
    def offline_judge(self) -> str:
        return self.protocol.offline_judge

    @property
    def rubrics(self) -> tuple[str, ...]:
        return self.protocol.rubrics

    def builder_class(self) -> type:
        """The builder class (imports its module)."""
        module, _, attribute = self.builder.partition(":")
        return getattr(importlib.import_module(module), attribute)

    @cached_property
    def folder(self) -> Path:
        """The builder's folder: ``checksums.tsv``, ``CITATIONS.bib``, ``published.json``."""
        module = importlib.import_module(self.builder.partition(":")[0])
        return Path(module.__file__).parent  # type: ignore[arg-type]

    def citation(self) -> str:
        """The BibTeX of the benchmark's paper (``CITATIONS.bib``), ``""`` if it has none."""
        path = self.folder / "CITATIONS.bib"
        return path.read_text(encoding="utf-8").strip() if path.is_file() else ""

    def published(self) -> dict[str, Any] | None:
        """The paper's published rows (``published.json``) with the citation, or ``None``."""
        path = self.folder / "published.json"
        if not path.is_file():
            return None
        entry = json.loads(path.read_text(encoding="utf-8"))
        return {**entry, "citation": self.citation(), "policy": self.policy}


GENERIC_RUBRICS = ("generic_unsafe.txt", "generic_benign.txt")
DEFAULT = Protocol("default", "rules", GENERIC_RUBRICS)
"""The protocol of a set that is not registered (a custom build)."""

REGISTRY: dict[str, Benchmark] = {}
"""Registered benchmarks by short name, in registration order."""


def register(benchmark: Benchmark) -> Benchmark:
    """Add ``benchmark`` to the registry (replacing one of the same name); returns it."""
    REGISTRY[benchmark.name] = benchmark
    return benchmark


def unregister(name: str) -> None:
    """Remove a benchmark registered under ``name`` (tests, plugins)."""
    REGISTRY.pop(name, None)


def names() -> tuple[str, ...]:
    """The registered benchmarks' short names, sorted."""
    return tuple(sorted(REGISTRY))


def get(name: str) -> Benchmark | None:
    """The benchmark registered as ``name`` or under repo id ``name``, else ``None``."""
    if name in REGISTRY:
        return REGISTRY[name]
    for benchmark in REGISTRY.values():
        if benchmark.repo_id == name:
            return benchmark
    return None


def require(name: str) -> Benchmark:
    """The registered benchmark ``name``; bad input naming the choices otherwise."""
    benchmark = get(name)
    if benchmark is None:
        raise InputError(f"unknown benchmark {name!r}: expected one of {', '.join(names())}", record="benchmark")
    return benchmark


def repo_id(name: str) -> str:
    """The repo id of ``name``: a registered benchmark's, or ``name`` itself when it is ``org/name``.

    >>> repo_id("vlsbench"), repo_id("me/my-set")
    ('mmsafety/vlsbench', 'me/my-set')
    """
    benchmark = get(name)
    if benchmark is not None:
        return benchmark.repo_id
    if "/" in name and all(name.split("/", 1)):
        return name
    raise InputError(f"unknown benchmark {name!r}: expected one of {', '.join(names())}, or a repo id org/name", record="benchmark")


def check_name(name: str) -> str:
    """``name`` if it is a registered benchmark or a repo id ``org/name``; bad input otherwise."""
    repo_id(name)
    return name


def short_name(repo: str) -> str:
    """``salad`` for ``mmsafety/salad`` (a registered benchmark), else the repo id itself."""
    benchmark = get(repo)
    return benchmark.name if benchmark is not None else repo


def protocol(name: str) -> Protocol:
    """How ``name`` (short name or repo id) is judged and scored: its own, else :data:`DEFAULT`."""
    benchmark = get(name)
    return benchmark.protocol if benchmark is not None else DEFAULT


def policy(name: str) -> str:
    """The scoring policy ``name`` is scored with by default.

    >>> policy("vlsbench"), policy("salad"), policy("org/mine")
    ('vlsbench', 'salad', 'default')
    """
    return protocol(name).policy


register(Benchmark("mmsafeaware", "mmsafety.builders.mmsafeaware:MMSafeAware", Protocol("mmsafeaware", "yesno", GENERIC_RUBRICS)))
register(Benchmark("salad", "mmsafety.builders.salad:SaLAD", Protocol("salad", "rules", ("salad_unsafe.txt", "salad_benign.txt"))))
register(Benchmark("vlsbench", "mmsafety.builders.vlsbench:VLSBench", Protocol("vlsbench", "rules", ("vlsbench.txt",), upstream_request="mmsafety.builders.vlsbench.upstream:load_protocol")))
