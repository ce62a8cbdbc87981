"""Reading upstream images as they are: original bytes, real format, checked.

An image goes into a dataset as ``{"bytes": ..., "path": ...}`` so ``datasets``
stores the upstream bytes untouched. Before that it is opened with Pillow (header
only, no pixel decoding) to learn its real format, which need not match its
extension, and checked for what would break a user later: a file Pillow cannot
open, one over Pillow's decompression-bomb limit, or one cut short.

>>> import io
>>> from PIL import Image
>>> buffer = io.BytesIO()
>>> Image.new("RGB", (2, 2)).save(buffer, "JPEG")
>>> value = image_value(buffer.getvalue(), name="1.png", file="images/1.png", record="id 1")
>>> value["path"], sniff_format(value["bytes"])
('1.png', 'JPEG')
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path
from typing import TypedDict

from PIL import Image, UnidentifiedImageError

from mmsafety.errors import InputError

FORMATS: frozenset[str] = frozenset({"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP"})
"""Image formats accepted into a dataset (those the benchmarks use, and their kin)."""

EXTENSIONS: dict[str, frozenset[str]] = {
    "JPEG": frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
    "MPO": frozenset({".jpg", ".jpeg", ".mpo"}),
    "PNG": frozenset({".png"}),
    "WEBP": frozenset({".webp"}),
    "GIF": frozenset({".gif"}),
    "BMP": frozenset({".bmp"}),
}
"""The file extensions each format is usually stored under."""


class ImageValue(TypedDict):
    """How an image is handed to ``datasets.Image``: its bytes and its upstream name."""

    bytes: bytes
    path: str


def sniff_format(data: bytes) -> str | None:
    """The real format of image bytes as Pillow reads it, or ``None``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.format
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return None


def _is_complete(image_format: str, data: bytes) -> bool:
    """Whether the bytes reach the end marker their format requires (no decoding)."""
    tail = data.rstrip(b"\x00\r\n\t ")
    if image_format in ("JPEG", "MPO"):
        return tail.endswith(b"\xff\xd9")
    if image_format == "GIF":
        return tail.endswith(b";")
    if image_format == "WEBP":
        (riff_size,) = struct.unpack("<I", data[4:8])
        return len(data) >= riff_size + 8
    if image_format == "BMP":
        (file_size,) = struct.unpack("<I", data[2:6])
        return len(data) >= file_size
    if image_format == "PNG":
        try:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()  # walks every chunk and checks its CRC, up to IEND
        except (OSError, SyntaxError, struct.error):
            return False
        return len(data) >= data.rfind(b"IEND") + 8  # verify() stops at IEND without reading its CRC
    return True


def image_value(data: bytes, *, name: str, file: object, record: object) -> ImageValue:
    """Check image bytes and return them for a ``datasets.Image`` column, unchanged.

    Raises :class:`InputError` naming ``file`` and ``record`` when Pillow cannot
    open the bytes, their format is not one of :data:`FORMATS`, the image has more
    pixels than ``PIL.Image.MAX_IMAGE_PIXELS``, or the file is cut short.
    """
    if not data:
        raise InputError("expected an image, found an empty file", file=file, record=record)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image_format, (width, height) = image.format, image.size
    except Image.DecompressionBombError as error:
        raise InputError(f"image exceeds Pillow's decompression-bomb limit ({error})", file=file, record=record) from None
    except UnidentifiedImageError:  # its message names only an in-memory buffer
        raise InputError(f"expected an image Pillow can open, found {_describe(data)}", file=file, record=record) from None
    except OSError as error:
        raise InputError(f"expected an image Pillow can open, found {_describe(data)} ({error})", file=file, record=record) from None
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise InputError(
            f"image of {width}x{height} = {width * height} pixels exceeds Pillow's decompression-bomb limit of {limit}",
            file=file,
            record=record,
        )
    if image_format not in FORMATS:
        raise InputError(f"expected one of {', '.join(sorted(FORMATS))}, found a {image_format} image", file=file, record=record)
    if not _is_complete(image_format, data):
        raise InputError(f"{image_format} image is truncated ({len(data)} bytes, no end marker)", file=file, record=record)
    return {"bytes": data, "path": name}


_KINDS = ((b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip file"), (b"\x7fELF", "an executable"),
          (b"SQLite format 3", "an SQLite database"))


def _describe(data: bytes) -> str:
    """What a file that is no image is, by its kind and size, never by its content (it may hold a secret).

    >>> _describe(b"OPENAI_API_KEY=sk-secret\\n"), _describe(b"%PDF-1.7 ..."), _describe(bytes(range(256)))
    ('a text file of 25 bytes', 'a PDF document of 12 bytes', '256 bytes of no image format Pillow knows')
    """
    for magic, kind in _KINDS:
        if data.startswith(magic):
            return f"{kind} of {len(data)} bytes"
    head = data[:512]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        text = head[: error.start].decode("utf-8") if error.start > len(head) - 4 else None
    if text is not None and all(c.isprintable() or c in "\t\n\r" for c in text):
        return f"a text file of {len(data)} bytes"
    return f"{len(data)} bytes of no image format Pillow knows"


def resolve_inside(root: Path, relative: str | os.PathLike[str], *, file: object, record: object) -> Path:
    """``root / relative``, refusing a path that escapes ``root`` (``..``, absolute, symlink).

    >>> resolve_inside(Path("/data"), "../etc/passwd", file="prompt.txt", record="id 1")
    Traceback (most recent call last):
    ...
    mmsafety.errors.InputError: prompt.txt: id 1: image path '../etc/passwd' escapes the source dir /data
    """
    root_real = os.path.realpath(root)
    candidate = os.path.realpath(os.path.join(root, relative))
    # compared as strings: walking Path.parents cost more than reading the image
    if candidate != root_real and not candidate.startswith(os.path.join(root_real, "")):
        raise InputError(f"image path {str(relative)!r} escapes the source dir {root}", file=file, record=record)
    return Path(candidate)


def read_image_file(root: Path, relative: str, *, record: object) -> ImageValue:
    """Read ``root/relative`` (which must stay inside ``root``) as a checked image value."""
    path = resolve_inside(root, relative, file=relative, record=record)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the image ({error.strerror})", file=relative, record=record) from None
    return image_value(data, name=relative, file=relative, record=record)
