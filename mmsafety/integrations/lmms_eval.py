"""lmms-eval: a task folder per benchmark (a task YAML and its ``utils.py``).

``mmsafety export-task lmms-eval DIR`` writes ``DIR/mmsafety_<name>/mmsafety_<name>.yaml``
and ``utils.py`` beside it; ``python -m lmms_eval --include_path DIR --tasks mmsafety_salad ...`` runs
it. The YAML reads the benchmark from the Hub id (found offline in the datasets cache after
``mmsafety build``), or from a Parquet export folder (``--parquet salad=EXPORT_DIR``:
clusters where lmms-eval moves the datasets cache to a node-local folder do not see a
local build). The ``utils.py`` functions call this module:

- ``doc_to_visual``: the row's image; ``doc_to_text``: the query (with any ``pre_prompt`` /
  ``post_prompt`` from ``lmms_eval_specific_kwargs``);
- ``process_results``: mmsafety's judge for the benchmark (the offline judge, or the LLM
  judge named at export) turns the model's answer into a verdict, logged once per sample under
  ``num_judged`` (with the item's id, ``mmsafety_id``), and into each rate's 0/1 outcome for
  the rates whose denominator holds the item (:func:`item_outcomes`);
- each rate is aggregated by lmms-eval's own ``mean`` over the items of its denominator, which
  is exactly the rate of :func:`mmsafety.scoring.score` (lmms-eval's table equals ``mmsafety
  score`` on the same answers) and lets lmms-eval fill its Stderr column (``mean_stderr``,
  the normal approximation; ``mmsafety score`` gives the Wilson interval). A rate with no items
  is absent from ``results.json`` (never a bare ``NaN``). A rate that is a mean of rates
  (MMSafeAware's ``total_accuracy``) is aggregated by :func:`aggregate` and has no Stderr;
  it is ``null`` when every part is empty.

>>> metric_names("vlsbench")
('refusal_rate', 'warning_rate', 'safe_response_rate', 'invalid_rate')
>>> item_outcomes("salad", "refusal", "unsafe", "")
{'safe_response_rate': 0.0, 'overall_accuracy': 0.0, 'invalid_rate': 0.0}
>>> metric_names("mmsafeaware")[-1]
'total_accuracy'
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mmsafety import __version__, benchmarks
from mmsafety.integrations.common import DEFAULT_CONFIG, SPLIT, export_files, named_judge, ordered_rows, task_name
from mmsafety.judges.base import Judge
from mmsafety.labels import LABELS
from mmsafety.runs.records import Response, Sample
from mmsafety.runs.samples import SHARED_TEXT_COLUMNS

JUDGED = "num_judged"
"""The metric under which each sample's verdict (with its id) is logged; its value in the
results is the number of items judged."""
MAX_NEW_TOKENS = 1024
"""``mmsafety respond``'s answer length, at temperature 0."""
SKIPPED_COLUMNS = frozenset(SHARED_TEXT_COLUMNS) | {"image", "label"}


def metric_names(benchmark: str) -> tuple[str, ...]:
    """The rates the benchmark's policy reports, in its order (lmms-eval's ``metric_list``)."""
    from mmsafety.scoring.policies import get_policy

    policy = get_policy(benchmarks.policy(benchmark))
    names = list(policy.rate_names)
    names += [policy.subset_key(s) for s in policy.subsets]
    if policy.macro:
        names.append(policy.macro)
    return tuple(names)


def mean_of_rates(benchmark: str) -> tuple[str, ...]:
    """The rates that are means of other rates (aggregated by :func:`aggregate`, no Stderr)."""
    from mmsafety.scoring.policies import get_policy

    macro = get_policy(benchmarks.policy(benchmark)).macro
    return (macro,) if macro else ()


def item_outcomes(benchmark: str, verdict: str, label: str, subset: str) -> dict[str, float]:
    """The 0/1 outcome of one item for each rate whose denominator holds it (as
    :func:`mmsafety.scoring.score` of that one item counts it): their means are the rates."""
    from mmsafety.scoring import score

    rates = score([verdict], [label], policy=benchmarks.policy(benchmark), subsets=[subset]).rates
    return {name: float(rate.numerator) for name, rate in rates.items() if rate.denominator == 1 and not rate.mean_of}


def higher_is_better(benchmark: str, name: str) -> bool:
    """False for rates where higher is worse (oversensitivity, invalid answers)."""
    from mmsafety.scoring.policies import get_policy

    policy = get_policy(benchmarks.policy(benchmark))
    rate = next((r for r in policy.rates if r.name == name), None)
    return not (rate is not None and (rate.failure or rate.keeps_invalid))


# ---------------------------------------------------------------------------------- writing


