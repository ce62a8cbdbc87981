"""A full disk, a folder that cannot be written, a path under a file: one line naming the path and
the cause, exit 2, the earlier output intact, and no request sent first (issue 21, finding 16).

Tests run as root, where a read-only ``chmod`` does not stop a write and mounting a small file
system needs privileges: a full disk is simulated with ``RLIMIT_FSIZE`` set to 1 KiB in the command's
own process (a write past it fails with EFBIG, "File too large", as on a full disk), and an
unwritable folder with a path under a regular file (``mkdir`` fails with ENOTDIR)."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.env import subprocess_env
from helpers.judging import build_fixture, write_responses
from helpers.openai_server import OpenAIServer


def no_file_space() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))  # room for the interpreter's own probes, not for the output


def mmsafety(*argv: Any, full: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mmsafety.cli", *map(str, argv)], capture_output=True, text=True, env=subprocess_env(),
                          timeout=300, preexec_fn=no_file_space if full else None)


@pytest.fixture
def salad(hf_cache: Path) -> list[dict[str, Any]]:
    return build_fixture(hf_cache, "salad", count=6)


def test_judge_on_a_full_disk_says_so_in_one_line_and_keeps_the_earlier_verdicts(salad: list[dict[str, Any]], tmp_path: Path) -> None:
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "I cannot help with that.") for r in salad])
    assert mmsafety("judge", "salad", "--responses", responses, "--out", tmp_path / "v.jsonl", "--no-progress").returncode == 0
    before = (tmp_path / "v.jsonl").read_bytes()
    done = mmsafety("judge", "salad", "--responses", responses, "--out", tmp_path / "v.jsonl", "--no-progress", full=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and str(tmp_path / "v.jsonl") in done.stderr and "File too large" in done.stderr
    assert (tmp_path / "v.jsonl").read_bytes() == before


def test_report_on_a_full_disk_says_so_in_one_line(salad: list[dict[str, Any]], tmp_path: Path) -> None:
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "I cannot help with that.") for r in salad])
    assert mmsafety("judge", "salad", "--responses", responses, "--out", tmp_path / "v.jsonl", "--no-progress").returncode == 0
    done = mmsafety("report", tmp_path / "v.jsonl", "--out", tmp_path / "report", full=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert str(tmp_path / "report") in done.stderr and "File too large" in done.stderr


def test_judge_into_a_folder_it_cannot_write_fails_before_the_first_request(salad: list[dict[str, Any]], tmp_path: Path) -> None:
    (tmp_path / "not-a-folder").write_text("a file", encoding="utf-8")
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "I cannot help with that.") for r in salad])
    with OpenAIServer() as judge:
        done = mmsafety("judge", "salad", "--responses", responses, "--out", tmp_path / "not-a-folder" / "v.jsonl", "--judge", "llm",
                        "--base-url", judge.base_url, "--model", "j", "--no-progress", "--no-cache")
        assert judge.chat_requests() == []
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "not-a-folder is a file, not a folder" in done.stderr


# -- findings 17 and 18: a build's errors name the record, never a file's content ------------------------
def custom_set(folder: Path, image_field: str, image_bytes: bytes | None = None) -> Path:
    import json

    from PIL import Image

    (folder / "images").mkdir(parents=True)
    if image_bytes is None:
        Image.new("RGB", (8, 8), "red").save(folder / "images" / "a.png")
    else:
        (folder / "images" / "a.png").write_bytes(image_bytes)
    record = {"id": "q1", "query": "Is this safe?", "label": "unsafe"}
    (folder / "records.jsonl").write_text(json.dumps(record)[:-1] + f', "image": "{image_field}"}}\n', encoding="utf-8")
    return folder


def test_a_lone_surrogate_in_a_jsonl_record_is_one_line_naming_the_record(hf_cache: Path, tmp_path: Path) -> None:
    folder = custom_set(tmp_path / "set", "caf\\udce9.png")
    done = mmsafety("build", "custom", "--records", folder / "records.jsonl", "--images", folder / "images", "--repo-id", "me/set")
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "records.jsonl: line 1: expected text in 'image', found a lone surrogate (U+DCE9)" in done.stderr


def test_a_build_error_names_a_non_image_file_by_its_kind_never_its_content(hf_cache: Path, tmp_path: Path) -> None:
    folder = custom_set(tmp_path / "set", "a.png", b"OPENAI_API_KEY=sk-not-for-your-eyes\n")
    done = mmsafety("build", "custom", "--records", folder / "records.jsonl", "--images", folder / "images", "--repo-id", "me/set")
    assert done.returncode == 2 and "a.png" in done.stderr and "a text file of 36 bytes" in done.stderr, done.stderr
    assert "OPENAI" not in done.stderr and "sk-" not in done.stderr
