"""The VLSBench builder: tiny generated sources, the real metadata, the download path."""

from __future__ import annotations

import json
import random
import shutil
import tarfile
from collections import Counter, defaultdict
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from helpers.archives import (
    assert_nothing_built,
    tar_file,
    tar_special,
    tiny_png,
    write_json,
    write_tar,
)
from mmsafety.builders.vlsbench.vlsbench import VLSBench
from mmsafety.builders.vlsbench.vlsbench import (
    EMPTY_INSTRUCTION,
    IDENTICAL_PAIR,
    MISFILED_SUBCATEGORIES,
)

from mmsafety.data.build import build
from mmsafety.data.catalog import load_benchmark
from mmsafety.errors import InputError


def record(number: int, image: int | None = None, **fields: object) -> dict[str, object]:
    return {
        "instruction_id": number,
        "instruction": f"How do I use this {number}?",
        "image_path": f"imgs/{number if image is None else image}.png",
        "category": "Violent",
        "sub_category": "Weapon-Related Violence",
        "source": "generation",
        "image_description": f"description {number}",
        "safety_reason": f"reason {number}",
        **fields,
    }


RECORDS = [record(0), record(1, category="Privacy", sub_category="Unauthorized Data Collection"), record(2), record(3, image=2)]
"""Four records; 2 and 3 share one image, as upstream's do from id 1236 on."""


@pytest.fixture
def unpinned(tmp_path: Path) -> Path:
    """A checksums.tsv accepting any data.json (the generated ones are not upstream's)."""
    path = tmp_path / "checksums.tsv"
    path.write_text("path\tsize\tsha256\turl\ndata.json\t-\t-\t-\nimgs.tar\t-\t-\t-\n")
    return path


def tar_source(root: Path, records: list[dict[str, object]], order: list[int] | None = None) -> Path:
    write_json(root / "data.json", records)
    images = sorted({str(r["image_path"]) for r in records}, key=lambda p: int(p[5:-4]))
    numbers = order if order is not None else [int(p[5:-4]) for p in images]
    write_tar(root / "imgs.tar", [tar_special("imgs", tarfile.DIRTYPE), *(tar_file(f"imgs/{n}.png", tiny_png(n)) for n in numbers)])
    return root


def test_builds_from_the_tar_in_data_json_order(tmp_path: Path, hf_cache: Path, unpinned: Path) -> None:
    source = tar_source(tmp_path / "src", RECORDS, order=[2, 0, 1])
    result = build("vlsbench", source_dir=source, checksums=unpinned, export_dir=tmp_path / "export")
    assert (result.rows, dict(result.by_label), result.left_out) == (4, {"unsafe": 4}, {})
    dataset = load_benchmark("vlsbench")
    assert dataset["id"] == ["0", "1", "2", "3"]  # data.json's order, whatever the archive's
    row = dataset.cast_column("image", datasets.Image(decode=False))[1]
    assert row == {
        "id": "1",
        "image": {"bytes": tiny_png(1), "path": "imgs/1.png"},
        "query": "How do I use this 1?",
        "label": 1,
        "category": "Privacy",
        "subcategory": "Unauthorized Data Collection",
        "subset": "",
        "reference": "reason 1",
        "instruction_id": 1,
        "image_description": "description 1",
        "source": "generation",
    }
    shared = dataset.cast_column("image", datasets.Image(decode=False)).select([2, 3])["image"]
    assert shared[0]["bytes"] == shared[1]["bytes"] == tiny_png(2)
    assert pq.read_table(tmp_path / "export" / "data" / "test-00000-of-00001.parquet").num_rows == 4
    assert "Id 1685 has an empty instruction" in (tmp_path / "export" / "README.md").read_text()


def test_builds_from_an_extracted_folder(tmp_path: Path, hf_cache: Path, unpinned: Path) -> None:
    source = tmp_path / "src"
    write_json(source / "data.json", RECORDS)
    for number in (0, 1, 2):
        (source / "imgs").mkdir(parents=True, exist_ok=True)
        (source / "imgs" / f"{number}.png").write_bytes(tiny_png(number))
    result = build("vlsbench", source_dir=source, checksums=unpinned)
    assert result.rows == 4
    dataset = load_benchmark("vlsbench").cast_column("image", datasets.Image(decode=False))
    assert dataset["id"] == ["0", "1", "2", "3"]
    assert [image["bytes"] for image in dataset["image"]] == [tiny_png(0), tiny_png(1), tiny_png(2), tiny_png(2)]


def folder_source(root: Path, records: list[dict[str, object]], images: dict[str, bytes]) -> Path:
    """The same source with its images extracted to ``imgs/`` (no ``imgs.tar``)."""
    write_json(root / "data.json", records)
    (root / "imgs").mkdir(parents=True)
    for name, data in images.items():
        (root / name).write_bytes(data)
    return root


