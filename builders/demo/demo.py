"""The DEMO set: the whole flow in seconds, with nothing downloaded.

:class:`DemoSet` is a :class:`~mmsafety.data.builder.SafetyBuilder` like the benchmarks' builders:
twelve made-up samples in the shared schema (``records.json`` beside this module: six
``unsafe``, six ``oversensitive``, in three categories), whose images the package draws
itself with Pillow at build time (a shape, a caption and a "DEMO" stamp). It registers as
``mmsafety/demo``. It is **a demo, not a benchmark**: its figures say nothing about any model.
(This package is ``mmsafety.builders.demo``, not ``mmsafety.demo``: a folder ``mmsafety/demo`` in a
checkout would be what ``load_dataset("mmsafety/demo")`` loads when run from its root.)

:func:`mmsafety.demo.run_demo` builds it, judges the two bundled demo models' responses
(``responses/*.jsonl``) and writes the report.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from importlib import resources
from typing import Any

import datasets

from mmsafety.data.builder import Row, SafetyBuilder
from mmsafety.data.images import ImageValue
from mmsafety.data.sources import Source

REPO_ID = "mmsafety/demo"
RECORDS = "records.json"
IMAGE_SIZE = (384, 288)
STAMP = "DEMO - not a benchmark"


def _data(name: str) -> bytes:
    return resources.files(__package__).joinpath(name).read_bytes()


def demo_records() -> list[dict[str, Any]]:
    """The demo set's records, as ``records.json`` holds them (with their ``drawing``)."""
    return json.loads(_data(RECORDS))["records"]


def response_files() -> list[str]:
    """The bundled responses files (``responses/<model>.jsonl``), by name."""
    folder = resources.files(__package__).joinpath("responses")
    return sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".jsonl"))


def label_files() -> list[str]:
    """The bundled human label files (``labels/<model>-human.jsonl``: human verdict files, as
    ``mmsafety label`` writes them, of every response of one demo model), by name."""
    folder = resources.files(__package__).joinpath("labels")
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
    COUNTS = {"default": {"label": {"unsafe": 6, "oversensitive": 6}, "subset": {"unsafe": 6, "benign": 6}}}
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