def task_yaml(benchmark: str, parquet: str | Path | None = None, config: str = DEFAULT_CONFIG, order: str = "dataset") -> str:
    """The lmms-eval task YAML of ``benchmark``, configuration ``config`` (Hub id, or the export
    folder ``parquet``); ``order="interleave"`` makes lmms-eval take the rows subsets and
    categories in turn (:func:`~mmsafety.integrations.common.interleaved_order`, through
    ``process_docs``), so ``--limit N`` covers each."""
    name = task_name(benchmark, config)
    lines = [
        f"# lmms-eval task for {benchmarks.repo_id(benchmark)}, written by `mmsafety export-task lmms-eval` (mmsafety {__version__}).",
        f"# Run: python -m lmms_eval --include_path <the folder holding this one> --tasks {name} --model ... --model_args ...",
        f"task: {name}",
    ]
    if parquet is None:
        lines += [f"dataset_path: {benchmarks.repo_id(benchmark)}"]
        if config != DEFAULT_CONFIG:
            lines += [f"dataset_name: {json.dumps(config)}"]
    else:
        files = [str(Path(f).resolve()) for f in export_files(parquet, config)]
        lines += ["dataset_path: parquet", "dataset_kwargs:", "  data_files:", f"    {SPLIT}:"]
        lines += [f"      - {json.dumps(f)}" for f in files]
    lines += [
        f"test_split: {SPLIT}",
        *(["process_docs: !function utils.process_docs"] if order == "interleave" else []),
        "output_type: generate_until",
        "doc_to_visual: !function utils.doc_to_visual",
        "doc_to_text: !function utils.doc_to_text",
        "doc_to_target: reference",
        "generation_kwargs:",
        f"  max_new_tokens: {MAX_NEW_TOKENS}",
        "  temperature: 0",
        "  do_sample: false",
        "process_results: !function utils.process_results",
        "metric_list:",
    ]
    for metric in metric_names(benchmark):
        aggregation = f"!function utils.aggregate_{metric}" if metric in mean_of_rates(benchmark) else "mean"
        lines += [
            f"  - metric: {metric}",
            f"    aggregation: {aggregation}",
            f"    higher_is_better: {str(higher_is_better(benchmark, metric)).lower()}",
        ]
    lines += [f"  - metric: {JUDGED}", f"    aggregation: !function utils.aggregate_{JUDGED}", "    higher_is_better: true"]
    lines += ["metadata:", f"  mmsafety_version: {json.dumps(__version__)}", f"  config: {json.dumps(config)}", f"  order: {json.dumps(order)}"]
    return "\n".join(lines) + "\n"


def utils_py(benchmark: str, judge: Mapping[str, Any] | None = None) -> str:
    """The ``utils.py`` beside the task YAML: thin functions over this module."""
    judge = {k: v for k, v in (judge or {"judge": benchmarks.judging(benchmark).offline_judge}).items() if v is not None}
    lines = [
        f'"""lmms-eval functions for {benchmarks.repo_id(benchmark)}, written by `mmsafety export-task lmms-eval`',
        f"(mmsafety {__version__}). They need mmsafety installed where lmms-eval runs.",
        "",
        "JUDGE says how answers are judged: the benchmark's offline judge, or",
        '{"judge": "llm", "model": ..., "base_url": ..., "api_key_env": ..., "protocol": ..., "source_dir": ...}',
        'for mmsafety\'s LLM judge (protocol and source_dir as `mmsafety judge --protocol/--source-dir`)."""',
        "",
        "from mmsafety.integrations import lmms_eval as mmsafety_lmms_eval",
        "",
        f"BENCHMARK = {json.dumps(benchmark)}",
        f"JUDGE = {judge!r}",
        "",
        "doc_to_visual = mmsafety_lmms_eval.doc_to_visual",
        "doc_to_text = mmsafety_lmms_eval.doc_to_text",
        "process_docs = mmsafety_lmms_eval.interleave",
        "",
        "",
        "def process_results(doc, results):",
        "    return mmsafety_lmms_eval.process_results(BENCHMARK, doc, results, JUDGE)",
    ]
    for metric in mean_of_rates(benchmark):
        lines += ["", "", f"def aggregate_{metric}(items):", f"    return mmsafety_lmms_eval.aggregate(BENCHMARK, {json.dumps(metric)}, items)"]
    lines += ["", "", f"def aggregate_{JUDGED}(items):", "    return len(items)"]
    return "\n".join(lines) + "\n"


def task_files(
    benchmark: str, parquet: str | Path | None = None, judge: Mapping[str, Any] | None = None, config: str = DEFAULT_CONFIG, order: str = "dataset"
) -> dict[str, str]:
    """The task folder's files: ``{"mmsafety_<name>/mmsafety_<name>.yaml": ..., ".../utils.py": ...}``."""
    name = task_name(benchmark, config)
    return {f"{name}/{name}.yaml": task_yaml(benchmark, parquet, config, order), f"{name}/utils.py": utils_py(benchmark, judge)}


