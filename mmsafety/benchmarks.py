"""The benchmark registry: the one place that says what a benchmark is.

A :class:`Benchmark` names its Hub repo id, its builder, how it is judged and scored
(:class:`Judging`: the scoring policy, the offline judge and the LLM judge's rubrics) and
where its citation and the paper's published rows live (``CITATIONS.bib`` and
``published.json`` in the builder's folder). Every other module asks :func:`get`,
:func:`names` or :func:`benchmarks`; nothing else spells a repo id, a policy or a rubric
per benchmark.

A benchmark is one folder ``builders/<name>/`` whose ``__init__.py`` registers it in one
line (:func:`register_folder`): its name is the folder's, its builder is a class in
``<name>.py`` whose ``NAME`` must be the same. The registry finds the folders itself
(:func:`discover`, a scan of the ``mmsafety.builders`` package, run on first use); a
plugin or a test may also call :func:`register`.

A set that is not registered (a custom build, named by its repo id) is judged and scored
by :data:`DEFAULT` — the ``default`` policy, the rule judge, generic rubrics.

>>> get("salad").repo_id, get("salad").policy
('mmsafety/salad', 'salad')
>>> get("mmsafety/mmsafeaware").offline_judge
'yesno'
>>> get("someone/custom-set") is None
True
>>> judging("someone/custom-set").policy
'default'
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError

HUB_ORGANISATION = "mmsafety"
"""The Hub organisation the built-in benchmarks are published under."""


BUILDERS_PACKAGE = "mmsafety.builders"
"""The package whose sub-folders are the benchmarks (:func:`discover`)."""
BUILDERS_PATH_ENV = "MMSAFETY_BUILDERS_PATH"
"""Further folders of benchmark folders (``os.pathsep``-separated), found as sub-folders of
:data:`BUILDERS_PACKAGE` — a benchmark of your own without editing the package."""


@dataclass(frozen=True)
class Judging:
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
    def default_protocol(self) -> str:
        """The LLM judge's default protocol: ``upstream`` where the authors' request can be built,
        else ``rubric`` (the rubrics above)."""
        return "upstream" if self.upstream_request else "rubric"


@dataclass(frozen=True)
class Benchmark:
    """One registered benchmark."""

    name: str
    """Short name: ``mmsafety build NAME``, ``mmsafety judge NAME``."""
    builder: str
    """``module:Class`` of its :class:`~mmsafety.data.builder.SafetyBuilder` (imported on demand)."""
    judging: Judging
    repo_id: str = ""
    """Hub repo id; ``mmsafety/<name>`` when not given."""
    results_importer: str = ""
    """The module that turns the authors' own results file into verdicts (``mmsafety import NAME``), or ``""``."""

    def __post_init__(self) -> None:
        if not self.repo_id:
            object.__setattr__(self, "repo_id", f"{HUB_ORGANISATION}/{self.name}")

    @property
    def policy(self) -> str:
        return self.judging.policy

    @property
    def offline_judge(self) -> str:
        return self.judging.offline_judge

    @property
    def rubrics(self) -> tuple[str, ...]:
        return self.judging.rubrics

    def builder_class(self) -> type:
        """The builder class (imports its module); its ``NAME`` must be the registered name."""
        module, _, attribute = self.builder.partition(":")
        cls = getattr(importlib.import_module(module), attribute)
        check_builder_name(self.name, cls, self.builder)
        return cls

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


def check_builder_name(name: str, cls: type, where: str) -> None:
    """Bad input unless the builder ``cls`` (found at ``where``) has ``NAME`` ``name``: the name is given once."""
    own = getattr(cls, "NAME", None)
    if own != name:
        raise InputError(
            f"the builder {where} has NAME {own!r} but is registered as {name!r}: expected NAME = {name!r} "
            f"(a benchmark's name is its folder's, and its builder's NAME must be the same)",
            record="benchmark",
        )


GENERIC_RUBRICS = ("generic_unsafe.txt", "generic_benign.txt")
DEFAULT = Judging("default", "rules", GENERIC_RUBRICS)
"""How a set that is not registered (a custom build) is judged and scored."""

DEMO = Benchmark("demo", f"{BUILDERS_PACKAGE}.demo.demo:DemoSet", DEFAULT)
"""The DEMO set ``mmsafety demo`` builds: made-up samples, not a benchmark — never in :data:`REGISTRY`,
judged and scored as a set that is not registered."""

REGISTRY: dict[str, Benchmark] = {}
"""Registered benchmarks by short name, in registration order; read it through :func:`benchmarks`."""
_discovered: list[str] = []
_scanned: list[str] = []
_added: list[str] = []


