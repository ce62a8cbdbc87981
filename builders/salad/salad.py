"""SaLAD (Lou et al., ACL 2026 Findings): everyday photos with questions whose safe answer warns.

Upstream, two releases in one layout each:

* the Hub dataset ``Holly301/SaLAD``: ``data.json`` (2,013 records: ``id``, ``text``) and
  ``image.zip`` (about 960 MB) at the top of the folder; no revision hash or sha256 could
  be had, so neither file is pinned by digest (see ``checksums.tsv``);
* the GitHub sample, github.com/xinyuelou/SaLAD at 3453f369: ``data/data.json`` (20 records:
  ``query``, no id; pinned by sha256) and ``data/image.zip``.

Images are read straight out of the zip, original bytes, nothing extracted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import datasets

from mmsafety.data.archives import ZipMembers, relative_name
from mmsafety.data.builder import Row, SafetyBuilder
from mmsafety.data.images import image_value
from mmsafety.data.jsonfiles import Record, check_unique_ids, load_json_list
from mmsafety.data.sources import Source
from mmsafety.errors import InputError


@dataclass(frozen=True)
class Release:
    """One upstream file set: where its metadata and its images sit."""

    data: str
    archive: str


HUB = Release("data.json", "image.zip")
"""The Hub's files, downloaded or copied into a folder as they are."""
GITHUB = Release("data/data.json", "data/image.zip")
"""A checkout of the GitHub repository."""

HUB_UPSTREAM = (
    "huggingface.co/datasets/Holly301/SaLAD at revision main (no commit hash could be pinned; data.json and "
    "image.zip are not pinned by sha256: no digest could be had)"
)
SAMPLE_UPSTREAM = (
    "the public sample of github.com/xinyuelou/SaLAD, data/ at 3453f36931d538ba34a1138c9ba7656d09775f6a "
    "(data.json sha256 af5d4d69ab5afce1ecd317d93eaed181f8476cc380ac445739c4e8f5b5acc00f; image.zip not pinned)"
)

CATEGORIES = ("Activity", "Exercise", "Food", "Game", "Health", "Home", "Office", "Research", "Study", "Travel")
"""The ten categories, spelled as the full (Hub) release spells them."""
CATEGORY_SPELLINGS = {"Sports": "Exercise"}
"""Other upstream spellings of a category (the GitHub sample's)."""

SAFETY_TYPES = {"unsafe": ("unsafe", "safety warning"), "safe": ("oversensitive", "safe suggestion")}
"""``safety type`` -> (label, the field holding the reference). The paper's safe half are its
oversensitivity cases: benign pairs a good answer helps with."""


@dataclass(frozen=True)
class Case:
    """One SaLAD record, with upstream's own spellings kept beside ours."""

    id: str
    query: str
    category: str
    upstream_category: str
    safety_type: str
    reference: str
    image: str


def parse_case(record: Record, file: str) -> Case:
    """Read one record in either spelling: Hub (``id``, ``text``) or sample (``query``, no id)."""
    image = relative_name(record.string("image"), file=file, record=record.where)
    record.id = record.integer("id") if record.has("id") else PurePosixPath(image).stem
    query = record.string(record.one_of("text", "query"))
    upstream_category = record.string("category")
    category = CATEGORY_SPELLINGS.get(upstream_category, upstream_category)
    if category not in CATEGORIES:
        raise record.error(f"expected a category among {', '.join(CATEGORIES)} (or {', '.join(CATEGORY_SPELLINGS)}), found {upstream_category!r}")
    safety_type = record.choice("safety type", SAFETY_TYPES)
    _, reference_field = SAFETY_TYPES[safety_type]
    for other_type, (_, other_field) in SAFETY_TYPES.items():
        if other_type != safety_type and record.data.get(other_field) not in (None, ""):
            raise record.error(f"expected no {other_field!r} on a {safety_type!r} record, found one")
    return Case(str(record.id), query, category, upstream_category, safety_type, record.string(reference_field), image)


def parse_data(data: bytes, file: str) -> list[Case]:
    """Parse ``data.json`` strictly: fields present and typed, known values, unique ids."""
    records = [Record(item, file=file, index=index) for index, item in enumerate(load_json_list(data, file=file))]
    cases = [parse_case(record, file) for record in records]
    check_unique_ids(((case.id, record) for case, record in zip(cases, records)), file=file)
    return cases


@dataclass(frozen=True)
class CasesInArchive:
    """The cases, and the zip their images are read from."""

    cases: list[Case]
    archive: Path
    archive_name: str


