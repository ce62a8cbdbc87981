"""The one rule for every folder mmsafety writes: empty, absent, or its own earlier output of the same kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from mmsafety.cli import main
from mmsafety.data.outdir import MARKER, prepare_output_dir
from mmsafety.errors import InputError


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_my_set(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(folder / "images" / "a.png")
    (folder / "records.csv").write_text("id,image,query,label\nq1,a.png,Is this safe?,unsafe\n", encoding="utf-8")
    return folder


def build_custom_cli(folder: Path, export: str | Path) -> int:
    return main(["build", "custom", "--records", str(folder / "records.csv"), "--images", str(folder / "images"), "--repo-id", "me/my-set", "--export", str(export)])


# -- the command line -------------------------------------------------------------------------
def test_export_into_the_folder_of_the_records_exits_2_naming_it(tmp_path: Path, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_my_set(tmp_path / "my-set")
    assert build_custom_cli(folder, folder) == 2
    assert f"{folder}: refusing to write into a folder" in capsys.readouterr().err


def test_export_into_the_folder_of_the_records_loses_nothing(tmp_path: Path, hf_cache: Path) -> None:
    folder = write_my_set(tmp_path / "my-set")
    before = tree(folder)
    build_custom_cli(folder, folder)
    assert tree(folder) == before


def test_export_into_a_project_folder_is_refused_leaving_its_notes_with_git(
    tmp_path: Path, hf_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    write_my_set(project / "my-set")
    (project / "notes").mkdir()
    (project / "notes" / "plan.md").write_text("plan")
    (project / ".git").mkdir()
    (project / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    before = tree(project)
    monkeypatch.chdir(project)
    assert build_custom_cli(Path("my-set"), ".") == 2
    assert tree(project) == before
    assert "refusing to write into a folder that holds files mmsafety did not write (.git, my-set, notes)" in capsys.readouterr().err


# -- the rule itself ----------------------------------------------------------------------------
def test_an_absent_folder_is_created_with_the_marker(tmp_path: Path) -> None:
    with prepare_output_dir(tmp_path / "out", "report") as out:
        out.file("report.md").write_text("x")
    assert json.loads((tmp_path / "out" / MARKER).read_text())["files"] == ["report.md"]


def test_an_empty_folder_is_written_into(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    with prepare_output_dir(tmp_path / "out", "audit") as out:
        out.file("audit.md").write_text("x")
    assert sorted(tree(tmp_path / "out")) == [MARKER, "audit.md"]


def test_an_earlier_output_of_the_same_kind_loses_only_its_stale_files(tmp_path: Path) -> None:
    with prepare_output_dir(tmp_path / "out", "report") as out:
        out.file("charts/a.png").write_bytes(b"a")
        out.file("report.md").write_text("old")
    (tmp_path / "out" / "mine.txt").write_text("mine")
    with prepare_output_dir(tmp_path / "out", "report") as out:
        out.file("report.md").write_text("new")
    assert tree(tmp_path / "out") == {MARKER: (tmp_path / "out" / MARKER).read_bytes(), "mine.txt": b"mine", "report.md": b"new"}
    assert not (tmp_path / "out" / "charts").exists()


def test_an_earlier_output_of_another_kind_is_refused(tmp_path: Path) -> None:
    with prepare_output_dir(tmp_path / "out", "report") as out:
        out.file("report.md").write_text("x")
    with pytest.raises(InputError, match="holds an earlier mmsafety report output, not an audit output"):
        prepare_output_dir(tmp_path / "out", "audit")
    assert (tmp_path / "out" / "report.md").read_text() == "x"


def test_a_file_the_user_put_where_mmsafety_would_write_is_refused(tmp_path: Path) -> None:
    with prepare_output_dir(tmp_path / "out", "report") as out:
        out.file("report.md").write_text("x")
    (tmp_path / "out" / "report.html").write_text("mine")
    out = prepare_output_dir(tmp_path / "out", "report")
    with pytest.raises(InputError, match="refusing to replace report.html, which mmsafety did not write"):
        out.file("report.html")
    assert (tmp_path / "out" / "report.html").read_text() == "mine"


def test_a_staged_output_that_would_replace_a_users_file_moves_nothing_in(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    out = prepare_output_dir(tmp_path / "out", "export")
    (tmp_path / "out" / "README.md").write_text("mine")
    (out.staging() / "data").mkdir()
    (out.staging() / "data" / "x.parquet").write_bytes(b"p")
    (out.staging() / "README.md").write_text("card")
    with pytest.raises(InputError, match="refusing to replace README.md"):
        out.commit()
    assert sorted(tree(tmp_path / "out")) == [MARKER, "README.md"]


def test_a_marker_naming_a_path_outside_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "victim.txt").write_text("keep")
    (tmp_path / "out" / MARKER).write_text(json.dumps({"kind": "report", "files": ["../victim.txt"]}))
    with pytest.raises(InputError, match="expected a file name inside the folder"):
        prepare_output_dir(tmp_path / "out", "report")
    assert (tmp_path / "victim.txt").read_text() == "keep"


def test_a_marker_that_is_not_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / MARKER).write_text("{")
    with pytest.raises(InputError, match=f"expected {MARKER} as mmsafety writes it"):
        prepare_output_dir(tmp_path / "out", "report")


def test_a_failed_output_into_a_new_folder_leaves_no_folder(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with prepare_output_dir(tmp_path / "out", "demo"):
            raise RuntimeError("failed before writing")
    assert not (tmp_path / "out").exists()


def test_a_failed_output_keeps_its_files_recognisable_as_mmsafetys(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with prepare_output_dir(tmp_path / "out", "evaluate") as out:
            out.file("responses.jsonl").write_text("{}")
            raise RuntimeError("failed after writing")
    with prepare_output_dir(tmp_path / "out", "evaluate") as out:
        pass
    assert sorted(tree(tmp_path / "out")) == [MARKER]


def test_an_export_written_before_the_marker_existed_is_recognised(tmp_path: Path) -> None:
    (tmp_path / "out" / "data").mkdir(parents=True)
    (tmp_path / "out" / "README.md").write_text("---\nbuilt_with: mmsafety 0.1.0\n---\n")
    (tmp_path / "out" / "data" / "test-00000-of-00001.parquet").write_bytes(b"old")
    with prepare_output_dir(tmp_path / "out", "export") as out:
        out.file("README.md").write_text("new card")
    assert sorted(tree(tmp_path / "out")) == [MARKER, "README.md"]


def test_the_staging_folder_a_killed_process_left_is_removed(tmp_path: Path) -> None:
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    staging = tmp_path / f".out.mmsafety-{process.pid}-0badf00d"
    (staging / "data").mkdir(parents=True)
    prepare_output_dir(tmp_path / "out", "export")
    assert not staging.exists()
