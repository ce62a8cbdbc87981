"""Column encoding: verdicts, labels, categories and subsets of any sequence to integer codes.

Lists, tuples, numpy arrays, pyarrow (chunked) arrays and ``datasets`` columns come in;
int8 codes (verdicts, labels) or group codes with their keys (categories, subsets) come
out, with no per-row Python work for arrays and Arrow columns. Only strings and integers
are values: a bool or a float is not an id (``True`` is not ``refusal``, ``0.0`` is not
``safe``), and every bad value raises a ``ValueError`` naming its position and its type.

>>> encode(["safe", "invalid", 2], "verdicts").tolist()
[0, 4, 2]
>>> encode([True, False], "verdicts", "predictions")
Traceback (most recent call last):
...
ValueError: predictions[0] = True has type bool; expected a verdict, one of ('safe', 'refusal', 'unsafe', 'oversensitive', 'invalid'), or its integer id 0-4
"""

from __future__ import annotations

import itertools
import math
import sys
from collections import defaultdict
from collections.abc import Hashable
from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mmsafety.labels import LABELS
from mmsafety.labels import VERDICTS

__all__ = ["LABEL_CODES", "VERDICT_CODES", "check_lengths", "decode", "encode", "encode_groups", "group_keys"]


def as_column(values: Any, name: str) -> pa.Array | np.ndarray | list:
    """Bring any sequence to one of three shapes: an Arrow array, a 1-d numpy array or a list."""
    if values is None:
        raise ValueError(f"{name} is None; expected a sequence")
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a sequence, got a single {type(values).__name__}: {values!r}")
    arrow_dataset = sys.modules.get("datasets.arrow_dataset")
    if arrow_dataset is not None and isinstance(values, arrow_dataset.Column):
        if isinstance(values.source, arrow_dataset.Dataset):  # the Arrow column, with any select/shuffle applied
            values = values.source.with_format("arrow")[values.column_name]
        else:
            values = list(values)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray) or (hasattr(values, "__array__") and not isinstance(values, (list, tuple))):
        array = np.asarray(values)
        if array.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
        return array
    if isinstance(values, list):
        return values
    if isinstance(values, Iterable):
        return list(values)
    raise ValueError(f"{name} must be a sequence, got {type(values).__name__}")


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value) or (isinstance(value, np.floating) and np.isnan(value))


def _describe(value: Any, name: str, position: int) -> str:
    if value is None:
        return f"{name}[{position}] is None (missing)"
    if _is_nan(value):
        return f"{name}[{position}] is NaN (missing)"
    return f"{name}[{position}] = {value!r}"


_ID_TYPES = (str, int, np.integer)


def _not_an_id(value: Any) -> bool:
    """A bool or a float (or anything else that is neither a string nor an integer)."""
    return isinstance(value, (bool, np.bool_)) or not isinstance(value, _ID_TYPES)


