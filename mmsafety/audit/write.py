"""The audit's outputs: ``audit.json`` (everything), ``audit.md`` (for people), a printed summary."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from mmsafety.data.outdir import prepare_output_dir
from mmsafety.errors import list_ids

MD_LIST = 50
"""Items listed per finding in audit.md (audit.json has them all)."""


def write_audit(report: dict[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write ``audit.json`` and ``audit.md`` into the folder ``out``; returns their paths.

    The folder follows :mod:`mmsafety.data.outdir`'s rule: a new or empty folder, or an
    earlier audit (its files replaced, stale ones removed); anything else is refused, naming it.
    """
    with prepare_output_dir(out, "audit") as folder:
        _write(folder.file("audit.json"), json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        _write(folder.file("audit.md"), markdown(report))
    return Path(out) / "audit.json", Path(out) / "audit.md"


def default_out(target: str | Path) -> Path:
    """The folder ``mmsafety audit`` writes into when given no ``--out``: ``audit-<name>``.

    >>> default_out("mmsafety/salad"), default_out("exports/my-set/"), default_out("a b/set.parquet")
    (PosixPath('audit-salad'), PosixPath('audit-my-set'), PosixPath('audit-set'))
    """
    path = Path(str(target).rstrip("/\\") or "/")
    name = path.name if path.name not in ("", ".", "..") else path.resolve().name
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name.removesuffix(".parquet")).strip("-.")
    return Path(f"audit-{name or 'set'}")


def _write(path: Path, text: str) -> None:
    """Write ``text`` whole or not at all (a reader never sees half a report)."""
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(partial, 0o666 & ~_umask())
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def summary(report: dict[str, Any]) -> str:
    """The few lines the command prints."""
    data, integrity, dups, leak = report["dataset"], report["integrity"], report["duplicates"], report["leakage"]
    near = dups["near"]
    seconds = sum(report["timings"].values())
    lines = [
        f"Audited {data['target']} ({data['kind']}, {data['rows']:,} rows) in {seconds:.1f} s",
        "  integrity:  "
        + ", ".join(
            f"{len(integrity[key])} {name}"
            for key, name in (
                ("unreadable_images", "unreadable images"),
                ("truncated_images", "truncated images"),
                ("format_mismatches", "format/extension mismatches"),
                ("empty_queries", "empty queries"),
                ("duplicate_ids", "duplicate ids"),
                ("near_identical_ids", "near-identical ids"),
                ("unknown_labels", "unknown labels"),
            )
        ),
        f"  duplicates: {len(dups['exact'])} exact (query, image) groups{_ids(dups['exact'])}; "
        f"{len(dups['identical_images_different_labels'])} identical images under different labels; "
        f"{near['count']:,} groups of near-duplicate images (phash distance <= {near['threshold']})",
        f"  balance:    {_counts(report['balance']['labels'])}; {len(report['balance']['by_category'])} categories",
        f"  leakage:    {_leak(leak)}",
    ]
    return "\n".join(lines)


def _ids(groups: list[dict[str, Any]], limit: int = 10) -> str:
    if not groups:
        return ""
    shown = ", ".join("/".join(g["ids"]) for g in groups[:limit])
    return f" ({shown}{', ...' if len(groups) > limit else ''})"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{label} {count:,}" for label, count in counts.items()) or "no rows"


def _leak(leak: dict[str, Any]) -> str:
    if leak["status"] != "done":
        return f"skipped: {leak['reason']}"
    low, high = leak["ci95"]
    return f"text-only ROC-AUC {leak['roc_auc']:.3f} (95% CI {low:.3f}-{high:.3f}): {leak['reading']}"


