"""The dataset card (README.md) of an exported Hub repository.

Its YAML holds the metadata the Hub documents for dataset cards (``pretty_name``,
``language``, ``license``, ``task_categories``, ``size_categories``, ``tags``,
``configs``, ``dataset_info`` with true sizes, and ``extra_gated_prompt``, a
suggested text for gated access) plus the build's provenance (``version``,
``source_revision``, ``built_with``). Its body says what the set is, describes
every column in the benchmark's own words, lists what was left out (once), the
upstream defects kept, a content warning, release notes and the citation.

>>> size_category(999), size_category(2241), size_category(10_000)
('n<1K', '1K<n<10K', '10K<n<100K')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import datasets
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from mmsafety import __version__, benchmarks
from mmsafety.data.builder import SafetyBuilder
from mmsafety.errors import list_ids
from mmsafety.schema import COLUMNS, SPLIT

DATA_FILES = f"data/{SPLIT}-*"
TASK_CATEGORIES = ("visual-question-answering", "image-text-to-text")
"""The Hub task categories a multimodal safety set is filed under by default."""
LANGUAGE = ("en",)

OWN_DATA_COLUMNS: Mapping[str, str] = {
    "id": "the record's id",
    "image": "the image the record names, its bytes as the file holds them",
    "query": "the text the model is asked, as the records file gives it",
    "label": "safe / unsafe / oversensitive",
    "category": "the record's category ('' where it has none)",
    "subcategory": "the record's sub-category ('' where it has none)",
    "subset": "the record's subset ('' where it has none)",
    "reference": "the record's reference text ('' where it has none)",
}

GATED_PROMPT = (
    "This dataset holds harmful, offensive or distressing prompts and images, collected to test the safety "
    "of AI models. By requesting access you agree to use it only for safety research and evaluation, not to "
    "train models to produce harmful content, and to keep its content out of public displays."
)
"""A suggested ``extra_gated_prompt``: it shows only once gated access is turned on in the repository's settings."""

SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"))


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` value for ``rows`` examples."""
    for bound, name in SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "n>1T" if rows > 10**12 else "other"


def render_card(
    builder: SafetyBuilder,
    dataset: datasets.Dataset,
    *,
    download_size: int = 0,
    pretty_name: str | None = None,
    description: str | None = None,
    language: Sequence[str] | None = None,
    task_categories: Sequence[str] | None = None,
    license: str | None = None,  # noqa: A002 - the card's field
    others: Sequence[tuple[SafetyBuilder, datasets.Dataset, int]] = (),
) -> DatasetCard:
    """The card of ``dataset`` as built by ``builder``; keyword arguments replace the builder's own fields.

    ``download_size`` is the bytes of the exported Parquet files. ``others``: the other
    configurations exported beside it (builder, dataset, download size); then each
    configuration's files are under ``data/<config>/`` and the card's ``configs`` lists them all.
    """
    own_data = benchmarks.get(builder.repo_id) is None
    name = pretty_name or builder.PRETTY_NAME or builder.NAME
    every = [(builder, dataset, download_size), *others]
    infos = {b.config_name: _info(b, d, size) for b, d, size in every}
    files = {b.config_name: config_data_files(b.config_name) if others else DATA_FILES for b, _, _ in every}
    card_data = DatasetCardData(
        pretty_name=name,
        language=list(language or LANGUAGE),
        license=license or card_license(builder),
        task_categories=list(task_categories or TASK_CATEGORIES),
        size_categories=[size_category(dataset.num_rows)],
        tags=["safety", "multimodal", "mmsafety", *([] if own_data else [builder.NAME])],
        extra_gated_prompt=GATED_PROMPT,
        version=str(builder.VERSION),
        source_revision=builder.source_revision,
        built_with=f"mmsafety {__version__}",
    )
    MetadataConfigs({config: {"data_files": [{"split": SPLIT, "path": path}], **({"default": True} if config == builder.config_name and others else {})}
                     for config, path in files.items()}).to_dataset_card_data(card_data)
    DatasetInfosDict(infos).to_dataset_card_data(card_data)
    body = _body(builder, dataset, name=name, description=description or builder.DESCRIPTION, own_data=own_data)
    if others:
        body = body.replace("\n## Content warning\n", "\n" + _configurations(builder, every) + "\n## Content warning\n", 1)
    return DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}")


def config_data_files(config: str) -> str:
    """Where a configuration's Parquet files are in an export of several configurations.

    >>> config_data_files("full")
    'data/full/test-*'
    """
    return f"data/{config}/{SPLIT}-*"


def _info(builder: SafetyBuilder, dataset: datasets.Dataset, download_size: int) -> datasets.DatasetInfo:
    info = dataset.info.copy()
    info.config_name = builder.config_name
    info.download_size = download_size
    info.dataset_size = dataset.data.nbytes
    if info.splits and SPLIT in info.splits:
        info.splits[SPLIT].num_bytes = dataset.data.nbytes
        info.splits[SPLIT].num_examples = dataset.num_rows
    return info


def _configurations(default: SafetyBuilder, every: Sequence[tuple[SafetyBuilder, datasets.Dataset, int]]) -> str:
    """The card's section on the configurations exported together."""
    described = {config.name: config.description for config in default.BUILDER_CONFIGS}
    lines = ["## Configurations", "", "| configuration | rows | what it holds | load it |", "|---|---|---|---|"]
    for builder, dataset, _ in every:
        named = "" if builder.config_name == default.config_name else f', "{builder.config_name}"'
        load = f'`load_dataset("{builder.repo_id}"{named}, split="{SPLIT}")`'
        lines.append(f"| `{builder.config_name}` | {dataset.num_rows:,} | {described.get(builder.config_name) or ''} | {load} |")
    left_out = [f"- `{b.config_name}`: {reason} ({len(ids)})" for b, _, _ in every[1:] for reason, ids in b.left_out.items()]
    if left_out:
        lines += ["", "Left out of the other configurations:", "", *left_out]
    return "\n".join(lines) + "\n"


def column_descriptions(builder: SafetyBuilder, own_data: bool) -> dict[str, str]:
    """Every column of the build and what it holds, in the benchmark's own words where it has them."""
    described = {**(OWN_DATA_COLUMNS if own_data else COLUMNS)}
    described.update(builder.COLUMN_DESCRIPTIONS)
    for column in builder.EXTRA_FEATURES:
        described.setdefault(column, "a column of the records file, kept as given" if own_data else f"{builder.NAME}'s `{column}` field")
    return {column: described[column] for column in [*COLUMNS, *builder.EXTRA_FEATURES]}


def card_license(builder: SafetyBuilder | type[SafetyBuilder]) -> str:
    """The license for the card: the builder's ``LICENSE``, else the ``UPSTREAM_LICENSE`` upstream states on its own card."""
    if builder.LICENSE and builder.LICENSE != "unknown":
        return builder.LICENSE
    return builder.UPSTREAM_LICENSE or builder.LICENSE or "unknown"


def _body(builder: SafetyBuilder, dataset: datasets.Dataset, *, name: str, description: str, own_data: bool) -> str:
    origin = f"from {builder.source_revision}" if builder.source_revision else ""
    lines = [
        f"# {name}",
        "",
        description,
        "",
        f"Version **{builder.VERSION}**, built with mmsafety {__version__} {origin}. One split, `{SPLIT}`, of {dataset.num_rows:,} rows.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{builder.repo_id}", split="{SPLIT}")',
        "```",
        "",
        "## Content warning",
        "",
        "This set holds prompts and images chosen to be harmful, offensive or distressing (and benign look-alikes), "
        "to test whether models answer them safely. Read and show its content with care.",
        "",
        "## Columns",
        "",
        "| column | meaning |",
        "|---|---|",
        *(f"| `{column}` | {meaning} |" for column, meaning in column_descriptions(builder, own_data).items()),
        "",
        "## Left out of this build",
        "",
    ]
    if builder.left_out:
        lines += [f"- {reason} ({len(ids)}): {list_ids(ids, limit=200)}" for reason, ids in builder.left_out.items()]
    else:
        lines.append("Nothing: every record is here." if own_data else "Nothing: every upstream record is here.")
    if builder.notes:
        lines += ["", "## Kept with a remark", ""]
        lines += [f"- {remark} ({len(ids)}): {list_ids(ids, limit=200)}" for remark, ids in builder.notes.items()]
    if own_data and builder.KNOWN_DEFECTS:
        lines += ["", "## Known defects, kept as they are", ""]
        lines += [f"- {defect}" for defect in builder.KNOWN_DEFECTS]
    elif not own_data:
        lines += ["", "## Known upstream defects, kept as upstream has them", ""]
        lines += [f"- {defect}" for defect in builder.KNOWN_DEFECTS] or ["None recorded."]
    lines += [
        "",
        "## Gated access (suggested)",
        "",
        "Before publishing, consider turning on gated access in the repository's settings; the card's "
        "`extra_gated_prompt` then asks each requester to agree to:",
        "",
        f"> {GATED_PROMPT}",
    ]
    if builder.RELEASE_NOTES:
        lines += ["", "## Release notes", ""]
        lines += [f"- **{version}**: {note}" for version, note in builder.RELEASE_NOTES.items()]
    citation = builder.citation()
    if citation:
        lines += ["", "## Citation", "", "```bibtex", citation, "```"]
    lines.append("")
    return "\n".join(lines)
