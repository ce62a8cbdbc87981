"""The DEMO set and the offline demo: the whole flow in seconds, with nothing downloaded.

:class:`DemoSet` is a :class:`~mmsafety.builder.SafetyBuilder` like the benchmarks' builders:
twelve made-up samples in the shared schema (``records.json`` beside this module: six
``unsafe``, six ``oversensitive``, in three categories), whose images the package draws
itself with Pillow at build time (a shape, a caption and a "DEMO" stamp). It registers as
``mmsafety/demo``. It is **a demo, not a benchmark**: its figures say nothing about any model.
(This package is ``mmsafety.demo_set``, not ``mmsafety.demo``: a folder ``mmsafety/demo`` in a
checkout would be what ``load_dataset("mmsafety/demo")`` loads when run from its root.)

:func:`run_demo` is what ``mmsafety demo`` runs: build the set into the datasets cache, load
it back with ``datasets.load_dataset("mmsafety/demo")`` (offline), judge the two bundled
demo models' responses (``responses/*.jsonl``) with the rules judge, score them, and write
the report.

>>> result = run_demo("mmsafety-demo")  # doctest: +SKIP
>>> result.report.html  # doctest: +SKIP
PosixPath('mmsafety-demo/report.html')
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import datasets

from mmsafety.builder import Row, SafetyBuilder
from mmsafety.images import ImageValue
from mmsafety.sources import Source

REPO_ID = "mmsafety/demo"
RECORDS = "records.json"
IMAGE_SIZE = (384, 288)
STAMP = "DEMO - not a benchmark"


def _data(name: str) -> bytes:
    return resources.files(__name__).joinpath(name).read_bytes()


def demo_records() -> list[dict[str, Any]]:
    """The demo set's records, as ``records.json`` holds them (with their ``drawing``)."""
    return json.loads(_data(RECORDS))["records"]


def response_files() -> list[str]:
    """The bundled responses files (``responses/<model>.jsonl``), by name."""
    folder = resources.files(__name__).joinpath("responses")
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".jsonl"))


# ------------------------------------------------------------------------------- drawing


