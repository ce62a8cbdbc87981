"""The datasets cache under builds that clash, run at once, or are killed: one complete build is always left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import pytest
from helpers.env import subprocess_env
from helpers.mmsafeaware import BUILT, Fixture, write_mmsafeaware
from mmsafety.builders.custom import build_custom
from PIL import Image

from mmsafety.cli import main
from mmsafety.data.build import (
    SCRATCH_PREFIX,
    build,
    remove_dead_scratch,
    restore_aside,
)
from mmsafety.data.catalog import built_versions, load_benchmark, repo_cache_dir
from mmsafety.errors import InputError, NotBuiltError

REPO = "mmsafety/mmsafeaware"


@pytest.fixture
def fixture(tmp_path: Path) -> Fixture:
    return write_mmsafeaware(tmp_path / "mmsafeaware")


def build_fixture(fixture: Fixture, **options: object) -> None:
    build("mmsafeaware", source_dir=fixture.folder, checksums=fixture.checksums, **options)


def write_set(folder: Path, query: str) -> Path:
    (folder / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(folder / "images" / "a.png")
    (folder / "records.csv").write_text(f"id,image,query,label\nq1,a.png,{query},unsafe\n", encoding="utf-8")
    return folder


def build_set(folder: Path, repo: str) -> None:
    build_custom(folder / "records.csv", folder / "images", repo)


def start_build(fixture: Fixture, tmp_path: Path, *, stage: str, pause: float, allow_missing_images: bool) -> subprocess.Popen[str]:
    """A build in its own process that prints PAUSED and sleeps ``pause`` s at swap step ``stage``."""
    code = textwrap.dedent(
        f"""
        import time
        import mmsafety.data.build as build_module
        def stage(name):
            if name == {stage!r}:
                print("PAUSED", flush=True)
                time.sleep({pause})
        build_module._stage = stage
        build_module.build("mmsafeaware", source_dir={str(fixture.folder)!r}, checksums={str(fixture.checksums)!r},
                           allow_missing_images={allow_missing_images})
        print("BUILT", flush=True)
        """
    )
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env(), cwd=tmp_path)


def hash_dirs(repo: str = REPO) -> list[Path]:
    return sorted(p for p in repo_cache_dir(repo).glob("*/*/*") if p.is_dir())


def litter(hf_cache: Path) -> list[str]:
    return sorted(p.name for p in [*hf_cache.glob(f"{SCRATCH_PREFIX}*"), *repo_cache_dir(REPO).glob("*/*/.*.old-*")])


# -- repo ids that datasets keeps in one folder --------------------------------------------------
def test_a_build_refuses_a_cache_folder_that_holds_another_repo_id(tmp_path: Path, hf_cache: Path) -> None:
    build_set(write_set(tmp_path / "a", "first"), "xb/MySet")
    with pytest.raises(InputError, match="'xb/my_set' in the same folder as 'xb/MySet'"):
        build_set(write_set(tmp_path / "b", "second"), "xb/my_set")
    assert load_benchmark("xb/MySet")["query"] == ["first"]


def test_the_refused_repo_id_exits_2_naming_the_other(tmp_path: Path, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_set(write_set(tmp_path / "a", "first"), "xb/MySet")
    folder = write_set(tmp_path / "b", "second")
    code = main(["build", "custom", "--records", str(folder / "records.csv"), "--images", str(folder / "images"), "--repo-id", "xb/my_set"])
    assert code == 2
    assert "xb/MySet" in capsys.readouterr().err


def test_an_upper_case_repo_id_is_found_where_load_dataset_finds_it(tmp_path: Path, hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_set(write_set(tmp_path / "a", "first"), "Holly301/SaLAD")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    assert datasets.load_dataset("Holly301/SaLAD", split="test")["query"] == ["first"]
    assert load_benchmark("Holly301/SaLAD")["query"] == ["first"]


def test_a_command_accepts_an_upper_case_repo_id(tmp_path: Path, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_set(write_set(tmp_path / "a", "first"), "Holly301/SaLAD")
    assert main(["audit", "Holly301/SaLAD", "--out", str(tmp_path / "audit")]) == 0, capsys.readouterr().err


def test_rebuilding_the_same_repo_id_is_allowed(tmp_path: Path, hf_cache: Path) -> None:
    build_set(write_set(tmp_path / "a", "first"), "xb/MySet")
    build_set(write_set(tmp_path / "b", "second"), "xb/MySet")
    assert load_benchmark("xb/MySet")["query"] == ["second"]


# -- two builds at once ----------------------------------------------------------------------------
def test_two_builds_at_once_with_different_hashes_leave_one_complete_build(fixture: Fixture, tmp_path: Path, hf_cache: Path) -> None:
    first = start_build(fixture, tmp_path, stage="moved", pause=1.5, allow_missing_images=False)
    second = start_build(fixture, tmp_path, stage="moved", pause=1.5, allow_missing_images=True)
    for process in (first, second):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0 and "BUILT" in out, err
    assert len(hash_dirs()) == 1
    assert load_benchmark("mmsafeaware").num_rows == len(BUILT)


# -- what killed builds leave ----------------------------------------------------------------------
def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_next_build_removes_scratch_folders_of_dead_processes(fixture: Fixture, hf_cache: Path) -> None:
    scratch = hf_cache / f"{SCRATCH_PREFIX}{dead_pid()}-0badf00d"
    (scratch / "mmsafety___mmsafeaware").mkdir(parents=True)
    (scratch / "mmsafety___mmsafeaware" / "half.arrow").write_bytes(b"x" * 1000)
    build_fixture(fixture)
    assert not scratch.exists()


def test_a_scratch_folder_of_a_running_build_is_kept(hf_cache: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        scratch = hf_cache / f"{SCRATCH_PREFIX}{sleeper.pid}-0badf00d"
        scratch.mkdir()
        assert remove_dead_scratch(hf_cache) == []
        assert scratch.is_dir()
    finally:
        sleeper.kill()
        sleeper.wait()


def strand(build_dir: Path) -> Path:
    """What a kill between the two renames leaves: the good build moved aside, nothing in its place."""
    aside = build_dir.with_name(f".{build_dir.name}.old-{dead_pid()}")
    os.replace(build_dir, aside)
    return aside


def test_a_stranded_build_reads_as_not_built(fixture: Fixture, hf_cache: Path) -> None:
    build_fixture(fixture)
    strand(hash_dirs()[0])
    with pytest.raises(NotBuiltError, match=r"is not built in .*: run `mmsafety build mmsafeaware`"):
        load_benchmark("mmsafeaware")


def test_a_stranded_build_is_not_built_on_the_command_line(fixture: Fixture, hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(fixture)
    strand(hash_dirs()[0])
    assert main(["audit", "mmsafeaware"]) == 2
    err = capsys.readouterr().err
    assert "run `mmsafety build mmsafeaware`" in err and "Traceback" not in err


def test_a_stranded_build_is_put_back(fixture: Fixture, hf_cache: Path) -> None:
    build_fixture(fixture)
    built = hash_dirs()[0]
    strand(built)
    restore_aside(repo_cache_dir(REPO))
    assert built_versions(REPO) == [built]
    assert load_benchmark("mmsafeaware").num_rows == len(BUILT)


def test_the_next_build_puts_back_a_stranded_build_of_another_configuration(fixture: Fixture, hf_cache: Path) -> None:
    build_fixture(fixture, config="full")
    full = hash_dirs()[0]
    strand(full)
    build_fixture(fixture)
    assert full.is_dir() and len(hash_dirs()) == 2
    assert load_benchmark("mmsafeaware", config="full").num_rows > load_benchmark("mmsafeaware").num_rows


def test_a_stranded_build_beside_a_complete_one_is_removed(fixture: Fixture, hf_cache: Path) -> None:
    build_fixture(fixture)
    built = hash_dirs()[0]
    aside = built.with_name(f".{built.name[:-1]}x.old-{dead_pid()}")
    aside.mkdir()
    restore_aside(repo_cache_dir(REPO))
    assert not aside.exists() and built.is_dir()


def test_a_build_missing_its_arrow_file_reads_as_not_built(fixture: Fixture, hf_cache: Path) -> None:
    build_fixture(fixture)
    for arrow in hash_dirs()[0].glob("*.arrow"):
        arrow.unlink()
    with pytest.raises(NotBuiltError, match="incomplete"):
        load_benchmark("mmsafeaware")


def test_a_build_killed_between_the_renames_is_recovered_by_the_next(fixture: Fixture, tmp_path: Path, hf_cache: Path) -> None:
    build_fixture(fixture)
    process = start_build(fixture, tmp_path, stage="aside", pause=120, allow_missing_images=False)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "PAUSED"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert litter(hf_cache)  # its scratch folder and the good build moved aside
    with pytest.raises(NotBuiltError):
        load_benchmark("mmsafeaware")
    build_fixture(fixture)
    assert litter(hf_cache) == []
    assert load_benchmark("mmsafeaware").num_rows == len(BUILT)