def register(benchmark: Benchmark | type) -> Benchmark:
    """Add ``benchmark`` to the registry (replacing one of the same name); returns it.

    A builder class stands for the benchmark of its ``NAME``, judged by :data:`DEFAULT`.
    A builder class given as ``module:Class`` whose ``NAME`` is not the registered name is
    refused when it is first imported (:meth:`Benchmark.builder_class`).
    """
    if isinstance(benchmark, type):
        cls = benchmark
        benchmark = Benchmark(getattr(cls, "NAME", "") or "", f"{cls.__module__}:{cls.__qualname__}", DEFAULT)
        check_builder_name(benchmark.name or "<empty>", cls, benchmark.builder)
    REGISTRY[benchmark.name] = benchmark
    return benchmark


def register_folder(package: str, builder: str, judging: Judging = DEFAULT, **options: str) -> Benchmark:
    """Register the benchmark of the folder ``package`` (``__name__`` of its ``__init__.py``).

    Its name is the folder's; its builder is the class ``builder`` in the folder's module of
    the same name (``builders/salad/salad.py:SaLAD``), imported only when first needed.
    ``options`` are further :class:`Benchmark` fields (``results_importer`` as a module name
    relative to the folder, e.g. ``"results"``).
    """
    name = package.rpartition(".")[2]
    if "results_importer" in options and options["results_importer"]:
        options["results_importer"] = f"{package}.{options['results_importer']}"
    return register(Benchmark(name, f"{package}.{name}:{builder}", judging, **options))


def unregister(name: str) -> None:
    """Remove a benchmark registered under ``name`` (tests, plugins); a benchmark folder is
    forgotten too, so that a later :func:`discover` finds it again if it is still there."""
    benchmark = REGISTRY.pop(name, None)
    folder = f"{BUILDERS_PACKAGE}.{name}"
    if benchmark is not None and benchmark.builder.startswith(f"{folder}.") and folder in _discovered:
        _discovered.remove(folder)
        for module in [m for m in sys.modules if m == folder or m.startswith(f"{folder}.")]:
            del sys.modules[module]


def discover() -> tuple[str, ...]:
    """Import every benchmark folder not imported yet (each ``__init__.py`` registers its
    benchmark): the sub-folders of :data:`BUILDERS_PACKAGE` and of the folders named by
    ``$MMSAFETY_BUILDERS_PATH``. Returns the registered names.

    A folder's ``__init__.py`` stays light (its builder module is imported on first use):
    the registry runs this on first use, e.g. to list the command line's choices.
    """
    root = importlib.import_module(BUILDERS_PACKAGE)
    path = root.__path__
    extra = os.environ.get(BUILDERS_PATH_ENV, "")
    wanted = [os.path.abspath(f) for f in extra.split(os.pathsep) if f]
    for folder in [f for f in _added if f not in wanted]:  # no longer named: no longer searched
        _added.remove(folder)
        path.remove(folder)
    for folder in wanted:
        if folder not in path:
            _added.append(folder)
            path.append(folder)
    for found in pkgutil.iter_modules(path, f"{BUILDERS_PACKAGE}."):
        if found.ispkg and found.name not in _discovered:
            _discovered.append(found.name)
            importlib.import_module(found.name)
    _scanned[:] = [extra]
    return tuple(sorted(REGISTRY))


def benchmarks() -> tuple[Benchmark, ...]:
    """Every registered benchmark, sorted by name (the benchmark folders found first)."""
    if _scanned != [os.environ.get(BUILDERS_PATH_ENV, "")]:
        discover()
    return tuple(REGISTRY[name] for name in sorted(REGISTRY))


def names() -> tuple[str, ...]:
    """The registered benchmarks' short names, sorted."""
    return tuple(benchmark.name for benchmark in benchmarks())


def get(name: str) -> Benchmark | None:
    """The benchmark registered as ``name`` or under repo id ``name``, else ``None``."""
    found = benchmarks()
    if name in REGISTRY:
        return REGISTRY[name]
    for benchmark in found:
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


def judging(name: str) -> Judging:
    """How ``name`` (short name or repo id) is judged and scored: its own, else :data:`DEFAULT`."""
    benchmark = get(name)
    return benchmark.judging if benchmark is not None else DEFAULT


def policy(name: str) -> str:
    """The scoring policy ``name`` is scored with by default.

    >>> policy("vlsbench"), policy("salad"), policy("org/mine")
    ('vlsbench', 'salad', 'default')
    """
    return judging(name).policy
