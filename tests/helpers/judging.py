"""Tiny benchmarks in the shared schema, registered in a temporary datasets cache, for
the judge tests: ``build_fixture(cache_dir, "salad", rows)`` makes ``load_benchmark("salad")``
(and ``load_dataset("mmsafety/salad")`` in a subprocess with ``HF_DATASETS_CACHE`` set) find them.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets
from PIL import Image

from mmsafety.schema import features

FIXTURE_VERSION = "1.0.0"


def png(seed: int, size: int = 8) -> bytes:
    """A small PNG whose pixels depend on ``seed``."""
    image = Image.new("RGB", (size, size), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def fixture_rows(name: str, count: int = 12) -> list[dict[str, Any]]:
    """``count`` rows shaped like benchmark ``name``'s (labels, subsets, extras)."""
    rows = []
    for index in range(count):
        if name == "mmsafeaware":
            subset = ("over-safety", "attack", "typical")[index % 3]
            label = "oversensitive" if subset == "over-safety" else "unsafe"
        elif name == "vlsbench":
            subset, label = "", "unsafe"
        else:
            label = "unsafe" if index % 2 == 0 else "oversensitive"
            subset = "unsafe" if label == "unsafe" else "safe"
        row: dict[str, Any] = {
            "id": str(index + 1),
            "image": {"bytes": png(index), "path": None},
            "query": f"Question {index + 1}: what should I do with the thing in the picture?",
            "label": label,
            "category": ("kitchen", "outdoors", "electricity")[index % 3],
            "subcategory": "",
            "subset": subset,
            "reference": f"Reference {index + 1}: the pan on the stove is hot and can burn you.",
        }
        if name == "vlsbench":
            row["image_description"] = f"A picture number {index + 1}."
        rows.append(row)
    return rows


class FixtureBenchmark(datasets.GeneratorBasedBuilder):
    """A builder over rows given in code (one ``test`` split, the shared schema)."""

    VERSION = datasets.Version(FIXTURE_VERSION)

    def __init__(self, *, rows: Sequence[dict[str, Any]], **kwargs: Any) -> None:
        self._rows = list(rows)
        super().__init__(**kwargs)

    def _info(self) -> datasets.DatasetInfo:
        extra_names = sorted(set(self._rows[0]) - {"id", "image", "query", "label", "category", "subcategory", "subset", "reference"})
        return datasets.DatasetInfo(features=features({n: datasets.Value("string") for n in extra_names}))

    def _split_generators(self, dl_manager: Any) -> list[datasets.SplitGenerator]:
        return [datasets.SplitGenerator(name=datasets.Split.TEST, gen_kwargs={})]

    def _generate_examples(self) -> Any:
        yield from enumerate(self._rows)


def build_fixture(cache_dir: str | Path, name: str = "salad", rows: Sequence[dict[str, Any]] | None = None, count: int = 12) -> list[dict[str, Any]]:
    """Register a fixture benchmark ``mmsafety/<name>`` in ``cache_dir``; returns its rows."""
    rows = list(rows) if rows is not None else fixture_rows(name, count)
    digest = hashlib.sha256(
        json.dumps([{k: v for k, v in r.items() if k != "image"} for r in rows], sort_keys=True).encode()
    ).hexdigest()[:16]
    builder = FixtureBenchmark(
        rows=rows, cache_dir=str(cache_dir), dataset_name=name, repo_id=f"mmsafety/{name}", hash=digest
    )
    builder.download_and_prepare()
    return rows


def write_responses(path: Path, items: Sequence[tuple[str, str]] | Sequence[dict[str, Any]]) -> Path:
    """Write a responses JSONL: ``(id, response)`` pairs or whole objects."""
    with path.open("w", encoding="utf-8") as handle:
        for item in items:
            record = item if isinstance(item, dict) else {"id": item[0], "response": item[1]}
            handle.write(json.dumps(record) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The objects of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def build_from_verdicts(cache_dir: str | Path, *paths: Path) -> None:
    """Build, for each benchmark the verdict files name, the set those verdicts judge (ids, labels,
    categories and subsets as the records have them), so that the files pass the checks against it."""
    by_benchmark: dict[str, dict[str, dict[str, Any]]] = {}
    for path in paths:
        for record in read_jsonl(path):
            rows = by_benchmark.setdefault(record.get("benchmark") or "mmsafety/salad", {})
            rows.setdefault(record["id"], {
                "id": record["id"], "image": {"bytes": png(len(rows)), "path": f"{record['id']}.png"},
                "query": record.get("query", "what is this?"), "label": record["label"], "category": record["category"],
                "subcategory": "", "subset": record["subset"], "reference": "",
            })
    for benchmark, rows in by_benchmark.items():
        build_fixture(cache_dir, benchmark.split("/", 1)[1], rows=list(rows.values()))