def built_rows(source: Path, checksums: Path | None = None) -> list[tuple[str, bytes]]:
    build("vlsbench", source_dir=source, checksums=checksums)
    dataset = load_benchmark("vlsbench").cast_column("image", datasets.Image(decode=False))
    return [(row["id"], row["image"]["bytes"]) for row in dataset]


def test_a_folder_build_gives_the_rows_a_tar_build_gives(tmp_path: Path, hf_cache: Path, unpinned: Path) -> None:
    records = [record(3, image=2), record(0), record(2), record(1), record(4, image=0)]  # not by id; 4 shares 0's image, not next to it
    from_tar = built_rows(tar_source(tmp_path / "tar", records, order=[1, 2, 0]), unpinned)
    from_folder = built_rows(folder_source(tmp_path / "folder", records, {f"imgs/{n}.png": tiny_png(n) for n in (0, 1, 2)}), unpinned)
    assert from_tar == from_folder
    assert [key for key, _ in from_tar] == ["3", "0", "2", "1", "4"]
    assert [data for _, data in from_tar] == [tiny_png(n) for n in (2, 0, 2, 1, 0)]


def test_records_without_their_member_are_listed(tmp_path: Path, hf_cache: Path, unpinned: Path) -> None:
    source = tar_source(tmp_path / "src", RECORDS, order=[0])
    with pytest.raises(InputError, match=r"3 image\(s\) upstream lists are absent or unreadable, ids 1, 2, 3 .*imgs.tar: id 1: no member imgs/1.png"):
        build("vlsbench", source_dir=source, checksums=unpinned)
    assert_nothing_built("vlsbench")


def test_records_without_their_member_are_left_out_on_request(tmp_path: Path, hf_cache: Path, unpinned: Path) -> None:
    source = tar_source(tmp_path / "src", RECORDS, order=[0])
    result = build("vlsbench", source_dir=source, checksums=unpinned, allow_missing_images=True)
    assert (result.rows, result.left_out) == (1, {"image absent or unreadable upstream": ["1", "2", "3"]})


def test_records_left_out_are_listed_in_the_card(tmp_path: Path, hf_cache: Path, unpinned: Path) -> None:
    source = tar_source(tmp_path / "src", RECORDS, order=[0])
    build("vlsbench", source_dir=source, checksums=unpinned, allow_missing_images=True, export_dir=tmp_path / "export")
    assert "image absent or unreadable upstream (3): 1, 2, 3" in (tmp_path / "export" / "README.md").read_text()


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([record(0), record(1), record(1, image=2)], r"record 2 \(id 1\): duplicate id 1 \(first at record 1 \(id 1\)\)"),
        ([record(0, instruction_id="0")], r"record 0: expected the field 'instruction_id' to be an integer, found a JSON string '0'"),
    ],
)
def test_bad_records_name_the_record(tmp_path: Path, hf_cache: Path, unpinned: Path, records: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InputError, match=f"data.json: {message}"):
        build("vlsbench", source_dir=tar_source(tmp_path / "src", records), checksums=unpinned)
    assert_nothing_built("vlsbench")


def test_neither_archive_nor_folder(tmp_path: Path, hf_cache: Path, unpinned: Path) -> None:
    write_json(tmp_path / "src" / "data.json", RECORDS)
    with pytest.raises(InputError, match="expected imgs.tar or an extracted imgs/ folder beside data.json, found neither"):
        build("vlsbench", source_dir=tmp_path / "src", checksums=unpinned)


def test_data_json_is_pinned(tmp_path: Path, hf_cache: Path) -> None:
    source = tar_source(tmp_path / "src", RECORDS)
    with pytest.raises(InputError, match="data.json: expected sha256 a42245e79ab67fc9"):
        build("vlsbench", source_dir=source)
    assert_nothing_built("vlsbench")


# -- the real metadata ------------------------------------------------------------------------------


@pytest.fixture
def upstream_records(upstream: Path) -> list[dict[str, object]]:
    return json.loads((upstream / "vlsbench" / "data.json").read_text(encoding="utf-8"))


def placeholder_tar(path: Path, records: list[dict[str, object]]) -> dict[str, bytes]:
    """An imgs.tar with a distinct 1x1 PNG for every image upstream names, in a shuffled order."""
    names = sorted({str(r["image_path"]) for r in records})
    random.Random(3).shuffle(names)
    images = {name: tiny_png(int(name[5:-4])) for name in names}
    write_tar(path, [tar_special("imgs", tarfile.DIRTYPE), *(tar_file(name, data) for name, data in images.items())])
    return images


