"""Pinned upstream files: checksums.tsv, reading a local copy, downloading from a mirror."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from helpers.http import serve_directory
from mmsafety.errors import ChecksumError, InputError
from mmsafety.data.sources import GITHUB_RAW, PinnedFile, Source, _auth_headers, checksum_rows, mirrored, read_checksums, sha256_file

PREFIX = f"{GITHUB_RAW}/owner/repo/0123456789abcdef0123456789abcdef01234567/data"


def write_release(root: Path) -> dict[str, bytes]:
    files = {"prompt.txt": b"1\nhello\n", "images/1.jpeg": b"\xff\xd8 not really \xff\xd9", "images2/2001.png": b"png" * 1000}
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return files


def pins_of(root: Path, tmp_path: Path, prefix: str = PREFIX) -> dict[str, PinnedFile]:
    table = tmp_path / "checksums.tsv"
    table.write_text("\n".join(checksum_rows(root, prefix)) + "\n", encoding="utf-8")
    return read_checksums(table)


@pytest.fixture
def release(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    root = tmp_path / "release"
    return root, write_release(root)


# -- checksums.tsv -----------------------------------------------------------------------


def test_checksum_rows_round_trip_through_read_checksums(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, files = release
    pins = pins_of(root, tmp_path)
    assert set(pins) == set(files)
    for relative, data in files.items():
        assert pins[relative] == PinnedFile(relative, len(data), hashlib.sha256(data).hexdigest(), f"{PREFIX}/{relative}")


def test_checksum_rows_without_a_url_prefix(release: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = release
    rows = list(checksum_rows(root))
    assert rows[0] == "path\tsize\tsha256\turl"
    assert all(row.endswith("\t-") for row in rows[1:])


def test_sha256_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "big"
    data = os.urandom(3 << 20)  # more than one chunk
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_an_unknown_size_or_digest_is_a_dash(tmp_path: Path) -> None:
    table = tmp_path / "checksums.tsv"
    table.write_text("path\tsize\tsha256\turl\nimgs.tar\t-\t-\thttps://example.org/imgs.tar\n", encoding="utf-8")
    assert read_checksums(table)["imgs.tar"] == PinnedFile("imgs.tar", None, None, "https://example.org/imgs.tar")


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("file\tsize\tsha256\turl\n", "line 1", "header"),
        ("path\tsize\tsha256\turl\na\t1\tabc\n", "line 2", "found 3"),
    ],
)
def test_a_malformed_checksums_file_is_located_by_file_with_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    table = tmp_path / "checksums.tsv"
    table.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=what) as caught:
        read_checksums(table)
    assert str(caught.value).startswith(f"{table}: {where}: ")


# -- a local copy ----------------------------------------------------------------------------


def test_local_files_are_checked_against_their_pin(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, files = release
    source = Source(pins_of(root, tmp_path), source_dir=root, download_dir=tmp_path / "downloads")
    assert source.available() == set(files)
    assert source.read_bytes("images/1.jpeg") == files["images/1.jpeg"]
    assert source.local_path("prompt.txt") == (root / "prompt.txt").resolve()
    assert not (tmp_path / "downloads").exists()


def test_a_checksum_mismatch_names_the_file(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, files = release
    source = Source(pins_of(root, tmp_path), source_dir=root, download_dir=tmp_path / "downloads")
    (root / "images2/2001.png").write_bytes(b"changed")
    with pytest.raises(ChecksumError, match=r"expected sha256 [0-9a-f]{64}, found [0-9a-f]{64} \(7 bytes\).*--checksums") as caught:
        source.read_bytes("images2/2001.png")
    assert str(caught.value).startswith("images2/2001.png: ")
    with pytest.raises(ChecksumError, match="images2/2001.png"):
        source.local_path("images2/2001.png")


def test_a_file_pinned_without_a_digest_is_not_hashed_for_nothing(
    tmp_path: Path, release: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = release
    pins = pins_of(root, tmp_path)
    pins["images2/2001.png"] = PinnedFile("images2/2001.png", None, None, pins["images2/2001.png"].url)
    source = Source(pins, source_dir=root, download_dir=tmp_path / "downloads")
    hashed: list[Path] = []
    monkeypatch.setattr("mmsafety.data.sources.sha256_file", lambda path: hashed.append(path) or sha256_file(path))
    assert source.local_path("images2/2001.png") == (root / "images2/2001.png").resolve()
    assert hashed == []
    source.local_path("prompt.txt")  # a pinned file is hashed, and so checked
    assert hashed == [(root / "prompt.txt").resolve()]


def test_a_file_not_pinned_is_refused(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = release
    source = Source(pins_of(root, tmp_path), source_dir=root, download_dir=tmp_path / "downloads")
    (root / "images" / "9.jpeg").write_bytes(b"new")
    assert "images/9.jpeg" in source.available()
    with pytest.raises(ChecksumError, match="not pinned"):
        source.read_bytes("images/9.jpeg")


def test_a_pinned_file_absent_locally_is_named(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = release
    source = Source(pins_of(root, tmp_path), source_dir=root, download_dir=tmp_path / "downloads")
    (root / "prompt.txt").unlink()
    with pytest.raises(InputError, match="expected this upstream file, found nothing") as caught:
        source.read_bytes("prompt.txt")
    assert str(root / "prompt.txt") in str(caught.value)


def test_a_path_escaping_the_local_copy_is_refused(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = release
    (tmp_path / "secret.txt").write_text("secret")
    pins = {"../secret.txt": PinnedFile("../secret.txt", None, None, "-")}
    source = Source(pins, source_dir=root, download_dir=tmp_path / "downloads")
    with pytest.raises(InputError, match="escapes the source dir"):
        source.read_bytes("../secret.txt")


def test_a_symlink_escaping_the_local_copy_is_listed_but_not_read(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = release
    pins = pins_of(root, tmp_path)
    (tmp_path / "secret.txt").write_text("secret")
    (root / "images" / "1.jpeg").unlink()
    os.symlink(tmp_path / "secret.txt", root / "images" / "1.jpeg")
    source = Source(pins, source_dir=root, download_dir=tmp_path / "downloads")
    assert "images/1.jpeg" in source.available()
    with pytest.raises(InputError, match="images/1.jpeg.*escapes the source dir"):
        source.read_bytes("images/1.jpeg")


def test_a_dangling_symlink_is_refused_when_read(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = release
    pins = pins_of(root, tmp_path)
    (root / "images" / "1.jpeg").unlink()
    os.symlink("nowhere.jpeg", root / "images" / "1.jpeg")
    source = Source(pins, source_dir=root, download_dir=tmp_path / "downloads")
    assert "images/1.jpeg" in source.available()
    with pytest.raises(InputError, match="found nothing"):
        source.read_bytes("images/1.jpeg")


def test_an_empty_or_absent_source_dir_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="found an empty folder") as caught:
        Source({}, source_dir=empty, download_dir=tmp_path / "d")
    assert str(caught.value).startswith(f"{empty}: ")
    with pytest.raises(InputError, match="expected a folder holding the upstream files"):
        Source({}, source_dir=tmp_path / "absent", download_dir=tmp_path / "d")


# -- downloading -----------------------------------------------------------------------------


def test_mirrored_replaces_the_github_host_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MMSAFETY_GITHUB_URL", raising=False)
    assert mirrored(f"{PREFIX}/a.png") == f"{PREFIX}/a.png"
    monkeypatch.setenv("MMSAFETY_GITHUB_URL", "http://127.0.0.1:9/")
    assert mirrored(f"{PREFIX}/a.png") == "http://127.0.0.1:9/owner/repo/0123456789abcdef0123456789abcdef01234567/data/a.png"
    assert mirrored("https://example.org/a.png") == "https://example.org/a.png"


def test_the_hub_token_goes_to_the_hub_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    hub_file = f"{constants.ENDPOINT}/datasets/Holly301/SaLAD/resolve/main/data.json"
    assert _auth_headers(hub_file) == {"Authorization": "Bearer hf_secret"}  # gated datasets need it
    assert _auth_headers("http://127.0.0.1:9/owner/repo/a.png") == {}
    assert _auth_headers(f"{PREFIX}/a.png") == {}
    monkeypatch.delenv("HF_TOKEN")
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")  # no token file either
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", "/nonexistent-hf-home/token")
    assert _auth_headers(hub_file) == {}


def served(tmp_path: Path, root: Path) -> Path:
    """Lay ``root`` out under a server folder as the GitHub raw host would serve it."""
    served_root = tmp_path / "served"
    target = served_root / PREFIX[len(GITHUB_RAW) + 1 :]
    target.mkdir(parents=True)
    for file in root.rglob("*"):
        if file.is_file():
            (target / file.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
            (target / file.relative_to(root)).write_bytes(file.read_bytes())
    return target


def test_a_download_from_a_local_mirror_gives_the_pinned_bytes(
    tmp_path: Path, release: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, files = release
    pins = pins_of(root, tmp_path)
    served(tmp_path, root)
    downloads = tmp_path / "downloads"
    with serve_directory(tmp_path / "served") as (base_url, log):
        monkeypatch.setenv("MMSAFETY_GITHUB_URL", base_url)
        source = Source(pins, source_dir=None, download_dir=downloads)
        assert source.available() == set(files)
        source.prefetch(["images/1.jpeg", "images2/2001.png"])
        assert source.read_bytes("images/1.jpeg") == files["images/1.jpeg"]
        assert source.local_path("prompt.txt").read_bytes() == files["prompt.txt"]
        assert len(log) == 3
    assert not list(downloads.rglob(".part-*"))


def test_a_downloaded_file_is_not_fetched_twice(
    tmp_path: Path, release: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, files = release
    pins = pins_of(root, tmp_path)
    target = served(tmp_path, root)
    downloads = tmp_path / "downloads"
    with serve_directory(tmp_path / "served") as (base_url, log):
        monkeypatch.setenv("MMSAFETY_GITHUB_URL", base_url)
        Source(pins, source_dir=None, download_dir=downloads).prefetch(["images/1.jpeg", "images2/2001.png", "prompt.txt"])
        again = Source(pins, source_dir=None, download_dir=downloads)
        again.prefetch(list(files))
        assert {p: again.read_bytes(p) for p in files} == files
        assert sorted(log) == sorted(f"/{target.relative_to(tmp_path / 'served').as_posix()}/{p}" for p in files)


def test_a_download_that_does_not_match_its_pin_is_not_kept(
    tmp_path: Path, release: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = release
    pins = pins_of(root, tmp_path)
    target = served(tmp_path, root)
    (target / "images2" / "2001.png").write_bytes(b"tampered")
    downloads = tmp_path / "downloads"
    with serve_directory(tmp_path / "served") as (base_url, _):
        monkeypatch.setenv("MMSAFETY_GITHUB_URL", base_url)
        source = Source(pins, source_dir=None, download_dir=downloads)
        with pytest.raises(ChecksumError, match=r"expected sha256 .* \(8 bytes\)") as caught:
            source.prefetch(["images/1.jpeg", "images2/2001.png"])
        assert str(caught.value).startswith("images2/2001.png: ")
    kept = [p.name for p in downloads.rglob("*") if p.is_file()]
    assert len(kept) == 1 and kept[0].endswith("-1.jpeg")  # the good file only; no partial file


def test_a_download_that_fails_names_the_file_with_its_url(
    tmp_path: Path, release: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = release
    pins = pins_of(root, tmp_path)
    (tmp_path / "served").mkdir()
    with serve_directory(tmp_path / "served") as (base_url, _):
        monkeypatch.setenv("MMSAFETY_GITHUB_URL", base_url)
        source = Source(pins, source_dir=None, download_dir=tmp_path / "downloads")
        with pytest.raises(InputError, match=r"download failed: HTTP 404 .* from http://127\.0\.0\.1:\d+/owner/repo/.*/prompt.txt") as caught:
            source.read_bytes("prompt.txt")
        assert str(caught.value).startswith("prompt.txt: ")
    assert not [p for p in (tmp_path / "downloads").rglob("*") if p.is_file()]


def test_a_download_from_an_unreachable_host_names_the_file(
    tmp_path: Path, release: tuple[Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = release
    pins = pins_of(root, tmp_path)
    monkeypatch.setenv("MMSAFETY_GITHUB_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    source = Source(pins, source_dir=None, download_dir=tmp_path / "downloads")
    with pytest.raises(InputError, match="download failed") as caught:
        source.read_bytes("prompt.txt")
    assert str(caught.value).startswith("prompt.txt: ")


def symlinked_release(tmp_path: Path, root: Path) -> Source:
    """The release with a folder linked inside it under another name, a cycle, and a folder linked from outside."""
    (root / "originals").mkdir()
    (root / "originals" / "5.jpeg").write_bytes(b"x")
    os.symlink("originals", root / "images3")  # a folder inside, under another name
    os.symlink("..", root / "images" / "loop")  # a cycle
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "6.jpeg").write_bytes(b"y")
    os.symlink(outside, root / "images4")  # a folder outside: listed, refused when read
    return Source(pins_of(root, tmp_path), source_dir=root, download_dir=tmp_path / "downloads")


def test_files_in_symlinked_folders_are_listed_once_each_despite_loops(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, files = release
    source = symlinked_release(tmp_path, root)
    assert source.available() == set(files) | {"originals/5.jpeg", "images3/5.jpeg", "images4/6.jpeg"}


def test_a_file_in_a_folder_linked_from_outside_is_refused_when_read(tmp_path: Path, release: tuple[Path, dict[str, bytes]]) -> None:
    root, _ = release
    source = symlinked_release(tmp_path, root)
    with pytest.raises(InputError, match="escapes the source dir"):
        source.read_bytes("images4/6.jpeg")

