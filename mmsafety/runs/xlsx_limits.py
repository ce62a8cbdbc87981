"""Excel's own limit on a cell, checked before a workbook is opened: at most 32,767 characters
(:data:`MAX_CELL_CHARS`); and no merged cells (openpyxl reads all but a range's first cell as
empty: a file with one is refused naming the range). The workbook's XML is streamed (nothing but a count is kept), so a
small ``.xlsx`` holding one enormous cell is refused naming its row, memory flat, before
openpyxl would read the cell whole.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.parsers import expat

from mmsafety.errors import InputError

MAX_CELL_CHARS = 32_767
"""The most characters an Excel cell holds (Excel's specifications and limits)."""
_CHUNK = 1 << 20
_SHEET = re.compile(r"xl/worksheets/[^/]+\.xml")


class _TooLong(Exception):
    def __init__(self, where: str) -> None:
        super().__init__(where)
        self.where = where
        """The cell's reference (``B7``)."""


class _Merged(_TooLong):
    """A merged range (``B2:B3``): openpyxl reads all but its first cell as empty."""


def check_cell_sizes(path: Path) -> None:
    """Refuse ``path`` (:class:`InputError` naming the row) when a cell holds more than :data:`MAX_CELL_CHARS` characters,
    or (naming the range) when it has merged cells."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return  # openpyxl says what is wrong with it
    with archive:
        names = archive.namelist()
        long_strings: set[int] = set()
        if "xl/sharedStrings.xml" in names:
            long_strings = _long_shared_strings(archive)
        for name in sorted(n for n in names if _SHEET.fullmatch(n)):
            try:
                _scan_sheet(archive, name, long_strings)
            except _Merged as error:
                raise InputError(f"merged cells {error.where}: expected one value in each cell (unmerge them, filling each "
                                 "cell, and save again)", file=path) from None
            except _TooLong as error:
                raise InputError(f"expected at most Excel's {MAX_CELL_CHARS:,} characters in a cell, found more in {error.where}",
                                 file=path, record=_row(error.where)) from None
        if long_strings:
            raise InputError(f"a shared string longer than Excel's {MAX_CELL_CHARS:,} characters", file=path)


def _feed(archive: zipfile.ZipFile, name: str, parser: expat.XMLParserType) -> None:
    with archive.open(name) as stream:
        while chunk := stream.read(_CHUNK):
            parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _long_shared_strings(archive: zipfile.ZipFile) -> set[int]:
    """The indices of the shared strings longer than the limit (their text counted, never kept)."""
    parser = expat.ParserCreate()
    parser.buffer_text = False
    state = {"index": -1, "chars": 0, "in_text": False}
    long: set[int] = set()

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = tag.rsplit(":", 1)[-1]
        if local == "si":
            state["index"] += 1
            state["chars"] = 0
        elif local == "t":
            state["in_text"] = True

    def end(tag: str) -> None:
        if tag.rsplit(":", 1)[-1] == "t":
            state["in_text"] = False

    def text(data: str) -> None:
        if state["in_text"]:
            state["chars"] += len(data)
            if state["chars"] > MAX_CELL_CHARS:
                long.add(state["index"])

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    _feed(archive, "xl/sharedStrings.xml", parser)
    return long


def _scan_sheet(archive: zipfile.ZipFile, name: str, long_strings: set[int]) -> None:
    """Raise :class:`_TooLong` at the first cell of ``name`` over the limit, inline or shared."""
    parser = expat.ParserCreate()
    parser.buffer_text = False
    cell = {"ref": "", "shared": False, "chars": 0, "value": "", "in": ""}

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = tag.rsplit(":", 1)[-1]
        if local == "mergeCell":
            raise _Merged(attrs.get("ref", "?"))
        if local == "c":
            cell.update(ref=attrs.get("r", ""), shared=attrs.get("t") == "s", chars=0, value="", **{"in": ""})
        elif local in ("t", "v", "f"):
            cell["in"] = local

    def end(tag: str) -> None:
        local = tag.rsplit(":", 1)[-1]
        if local == "v" and cell["shared"] and cell["value"].strip().isdigit() and int(cell["value"]) in long_strings:
            raise _TooLong(str(cell["ref"]))
        if local in ("t", "v", "f"):
            cell["in"] = ""

    def text(data: str) -> None:
        if not cell["in"]:
            return
        cell["chars"] += len(data)
        if cell["shared"] and cell["in"] == "v" and len(cell["value"]) < 16:
            cell["value"] += data
        if cell["chars"] > MAX_CELL_CHARS:
            raise _TooLong(str(cell["ref"]))

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, text
    _feed(archive, name, parser)


def _row(ref: str) -> str:
    """``B7`` as ``row 7``."""
    digits = ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    return f"row {digits}" if digits else "a row"
