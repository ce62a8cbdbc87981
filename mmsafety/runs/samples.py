"""The samples a judge needs, read from a built benchmark.

:func:`load_samples` reads the text columns of every row at once and leaves the
images in the Arrow file, to be read one by one only when a judge asks for them.

>>> bench = load_samples("salad")  # doctest: +SKIP
>>> bench.samples["12"].label  # doctest: +SKIP
'unsafe'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import datasets

from mmsafety.data.catalog import load_benchmark
from mmsafety.runs.records import Sample
from mmsafety import benchmarks

SHARED_TEXT_COLUMNS = ("id", "query", "category", "subcategory", "subset", "reference")


@dataclass(frozen=True)
class Benchmark:
    """A built benchmark as judges see it: its name, repo id, version and samples by id."""

    name: str
    repo: str
    version: str
    samples: Mapping[str, Sample]


def _read_image(table: datasets.Dataset, index: int) -> bytes | None:
    value = table[index]["image"]
    if value is None:
        return None
    if value.get("bytes") is not None:
        return bytes(value["bytes"])
    path = value.get("path")
    if path:
        with open(path, "rb") as handle:
            return handle.read()
    return None


def samples_from_dataset(dataset: datasets.Dataset) -> dict[str, Sample]:
    """Samples by id from a dataset in the shared schema (images read lazily)."""
    label_feature = dataset.features["label"]
    extras = [
        name
        for name, feature in dataset.features.items()
        if name not in SHARED_TEXT_COLUMNS + ("image", "label")
        and isinstance(feature, datasets.Value)
        and feature.dtype in ("string", "large_string")
    ]
    text = dataset.select_columns([*SHARED_TEXT_COLUMNS, "label", *extras]).to_dict()
    images = None
    if "image" in dataset.column_names:
        images = dataset.select_columns(["image"]).cast_column("image", datasets.Image(decode=False))
    samples: dict[str, Sample] = {}
    for index, sample_id in enumerate(text["id"]):
        label = text["label"][index]
        samples[str(sample_id)] = Sample(
            id=str(sample_id),
            label=label_feature.int2str(label) if isinstance(label, int) else str(label),
            query=text["query"][index] or "",
            reference=text["reference"][index] or "",
            category=text["category"][index] or "",
            subcategory=text["subcategory"][index] or "",
            subset=text["subset"][index] or "",
            extras={name: text[name][index] or "" for name in extras},
            image_loader=partial(_read_image, images, index) if images is not None else None,
        )
    return samples


def load_samples(name: str) -> Benchmark:
    """Load a built benchmark (``"salad"`` or a repo id) for judging.

    Raises :class:`mmsafety.errors.NotBuiltError` naming the build command when it is
    not in the local cache.
    """
    dataset = load_benchmark(name)
    repo = benchmarks.repo_id(name)
    version = str(dataset.info.version) if dataset.info.version is not None else ""
    return Benchmark(name=name, repo=repo, version=version, samples=samples_from_dataset(dataset))
