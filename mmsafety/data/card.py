"""The dataset card (README.md) of an exported Hub repository.

Its YAML carries ``configs`` and ``dataset_info`` as ``push_to_hub`` writes them,
plus what ``push_to_hub`` leaves out: license, version, source revision and
citation. Its body says what the set is, what was left out and which upstream
defects were kept.
"""

from __future__ import annotations

import datasets
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from mmsafety import __version__
from mmsafety.data.builder import SafetyBuilder
from mmsafety.errors import list_ids
from mmsafety.schema import COLUMNS, SPLIT

DATA_FILES = f"data/{SPLIT}-*"


def render_card(builder: SafetyBuilder, dataset: datasets.Dataset) -> DatasetCard:
    """The card of ``dataset`` as built by ``builder``."""
    info = dataset.info.copy()
    info.config_name = builder.config_name
    card_data = DatasetCardData(
        license=builder.LICENSE,
        pretty_name=builder.PRETTY_NAME or builder.NAME,
        task_categories=["visual-question-answering"],
        tags=["safety", "multimodal", "mmsafety"],
        version=str(builder.VERSION),
        source_revision=builder.source_revision,
        built_with=f"mmsafety {__version__}",
        citation=builder.citation(),
        known_defects=list(builder.KNOWN_DEFECTS),
        left_out={reason: ids for reason, ids in builder.left_out.items()},
        kept_with_a_remark={remark: ids for remark, ids in builder.notes.items()},
    )
    MetadataConfigs({builder.config_name: {"data_files": [{"split": SPLIT, "path": DATA_FILES}]}}).to_dataset_card_data(card_data)
    DatasetInfosDict({builder.config_name: info}).to_dataset_card_data(card_data)
    return DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n{_body(builder, dataset)}")


def _body(builder: SafetyBuilder, dataset: datasets.Dataset) -> str:
    name = builder.PRETTY_NAME or builder.NAME
    lines = [
        f"# {name}",
        "",
        builder.DESCRIPTION,
        "",
        f"Version **{builder.VERSION}**, built with mmsafety {__version__} from {builder.source_revision}. "
        f"One split, `{SPLIT}`, of {dataset.num_rows:,} rows.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("{builder.repo_id}", split="{SPLIT}")',
        "```",
        "",
        "## Columns",
        "",
        "| column | meaning |",
        "|---|---|",
        *(f"| `{column}` | {meaning} |" for column, meaning in COLUMNS.items()),
        *(f"| `{column}` | {builder.NAME}'s own field |" for column in builder.EXTRA_FEATURES),
        "",
        "## Left out of this build",
        "",
    ]
    if builder.left_out:
        lines += [f"- {reason} ({len(ids)}): {list_ids(ids, limit=200)}" for reason, ids in builder.left_out.items()]
    else:
        lines.append("Nothing: every upstream record is here.")
    if builder.notes:
        lines += ["", "## Kept with a remark", ""]
        lines += [f"- {remark} ({len(ids)}): {list_ids(ids, limit=200)}" for remark, ids in builder.notes.items()]
    lines += ["", "## Known upstream defects, kept as upstream has them", ""]
    lines += [f"- {defect}" for defect in builder.KNOWN_DEFECTS] or ["None recorded."]
    lines += ["", "## Release notes", ""]
    lines += [f"- **{version}**: {note}" for version, note in builder.RELEASE_NOTES.items()]
    lines += ["", "## Citation", "", "```bibtex", builder.citation(), "```", ""]
    return "\n".join(lines)
