"""`build --export`: the Hub repository as it would be pushed, and loading the build offline."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard

from helpers.env import subprocess_env
from helpers.mmsafeaware import BUILT, NO_IMAGE, Fixture, write_mmsafeaware
import mmsafety
from mmsafety.data.build import BuildResult, build
from mmsafety.errors import InputError


@pytest.fixture
def fixture(tmp_path: Path) -> Fixture:
    return write_mmsafeaware(tmp_path / "mmsafeaware")


def export_fixture(fixture: Fixture, export: Path) -> BuildResult:
    return build("mmsafeaware", source_dir=fixture.folder, checksums=fixture.checksums, export_dir=export)


def test_export_writes_parquet_with_the_image_bytes_embedded(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    result = export_fixture(fixture, export)
    assert result.export_dir == export
    assert sorted(p.relative_to(export).as_posix() for p in export.rglob("*") if p.is_file()) == [
        "README.md",
        "data/test-00000-of-00001.parquet",
    ]
    table = pq.read_table(export / "data" / "test-00000-of-00001.parquet")
    images = table.column("image").combine_chunks()
    stored = images.field("bytes").to_pylist()
    assert [hashlib.sha256(b).hexdigest() for b in stored] == [fixture.sha256(str(i.image)) for i in BUILT]
    assert images.field("path").to_pylist() == [i.image for i in BUILT]
    assert table.column("id").to_pylist() == [str(i.id) for i in BUILT]
    assert b"huggingface" in table.schema.metadata  # the datasets features travel with the file


def test_export_card_has_configs_dataset_info_and_what_push_to_hub_leaves_out(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export_fixture(fixture, export)
    card = DatasetCard.load(export / "README.md")
    meta = card.data.to_dict()
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "test", "path": "data/test-*"}]}]
    info = meta["dataset_info"]
    assert [f["name"] for f in info["features"]][:8] == ["id", "image", "query", "label", "category", "subcategory", "subset", "reference"]
    assert {"name": "image", "dtype": "image"} in info["features"]
    label = next(f for f in info["features"] if f["name"] == "label")
    assert label["dtype"]["class_label"]["names"] == {"0": "safe", "1": "unsafe", "2": "oversensitive"}
    assert info["splits"][0]["name"] == "test" and info["splits"][0]["num_examples"] == len(BUILT)
    assert meta["license"] == "unknown"
    assert meta["version"] == "1.0.0"
    assert meta["built_with"] == f"mmsafety {mmsafety.__version__}"
    assert meta["task_categories"] == ["visual-question-answering"] and {"safety", "multimodal"} <= set(meta["tags"])
    assert "500b595c82dfe73d5695bc994d9882a306d2aa1c" in meta["source_revision"]
    assert "c3b38cc6fd6e65b4886488ff9acdd1ca9ce4db08" in meta["source_revision"]
    assert meta["citation"].startswith("@inproceedings{wang2025mmsafeaware,")
    assert any("78/2220" in defect for defect in meta["known_defects"])
    assert meta["left_out"] == {"no image upstream": list(NO_IMAGE)}
    body = card.text
    assert "## Left out of this build" in body and "- no image upstream (2): 2301, 2370" in body
    assert "## Known upstream defects" in body and "images2/2037.png is a JPEG" in body
    assert 'load_dataset("mmsafety/mmsafeaware", split="test")' in body
    assert "```bibtex\n@inproceedings{wang2025mmsafeaware," in body
    assert "**1.0.0**" in body


def test_load_dataset_on_the_export_gives_the_built_features_and_rows(
    fixture: Fixture, hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export"
    export_fixture(fixture, export)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    built = datasets.load_dataset("mmsafety/mmsafeaware", split="test")
    exported = datasets.load_dataset(str(export), split="test")
    assert exported.features == built.features
    assert isinstance(exported.features["image"], datasets.Image)
    assert isinstance(exported.features["label"], datasets.ClassLabel)
    raw = datasets.Image(decode=False)
    assert exported.cast_column("image", raw).to_list() == built.cast_column("image", raw).to_list()


def test_export_folder_is_readable_as_the_umask_says(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        export_fixture(fixture, tmp_path / "export")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "export").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "export" / "README.md").stat().st_mode) == 0o644


def test_export_replaces_a_previous_export(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export_fixture(fixture, export)
    (export / "data" / "test-00000-of-00009.parquet").write_bytes(b"stale")
    export_fixture(fixture, export)
    assert sorted(p.name for p in (export / "data").iterdir()) == ["test-00000-of-00001.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".export")) == []


def test_export_refuses_a_folder_that_is_not_an_export(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match=f"^{other}: refusing to replace a non-empty folder"):
        export_fixture(fixture, other)
    assert (other / "thesis.tex").read_text() == "precious"
    assert not list(hf_cache.glob("mmsafety___*"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="expected a folder to export into, found a file"):
        export_fixture(fixture, tmp_path / "file")


def test_a_fresh_offline_process_loads_the_build(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export_fixture(fixture, tmp_path / "export")
    code = (
        "import json, datasets\n"
        "ds = datasets.load_dataset('mmsafety/mmsafeaware', split='test')\n"
        "print(json.dumps({'offline': datasets.config.HF_HUB_OFFLINE, 'rows': ds.num_rows,\n"
        "  'image': type(ds.features['image']).__name__, 'label': type(ds.features['label']).__name__,\n"
        "  'names': ds.features['label'].names, 'format': ds[9]['image'].format, 'id': ds[9]['id']}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(HF_HUB_OFFLINE="1"), cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "offline": True,
        "rows": len(BUILT),
        "image": "Image",
        "label": "ClassLabel",
        "names": ["safe", "unsafe", "oversensitive"],
        "format": "JPEG",
        "id": "2037",
    }
