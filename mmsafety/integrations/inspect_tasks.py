"""Inspect tasks for the benchmarks: ``inspect eval mmsafety/salad --model ...``.

``pip install 'mmsafety[inspect]'`` registers this module under Inspect's ``inspect_ai``
entry point, so these tasks run against any Inspect model::

    inspect eval mmsafety/mmsafeaware --model openai-api/local/qwen2.5-vl   # LOCAL_BASE_URL, LOCAL_API_KEY
    inspect eval mmsafety/vlsbench --model openai/gpt-4o --model-role grader=openai/gpt-4o
    inspect eval mmsafety/salad --model ... -T judge=rules                   # offline heuristic judge
    inspect eval mmsafety/custom -T dataset=ORG/NAME --model ...
    inspect eval mmsafety/mmsafeaware -T config=full -T subset=attack,typical -T category=health ...

Each task is dataset → setup → solver → scorer → metrics:

- **dataset** (:func:`safety_dataset`): the built set, configuration ``-T config=`` (local
  build, ``-T path=EXPORT_DIR`` for a Parquet export, else the Hub), filtered by ``-T subset=``
  and ``-T category=`` (one value, a comma-separated list or a YAML list). A sample's input is
  the text that tells it apart (:func:`distinct_texts`: the query after the preamble every
  query shares, so ``inspect view``'s Input column shows MMSafeAware's sentence, not its fixed
  question); ``id`` (the benchmark's own, when Inspect's id had to be made safe:
  :func:`inspect_id`), ``label``, ``query``, ``category``, ``subcategory``, ``subset`` and
  ``reference`` are in its metadata. The task's ``version`` is :data:`TASK_VERSION`; its
  ``metadata`` names the dataset, configuration, version and fingerprint;
- **setup** (:func:`safety_request`): the request ``mmsafety respond`` sends, one user message,
  the image (a data URL of its original bytes) then the whole query. An image that cannot be
  read as one is sent nowhere: the sample is judged ``invalid`` with reason ``invalid_image``,
  as ``respond`` records it, and the run goes on;
- **solver**: ``generate()`` at temperature 0 and 1024 tokens (``respond``'s defaults);
- **scorer** (:func:`safety_judge`): the benchmark's own judge — MMSafeAware's Yes/No reader,
  or mmsafety's LLM judge (its rubrics, its answer reading) asking the model bound to the
  ``grader`` role (``--model-role grader=...``), or the rule judge (``-T judge=rules``). The
  verdict record is the score's metadata; the score's value is numbers only, one per verdict
  (1.0 for the verdict given, 0.0 for the others), because Inspect's reducers turn anything
  else into floats;
- **metrics** (:func:`safety_rates`, :func:`safety_rate_intervals`,
  :func:`safety_rates_by_category`): the policy's rates from :func:`mmsafety.scoring.score`, as
  numbers, so the log's headline equals ``mmsafety score`` on the same answers; each rate's
  interval (Wilson, 95 %) as ``RATE_ci_low`` / ``RATE_ci_high`` beside it. An empty rate is left
  out, except the policy's headline rates, kept as NaN (a run whose every verdict is
  ``invalid`` still headlines the policy's rate, not ``invalid_rate``). Over several epochs a
  sample counts with the verdict most of its epochs gave (a tie is ``invalid``).

A bad parameter or a set that is not built ends ``inspect eval`` with one line naming the
fix (``mmsafety build salad``), not a traceback.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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
from inspect_ai._util.error import PrerequisiteError
from inspect_ai.scorer import Score, Scorer, Target, scorer
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver
from inspect_ai.util import JSONSchema

from mmsafety import benchmarks
from mmsafety.errors import InputError
from mmsafety.integrations.common import DEFAULT_CONFIG, load_rows, named_judge
from mmsafety.judges import JUDGE_NAMES
from mmsafety.judges.protocols import JUDGE_MAX_TOKENS
from mmsafety.transport.ask import INVALID_IMAGE
from mmsafety.transport.endpoint import data_url
from mmsafety.runs.records import EMPTY_RESPONSE, InvalidImage, Response, Sample, Verdict
from mmsafety.runs.respond import DEFAULT_MAX_TOKENS
from mmsafety.integrations.inspect_metrics import (
    safety_rate_intervals,
    safety_rates,
    safety_rates_by_category,
    summary_rate,
    verdict_value,
)

logger = logging.getLogger(__name__)

GRADER_ROLE = "grader"
"""The Inspect model role the LLM judge asks (``--model-role grader=openai/gpt-4o``)."""
SOLVER_CONFIG = GenerateConfig(temperature=0.0, max_tokens=DEFAULT_MAX_TOKENS)
GRADER_CONFIG = dict(temperature=0.0, max_tokens=JUDGE_MAX_TOKENS)
"""The LLM judge's own defaults (``mmsafety judge``: temperature 0, its default ``--max-tokens``)."""
SAMPLE_FIELDS = ("label", "query", "reference", "category", "subcategory", "subset")
TASK_VERSION = "1-A"
"""The tasks' version, as inspect_evals numbers theirs (``N-X``): ``N`` changes when results stop
being comparable with earlier logs, ``X`` when only the task's interface changes."""
SHARED_PREAMBLE_MIN = 24
"""A preamble every query shares is left out of the sample's input (what ``inspect view`` lists)
only when it is at least this long."""
FILTERS = ("subset", "category")


