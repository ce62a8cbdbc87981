"""VLMEvalKit: each benchmark as a custom-dataset TSV, and its predictions read back.

``mmsafety export-task vlmevalkit DIR`` writes ``DIR/mmsafety_<name>.tsv`` per benchmark:
one row per sample with ``index`` (the sample id), ``image`` (the original image bytes,
base64), ``question`` (the query), ``answer`` (the label), ``category``, and mmsafety's own
``id``, ``label``, ``subset``, ``subcategory`` and ``reference``. With ``LMUData=DIR``,
VLMEvalKit runs it as a custom VQA dataset (``python run.py --data mmsafety_salad --model M
--mode infer``); its prediction file (``M_mmsafety_salad.xlsx``: the dataset's columns plus
``prediction``) goes to ``mmsafety judge salad --responses FILE`` as it is
(:mod:`mmsafety.runs.response_formats`).

>>> header = TSV_COLUMNS[:5]
>>> header
('index', 'image', 'question', 'answer', 'category')
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterable

import datasets

from mmsafety.runs.samples import samples_from_dataset

TSV_COLUMNS = ("index", "image", "question", "answer", "category", "id", "label", "subset", "subcategory", "reference")


def benchmark_tsv(rows: datasets.Dataset) -> str:
    """The VLMEvalKit TSV of a benchmark's rows (tab-separated, quoted where a field needs it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n")
    writer.writerow(TSV_COLUMNS)
    for sample in samples_from_dataset(rows).values():
        image = sample.load_image()
        writer.writerow(
            [
                sample.id,
                base64.b64encode(image).decode("ascii") if image else "",
                sample.query,
                sample.label,
                sample.category,
                sample.id,
                sample.label,
                sample.subset,
                sample.subcategory,
                sample.reference,
            ]
        )
    return buffer.getvalue()


def tsv_files(benchmarks: Iterable[tuple[str, datasets.Dataset]]) -> dict[str, str]:
    """``{"mmsafety_<name>.tsv": tsv}`` for each ``(benchmark, rows)``."""
    from mmsafety.integrations.common import task_name

    return {f"{task_name(name)}.tsv": benchmark_tsv(rows) for name, rows in benchmarks}
