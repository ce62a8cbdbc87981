"""Inspect tasks for the benchmarks: ``inspect eval mmsafety/salad --model ...``.

``pip install 'mmsafety[inspect]'`` registers this module under Inspect's ``inspect_ai``
entry point, so these tasks run against any Inspect model::

    inspect eval mmsafety/mmsafeaware --model openai-api/local/qwen2.5-vl   # LOCAL_BASE_URL, LOCAL_API_KEY
    inspect eval mmsafety/vlsbench --model openai/gpt-4o --model-role grader=openai/gpt-4o
    inspect eval mmsafety/salad --model ... -T judge=rules                   # offline heuristic judge
    inspect eval mmsafety/custom -T dataset=ORG/NAME --model ...

Each task is dataset → solver → scorer → metrics:

- **dataset** (:func:`safety_dataset`): the built set (local build, ``-T path=EXPORT_DIR`` for a
  Parquet export, else the Hub); each sample is one user message, the image (a data URL, its
  original bytes) then the query, as ``mmsafety respond`` asks it; ``id``, ``label``,
  ``category``, ``subcategory``, ``subset`` and ``reference`` are in its metadata;
- **solver**: ``generate()`` at temperature 0 and 1024 tokens (``respond``'s defaults);
- **scorer** (:func:`safety_judge`): the benchmark's own judge — MMSafeAware's Yes/No reader,
  or mmsafety's LLM judge (its rubrics, its answer reading) asking the model bound to the
  ``grader`` role (``--model-role grader=...``), or the rule judge (``-T judge=rules``). The
  verdict record is the score's metadata; the score's value is numbers only, one per verdict
  (1.0 for the verdict given, 0.0 for the others), because Inspect's reducers turn anything
  else into floats;
- **metrics** (:func:`safety_rates`, :func:`safety_rates_by_category`): the policy's rates
  from :func:`mmsafety.scoring.score`, as numbers (an empty rate is left out), so the log's
  headline equals ``mmsafety score`` on the same answers. Over several epochs a sample counts
  with the verdict most of its epochs gave (a tie is ``invalid``).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset
from inspect_ai.dataset import Sample as InspectSample
from inspect_ai.log import HeadlineMetric
from inspect_ai.model import (
    ChatMessage,
    ChatMessageSystem,
    ChatMessageUser,
    ContentImage,
    ContentText,
    GenerateConfig,
    Model,
    ResponseSchema,
    get_model,
    model_roles,
)
from inspect_ai.scorer import Metric, SampleScore, Score, Scorer, Target, metric, scorer
from inspect_ai.solver import TaskState, generate
from inspect_ai.util import JSONSchema

from mmsafety import benchmarks
from mmsafety.errors import InputError
from mmsafety.integrations.common import load_rows, named_judge
from mmsafety.judges import JUDGE_NAMES
from mmsafety.judges.protocols import JUDGE_MAX_TOKENS
from mmsafety.labels import VERDICTS
from mmsafety.transport.endpoint import data_url
from mmsafety.runs.records import EMPTY_RESPONSE, Response, Sample, Verdict
from mmsafety.runs.respond import DEFAULT_MAX_TOKENS

logger = logging.getLogger(__name__)

GRADER_ROLE = "grader"
"""The Inspect model role the LLM judge asks (``--model-role grader=openai/gpt-4o``)."""
SOLVER_CONFIG = GenerateConfig(temperature=0.0, max_tokens=DEFAULT_MAX_TOKENS)
GRADER_CONFIG = dict(temperature=0.0, max_tokens=JUDGE_MAX_TOKENS)
"""The LLM judge's own defaults (``mmsafety judge``: temperature 0, its default ``--max-tokens``)."""
SAMPLE_FIELDS = ("label", "query", "reference", "category", "subcategory", "subset")


# ---------------------------------------------------------------------------------- dataset


def inspect_sample(sample: Sample) -> InspectSample:
    """One Inspect sample: the image (as a data URL) then the query, metadata from the row."""
    image = sample.load_image()
    content: list[ContentImage | ContentText] = [ContentImage(image=data_url(image))] if image else []
    content.append(ContentText(text=sample.query))
    metadata: dict[str, Any] = {name: getattr(sample, name) for name in SAMPLE_FIELDS}
    metadata["extras"] = dict(sample.extras)
    return InspectSample(id=sample.id, input=[ChatMessageUser(content=content)], target=sample.label, metadata=metadata)


