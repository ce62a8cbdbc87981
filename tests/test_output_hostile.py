"""A hostile user against the folders mmsafety writes: symbolic links, a forged or copied marker,
folders in the datasets cache, two processes writing one folder (issue 21, findings 1-4).

Each test runs the real command (in a subprocess where a second process is the point) on real
files and symbolic links made in the test."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.env import subprocess_env
from helpers.judging import build_fixture, write_responses
from PIL import Image

from mmsafety.cli import main
from mmsafety.data.outdir import MARKER


@pytest.fixture
def salad(hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    rows = build_fixture(hf_cache, "salad", count=6)
    capsys.readouterr()
    return rows


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def report(salad: list[dict[str, Any]], tmp_path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    verdicts = write_responses(tmp_path / "v.jsonl", [
        {"id": r["id"], "verdict": "safe", "label": r["label"], "category": r["category"], "subset": r["subset"],
         "judge": "rules", "benchmark": "mmsafety/salad", "model": "m"} for r in salad])
    return run(capsys, "report", verdicts, "--out", out)


def evaluate(salad: list[dict[str, Any]], tmp_path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "I cannot help with that.") for r in salad])
    return run(capsys, "evaluate", "salad", "--responses", responses, "--out", out, "--no-progress")


# -- 1. no write through a symbolic link ------------------------------------------------------------
def test_demo_rerun_does_not_write_through_a_symlink_put_in_its_folder(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "demo", "--out", tmp_path / "d")[0] == 0
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "thesis.txt").write_text("my thesis", encoding="utf-8")
    link = tmp_path / "d" / "responses" / "demo-eager.jsonl"
    link.unlink()
    link.symlink_to(Path("..", "..", "victim", "thesis.txt"))
    code, _, err = run(capsys, "demo", "--out", tmp_path / "d")
    assert (tmp_path / "victim" / "thesis.txt").read_text(encoding="utf-8") == "my thesis"
    assert code == 2 and "responses/demo-eager.jsonl" in err and "not a regular file" in err


# -- 2. a build's sweep, and outputs in the datasets cache ---------------------------------------------
def write_my_set(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(folder / "images" / "a.png")
    (folder / "records.csv").write_text("id,image,query,label\nq1,a.png,Is this safe?,unsafe\n", encoding="utf-8")
    return folder


def build_my_set(folder: Path, capsys: pytest.CaptureFixture[str], *extra: Any) -> tuple[int, str, str]:
    return run(capsys, "build", "custom", "--records", folder / "records.csv", "--images", folder / "images", "--repo-id", "me/my-set", *extra)


def test_a_build_sweeps_only_its_own_older_builds_never_a_users_folder_beside_them(hf_cache: Path, tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_my_set(tmp_path / "my-set")
    assert build_my_set(folder, capsys)[0] == 0
    (version_dir,) = {p.parent for p in (hf_cache / "me___my-set").glob("*/*/*") if p.is_dir()}
    (version_dir / "my-notes").mkdir()
    (version_dir / "my-notes" / "plan.md").write_text("keep", encoding="utf-8")
    assert build_my_set(folder, capsys)[0] == 0
    assert (version_dir / "my-notes" / "plan.md").read_text(encoding="utf-8") == "keep"


@pytest.mark.parametrize("option", ["--export", "--out"])
def test_an_output_inside_the_datasets_cache_is_refused(option: str, salad: list[dict[str, Any]], hf_cache: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    inside = hf_cache / "mmsafety___salad" / "default" / "exports"
    if option == "--export":
        code, _, err = build_my_set(write_my_set(tmp_path / "my-set"), capsys, "--export", inside)
    else:
        code, _, err = report(salad, tmp_path, inside, capsys)
    assert code == 2 and "refusing to write into the datasets cache" in err and not inside.exists()


# -- 3. two processes, one folder; a folder's files together or not at all ---------------------------
HOLD = """
import sys, time
from mmsafety.data.outdir import prepare_output_dir
with prepare_output_dir(sys.argv[1], "evaluate") as out:
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_second_evaluate_into_a_folder_being_written_is_refused_touching_nothing(salad: list[dict[str, Any]], tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate(salad, tmp_path, tmp_path / "eval", capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "eval").iterdir()}
    first = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "eval")], stdout=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "holding"
        second = subprocess.run([sys.executable, "-m", "mmsafety.cli", "evaluate", "salad", "--responses", str(tmp_path / "r.jsonl"),
                                 "--out", str(tmp_path / "eval"), "--no-progress"], capture_output=True, text=True, env=subprocess_env(), timeout=300)
    finally:
        first.kill()
        first.wait()
    assert second.returncode == 2 and "another mmsafety process is writing into this folder" in second.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "eval").iterdir()} == before


def test_an_evaluate_that_fails_while_reporting_leaves_the_earlier_verdicts(salad: list[dict[str, Any]], tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str],
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    assert evaluate(salad, tmp_path, tmp_path / "eval", capsys)[0] == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "eval").iterdir()}

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("mmsafety.report.write.write_charts", broken)
    write_responses(tmp_path / "r.jsonl", [(salad[0]["id"], "Sure, here is how.")])  # another run, one item
    responses = tmp_path / "r.jsonl"
    code, _, err = run(capsys, "evaluate", "salad", "--responses", responses, "--out", tmp_path / "eval", "--no-progress")
    assert code == 2 and "No space left on device" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "eval").iterdir()} == before


# -- 4. the marker is not trusted blindly ----------------------------------------------------------------
def test_a_forged_marker_does_not_get_a_users_files_removed(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    user = tmp_path / "userE"
    (user / ".git").mkdir(parents=True)
    (user / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (user / "notes.txt").write_text("notes", encoding="utf-8")
    (user / MARKER).write_text(json.dumps({"kind": "report", "files": ["notes.txt", ".git/HEAD"]}), encoding="utf-8")
    code, _, err = report(salad, tmp_path, user, capsys)
    assert code == 2 and ".git/HEAD" in err and "holds no size and hash" in err
    assert (user / "notes.txt").read_text(encoding="utf-8") == "notes" and (user / ".git" / "HEAD").is_file()
    assert not (user / "report.md").exists()


def test_a_real_marker_copied_into_a_users_folder_does_not_get_their_file_replaced(salad: list[dict[str, Any]], tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert report(salad, tmp_path, tmp_path / "r", capsys)[0] == 0
    user = tmp_path / "user"
    user.mkdir()
    (user / "report.md").write_text("# My own report\n", encoding="utf-8")
    (user / MARKER).write_bytes((tmp_path / "r" / MARKER).read_bytes())
    code, _, err = report(salad, tmp_path, user, capsys)
    assert code == 2 and "report.md: changed since mmsafety wrote it" in err.replace("remove report.md: ", "report.md: ")
    assert (user / "report.md").read_text(encoding="utf-8") == "# My own report\n"


def test_a_listed_folder_turned_into_a_link_outside_is_refused(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "demo", "--out", tmp_path / "d")[0] == 0
    (tmp_path / "d" / "verdicts").rename(tmp_path / "victim")
    (tmp_path / "d" / "verdicts").symlink_to(tmp_path / "victim")
    before = {p.name: p.read_bytes() for p in (tmp_path / "victim").iterdir()}
    time.sleep(0.01)
    code, _, err = run(capsys, "demo", "--out", tmp_path / "d")
    assert code == 2 and "outside the folder" in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "victim").iterdir()} == before