def markdown(report: dict[str, Any]) -> str:
    """``audit.md``."""
    data, integrity, dups, balance, leak = (report[k] for k in ("dataset", "integrity", "duplicates", "balance", "leakage"))
    near = dups["near"]
    lines = [
        f"# Audit of {data['target']}",
        "",
        f"{data['rows']:,} rows ({data['kind']}), audited with mmsafety {report['mmsafety']}. "
        "Every finding is listed in full in `audit.json`.",
        "",
        "| check | found |",
        "|---|---|",
        f"| unreadable images | {len(integrity['unreadable_images'])} |",
        f"| truncated images | {len(integrity['truncated_images'])} |",
        f"| format/extension mismatches | {len(integrity['format_mismatches'])} |",
        f"| empty or whitespace-only queries | {len(integrity['empty_queries'])} |",
        f"| duplicate ids | {len(integrity['duplicate_ids'])} |",
        f"| ids equal but for case, whitespace or Unicode form | {len(integrity['near_identical_ids'])} groups |",
        f"| labels outside the vocabulary | {len(integrity['unknown_labels'])} |",
        f"| exact (query, image) duplicates | {len(dups['exact'])} groups |",
        f"| identical images under different labels | {len(dups['identical_images_different_labels'])} groups |",
        f"| near-duplicate images (phash distance <= {near['threshold']}) | {near['count']:,} groups |",
        f"| text-only ROC-AUC (leakage) | {_auc_cell(leak)} |",
        "",
        "## Integrity",
        "",
        *_section("Unreadable images", [f"id {i['id']} (`{i['path']}`): {i['problem']}" for i in integrity["unreadable_images"]]),
        *_section("Truncated images", [f"id {i['id']} (`{i['path']}`): {i['problem']}" for i in integrity["truncated_images"]]),
        *_section(
            "Format/extension mismatches",
            [f"id {i['id']}: `{i['path']}` holds a {i['format']} image" for i in integrity["format_mismatches"]],
        ),
        *_section("Empty or whitespace-only queries", [f"ids {list_ids(integrity['empty_queries'], limit=200)}"] if integrity["empty_queries"] else []),
        *_section("Duplicate ids", [f"id {d['id']} at rows {', '.join(map(str, d['rows']))}" for d in integrity["duplicate_ids"]]),
        *_section("Ids equal but for case, whitespace or Unicode form", [" / ".join(repr(i) for i in ids) for ids in integrity["near_identical_ids"]]),
        *_section("Labels outside the vocabulary", [f"id {d['id']}: {d['label']!r}" for d in integrity["unknown_labels"]]),
        "## Duplicates",
        "",
        *_section("Exact (query, image) duplicates", [_group(g) for g in dups["exact"]]),
        *_section("Identical images under different labels", [_group(g) for g in dups["identical_images_different_labels"]]),
        f"{dups['identical_images']} image(s) are used by more than one row.",
        "",
        *_section(
            f"Near-duplicate images (perceptual hash, distance <= {near['threshold']} of 64 bits; identical bytes excluded)",
            [
                f"{g['images']} images, up to {g['max_distance']} bits apart, {len(g['ids'])} rows: {_group(g, limit=20)}"
                for g in near["groups"]
            ],
            total=near["count"],
        ),
        "## Balance",
        "",
        *_crosstab("category", balance["by_category"], list(balance["labels"])),
    ]
    if any(key for key in balance["by_subset"]):
        lines += _crosstab("subset", balance["by_subset"], list(balance["labels"]))
    if balance["single_label_categories"]:
        lines += [
            "Categories holding a single label (the category alone gives the label away): "
            + ", ".join(f"`{c or '(none)'}`" for c in balance["single_label_categories"]),
            "",
        ]
    lines += ["## Text leakage", "", *_leakage(leak), ""]
    return "\n".join(lines)


def _auc_cell(leak: dict[str, Any]) -> str:
    if leak["status"] != "done":
        return "skipped"
    return f"{leak['roc_auc']:.3f} (95% CI {leak['ci95'][0]:.3f}-{leak['ci95'][1]:.3f})"


def _group(group: dict[str, Any], limit: int | None = None) -> str:
    shown = list(zip(group["ids"], group["labels"]))[:limit]
    more = len(group["ids"]) - len(shown)
    return "ids " + ", ".join(f"{i} ({label})" for i, label in shown) + (f", ... ({more} more)" if more else "")


def _section(title: str, items: list[str], total: int | None = None) -> list[str]:
    total = len(items) if total is None else total
    lines = [f"### {title}: {total:,}", ""]
    if not items:
        return [*lines[:1], "", "None.", ""]
    lines += [f"- {item}" for item in items[:MD_LIST]]
    if total > min(len(items), MD_LIST):
        lines.append(f"- ... and {total - min(len(items), MD_LIST):,} more (see audit.json)")
    return [*lines, ""]


def _crosstab(name: str, table: dict[str, dict[str, int]], labels: list[str]) -> list[str]:
    lines = [f"| {name} | {' | '.join(labels)} | total |", "|---|" + "---:|" * (len(labels) + 1)]
    lines += [f"| {group or '(none)'} | {' | '.join(str(row[label]) for label in labels)} | {row['total']} |" for group, row in table.items()]
    return [*lines, ""]


def _leakage(leak: dict[str, Any]) -> list[str]:
    if leak["status"] != "done":
        return [f"Skipped: {leak['reason']}."]
    low, high = leak["ci95"]
    lines = [
        f"How well the label ({leak['target']}; {leak['unsafe']:,} unsafe, {leak['benign']:,} benign) can be told "
        f"from the query alone, without the image: ROC-AUC **{leak['roc_auc']:.3f}** (95% bootstrap CI {low:.3f}-{high:.3f}, "
        f"{leak['bootstrap']} resamples) — {leak['reading']}.",
        "",
        f"Model: {leak['model']}" + (f", fitted on {leak['sampled']}" if leak.get("sampled") else "")
        + ". 0.5 means the text says nothing about the label; 1.0 means the image is not needed.",
        "",
        "| towards unsafe | weight | unsafe / benign queries | towards benign | weight | unsafe / benign queries |",
        "|---|---:|---:|---|---:|---:|",
    ]
    for a, b in zip(leak["features"]["unsafe"], leak["features"]["benign"]):
        lines.append(
            f"| `{a['term']}` | {a['weight']:+.2f} | {a['unsafe_queries']} / {a['benign_queries']} "
            f"| `{b['term']}` | {b['weight']:+.2f} | {b['unsafe_queries']} / {b['benign_queries']} |"
        )
    return lines
