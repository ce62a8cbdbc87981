"""The offline demo: build the DEMO set, load it back, judge, score and report, in seconds.

:func:`run_demo` is what ``mmsafety demo`` runs: build :class:`~mmsafety.builders.demo.demo.DemoSet`
into the datasets cache, load it back with ``datasets.load_dataset("mmsafety/demo")``
(offline), judge the bundled demo models' responses with the rules judge (two models, and a
blind run of one of them: the same queries without the image), score them, and write the
report, image dependence included, and a Judges section: the bundled human labels of one
model's twelve responses (``labels/``, a human verdict file as ``mmsafety label`` writes one)
against the rules judge, and its rates corrected by them.

>>> result = run_demo("mmsafety-demo")  # doctest: +SKIP
>>> result.report.html  # doctest: +SKIP
PosixPath('mmsafety-demo/report.html')
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from mmsafety.benchmarks import DEMO
from mmsafety.data.outdir import OutputDir

REPO_ID = DEMO.repo_id
"""Where ``mmsafety demo`` builds the DEMO set."""


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """``datasets`` (and the Hub client) offline for the duration, whatever the environment says:
    the demo must never ask the network, nor load a Hub repository that happens to be called
    ``mmsafety/demo``."""
    import huggingface_hub.constants

    saved = (datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = saved


@dataclass
class DemoResult:
    """What :func:`run_demo` did and wrote."""

    out: Path
    rows: int
    cache_path: Path
    responses: list[Path]
    verdicts: list[Path]
    labels: list[Path]
    """The human verdict files copied beside the verdicts (``--calibration`` of the report)."""
    report: Any
    """The :class:`~mmsafety.report.SafetyReportFiles`."""
    summary: str
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each step: build, load, judge, report."""


def _run(folder: OutputDir, out: Path) -> tuple[Any, ...]:
    """The demo's steps, writing into ``folder`` (``out`` as the caller named it)."""
    from datasets.utils import logging as datasets_logging

    from mmsafety.data.build import build_with
    from mmsafety.judges.rules import RuleJudge
    from mmsafety.report import load_safety_report, write_safety_report
    from mmsafety.runs.checks import check_verdicts
    from mmsafety.runs.files import read_responses, write_verdicts
    from mmsafety.runs.samples import samples_from_dataset

    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    built = build_with(DEMO.builder_class())
    seconds["build"], clock = time.perf_counter() - clock, time.perf_counter()

    verbosity = datasets_logging.get_verbosity()
    datasets_logging.set_verbosity_error()  # no "Using the latest cached version" warning
    try:
        if Path(REPO_ID).is_dir():  # load_dataset would read that folder (relative to the working directory) instead
            from mmsafety.data.catalog import load_benchmark

            dataset = load_benchmark(REPO_ID)
        else:
            with hub_offline():
                dataset = datasets.load_dataset(REPO_ID, split="test")
    finally:
        datasets_logging.set_verbosity(verbosity)
    samples = samples_from_dataset(dataset)
    version = str(dataset.info.version or "")
    seconds["load"], clock = time.perf_counter() - clock, time.perf_counter()

    responses_paths, verdict_paths = [], []
    bundled_dir = DEMO.folder / "responses"
    for name in sorted((p.name for p in bundled_dir.glob("*.jsonl")), key=lambda n: n.removesuffix(".jsonl").endswith("-blind")):  # sighted runs first
        responses_path = folder.file(f"responses/{name}")  # staged: moved in with the report, together
        shutil.copyfile(bundled_dir / name, responses_path)
        responses = read_responses(responses_path, samples, benchmark=REPO_ID)
        verdicts = RuleJudge().judge_many((samples[r.id], r) for r in responses)
        verdicts_path = folder.file(f"verdicts/{name}")
        write_verdicts(verdicts_path, verdicts, benchmark=REPO_ID, benchmark_version=version)  # a blind response's verdict says so
        responses_paths.append(responses_path)
        verdict_paths.append(verdicts_path)
    label_paths = []
    for bundled in sorted((DEMO.folder / "labels").glob("*.jsonl")):  # human verdict files, as `mmsafety label` writes them
        label_path = folder.file(f"labels/{bundled.name}")  # staged, as the runs
        shutil.copyfile(bundled, label_path)
        check_verdicts(label_path, REPO_ID)  # a human file: the same checks against the set as any verdict file
        label_paths.append(label_path)
    seconds["judge"], clock = time.perf_counter() - clock, time.perf_counter()

    queries = {sample_id: sample.query for sample_id, sample in samples.items()}
    coverage = {path: check_verdicts(path, REPO_ID).coverage for path in verdict_paths}
    report = load_safety_report(verdict_paths, queries=lambda _: queries, coverage=coverage, calibration=label_paths)
    final = {path: out / path.relative_to(folder.staging()) for path in [*responses_paths, *verdict_paths, *label_paths]}
    report.name_files(final)
    files = write_safety_report(report, folder, named=out)
    responses_paths, verdict_paths, label_paths = ([final[p] for p in paths] for paths in (responses_paths, verdict_paths, label_paths))
    seconds["report"] = time.perf_counter() - clock
    return built, dataset, version, responses_paths, verdict_paths, label_paths, report, files, seconds


def run_demo(out: str | Path = "mmsafety-demo") -> DemoResult:
    """Build, load, judge, score and report the demo set into ``out`` (see the module docstring).

    ``out`` follows :mod:`mmsafety.data.outdir`'s rule: a new or empty folder, or an earlier
    demo (its files are replaced, stale ones removed); a folder holding anything else is refused.
    """
    from mmsafety.data.outdir import prepare_output_dir
    from mmsafety.report import report_summary

    out = Path(out)
    with prepare_output_dir(out, "demo") as folder:  # refused before anything is built or written
        built, dataset, version, responses_paths, verdict_paths, label_paths, report, files, seconds = _run(folder, out)
    return DemoResult(
        out=out,
        rows=dataset.num_rows,
        cache_path=built.cache_path,
        responses=responses_paths,
        verdicts=verdict_paths,
        labels=label_paths,
        report=files,
        summary=report_summary(report, files),
        seconds=seconds,
    )