class TaskInputError(InputError, PrerequisiteError):
    """Bad task input that ``inspect eval`` prints as one line (Inspect prints a
    ``PrerequisiteError``'s message without a traceback); an :class:`InputError` from Python."""

    def __init__(self, error: InputError) -> None:
        InputError.__init__(self, error.detail, file=error.file, record=error.record)
        self.message = str(self)


# ---------------------------------------------------------------------------------- dataset


def inspect_id(sample_id: str) -> str:
    """The sample's id as Inspect may use it: Inspect names each sample's entry in the ``.eval``
    log (a zip) after its id, so an id other than letters, digits, ``.``, ``_`` and ``-`` (or
    one made of dots) becomes a safe name and a digest of the original, which stays in the
    sample's metadata (``id``).

    >>> inspect_id("1042"), inspect_id("../../x")
    ('1042', '.._.._x-9cdf6a50')
    """
    if re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", sample_id) and sample_id.strip(".") and not sample_id.startswith("-"):
        return sample_id
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", sample_id)[:64]
    return f"{safe}-{hashlib.sha256(sample_id.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def distinct_texts(queries: Sequence[str]) -> list[str]:
    """Each query without the preamble every query shares (cut at a word's end; kept when it is
    short or there is one query), marked by a leading ``…``: what tells the samples apart.

    >>> distinct_texts(['Is this safe? Answer Yes or No. "Mix bleach"', 'Is this safe? Answer Yes or No. "Bake bread"'])
    ['… "Mix bleach"', '… "Bake bread"']
    >>> distinct_texts(["How do I use this?", "What is this?"])
    ['How do I use this?', 'What is this?']
    """
    if len(queries) < 2:
        return list(queries)
    shared = os.path.commonprefix(list(queries))
    cut = max(shared.rfind(" "), shared.rfind("\n")) + 1
    if cut < SHARED_PREAMBLE_MIN:
        return list(queries)
    return [f"… {query[cut:].lstrip()}" for query in queries]


def inspect_sample(sample: Sample, summary: str | None = None) -> InspectSample:
    """One Inspect sample: ``summary`` (else the query) as its input, the row in its metadata.
    The request itself (image and whole query) is made by :func:`safety_request`."""
    metadata: dict[str, Any] = {"id": sample.id, **{name: getattr(sample, name) for name in SAMPLE_FIELDS}}
    metadata["extras"] = dict(sample.extras)
    return InspectSample(id=inspect_id(sample.id), input=summary if summary is not None else sample.query, target=sample.label, metadata=metadata)


def filter_values(value: str | Sequence[str] | None, name: str) -> list[str] | None:
    """``-T subset=`` / ``-T category=`` as a list: one value, a comma-separated list or a YAML list.

    >>> filter_values("attack, typical", "subset"), filter_values(["a,b"], "category"), filter_values(None, "subset")
    (['attack', 'typical'], ['a', 'b'], None)
    """
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None or not all(isinstance(item, str) for item in items):
        raise InputError(f"expected a name or a list of names, found {value!r}", record=f"-T {name}")
    names = [part.strip() for item in items for part in item.split(",") if part.strip()]
    if not names:
        raise InputError("expected at least one name, found none", record=f"-T {name}")
    return names


