"""Reading upstream metadata strictly: a JSON list of records with typed fields.

Every error names the file and where in it: the line and column of malformed
JSON, or the record (its index in the list, and its id once known) whose field
is missing or of the wrong type.

>>> records = load_json_list(b'[{"id": 7, "text": "hi"}]', file="data.json")
>>> record = Record(records[0], file="data.json", index=0)
>>> record.id = record.integer("id")
>>> record.string("text")
'hi'
>>> record.string("image")
Traceback (most recent call last):
...
mmsafety.errors.InputError: data.json: record 0 (id 7): expected the field 'image', found only 'id', 'text'
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mmsafety.errors import InputError


def json_type(value: object) -> str:
    """The JSON name of a Python value's type, for messages.

    >>> json_type(True), json_type(3), json_type(None), json_type([])
    ('boolean', 'integer', 'null', 'list')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def load_json_list(data: bytes, *, file: object) -> list[dict[str, Any]]:
    """Parse ``data`` as a JSON list of objects, naming line and column when it is malformed.

    >>> load_json_list(b'[{"a": 1},\\n {"a": 2,}]', file="data.json")
    Traceback (most recent call last):
    ...
    mmsafety.errors.InputError: data.json: line 2, column 10: malformed JSON: Expecting property name enclosed in double quotes
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"expected UTF-8 text, found the byte {data[error.start]:#04x}", file=file, record=f"byte {error.start}") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"malformed JSON: {error.msg}", file=file, record=f"line {error.lineno}, column {error.colno}") from None
    if not isinstance(value, list):
        raise InputError(f"expected a JSON list of records, found a JSON {json_type(value)}", file=file)
    if not value:
        raise InputError("expected records, found an empty list", file=file)
    for index, record in enumerate(value):
        if not isinstance(record, dict):
            raise InputError(f"expected a JSON object, found a JSON {json_type(record)}", file=file, record=f"record {index}")
        if "\\ud" in text or "\\uD" in text:
            check_text(record, file=file, record=f"record {index}")
    return value


def check_text(value: Any, *, file: object, record: object, field: str = "") -> None:
    """Refuse a string holding a lone surrogate (a ``\\udXXX`` escape that is not text: no UTF-8
    spells it, so no file name or query holds one), naming the record and the field.

    >>> check_text({"image": "caf\\udce9.png"}, file="r.jsonl", record="line 3")
    Traceback (most recent call last):
    ...
    mmsafety.errors.InputError: r.jsonl: line 3: expected text in 'image', found a lone surrogate (U+DCE9), which no UTF-8 file name or text holds
    """
    if isinstance(value, str):
        for char in value:
            if "\ud800" <= char <= "\udfff":
                raise InputError(f"expected text in {field!r}, found a lone surrogate (U+{ord(char):04X}), which no UTF-8 file name or text holds",
                                 file=file, record=record)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(key, file=file, record=record, field=field)
            check_text(item, file=file, record=record, field=key if not field else f"{field}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, file=file, record=record, field=f"{field}[{index}]")


def load_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, object)`` for each non-blank line of a JSONL file, read line by line.

    Lines end at ``\\n`` only (a JSON string may hold U+2028); a byte-order mark is
    ignored. Text that is not UTF-8, malformed JSON and a line that is not an object are
    :class:`~mmsafety.errors.InputError` naming the file, the line and the column.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> _ = path.write_text('{"id": 1}\\n\\n[2]\\n')
    >>> list(load_jsonl(path))
    Traceback (most recent call last):
    ...
    mmsafety.errors.InputError: ...r.jsonl: line 3: expected a JSON object, found a JSON list
    """
    try:
        with open(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError as error:
                    raise InputError(
                        f"expected UTF-8 text, found the byte {raw[error.start]:#04x} at column {error.start + 1}",
                        file=path,
                        record=f"line {number}",
                    ) from None
                if not text.strip():
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as error:
                    raise InputError(f"malformed JSON: {error.msg}", file=path, record=f"line {number}, column {error.colno}") from None
                if not isinstance(value, dict):
                    raise InputError(f"expected a JSON object, found a JSON {json_type(value)}", file=path, record=f"line {number}")
                if "\\ud" in text or "\\uD" in text:  # only an escape can spell a lone surrogate
                    check_text(value, file=path, record=f"line {number}")
                yield number, value
    except FileNotFoundError:
        raise InputError("expected a JSONL file, found no such file", file=path) from None
    except IsADirectoryError:
        raise InputError("expected a JSONL file, found a folder", file=path) from None


class Record:
    """One upstream record, read field by field; every error names the record."""

    def __init__(self, data: Mapping[str, Any], *, file: object, index: int) -> None:
        self.data = data
        self.file = file
        self.index = index
        self.id: object = None
        """The record's id once known, so that later errors name it too."""

    @property
    def where(self) -> str:
        return f"record {self.index}" if self.id is None else f"record {self.index} (id {self.id})"

    def error(self, message: str) -> InputError:
        return InputError(message, file=self.file, record=self.where)

    def has(self, name: str) -> bool:
        return name in self.data

    def value(self, name: str) -> Any:
        if name not in self.data:
            present = ", ".join(repr(key) for key in self.data) or "no fields"
            raise self.error(f"expected the field {name!r}, found only {present}")
        return self.data[name]

    def string(self, name: str) -> str:
        value = self.value(name)
        if not isinstance(value, str):
            raise self.error(f"expected the field {name!r} to be a string, found a JSON {json_type(value)} {value!r}")
        return value

    def integer(self, name: str) -> int:
        value = self.value(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"expected the field {name!r} to be an integer, found a JSON {json_type(value)} {value!r}")
        return value

    def choice(self, name: str, allowed: Iterable[str]) -> str:
        value = self.string(name)
        options = tuple(allowed)
        if value not in options:
            raise self.error(f"expected the field {name!r} to be one of {', '.join(map(repr, options))}, found {value!r}")
        return value

    def one_of(self, *names: str) -> str:
        """The one field of ``names`` the record has (a field known by several spellings)."""
        present = [name for name in names if name in self.data]
        if len(present) != 1:
            spelled = " or ".join(repr(name) for name in names)
            found = ", ".join(repr(name) for name in present) if present else "neither"
            raise self.error(f"expected exactly one of the fields {spelled}, found {found}")
        return present[0]


def check_unique_ids(ids: Iterable[tuple[object, Record]], *, file: object) -> None:
    """Refuse an id that appears twice, naming both records.

    ``ids`` pairs each record's id with its :class:`Record`.
    """
    seen: dict[object, Record] = {}
    for key, record in ids:
        if key in seen:
            raise InputError(f"duplicate id {key} (first at {seen[key].where})", file=file, record=record.where)
        seen[key] = record
