"""Writing files: a full disk, a read-only folder or a path under a file is bad input, said in one
line naming the path and the cause (exit 2), never a traceback; and a command checks that it can
write its output before the work (and the requests) it would write.

>>> import tempfile, pathlib
>>> blocker = pathlib.Path(tempfile.mkdtemp()) / "a-file"
>>> _ = blocker.write_text("x")
>>> check_writable(blocker / "verdicts.jsonl")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mmsafety.errors.InputError: .../a-file: cannot write .../a-file/verdicts.jsonl: ... is a file, not a folder
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from mmsafety.errors import InputError

WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR})
"""Why a write fails for a reason the user can mend: no space, a quota, a file-size limit, a
read-only file system, no permission, a path under a file or a folder where a file goes."""


def cause(error: OSError) -> str:
    """The cause of a failed write in words (``No space left on device (disk full?)``)."""
    text = error.strerror or str(error)
    return f"{text} (disk full?)" if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else text


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn a write that fails for a reason in :data:`WRITE_ERRNOS` into an :class:`InputError` naming ``path``."""
    try:
        yield
    except OSError as error:
        if error.errno not in WRITE_ERRNOS:
            raise
        raise InputError(f"cannot write: {cause(error)}", file=path) from None


def check_writable(path: str | os.PathLike[str]) -> None:
    """Check that a file can be written at ``path`` (one byte written and removed beside it) without
    making any folder; :class:`InputError` naming the path and the cause when it cannot."""
    target = Path(path).absolute()
    folder = target.parent
    while not folder.exists():
        if folder.is_symlink():
            raise InputError(f"cannot write {target}: {folder} is a broken symbolic link", file=folder)
        folder = folder.parent
    if not folder.is_dir():
        raise InputError(f"cannot write {target}: {folder} is a file, not a folder", file=folder)
    if target.is_dir():
        raise InputError("cannot write: a folder is there, expected a file", file=target)
    try:
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\n")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise InputError(f"cannot write {target}: {cause(error)}", file=folder) from None
