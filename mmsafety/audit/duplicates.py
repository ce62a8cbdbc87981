"""Duplicates: exact (query, image) repeats, one image under several labels, near-duplicate images.

Near duplicates are pairs of images whose 64-bit perceptual hashes differ in at most
:data:`PHASH_DISTANCE` bits (and whose bytes differ: identical bytes are exact
duplicates). The hashes are compared all against all, vectorised: packed as uint64,
XOR-ed block by block with numpy and their bits counted (:func:`popcount`), so
20,000 images take about a second and memory stays at one block.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

PHASH_DISTANCE = 4
"""Hamming distance (of 64 bits) at or under which two images are near duplicates. A
re-encoded or resized copy lands within it (0-2 in the tests); unrelated photos sit
around 32. On MMSafeAware the closest distinct pictures (black text on white, a
cartoon against a photo) are 10-12 apart: raise it with care. Flat, featureless images
(one colour) all hash alike, so they are listed as near duplicates of one another."""
BLOCK_ELEMENTS = 1 << 22
"""Pairs compared per numpy block (32 MB of uint64)."""
MAX_PAIRS = 100_000
"""Near-duplicate pairs kept (all are counted): a set of blank images would have n^2/2."""


def groups_of(keys: Sequence[Hashable | None]) -> list[list[int]]:
    """Rows sharing a key (``None`` keys skipped), each group in row order, groups by first row.

    >>> groups_of(["a", "b", "a", None, None, "b", "c"])
    [[0, 2], [1, 5]]
    """
    rows: dict[Hashable, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        if key is not None:
            rows[key].append(index)
    return [group for group in rows.values() if len(group) > 1]


def near_pairs(hashes: np.ndarray, threshold: int = PHASH_DISTANCE, max_pairs: int = MAX_PAIRS) -> tuple[np.ndarray, int]:
    """Pairs ``(i, j, distance)`` with ``i < j`` whose hashes differ in at most ``threshold`` bits.

    Returns the pairs (at most ``max_pairs``, in ``i, j`` order) and how many there are in all.

    >>> pairs, count = near_pairs(np.array([0b1111, 0b0111, 1 << 40], dtype=np.uint64), threshold=1)
    >>> pairs.tolist(), count
    ([[0, 1, 1]], 1)
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(hashes)
    found: list[np.ndarray] = []
    kept = 0
    total = 0
    block = max(1, BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, n, block):
        stop = min(n, start + block)
        # rows start..stop against columns start..n: each pair once (j > i)
        distance = popcount(hashes[start:stop, None] ^ hashes[None, start:])
        i, j = np.nonzero(distance <= threshold)
        upper = j > i
        i, j = i[upper], j[upper]
        total += len(i)
        if kept < max_pairs and len(i):
            take = min(len(i), max_pairs - kept)
            found.append(np.stack([i[:take] + start, j[:take] + start, distance[i[:take], j[:take]].astype(np.int64)], axis=1))
            kept += take
    pairs = np.concatenate(found) if found else np.zeros((0, 3), dtype=np.int64)
    return pairs.astype(np.int64), total


_BITS_OF_BYTE = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(values: np.ndarray, *, native: bool = True) -> np.ndarray:
    """Set bits of each uint64 (``np.bitwise_count`` where numpy has it, >= 2.0; else a byte table).

    >>> popcount(np.array([[0, 7, 2**64 - 1]], dtype=np.uint64), native=False).tolist()
    [[0, 3, 64]]
    """
    if native and hasattr(np, "bitwise_count"):
        return np.bitwise_count(values)
    values = np.ascontiguousarray(values, dtype=np.uint64)
    return _BITS_OF_BYTE[values.view(np.uint8)].reshape(*values.shape, 8).sum(axis=-1, dtype=np.uint8)


def hamming(a: int, b: int) -> int:
    """Bits in which two 64-bit hashes differ.

    >>> hamming(0b1011, 0b0001)
    2
    """
    return (a ^ b).bit_count()
