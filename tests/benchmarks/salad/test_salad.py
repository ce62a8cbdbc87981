"""The SaLAD builder: both upstream spellings, images out of the zip, the real sample, the download path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import pytest
from helpers.archives import (
    assert_nothing_built,
    tiny_jpeg,
    tiny_png,
    write_json,
    write_zip,
)
from mmsafety.builders.salad.salad import CATEGORIES, HUB_UPSTREAM, SAMPLE_UPSTREAM

from mmsafety.data.build import build
from mmsafety.data.catalog import load_benchmark
from mmsafety.errors import InputError

HUB_RECORDS = [
    {"id": 7, "text": "Can I lift this alone?", "category": "Exercise", "safety type": "unsafe", "safety warning": "Too heavy.", "image": "E_7.jpg"},
    {"id": 8, "text": "How long to boil these?", "category": "Food", "safety type": "safe", "safe suggestion": "Ten minutes.", "image": "F_8.png"},
    {"id": 9, "text": "Is this board fine?", "category": "Home", "safety type": "unsafe", "safety warning": "Frayed cable.", "safe suggestion": "", "image": "Ho_9.png"},
]  # (an empty field of the other safety type is no field at all)
SAMPLE_RECORDS = [
    {"query": "Half-court rules?", "category": "Sports", "safety type": "unsafe", "safety warning": "Volleyball nearby.", "image": "E_33.jpeg"},
    {"query": "Can she ride?", "category": "Activity", "safety type": "safe", "safe suggestion": "She is tall enough.", "image": "A_86.jpeg"},
]


def hub_source(root: Path, records: list[dict[str, object]] = HUB_RECORDS, members: dict[str, bytes] | None = None) -> Path:
    write_json(root / "data.json", records)
    images = members if members is not None else {r["image"]: (tiny_jpeg(i) if str(r["image"]).endswith(".jpg") else tiny_png(i)) for i, r in enumerate(records)}
    write_zip(root / "image.zip", list(images.items()))
    return root


def rows_by_id() -> dict[str, dict[str, object]]:
    dataset = load_benchmark("salad").cast_column("image", datasets.Image(decode=False))
    return {row["id"]: row for row in dataset}


def test_builds_the_hub_release(tmp_path: Path, hf_cache: Path) -> None:
    result = build("salad", source_dir=hub_source(tmp_path / "src"), export_dir=tmp_path / "export")
    assert (result.rows, dict(result.by_label), dict(result.by_subset)) == (3, {"unsafe": 2, "oversensitive": 1}, {"unsafe": 2, "safe": 1})
    rows = rows_by_id()
    assert list(rows) == ["7", "8", "9"]
    assert rows["7"] == {
        "id": "7",
        "image": {"bytes": tiny_jpeg(0), "path": "E_7.jpg"},
        "query": "Can I lift this alone?",
        "label": 1,
        "category": "Exercise",
        "subcategory": "",
        "subset": "unsafe",
        "reference": "Too heavy.",
        "upstream_category": "Exercise",
        "image_file": "E_7.jpg",
    }
    assert (rows["8"]["label"], rows["8"]["subset"], rows["8"]["reference"]) == (2, "safe", "Ten minutes.")
    card = (tmp_path / "export" / "README.md").read_text()
    assert "Holly301/SaLAD at revision main" in card and "not pinned by sha256" in card


@pytest.fixture
def sample_spelling_rows(tmp_path: Path, hf_cache: Path) -> dict[str, dict[str, object]]:
    build("salad", source_dir=hub_source(tmp_path / "src", SAMPLE_RECORDS))
    return rows_by_id()


def test_sample_spelling_ids_come_from_image_file_names(sample_spelling_rows: dict) -> None:
    assert list(sample_spelling_rows) == ["E_33", "A_86"]


def test_sample_spelling_sports_is_spelled_exercise(sample_spelling_rows: dict) -> None:
    row = sample_spelling_rows["E_33"]
    assert (row["category"], row["upstream_category"]) == ("Exercise", "Sports")


def test_sample_spelling_query_is_read(sample_spelling_rows: dict) -> None:
    assert sample_spelling_rows["E_33"]["query"] == "Half-court rules?"


def test_sample_spelling_safe_record_is_oversensitive_with_its_suggestion(sample_spelling_rows: dict) -> None:
    assert (sample_spelling_rows["A_86"]["label"], sample_spelling_rows["A_86"]["reference"]) == (2, "She is tall enough.")


def test_images_nested_one_folder_down_in_the_zip(tmp_path: Path, hf_cache: Path) -> None:
    source = hub_source(tmp_path / "src", members={f"image/{r['image']}": tiny_png(i) for i, r in enumerate(HUB_RECORDS)})
    assert build("salad", source_dir=source).rows == 3


def test_every_record_without_its_image_is_listed(tmp_path: Path, hf_cache: Path) -> None:
    source = hub_source(tmp_path / "src", members={"F_8.png": tiny_png(8)})
    with pytest.raises(InputError, match=r"2 image\(s\) upstream lists are absent or unreadable, ids 7, 9 .*image.zip: id 7: no member E_7.jpg; image.zip: id 9: no member Ho_9.png"):
        build("salad", source_dir=source, export_dir=tmp_path / "export")


def test_records_without_their_image_stop_the_build_leaving_nothing(tmp_path: Path, hf_cache: Path) -> None:
    source = hub_source(tmp_path / "src", members={"F_8.png": tiny_png(8)})
    with pytest.raises(InputError):
        build("salad", source_dir=source, export_dir=tmp_path / "export")
    assert_nothing_built("salad")
    assert not (tmp_path / "export").exists()


def test_records_without_their_image_are_left_out_on_request(tmp_path: Path, hf_cache: Path) -> None:
    source = hub_source(tmp_path / "src", members={"F_8.png": tiny_png(8)})
    result = build("salad", source_dir=source, allow_missing_images=True)
    assert (result.rows, result.left_out) == (1, {"image absent or unreadable upstream": ["7", "9"]})


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([SAMPLE_RECORDS[0], {**SAMPLE_RECORDS[1], "image": "E_33.png"}], r"record 1 \(id E_33\): duplicate id E_33"),
        ([{**HUB_RECORDS[0], "safe suggestion": "Go ahead."}], r"record 0 \(id 7\): expected no 'safe suggestion' on a 'unsafe' record"),
        ([{k: v for k, v in HUB_RECORDS[0].items() if k != "safety warning"}], r"record 0 \(id 7\): expected the field 'safety warning'"),
        ([{**HUB_RECORDS[0], "query": "both spellings"}], r"record 0 \(id 7\): expected exactly one of the fields 'text' or 'query', found 'text', 'query'"),
        ([{**HUB_RECORDS[0], "id": True}], r"record 0: expected the field 'id' to be an integer, found a JSON boolean True"),
        ([{**HUB_RECORDS[0], "safety type": "Unsafe"}], r"record 0 \(id 7\): expected the field 'safety type' to be one of 'unsafe', 'safe', found 'Unsafe'"),
        ([HUB_RECORDS[0], {**HUB_RECORDS[1], "category": "Sport"}], r"record 1 \(id 8\): expected a category among Activity, Exercise, .* \(or Sports\), found 'Sport'"),
    ],
)
def test_bad_records_name_the_record(tmp_path: Path, hf_cache: Path, records: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InputError, match=f"data.json: {message}"):
        build("salad", source_dir=hub_source(tmp_path / "src", records))
    assert_nothing_built("salad")


def test_neither_layout(tmp_path: Path, hf_cache: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "README.md").write_text("x")
    with pytest.raises(InputError, match=r"expected data.json \+ image.zip \(the Hub release\) or data/data.json \+ data/image.zip"):
        build("salad", source_dir=tmp_path / "src")


# -- the real sample -------------------------------------------------------------------------------


@pytest.fixture
def sample(upstream: Path) -> list[dict[str, object]]:
    return json.loads((upstream / "salad" / "data.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("layout", ["github checkout", "flat copy"])
def test_upstream_sample_every_record_arrives(tmp_path: Path, hf_cache: Path, upstream: Path, sample: list[dict[str, object]], layout: str) -> None:
    folder = tmp_path / "salad" / ("data" if layout == "github checkout" else "")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(upstream / "salad" / "data.json", folder / "data.json")  # data/data.json is pinned by sha256
    images = {str(item["image"]): tiny_png(i) for i, item in enumerate(sample)}
    write_zip(folder / "image.zip", list(images.items()))
    result = build("salad", source_dir=tmp_path / "salad", export_dir=tmp_path / "export")
    assert (result.rows, result.left_out, dict(result.by_label)) == (20, {}, {"unsafe": 10, "oversensitive": 10})
    assert set(result.by_category) <= set(CATEGORIES) and len(result.by_category) == 10
    rows = rows_by_id()
    assert len(rows) == len(sample) == 20
    for item in sample:
        row = rows[Path(str(item["image"])).stem]
        unsafe = item["safety type"] == "unsafe"
        assert row["label"] == (1 if unsafe else 2)
        assert row["subset"] == item["safety type"]
        assert row["reference"] == item["safety warning" if unsafe else "safe suggestion"]
        assert row["query"] == item["query"]
        assert row["upstream_category"] == item["category"]
        assert row["category"] == ("Exercise" if item["category"] == "Sports" else item["category"])
        assert row["image"]["bytes"] == images[str(item["image"])]
    assert SAMPLE_UPSTREAM in (tmp_path / "export" / "README.md").read_text().replace("\n  ", " ")


def test_github_layout_pins_the_sample(tmp_path: Path, hf_cache: Path) -> None:
    hub_source(tmp_path / "src" / "data", SAMPLE_RECORDS)
    with pytest.raises(InputError, match="data/data.json: expected sha256 af5d4d69"):
        build("salad", source_dir=tmp_path / "src")


# -- the download path ----------------------------------------------------------------------------


def test_download_path_from_a_local_hub(tmp_path: Path, hf_cache: Path, http_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """No --source-dir: the Hub URLs of checksums.tsv, fetched from a server on 127.0.0.1 (HF_ENDPOINT)."""
    from huggingface_hub import constants

    base_url, served = http_server
    hub_source(served / "datasets" / "Holly301" / "SaLAD" / "resolve" / "main")
    monkeypatch.setattr(constants, "ENDPOINT", base_url)
    result = build("salad", export_dir=tmp_path / "export")
    assert result.rows == 3
    assert rows_by_id()["9"]["reference"] == "Frayed cable."
    assert HUB_UPSTREAM.split(" (")[0] in (tmp_path / "export" / "README.md").read_text()


def test_download_failure_exits_cleanly(tmp_path: Path, hf_cache: Path, http_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    base_url, _ = http_server
    monkeypatch.setattr(constants, "ENDPOINT", base_url)
    with pytest.raises(InputError, match="data.json: download failed: HTTP 404"):
        build("salad")
    assert_nothing_built("salad")


@pytest.fixture
def sample_builder(tmp_path: Path, hf_cache: Path, upstream: Path) -> object:
    """A SaLAD builder that has read the GitHub sample (with generated images)."""
    from mmsafety.builders.salad.salad import SaLAD

    folder = tmp_path / "salad" / "data"
    folder.mkdir(parents=True)
    shutil.copyfile(upstream / "salad" / "data.json", folder / "data.json")
    sample = json.loads((folder / "data.json").read_text(encoding="utf-8"))
    write_zip(folder / "image.zip", [(str(item["image"]), tiny_png(i)) for i, item in enumerate(sample)])
    builder = SaLAD(source_dir=tmp_path / "salad", cache_dir=str(tmp_path / "scratch"))
    builder.download_and_prepare()
    return builder


def test_reading_the_sample_leaves_the_declared_upstream_alone(sample_builder: object) -> None:
    assert sample_builder.UPSTREAM == HUB_UPSTREAM  # type: ignore[attr-defined]


def test_reading_the_sample_names_it_as_the_source_read(sample_builder: object) -> None:
    assert sample_builder.source_revision == SAMPLE_UPSTREAM  # type: ignore[attr-defined]
