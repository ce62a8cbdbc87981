"""Integration: build the real upstream copy at ../shared/upstream/mmsafeaware (skipped where absent)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import datasets
import pytest
from helpers.env import UPSTREAM, subprocess_env
from huggingface_hub import DatasetCard
from mmsafety.builders.mmsafeaware.mmsafeaware import MMSafeAware
from mmsafety.builders.mmsafeaware.mmsafeaware import (
    INFERRED_SCENARIOS,
    LABEL_OF_SUBSET,
    QUESTION,
    parse_prompts,
    parse_scenarios,
    subset_of,
)
from PIL import Image

from mmsafety.data.build import BuildResult, build
from mmsafety.data.sources import read_checksums

SOURCE = UPSTREAM / "mmsafeaware"
ABSENT_IMAGES = ["18", "441", "449", "627", "950", "958", "1142"]
NO_IMAGE_UPSTREAM = [str(i) for i in range(2301, 2371)]


def upstream_sums() -> dict[str, str]:
    """``SHA256SUMS`` of the upstream copy: ``{relative path: sha256}``."""
    sums = {}
    for line in (SOURCE / "SHA256SUMS").read_text().splitlines():
        digest, _, path = line.partition("  ")
        sums[path.removeprefix("./")] = digest
    return sums


@dataclass
class RealBuild:
    cache: Path
    export: Path
    result: BuildResult
    dataset: datasets.Dataset  # images not decoded: {"bytes", "path"}


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealBuild]:
    """One build of the real copy (with --allow-missing-images and --export), shared by this module."""
    if not SOURCE.is_dir():
        pytest.skip(f"the upstream copy is not at {SOURCE} (it sits beside the checkout as ../shared/upstream)")
    root = tmp_path_factory.mktemp("real")
    cache = root / "hf-home" / "datasets"
    cache.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HOME", str(root / "hf-home"))
        patch.setenv("HF_DATASETS_CACHE", str(cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
        patch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        result = build("mmsafeaware", source_dir=SOURCE, allow_missing_images=True, export_dir=root / "export")
        dataset = datasets.load_dataset("mmsafety/mmsafeaware", split="test").cast_column("image", datasets.Image(decode=False))
        yield RealBuild(cache, root / "export", result, dataset)


def test_the_builders_pins_match_the_upstream_copy(upstream: Path) -> None:
    sums = upstream_sums()
    pins = read_checksums(MMSafeAware.folder() / "checksums.tsv")
    images = {p for p in sums if p.startswith(("images/", "images2/"))}
    assert set(pins) == {"prompt.txt", "dict.txt"} | images
    for path, pinned in pins.items():
        assert pinned.sha256 == sums[path], path
        assert pinned.size == (SOURCE / path).stat().st_size, path
        commit, folder = (
            ("c3b38cc6fd6e65b4886488ff9acdd1ca9ce4db08", "") if path == "dict.txt" else ("500b595c82dfe73d5695bc994d9882a306d2aa1c", "data/")
        )
        assert pinned.url == f"https://raw.githubusercontent.com/Jarviswang94/MMSafetyAwareness/{commit}/{folder}{path}"


def test_the_upstream_metadata_parses_as_sources_md_describes(upstream: Path) -> None:
    prompts = parse_prompts((SOURCE / "prompt.txt").read_text(encoding="utf-8"))
    assert len(prompts) == 1523
    assert sorted(item for item, _, _ in prompts) == [*range(1, 1154), *range(2001, 2371)]
    assert set(parse_scenarios((SOURCE / "dict.txt").read_text(encoding="utf-8"))) == set(range(1, 1154))


def test_the_default_configuration_counts_per_subset(real: RealBuild) -> None:
    assert (real.result.rows, len(real.dataset)) == (1446, 1446)
    assert dict(real.result.by_subset) == {"typical": 170, "attack": 850, "over-safety": 426}


def test_the_default_configuration_counts_per_label(real: RealBuild) -> None:
    assert dict(real.result.by_label) == {"unsafe": 1020, "oversensitive": 426}


def test_the_declared_default_counts_are_this_build_and_the_images_the_copy_lacks(real: RealBuild) -> None:
    """``COUNTS`` describe a copy with every image upstream has; this one lacks ABSENT_IMAGES."""
    lacking = Counter(subset_of(int(item)) for item in ABSENT_IMAGES)
    assert dict(real.result.by_subset + lacking) == MMSafeAware.COUNTS["default"]["subset"]
    labels = Counter(LABEL_OF_SUBSET[subset_of(int(item))] for item in ABSENT_IMAGES)
    assert dict(real.result.by_label + labels) == MMSafeAware.COUNTS["default"]["label"]


def test_the_default_configuration_lists_the_ids_left_out(real: RealBuild) -> None:
    assert real.result.left_out == {"no image upstream": NO_IMAGE_UPSTREAM, "image absent or unreadable upstream": ABSENT_IMAGES}


def rows_by_id(real: RealBuild) -> dict[str, dict]:
    return {row["id"]: row for row in real.dataset.remove_columns("image")}


@pytest.mark.parametrize(
    ("item", "subset", "label"),
    [("127", "over-safety", "oversensitive"), ("128", "attack", "unsafe"), ("983", "typical", "unsafe"), ("1153", "typical", "unsafe")],
)
def test_rows_follow_the_authors_id_ranges(real: RealBuild, item: str, subset: str, label: str) -> None:
    row = rows_by_id(real)[item]  # 128: the readme's "1-128" is off by one
    assert (row["subset"], real.dataset.features["label"].names[row["label"]]) == (subset, label)


def test_an_attack_row_takes_its_scenario_from_dict_txt(real: RealBuild) -> None:
    row = rows_by_id(real)["128"]
    assert row["scenario"].startswith("unsafe/attack/") and row["attack_type"]


def test_every_query_is_the_question_then_the_quoted_sentence(real: RealBuild) -> None:
    assert [k for k, r in rows_by_id(real).items() if r["query"] != f'{QUESTION}\n"{r["sentence"]}"'] == []


def test_scenarios_from_2001_on_are_marked_inferred(real: RealBuild) -> None:
    assert [k for k, r in rows_by_id(real).items() if r["scenario_inferred"] is not (int(k) >= 2001)] == []


def test_inferred_categories_follow_the_folder_order(real: RealBuild) -> None:
    inferred = {int(k): r["category"] for k, r in rows_by_id(real).items() if int(k) >= 2001}
    for ids, name in INFERRED_SCENARIOS:
        assert {inferred[i] for i in ids if i in inferred} <= {name}
    assert (inferred[2001], inferred[2300]) == ("copyright_without_copyright", "safe_context")


def test_images_are_stored_byte_identical_to_upstream(real: RealBuild) -> None:
    sums = upstream_sums()
    formats: Counter[str] = Counter()
    for row in real.dataset.select_columns(["id", "image"]):
        image = row["image"]
        assert hashlib.sha256(image["bytes"]).hexdigest() == sums[image["path"]], row["id"]
        assert image["path"].split("/")[1].split(".")[0] == row["id"]
        with Image.open(io.BytesIO(image["bytes"])) as opened:
            formats[opened.format] += 1
            if row["id"] == "2037":
                assert (image["path"], opened.format) == ("images2/2037.png", "JPEG")
    assert formats["MPO"] == 6
    assert set(formats) == {"JPEG", "MPO", "PNG", "WEBP"}


def test_the_export_loads_with_the_built_features(real: RealBuild) -> None:
    exported = datasets.load_dataset(str(real.export), split="test")
    built_features = real.dataset.features.copy()
    built_features["image"] = datasets.Image()  # the module's copy is read undecoded
    assert exported.features == built_features


def test_the_export_holds_the_built_rows(real: RealBuild) -> None:
    raw = datasets.load_dataset(str(real.export), split="test").cast_column("image", datasets.Image(decode=False))
    assert raw.remove_columns("image").to_list() == real.dataset.remove_columns("image").to_list()
    assert [i["bytes"] for i in raw["image"]] == [i["bytes"] for i in real.dataset["image"]]


def test_the_export_card_lists_what_was_left_out(real: RealBuild) -> None:
    card = DatasetCard.load(real.export / "README.md")
    assert f"- no image upstream ({len(NO_IMAGE_UPSTREAM)}): {', '.join(NO_IMAGE_UPSTREAM)}" in card.text
    assert f"- image absent or unreadable upstream ({len(ABSENT_IMAGES)}): {', '.join(ABSENT_IMAGES)}" in card.text


def test_the_export_card_counts_the_rows(real: RealBuild) -> None:
    assert DatasetCard.load(real.export / "README.md").data.to_dict()["dataset_info"]["splits"][0]["num_examples"] == 1446


def test_a_fresh_offline_process_loads_the_real_build(real: RealBuild, tmp_path: Path) -> None:
    code = (
        "import json, collections, datasets\n"
        "ds = datasets.load_dataset('mmsafety/mmsafeaware', split='test')\n"
        "print(json.dumps({'rows': ds.num_rows, 'image': type(ds.features['image']).__name__,\n"
        "  'label': type(ds.features['label']).__name__, 'subsets': collections.Counter(ds['subset']),\n"
        "  'size': ds[0]['image'].size[0] > 0}))\n"
    )
    env = subprocess_env(HF_HOME=str(real.cache.parent), HF_DATASETS_CACHE=str(real.cache), HF_HUB_OFFLINE="1")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "rows": 1446,
        "image": "Image",
        "label": "ClassLabel",
        "subsets": {"over-safety": 426, "attack": 850, "typical": 170},
        "size": True,
    }


def test_without_the_flag_the_absent_images_exit_2_listing_every_id(upstream: Path, hf_cache: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mmsafety.cli", "build", "mmsafeaware", "--source-dir", str(SOURCE), "--export", str(tmp_path / "export")],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"mmsafety build: error: {SOURCE}: 7 image(s) upstream lists are absent or unreadable, ids 18, 441, 449, 627, 950, 958, 1142 ")
    assert "--allow-missing-images" in line and "id 1142: no file images/1142.* or images2/1142.*" in line
    assert not list(hf_cache.glob("mmsafety___*")) and not list(hf_cache.glob(".mmsafety-build-*"))
    assert not (tmp_path / "export").exists()
    assert os.listdir(tmp_path) == ["hf-home"]


# -- the full configuration: every id the authors' script counts ------------------------------


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BuildResult, datasets.Dataset]]:
    """The real copy built in the ``full`` configuration (with --allow-missing-images)."""
    if not SOURCE.is_dir():
        pytest.skip(f"the upstream copy is not at {SOURCE} (it sits beside the checkout as ../shared/upstream)")
    root = tmp_path_factory.mktemp("full")
    cache = root / "hf-home" / "datasets"
    cache.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_DATASETS_CACHE", str(cache))
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
        patch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        result = build("mmsafeaware", source_dir=SOURCE, allow_missing_images=True, config="full")
        yield result, datasets.load_dataset("mmsafety/mmsafeaware", "full", split="test").cast_column("image", datasets.Image(decode=False))


def test_the_full_configuration_has_all_1523_upstream_ids(full: tuple[BuildResult, datasets.Dataset]) -> None:
    assert len(set(full[1]["id"])) == 1523


def test_the_full_configuration_gives_the_authors_denominators(full: tuple[BuildResult, datasets.Dataset]) -> None:
    assert dict(full[0].by_subset) == {"typical": 171, "attack": 855, "over-safety": 497}


def test_the_full_configuration_lists_every_row_without_an_image(full: tuple[BuildResult, datasets.Dataset]) -> None:
    result, dataset = full
    without = sorted((row["id"] for row in dataset.select_columns(["id", "image"]) if row["image"] is None), key=int)
    assert without == sorted(NO_IMAGE_UPSTREAM + ABSENT_IMAGES, key=int)
    assert result.notes == {
        "no image upstream (kept, image None)": NO_IMAGE_UPSTREAM,
        "image absent or unreadable upstream (kept, image None)": ABSENT_IMAGES,
    }
