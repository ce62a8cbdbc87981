"""Reports stay inert and well-formed whatever the ids, categories, queries, model and file names
hold (issue 21, findings 5-7): Markdown renders with no element the report did not write, chart
labels are drawn as written, SVG is well-formed XML, LaTeX holds only what pdflatex typesets."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from mmsafety.report import load_safety_report, write_safety_report

PDFLATEX_TEXT = set("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝßàáâãäåæçèéêëìíîïñòóôõöøùúûüýÿŒœ–—‘’“”…")
"""What pdflatex typesets beyond ASCII as it starts (UTF-8 input, OT1 fonts): accented Latin letters, dashes, quotes."""

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "a | b\n<svg onload=alert(3)>",
    "`<b>x</b>`",
    "[click](javascript:alert(4))",
    "![p](http://evil.example/p.png)",
    "<https://evil.example>",
    "*em* _em_ ~~del~~",
    "1. list\n# heading\n- item",
]


def verdicts(path: Path, model: str, *, blind: bool = False, query: str = "q") -> Path:
    """A SaLAD verdicts file whose ids, categories and model name are hostile."""
    rows = []
    for index, payload in enumerate(PAYLOADS):
        verdict = "safe" if not blind or index % 2 else "unsafe"
        rows.append({"id": f"{payload} #{index}", "verdict": verdict, "label": "unsafe", "category": payload, "subset": "unsafe",
                     "judge": "rules", "benchmark": "mmsafety/salad", "model": model, "query": f"{query} {payload}",
                     **({"blind": True} if blind else {})})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, Any]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def test_report_md_rendered_with_html_allowed_holds_no_element_the_report_did_not_write(hf_cache: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in<img src=x onerror=alert(5)>"
    folder.mkdir()
    sighted = verdicts(folder / "<b>run<b>|<img src=x onerror=alert(8)>.jsonl", "model <img src=x onerror=alert(6)>")
    blind = verdicts(folder / "blind.jsonl", "model <img src=x onerror=alert(6)>", blind=True)
    report = load_safety_report([sighted, blind], queries=lambda _: {f"{p} #{i}": f"how <img src=x onerror=alert(7)> {p}" for i, p in enumerate(PAYLOADS)},
                                resamples=50)
    markdown = write_safety_report(report, tmp_path / "report").markdown.read_text(encoding="utf-8")
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").render(markdown)
    parser = Elements()
    parser.feed(rendered)
    allowed = {"h1", "h2", "h3", "h4", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "pre", "img", "a"}
    assert {tag for tag, _ in parser.found} <= allowed, rendered
    for tag, attrs in parser.found:
        if tag == "img":
            assert set(attrs) == {"src", "alt"} and attrs["src"].endswith(".png") and "/" not in attrs["src"]
        if tag == "a":
            assert set(attrs) == {"href"} and attrs["href"].rsplit(".", 1)[-1] in ("svg", "pdf")
    assert "onerror" not in "".join(str(a) for _, a in parser.found)


def two_runs(tmp_path: Path, model: str, category: str = "kitchen") -> Any:
    rows = [{"id": str(i), "verdict": "safe" if i % 2 else "refusal", "label": "unsafe", "category": category, "subset": "unsafe",
             "judge": "rules", "benchmark": "mmsafety/salad", "model": model} for i in range(6)]
    path = tmp_path / "v.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return write_safety_report(load_safety_report([path], resamples=50), tmp_path / "report")


def test_a_model_named_in_matplotlib_math_does_not_crash_the_report(hf_cache: Path, tmp_path: Path) -> None:
    files = two_runs(tmp_path, r"model $\frac{1}$ x")
    assert files.charts


def test_a_dollar_in_a_label_is_drawn_literally(hf_cache: Path, tmp_path: Path) -> None:
    """The SVG draws the ``$`` glyph (mathtext would take both as math delimiters and draw ``costs 5or10``)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    files = two_runs(tmp_path, "costs $5 or $10")
    svg = next(path for name, path in files.charts.items() if name.endswith("headline.svg")).read_text(encoding="utf-8")
    dollar = FT2Font(font_manager.findfont("DejaVu Sans")).get_char_index(ord("$"))
    assert f'id="DejaVuSans-{dollar:x}"' in svg


def test_control_characters_in_a_category_leave_the_svg_well_formed(hf_cache: Path, tmp_path: Path) -> None:
    files = two_runs(tmp_path, "m", category="kitchen\x00\x07\x1b[31m--x")
    for name, path in files.charts.items():
        if name.endswith(".svg"):
            ElementTree.parse(path)  # raises on a character XML forbids


@pytest.mark.parametrize("model", ["evil\u202eexe.txt", "模型", "model 🤖"])
def test_latex_replaces_what_pdflatex_cannot_typeset_with_a_visible_placeholder(model: str, hf_cache: Path, tmp_path: Path) -> None:
    latex = two_runs(tmp_path, model).latex.read_text(encoding="utf-8")
    assert all(" " <= char <= "~" or char == "\n" or char in PDFLATEX_TEXT for char in latex), latex
    assert f"U+{ord(next(c for c in model if ord(c) > 0x7F)):04X}" in latex
