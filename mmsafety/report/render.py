"""Rendering the report: Markdown, a self-contained HTML page, and a LaTeX (booktabs) table.

- :func:`to_markdown`: GitHub-flavoured Markdown; charts linked by file name (the PNG beside it).
- :func:`to_html`: the package's template (``templates/report.html``) with every chart embedded
  as an SVG data URL, so the page alone holds everything (no relative link).
- :func:`to_latex`: one ``table`` per benchmark, each run's headline rates with their intervals,
  ready for ``\\input`` in a document that loads ``booktabs``.
"""

from __future__ import annotations

import base64
import html
import re
import string
from collections.abc import Sequence
from importlib import resources

from mmsafety import __version__
from mmsafety.report.document import (
    Block,
    Code,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    percent,
)
from mmsafety.data.configs import described
from mmsafety.report.charts import slug
from mmsafety.report.load import BenchmarkResults, SafetyReport
from mmsafety.scoring import RateValue
from mmsafety.report.rate_cells import rate_title


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(document: Document) -> str:
    """The document as Markdown."""
    lines = [f"# {document.title}", ""]
    for block in document.blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Table):
            lines.append("| " + " | ".join(_md_cell(h) for h in block.headers) + " |")
            lines.append("|" + "|".join("---" for _ in block.headers) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            lines.append("")
        elif isinstance(block, Figure):
            others = ", ".join(f"[{kind.upper()}]({path.name})" for kind, path in block.files.items() if kind != "png")
            lines += [f"![{block.alt}]({block.files['png'].name})", "", f"{block.alt} ({others})" if others else block.alt, ""]
        elif isinstance(block, Code):
            lines += ["```", block.text, "```", ""]
    return "\n".join(lines)


def _inline_html(text: str) -> str:
    escaped = html.escape(text, quote=False)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


def _embedded(figure: Figure) -> str:
    """The figure as an ``<img>`` holding its SVG (or PNG) as a data URL."""
    kind, mime = ("svg", "image/svg+xml") if "svg" in figure.files else ("png", "image/png")
    data = base64.b64encode(figure.files[kind].read_bytes()).decode("ascii")
    return f'<img src="data:{mime};base64,{data}" alt="{html.escape(figure.alt)}">'


def _html_blocks(blocks: Sequence[Block]) -> list[str]:
    parts = []
    for block in blocks:
        if isinstance(block, Heading):
            parts.append(f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            parts.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in block.headers)
            body = "\n".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            parts.append(f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>")
        elif isinstance(block, Figure):
            parts.append(f"<figure>{_embedded(block)}<figcaption>{_inline_html(block.alt)}</figcaption></figure>")
        elif isinstance(block, Code):
            parts.append(f"<pre>{html.escape(block.text)}</pre>")
    return parts


def to_html(document: Document) -> str:
    """The document in the package's HTML template, charts embedded."""
    template = string.Template(resources.files("mmsafety.report").joinpath("templates/report.html").read_text(encoding="utf-8"))
    return template.substitute(title=html.escape(document.title), body="\n".join(_html_blocks(document.blocks)),
                               version=html.escape(__version__))


# ------------------------------------------------------------------------------ LaTeX

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    r"""Text safe in LaTeX's text mode.

    >>> latex_escape("50% of my_model & co")
    '50\\% of my\\_model \\& co'
    """
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def _latex_rate(rate: RateValue | None, decimals: int = 1) -> str:
    if rate is None or rate.value is None:
        return "--"
    cell = percent(rate.value, decimals)
    low, high = rate.ci_low, rate.ci_high
    if low is not None and high is not None:
        cell += rf" {{\scriptsize[{percent(low, decimals)}, {percent(high, decimals)}]}}"
    return cell


FIT_COLUMN = r"\resizebox{\ifdim\width>\columnwidth\columnwidth\else\width\fi}{!}{%"
"""Opens the box that shrinks a table wider than the column to its width (and leaves a narrower one as it is)."""


def table_label(results: BenchmarkResults) -> str:
    """``tab:mmsafety-mmsafeaware`` (``-full`` for that configuration; a custom set: its repo id as a slug)."""
    return f"tab:mmsafety-{slug(results.key)}"


def to_latex(report: SafetyReport) -> str:
    """One booktabs table per benchmark: runs by headline rate, percent with the interval, shrunk to
    the column's width where it is wider (``\\resizebox``, from graphicx)."""
    level = f"{100 * report.confidence:g}"
    parts = [f"% Written by mmsafety {__version__}. Needs \\usepackage{{booktabs}} and \\usepackage{{graphicx}}; "
             "\\input{results} where the table goes."]
    for results in report.benchmarks:
        names = results.headline
        caption = (f"Results on {latex_escape(described(results.benchmark, results.config))} ({latex_escape(results.policy)} policy), "
                   f"in percent with {level}\\% intervals in brackets.")
        parts += [
            "\\begin{table}[t]",
            "\\centering",
            "\\small",
            FIT_COLUMN,
            f"\\begin{{tabular}}{{l{'r' * len(names)}}}",
            "\\toprule",
            " & ".join(["Model", *(latex_escape(rate_title(n)) for n in names)]) + r" \\",
            "\\midrule",
        ]
        for run in results.runs:
            parts.append(" & ".join([latex_escape(run.label), *(_latex_rate(run.score.rates.get(n)) for n in names)]) + r" \\")
        parts += ["\\bottomrule", "\\end{tabular}}", f"\\caption{{{caption}}}", f"\\label{{{table_label(results)}}}", "\\end{table}", ""]
    return "\n".join(parts)
