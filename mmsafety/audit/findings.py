"""The audit's findings, from the facts of one scan: integrity, duplicates, balance."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from mmsafety.audit.duplicates import MAX_PAIRS, groups_of, near_pairs
from mmsafety.audit.scan import Scan, extension_mismatch
from mmsafety.labels import LABELS


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
        "unknown_labels": [{"id": key, "label": label} for key, label in zip(scan.ids, scan.labels) if label not in LABELS],
    }


def duplicates(scan: Scan, *, threshold: int, max_pairs: int = MAX_PAIRS) -> dict[str, Any]:
    """Exact (query, image) repeats, identical images under different labels, near-duplicate images."""
    shas = [facts.sha256 for facts in scan.images]
    exact = groups_of([None if sha is None else (query, sha) for query, sha in zip(scan.queries, shas)])
    same_image = groups_of(shas)
    mixed = [rows for rows in same_image if len({scan.labels[i] for i in rows}) > 1]

    rows, hashes = scan.phashes()
    found, total = near_pairs(hashes, threshold, max_pairs=max_pairs + _identical_pairs(same_image, rows))
    pairs = []
    for i, j, distance in found.tolist():
        a, b = int(rows[i]), int(rows[j])
        if shas[a] == shas[b]:
            continue  # identical bytes: an exact duplicate, not a near one
        if len(pairs) < max_pairs:
            pairs.append({"ids": [scan.ids[a], scan.ids[b]], "distance": distance, "labels": [scan.labels[a], scan.labels[b]]})
    count = total - _identical_pairs(same_image, rows)
    return {
        "exact": [_group(scan, g) for g in exact],
        "identical_images": len(same_image),
        "identical_images_different_labels": [_group(scan, g) for g in mixed],
        "near": {
            "threshold": threshold,
            "hashed_images": len(rows),
            "count": count,
            "listed": len(pairs),
            "different_labels": sum(p["labels"][0] != p["labels"][1] for p in pairs),
            "pairs": pairs,
        },
    }


def _identical_pairs(groups: list[list[int]], hashed_rows: np.ndarray) -> int:
    """Pairs of hashed rows whose bytes are identical (every such pair is at distance 0)."""
    hashed = set(hashed_rows.tolist())
    sizes = [sum(1 for row in group if row in hashed) for group in groups]
    return sum(size * (size - 1) // 2 for size in sizes)


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
