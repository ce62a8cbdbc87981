"""The audit's findings, from the facts of one scan: integrity, duplicates, balance."""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from mmsafety.audit.duplicates import MAX_GROUPS, components, groups_of, near_edges
from mmsafety.audit.scan import Scan, extension_mismatch
from mmsafety.labels import LABELS


WARNINGS = ("near_identical_ids",)
"""Integrity findings that are listed but are no error: ``audit --strict`` passes them."""


def strict_failures(report: dict[str, Any]) -> list[str]:
    """What ``audit --strict`` fails on, one phrase each (``2 duplicate_ids``): every integrity
    finding but the :data:`WARNINGS`, and exact (query, image) duplicates. Empty: it passes."""
    found = [f"{len(items)} {key}" for key, items in report["integrity"].items() if items and key not in WARNINGS]
    if report["duplicates"]["exact"]:
        found.append(f"{len(report['duplicates']['exact'])} exact (query, image) duplicate groups")
    return found


def integrity(scan: Scan) -> dict[str, Any]:
    """Unreadable and truncated images, format/extension mismatches, empty queries, duplicate ids, unknown labels."""
    unreadable, truncated, mismatched = [], [], []
    for key, path, facts in zip(scan.ids, scan.paths, scan.images):
        if facts.problem == "truncated":
            truncated.append({"id": key, "path": path, "problem": facts.detail})
        elif facts.problem is not None:
            unreadable.append({"id": key, "path": path, "problem": facts.detail})
        elif extension_mismatch(path, facts.format):
            mismatched.append({"id": key, "path": path, "format": facts.format})
    return {
        "unreadable_images": unreadable,
        "truncated_images": truncated,
        "format_mismatches": mismatched,
        "empty_queries": [key for key, query in zip(scan.ids, scan.queries) if not (query or "").strip()],
        "duplicate_ids": [{"id": scan.ids[rows[0]], "rows": rows} for rows in groups_of(scan.ids)],
        "near_identical_ids": near_identical_ids(scan.ids),
        "unknown_labels": [{"id": key, "label": label} for key, label in zip(scan.ids, scan.labels) if label not in LABELS],
    }


def near_identical_ids(ids: list[str]) -> list[list[str]]:
    """Groups of different ids that are one id but for case, surrounding whitespace or Unicode
    normalization (``café`` written NFC and NFD): easy to mix up, and some tools merge them.

    >>> near_identical_ids(["Case", " case", "x", "y", "y"])
    [['Case', ' case']]
    """
    distinct = list(dict.fromkeys(ids))
    keys = [unicodedata.normalize("NFC", key.strip()).casefold() for key in distinct]
    return [[distinct[i] for i in rows] for rows in groups_of(keys)]


def duplicates(scan: Scan, *, threshold: int, max_groups: int = MAX_GROUPS) -> dict[str, Any]:
    """Exact (query, image) repeats, identical images under different labels, near-duplicate image groups."""
    shas = [facts.sha256 for facts in scan.images]
    exact = groups_of([None if sha is None else (query, sha) for query, sha in zip(scan.queries, shas)])
    same_image = groups_of(shas)
    mixed = [rows for rows in same_image if len({scan.labels[i] for i in rows}) > 1]
    rows, hashes = scan.phashes()
    distinct, which = np.unique(hashes, return_inverse=True)
    edges = near_edges(distinct, threshold)
    component = components(len(distinct), edges)
    members: dict[int, list[int]] = defaultdict(list)
    for row, index in zip(rows.tolist(), which.tolist()):
        members[int(component[index])].append(row)
    widest: dict[int, int] = defaultdict(int)
    for i, _, distance in edges.tolist():
        widest[int(component[i])] = max(widest[int(component[i])], distance)
    groups = []
    for root, group_rows in members.items():
        images = {shas[row] for row in group_rows}
        if len(images) < 2:
            continue  # one image (identical bytes everywhere): an exact duplicate, not a near one
        group_rows.sort()
        groups.append({
            **_group(scan, group_rows),
            "images": len(images),
            "max_distance": widest[root],
            "different_labels": len({scan.labels[row] for row in group_rows}) > 1,
        })
    groups.sort(key=lambda g: (-g["images"], g["ids"][0]))
    return {
        "exact": [_group(scan, g) for g in exact],
        "identical_images": len(same_image),
        "identical_images_different_labels": [_group(scan, g) for g in mixed],
        "near": {
            "threshold": threshold,
            "hashed_images": len(rows),
            "distinct_hashes": len(distinct),
            "count": len(groups),
            "listed": min(len(groups), max_groups),
            "different_labels": sum(g["different_labels"] for g in groups),
            "groups": groups[:max_groups],
        },
    }


def _group(scan: Scan, rows: list[int]) -> dict[str, Any]:
    return {"ids": [scan.ids[i] for i in rows], "labels": [scan.labels[i] for i in rows]}


def balance(scan: Scan) -> dict[str, Any]:
    """Counts per label, and per label within each category and subset."""
    labels = Counter(scan.labels)
    order = [label for label in LABELS if label in labels] + sorted(set(labels) - set(LABELS))
    return {
        "labels": {label: labels[label] for label in order},
        "by_category": _crosstab(scan.categories, scan.labels, order),
        "by_subset": _crosstab(scan.subsets, scan.labels, order),
        "single_label_categories": sorted(
            category for category, row in _crosstab(scan.categories, scan.labels, order).items() if sum(1 for label in order if row[label]) == 1 and len(labels) > 1
        ),
    }


def _crosstab(groups: list[str], labels: list[str], order: list[str]) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for group, label in zip(groups, labels):
        table[group][label] += 1
    rows = sorted(table.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return {group: {**{label: counts[label] for label in order}, "total": sum(counts.values())} for group, counts in rows}