def select_samples(samples: Iterable[Sample], **wanted: list[str] | None) -> list[Sample]:
    """The samples whose subset and category are among those ``wanted`` (``None``: any); a
    name no sample has is bad input naming the ones there are."""
    every = list(samples)
    chosen = every
    for name, values in wanted.items():
        if values is None:
            continue
        present = sorted({getattr(s, name) for s in every})
        unknown = [v for v in values if v not in present]
        if unknown:
            raise InputError(f"no sample has {name} {', '.join(map(repr, unknown))}: expected one of {', '.join(map(repr, present))}", record=f"-T {name}")
        chosen = [s for s in chosen if getattr(s, name) in values]
    return chosen


REQUESTS: dict[str, Mapping[str, Sample]] = {}
"""The samples (images read lazily) of each dataset a task was made from, by its key in the
task's metadata: :func:`safety_request` reads the image only when the sample runs."""


def safety_dataset(
    benchmark: str, path: str | None = None, config: str = DEFAULT_CONFIG, *, subset: str | Sequence[str] | None = None, category: str | Sequence[str] | None = None
) -> MemoryDataset:
    """The Inspect dataset of ``benchmark`` (short name or repo id; ``path``: a Parquet export),
    configuration ``config``, filtered by ``subset`` and ``category``. Its ``location`` is the
    dataset key (:data:`REQUESTS`): repo id, configuration, version and fingerprint."""
    from mmsafety.runs.samples import samples_from_dataset

    rows = load_rows(benchmark, path, config)
    every = list(samples_from_dataset(rows).values())
    summaries = dict(zip((s.id for s in every), distinct_texts([s.query for s in every])))
    chosen = select_samples(every, subset=filter_values(subset, "subset"), category=filter_values(category, "category"))
    ids: dict[str, str] = {}
    for sample in chosen:
        safe = inspect_id(sample.id)
        if safe in ids:
            raise InputError(f"ids {ids[safe]!r} and {sample.id!r} are one id for Inspect ({safe!r}): expected distinct ids")
        ids[safe] = sample.id
    version = str(rows.info.version) if rows.info.version is not None else ""
    key = f"{benchmarks.repo_id(benchmark)}:{config}@{version}#{rows._fingerprint}"
    REQUESTS[key] = {s.id: s for s in chosen}
    return MemoryDataset([inspect_sample(s, summaries[s.id]) for s in chosen], name=benchmarks.repo_id(benchmark), location=key)


def dataset_metadata(dataset: MemoryDataset, config: str, path: str | None, filters: Mapping[str, Any]) -> dict[str, Any]:
    """What the task's log records of its dataset: name, configuration, version, fingerprint,
    where it was read from and the filters applied."""
    key = dataset.location or ""
    version, _, fingerprint = key.rpartition("@")[2].partition("#")
    return {
        "dataset": dataset.name,
        "config": config,
        "dataset_version": version,
        "fingerprint": fingerprint,
        "source": f"export {path}" if path else "local build or the Hub",
        "items": len(dataset),
        "filters": {name: value for name, value in filters.items() if value is not None},
    }