def export_task_files(
    names: Iterable[str],
    parquet: Mapping[str, str | Path] | None = None,
    judge: Mapping[str, Any] | None = None,
    config: str = DEFAULT_CONFIG,
    order: str = "dataset",
) -> dict[str, str]:
    """Every named benchmark's task folder, keyed by path relative to the output folder."""
    files: dict[str, str] = {}
    for name in names:
        files.update(task_files(name, (parquet or {}).get(name), judge, config, order))
    return files


# ---------------------------------------------------------------------------------- at run time


def interleave(dataset: Any) -> Any:
    """lmms-eval's ``process_docs`` of an export with ``--order interleave``: the rows with
    subsets and categories in turn."""
    return ordered_rows(dataset, "interleave")


def doc_to_visual(doc: Mapping[str, Any]) -> list[Any]:
    """The row's image (a PIL image, RGB), as a one-element list; none when the row has none."""
    image = doc.get("image")
    if image is None:
        return []
    if isinstance(image, Mapping):  # undecoded {"bytes", "path"}
        from PIL import Image

        image = Image.open(io.BytesIO(image["bytes"]))
    return [image.convert("RGB")]


def doc_to_text(doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
    """The query, exactly as the benchmark gives it (with optional pre/post prompts)."""
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['query']}{kwargs.get('post_prompt', '')}"


def _label(value: Any) -> str:
    return LABELS[value] if isinstance(value, int) and not isinstance(value, bool) else str(value)


def doc_sample(doc: Mapping[str, Any]) -> Sample:
    """The mmsafety sample of an lmms-eval doc (the image encoded as PNG only if a judge asks)."""

    def image() -> bytes | None:
        visual = doc_to_visual(doc)
        if not visual:
            return None
        buffer = io.BytesIO()
        visual[0].save(buffer, format="PNG")
        return buffer.getvalue()

    return Sample(
        id=str(doc["id"]),
        label=_label(doc["label"]),
        **{name: str(doc.get(name) or "") for name in ("query", "reference", "category", "subcategory", "subset")},
        extras={k: v for k, v in doc.items() if k not in SKIPPED_COLUMNS and isinstance(v, str)},
        image_loader=image,
    )


@functools.lru_cache(maxsize=None)
def _judge(benchmark: str, config: str) -> Judge:
    settings = json.loads(config)
    name = settings.get("judge") or benchmarks.judging(benchmark).offline_judge
    if name != "llm":
        return named_judge(name, compat=bool(settings.get("compat", False)))
    from mmsafety.judges.llm import DEFAULT_API_KEY_ENV, LLMJudge
    from mmsafety.judges.protocols import judge_request

    protocol = judge_request(benchmark, settings.get("protocol"), source=settings.get("source_dir"))
    return LLMJudge(
        model=settings["model"],
        rubrics=protocol.rubrics,
        base_url=settings.get("base_url"),
        api_key_env=settings.get("api_key_env") or DEFAULT_API_KEY_ENV,
        cache=settings.get("cache"),
        benchmark=benchmarks.repo_id(benchmark),
        **protocol.settings,
    )


def process_results(benchmark: str, doc: Mapping[str, Any], results: Sequence[str], judge: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Judge the model's answer to ``doc``; the verdict record under every metric's name."""
    sample = doc_sample(doc)
    text = results[0] if results else ""
    verdict = _judge(benchmark, json.dumps(dict(judge or {}), sort_keys=True)).judge(sample, Response(id=sample.id, text=text or ""))
    record = {k: v for k, v in verdict.to_record().items() if k in ("verdict", "label", "category", "subset", "reason")}
    results: dict[str, Any] = {JUDGED: {"mmsafety_id": sample.id, **record}}
    results.update(item_outcomes(benchmark, verdict.verdict, verdict.label, verdict.subset))
    for name in mean_of_rates(benchmark):  # its aggregation needs each item's verdict, label and subset
        results[name] = {k: record[k] for k in ("verdict", "label", "subset")}
    return results


def aggregate(benchmark: str, metric: str, items: Sequence[Mapping[str, Any]]) -> float | None:
    """A rate of the benchmark's policy over verdict records (``None``, JSON's ``null``, when
    it is empty): lmms-eval's aggregation of a rate that is a mean of rates."""
    from mmsafety.scoring import score

    result = score(
        [i["verdict"] for i in items],
        [i["label"] for i in items],
        policy=benchmarks.policy(benchmark),
        subsets=[i["subset"] for i in items],
    )
    value = result.rates[metric].value
    return None if value is None else float(value)
