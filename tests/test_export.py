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
from helpers.env import subprocess_env
from helpers.mmsafeaware import BUILT, Fixture, write_mmsafeaware

from mmsafety.data.build import BuildResult, build
from mmsafety.data.outdir import MARKER
from mmsafety.errors import InputError

SINGLE = "data/test-00000-of-00001.parquet"


@pytest.fixture
def fixture(tmp_path: Path) -> Fixture:
    return write_mmsafeaware(tmp_path / "mmsafeaware")


def export_fixture(fixture: Fixture, export: Path, **options: object) -> BuildResult:
    return build("mmsafeaware", source_dir=fixture.folder, checksums=fixture.checksums, export_dir=export, **options)


def files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_export_files_are_the_card_one_shard_with_the_marker(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    result = export_fixture(fixture, export)
    assert result.export_dir == export
    assert files(export) == [MARKER, "README.md", SINGLE]
    assert result.export_files == ["README.md", SINGLE]


def test_export_parquet_embeds_the_image_bytes_in_build_order(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export_fixture(fixture, export)
    table = pq.read_table(export / SINGLE)
    images = table.column("image").combine_chunks()
    stored = images.field("bytes").to_pylist()
    assert [hashlib.sha256(b).hexdigest() for b in stored] == [fixture.sha256(str(i.image)) for i in BUILT]
    assert images.field("path").to_pylist() == [i.image for i in BUILT]
    assert table.column("id").to_pylist() == [str(i.id) for i in BUILT]


def test_export_parquet_carries_the_datasets_features(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export_fixture(fixture, export)
    metadata = pq.read_schema(export / SINGLE).metadata
    assert "label" in json.loads(metadata[b"huggingface"])["info"]["features"]


def test_a_small_max_shard_size_cuts_several_shards_named_as_push_to_hub_names_them(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    result = export_fixture(fixture, export, max_shard_size="3KB")
    shards = [name for name in result.export_files if name.startswith("data/")]
    count = len(shards)
    assert count > 2
    assert shards == [f"data/test-{i:05d}-of-{count:05d}.parquet" for i in range(count)]
    assert sum(pq.read_metadata(export / name).num_rows for name in shards) == len(BUILT)


def test_load_dataset_on_a_sharded_export_returns_every_row_in_order(
    fixture: Fixture, hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export"
    export_fixture(fixture, export, max_shard_size="3KB")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    exported = datasets.load_dataset(str(export), split="test")
    assert exported["id"] == [str(i.id) for i in BUILT]


def test_a_max_shard_size_that_is_not_a_size_is_refused_before_building(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--max-shard-size: expected a size such as 500MB"):
        export_fixture(fixture, tmp_path / "export", max_shard_size="big")
    assert not (tmp_path / "export").exists()
    assert not list(hf_cache.glob("mmsafety___*"))


def load_built_and_exported(fixture: Fixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[datasets.Dataset, datasets.Dataset]:
    export = tmp_path / "export"
    export_fixture(fixture, export)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    return datasets.load_dataset("mmsafety/mmsafeaware", split="test"), datasets.load_dataset(str(export), split="test")


def test_load_dataset_on_the_export_gives_the_built_features(
    fixture: Fixture, hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built, exported = load_built_and_exported(fixture, tmp_path, monkeypatch)
    assert exported.features == built.features
    assert isinstance(exported.features["image"], datasets.Image)
    assert isinstance(exported.features["label"], datasets.ClassLabel)


def test_load_dataset_on_the_export_gives_the_built_rows(
    fixture: Fixture, hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built, exported = load_built_and_exported(fixture, tmp_path, monkeypatch)
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


def test_export_over_an_earlier_export_removes_only_its_stale_shards(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export_fixture(fixture, export, max_shard_size="3KB")
    (export / "notes.txt").write_text("mine")
    export_fixture(fixture, export)
    assert files(export) == [MARKER, "README.md", SINGLE, "notes.txt"]
    assert (export / "notes.txt").read_text() == "mine"


def test_export_over_an_earlier_export_leaves_no_staging_folder(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    export_fixture(fixture, export)
    export_fixture(fixture, export)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".export")) == [".export.mmsafety.lock"]  # the folder's lock stays, as a build's does


def test_export_refuses_a_folder_that_is_not_an_export(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match=f"^{other}: refusing to write into a folder that holds files mmsafety did not write"):
        export_fixture(fixture, other)
    assert files(other) == ["thesis.tex"]


def test_a_refused_export_builds_nothing(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("precious")
    with pytest.raises(InputError):
        export_fixture(fixture, other)
    assert not list(hf_cache.glob("mmsafety___*"))


def test_export_refuses_a_file(fixture: Fixture, hf_cache: Path, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="expected a folder to write into, found a file"):
        export_fixture(fixture, tmp_path / "file")
    assert (tmp_path / "file").read_text() == "x"


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


def test_the_command_line_takes_max_shard_size(fixture: Fixture, hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmsafety.cli import main

    export = tmp_path / "export"
    argv = ["build", "mmsafeaware", "--source-dir", str(fixture.folder), "--checksums", str(fixture.checksums), "--export", str(export)]
    assert main([*argv, "--max-shard-size", "3KB"]) == 0
    shards = sorted((export / "data").iterdir())
    assert len(shards) > 2
    assert f"  shards:   {len(shards)} Parquet files under data/" in capsys.readouterr().out


def test_the_command_line_refuses_card_options_of_custom_sets_on_a_built_in(hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mmsafety.cli import main

    assert main(["build", "mmsafeaware", "--pretty-name", "Mine", "--language", "fr"]) == 2
    assert "--language, --pretty-name belong to `mmsafety build custom`" in capsys.readouterr().err


def test_publish_uploads_only_the_files_the_export_wrote(
    fixture: Fixture, hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import huggingface_hub

    from mmsafety.cli import main

    export = tmp_path / "export"
    export_fixture(fixture, export)
    (export / "notes.txt").write_text("private")
    uploads: list[dict[str, object]] = []

    class RecordingApi:
        def create_repo(self, *args: object, **kwargs: object) -> None:
            pass

        def upload_folder(self, **kwargs: object) -> str:
            uploads.append(kwargs)
            return "recorded"

    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    assert main(["publish", str(export), "--repo-id", "me/set"]) == 0
    assert uploads[0]["allow_patterns"] == ["README.md", SINGLE]
