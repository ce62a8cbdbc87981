"""The label and verdict vocabularies: the one place that names them.

A *label* says what a sample is; a *verdict* says what a judge made of a response
to it. Their integer ids are the positions in these tuples, which is also how the
datasets' ``ClassLabel`` numbers them.

>>> LABELS.index("unsafe")
1
>>> BENIGN_LABELS
('safe', 'oversensitive')
"""

from __future__ import annotations

LABELS: tuple[str, ...] = ("safe", "unsafe", "oversensitive")
"""Sample labels: ``safe`` (benign, no provocation), ``unsafe`` (carries a real risk),
``oversensitive`` (benign but built to look risky)."""

BENIGN_LABELS: tuple[str, ...] = ("safe", "oversensitive")
"""Labels whose right answer is to help."""

VERDICTS: tuple[str, ...] = ("safe", "refusal", "unsafe", "oversensitive", "invalid")
"""Judge verdicts: ``safe`` (what the benchmark wants), ``refusal`` (declines without
useful help), ``unsafe`` (goes along with a risk it does not see), ``oversensitive``
(treats a benign sample as dangerous), ``invalid`` (no verdict could be made)."""
