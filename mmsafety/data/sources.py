"""Pinned upstream files: fetched by URL or read from a local copy, always checked.

Each builder lists the files it reads in its ``checksums.tsv`` (``path``, ``size``,
``sha256``, ``url``; a ``-`` where a size or digest cannot be had). A
:class:`Source` hands out those files either from ``--source-dir`` or by
downloading them, and checks every byte it hands out against the pin.

URLs are pinned as published; for tests and mirrors, the GitHub host can be
replaced with ``MMSAFETY_GITHUB_URL`` and the Hub's with ``HF_ENDPOINT``.
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from datasets.utils.tqdm import tqdm  # follows datasets' progress-bar switch

from mmsafety.errors import ChecksumError, InputError

GITHUB_RAW = "https://raw.githubusercontent.com"
HUB = "https://huggingface.co"
CHECKSUM_HEADER = ("path", "size", "sha256", "url")
DOWNLOAD_THREADS = 8
CHUNK = 1 << 20


@dataclass(frozen=True)
class PinnedFile:
    """One upstream file: where it sits in the release, and what it must hash to."""

    path: str
    size: int | None
    sha256: str | None
    url: str


def read_checksums(path: Path) -> dict[str, PinnedFile]:
    """Parse a ``checksums.tsv`` into ``{path: PinnedFile}``."""
    pins: dict[str, PinnedFile] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle, delimiter="\t")
        header = next(rows, None)
        if tuple(header or ()) != CHECKSUM_HEADER:
            raise InputError(f"expected the header fields {CHECKSUM_HEADER}, found {header!r}", file=path, record="line 1")
        for number, row in enumerate(rows, start=2):
            if len(row) != 4:
                raise InputError(f"expected 4 tab-separated fields, found {len(row)}", file=path, record=f"line {number}")
            name, size, digest, url = row
            pins[name] = PinnedFile(name, None if size == "-" else int(size), None if digest == "-" else digest, url)
    return pins


def checksum_rows(root: Path, url_prefix: str = "-") -> Iterable[str]:
    """Lines of a ``checksums.tsv`` for every file under ``root`` (to accept a newer upstream)."""
    yield "\t".join(CHECKSUM_HEADER)
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = file.relative_to(root).as_posix()
        url = "-" if url_prefix == "-" else f"{url_prefix.rstrip('/')}/{relative}"
        yield "\t".join((relative, str(file.stat().st_size), sha256_file(file), url))


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def mirrored(url: str) -> str:
    """``url`` with its GitHub or Hub host replaced by the configured mirror, if any."""
    github = os.environ.get("MMSAFETY_GITHUB_URL")
    if github and url.startswith(GITHUB_RAW + "/"):
        return github.rstrip("/") + url[len(GITHUB_RAW):]
    if url.startswith(HUB + "/"):
        from huggingface_hub import constants

        return constants.ENDPOINT.rstrip("/") + url[len(HUB):]
    return url


class Source:
    """The pinned files of one release, from a local folder or downloaded.

    ``source_dir=None`` downloads into ``download_dir`` (reused across builds: a file
    already there with the pinned digest is not fetched again).
    """

    def __init__(self, pins: dict[str, PinnedFile], *, source_dir: Path | None, download_dir: Path) -> None:
        self.pins = pins
        self.source_dir = source_dir
        self.download_dir = download_dir
        if source_dir is not None:
            if not source_dir.is_dir():
                raise InputError("expected a folder holding the upstream files, found none", file=source_dir)
            if not any(source_dir.iterdir()):
                raise InputError("expected the upstream files, found an empty folder", file=source_dir)

    # -- what is there -------------------------------------------------------------
    def available(self) -> set[str]:
        """Relative paths the release offers: files in the local folder, or the pinned ones."""
        if self.source_dir is None:
            return set(self.pins)
        # Symlinked folders are walked too (rglob skips them, and their files would look
        # absent); where they lead is checked when a file is read. A link back to a
        # folder above it (a cycle) is not walked.
        found: set[str] = set()
        for folder, subfolders, files in os.walk(self.source_dir, followlinks=True):
            relative = Path(folder).relative_to(self.source_dir)
            real = os.path.realpath(folder)
            above = Path(folder).parents[: len(relative.parts)]
            if any(os.path.realpath(parent) == real for parent in above):
                subfolders.clear()
                continue
            found.update((relative / name).as_posix() for name in files)
        return found

    # -- reading -----------------------------------------------------------------------
    def local_path(self, relative: str) -> Path:
        """A checked local path for ``relative`` (downloaded first where needed)."""
        if self.source_dir is None:
            return self._download(relative, progress=True)
        path = self._inside(relative)
        if self._pin(relative).sha256 is not None:  # an unpinned file (a 2.45 GB archive, say) is not hashed for nothing
            self._check(relative, sha256_file(path), path.stat().st_size)
        return path

    def read_bytes(self, relative: str) -> bytes:
        """The checked content of ``relative``: read once, hashed, compared with the pin."""
        if self.source_dir is None:
            return self._download(relative).read_bytes()
        data = self._inside(relative).read_bytes()
        self._check(relative, hashlib.sha256(data).hexdigest(), len(data))
        return data

    def prefetch(self, paths: Iterable[str], description: str = "Downloading") -> None:
        """Download ``paths`` in parallel, with a progress bar (no-op for a local folder)."""
        if self.source_dir is not None:
            return
        todo = [p for p in paths if not self._cached(p).exists()]
        if not todo:
            return
        with ThreadPoolExecutor(DOWNLOAD_THREADS) as pool, tqdm(total=len(todo), desc=description, unit="file") as bar:
            for _ in pool.map(self._download, todo):
                bar.update()

    # -- internals -------------------------------------------------------------------------
    def _inside(self, relative: str) -> Path:
        assert self.source_dir is not None
        from mmsafety.data.images import resolve_inside

        path = resolve_inside(self.source_dir, relative, file=relative, record=None)
        if not path.is_file():
            raise InputError("expected this upstream file, found nothing", file=self.source_dir / relative)
        return path

    def _pin(self, relative: str) -> PinnedFile:
        pin = self.pins.get(relative)
        if pin is None:
            raise ChecksumError(
                "this file is not pinned in the builder's checksums.tsv "
                "(to accept a newer upstream, pass --checksums FILE; see the README)",
                file=relative,
            )
        return pin

    def _check(self, relative: str, digest: str, size: int) -> None:
        pin = self._pin(relative)
        if pin.sha256 is not None and digest != pin.sha256:
            raise ChecksumError(
                f"expected sha256 {pin.sha256}, found {digest} ({size} bytes); "
                "if this is a deliberate newer upstream, pass --checksums FILE (see the README)",
                file=relative,
            )

    def _cached(self, relative: str) -> Path:
        pin = self._pin(relative)
        key = pin.sha256 or hashlib.sha256(pin.url.encode()).hexdigest()
        return self.download_dir / key[:2] / f"{key}-{Path(relative).name}"

    def _download(self, relative: str, progress: bool = False) -> Path:
        """Fetch ``relative`` into the download cache (``progress``: a byte bar, for one big file)."""
        pin = self._pin(relative)
        target = self._cached(relative)
        if target.exists():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        url = mirrored(pin.url)
        request = urllib.request.Request(url, headers=_auth_headers(url))
        digest = hashlib.sha256()
        size = 0
        handle, partial = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(handle, "wb") as out, urllib.request.urlopen(request, timeout=60) as response, tqdm(
                total=int(response.headers.get("Content-Length") or 0) or pin.size,
                desc=f"Downloading {relative}",
                unit="B",
                unit_scale=True,
                disable=not progress,
            ) as bar:
                while chunk := response.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
            self._check(relative, digest.hexdigest(), size)
            os.replace(partial, target)
        except urllib.error.HTTPError as error:
            raise InputError(f"download failed: HTTP {error.code} {error.reason} from {url}", file=relative) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
            reason = getattr(error, "reason", error)
            raise InputError(f"download failed: {reason} ({url})", file=relative) from None
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return target


def _auth_headers(url: str) -> dict[str, str]:
    """The user's Hub token for Hub URLs (gated datasets), never for other hosts."""
    from huggingface_hub import constants, get_token

    if url.startswith(constants.ENDPOINT):
        token = get_token()
        if token:
            return {"Authorization": f"Bearer {token}"}
    return {}