def safety_dataset(benchmark: str, path: str | None = None) -> MemoryDataset:
    """The Inspect dataset of ``benchmark`` (short name or repo id; ``path``: a Parquet export)."""
    from mmsafety.runs.samples import samples_from_dataset

    samples = samples_from_dataset(load_rows(benchmark, path))
    return MemoryDataset([inspect_sample(s) for s in samples.values()], name=benchmark)


def mmsafety_sample(state: TaskState) -> Sample:
    """The mmsafety sample behind an Inspect sample (its image read back from the input)."""
    metadata = state.metadata
    image = None
    for message in state.input if isinstance(state.input, list) else []:
        for part in message.content if isinstance(message.content, list) else []:
            if isinstance(part, ContentImage) and part.image.startswith("data:"):
                image = base64.b64decode(part.image.split(",", 1)[1])
    return Sample(
        id=str(state.sample_id),
        **{name: str(metadata.get(name, "")) for name in SAMPLE_FIELDS},
        extras={str(k): str(v) for k, v in (metadata.get("extras") or {}).items()},
        image=image,
    )


# ---------------------------------------------------------------------------------- scorer


def verdict_value(verdict: str) -> dict[str, float]:
    """A verdict as a score value Inspect can reduce: 1.0 for it, 0.0 for every other verdict.

    >>> verdict_value("refusal")["refusal"], verdict_value("refusal")["safe"]
    (1.0, 0.0)
    """
    return {name: float(name == verdict) for name in VERDICTS}


def value_verdict(value: Any) -> str:
    """The verdict a (possibly epoch-averaged) score value stands for: the one with the largest
    share; a tie, or a value that is not a verdict mapping, is ``invalid``.

    >>> value_verdict({"safe": 0.5, "unsafe": 0.5}), value_verdict({"safe": 2 / 3, "refusal": 1 / 3})
    ('invalid', 'safe')
    """
    if not isinstance(value, Mapping):
        return "invalid"
    shares = {name: float(value.get(name, 0.0) or 0.0) for name in VERDICTS}
    best = max(shares.values())
    winners = [name for name, share in shares.items() if share == best]
    return winners[0] if len(winners) == 1 and best > 0 else "invalid"


def choose_judge(benchmark: str, judge: str | None) -> str:
    """``judge`` if given; else the benchmark's Yes/No reader (MMSafeAware), else the LLM judge
    when a ``grader`` model is bound, else the rule judge (a heuristic, said in the log)."""
    if judge is not None:
        if judge not in JUDGE_NAMES:
            raise InputError(f"unknown judge {judge!r}: expected one of {', '.join(JUDGE_NAMES)}", record="-T judge")
        return judge
    offline = benchmarks.judging(benchmark).offline_judge
    if offline == "yesno":
        return offline
    if model_roles().get(GRADER_ROLE) is not None:
        return "llm"
    logger.warning(
        "mmsafety/%s: no %r model role bound (--model-role %s=...): judging with the rule judge, a heuristic",
        benchmark, GRADER_ROLE, GRADER_ROLE,
    )
    return offline


def inspect_messages(messages: Sequence[Mapping[str, Any]]) -> list[ChatMessage]:
    """OpenAI chat messages (system / user; text and ``image_url`` parts) as Inspect's."""
    converted: list[ChatMessage] = []
    for message in messages:
        content = message["content"]
        if not isinstance(content, str):
            content = [
                ContentImage(image=part["image_url"]["url"]) if part["type"] == "image_url" else ContentText(text=part["text"])
                for part in content
            ]
        converted.append(ChatMessageSystem(content=content) if message["role"] == "system" else ChatMessageUser(content=content))
    return converted


def grader_config(protocol: Any, rubric: Any) -> GenerateConfig:
    """The protocol's generation settings (else the LLM judge's defaults) and, when the rubric
    asks for structured output, its JSON schema."""
    config = GenerateConfig(
        temperature=protocol.settings.get("temperature", GRADER_CONFIG["temperature"]),
        max_tokens=protocol.settings.get("max_tokens", GRADER_CONFIG["max_tokens"]),
    )
    if rubric.structured:
        schema = rubric.json_schema()["json_schema"]
        config = config.merge(
            GenerateConfig(response_schema=ResponseSchema(name=schema["name"], json_schema=JSONSchema.model_validate(schema["schema"]), strict=schema.get("strict")))
        )
    return config


