"""The command line as a whole: help for every argument, `--json` on every command that prints
a result, output to a closed pipe, and `build all`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.judging import build_fixture, write_responses
from helpers.openai_server import OpenAIServer, Script

from mmsafety import benchmarks
from mmsafety.cli import EXIT_BROKEN_PIPE, main, make_parser
from mmsafety.data.build import BuildResult
from mmsafety.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def parsers(parser: argparse.ArgumentParser, path: str = "mmsafety") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


def verdicts_of(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"id": r["id"], "verdict": "safe", "label": r["label"], "category": r["category"], "subset": r["subset"],
         "judge": "rules", "judge_version": "1", "benchmark": "mmsafety/salad", "model": "m"}
        for r in rows
    ]


@pytest.fixture
def salad(hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    rows = build_fixture(hf_cache, "salad", count=6)
    capsys.readouterr()
    return rows


# ------------------------------------------------------------------ help


def test_every_argument_of_every_command_has_help() -> None:
    undescribed = [
        f"{path}: {action.dest}"
        for path, parser in parsers(make_parser())
        for action in parser._actions
        if not (action.help or "").strip() or action.help == argparse.SUPPRESS
    ]
    assert undescribed == []


def test_every_command_is_in_the_parser() -> None:
    commands = dict(parsers(make_parser()))
    assert {"mmsafety publish", "mmsafety checksums", "mmsafety score", "mmsafety build", "mmsafety audit"} <= set(commands)


# ------------------------------------------------------------------ closed pipe


def test_output_to_a_closed_pipe_ends_quietly(salad: list[dict[str, Any]], tmp_path: Path) -> None:
    verdicts = write_responses(tmp_path / "v.jsonl", verdicts_of(salad))
    read_end, write_end = os.pipe()
    os.close(read_end)  # as `| head` that has read its lines and gone
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "mmsafety.cli", "score", "salad", str(verdicts)],
            cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
        )
    finally:
        os.close(write_end)
    assert finished.stderr == ""
    assert finished.returncode == EXIT_BROKEN_PIPE == 141


# ------------------------------------------------------------------ build all


def fake_build(failing: set[str], calls: list[str]) -> Any:
    def build(name: str, **options: Any) -> BuildResult:
        calls.append(name)
        if name in failing:
            raise InputError(f"upstream of {name} is broken", file=f"{name}.json")
        return BuildResult(name, f"mmsafety/{name}", "1.0.0", 3, Path("/cache") / name, None, 0, 0.1)

    return build


def test_build_all_builds_each_benchmark_after_a_failure(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    first = benchmarks.names()[0]
    calls: list[str] = []
    monkeypatch.setattr("mmsafety.data.build.build", fake_build({first}, calls))
    run(capsys, "build", "all")
    assert calls == list(benchmarks.names())


def test_build_all_exits_2_when_one_failed(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    first = benchmarks.names()[0]
    monkeypatch.setattr("mmsafety.data.build.build", fake_build({first}, []))
    code, out, err = run(capsys, "build", "all")
    assert code == 2
    assert f"mmsafety build: {first}: error: {first}.json: upstream of {first} is broken" in err
    assert f"failed: {first}" in out


def test_build_all_reports_each_outcome(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    names = benchmarks.names()
    monkeypatch.setattr("mmsafety.data.build.build", fake_build({names[0]}, []))
    _, out, _ = run(capsys, "build", "all")
    for name in names[1:]:
        assert f"Built mmsafety/{name} 1.0.0" in out
    assert f"built {len(names) - 1} of {len(names)}" in out


def test_build_all_exits_0_when_each_was_built(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("mmsafety.data.build.build", fake_build(set(), []))
    code, out, _ = run(capsys, "build", "all")
    assert code == 0 and "failed" not in out


def test_build_all_json_gives_each_outcome(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    names = benchmarks.names()
    monkeypatch.setattr("mmsafety.data.build.build", fake_build({names[0]}, []))
    code, out, _ = run(capsys, "build", "all", "--json")
    payload = json.loads(out)
    assert code == 2 and payload["failed"] == [names[0]]
    assert payload["benchmarks"][names[0]] == {"built": False, "error": f"{names[0]}.json: upstream of {names[0]} is broken"}
    assert payload["benchmarks"][names[1]]["rows"] == 3


# ------------------------------------------------------------------ --json


def test_build_json_prints_one_object(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("mmsafety.data.build.build", fake_build(set(), []))
    code, out, _ = run(capsys, "build", "salad", "--json")
    assert code == 0 and json.loads(out)["repo_id"] == "mmsafety/salad"


def test_judge_json_prints_one_object(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "I cannot help with that.") for r in salad])
    code, out, _ = run(capsys, "judge", "salad", "--responses", responses, "--out", tmp_path / "v.jsonl", "--no-progress", "--json")
    summary = json.loads(out)
    assert code == 0
    assert (summary["judge"], summary["responses"], sum(summary["verdicts"].values())) == ("rules", 6, 6)


def test_report_json_prints_one_object(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = write_responses(tmp_path / "v.jsonl", verdicts_of(salad))
    code, out, _ = run(capsys, "report", verdicts, "--out", tmp_path / "report", "--json")
    payload = json.loads(out)
    assert code == 0 and "safe_response_rate" in payload["benchmarks"]["mmsafety/salad"]["models"]["m"]


def test_evaluate_json_prints_one_object(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "I cannot help with that.") for r in salad])
    code, out, _ = run(capsys, "evaluate", "salad", "--responses", responses, "--out", tmp_path / "eval", "--no-progress", "--json")
    payload = json.loads(out)
    assert code == 0 and payload["judge"]["responses"] == 6 and payload["report"]["benchmarks"]["mmsafety/salad"]["policy"] == "salad"


def test_audit_json_prints_one_object(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "mmsafety/salad", "--out", tmp_path / "audit", "--bootstrap", "10", "--json")
    payload = json.loads(out)
    assert code == 0 and {"integrity", "duplicates"} <= set(payload)


def test_respond_json_prints_one_object(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with OpenAIServer(Script(default="I cannot help with that.")) as server:
        code, out, err = run(capsys, "respond", "salad", "--base-url", server.base_url, "--model", "m", "--out", tmp_path / "r.jsonl",
                             "--no-cache", "--no-progress", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["model"], summary["responses"], summary["samples"]) == ("m", 6, 6)


def test_build_all_refuses_a_configuration_before_building_anything(hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "build", "all", "--config", "full")
    assert code == 2 and "names a configuration of one benchmark" in err
    assert not any(hf_cache.iterdir())


def test_score_table_reads_the_typed_result() -> None:
    """`mmsafety score`'s text: each rate with n / d and its intervals, a mean of rates without a
    fraction of its own, the bootstrap column only when asked, and one line per group."""
    from mmsafety.commands.score import format_groups, format_table
    from mmsafety.scoring import score

    verdicts, labels = ["safe", "refusal", "unsafe", "safe"], ["unsafe", "oversensitive", "oversensitive", "unsafe"]
    result = score(verdicts, labels, policy="mmsafeaware", subsets=["typical", "over-safety", "attack", "typical"])
    lines = format_table(result, "title").splitlines()
    assert lines[:4] == [
        "title",
        "policy mmsafeaware, refusal_is_safe None, invalid_handling exclude, confidence 0.95, bootstrap 0",
        "samples: all 4, unsafe 2, benign 2",
        "verdicts: safe 2, refusal 1, unsafe 1, oversensitive 0, invalid 0",
    ]
    rows = {line.split()[0]: line.split() for line in lines[5:]}
    assert rows["rate"][-1] == "95%" and "bootstrap" not in lines[5]
    assert rows["typical_accuracy"][1:] == ["100.00", "2", "/", "2", "34.24–100.00"]
    assert rows["total_accuracy"][1:] == ["33.33", "33.33–33.33"]  # a mean of rates: no n / d
    assert format_groups(result.by_subset, "subset").splitlines()[1:] == [
        "  attack       accuracy 0.00 (0/1), invalid_rate 0.00 (0/1)",
        "  over-safety  accuracy 0.00 (0/1), invalid_rate 0.00 (0/1)",
        "  typical      accuracy 100.00 (2/2), invalid_rate 0.00 (0/2)",
    ]
    booted = format_table(score(verdicts, labels, policy="salad", bootstrap=20, confidence=0.9), "t").splitlines()
    assert booted[5].split()[-2:] == ["bootstrap", "90%"] and "Wilson 90%" in booted[5]
    assert booted[7].split()[0] == "safe_response_rate" and len(booted[7].split()) == 7


def test_evaluate_refuses_responses_that_are_its_verdicts_file(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "eval"
    folder.mkdir()
    responses = write_responses(folder / "verdicts.jsonl", [(r["id"], "I cannot help with that.") for r in salad])
    before = responses.read_bytes()
    code, _, err = run(capsys, "evaluate", "salad", "--responses", responses, "--out", folder, "--no-progress")
    assert code == 2 and "--responses and --out name one file" in err, err
    assert responses.read_bytes() == before
    code, _, err = run(capsys, "evaluate", "salad", "--responses", responses, "--out", responses, "--no-progress")
    assert code == 2 and "expected a folder to write into, found a file" in err, err
