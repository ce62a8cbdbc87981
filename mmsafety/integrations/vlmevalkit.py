"""VLMEvalKit: each benchmark as a custom-dataset TSV, and its predictions read back.

``mmsafety export-task vlmevalkit DIR`` writes ``DIR/mmsafety_<name>.tsv`` per benchmark:
one row per sample with ``index`` (the sample id), ``image`` (the original image bytes,
base64), ``question`` (the query), ``answer`` (the label), ``category``, and mmsafety's own
``id``, ``label``, ``subset``, ``subcategory`` and ``reference``. With ``LMUData=DIR``,
VLMEvalKit runs it as a custom VQA dataset (``python run.py --data mmsafety_salad --model M
--mode infer``); its prediction file (``M_mmsafety_salad.xlsx``: the dataset's columns plus
``prediction``) goes to ``mmsafety judge salad --responses FILE`` as it is
(:mod:`mmsafety.runs.response_formats`).

VLMEvalKit's API models (``OpenAIWrapper``, the ``GPT4V`` family and the OpenAI-compatible
wrappers built on it) send each image shrunk to 512 px on its longer side and re-encoded as
JPEG, with ``detail: low`` (their defaults ``img_size=512``, ``img_detail='low'``), so such a
model sees other pixels than through ``mmsafety respond`` (the original bytes). To send the
original size, give the model ``img_size=-1`` (and ``img_detail='high'``) in its VLMEvalKit
config, e.g. ``partial(GPT4V, model='gpt-4o', img_size=-1, img_detail='high')``.

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


def tsv_files(benchmarks: Iterable[tuple[str, datasets.Dataset]], config: str = "default") -> dict[str, str]:
    """``{"mmsafety_<name>.tsv": tsv}`` for each ``(benchmark, rows)`` (``mmsafety_<name>_<config>.tsv``
    for a configuration other than the default)."""
    from mmsafety.integrations.common import task_name

    return {f"{task_name(name, config)}.tsv": benchmark_tsv(rows) for name, rows in benchmarks}
