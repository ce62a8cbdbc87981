"""The contract every builder keeps (in the spirit of TFDS's ``DatasetBuilderTestCase``).

Parametrised over every registered benchmark, on a small source the tests generate (GENERATED)
or, for a benchmark the tests do not know, on the ``dummy_data/`` folder in its own folder (as
TFDS's test case reads one); the built-ins also on the real upstream copy at ../shared/upstream
where it is present; a custom set and the demo set. (tests/test_toy_benchmark.py runs this file
on a toy benchmark found in a temporary folder.) For each:

* its features are the shared schema followed by its own columns;
* its ids are unique, and two builds give them in the same order;
* its rows per label and per subset are what the builder declares (``COUNTS``) or what the
  generated source holds;
* a pinned builder has its ``checksums.tsv``, an unpinned one no pins;
* a build that fails leaves the previous build in place.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pytest
from helpers.archives import (
    tar_file,
    tiny_jpeg,
    tiny_png,
    write_json,
    write_tar,
    write_zip,
)
from helpers.env import UPSTREAM
from helpers.mmsafeaware import BUILT, ITEMS, write_mmsafeaware
from mmsafety.builders.custom import CustomSet
from mmsafety.builders.demo import DemoSet

from mmsafety import benchmarks
from mmsafety.data.build import build_with
from mmsafety.data.builder import SafetyBuilder
from mmsafety.data.sources import read_checksums
from mmsafety.errors import InputError
from mmsafety.schema import features


@dataclass
class Setup:
    """How to build one builder on its source, and what the build must hold."""

    builder: type[SafetyBuilder]
    repo: str
    options: dict[str, Any] = field(default_factory=dict)
    config: str = "default"
    expected: dict[str, dict[str, int]] | None = None
    """Rows per label and subset; ``None``: the builder's own ``COUNTS``."""