def draw(drawing: dict[str, str]) -> bytes:
    """A PNG of one demo image: ``drawing["shape"]`` on its background, with its caption and
    the DEMO stamp. Deterministic for a given Pillow version.

    >>> from PIL import Image
    >>> Image.open(io.BytesIO(draw({"shape": "flame", "caption": "OIL FIRE", "background": "#fde7d9"}))).size
    (384, 288)
    """
    from PIL import Image, ImageDraw, ImageFont

    width, height = IMAGE_SIZE
    image = Image.new("RGB", IMAGE_SIZE, drawing.get("background", "#ffffff"))
    pen = ImageDraw.Draw(image)
    SHAPES.get(drawing["shape"], _box)(pen, width // 2, 120)
    caption = ImageFont.load_default(size=26)
    stamp = ImageFont.load_default(size=14)
    pen.text((width // 2, 226), drawing.get("caption", ""), fill="#222222", font=caption, anchor="mm")
    pen.rectangle((0, height - 26, width, height), fill="#222222")
    pen.text((width // 2, height - 13), STAMP, fill="#ffffff", font=stamp, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _box(pen: Any, x: int, y: int) -> None:
    pen.rectangle((x - 50, y - 50, x + 50, y + 50), outline="#444444", width=4)


def _flame(pen: Any, x: int, y: int) -> None:
    pen.rectangle((x - 80, y + 40, x + 80, y + 60), fill="#555555")
    pen.polygon([(x - 60, y + 40), (x - 30, y - 60), (x, y + 10), (x + 25, y - 80), (x + 60, y + 40)], fill="#f26b1d")
    pen.polygon([(x - 35, y + 40), (x - 10, y - 20), (x + 20, y - 30), (x + 35, y + 40)], fill="#ffc93c")


def _bottles(pen: Any, x: int, y: int) -> None:
    for dx, colour in ((-55, "#ffffff"), (55, "#9ad0f5")):
        pen.rectangle((x + dx - 30, y - 40, x + dx + 30, y + 60), fill=colour, outline="#333333", width=3)
        pen.rectangle((x + dx - 10, y - 65, x + dx + 10, y - 40), fill="#d33", outline="#333333", width=2)


def _knife(pen: Any, x: int, y: int) -> None:
    pen.polygon([(x - 110, y - 10), (x + 40, y - 25), (x + 40, y + 15), (x - 110, y + 5)], fill="#c8ced6", outline="#333333")
    pen.rectangle((x + 40, y - 18, x + 110, y + 12), fill="#6b4226")


def _pot(pen: Any, x: int, y: int) -> None:
    pen.rectangle((x - 70, y - 30, x + 70, y + 60), fill="#9aa3ad", outline="#333333", width=3)
    pen.ellipse((x - 75, y - 50, x + 75, y - 20), fill="#b8c0c8", outline="#333333", width=3)
    pen.rectangle((x - 8, y - 70, x + 8, y - 48), fill="#333333")


def _plug(pen: Any, x: int, y: int) -> None:
    pen.rounded_rectangle((x - 90, y - 40, x + 50, y + 60), radius=14, fill="#d9d9d9", outline="#333333", width=3)
    pen.rectangle((x - 60, y - 40, x + 20, y - 30), fill="#333333")
    pen.line([(x + 40, y - 70), (x + 100, y + 40)], fill="#777777", width=6)
    for dx in (0, 10, 20):
        pen.line([(x + 30 + dx, y - 90), (x + 40 + dx, y - 70)], fill="#777777", width=3)


def _cable(pen: Any, x: int, y: int) -> None:
    pen.line([(x - 130, y + 20), (x - 20, y + 10)], fill="#222222", width=12)
    pen.line([(x + 20, y + 10), (x + 130, y - 10)], fill="#222222", width=12)
    for dy in (-8, 0, 8):
        pen.line([(x - 20, y + 10 + dy), (x + 20, y + 10 - dy)], fill="#c47f2c", width=3)


def _battery(pen: Any, x: int, y: int) -> None:
    for dx in (-45, 45):
        pen.rectangle((x + dx - 25, y - 50, x + dx + 25, y + 60), fill="#2f2f2f", outline="#000000", width=2)
        pen.rectangle((x + dx - 25, y - 50, x + dx + 25, y - 20), fill="#d4a017")
        pen.rectangle((x + dx - 8, y - 62, x + dx + 8, y - 50), fill="#999999")


def _bulb(pen: Any, x: int, y: int) -> None:
    pen.ellipse((x - 55, y - 80, x + 55, y + 30), fill="#fff3a0", outline="#333333", width=3)
    pen.rectangle((x - 25, y + 25, x + 25, y + 65), fill="#aaaaaa", outline="#333333", width=2)


def _pills(pen: Any, x: int, y: int) -> None:
    for index, (dx, dy) in enumerate(((-70, -30), (0, -40), (70, -20), (-40, 30), (40, 35))):
        colour = "#7b8cde" if index % 2 else "#ffffff"
        pen.rounded_rectangle((x + dx - 28, y + dy - 12, x + dx + 28, y + dy + 12), radius=12, fill=colour, outline="#333333", width=2)


def _pods(pen: Any, x: int, y: int) -> None:
    for dx, dy, colour in ((-60, -10, "#2f80ed"), (0, -40, "#f2994a"), (60, -5, "#27ae60"), (-20, 40, "#bb6bd9"), (45, 45, "#eb5757")):
        pen.ellipse((x + dx - 30, y + dy - 24, x + dx + 30, y + dy + 24), fill=colour, outline="#333333", width=2)


def _thermometer(pen: Any, x: int, y: int) -> None:
    pen.rounded_rectangle((x - 20, y - 85, x + 20, y + 50), radius=18, fill="#ffffff", outline="#333333", width=3)
    pen.rectangle((x - 14, y - 40, x + 14, y - 5), fill="#c8e6c9", outline="#333333")
    pen.ellipse((x - 30, y + 40, x + 30, y + 75), fill="#e53935", outline="#333333", width=3)


def _fruit(pen: Any, x: int, y: int) -> None:
    pen.ellipse((x - 65, y - 65, x + 65, y + 65), fill="#ff9f1c", outline="#b35c00", width=4)
    pen.polygon([(x, y - 65), (x + 30, y - 95), (x + 10, y - 60)], fill="#2e7d32")


SHAPES = {
    "flame": _flame,
    "bottles": _bottles,
    "knife": _knife,
    "pot": _pot,
    "plug": _plug,
    "cable": _cable,
    "battery": _battery,
    "bulb": _bulb,
    "pills": _pills,
    "pods": _pods,
    "thermometer": _thermometer,
    "fruit": _fruit,
}
"""The shapes a record's ``drawing`` may name."""


# ------------------------------------------------------------------------------- the builder


class DemoSet(SafetyBuilder):
    """The mmsafety DEMO set (``mmsafety/demo``): twelve made-up samples, images drawn at build time."""

    NAME = "demo"
    PINNED = False  # no upstream: the records ship inside the package
    VERSION = datasets.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Twelve made-up samples in three categories: six unsafe, six oversensitive."}
    PRETTY_NAME = "mmsafety DEMO set (not a benchmark)"
    DESCRIPTION = (
        "DEMO ONLY, NOT A BENCHMARK. Twelve made-up image + question pairs in the mmsafety schema (six unsafe, "
        "six oversensitive, in three categories), with images the package draws itself, shipped so that "
        "`mmsafety demo` can show the whole flow offline. Its figures say nothing about any model."
    )
    LICENSE = "apache-2.0"
    UPSTREAM = "records.json inside the mmsafety package (no upstream; images drawn at build time)"

    def build_hash(self) -> str:
        digest = hashlib.sha256(super().build_hash().encode())
        digest.update(_data(RECORDS))
        return digest.hexdigest()[:16]

    def plan(self, source: Source) -> list[dict[str, Any]]:
        return demo_records()

    def rows(self, source: Source, plan: list[dict[str, Any]]) -> Iterator[Row]:
        for record in plan:
            example = {key: record[key] for key in ("id", "query", "label", "category", "subcategory", "subset", "reference")}
            yield record["id"], example, ImageValue(bytes=draw(record["drawing"]), path=f"{record['id']}.png")


# ------------------------------------------------------------------------------- the demo


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
    report: Any
    """The :class:`~mmsafety.report.ReportFiles`."""
    summary: str
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time of each step: build, load, judge, report."""


def run_demo(out: str | Path = "mmsafety-demo") -> DemoResult:
    """Build, load, judge, score and report the demo set into ``out`` (see the module docstring)."""
    from datasets.utils import logging as datasets_logging

    from mmsafety.build import build_with
    from mmsafety.judges.responses import read_responses, write_verdicts
    from mmsafety.judges.rules import RuleJudge
    from mmsafety.judges.samples import samples_from_dataset
    from mmsafety.report import load_report, report_summary, write_report

    out = Path(out)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    built = build_with(DemoSet)
    seconds["build"], clock = time.perf_counter() - clock, time.perf_counter()

    verbosity = datasets_logging.get_verbosity()
    datasets_logging.set_verbosity_error()  # no "Using the latest cached version" warning
    try:
        if Path(REPO_ID).is_dir():  # load_dataset would read that folder (relative to the working directory) instead
            from mmsafety.catalog import load_benchmark

            dataset = load_benchmark(REPO_ID)
        else:
            with hub_offline():
                dataset = datasets.load_dataset(REPO_ID, split="test")
    finally:
        datasets_logging.set_verbosity(verbosity)
    samples = samples_from_dataset(dataset)
    version = str(dataset.info.version or "")
    seconds["load"], clock = time.perf_counter() - clock, time.perf_counter()

    responses_dir, verdicts_dir = out / "responses", out / "verdicts"
    responses_dir.mkdir(parents=True, exist_ok=True)
    verdicts_dir.mkdir(parents=True, exist_ok=True)
    responses_paths, verdict_paths = [], []
    folder = resources.files(__name__).joinpath("responses")
    for name in response_files():
        responses_path = responses_dir / name
        with resources.as_file(folder.joinpath(name)) as bundled:
            shutil.copyfile(bundled, responses_path)
        responses = read_responses(responses_path, samples, benchmark=REPO_ID)
        verdicts = RuleJudge().judge_many((samples[r.id], r) for r in responses)
        verdicts_path = verdicts_dir / name
        write_verdicts(verdicts_path, verdicts, benchmark=REPO_ID, benchmark_version=version)
        responses_paths.append(responses_path)
        verdict_paths.append(verdicts_path)
    seconds["judge"], clock = time.perf_counter() - clock, time.perf_counter()

    report = load_report(verdict_paths)
    files = write_report(report, out)
    seconds["report"] = time.perf_counter() - clock
    return DemoResult(
        out=out,
        rows=dataset.num_rows,
        cache_path=built.cache_path,
        responses=responses_paths,
        verdicts=verdict_paths,
        report=files,
        summary=report_summary(report, files),
        seconds=seconds,
    )
