"""Responses gathered in another harness, read from its own log: Inspect's ``.eval`` / ``.json``
logs and lmms-eval's samples log (``samples_<task>.jsonl``), so ``mmsafety judge --responses``
can judge them with any mmsafety judge.

- **Inspect**: read with Inspect's own reader (:func:`inspect_ai.log.read_eval_log`; Inspect is
  the optional extra ``mmsafety[inspect]``). Each sample's id is the benchmark's (the ``id`` in
  its metadata, as the ``mmsafety/...`` tasks record it; else Inspect's sample id), its response
  the model's final answer. A sample Inspect could not run is a response with an ``error``
  (``invalid_image`` when the task sent nothing, ``model_content_filter``, or
  ``inspect_sample_error``), judged ``invalid`` with that reason. A log of several epochs is
  refused (which epoch would be judged?), as is a log of a run that did not finish.
- **lmms-eval**: each line of its samples log is one document; the id is ``doc.id`` (the column
  ``mmsafety export-task lmms-eval`` exports; ``mmsafety_id`` in its metrics' records when the
  document is not logged), the response the first of ``filtered_resps`` (else ``resps``).

>>> is_lmms_eval_samples(Path("out/model/20260101_samples_mmsafety_salad.jsonl")), is_lmms_eval_samples(Path("r.jsonl"))
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mmsafety.data.jsonfiles import load_jsonl
from mmsafety.errors import InputError
from mmsafety.transport.ask import INVALID_IMAGE

INSPECT_SUFFIXES = (".eval",)
"""Inspect's binary log; a ``.json`` Inspect log is read too when it looks like one (:func:`is_inspect_json`)."""
INSPECT_NOTE = "reading an Inspect log needs Inspect (pip install 'mmsafety[inspect]')"
INSPECT_SAMPLE_ERROR = "inspect_sample_error"
"""The reason of a sample Inspect could not run (its error is the detail)."""
LMMS_EVAL_SAMPLES = re.compile(r"(^|_)samples_.+\.jsonl$")


def is_inspect_json(path: Path) -> bool:
    """Whether ``path`` is an Inspect log written as JSON (``--log-format json``): a ``.json``
    file whose first bytes open an object with Inspect's ``"version"`` and ``"status"`` keys."""
    if path.suffix.lower() != ".json":
        return False
    with path.open("rb") as handle:
        head = handle.read(4096)
    return head.lstrip().startswith(b"{") and b'"status"' in head and b'"eval"' in head


def is_lmms_eval_samples(path: Path) -> bool:
    """Whether ``path`` is named as lmms-eval names its samples logs (``..._samples_<task>.jsonl``)."""
    return bool(LMMS_EVAL_SAMPLES.search(path.name))


def inspect_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` per sample of the Inspect log ``path``: ``id``, ``response``,
    ``model`` and, for a sample that has no answer, ``error`` and ``error_detail``."""
    try:
        from inspect_ai.log import read_eval_log
    except ModuleNotFoundError:
        raise InputError(INSPECT_NOTE, file=path) from None
    try:
        log = read_eval_log(str(path))
    except Exception as error:  # a zip or JSON Inspect cannot read: its own exception types
        raise InputError(f"expected an Inspect log, found a file Inspect cannot read ({type(error).__name__})", file=path) from None
    if log.status != "success":
        raise InputError(f"expected the log of a finished run, found status {log.status!r}: rerun or `inspect eval-retry` it first", file=path)
    epochs = log.eval.config.epochs or 1
    if epochs != 1:
        raise InputError(f"expected a log of one epoch, found {epochs}: judge one epoch's answers (inspect eval --epochs 1)", file=path)
    model = log.eval.model
    for sample in log.samples or []:
        metadata: Mapping[str, Any] = sample.metadata or {}
        record: dict[str, Any] = {"id": str(metadata.get("id", sample.id)), "model": model, "response": None}
        output = sample.output
        if INVALID_IMAGE in metadata:
            record.update(error=INVALID_IMAGE, error_detail=str(metadata[INVALID_IMAGE]))
        elif sample.error is not None:
            record.update(error=INSPECT_SAMPLE_ERROR, error_detail=sample.error.message)
        elif output.stop_reason == "content_filter" and not output.completion.strip():
            record.update(error="model_content_filter", error_detail="the provider's content filter")
        else:
            record["response"] = output.completion
        yield f"sample {sample.id}", record


def lmms_eval_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` per line of lmms-eval's samples log ``path``: ``id`` and ``response``."""
    for number, line in load_jsonl(path):
        where = f"line {number}"
        doc = line.get("doc")
        sample_id = doc.get("id") if isinstance(doc, dict) else None
        if sample_id is None:
            for value in line.values():  # a metric's record: {"mmsafety_id": ..., ...}
                if isinstance(value, dict) and "mmsafety_id" in value:
                    sample_id = value["mmsafety_id"]
                    break
        if sample_id is None:
            raise InputError('expected the item\'s id in "doc" (the exported column "id") or in a metric\'s record, found none', file=path, record=where)
        answers = line.get("filtered_resps") or line.get("resps")
        while isinstance(answers, list) and answers:
            answers = answers[0]  # lmms-eval nests one answer per request, per filter
        if answers == []:
            answers = None
        if answers is not None and not isinstance(answers, str):
            raise InputError(f'expected "filtered_resps" to hold the answer text, found {type(answers).__name__}', file=path, record=where)
        yield where, {"id": sample_id, "response": answers}
