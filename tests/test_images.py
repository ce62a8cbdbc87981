"""Reading upstream images as they are: formats, bombs, truncation, paths that escape."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from helpers.mmsafeaware import big_png, image_bytes
from mmsafety.errors import InputError
from mmsafety.data.images import FORMATS, image_value, read_image_file, resolve_inside, sniff_format

WHERE = {"file": "images/7.jpeg", "record": "id 7"}


def check(data: bytes, name: str = "7.jpeg") -> dict:
    return dict(image_value(data, name=name, **WHERE))


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "MPO", "GIF", "BMP"])
def test_every_format_is_kept_byte_for_byte(image_format: str) -> None:
    data = image_bytes(image_format, seed=3)
    assert sniff_format(data) == image_format
    assert check(data) == {"bytes": data, "path": "7.jpeg"}


def test_the_accepted_formats_include_those_upstream_uses() -> None:
    assert {"JPEG", "MPO", "PNG", "WEBP"} <= FORMATS


def test_a_jpeg_named_png_is_read_by_its_content() -> None:
    data = image_bytes("JPEG")
    value = image_value(data, name="2037.png", file="images2/2037.png", record="id 2037")
    assert value["bytes"] == data and value["path"] == "2037.png"
    assert sniff_format(value["bytes"]) == "JPEG"


def test_mpo_keeps_both_frames() -> None:
    data = check(image_bytes("MPO"))["bytes"]
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "MPO" and image.n_frames == 2


@pytest.mark.parametrize(
    ("data", "found"),
    [
        (b"", "empty file"),
        (b"<!DOCTYPE html><html>404 Not Found</html>", "found a text file of 41 bytes"),
        (b"\x00\x01\x02\x03" * 50, "found 200 bytes of no image format Pillow knows"),
    ],
    ids=["empty", "html", "binary"],
)
def test_a_file_that_is_not_an_image_is_located_by_file_with_id(data: bytes, found: str) -> None:
    with pytest.raises(InputError, match="expected an image") as caught:
        check(data)
    assert str(caught.value).startswith("images/7.jpeg: id 7: ")
    assert found in str(caught.value)
    assert "BytesIO" not in str(caught.value)


def test_an_image_format_outside_the_accepted_ones_is_refused() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "TIFF")
    with pytest.raises(InputError, match="found a TIFF image"):
        check(buffer.getvalue())


@pytest.mark.parametrize("image_format", ["JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP"])
@pytest.mark.parametrize("missing", [1, 4, "a fifth"])
def test_a_truncated_image_is_refused(image_format: str, missing: int | str) -> None:
    data = image_bytes(image_format, seed=1)
    cut = data[: len(data) - (len(data) // 5 if missing == "a fifth" else int(missing))]
    opens = sniff_format(cut) is not None
    if missing != "a fifth" and image_format != "WEBP":  # Pillow decodes a WEBP whole: a cut one never opens
        assert opens, "the header survives: only the missing end can tell that the file is cut short"
    expected = f"{image_format} image is truncated" if opens else "expected an image Pillow can open"
    with pytest.raises(InputError, match=expected) as caught:
        check(cut)
    assert str(caught.value).startswith("images/7.jpeg: id 7: ")


def test_a_png_with_a_damaged_chunk_is_refused() -> None:
    data = bytearray(image_bytes("PNG"))
    data[-20] ^= 0xFF  # inside the image data: its CRC no longer matches
    with pytest.raises(InputError, match="truncated"):
        check(bytes(data))


def test_trailing_padding_after_the_end_marker_is_not_truncation() -> None:
    data = image_bytes("JPEG") + b"\x00\x00\r\n"
    assert check(data)["bytes"] == data


def test_an_image_over_the_bomb_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = image_bytes("PNG")  # 8 x 6 = 48 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 40)
    with pytest.raises(InputError, match="48 pixels exceeds Pillow's decompression-bomb limit of 40") as caught:
        check(data)
    assert str(caught.value).startswith("images/7.jpeg: id 7: ")


def test_an_image_over_twice_the_bomb_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pillow itself raises past twice the limit; the message still says where.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20)
    with pytest.raises(InputError, match="decompression-bomb limit") as caught:
        check(image_bytes("JPEG"))
    assert str(caught.value).startswith("images/7.jpeg: id 7: ")


def test_a_real_bomb_at_the_default_limit_is_refused_cheaply() -> None:
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's default, which a build keeps
    data = big_png(10_000, 9_000)  # 90 million pixels in about 11 kB
    assert len(data) < 50_000
    with pytest.raises(InputError, match="10000x9000 = 90000000 pixels exceeds"):
        check(data, name="1.png")


def test_no_limit_when_pillow_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    data = big_png(10_000, 9_000)
    assert check(data)["bytes"] == data


# -- paths that escape the source dir ---------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``tmp_path/source`` with ``images/1.jpeg`` in it, and ``tmp_path/outside.jpeg`` beside it."""
    root = tmp_path / "source"
    (root / "images").mkdir(parents=True)
    (root / "images" / "1.jpeg").write_bytes(image_bytes("JPEG"))
    (tmp_path / "outside.jpeg").write_bytes(image_bytes("JPEG", seed=2))
    return root


