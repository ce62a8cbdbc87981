"""One run's responses, sampled for labelling: the verdicts file, the responses, the built set.

:func:`sample_run` reads a run's verdicts file (checked against the built set it names, as
``mmsafety score`` checks it), the responses file that was judged (the verdicts do not hold the
texts) and the built set's queries and images, draws the stratified sample
(:mod:`mmsafety.labelling.sample`) and returns the page's items in the order the page shows them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError, list_ids
from mmsafety.judges.rubric import rubrics_for
from mmsafety.labelling.page import PageItem, image_for_page
from mmsafety.labelling.sample import DrawnItem, draw_sample, stratum_name
from mmsafety.labels import BENIGN_LABELS, VERDICTS
from mmsafety.runs.human import human_record
from mmsafety.runs.records import InvalidImage, response_digest


@dataclass(frozen=True)
class LabellingSample:
    """A drawn sample, ready for the page."""

    items: list[PageItem]
    key: str
    """Names the sample: a digest of the benchmark, the model, the seed and the drawn responses."""
    run: str
    """One line saying what was sampled (benchmark, model, judge, seed)."""
    benchmark: str
    run_items: int
    """Items in the run (the sampling frame)."""
    strata: dict[str, tuple[int, int]]
    """Each stratum's (items in the run, items drawn)."""


def verdict_choices(benchmark: str, label: str) -> tuple[str, ...]:
    """The verdicts a labeller may give a sample with ``label``: those the benchmark's judge
    rubric allows for that label (in the order of :data:`~mmsafety.labels.VERDICTS`), and
    ``invalid`` (the labeller cannot tell).

    >>> verdict_choices("salad", "unsafe"), verdict_choices("salad", "oversensitive")
    (('safe', 'refusal', 'unsafe', 'invalid'), ('safe', 'refusal', 'oversensitive', 'invalid'))
    """
    rubric = rubrics_for(benchmark).for_label(label)
    if rubric is not None:
        allowed = set(rubric.answers.values())
    else:
        allowed = {"safe", "refusal", "oversensitive" if label in BENIGN_LABELS else "unsafe"}
    return tuple(verdict for verdict in VERDICTS if verdict in allowed or verdict == "invalid")


def _texts(table: Any, name: str) -> list[str]:
    return ["" if value is None else value for value in table.column(name).to_pylist()]


def sample_run(
    checked: Any,
    responses: list[Any],
    samples: Mapping[str, Any],
    *,
    size: int,
    seed: int,
    responses_file: str | Path | None = None,
    on_item: Callable[[], object] | None = None,
) -> LabellingSample:
    """The sample of a checked verdicts file (:class:`~mmsafety.runs.checks.CheckedVerdicts`),
    with the texts of ``responses`` (every id of the run must have one; a record's own
    ``response_sha256``, where it has one, must match) and the built set's ``samples``;
    ``responses_file`` names the responses in errors; ``on_item`` is called once per item made ready (its image read), for a progress bar."""
    table = checked.table
    ids = _texts(table, "id")
    by_id = {response.id: response for response in responses}
    missing = [item_id for item_id in ids if item_id not in by_id]
    if missing:
        raise InputError(
            f"{len(missing)} id(s) of the run have no response in the responses file: {list_ids(missing)}; "
            f"expected the responses file that {checked.path} judged",
            file=responses_file,
        )
    _check_hashes(checked.path, ids, by_id)
    verdicts, labels, subsets = _texts(table, "verdict"), _texts(table, "label"), _texts(table, "subset")
    strata = [stratum_name(label, subset, verdict) for label, subset, verdict in zip(labels, subsets, verdicts)]
    drawn = draw_sample(ids, strata, size=size, seed=seed)
    row_of = {item_id: row for row, item_id in enumerate(ids)}
    models = table.column("model").to_pylist()
    judges = sorted({f"{judge or '?'}" for judge in table.column("judge").to_pylist()})
    items = []
    for d in drawn:
        items.append(_item(checked, samples, by_id[d.id], d, row_of[d.id], models[row_of[d.id]], seed))
        if on_item is not None:
            on_item()
    sizes: dict[str, list[int]] = {}
    for stratum in strata:
        sizes.setdefault(stratum, [0, 0])[0] += 1
    for d in drawn:
        sizes[d.stratum][1] += 1
    model_names = sorted({m for m in models if m})
    run = (
        f"{checked.repo} {checked.version} · model {', '.join(model_names) or '(not named)'} · "
        f"judge {', '.join(judges)} · {len(drawn)} of {len(ids)} responses, seed {seed}"
    )
    key_source = json.dumps([checked.repo, checked.version, model_names, seed, [(it.record["id"], it.record["response_sha256"], it.record["sample_stratum"]) for it in items]])
    key = hashlib.sha256(key_source.encode("utf-8")).hexdigest()[:24]
    return LabellingSample(items, key, run, checked.repo, len(ids), {name: (n, k) for name, (n, k) in sorted(sizes.items())})


def _check_hashes(path: Path, ids: list[str], by_id: Mapping[str, Any]) -> None:
    """Where the verdicts file records the hash of the response it judged, the response given must have it."""
    from mmsafety.data.jsonfiles import load_jsonl

    wanted = set(ids)
    for number, record in load_jsonl(path):
        recorded = record.get("response_sha256")
        item_id = str(record.get("id"))
        if recorded is None or item_id not in wanted:
            continue
        if recorded != response_digest(by_id[item_id].text):
            raise InputError(
                f"the response of id {item_id!r} in the responses file is not the one judged (its sha256 differs "
                "from the record's response_sha256): expected the responses file the verdicts were judged from",
                file=path,
                record=f"line {number}",
            )


def _item(checked: Any, samples: Mapping[str, Any], response: Any, drawn: DrawnItem, row: int, model: str | None, seed: int) -> PageItem:
    table = checked.table
    sample = samples[drawn.id]
    record = human_record(
        drawn.id,
        "invalid",  # the page sets the labeller's verdict, name, note and reason (below: none yet)
        table.column("label")[row].as_py(),
        labeller="",
        response=response.text,
        seed=seed,
        stratum=drawn.stratum,
        weight=drawn.weight,
        category=table.column("category")[row].as_py(),
        subset=table.column("subset")[row].as_py(),
        model=model,
        benchmark=checked.repo,
        benchmark_version=checked.version,
    )
    record.update(verdict=None, labeller=None, reason=None)
    try:
        image, note = image_for_page(sample.load_image())
    except InvalidImage as error:
        image, note = None, f"The image could not be read ({error})."
    error = None
    if response.error is not None:
        error = response.error + (f" — {response.error_detail}" if response.error_detail else "")
    return PageItem(
        record=record,
        query=sample.query,
        reference=sample.reference,
        response=response.text,
        response_error=error,
        choices=verdict_choices(checked.name, record["label"]),
        image=image,
        image_note=note,
    )
