"""The exported dataset card: Hub metadata as the Hub documents it, and a body a reader can trust."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers.mmsafeaware import BUILT, write_mmsafeaware
from huggingface_hub import DatasetCard, DatasetCardData
from mmsafety.builders.custom import build_custom

import mmsafety
from mmsafety.data.build import build

HUB_METADATA_KEYS = {
    # the dataset card metadata the Hub documents (hub-docs datasetcard.md)
    "language", "license", "license_name", "license_link", "license_details", "tags", "annotations_creators",
    "language_creators", "language_details", "pretty_name", "size_categories", "source_datasets", "task_categories",
    "task_ids", "paperswithcode_id", "configs", "dataset_info", "extra_gated_prompt", "extra_gated_fields",
    "train-eval-index", "viewer",
}
SIZE_CATEGORIES = {
    "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B", "1B<n<10B", "10B<n<100B", "100B<n<1T", "n>1T",
}
PROVENANCE_KEYS = {"version", "source_revision", "built_with"}


@pytest.fixture
def card(tmp_path: Path, hf_cache: Path) -> DatasetCard:
    fixture = write_mmsafeaware(tmp_path / "mmsafeaware")
    build("mmsafeaware", source_dir=fixture.folder, checksums=fixture.checksums, export_dir=tmp_path / "export")
    return DatasetCard.load(tmp_path / "export" / "README.md")


def export_custom(tmp_path: Path, **card: object) -> DatasetCard:
    (tmp_path / "set" / "images").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (8, 8), "red").save(tmp_path / "set" / "images" / "a.png")
    (tmp_path / "set" / "records.csv").write_text("id,image,query,label,notes\nq1,a.png,Is this safe?,unsafe,n\n", encoding="utf-8")
    build_custom(tmp_path / "set" / "records.csv", tmp_path / "set" / "images", "me/my-set", export_dir=tmp_path / "export", **card)
    return DatasetCard.load(tmp_path / "export" / "README.md")


def test_the_card_parses_as_hub_dataset_card_data(card: DatasetCard) -> None:
    assert isinstance(card.data, DatasetCardData)
    assert set(card.data.to_dict()) <= HUB_METADATA_KEYS | PROVENANCE_KEYS


def test_the_card_has_the_metadata_the_hub_filters_on(card: DatasetCard) -> None:
    meta = card.data.to_dict()
    assert meta["pretty_name"] == "MMSafeAware"
    assert meta["language"] == ["en"]
    assert meta["task_categories"] == ["visual-question-answering", "image-text-to-text"]
    assert meta["size_categories"] == ["n<1K"] and set(meta["size_categories"]) <= SIZE_CATEGORIES
    assert {"safety", "multimodal", "mmsafeaware"} <= set(meta["tags"])


def test_the_card_names_the_data_files_as_push_to_hub_does(card: DatasetCard) -> None:
    assert card.data.to_dict()["configs"] == [{"config_name": "default", "data_files": [{"split": "test", "path": "data/test-*"}]}]


def test_the_card_dataset_info_gives_the_features(card: DatasetCard) -> None:
    info = card.data.to_dict()["dataset_info"]
    assert [f["name"] for f in info["features"]][:8] == ["id", "image", "query", "label", "category", "subcategory", "subset", "reference"]
    label = next(f for f in info["features"] if f["name"] == "label")
    assert label["dtype"]["class_label"]["names"] == {"0": "safe", "1": "unsafe", "2": "oversensitive"}


def test_the_card_dataset_info_gives_true_sizes(card: DatasetCard, tmp_path: Path) -> None:
    info = card.data.to_dict()["dataset_info"]
    parquet = sum(p.stat().st_size for p in (tmp_path / "export" / "data").glob("*.parquet"))
    assert info["download_size"] == parquet > 0
    assert info["splits"] == [{"name": "test", "num_bytes": info["dataset_size"], "num_examples": len(BUILT)}]
    assert info["dataset_size"] > 0


def test_the_card_keeps_the_provenance_of_the_build(card: DatasetCard) -> None:
    meta = card.data.to_dict()
    assert meta["version"] == "1.0.0" and meta["built_with"] == f"mmsafety {mmsafety.__version__}"
    assert "500b595c82dfe73d5695bc994d9882a306d2aa1c" in meta["source_revision"]


def test_the_card_lists_left_out_ids_once(card: DatasetCard) -> None:
    assert "- no image upstream (2): 2301, 2370" in card.text
    assert card.content.count("2301, 2370") == 1
    assert not {"left_out", "known_defects"} & set(card.data.to_dict())


def test_the_card_describes_every_column_in_the_benchmarks_own_words(card: DatasetCard, tmp_path: Path) -> None:
    columns = pq.read_schema(next((tmp_path / "export" / "data").glob("*.parquet"))).names
    rows = {line.split("|")[1].strip(" `"): line.split("|")[2].strip() for line in card.text.splitlines() if line.startswith("| `")}
    assert list(rows) == columns
    assert "own field" not in card.text
    assert "dict.txt" in rows["scenario"] and "prompt.txt" in rows["id"]


def test_the_card_has_a_content_warning(card: DatasetCard) -> None:
    assert "## Content warning" in card.text


def test_the_card_suggests_a_gated_access_text(card: DatasetCard) -> None:
    prompt = card.data.to_dict()["extra_gated_prompt"]
    assert "safety research" in prompt
    assert prompt in card.text


def test_the_card_keeps_the_known_upstream_defects(card: DatasetCard) -> None:
    assert "## Known upstream defects" in card.text and "images2/2037.png is a JPEG" in card.text


def test_the_card_cites_the_benchmark(card: DatasetCard) -> None:
    assert "```bibtex\n@inproceedings{wang2025mmsafeaware," in card.text


def test_the_vlsbench_card_carries_the_license_upstream_states(hf_cache: Path) -> None:
    from mmsafety.builders.vlsbench.vlsbench import VLSBench

    from mmsafety.data.card import card_license

    assert card_license(VLSBench) == "apache-2.0"


def test_a_custom_card_takes_the_card_fields_it_is_given(tmp_path: Path, hf_cache: Path) -> None:
    card = export_custom(
        tmp_path,
        pretty_name="My Set",
        description="Street scenes I photographed.",
        card={"language": ["fr"], "task_categories": ["image-text-to-text"]},
    )
    meta = card.data.to_dict()
    assert (meta["pretty_name"], meta["language"], meta["task_categories"]) == ("My Set", ["fr"], ["image-text-to-text"])
    assert "Street scenes I photographed." in card.text


def test_a_custom_card_does_not_speak_of_upstream(tmp_path: Path, hf_cache: Path) -> None:
    card = export_custom(tmp_path)
    assert "upstream" not in card.text
    assert "own field" not in card.text



def test_the_custom_card_options_come_from_the_command_line(tmp_path: Path, hf_cache: Path) -> None:
    from PIL import Image

    from mmsafety.cli import main

    (tmp_path / "set" / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(tmp_path / "set" / "images" / "a.png")
    (tmp_path / "set" / "records.csv").write_text("id,image,query,label\nq1,a.png,Est-ce sûr ?,unsafe\n", encoding="utf-8")
    argv = ["build", "custom", "--records", str(tmp_path / "set" / "records.csv"), "--images", str(tmp_path / "set" / "images")]
    argv += ["--repo-id", "me/my-set", "--export", str(tmp_path / "export"), "--pretty-name", "Mon jeu", "--description", "Des rues."]
    argv += ["--language", "fr,en", "--task-categories", "visual-question-answering"]
    assert main(argv) == 0
    meta = DatasetCard.load(tmp_path / "export" / "README.md").data.to_dict()
    assert (meta["pretty_name"], meta["language"], meta["task_categories"]) == ("Mon jeu", ["fr", "en"], ["visual-question-answering"])


def test_a_new_benchmarks_card_carries_the_license_its_builder_states(tmp_path: Path, hf_cache: Path) -> None:
    from helpers.toy import NAME, registered_toy

    with registered_toy(tmp_path / "plugin") as toy:
        build(NAME, source_dir=toy.upstream, export_dir=tmp_path / "export")
    card = DatasetCard.load(tmp_path / "export" / "README.md")
    assert card.data.to_dict()["license"] == "cc-by-4.0"
