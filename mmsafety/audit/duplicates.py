"""Duplicates: exact (query, image) repeats, one image under several labels, near-duplicate images.

Near duplicates are images whose 64-bit perceptual hashes differ in at most
:data:`PHASH_DISTANCE` bits (and whose bytes differ: identical bytes are exact
duplicates). They are reported as groups (the connected components of "within the
distance"), not as pairs: 500 images shared by 200,000 rows are 500 hashes, not 20
billion pairs. The search runs on the distinct hashes only, by multi-index hashing
(:func:`near_edges`): split the 64 bits into ``m`` blocks; two hashes at most ``d`` bits
apart differ in at most ``d`` blocks, so they agree exactly on at least ``m - d`` of them
(pigeonhole), and only hashes sharing the values of some ``m - d`` blocks are compared.
``m`` is chosen for the number of hashes (:func:`block_plan`) so that each key is long
enough to leave a few candidates per hash: 200,000 distinct photos at distance 4 are 15
keys of 21 bits (about 10,000 candidate pairs a key), where 5 single blocks of 12-13 bits
would put millions in each. Candidates are checked and dropped key by key, so memory
holds the pairs within the distance, not every candidate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Sequence
from itertools import combinations
from math import comb

import numpy as np

from mmsafety.audit.settings import PHASH_DISTANCE

BLOCK_ELEMENTS = 1 << 22
"""Pairs compared per numpy block (32 MB of uint64)."""
MAX_GROUPS = 10_000
"""Near-duplicate groups listed (all are counted)."""
MIN_BLOCK_BITS = 8
"""Below this many bits per block the buckets are too coarse to help: compare all pairs."""


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


def block_plan(count: int, threshold: int) -> tuple[int, int]:
    """``(blocks, agree)``: split 64 bits into ``blocks`` and key on every ``agree`` of them.

    Chosen to cost least for ``count`` random distinct hashes: one sort of all hashes per
    key (``comb(blocks, agree)`` keys) plus the candidate pairs, ``count**2 / 2**(bits + 1)``
    a key. ``agree = blocks - threshold``; ``(0, 0)`` when comparing all pairs costs less.

    >>> block_plan(200_000, 4), block_plan(1_000, 4), block_plan(10, 4)
    ((6, 2), (5, 1), (0, 0))
    """
    best: tuple[float, int, int] = (count * (count - 1) / 2, 0, 0)
    for agree in range(1, 64):
        blocks = threshold + agree
        bits = 64 * agree // blocks
        if 64 // blocks < 1 or bits < MIN_BLOCK_BITS and agree > 1:
            break
        if bits < MIN_BLOCK_BITS:
            continue
        keys = comb(blocks, agree)
        cost = keys * (count + count * count / 2 ** (bits + 1))
        if cost < best[0]:
            best = (cost, blocks, agree)
    return best[1], best[2]


def near_edges(hashes: np.ndarray, threshold: int = PHASH_DISTANCE) -> np.ndarray:
    """Pairs ``(i, j, distance)``, ``i < j``, of *distinct* hashes at most ``threshold`` bits apart.

    ``hashes`` must be distinct (``np.unique`` them first). Sub-quadratic by multi-index
    hashing (see the module docstring); all pairs, in blocks, when the distance is so large
    that no key would be :data:`MIN_BLOCK_BITS` bits long.

    >>> near_edges(np.array([0b1111, 0b0111, 1 << 40], dtype=np.uint64), threshold=1).tolist()
    [[0, 1, 1]]
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(hashes)
    if n < 2:
        return np.zeros((0, 3), dtype=np.int64)
    blocks, agree = block_plan(n, threshold)
    if not blocks:
        return _all_pairs(hashes, threshold)
    bounds = np.linspace(0, 64, blocks + 1).astype(int)
    masks = [np.uint64(((1 << int(high)) - 1) ^ ((1 << int(low)) - 1)) for low, high in zip(bounds[:-1], bounds[1:])]
    found = []
    for chosen in combinations(masks, agree):
        mask = np.uint64(0)
        for block in chosen:
            mask |= block
        pairs = _same_key_pairs(hashes & mask)
        if len(pairs):
            distance = popcount(hashes[pairs[:, 0]] ^ hashes[pairs[:, 1]]).astype(np.int64)
            keep = distance <= threshold
            found.append(np.column_stack([pairs[keep], distance[keep]]))
    edges = np.concatenate(found) if found else np.zeros((0, 3), dtype=np.int64)
    if not len(edges):
        return np.zeros((0, 3), dtype=np.int64)
    _, first = np.unique(edges[:, 0] * n + edges[:, 1], return_index=True)  # a pair found under several keys, once
    return edges[first]


def _same_key_pairs(keys: np.ndarray) -> np.ndarray:
    """Every pair ``(i, j)``, ``i < j``, of positions holding the same key."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(keys)])
    found = []
    for size in np.unique(sizes[sizes > 1]):
        first = starts[sizes == size]  # every run of this size, as rows of a (runs, size) index
        members = order[first[:, None] + np.arange(size)]
        a, b = np.triu_indices(size, k=1)
        found.append(np.stack([members[:, a].ravel(), members[:, b].ravel()], axis=1))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    return np.sort(pairs, axis=1)


def _all_pairs(hashes: np.ndarray, threshold: int) -> np.ndarray:
    n = len(hashes)
    found = []
    block = max(1, BLOCK_ELEMENTS // n)
    for start in range(0, n, block):
        stop = min(n, start + block)
        distance = popcount(hashes[start:stop, None] ^ hashes[None, start:])
        i, j = np.nonzero(distance <= threshold)
        upper = j > i
        i, j = i[upper], j[upper]
        found.append(np.stack([i + start, j + start, distance[i, j].astype(np.int64)], axis=1))
    return np.concatenate(found).astype(np.int64) if found else np.zeros((0, 3), dtype=np.int64)


def components(size: int, edges: np.ndarray) -> np.ndarray:
    """The component of each of ``size`` nodes joined by ``edges`` (rows ``(i, j, ...)``): its smallest node.

    >>> components(5, np.array([[0, 3, 1], [3, 4, 2]])).tolist()
    [0, 1, 2, 0, 0]
    """
    parent = np.arange(size)

    def find(node: int) -> int:
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    for i, j in edges[:, :2].tolist():
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([find(node) for node in range(size)], dtype=np.int64)


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
