"""Errors that describe bad input: what was expected, what was found, and where.

The command line turns any :class:`InputError` into one line on stderr and exit
status 2; from Python they are ordinary ``ValueError`` subclasses.
"""

from __future__ import annotations

from collections.abc import Iterable


class InputError(ValueError):
    """Bad input, located: ``file`` and ``record`` say where, the message says what.

    >>> str(InputError("expected an integer id, found 'x'", file="prompt.txt", record="line 7"))
    "prompt.txt: line 7: expected an integer id, found 'x'"
    """

    def __init__(self, message: str, *, file: object = None, record: object = None) -> None:
        self.file = None if file is None else str(file)
        self.record = None if record is None else str(record)
        self.detail = message
        where = ": ".join(part for part in (self.file, self.record) if part)
        super().__init__(f"{where}: {message}" if where else message)


class ChecksumError(InputError):
    """A pinned upstream file whose sha256 is not the one recorded."""


class NotBuiltError(InputError):
    """A benchmark asked for before it was built into the local cache."""


def list_ids(ids: Iterable[object], limit: int = 50) -> str:
    """Render ids for a one-line message, eliding the middle of very long lists.

    >>> list_ids([3, 1, 2])
    '1, 2, 3'
    >>> list_ids(range(100), limit=4)
    '0, 1, ..., 98, 99 (100 in all)'
    """
    items = sorted(ids, key=lambda v: (len(str(v)), str(v)) if str(v).isdigit() else (0, str(v)))
    text = [str(i) for i in items]
    if len(text) <= limit:
        return ", ".join(text)
    half = limit // 2
    return ", ".join(text[:half] + ["..."] + text[-half:]) + f" ({len(text)} in all)"
