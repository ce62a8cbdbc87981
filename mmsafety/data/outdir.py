"""The one rule for every folder mmsafety writes (exports, reports, audits, the demo).

mmsafety writes only into a folder that is absent, empty, or holds an earlier
mmsafety output of the same kind. It recognises its own output by the marker file
:data:`MARKER` it writes there, which lists every file it wrote with its size and
SHA-256; it replaces only those files, removes those of them the new output no
longer has, and leaves anything else in the folder alone. A listed file that has
no record, was changed since, is not a regular file or lies outside the folder
(through a symbolic link) is never replaced nor removed: the folder is refused
naming it. Any other folder is refused with an :class:`~mmsafety.errors.InputError`
naming it, before anything is written; so is a folder inside the datasets cache.

Every file of an output is written into a private staging folder beside the
output and moved into place (a rename: a symbolic link at the destination is
replaced, never written through), all files of one output together at the end;
one process at a time writes a folder (a lock beside it, ``.<name>.mmsafety.lock``).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp()) / "report"
>>> with prepare_output_dir(folder, "report") as out:
...     _ = out.file("report.md").write_text("# Results")
>>> sorted(p.name for p in folder.iterdir())
['.mmsafety-output.json', 'report.md']
>>> prepare_output_dir(folder, "audit")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mmsafety.errors.InputError: ...: holds an earlier mmsafety report output, not an audit output; choose another folder
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

from filelock import FileLock, Timeout

from mmsafety import __version__
from mmsafety.errors import InputError

MARKER = ".mmsafety-output.json"
"""The file that marks a folder as mmsafety's output and lists what mmsafety wrote there."""

KINDS = ("export", "evaluate", "report", "audit", "demo")
"""The kinds of output folder; a folder is reused only by a command writing the same kind."""