async def grade(sample: Sample, response: Response, protocol: Any, grader: Model) -> Verdict:
    """mmsafety's LLM judge on one response, asking Inspect's ``grader`` model: the protocol's
    rubric for the sample's label (:func:`mmsafety.judges.protocols.judge_request`), its request
    and structured answer, read by the rubric."""
    from mmsafety.judges.llm import LLMJudge

    def verdict(name: str, raw: str | None, reason: str | None = None, rubric: str | None = None, disagrees: bool = False) -> Verdict:
        return Verdict(
            id=sample.id, verdict=name, label=sample.label, category=sample.category, subset=sample.subset,
            judge=LLMJudge.name, judge_version=LLMJudge.version, raw=raw, reason=reason, model=response.model,
            judge_model=str(grader), rubric=rubric, label_str_disagrees=disagrees,
        )

    protocol.rubrics.check_covers([sample.label])
    rubric = protocol.rubrics.for_label(sample.label)
    if not response.text.strip() and not rubric.sends_empty:  # the authors' VLSBench request sends it all the same
        return verdict("invalid", response.text, EMPTY_RESPONSE)
    messages = inspect_messages(rubric.request_messages(sample, response))
    output = await grader.generate(messages, config=grader_config(protocol, rubric))
    tag = f"{rubric.name}@{rubric.sha256[:12]}"
    if output.stop_reason == "content_filter":
        return verdict("invalid", output.completion, "judge_content_filter", tag)
    reading = rubric.read(output.completion)
    if reading.verdict is None:
        return verdict("invalid", output.completion, reading.reason, tag)
    return verdict(reading.verdict, output.completion, rubric=tag, disagrees=reading.label_str_disagrees)


@scorer(metrics=[])
def safety_judge(
    benchmark: str, judge: str | None = None, compat: bool = False, protocol: str | None = None, source_dir: str | None = None
) -> Scorer:
    """The benchmark's judge as an Inspect scorer (see the module docstring); ``protocol`` and
    ``source_dir`` choose the LLM judge's protocol as ``mmsafety judge --protocol/--source-dir`` do."""
    from mmsafety.judges.protocols import judge_request

    made: dict[str, Any] = {}  # judge name -> its protocol (llm) or judge, made once per run, not per sample

    async def score(state: TaskState, target: Target) -> Score:
        name = choose_judge(benchmark, judge)
        sample = mmsafety_sample(state)
        response = Response(id=sample.id, text=state.output.completion if state.output else "", model=str(state.model))
        if name == "llm":
            if name not in made:  # read once (the authors' file may be downloaded)
                made[name] = judge_request(benchmark, protocol, source=source_dir)
            verdict = await grade(sample, response, made[name], get_model(role=GRADER_ROLE, required=True))
        else:
            if name not in made:  # the rule judge reads its cue file when made
                made[name] = named_judge(name, compat=compat)
            verdict = made[name].judge(sample, response)
        return Score(
            value=verdict_value(verdict.verdict),
            answer=response.text,
            explanation=verdict.raw if verdict.reason is None else f"{verdict.reason}: {verdict.raw or ''}",
            metadata=verdict.to_record(),
        )

    return score


# ---------------------------------------------------------------------------------- metrics


def score_samples(scores: Sequence[SampleScore], policy: str) -> Any:
    """:func:`mmsafety.scoring.score` of Inspect sample scores under ``policy`` (a :class:`~mmsafety.scoring.result.Score`)."""
    from mmsafety.scoring import score

    records = [s.score.metadata or {} for s in scores]
    return score(
        [value_verdict(s.score.value) for s in scores],
        [r.get("label", "") for r in records],
        policy=policy,
        categories=[r.get("category", "") for r in records],
        subsets=[r.get("subset", "") for r in records],
    )


def numeric_rates(rates: Mapping[str, Any], prefix: str = "", headline: Sequence[str] = ()) -> dict[str, float]:
    """Rates (name → ``RateValue``) as floats (``prefix`` before each name), the ``headline``
    rates first (Inspect's headline is the first); empty rates left out."""
    ordered = [n for n in headline if n in rates] + [n for n in rates if n not in headline]
    return {f"{prefix}{name}": float(rates[name].value) for name in ordered if rates[name].value is not None}


