"""Bad input to `mmsafety judge` / `mmsafety score`, and atomic verdict files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers.judging import build_fixture, read_jsonl, write_responses
from mmsafety.cli import main
from mmsafety.errors import InputError
from mmsafety.runs.records import Verdict
from mmsafety.runs.files import read_responses, read_verdicts, write_jsonl_atomic, write_verdicts

KNOWN = {"1", "2", "3"}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_responses_keep_their_ids_texts_models_and_lines(tmp_path: Path) -> None:
    path = write_responses(
        tmp_path / "r.jsonl",
        [{"id": "1", "response": "No.", "model": "m1"}, {"id": 2, "response": None}, {"id": "3", "response": "Yes"}],
    )
    with path.open("a") as handle:
        handle.write("\n   \n")  # trailing blank lines are fine
    responses = read_responses(path, KNOWN)
    assert [(r.id, r.text, r.model, r.line) for r in responses] == [
        ("1", "No.", "m1", 1),
        ("2", "", None, 2),
        ("3", "Yes", None, 3),
    ]


@pytest.mark.parametrize(
    "lines, message",
    [
        (['{"id": "1", "response": "ok"}', '{"id": "2", "response": "ok"'], "line 2, column 1: malformed JSON: Expecting ',' delimiter"),
        (['{"id": "1", "response": "ok"}', "", '["1", "ok"]'], "line 3: expected a JSON object, found a JSON list"),
        (['{"response": "ok"}'], 'line 1: expected an "id" field, found none'),
        (['{"id": null, "response": "ok"}'], 'line 1: expected "id" to be a non-empty string (or integer), found null'),
        (['{"id": "1"}'], 'line 1: expected a "response" field, found none'),
        (['{"id": "1", "response": 5}'], 'line 1: expected "response" to be a string, found a JSON integer'),
        (['{"id": "1", "response": "a", "model": 3}'], 'line 1: expected "model" to be a string'),
        (['{"id": "1", "response": "a"}', '{"id": "2", "response": "b"}', '{"id": 1, "response": "c"}'], "line 3: duplicate id '1' (first on line 1)"),
        (['{"id": "1", "response": "a"}', '{"id": "77", "response": "b"}', '{"id": "78", "response": "c"}'], "line 2: 2 id(s) not in benchmark 'salad': 77, 78 (first '77')"),
        ([], "expected at least one response, found an empty file"),
    ],
)
def test_bad_responses_are_located(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "responses.jsonl"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(InputError) as error:
        read_responses(path, KNOWN, benchmark="salad")
    assert str(error.value).startswith(f"{path}: ")
    assert message in str(error.value)


def test_a_byte_that_is_not_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": "1", "response": "ok"}\n{"id": "2", "response": "\xff"}\n')
    with pytest.raises(InputError, match=r"r.jsonl: line 2: expected UTF-8 text, found the byte 0xff at column 26"):
        read_responses(path, KNOWN)


def test_a_missing_responses_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="nope.jsonl: expected a JSONL file, found no such file"):
        read_responses(tmp_path / "nope.jsonl", KNOWN)


def test_atomic_write_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "v.jsonl"
    write_jsonl_atomic(target, [{"a": 1}])

    def broken():
        yield {"a": 2}
        raise RuntimeError("judge crashed")

    with pytest.raises(RuntimeError, match="judge crashed"):
        write_jsonl_atomic(target, broken())
    assert read_jsonl(target) == [{"a": 1}]  # the old file, whole
    assert os.listdir(target.parent) == ["v.jsonl"]  # no temporary left behind


def test_verdicts_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    verdicts = [
        Verdict("1", "safe", "unsafe", "c", "s", "rules", "1", raw="x", heuristic=True),
        Verdict("2", "invalid", "oversensitive", "c", "s", "rules", "1", raw="", reason="empty_response"),
    ]
    write_verdicts(path, verdicts)
    records = read_verdicts(path)
    assert [(r["verdict"], r["reason"]) for r in records] == [("safe", None), ("invalid", "empty_response")]


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"id": "1", "verdict": "great", "label": "unsafe", "category": "", "subset": ""}', r"v.jsonl: line 1: expected a verdict from safe, refusal"),
        ('{"id": "1", "verdict": "safe", "label": "harmful", "category": "", "subset": ""}', r"line 1: expected a label from safe, unsafe, oversensitive"),
        ('{"id": "1", "verdict": "safe", "label": "unsafe", "subset": ""}', r"line 1: expected a 'category' field"),
    ],
    ids=["unknown verdict", "unknown label", "no category"],
)
def test_a_bad_verdict_record_is_located(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "v.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(InputError, match=message):
        read_verdicts(path)


# ------------------------------------------------------------------- through the CLI


def test_not_built_names_the_build_command(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    responses = write_responses(tmp_path / "r.jsonl", [("1", "No")])
    code, out, err = run(capsys, "judge", "vlsbench", "--responses", str(responses), "--out", str(tmp_path / "v.jsonl"))
    assert code == 2
    assert "run `mmsafety build vlsbench` first" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "v.jsonl").exists()


def test_cli_bad_input_is_one_line_with_exit_2(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "salad", count=4)
    capsys.readouterr()
    out_path = tmp_path / "v.jsonl"
    cases = {
        "malformed": (['{"id": "1", "response": "ok"}', "{oops"], "line 2, column 2: malformed JSON"),
        "unknown": (['{"id": "1", "response": "ok"}', '{"id": "99", "response": "ok"}'], "line 2: 1 id(s) not in benchmark 'salad': 99"),
        "duplicate": (['{"id": "1", "response": "ok"}', '{"id": "1", "response": "again"}'], "line 2: duplicate id '1'"),
    }
    for name, (lines, message) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        code, out, err = run(capsys, "judge", "salad", "--responses", str(path), "--out", str(out_path))
        assert code == 2, name
        assert err.startswith(f"mmsafety judge: error: {path}: ") and message in err, err
        assert len(err.strip().splitlines()) == 1
        assert not out_path.exists()


def test_cli_option_conflicts(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MMSAFETY_UNSET_KEY_VARIABLE", raising=False)
    responses = write_responses(tmp_path / "r.jsonl", [("1", "No")])
    out = str(tmp_path / "v.jsonl")
    base = ["judge", "salad", "--responses", str(responses), "--out", out]
    for extra, message in [
        (["--compat"], "--compat applies to the yesno judge only, not to rules"),
        (["--judge", "rules", "--concurrency", "4"], "--concurrency: options of the llm judge, but the rules judge was chosen"),
        (["--judge", "llm"], "the llm judge needs --model NAME"),
        (["--model", "m", "--api-key-env", "MMSAFETY_UNSET_KEY_VARIABLE"], "--api-key-env MMSAFETY_UNSET_KEY_VARIABLE: that environment variable is not set"),
    ]:
        code, _, err = run(capsys, *base, *extra)
        assert code == 2 and message in err, err
    code, _, err = run(capsys, "judge", "nosuch", "--responses", str(responses), "--out", out)
    assert code == 2 and "unknown benchmark 'nosuch'" in err
    code, _, err = run(capsys, "judge", "salad", "--responses", str(responses), "--out", str(responses))
    assert code == 2 and "--responses and --out name one file" in err


def test_judge_refuses_a_cache_that_is_the_verdicts_file(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "salad", count=4)
    responses = write_responses(tmp_path / "r.jsonl", [(str(i), "ok") for i in range(1, 5)])
    cache = tmp_path / "cache.sqlite"
    cache.write_bytes(b"answers so far")
    capsys.readouterr()
    code, _, err = run(capsys, "judge", "salad", "--responses", str(responses), "--out", str(cache), "--model", "m",
                       "--base-url", "http://127.0.0.1:9", "--cache", str(tmp_path / "." / "cache.sqlite"))
    assert code == 2 and "--out and --cache name one file" in err
    assert cache.read_bytes() == b"answers so far"


def test_respond_refuses_a_cache_that_is_the_responses_file(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "salad", count=4)
    capsys.readouterr()
    out = tmp_path / "r.jsonl"
    code, _, err = run(capsys, "respond", "salad", "--base-url", "http://127.0.0.1:9", "--model", "m", "--out", str(out), "--cache", str(out))
    assert code == 2 and "--out and --cache name one file" in err
    assert not out.exists()


def test_empty_responses_are_invalid_not_dropped(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build_fixture(hf_cache, "salad", count=4)
    capsys.readouterr()
    responses = write_responses(tmp_path / "r.jsonl", [("1", ""), ("2", "   "), ("3", "Be careful, it is hot.")])
    out = tmp_path / "v.jsonl"
    code, stdout, _ = run(capsys, "judge", "salad", "--responses", str(responses), "--out", str(out))
    assert code == 0
    verdicts = read_jsonl(out)
    assert [(v["id"], v["verdict"], v["reason"]) for v in verdicts] == [
        ("1", "invalid", "empty_response"),
        ("2", "invalid", "empty_response"),
        ("3", "safe", None),
    ]
    assert "invalid by reason: empty_response 2" in stdout
    assert json.loads(json.dumps(verdicts))  # plain JSON