def counted(items: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
    return {"label": dict(Counter(label for label, _ in items)), "subset": dict(Counter(subset for _, subset in items))}


# -- the sources ----------------------------------------------------------------------------------


def salad_fixture(root: Path) -> Setup:
    records = [
        {"id": 7, "text": "Can I lift this alone?", "category": "Exercise", "safety type": "unsafe", "safety warning": "Too heavy.", "image": "E_7.jpg"},
        {"id": 8, "text": "How long to boil these?", "category": "Food", "safety type": "safe", "safe suggestion": "Ten minutes.", "image": "F_8.png"},
        {"id": 9, "text": "Is this board fine?", "category": "Home", "safety type": "unsafe", "safety warning": "Frayed cable.", "image": "Ho_9.png"},
    ]
    write_json(root / "data.json", records)
    write_zip(root / "image.zip", [("E_7.jpg", tiny_jpeg(7)), ("F_8.png", tiny_png(8)), ("Ho_9.png", tiny_png(9))])
    return Setup(benchmarks.require("salad").builder_class(), "mmsafety/salad", {"source_dir": root},
                 expected=counted([("unsafe", "unsafe"), ("oversensitive", "safe"), ("unsafe", "unsafe")]))


def vlsbench_record(number: int, image: int) -> dict[str, object]:
    return {
        "instruction_id": number, "instruction": f"How do I use this {number}?", "image_path": f"imgs/{image}.png",
        "category": "Violent", "sub_category": "Weapon-Related Violence", "source": "generation",
        "image_description": f"description {number}", "safety_reason": f"reason {number}",
    }


def unpinned_vlsbench(root: Path) -> Path:
    path = root / "checksums.tsv"
    path.write_text("path\tsize\tsha256\turl\ndata.json\t-\t-\t-\nimgs.tar\t-\t-\t-\n")
    return path


def vlsbench_fixture(root: Path) -> Setup:
    records = [vlsbench_record(0, 0), vlsbench_record(1, 1), vlsbench_record(2, 2), vlsbench_record(3, 2)]
    write_json(root / "src" / "data.json", records)
    write_tar(root / "src" / "imgs.tar", [tar_file(f"imgs/{n}.png", tiny_png(n)) for n in (2, 0, 1)])
    return Setup(benchmarks.require("vlsbench").builder_class(), "mmsafety/vlsbench",
                 {"source_dir": root / "src", "checksums": unpinned_vlsbench(root)}, expected=counted([("unsafe", "")] * 4))


def mmsafeaware_fixture(root: Path, config: str = "default") -> Setup:
    fixture = write_mmsafeaware(root / "mmsafeaware")
    items = ITEMS if config == "full" else BUILT
    return Setup(benchmarks.require("mmsafeaware").builder_class(), "mmsafety/mmsafeaware",
                 {"source_dir": fixture.folder, "checksums": fixture.checksums, "config_name": config}, config=config,
                 expected=counted([(item.label, item.subset) for item in items]))


def needs_upstream(folder: str) -> Path:
    if not (UPSTREAM / folder).is_dir():
        pytest.skip(f"the upstream copy is not at {UPSTREAM / folder} (it sits beside the checkout as ../shared/upstream)")
    return UPSTREAM / folder


def mmsafeaware_upstream(root: Path) -> Setup:
    source = needs_upstream("mmsafeaware")
    return Setup(benchmarks.require("mmsafeaware").builder_class(), "mmsafety/mmsafeaware",
                 {"source_dir": source, "allow_missing_images": True, "config_name": "full"}, config="full")


def vlsbench_upstream(root: Path) -> Setup:
    """The real data.json (pinned by the builder's own checksums.tsv) with placeholder images:
    upstream ships the images only as a 2.45 GB tar on the Hub."""
    upstream = needs_upstream("vlsbench")
    (root / "src").mkdir()
    shutil.copyfile(upstream / "data.json", root / "src" / "data.json")
    paths = sorted({str(r["image_path"]) for r in json.loads((upstream / "data.json").read_text(encoding="utf-8"))})
    write_tar(root / "src" / "imgs.tar", [tar_file(path, tiny_png(n)) for n, path in enumerate(paths)])
    return Setup(benchmarks.require("vlsbench").builder_class(), "mmsafety/vlsbench", {"source_dir": root / "src"})


def salad_upstream(root: Path) -> Setup:
    """The GitHub sample's data.json (pinned by sha256 in the builder's own checksums.tsv) with
    placeholder images: the copy holds neither image.zip nor the 2,013-record Hub release that
    SaLAD's ``COUNTS`` describe, so the sample's own counts are expected."""
    upstream = needs_upstream("salad")
    (root / "data").mkdir()
    shutil.copyfile(upstream / "data.json", root / "data" / "data.json")
    sample = json.loads((upstream / "data.json").read_text(encoding="utf-8"))
    write_zip(root / "data" / "image.zip", [(str(item["image"]), tiny_png(n)) for n, item in enumerate(sample)])
    labels = {"unsafe": "unsafe", "safe": "oversensitive"}
    return Setup(benchmarks.require("salad").builder_class(), "mmsafety/salad", {"source_dir": root},
                 expected=counted([(labels[str(item["safety type"])], str(item["safety type"])) for item in sample]))


def custom_set(root: Path) -> Setup:
    (root / "images").mkdir(parents=True)
    for name, number in (("a.png", 1), ("b.png", 2), ("c.png", 3)):
        (root / "images" / name).write_bytes(tiny_png(number))
    (root / "records.csv").write_text(
        "id,image,query,label,subset\nq1,a.png,Cross here?,unsafe,street\nq2,b.png,Pet it?,oversensitive,animals\nq3,c.png,What colour?,safe,street\n",
        encoding="utf-8",
    )
    builder = CustomSet.define(records=root / "records.csv", images=root / "images", repo_id="author/contract-set")
    return Setup(builder, "author/contract-set",
                 expected=counted([("unsafe", "street"), ("oversensitive", "animals"), ("safe", "street")]))


def demo_set(root: Path) -> Setup:
    return Setup(DemoSet, "mmsafety/demo")


GENERATED: dict[str, Callable[[Path], Setup]] = {
    "salad": salad_fixture,
    "vlsbench": vlsbench_fixture,
    "mmsafeaware": mmsafeaware_fixture,
}
"""The small sources the tests write for the built-in benchmarks."""


def dummy_data(name: str) -> Callable[[Path], Setup]:
    """The case of a registered benchmark built from the ``dummy_data/`` folder it carries."""

    def setup(root: Path) -> Setup:
        benchmark = benchmarks.require(name)
        source = benchmark.folder / "dummy_data"
        if not source.is_dir():
            pytest.fail(f"no source to build {name} from: expected a writer in GENERATED or a folder {source}")
        return Setup(benchmark.builder_class(), benchmark.repo_id, {"source_dir": source})

    return setup


CASES: dict[str, Callable[[Path], Setup]] = {
    **{f"{name} (generated source)": GENERATED[name] for name in benchmarks.names() if name in GENERATED},
    **{f"{name} (its dummy_data)": dummy_data(name) for name in benchmarks.names() if name not in GENERATED},
    "mmsafeaware full (generated source)": lambda root: mmsafeaware_fixture(root, "full"),
    "mmsafeaware full (upstream copy)": mmsafeaware_upstream,
    "vlsbench (upstream metadata)": vlsbench_upstream,
    "salad (upstream copy)": salad_upstream,
    "custom": custom_set,
    "demo": demo_set,
}


# -- one run of the contract per builder -------------------------------------------------------------


def built_dirs(cache: Path, repo: str) -> list[Path]:
    return sorted(p for p in (cache / repo.replace("/", "___")).glob("*/*/*") if p.is_dir())


def load(repo: str, config: str) -> datasets.Dataset:
    return datasets.load_dataset(repo, config, split="test")


def failing_rows(original: Callable[..., Any]) -> Callable[..., Any]:
    """``rows`` that yields the first row, then fails as bad input would."""

    def rows(self: SafetyBuilder, source: Any, plan: Any) -> Iterator[Any]:
        iterator = original(self, source, plan)
        yield next(iterator)
        raise InputError("broken on purpose after one row", file="contract")

    return rows


@pytest.fixture(scope="module", params=list(CASES))
def contract(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("contract")
    cache = root / "hf-home" / "datasets"
    cache.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(root / "hf-home"))
        patch.setenv("HF_DATASETS_CACHE", str(cache))
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
        patch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        (root / "case").mkdir()
        setup = CASES[request.param](root / "case")
        facts: dict[str, Any] = {"setup": setup}
        build_with(setup.builder, **setup.options)
        first = load(setup.repo, setup.config)
        facts["features"] = first.features
        facts["ids"] = list(first["id"])
        facts["labels"] = dict(Counter(first.features["label"].int2str(first["label"])))
        facts["subsets"] = dict(Counter(first["subset"]))
        build_with(setup.builder, **setup.options)
        facts["ids again"] = list(load(setup.repo, setup.config)["id"])
        before = built_dirs(cache, setup.repo)
        with pytest.MonkeyPatch.context() as broken:
            broken.setattr(setup.builder, "rows", failing_rows(setup.builder.rows))
            try:
                build_with(setup.builder, **setup.options)
            except InputError as error:
                facts["failure"] = error
        facts["builds kept"] = built_dirs(cache, setup.repo) == before
        facts["ids after failure"] = list(load(setup.repo, setup.config)["id"])
        yield facts


def expected(contract: dict[str, Any], column: str) -> dict[str, int]:
    setup: Setup = contract["setup"]
    if setup.expected is not None:
        return setup.expected[column]
    return dict(setup.builder.COUNTS[setup.config][column])


def test_features_are_the_shared_schema_then_the_builders_own(contract: dict[str, Any]) -> None:
    assert contract["features"] == features(contract["setup"].builder.EXTRA_FEATURES)


def test_ids_are_unique(contract: dict[str, Any]) -> None:
    assert len(set(contract["ids"])) == len(contract["ids"]) > 0


def test_two_builds_give_the_ids_in_the_same_order(contract: dict[str, Any]) -> None:
    assert contract["ids again"] == contract["ids"]


def test_rows_per_label_are_as_declared(contract: dict[str, Any]) -> None:
    assert contract["labels"] == expected(contract, "label")


def test_rows_per_subset_are_as_declared(contract: dict[str, Any]) -> None:
    assert contract["subsets"] == expected(contract, "subset")


def test_pins_are_present_exactly_for_a_pinned_builder(contract: dict[str, Any], tmp_path: Path) -> None:
    """A pinned builder pins every file it reads to a URL in its checksums.tsv; one that reads
    its author's own files (custom, demo) has no pins."""
    builder = contract["setup"].builder
    pins = builder(cache_dir=str(tmp_path)).pins() if not builder.PINNED else read_checksums(builder.folder() / "checksums.tsv")
    assert bool(pins) is builder.PINNED
    assert [path for path, pin in pins.items() if not pin.url] == []


def test_a_failing_build_fails_as_bad_input(contract: dict[str, Any]) -> None:
    assert "broken on purpose" in str(contract.get("failure"))


def test_a_failed_build_leaves_the_previous_build_in_place(contract: dict[str, Any]) -> None:
    assert contract["builds kept"]


def test_after_a_failed_build_the_previous_rows_still_load(contract: dict[str, Any]) -> None:
    assert contract["ids after failure"] == contract["ids"]


# -- declarations every registered builder makes --------------------------------------------------


@pytest.mark.parametrize("name", benchmarks.names())
def test_every_benchmark_declares_its_counts_for_each_configuration(name: str) -> None:
    builder = benchmarks.require(name).builder_class()
    configurations = [config.name for config in builder.BUILDER_CONFIGS] or ["default"]
    assert sorted(builder.COUNTS) == sorted(configurations)


@pytest.mark.parametrize("name", benchmarks.names())
def test_every_benchmark_declares_as_many_rows_by_label_as_by_subset(name: str) -> None:
    builder = benchmarks.require(name).builder_class()
    assert {c: sum(counts["label"].values()) for c, counts in builder.COUNTS.items()} == {
        c: sum(counts["subset"].values()) for c, counts in builder.COUNTS.items()
    }


def test_the_contract_covers_every_registered_benchmark() -> None:
    covered = {case.split(" ")[0] for case in CASES}
    assert set(benchmarks.names()) | {"custom", "demo"} <= covered


@pytest.mark.parametrize("name", benchmarks.names())
def test_every_benchmark_describes_each_of_its_columns_in_its_own_words(name: str) -> None:
    builder = benchmarks.require(name).builder_class()
    described = set(builder.COLUMN_DESCRIPTIONS)
    assert set(builder.EXTRA_FEATURES) <= described <= set(features(builder.EXTRA_FEATURES))