def headline_rates(policy: str) -> tuple[str, ...]:
    """The rates a summary shows first under ``policy`` (:attr:`Policy.headline`)."""
    from mmsafety.scoring.policies import get_policy

    return tuple(get_policy(policy).headline)


def summary_rate(policy: str) -> str:
    """The one number that sums up a run under ``policy`` (Inspect's headline metric): the
    paper's Total (MMSafeAware), else the safe-response rate.

    >>> summary_rate("mmsafeaware"), summary_rate("vlsbench"), summary_rate("salad")
    ('total_accuracy', 'safe_response_rate', 'safe_response_rate')
    """
    from mmsafety.scoring.policies import get_policy

    chosen = get_policy(policy)
    if chosen.macro:
        return chosen.macro
    return "safe_response_rate" if "safe_response_rate" in chosen.rate_names else headline_rates(policy)[0]


@metric
def safety_rates(policy: str) -> Metric:
    """The policy's rates, as ``mmsafety score`` prints them (numbers only)."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        return numeric_rates(score_samples(scores, policy).rates, headline=headline_rates(policy))

    return compute


@metric
def safety_rates_by_category(policy: str) -> Metric:
    """The policy's rates per category, named ``CATEGORY/RATE``."""

    def compute(scores: list[SampleScore]) -> dict[str, float]:
        rates: dict[str, float] = {}
        for category, group in score_samples(scores, policy).by_category.items():
            rates.update(numeric_rates(group.rates, f"{category or '(none)'}/"))
        return rates

    return compute


# ---------------------------------------------------------------------------------- tasks


def safety_task(
    benchmark: str,
    *,
    judge: str | None = None,
    path: str | None = None,
    compat: bool = False,
    protocol: str | None = None,
    source_dir: str | None = None,
) -> Task:
    """The Inspect task of ``benchmark`` (short name or repo id of a built set)."""
    benchmarks.check_name(benchmark)
    policy = benchmarks.policy(benchmark)
    return Task(
        dataset=safety_dataset(benchmark, path),
        solver=generate(),
        scorer=safety_judge(benchmark, judge=judge, compat=compat, protocol=protocol, source_dir=source_dir),
        metrics=[safety_rates(policy), safety_rates_by_category(policy)],
        config=SOLVER_CONFIG,
        name=benchmarks.short_name(benchmark).replace("/", "__"),
        headline_metric=HeadlineMetric(metric=summary_rate(policy)),
    )


def benchmark_task(name: str) -> Callable[..., Task]:
    """The Inspect task of the registered benchmark ``name``: ``inspect eval mmsafety/NAME``.

    ``-T judge=rules|yesno|llm`` picks the judge; ``-T protocol=upstream|rubric`` and
    ``-T source_dir=`` the LLM judge's protocol and the authors' file where the benchmark has
    one; ``-T compat=true`` the authors' own reading for the Yes/No judge (MMSafeAware).
    """

    def benchmark(
        judge: str | None = None, path: str | None = None, protocol: str | None = None, compat: bool = False, source_dir: str | None = None
    ) -> Task:
        return safety_task(name, judge=judge, path=path, compat=compat, protocol=protocol, source_dir=source_dir)

    judging = benchmarks.judging(name)
    benchmark.__name__ = benchmark.__qualname__ = name
    benchmark.__doc__ = (
        f"{name} under its protocol: the LLM judge with ``--model-role grader=...`` "
        f"({judging.default_protocol} protocol), else its offline judge ({judging.offline_judge})."
    )
    return task(benchmark)


def add_benchmark_tasks() -> list[str]:
    """Make the task of every registered benchmark that has none yet (a module attribute of its
    name, registered with Inspect as ``mmsafety/NAME``); the names of the tasks made."""
    made = [name for name in benchmarks.names() if name not in BENCHMARK_TASKS]
    for name in made:
        BENCHMARK_TASKS[name] = globals()[name] = benchmark_task(name)
    return made


BENCHMARK_TASKS: dict[str, Callable[..., Task]] = {}
"""The registered benchmarks' tasks by name (:func:`add_benchmark_tasks`)."""


@task
def custom(dataset: str, judge: str | None = None, path: str | None = None, protocol: str | None = None) -> Task:
    """A custom set built with ``mmsafety build custom`` (``-T dataset=ORG/NAME``)."""
    return safety_task(dataset, judge=judge, path=path, protocol=protocol)


add_benchmark_tasks()
