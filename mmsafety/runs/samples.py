"""The samples a judge needs, read from a built benchmark.

:func:`load_samples` reads the text columns of every row at once and leaves the
images in the Arrow file, to be read one by one only when a judge asks for them.

An image is its embedded bytes. A row that holds only a path (a dataset built elsewhere)
is read through :func:`read_image_path`: only a regular file, an image by its header, not
too large and within Pillow's decompression-bomb limit; anything else
(``/etc/hostname``, a token file, ``/dev/zero``, a FIFO) raises
:class:`~mmsafety.runs.records.InvalidImage` without reading more than its first bytes, and
the run records that sample as ``invalid_image``.

>>> bench = load_samples("salad")  # doctest: +SKIP
>>> bench.samples["12"].label  # doctest: +SKIP
'unsafe'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import datasets

from mmsafety import benchmarks
from mmsafety.data import local_images
from mmsafety.data.catalog import load_benchmark
from mmsafety.data.configs import check_config
from mmsafety.data.images import image_value
from mmsafety.errors import InputError
from mmsafety.runs.records import InvalidImage, Sample

SHARED_TEXT_COLUMNS = ("id", "query", "category", "subcategory", "subset", "reference")


@dataclass(frozen=True)
class Benchmark:
    """A built benchmark as judges see it: its name, repo id, version and samples by id."""

    name: str
    repo: str
    version: str
    samples: Mapping[str, Sample]
    config: str = "default"
    """The configuration built and loaded (``load_dataset(repo, config)``)."""


def read_image_path(path: str) -> bytes:
    """The bytes of the image file at ``path``; :class:`InvalidImage` (saying why, never
    what the file holds) unless :func:`mmsafety.data.local_images.read_image_path` reads it
    (a regular file, not too large, an image by its header) and Pillow opens it within its
    decompression-bomb limit, complete."""
    try:
        data = local_images.read_image_path(path)
    except local_images.NotAnImageFile as error:
        raise InvalidImage(f"image path {path!r}: {error}") from None
    try:
        image_value(data, name=path, file=path, record="")
    except InputError as error:  # its words, not its description of the bytes
        if "decompression-bomb" in error.detail:
            why = "exceeds Pillow's decompression-bomb limit"
        elif "truncated" in error.detail:
            why = "a truncated image"
        else:
            why = "not an image Pillow can open"
        raise InvalidImage(f"image path {path!r}: {why}") from None
    return data


def _read_image(table: datasets.Dataset, index: int) -> bytes | None:
    value = table[index]["image"]
    if value is None:
        return None
    if value.get("bytes") is not None:
        return bytes(value["bytes"])
    path = value.get("path")
    return read_image_path(path) if path else None


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


def load_samples(name: str, config: str | None = None) -> Benchmark:
    """Load a built benchmark (``"salad"`` or a repo id) in its configuration ``config``
    (default: the benchmark's default) for judging.

    Raises :class:`mmsafety.errors.NotBuiltError` naming the build command when it is
    not in the local cache, :class:`~mmsafety.errors.InputError` for a configuration the
    benchmark does not offer.
    """
    config = check_config(name, config)
    dataset = load_benchmark(name, config=config)
    repo = benchmarks.repo_id(name)
    version = str(dataset.info.version) if dataset.info.version is not None else ""
    return Benchmark(name=name, repo=repo, version=version, samples=samples_from_dataset(dataset), config=config)