class OutputDir:
    """A folder being written by mmsafety under the rule above.

    Ask :meth:`file` for every path you write (it refuses a file mmsafety did not
    write, and gives a path in the staging folder), or write a whole tree into
    :meth:`staging`; :meth:`commit` moves what is staged into the folder together.
    Leaving the ``with`` block normally (or calling :meth:`close`) commits, drops the
    files of the earlier output that this one did not write again, records the new
    list, and releases the folder's lock.
    """

    def __init__(self, path: Path, kind: str, earlier: set[str], *, created: bool = False,
                 records: dict[str, list[dict[str, Any]]] | None = None, lock: FileLock | None = None) -> None:
        self.path = path
        self.created = created
        """Whether the folder was made for this output (it goes again if nothing was written)."""
        self.kind = kind
        self.earlier = earlier
        """Files (relative POSIX paths) the earlier output of this kind wrote."""
        self.records: dict[str, list[dict[str, Any]]] = dict(records or {})
        """Each file's accepted size and SHA-256 records (two while a commit is under way)."""
        self.written: list[str] = []
        self._staging: Path | None = None
        self._lock = lock

    # -- writing file by file -----------------------------------------------------------
    def file(self, relative: str | os.PathLike[str]) -> Path:
        """The staged path to write ``relative`` at, recorded as mmsafety's (its folders are made).

        It moves into the folder at :meth:`commit`. Raises :class:`InputError` when a
        file that mmsafety did not write is there.
        """
        name = _relative(relative, self.path)
        target = self.path / name
        if name not in self.earlier and name not in self.written and (target.exists() or target.is_symlink()):
            raise InputError(f"refusing to replace {name}, which mmsafety did not write", file=self.path)
        staged = self.staging() / name
        staged.parent.mkdir(parents=True, exist_ok=True)
        return staged

    def final(self, relative: str | os.PathLike[str]) -> Path:
        """Where the staged file ``relative`` lands in the folder."""
        return self.path / _relative(relative, self.path)

    # -- writing a whole tree, then moving it in ------------------------------------------
    def staging(self) -> Path:
        """A private folder beside :attr:`path` (named as it) to write the whole output into first."""
        if self._staging is None:
            private = self.path.parent / f".{self.path.name}.mmsafety-{os.getpid()}-{secrets.token_hex(4)}"
            private.mkdir()
            self._staging = private / self.path.name
            self._staging.mkdir()
        return self._staging

    def commit(self) -> None:
        """Move every file of :meth:`staging` into place (refusing first if one would replace a file not mmsafety's)."""
        if self._staging is None:
            return
        staged = sorted(p.relative_to(self._staging).as_posix() for p in self._staging.rglob("*") if p.is_file())
        if MARKER in staged:
            raise InputError(f"an output may not contain {MARKER}", file=self.path)
        foreign = [n for n in staged if n not in self.earlier and n not in self.written and ((self.path / n).exists() or (self.path / n).is_symlink())]
        if foreign:
            raise InputError(f"refusing to replace {', '.join(foreign[:5])}, which mmsafety did not write", file=self.path)
        for name in staged:
            target = self.path / name
            if target.is_dir() and not target.is_symlink():
                raise InputError(f"refusing to replace the folder {name} with a file", file=self.path)
            self._check_own(name)
        new = {name: file_record(self._staging / name) for name in staged}
        self.written.extend(n for n in staged if n not in self.written)
        for name, record in new.items():  # both contents are mmsafety's while the files move
            self.records[name] = [*self.records.get(name, []), record]
        self._write_marker(self.earlier | set(self.written))
        for name in staged:
            target = self.path / name
            _make_parents(self.path, name)
            os.replace(self._staging / name, target)
        for name, record in new.items():
            self.records[name] = [record]
        self._write_marker(self.earlier | set(self.written))
        self.discard()

    def discard(self) -> None:
        """Remove the staging folder (what was not committed is lost)."""
        if self._staging is not None:
            shutil.rmtree(self._staging.parent, ignore_errors=True)
            self._staging = None

    # -- finishing --------------------------------------------------------------------------
    def close(self) -> None:
        """Commit, remove the earlier output's files this one did not write, record what it wrote, unlock."""
        try:
            self.commit()
            keep = set(self.written)
            for name in sorted(self.earlier - keep):
                self._check_own(name)
                target = self.path / name
                if target.is_file() or target.is_symlink():
                    target.unlink()
                self.records.pop(name, None)
                _remove_empty_parents(target.parent, self.path)
            self.earlier = keep
            self._write_marker(keep)
        finally:
            self.discard()
            self._unlock()

    def _check_own(self, name: str) -> None:
        """Refuse (naming it) to replace or remove ``name`` unless it is the regular file mmsafety recorded."""
        target = self.path / name
        if not (target.exists() or target.is_symlink()):
            return
        if not _inside(self.path, name):
            raise InputError(f"refusing to replace or remove {name}: it lies outside the folder (through a symbolic link)", file=self.path)
        if target.is_symlink() or not target.is_file():
            raise InputError(f"refusing to replace or remove {name}: not a regular file, and mmsafety writes only regular files", file=self.path)
        if name not in self.earlier:
            return
        accepted = self.records.get(name)
        if not accepted:
            raise InputError(f"refusing to replace or remove {name}: {MARKER} holds no size and hash for it", file=self.path)
        found = file_record(target, like=accepted)
        if found not in accepted:
            raise InputError(f"refusing to replace or remove {name}: changed since mmsafety wrote it", file=self.path)

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:  # the earlier output stays as it was; drop the staging
            self.discard()
            if self.created and not self.written:
                (self.path / MARKER).unlink(missing_ok=True)
                _remove_empty_parents(self.path, self.path.parent)
            self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _write_marker(self, files: set[str]) -> None:
        marker = {"kind": self.kind, "written_by": f"mmsafety {__version__}", "files": sorted(files),
                  "records": {name: self.records[name] for name in sorted(files) if name in self.records}}
        temporary = self.path / f"{MARKER}.{os.getpid()}.tmp"
        temporary.write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        os.replace(temporary, self.path / MARKER)


