"""Columns of verdicts and labels for scoring tests."""

from __future__ import annotations

import random


def rows(label: str, **verdicts: int) -> tuple[list[str], list[str]]:
    """``verdicts[v]`` rows labelled ``label`` with verdict ``v``: (predictions, references)."""
    predictions = [verdict for verdict, count in verdicts.items() for _ in range(count)]
    return predictions, [label] * len(predictions)


def shuffled(*columns: list, seed: int = 0) -> list[list]:
    """The columns in one shared random row order."""
    order = list(range(len(columns[0])))
    random.Random(seed).shuffle(order)
    return [[column[i] for i in order] for column in columns]