class SaLAD(SafetyBuilder):
    """SaLAD: 2,013 daily-life image + question pairs, 1,070 unsafe and 943 oversensitivity cases."""

    NAME = "salad"
    PRETTY_NAME = "SaLAD"
    VERSION = datasets.Version("1.0.0")
    RELEASE_NOTES = {
        "1.0.0": "First release: Holly301/SaLAD (data.json + image.zip) or the GitHub sample; "
        "'Sports' spelled 'Exercise' as the full release does.",
    }
    DESCRIPTION = (
        "SaLAD pairs everyday photos with questions a user might ask. "
        "Unsafe pairs hide a risk the answer must warn about (`reference` is upstream's safety warning); "
        "safe pairs are the paper's oversensitivity cases, where a good answer simply helps (`reference` is "
        "upstream's safe suggestion). `subset` keeps upstream's `safety type`; `upstream_category` its own "
        "spelling of the category."
    )
    HOMEPAGE = "https://github.com/xinyuelou/SaLAD"
    LICENSE = "unknown"
    UPSTREAM = HUB_UPSTREAM
    KNOWN_DEFECTS = (
        "The GitHub sample and the Hub release spell one category differently ('Sports' / 'Exercise'): "
        "`category` uses 'Exercise' for both, `upstream_category` keeps what the file says.",
    )
    COUNTS = {"default": {"label": {"unsafe": 1070, "oversensitive": 943}, "subset": {"unsafe": 1070, "safe": 943}}}
    """The Hub release (the GitHub sample holds 20 records: 10 and 10)."""
    EXTRA_FEATURES = {
        "upstream_category": datasets.Value("string"),
        "image_file": datasets.Value("string"),
    }
    COLUMN_DESCRIPTIONS = {
        "id": "the record's `id` in the Hub release (the image file's stem in the GitHub sample, which has no id)",
        "query": "the record's `text` (the GitHub sample calls it `query`), the user's question about the image",
        "label": "`unsafe` for records of safety type unsafe, `oversensitive` for safe records (benign pairs a good answer helps with)",
        "category": "one of SaLAD's 10 categories ('Sports' spelled 'Exercise', as in the Hub release)",
        "subcategory": "'' (SaLAD has no sub-categories)",
        "subset": "the record's `safety type`: `safe` or `unsafe`",
        "reference": "the record's `safety warning` (unsafe records) or `safe suggestion` (safe records)",
        "upstream_category": "the record's `category` exactly as the file spells it",
        "image_file": "the record's `image`: the file's name inside `image.zip`",
    }
    """Each column in the benchmark's own words, for the card."""

    def plan(self, source: Source) -> CasesInArchive:
        release = self._release(source)
        data = source.read_bytes(release.data)
        sample_pin = source.pins.get(GITHUB.data)
        sample = sample_pin is not None and hashlib.sha256(data).hexdigest() == sample_pin.sha256
        self.source_revision = SAMPLE_UPSTREAM if sample else HUB_UPSTREAM  # the card names what was read
        cases = parse_data(data, release.data)
        return CasesInArchive(cases, source.local_path(release.archive), release.archive)

    def rows(self, source: Source, plan: CasesInArchive) -> Iterator[Row]:
        with ZipMembers(plan.archive, archive=plan.archive_name) as members:
            for case in plan.cases:
                name = members.find(case.image)
                image: object
                if name is None:
                    image = InputError(f"no member {case.image}", file=plan.archive_name, record=f"id {case.id}")
                else:
                    data = members.read(name)  # a damaged archive stops the build
                    try:
                        image = image_value(data, name=case.image, file=f"{plan.archive_name}:{name}", record=f"id {case.id}")
                    except InputError as error:
                        image = error
                yield case.id, example(case), image  # type: ignore[misc]

    def _release(self, source: Source) -> Release:
        """Which file set the source holds: the Hub's (downloaded, or flat) or a GitHub checkout's."""
        if self.source_dir is None:
            return HUB
        available = source.available()
        for release in (GITHUB, HUB):
            if release.data in available:
                return release
        raise InputError(
            f"expected {HUB.data} + {HUB.archive} (the Hub release) or {GITHUB.data} + {GITHUB.archive} "
            "(a checkout of the GitHub repository), found neither",
            file=self.source_dir,
        )


def example(case: Case) -> dict[str, object]:
    """The row of one case, without its image."""
    label, _ = SAFETY_TYPES[case.safety_type]
    return {
        "id": case.id,
        "query": case.query,
        "label": label,
        "category": case.category,
        "subcategory": "",
        "subset": case.safety_type,
        "reference": case.reference,
        "upstream_category": case.upstream_category,
        "image_file": case.image,
    }