def test_a_path_inside_resolves(tree: Path) -> None:
    assert resolve_inside(tree, "images/1.jpeg", file="f", record="r") == (tree / "images" / "1.jpeg").resolve()
    assert read_image_file(tree, "images/1.jpeg", record="id 1")["bytes"] == (tree / "images/1.jpeg").read_bytes()


@pytest.mark.parametrize("relative", ["../outside.jpeg", "images/../../outside.jpeg", "ABSOLUTE"])
def test_a_dotdot_or_absolute_path_is_refused(tree: Path, relative: str) -> None:
    if relative == "ABSOLUTE":
        relative = str(tree.parent / "outside.jpeg")
    with pytest.raises(InputError, match="escapes the source dir") as caught:
        read_image_file(tree, relative, record="id 1")
    assert str(caught.value).startswith(f"{relative}: id 1: ")


def test_a_symlink_pointing_outside_is_refused(tree: Path) -> None:
    os.symlink(tree.parent / "outside.jpeg", tree / "images" / "2.jpeg")
    with pytest.raises(InputError, match="images/2.jpeg.*escapes the source dir") as caught:
        read_image_file(tree, "images/2.jpeg", record="id 2")
    assert "id 2" in str(caught.value)


def test_a_relative_symlink_climbing_out_is_refused(tree: Path) -> None:
    os.symlink("../../outside.jpeg", tree / "images" / "2.jpeg")
    with pytest.raises(InputError, match="escapes the source dir"):
        read_image_file(tree, "images/2.jpeg", record="id 2")


def test_a_symlinked_folder_pointing_outside_is_refused(tree: Path) -> None:
    elsewhere = tree.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "3.jpeg").write_bytes(image_bytes("JPEG"))
    os.symlink(elsewhere, tree / "images2")
    with pytest.raises(InputError, match="escapes the source dir"):
        read_image_file(tree, "images2/3.jpeg", record="id 3")


def test_a_symlink_staying_inside_is_followed(tree: Path) -> None:
    os.symlink("1.jpeg", tree / "images" / "2.jpeg")
    assert read_image_file(tree, "images/2.jpeg", record="id 2")["bytes"] == (tree / "images/1.jpeg").read_bytes()


def test_a_source_dir_reached_through_a_symlink_is_inside_itself(tree: Path) -> None:
    link = tree.parent / "link-to-source"
    os.symlink(tree, link)
    assert read_image_file(link, "images/1.jpeg", record="id 1")["bytes"] == (tree / "images/1.jpeg").read_bytes()


def test_an_unreadable_image_is_located_by_file_with_id(tree: Path) -> None:
    (tree / "images" / "4.jpeg").mkdir()  # a folder where a file should be
    with pytest.raises(InputError, match="cannot read the image") as caught:
        read_image_file(tree, "images/4.jpeg", record="id 4")
    assert str(caught.value).startswith("images/4.jpeg: id 4: ")