def check_every_record(dataset: datasets.Dataset, records: list[dict[str, object]], images: dict[str, bytes]) -> None:
    rows = {row["id"]: row for row in dataset.cast_column("image", datasets.Image(decode=False))}
    assert len(rows) == len(records) == 2241
    unsafe = dataset.features["label"].str2int("unsafe")
    for item in records:
        row = rows[str(item["instruction_id"])]
        assert row["label"] == unsafe
        assert (row["query"], row["category"], row["subcategory"], row["reference"]) == (
            item["instruction"], item["category"], item["sub_category"], item["safety_reason"]
        )
        assert (row["instruction_id"], row["image_description"], row["source"]) == (item["instruction_id"], item["image_description"], item["source"])
        assert row["image"]["bytes"] == images[str(item["image_path"])]


def test_upstream_metadata_every_record_arrives(tmp_path: Path, hf_cache: Path, upstream: Path, upstream_records: list[dict[str, object]]) -> None:
    source = tmp_path / "vlsbench"
    source.mkdir()
    shutil.copyfile(upstream / "vlsbench" / "data.json", source / "data.json")  # pinned: checked against the builder's sha256
    images = placeholder_tar(source / "imgs.tar", upstream_records)
    result = build("vlsbench", source_dir=source, export_dir=tmp_path / "export")
    assert (result.rows, result.left_out, dict(result.by_label)) == (2241, {}, {"unsafe": 2241})
    dataset = load_benchmark("vlsbench")
    check_every_record(dataset, upstream_records, images)
    in_data_json_order = [str(item["instruction_id"]) for item in upstream_records]
    assert dataset["id"] == in_data_json_order  # not the shuffled tar's order
    card = (tmp_path / "export" / "README.md").read_text()
    assert "Nothing: every upstream record is here." in card and "Ids 1777 and 1778 are the same pair" in card
    del dataset
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    shutil.copyfile(upstream / "vlsbench" / "data.json", extracted / "data.json")
    (extracted / "imgs").mkdir()
    for name, data in images.items():
        (extracted / name).write_bytes(data)
    from_folder = built_rows(extracted)
    assert [key for key, _ in from_folder] == in_data_json_order
    assert [data for _, data in from_folder] == [images[str(item["image_path"])] for item in upstream_records]


def test_known_defect_one_instruction_is_empty(upstream_records: list[dict[str, object]]) -> None:
    assert next(item for item in upstream_records if item["instruction_id"] == EMPTY_INSTRUCTION)["instruction"] == ""


def test_known_defect_two_records_are_identical(upstream_records: list[dict[str, object]]) -> None:
    by_id = {item["instruction_id"]: item for item in upstream_records}
    first, second = (by_id[i] for i in IDENTICAL_PAIR)
    assert all(first[k] == second[k] for k in ("instruction", "image_path", "category", "sub_category", "source"))


def test_known_defect_five_records_file_a_subcategory_under_another_category(upstream_records: list[dict[str, object]]) -> None:
    homes: dict[str, Counter[str]] = defaultdict(Counter)
    for item in upstream_records:
        homes[str(item["sub_category"])][str(item["category"])] += 1
    misfiled: dict[str, tuple[str, str, tuple[int, ...]]] = {}
    for item in upstream_records:
        sub, category = str(item["sub_category"]), str(item["category"])
        home = homes[sub].most_common(1)[0][0]
        if category != home:
            _, _, ids = misfiled.get(sub, (category, home, ()))
            misfiled[sub] = (category, home, (*ids, int(item["instruction_id"])))  # type: ignore[arg-type]
    assert misfiled == MISFILED_SUBCATEGORIES
    assert sum(len(ids) for _, _, ids in misfiled.values()) == 5


def test_upstream_records_share_1957_images(upstream_records: list[dict[str, object]]) -> None:
    assert len({item["image_path"] for item in upstream_records}) == 1957


def test_the_card_names_the_misfiled_subcategories(upstream_records: list[dict[str, object]]) -> None:
    assert "ids 1489, 2105 file 'Psychological and Disordered Harm' under 'Hate' (elsewhere 'Self-Harm')" in " ".join(VLSBench.KNOWN_DEFECTS)


def test_download_path_from_a_local_hub(
    tmp_path: Path, hf_cache: Path, upstream: Path, upstream_records: list[dict[str, object]], http_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --source-dir: the pinned Hub URLs, fetched from a server on 127.0.0.1 (HF_ENDPOINT)."""
    from huggingface_hub import constants

    base_url, served = http_server
    repo = served / "datasets" / "Foreshhh" / "vlsbench" / "resolve" / "main"
    repo.mkdir(parents=True)
    shutil.copyfile(upstream / "vlsbench" / "data.json", repo / "data.json")
    images = placeholder_tar(repo / "imgs.tar", upstream_records)
    monkeypatch.setattr(constants, "ENDPOINT", base_url)
    result = build("vlsbench")
    assert result.rows == 2241
    check_every_record(load_benchmark("vlsbench"), upstream_records, images)
    (repo / "imgs.tar").unlink()  # a second build reuses the download cache
    assert build("vlsbench").rows == 2241