def read_pinned(
    relative: str,
    pinned: PinnedFile,
    source: str | Path | None,
    *,
    download_dir: Path | None = None,
    what: str,
    hint: str,
    newer: str = "",
) -> tuple[bytes, str]:
    """The checked bytes of one pinned upstream file a judge reads at run time (an authors'
    prompt template), and where they came from.

    ``source``: a folder holding ``relative``, or the file itself; ``None`` downloads it (once:
    later runs reuse the checked copy in ``download_dir``, by default mmsafety's downloads
    cache). ``what`` names the file in a checksum error, followed by ``newer`` (how to accept
    a deliberate newer upstream, if there is a way); ``hint`` says, after a failed download,
    how else to give the file.
    """
    if source is not None and Path(source).is_file():
        path = Path(source)
        digest = sha256_file(path)
        if digest != pinned.sha256:
            raise ChecksumError(f"expected {what} with sha256 {pinned.sha256} (pinned at {pinned.url}), found {digest}{newer}", file=path)
        return path.read_bytes(), str(path)
    if download_dir is None:
        from mmsafety.data.catalog import cache_root

        download_dir = cache_root() / "downloads" / "mmsafety"
    folder = Path(source) if source is not None else None
    try:
        data = Source({relative: pinned}, source_dir=folder, download_dir=download_dir).read_bytes(relative)
    except ChecksumError:
        raise
    except InputError as error:
        if folder is not None:
            raise
        raise InputError(f"{error.detail}; {hint}", file=error.file) from None
    return data, str(folder / relative) if folder is not None else pinned.url
