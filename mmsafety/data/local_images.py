"""Reading an image that a dataset names by path, without reading anything else.

A dataset's image column may hold a path instead of bytes (a Parquet file written by
another tool, a cache built from files). Such a path is the dataset's word, not the
user's: it may name ``/etc/hostname``, a token file or ``/dev/zero``. It is read only if
it is a regular file, no larger than :data:`MAX_IMAGE_FILE_BYTES`, whose first bytes are
the signature of one of the formats a build accepts (:data:`SIGNATURES`); otherwise
:class:`NotAnImageFile` says why, and its message holds nothing of the file's content.

>>> import tempfile, os
>>> with tempfile.NamedTemporaryFile("w", suffix=".png", delete=False) as handle:
...     _ = handle.write("sk-secret-token")
>>> read_image_path(handle.name)
Traceback (most recent call last):
...
mmsafety.data.local_images.NotAnImageFile: not an image by its header
>>> os.unlink(handle.name)
"""

from __future__ import annotations

import os
import stat


MAX_IMAGE_FILE_BYTES = 256 * 1024 * 1024
"""Largest image file read from a path a dataset names (256 MiB)."""
HEADER_BYTES = 12
"""Bytes read before deciding whether a file is an image."""
SIGNATURES: tuple[bytes, ...] = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")
"""The first bytes of JPEG (and MPO), PNG, GIF and BMP files; WEBP is ``RIFF....WEBP``."""


def has_image_signature(head: bytes) -> bool:
    """Whether ``head`` starts like a file of one of :data:`mmsafety.data.images.FORMATS`.

    >>> has_image_signature(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(4)), has_image_signature(b"RIFF\\0\\0\\0\\0WEBP"), has_image_signature(b"token")
    (True, True, False)
    """
    return head.startswith(SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


class NotAnImageFile(ValueError):
    """A path a dataset names that is not read: why, without any of the file's content."""


def read_image_path(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the image file at ``path``; :class:`NotAnImageFile` if it is not one."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise NotAnImageFile(f"cannot open ({error.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotAnImageFile("not a regular file")
        if info.st_size > MAX_IMAGE_FILE_BYTES:
            raise NotAnImageFile(f"{info.st_size:,} bytes, over the {MAX_IMAGE_FILE_BYTES:,}-byte limit for an image file")
        head = handle.read(HEADER_BYTES)
        if not has_image_signature(head):
            raise NotAnImageFile("not an image by its header")
        return head + handle.read(MAX_IMAGE_FILE_BYTES + 1 - len(head))
