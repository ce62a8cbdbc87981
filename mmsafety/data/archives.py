"""Reading images straight out of upstream archives, refusing hostile members.

Nothing is extracted to disk. A member whose name escapes (absolute, ``..``), a
link, or anything else that is not a regular file is refused with an
:class:`~mmsafety.errors.InputError` naming the archive and the member, as is an
archive that is truncated or not an archive at all.

* :class:`ZipMembers` indexes a zip's members up front (checking every one) and
  reads one member's bytes at a time.
* :class:`TarMembers` does the same for a tar (plain or compressed): one pass over
  the headers on opening, checking every member and keeping the headers of the
  members asked for, then one member's bytes at a time, in whatever order the
  caller needs: memory stays flat however large the archive. It opens the file
  itself (``r:*``) rather than through ``tarfile``'s pipe mode (``r|*``), which can
  neither seek over a member's data nor go back to a member.
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Container
from pathlib import Path, PurePosixPath
from types import TracebackType

from mmsafety.errors import InputError

MAX_MEMBER_BYTES = 512 << 20
"""The largest member read into memory (an image of more is surely not an image)."""

_DRIVE = re.compile(r"^[A-Za-z]:")


def member_path(name: str, *, archive: object) -> str:
    """The member's path, normalised (``./`` dropped); refuses one that escapes.

    >>> member_path("./imgs/0.png", archive="imgs.tar")
    'imgs/0.png'
    >>> member_path("imgs/../../etc/passwd", archive="imgs.tar")
    Traceback (most recent call last):
    ...
    mmsafety.errors.InputError: imgs.tar: member 'imgs/../../etc/passwd': refusing a member name that escapes the archive ('..')
    """
    where = f"member {name!r}"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        raise InputError("refusing an absolute member name", file=archive, record=where)
    parts = [part for part in re.split(r"[/\\]", name) if part not in ("", ".")]
    if ".." in parts:
        raise InputError("refusing a member name that escapes the archive ('..')", file=archive, record=where)
    return "/".join(parts)


def relative_name(name: str, *, file: object, record: object) -> str:
    """An image name from metadata, as it must appear in an archive; refuses one that escapes."""
    if not name.strip():
        raise InputError("expected an image file name, found an empty one", file=file, record=record)
    if name.startswith(("/", "\\")) or _DRIVE.match(name) or ".." in re.split(r"[/\\]", name):
        raise InputError(f"image path {name!r} escapes the archive", file=file, record=record)
    return "/".join(part for part in name.split("/") if part not in ("", "."))


class ZipMembers:
    """The regular files of a zip archive by name, every member checked on opening.

    Use as a context manager. :meth:`find` looks a name up exactly, else by its
    base name when exactly one member has it (a zip made of a folder nests its
    files one level down).
    """

    def __init__(self, path: Path, *, archive: str) -> None:
        self.archive = archive
        try:
            self.zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
            raise InputError(f"expected a readable zip archive, found a damaged or truncated one ({error})", file=archive) from None
        self.by_name: dict[str, zipfile.ZipInfo] = {}
        by_base: dict[str, list[str]] = {}
        try:
            for info in self.zip.infolist():
                name = member_path(info.filename, archive=archive)
                kind = stat.S_IFMT(info.external_attr >> 16)
                if info.is_dir() and kind in (0, stat.S_IFDIR):
                    continue
                if kind not in (0, stat.S_IFREG):
                    raise InputError(f"refusing a member that is not a regular file ({_zip_kind(kind)})", file=archive, record=f"member {info.filename!r}")
                if name in self.by_name:
                    raise InputError("refusing an archive that holds this member twice", file=archive, record=f"member {info.filename!r}")
                self.by_name[name] = info
                by_base.setdefault(PurePosixPath(name).name, []).append(name)
        except InputError:
            self.zip.close()
            raise
        self.by_base = {base: names[0] for base, names in by_base.items() if len(names) == 1}

    def __enter__(self) -> ZipMembers:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.zip.close()

    def find(self, name: str) -> str | None:
        """The member name that holds ``name``, or ``None``."""
        if name in self.by_name:
            return name
        return self.by_base.get(PurePosixPath(name).name)

    def read(self, name: str) -> bytes:
        """The bytes of member ``name`` (CRC-checked by ``zipfile``)."""
        info = self.by_name[name]
        if info.file_size > MAX_MEMBER_BYTES:
            raise InputError(f"refusing a member of {info.file_size:,} bytes (more than {MAX_MEMBER_BYTES:,})", file=self.archive, record=f"member {name!r}")
        try:
            return self.zip.read(info)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as error:
            raise InputError(f"cannot read the member, the archive is damaged ({error})", file=self.archive, record=f"member {name!r}") from None


def _zip_kind(kind: int) -> str:
    return "a symbolic link" if kind == stat.S_IFLNK else f"file type {kind:#o}"


class TarMembers:
    """The wanted regular files of a tar archive (plain or compressed) by name, every member checked on opening.

    Use as a context manager. Opening makes one pass over the headers with
    ``TarFile.next()``: every member is checked, wanted or not (a name that escapes,
    a link, a device, or a folder other than ``folders`` is refused; so is a wanted
    member that appears twice, one too large to read, and an archive that is
    truncated, also one cut exactly between members, which ``tarfile`` alone takes
    for the end). Only the headers of the ``wanted`` members are kept (``tarfile``'s
    own list of every header is cleared as it grows), so memory stays flat however
    large the archive. :meth:`read` then returns one member's bytes, in any order.

    On a plain tar the pass seeks over each member's data, reading only headers, and
    :meth:`read` seeks straight to the member. A compressed tar (``.tar.gz``...) works
    too, but slowly: seeking in it means decompressing up to the target, and reading
    a member that lies before the previous one starts decompressing from the top.
    """

    def __init__(self, path: Path, *, archive: str, wanted: Container[str], folders: Container[str] = ()) -> None:
        self.archive = archive
        self.by_name: dict[str, tarfile.TarInfo] = {}
        try:
            self.tar = tarfile.open(path, mode="r:*")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise self._damaged(error) from None
        try:
            self._index(wanted, folders)
        except BaseException:
            self.tar.close()
            raise

    def _index(self, wanted: Container[str], folders: Container[str]) -> None:
        tar = self.tar
        try:
            while True:
                member = tar.next()
                if member is None:
                    break
                tar.members.clear()  # tarfile keeps every header otherwise
                name = member_path(member.name, archive=self.archive)
                where = f"member {member.name!r}"
                if member.isdir():
                    if name and name not in folders:
                        raise InputError("refusing an unexpected folder member", file=self.archive, record=where)
                    continue
                if not member.isreg():
                    raise InputError(f"refusing a member that is not a regular file ({_tar_kind(member)})", file=self.archive, record=where)
                if name not in wanted:
                    continue
                if name in self.by_name:
                    raise InputError("refusing an archive that holds this member twice", file=self.archive, record=where)
                if member.size > MAX_MEMBER_BYTES:
                    raise InputError(f"refusing a member of {member.size:,} bytes (more than {MAX_MEMBER_BYTES:,})", file=self.archive, record=where)
                self.by_name[name] = member
            if tar.fileobj.tell() - tar.offset != tarfile.BLOCKSIZE:  # no end-of-archive block was read
                raise tarfile.ReadError("unexpected end of data (no end-of-archive marker)")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise self._damaged(error) from None

    def __enter__(self) -> TarMembers:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.tar.close()

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def read(self, name: str) -> bytes:
        """The bytes of member ``name`` (one of the wanted members the archive holds)."""
        info = self.by_name[name]
        try:
            handle = self.tar.extractfile(info)
            assert handle is not None  # a regular file
            data = handle.read()  # read(size) would go through readinto and copy: ten times slower
        except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
            raise self._damaged(error, record=f"member {info.name!r}") from None
        if len(data) != info.size:
            raise self._damaged(f"found {len(data):,} of its {info.size:,} bytes", record=f"member {info.name!r}")
        return data

    def _damaged(self, error: object, record: str | None = None) -> InputError:
        return InputError(f"expected a complete tar archive, found a damaged or truncated one ({error})", file=self.archive, record=record)


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"a symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"a hard link to {member.linkname!r}"
    if member.ischr() or member.isblk():
        return "a device"
    if member.isfifo():
        return "a FIFO"
    return f"tar type {member.type!r}"
