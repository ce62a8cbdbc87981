"""Test material made on the fly: tiny images, zips and tars (hostile members too), CLI runs."""

from __future__ import annotations

import io
import json
import stat
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from PIL import Image

from mmsafety.data.catalog import built_versions, cache_root


def tiny_png(number: int = 0) -> bytes:
    """A 1x1 PNG whose colour encodes ``number``: distinct bytes for distinct numbers."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (number & 255, (number >> 8) & 255, (number >> 16) & 255)).save(buffer, "PNG")
    return buffer.getvalue()


def tiny_jpeg(number: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (number & 255, (number >> 8) & 255, 7)).save(buffer, "JPEG")
    return buffer.getvalue()


def write_json(path: Path, value: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


# -- tar -------------------------------------------------------------------------------
def tar_file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def tar_special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    """A member that is not a regular file: ``tarfile.SYMTYPE``, ``LNKTYPE``, ``DIRTYPE``, ``CHRTYPE``, ``FIFOTYPE``."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def write_tar(path: Path, members: Iterable[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return path


# -- zip -------------------------------------------------------------------------------
def zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def write_zip(path: Path, members: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


# -- what a build left behind ------------------------------------------------------------
def assert_nothing_built(name: str) -> None:
    """No build of ``mmsafety/<name>`` in the cache, and no scratch folder left behind."""
    assert built_versions(f"mmsafety/{name}") == []
    leftovers = [p.name for p in cache_root().iterdir() if p.name.startswith(".mmsafety-build-")] if cache_root().exists() else []
    assert leftovers == []


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def run_cli(args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m mmsafety.cli ARGS`` in a subprocess (the test's cache variables apply)."""
    return subprocess.run([sys.executable, "-m", "mmsafety.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def error_line(stderr: str) -> str:
    """The one error line the CLI printed (progress bars aside)."""
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, stderr
    return lines[0]