def file_record(path: Path, like: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The size and SHA-256 of the file ``path`` as the marker records them (the hash skipped when no size in ``like`` matches)."""
    size = path.stat().st_size
    if like is not None and all(record.get("size") != size for record in like):
        return {"size": size, "sha256": ""}
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return {"size": size, "sha256": digest.hexdigest()}


def prepare_output_dir(path: str | os.PathLike[str], kind: str) -> OutputDir:
    """Check ``path`` may receive an output of ``kind``, create it, and return it as an :class:`OutputDir`.

    Refused (:class:`InputError` naming the folder, nothing touched): a file; a
    folder with anything in it but no marker; a folder whose marker says another kind.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown output kind {kind!r}: expected one of {', '.join(KINDS)}")
    folder = Path(path).absolute()
    check_output_dir(folder, kind)  # refused before anything is made, the lock too
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder.parent / f".{folder.name}.mmsafety.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise InputError("another mmsafety process is writing into this folder; wait for it to finish, or choose another folder", file=folder) from None
    try:
        earlier, records = _read_output_dir(folder, kind)  # again, under the lock
        remove_dead_staging(folder)
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        out = OutputDir(folder, kind, earlier, created=created, records=records, lock=lock)
        for name in sorted(earlier):
            out._check_own(name)
        out._write_marker(earlier)
    except BaseException:
        lock.release()
        raise
    return out


def written_files(path: str | os.PathLike[str], kind: str) -> list[str]:
    """The files mmsafety wrote into ``path`` as an output of ``kind`` (sorted); bad input if it holds none."""
    folder = Path(path).absolute()
    files = check_output_dir(folder, kind) if folder.is_dir() else set()
    if not files:
        raise InputError(f"expected a folder holding an mmsafety {kind} output, found none", file=folder)
    return sorted(f for f in files if (folder / f).is_file())


def check_output_dir(folder: Path, kind: str) -> set[str]:
    """The files of the earlier ``kind`` output in ``folder`` (empty when absent or empty); refuse anything else."""
    return _read_output_dir(folder, kind)[0]


def _read_output_dir(folder: Path, kind: str) -> tuple[set[str], dict[str, list[dict[str, Any]]]]:
    """The files of the earlier ``kind`` output in ``folder`` and their records; refuse anything else."""
    _refuse_datasets_cache(folder)
    if folder.is_symlink() and not folder.exists():
        raise InputError("expected a folder to write into, found a broken symbolic link", file=folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("expected a folder to write into, found a file", file=folder)
    if not folder.exists():
        return set(), {}
    marker = folder / MARKER
    if not marker.is_file():
        entries = sorted(p.name for p in folder.iterdir())
        if not entries:
            return set(), {}
        legacy = _legacy_export(folder) if kind == "export" else None
        if legacy is not None:  # recognised by its content: recorded as it is
            return legacy, {name: [file_record(folder / name)] for name in legacy}
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise InputError(
            f"refusing to write into a folder that holds files mmsafety did not write ({shown}); "
            f"expected an empty folder or an earlier mmsafety {kind} output",
            file=folder,
        )
    try:
        recorded = json.loads(marker.read_text(encoding="utf-8"))
        found_kind, files, records = recorded["kind"], recorded["files"], recorded.get("records", {})
        if not isinstance(found_kind, str) or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise TypeError
        if not isinstance(records, dict) or not all(isinstance(r, list) and all(isinstance(x, dict) for x in r) for r in records.values()):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"expected {MARKER} as mmsafety writes it (kind and files), found something else", file=folder) from None
    if found_kind != kind:
        raise InputError(f"holds an earlier mmsafety {found_kind} output, not {_article(kind)} {kind} output; choose another folder", file=folder)
    return {_relative(f, folder) for f in files}, {_relative(f, folder): r for f, r in records.items()}


def _refuse_datasets_cache(folder: Path) -> None:
    """Refuse an output folder inside the datasets cache (a build's sweep there removes what is not a build)."""
    import datasets.config

    cache = Path(datasets.config.HF_DATASETS_CACHE).resolve()
    resolved = folder.resolve()
    if resolved == cache or cache in resolved.parents:
        raise InputError(f"refusing to write into the datasets cache ({cache}): choose a folder outside it", file=folder)


def remove_dead_staging(folder: Path) -> None:
    """Remove staging folders beside ``folder`` that a killed mmsafety process left (``.<name>.mmsafety-<pid>-<hex>``)."""
    pattern = re.compile(re.escape(f".{folder.name}.mmsafety-") + r"(\d+)-[0-9a-f]{8}")
    if not folder.parent.is_dir():
        return
    for entry in folder.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and not process_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (as far as this process can tell)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _legacy_export(folder: Path) -> set[str] | None:
    """The files of an export written before the marker existed (README.md with ``built_with: mmsafety`` and data/*.parquet)."""
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())
    readme = folder / "README.md"
    if not files or not readme.is_file() or any(f != "README.md" and not (f.startswith("data/") and f.endswith(".parquet")) for f in files):
        return None
    dirs = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_dir()]
    if dirs not in ([], ["data"]):
        return None
    with readme.open(encoding="utf-8", errors="replace") as handle:
        head = handle.read(64 * 1024)
    return set(files) if "built_with: mmsafety" in head else None


def _relative(name: str | os.PathLike[str], folder: Path) -> str:
    """``name`` as a clean relative POSIX path inside ``folder``; bad input otherwise."""
    text = os.fspath(name)
    pure = PurePosixPath(text.replace(os.sep, "/"))
    if pure.is_absolute() or not pure.parts or any(part in ("", ".", "..") for part in pure.parts) or pure.as_posix() == MARKER:
        raise InputError(f"expected a file name inside the folder, found {text!r}", file=folder)
    return pure.as_posix()


def _inside(folder: Path, name: str) -> bool:
    """Whether ``folder/name`` is reached without leaving ``folder`` through a symbolic link on the way."""
    parent = (folder / name).parent
    return parent.resolve() == folder.resolve() / PurePosixPath(name).parent


def _make_parents(folder: Path, name: str) -> None:
    """Make ``name``'s folders inside ``folder``, refusing a symbolic link (or file) among them."""
    current = folder
    for part in PurePosixPath(name).parent.parts:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise InputError(f"refusing to write {name}: {current.relative_to(folder).as_posix()} is not a folder mmsafety made", file=folder)
        current.mkdir(exist_ok=True)


def _remove_empty_parents(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"