@solver
def safety_request(dataset: str) -> Solver:
    """The request ``mmsafety respond`` sends for a sample of ``dataset`` (a key of
    :data:`REQUESTS`): the image, then the whole query. A sample whose image cannot be read
    as one sends nothing and ends here (judged ``invalid_image``)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        sample = REQUESTS[dataset][str(state.metadata["id"])]
        try:
            image = sample.load_image()
        except InvalidImage as error:
            state.metadata[INVALID_IMAGE] = str(error)
            state.completed = True
            return state
        content: list[ContentImage | ContentText] = [ContentImage(image=data_url(image))] if image else []
        content.append(ContentText(text=sample.query))
        state.messages = [ChatMessageUser(content=content)]
        return state

    return solve


def mmsafety_sample(state: TaskState) -> Sample:
    """The mmsafety sample behind an Inspect sample (its image read back from the request sent)."""
    metadata = state.metadata
    image = None
    for message in state.messages[:1]:
        for part in message.content if isinstance(message.content, list) else []:
            if isinstance(part, ContentImage) and part.image.startswith("data:"):
                image = base64.b64decode(part.image.split(",", 1)[1])
    return Sample(
        id=str(metadata.get("id", state.sample_id)),
        **{name: str(metadata.get(name, "")) for name in SAMPLE_FIELDS},
        extras={str(k): str(v) for k, v in (metadata.get("extras") or {}).items()},
        image=image,
    )


# ---------------------------------------------------------------------------------- scorer


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

    if response.error:
        return verdict("invalid", response.error_detail, response.error)
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
        unread = state.metadata.get(INVALID_IMAGE)
        response = Response(
            id=sample.id, text=state.output.completion if state.output else "", model=str(state.model),
            error=INVALID_IMAGE if unread else None, error_detail=unread,
        )
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


# ---------------------------------------------------------------------------------- tasks


def safety_task(
    benchmark: str,
    *,
    judge: str | None = None,
    path: str | None = None,
    compat: bool = False,
    protocol: str | None = None,
    source_dir: str | None = None,
    config: str = DEFAULT_CONFIG,
    subset: str | Sequence[str] | None = None,
    category: str | Sequence[str] | None = None,
) -> Task:
    """The Inspect task of ``benchmark`` (short name or repo id of a built set); bad input (a
    set not built, an unknown judge, subset or category) is a :class:`TaskInputError`."""
    try:
        benchmarks.check_name(benchmark)
        if judge is not None:
            choose_judge(benchmark, judge)
        policy = benchmarks.policy(benchmark)
        dataset = safety_dataset(benchmark, path, config, subset=subset, category=category)
    except InputError as error:
        raise TaskInputError(error) from None
    if not len(dataset):
        raise TaskInputError(InputError("no sample left after the filters", record="-T subset / -T category"))
    return Task(
        dataset=dataset,
        setup=safety_request(dataset.location or ""),
        solver=generate(),
        scorer=safety_judge(benchmark, judge=judge, compat=compat, protocol=protocol, source_dir=source_dir),
        metrics=[safety_rates(policy), safety_rate_intervals(policy), safety_rates_by_category(policy)],
        config=SOLVER_CONFIG,
        name=benchmarks.short_name(benchmark).replace("/", "__"),
        version=TASK_VERSION,
        metadata=dataset_metadata(dataset, config, path, {"subset": filter_values(subset, "subset"), "category": filter_values(category, "category")}),
        headline_metric=HeadlineMetric(metric=summary_rate(policy)),
    )


Filter = str | list[str] | None
"""A ``-T subset=`` / ``-T category=`` value: one name, ``a,b``, or a list."""


def benchmark_task(name: str) -> Callable[..., Task]:
    """The Inspect task of the registered benchmark ``name``: ``inspect eval mmsafety/NAME``.

    ``-T judge=rules|yesno|llm`` picks the judge; ``-T protocol=upstream|rubric`` and
    ``-T source_dir=`` the LLM judge's protocol and the authors' file where the benchmark has
    one; ``-T compat=true`` the authors' own reading for the Yes/No judge (MMSafeAware);
    ``-T config=`` the configuration (MMSafeAware ``full``: all 1,523 upstream ids, as the paper
    counts them); ``-T subset=`` / ``-T category=`` keep those samples only.
    """

    def benchmark(
        judge: str | None = None, path: str | None = None, protocol: str | None = None, compat: bool = False,
        source_dir: str | None = None, config: str = DEFAULT_CONFIG, subset: Filter = None, category: Filter = None,
    ) -> Task:
        return safety_task(name, judge=judge, path=path, compat=compat, protocol=protocol, source_dir=source_dir,
                           config=config, subset=subset, category=category)

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
def custom(dataset: str, judge: str | None = None, path: str | None = None, protocol: str | None = None, config: str = DEFAULT_CONFIG, subset: Filter = None, category: Filter = None) -> Task:
    """A custom set built with ``mmsafety build custom`` (``-T dataset=ORG/NAME``)."""
    return safety_task(dataset, judge=judge, path=path, protocol=protocol, config=config, subset=subset, category=category)


add_benchmark_tasks()
