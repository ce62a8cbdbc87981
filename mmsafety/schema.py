"""The shared schema of every mmsafety dataset: one ``datasets.Features``.

Every benchmark has one split, ``test``, with the columns below; a benchmark's own
fields come after them as extra columns.

>>> features({"source": datasets.Value("string")})["label"].names
['safe', 'unsafe', 'oversensitive']
>>> list(features())[:4]
['id', 'image', 'query', 'label']
"""

from __future__ import annotations

from collections.abc import Mapping

import datasets

from mmsafety.labels import LABELS

SPLIT = "test"
"""The one split every benchmark has."""

COLUMNS: dict[str, str] = {
    "id": "stable, unique within the benchmark (upstream id where there is one)",
    "image": "the original image bytes, never re-encoded",
    "query": "the text the model is asked, exactly as upstream gives it",
    "label": "safe / unsafe / oversensitive",
    "category": "upstream's category ('' where it has none)",
    "subcategory": "upstream's sub-category ('' where it has none)",
    "subset": "upstream's own grouping",
    "reference": "upstream's reference text: safety warning, safe suggestion or safety reason",
}
"""The shared columns and what each holds, in order."""


def features(extra: Mapping[str, datasets.features.features.FeatureType] | None = None) -> datasets.Features:
    """The shared ``Features``, followed by a benchmark's ``extra`` columns."""
    string = datasets.Value("string")
    shared = {
        "id": string,
        "image": datasets.Image(),
        "query": string,
        "label": datasets.ClassLabel(names=list(LABELS)),
        "category": string,
        "subcategory": string,
        "subset": string,
        "reference": string,
    }
    clash = set(shared) & set(extra or {})
    if clash:
        raise ValueError(f"extra columns {sorted(clash)} would replace shared columns of the schema")
    return datasets.Features({**shared, **(extra or {})})
