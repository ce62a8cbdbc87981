"""One streaming pass over a set: the text columns, and what each image is.

Every image is checked as a build checks it (:func:`mmsafety.data.images.image_value`:
opens, known format, not cut short), its bytes hashed (sha256, for exact
duplicates) and, once per distinct image, its pixels decoded small for a perceptual hash
(``imagehash.phash``: 64 bits from the DCT of a 32x32 greyscale thumbnail; a JPEG is
decoded at a reduced scale with ``Image.draft``). Only these few facts per row stay
in memory; the image bytes go with their batch. An image column that holds paths is
read only where the path is a regular image file (:mod:`mmsafety.data.local_images`);
anything else is a finding, and nothing of that file is kept or written.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pyarrow as pa

from mmsafety.audit.inputs import AuditInput
from mmsafety.audit.settings import BATCH_SIZE
from mmsafety.errors import InputError
from mmsafety.data.images import EXTENSIONS, image_value
from mmsafety.data.local_images import NotAnImageFile, read_image_path

HASH_SIZE = 8
"""``imagehash.phash`` hash size: 8x8 = 64 bits."""
DRAFT_SIZE = 64
"""A JPEG is decoded at the smallest scale at least this large (phash then works on 32x32)."""


@dataclass(frozen=True)
class ImageFacts:
    """What one image is."""

    sha256: bytes | None
    format: str | None
    phash: int | None
    problem: str | None = None
    """``unreadable`` (no bytes, not an image Pillow opens, unsupported format) or ``truncated``."""
    detail: str = ""


@dataclass
class Scan:
    """The facts of every row, in row order."""

    ids: list[str] = field(default_factory=list)
    queries: list[str | None] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    subsets: list[str] = field(default_factory=list)
    paths: list[str | None] = field(default_factory=list)
    images: list[ImageFacts] = field(default_factory=list)
    seen: dict[bytes, ImageFacts] = field(default_factory=dict, repr=False)
    """Facts by sha256 of the distinct images met so far."""
    seconds_reading: float = 0.0
    seconds_images: float = 0.0

    def __len__(self) -> int:
        return len(self.ids)

    def phashes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, hashes)``: the rows that have a perceptual hash, and the hashes as uint64."""
        rows = np.array([i for i, facts in enumerate(self.images) if facts.phash is not None], dtype=np.int64)
        hashes = np.array([self.images[i].phash for i in rows], dtype=np.uint64)
        return rows, hashes


def inspect_image(data: bytes | None, path: str | None) -> ImageFacts:
    """The facts of one image (never raises for a bad image: the problem is a fact)."""
    if data is None and path:  # a dataset that stores paths, not bytes
        try:
            data = read_image_path(path)
        except NotAnImageFile as error:
            return ImageFacts(None, None, None, "unreadable", f"path not read: {error}")
    if not data:
        return ImageFacts(None, None, None, "unreadable", "no image bytes")
    return _inspect_bytes(data, hashlib.sha256(data).digest(), path)


def _inspect_bytes(data: bytes, digest: bytes, path: str | None) -> ImageFacts:
    import imagehash
    from PIL import Image

    try:
        image_value(data, name=path or "", file=None, record=None)
    except InputError as error:
        return ImageFacts(digest, None, None, "truncated" if "truncated" in error.detail else "unreadable", error.detail)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                image_format = image.format
                if image_format in ("JPEG", "MPO"):
                    image.draft("L", (DRAFT_SIZE, DRAFT_SIZE))
                bits = imagehash.phash(image, hash_size=HASH_SIZE).hash
    except (OSError, ValueError, SyntaxError) as error:
        return ImageFacts(digest, None, None, "truncated", f"pixel data cannot be decoded ({error})")
    return ImageFacts(digest, image_format, int.from_bytes(np.packbits(bits.ravel()).tobytes(), "big"))


def extension_mismatch(path: str | None, image_format: str | None) -> bool:
    """Whether the file name's extension is not one ``image_format`` is stored under.

    >>> extension_mismatch("images2/2037.png", "JPEG"), extension_mismatch("a.jpeg", "MPO"), extension_mismatch("a", "PNG")
    (True, False, False)
    """
    if not path or not image_format:
        return False
    suffix = PurePosixPath(path).suffix.lower()
    return bool(suffix) and suffix not in EXTENSIONS.get(image_format, frozenset())


def scan(source: AuditInput, *, batch_size: int = BATCH_SIZE, workers: int | None = None) -> Scan:
    """Read ``source`` batch by batch, keeping only the facts of each row."""
    workers = workers or min(4, os.cpu_count() or 1)
    result = Scan()
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        batches = iter(source.batches(batch_size))
        while True:
            started = time.perf_counter()
            batch = next(batches, None)
            result.seconds_reading += time.perf_counter() - started
            if batch is None:
                break
            started = time.perf_counter()
            _add(result, batch, source, pool)
            result.seconds_images += time.perf_counter() - started
    finally:
        if pool is not None:
            pool.shutdown()
    return result


def _add(result: Scan, batch: pa.Table | pa.RecordBatch, source: AuditInput, pool: ThreadPoolExecutor | None) -> None:
    names = source.label_names
    result.ids.extend("" if v is None else str(v) for v in batch.column("id").to_pylist())
    result.queries.extend(batch.column("query").to_pylist())
    labels = batch.column("label").to_pylist()
    result.labels.extend(_label(v, names) for v in labels)
    for column, into in (("category", result.categories), ("subset", result.subsets)):
        values = batch.column(column).to_pylist() if column in source.columns else [""] * batch.num_rows
        into.extend("" if v is None else str(v) for v in values)
    data, paths = _images(batch.column("image"))
    result.paths.extend(paths)
    digests = [None if item is None else hashlib.sha256(item).digest() for item in data]
    new: dict[bytes, tuple[bytes, str | None]] = {}  # each distinct image not met before, once
    for item, path, digest in zip(data, paths, digests):
        if digest is not None and digest not in result.seen and digest not in new:
            new[digest] = (item, path)
    run = pool.map if pool is not None else map
    result.seen.update(zip(new, run(_inspect_bytes, [d for d, _ in new.values()], list(new), [p for _, p in new.values()])))
    without_bytes = [row for row, digest in enumerate(digests) if digest is None]  # paths (or nothing) to read
    by_path = dict(zip(without_bytes, run(inspect_image, [None] * len(without_bytes), [paths[row] for row in without_bytes])))
    result.images.extend(result.seen[digest] if digest is not None else by_path[row] for row, digest in enumerate(digests))


def _label(value: object, names: list[str] | None) -> str:
    if isinstance(value, int) and names is not None and 0 <= value < len(names):
        return names[value]
    return "" if value is None else str(value)


def _images(column: pa.Array | pa.ChunkedArray) -> tuple[list[bytes | None], list[str | None]]:
    """The bytes and names of an image column: ``{bytes, path}`` structs, or plain binary."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_struct(column.type):
        names = [column.type.field(i).name for i in range(column.type.num_fields)]
        data = column.field("bytes").to_pylist() if "bytes" in names else [None] * len(column)
        paths = column.field("path").to_pylist() if "path" in names else [None] * len(column)
        return data, paths
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return column.to_pylist(), [None] * len(column)
    raise InputError(f"expected an image column of {{bytes, path}} structs or binary, found {column.type}", record="column 'image'")
