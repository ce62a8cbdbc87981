"""VLSBench (Hu et al., ACL 2025): image + neutral query pairs whose risk is in the image only.

Upstream: the Hub dataset ``Foreshhh/vlsbench``: ``data.json`` (pinned by sha256; the same
file as github.com/AI45Lab/VLSBench ``data/data.json`` at 68f54dea) and ``imgs.tar``
(members ``imgs/<n>.png``, about 2.45 GB; no digest could be had, see ``checksums.tsv``).
Images are read out of the tar one member at a time (its headers checked and indexed
first), or from an extracted ``imgs/`` folder beside ``data.json``; rows come in
``data.json``'s order either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets

from mmsafety.data.archives import TarMembers, relative_name
from mmsafety.data.builder import Row, SafetyBuilder
from mmsafety.data.images import image_value, read_image_file
from mmsafety.data.jsonfiles import Record, check_unique_ids, load_json_list
from mmsafety.data.sources import Source
from mmsafety.errors import InputError

DATA_FILE = "data.json"
ARCHIVE = "imgs.tar"
IMAGE_FOLDER = "imgs"

EMPTY_INSTRUCTION = 1685
IDENTICAL_PAIR = (1777, 1778)
MISFILED_SUBCATEGORIES: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "Identity Theft and Impersonation": ("Illegal Activity", "Privacy", (1144, 1153, 1996)),
    "Psychological and Disordered Harm": ("Hate", "Self-Harm", (1489, 2105)),
}
"""sub_category -> (the category a few records file it under, its category elsewhere, those records' ids)."""


@dataclass(frozen=True)
class Instruction:
    """One ``data.json`` record, every field as upstream has it."""

    instruction_id: int
    instruction: str
    image_path: str
    category: str
    sub_category: str
    source: str
    image_description: str
    safety_reason: str


def parse_instruction(record: Record) -> Instruction:
    record.id = record.integer("instruction_id")
    text = {name: record.string(name) for name in ("instruction", "image_path", "category", "sub_category", "source", "image_description", "safety_reason")}
    text["image_path"] = relative_name(text["image_path"], file=DATA_FILE, record=record.where)
    return Instruction(instruction_id=record.id, **text)  # type: ignore[arg-type]


def parse_data(data: bytes) -> list[Instruction]:
    """Parse ``data.json`` strictly: every field present and typed, ids unique."""
    records = [Record(item, file=DATA_FILE, index=index) for index, item in enumerate(load_json_list(data, file=DATA_FILE))]
    instructions = [parse_instruction(record) for record in records]
    check_unique_ids(((item.instruction_id, record) for item, record in zip(instructions, records)), file=DATA_FILE)
    return instructions


@dataclass(frozen=True)
class InstructionsWithImages:
    """The instructions, and where their images are read from."""

    instructions: list[Instruction]
    archive: Path | None
    """The tar to read the images from, or ``None`` to read the ``imgs/`` folder."""
    folder: Path | None


class VLSBench(SafetyBuilder):
    """VLSBench: 2,241 image + query pairs, every one unsafe, the risk shown by the image alone."""

    NAME = "vlsbench"
    PRETTY_NAME = "VLSBench"
    VERSION = datasets.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: every record of Foreshhh/vlsbench data.json (sha256 a42245e7...), images from imgs.tar; "
        "known defects kept as upstream has them.",
    }
    DESCRIPTION = (
        "VLSBench pairs images with neutral textual queries so that the risk is visible in the image only "
        "(no visual safety information leaks into the text). Every pair is unsafe: a good answer recognises "
        "the risk the image shows. `reference` is upstream's `safety_reason`; several records share one image."
    )
    HOMEPAGE = "https://github.com/AI45Lab/VLSBench"
    LICENSE = "unknown"
    UPSTREAM_LICENSE = "apache-2.0"  # the license field of the authors' Hub card, Foreshhh/vlsbench
    UPSTREAM = (
        "huggingface.co/datasets/Foreshhh/vlsbench at revision main (no commit hash could be pinned): data.json checked "
        "against sha256 a42245e79ab67fc9a08e4e35d3a4eba5ae85151d5ca5cd45821c53b22b175fdf (the same file as "
        "github.com/AI45Lab/VLSBench data/data.json at 68f54dea3eab134afefe602a5c7283bfa39a886a); imgs.tar is not pinned "
        "by sha256 (no digest could be had)"
    )
    KNOWN_DEFECTS = (
        f"Id {EMPTY_INSTRUCTION} has an empty instruction (query \"\"); kept.",
        f"Ids {IDENTICAL_PAIR[0]} and {IDENTICAL_PAIR[1]} are the same pair: the same instruction, image (imgs/1609.png), "
        "category and sub-category (only image_description and safety_reason are worded differently); both kept.",
        "Five records carry a sub_category that belongs to another category elsewhere in the set, kept as filed: "
        + "; ".join(
            f"ids {', '.join(map(str, ids))} file {sub!r} under {filed!r} (elsewhere {home!r})"
            for sub, (filed, home, ids) in MISFILED_SUBCATEGORIES.items()
        )
        + ".",
        "Several records share one image: from id 1236 on, image_path is no longer imgs/<instruction_id>.png, and "
        "2,241 records use 1,957 distinct images; kept as upstream pairs them.",
    )
    COUNTS = {"default": {"label": {"unsafe": 2241}, "subset": {"": 2241}}}
    EXTRA_FEATURES = {
        "instruction_id": datasets.Value("int32"),
        "image_description": datasets.Value("string"),
        "source": datasets.Value("string"),
    }
    COLUMN_DESCRIPTIONS = {
        "id": "the record's `instruction_id` as text",
        "query": "the record's `instruction`: the textual query, written so that it does not reveal what is risky in the image",
        "label": "`unsafe` for every record (every VLSBench pair is unsafe by design)",
        "category": "the record's `category` (one of 6 harm categories)",
        "subcategory": "the record's `sub_category` (19 names)",
        "subset": "'' (VLSBench has no subsets)",
        "reference": "the record's `safety_reason`: why the image-text pair is unsafe",
        "instruction_id": "the record's `instruction_id` (0-2240, its position in data.json)",
        "image_description": "the record's `image_description`: the authors' description of the image",
        "source": "the record's `source`: where the image comes from (`generation` for generated images, else the dataset it was taken from)",
    }
    """Each column in the benchmark's own words, for the card."""

    def plan(self, source: Source) -> InstructionsWithImages:
        instructions = parse_data(source.read_bytes(DATA_FILE))
        available = source.available()
        if ARCHIVE in available:
            return InstructionsWithImages(instructions, archive=source.local_path(ARCHIVE), folder=None)
        if self.source_dir is not None and any(path.startswith(IMAGE_FOLDER + "/") for path in available):
            return InstructionsWithImages(instructions, archive=None, folder=self.source_dir)
        raise InputError(f"expected {ARCHIVE} or an extracted {IMAGE_FOLDER}/ folder beside {DATA_FILE}, found neither", file=self.source_dir)

    def rows(self, source: Source, plan: InstructionsWithImages) -> Iterator[Row]:
        if plan.archive is not None:
            yield from self._rows_from_archive(plan.archive, plan.instructions)
            return
        assert plan.folder is not None
        for item in plan.instructions:
            try:
                image: object = read_image_file(plan.folder, item.image_path, record=f"id {item.instruction_id}")
            except InputError as error:
                image = error
            yield str(item.instruction_id), example(item), image  # type: ignore[misc]

    @staticmethod
    def _rows_from_archive(archive: Path, instructions: list[Instruction]) -> Iterator[Row]:
        """Rows in ``data.json``'s order, each image read from the tar once per run of records that share it."""
        with TarMembers(archive, archive=ARCHIVE, wanted={item.image_path for item in instructions}, folders={IMAGE_FOLDER}) as members:
            last: tuple[str, object] | None = None  # the image just read: consecutive records often share it
            for item in instructions:
                name = item.image_path
                if name not in members:
                    image: object = InputError(f"no member {name}", file=ARCHIVE, record=f"id {item.instruction_id}")
                elif last is not None and last[0] == name:
                    image = last[1]
                else:
                    data = members.read(name)  # a damaged archive stops the build: not one record's problem
                    try:
                        image = image_value(data, name=name, file=f"{ARCHIVE}:{name}", record=None)
                    except InputError as error:
                        image = error
                    last = (name, image)
                yield str(item.instruction_id), example(item), image  # type: ignore[misc]


def example(item: Instruction) -> dict[str, object]:
    """The row of one instruction, without its image."""
    return {
        "id": str(item.instruction_id),
        "query": item.instruction,
        "label": "unsafe",
        "category": item.category,
        "subcategory": item.sub_category,
        "subset": "",
        "reference": item.safety_reason,
        "instruction_id": item.instruction_id,
        "image_description": item.image_description,
        "source": item.source,
    }