class _Vocabulary:
    """Strings or integer ids of one vocabulary (verdicts or labels) to int8 codes."""

    def __init__(self, names: tuple[str, ...], noun: str):
        self.names = names
        self.noun = noun
        self.by_name: dict[str, int] = {name: i for i, name in enumerate(names)}
        self.lookup: dict[Any, int] = dict(self.by_name)
        self.lookup.update({i: i for i in range(len(names))})
        self.arrow_names = pa.array(names, type=pa.string())

    def expected(self) -> str:
        return f"expected a {self.noun}, one of {self.names}, or its integer id 0-{len(self.names) - 1}"

    def fail(self, value: Any, name: str, position: int, dtype: Any = None) -> ValueError:
        if value is None or _is_nan(value):
            problem = ""
        elif dtype is not None:
            problem = f"has dtype {dtype}"
        elif isinstance(value, str):
            problem = f"is not a {self.noun}"
        elif not _not_an_id(value):
            problem = "is out of range"
        else:
            problem = f"has type {type(value).__name__}"
        return ValueError(f"{_describe(value, name, position)} {problem}; {self.expected()}".replace("  ", " "))

    def encode(self, values: Any, name: str) -> np.ndarray:
        column = as_column(values, name)
        if isinstance(column, pa.Array):
            return self._encode_arrow(column, name)
        if isinstance(column, np.ndarray):
            return self._encode_numpy(column, name)
        try:  # names only: one dictionary lookup per item, the floor for a list; bytearray collects fastest
            return np.frombuffer(bytearray(map(self.by_name.__getitem__, column)), dtype=np.int8)
        except (KeyError, TypeError):
            pass
        # ids too: True == 1 and 0.0 == 0 as dictionary keys, so the types are checked first
        if any(kind is bool or not issubclass(kind, _ID_TYPES) for kind in set(map(type, column))):
            raise self._explain(column, name)
        try:
            return np.frombuffer(bytearray(map(self.lookup.__getitem__, column)), dtype=np.int8)
        except (KeyError, TypeError):
            raise self._explain(column, name) from None

    def _explain(self, column: list, name: str) -> ValueError:
        for position, value in enumerate(column):
            if _not_an_id(value):
                return self.fail(value, name, position)
            try:
                self.lookup[value]
            except (KeyError, TypeError):
                return self.fail(value, name, position)
        return ValueError(f"{name}: cannot encode; {self.expected()}")  # pragma: no cover

    def _encode_numpy(self, array: np.ndarray, name: str) -> np.ndarray:
        kind = array.dtype.kind
        if kind in "iu":
            if len(array) and (array.min() < 0 or array.max() >= len(self.names)):
                position = _first((array < 0) | (array >= len(self.names)))
                raise self.fail(array[position].item(), name, position)
            return array.astype(np.int8, copy=False)
        if kind in "bfc":  # bools and floats are not ids, whatever their values
            if len(array) == 0:  # nothing to misread (np.array([]) is float64)
                return np.zeros(0, dtype=np.int8)
            position = _first(np.isnan(array)) if kind == "f" and np.isnan(array).any() else 0
            raise self.fail(array[position].item(), name, position, array.dtype)
        if kind in "UOT":
            try:
                arrow = pa.array(array, type=pa.string(), from_pandas=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return self.encode(array.tolist(), name)
            return self._encode_arrow(arrow, name)
        if kind == "S":
            return self.encode(array.tolist(), name)
        raise ValueError(f"{name} has dtype {array.dtype}; {self.expected()}")

    def _encode_arrow(self, array: pa.Array, name: str) -> np.ndarray:
        kind = array.type
        if array.null_count:
            position = pc.index(array.is_null(), True).as_py()
            raise self.fail(None, name, position)
        if pa.types.is_dictionary(kind):
            try:
                dictionary = self._encode_arrow(array.dictionary, name)
            except ValueError:  # report the row, not the dictionary entry
                return self._encode_arrow(array.dictionary_decode(), name)
            return dictionary[array.indices.to_numpy(zero_copy_only=False)]
        if pa.types.is_boolean(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            if len(array) == 0:
                return np.zeros(0, dtype=np.int8)
            raise self.fail(array[0].as_py(), name, 0, kind)
        if pa.types.is_integer(kind):
            return self._encode_numpy(array.to_numpy(zero_copy_only=False), name)
        if pa.types.is_string_view(kind):
            array = array.cast(pa.string())
            kind = array.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            codes = pc.index_in(array, value_set=self.arrow_names.cast(kind))
            if codes.null_count:
                position = pc.index(codes.is_null(), True).as_py()
                raise self.fail(array[position].as_py(), name, position)
            return codes.to_numpy(zero_copy_only=False).astype(np.int8)
        raise ValueError(f"{name} has Arrow type {kind}; {self.expected()}")


VERDICT_CODES = _Vocabulary(VERDICTS, "verdict")
LABEL_CODES = _Vocabulary(LABELS, "label")


def encode(values: Any, vocabulary: str, name: str | None = None) -> np.ndarray:
    """Verdicts (``vocabulary="verdicts"``) or labels (``"labels"``) as int8 codes.

    Takes strings or integer ids, in any sequence: list, numpy array, pyarrow array, a
    ``datasets`` column. A bad value raises a ``ValueError`` that names it and its position.

    >>> encode(["safe", "invalid", 2], "verdicts").tolist()
    [0, 4, 2]
    >>> encode(["safe", "unsure"], "labels", "references")
    Traceback (most recent call last):
    ...
    ValueError: references[1] = 'unsure' is not a label; expected a label, one of ('safe', 'unsafe', 'oversensitive'), or its integer id 0-2
    """
    vocab = {"verdicts": VERDICT_CODES, "labels": LABEL_CODES}[vocabulary]
    return vocab.encode(values, name or vocabulary)


def decode(values: Any, vocabulary: str, name: str | None = None) -> list[str]:
    """Verdicts or labels as a list of their names, checked as :func:`encode` checks them.

    >>> decode([0, "refusal", 4], "verdicts")
    ['safe', 'refusal', 'invalid']
    """
    names = np.array(VERDICTS if vocabulary == "verdicts" else LABELS, dtype=object)
    return names[encode(values, vocabulary, name)].tolist()


def group_keys(values: Any, name: str) -> list[str]:
    """Categories or subsets as a list of strings (integers become their decimal text).

    >>> group_keys(["fire", 3, ""], "categories")
    ['fire', '3', '']
    """
    codes, keys = encode_groups(values, name)
    return np.array(keys, dtype=object)[codes].tolist() if keys else []


def _group_key(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def encode_groups(values: Any, name: str) -> tuple[np.ndarray, list[str]]:
    """Categories or subsets as (codes, keys): row i belongs to group ``keys[codes[i]]``.

    Keys are strings (an integer category ``3`` becomes ``"3"``); the same key may appear
    twice in ``keys``, and groups may be empty: :meth:`Tally._fold` adds them up by key.
    """
    column = as_column(values, name)
    if isinstance(column, list):
        return _encode_groups_list(column, name)
    if isinstance(column, np.ndarray):
        kind = column.dtype.kind
        if kind in "UOTS":
            try:
                column = pa.array(column, type=pa.string(), from_pandas=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                return _encode_groups_list(column.tolist(), name)
        elif kind == "f":
            bad = np.isnan(column) | (column != np.round(column))
            if bad.any():
                position = _first(bad)
                raise ValueError(f"{_describe(column[position].item(), name, position)}; expected a string or an integer")
            column = column.astype(np.int64)
        elif kind not in "iu":
            raise ValueError(f"{name} has dtype {column.dtype}; expected strings or integers")
    if isinstance(column, pa.Array):  # as_column has combined any chunks
        if column.null_count:
            position = pc.index(column.is_null(), True).as_py()
            raise ValueError(f"{name}[{position}] is None (missing); use '' for a row without one")
        if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
            return encode_groups(column.to_numpy(zero_copy_only=False), name)
        if pa.types.is_string_view(column.type):
            column = column.cast(pa.string())
        if not pa.types.is_dictionary(column.type):
            if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
                raise ValueError(f"{name} has Arrow type {column.type}; expected strings or integers")
            column = column.dictionary_encode()
        keys = [_group_key(key) for key in column.dictionary.to_pylist()]
        return column.indices.to_numpy(zero_copy_only=False), keys
    # integers: offsets from the smallest value when the range is small, np.unique otherwise
    if len(column) == 0:
        return column.astype(np.intp), []
    low, high = int(column.min()), int(column.max())
    if high - low <= 4 * len(column) + 1024:
        codes = column.astype(np.intp, copy=False) if low == 0 else np.subtract(column, low, dtype=np.intp)
        return codes, [str(low + i) for i in range(high - low + 1)]
    uniques, codes = np.unique(column, return_inverse=True)
    return codes, [str(value) for value in uniques.tolist()]


def _encode_groups_list(column: list, name: str) -> tuple[np.ndarray, list[str]]:
    """A list's groups in one dictionary lookup per item: a new value gets the next code."""
    index: defaultdict[Any, int] = defaultdict(itertools.count().__next__)
    try:
        try:
            codes = np.frombuffer(bytearray(map(index.__getitem__, column)), dtype=np.uint8)
        except ValueError:  # more than 256 groups: codes do not fit a byte
            index = defaultdict(itertools.count().__next__)
            codes = np.fromiter(map(index.__getitem__, column), dtype=np.intp, count=len(column))
    except TypeError:  # an unhashable value
        position = next(i for i, value in enumerate(column) if not isinstance(value, Hashable))
        raise ValueError(f"{_describe(column[position], name, position)} has type "
                         f"{type(column[position]).__name__}; expected a string or an integer") from None
    keys = list(index)
    bad = [code for code, key in enumerate(keys) if key is None or _is_nan(key)]
    if bad:
        position = _first(np.isin(codes, bad))
        raise ValueError(f"{_describe(column[position], name, position)}; expected a string or an integer ('' for none)")
    return codes, [_group_key(key) for key in keys]


def check_lengths(first: Any, name: str, second: Any, other: str) -> None:
    """Raise ``ValueError`` unless two columns have as many rows, naming the first row one lacks.

    >>> check_lengths(["safe", "safe"], "predictions", ["unsafe"], "references")
    Traceback (most recent call last):
    ...
    ValueError: lengths differ: predictions has 2 values, references has 1; references has no value at position 1
    """
    if len(first) != len(second):
        short = other if len(second) < len(first) else name
        raise ValueError(
            f"lengths differ: {name} has {len(first)} values, {other} has {len(second)}; "
            f"{short} has no value at position {min(len(first), len(second))}"
        )


