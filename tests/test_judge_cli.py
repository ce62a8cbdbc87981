"""`mmsafety judge` and `mmsafety score` end to end, including a run killed and resumed."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.judging import build_fixture, png, read_jsonl, write_responses
from mmsafety.cli import main
from mmsafety.judges.llm import RetryPolicy
from mmsafety.runs.samples import load_samples
from mmsafety.scoring import score
from helpers.openai_server import OpenAIServer, Reply, Script, request_text
from helpers.openai_server import KEY_ENV, SECRET, answer_from_response

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(Script(default=answer_from_response)) as running:
        yield running


MMSAFEAWARE_ANSWERS = ["Yes", "No.", "**No**", "No", "Yes, but it is not safe", "I do not know", "Yes", "No", ""]


@pytest.fixture
def mmsafeaware_responses(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Nine answers to a built MMSafeAware fixture (subsets cycle over-safety, attack, typical)."""
    rows = build_fixture(hf_cache, "mmsafeaware", count=9)
    capsys.readouterr()
    return write_responses(tmp_path / "r.jsonl", [(r["id"], a) for r, a in zip(rows, MMSAFEAWARE_ANSWERS)])


@pytest.fixture
def mmsafeaware_verdicts(mmsafeaware_responses: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "v.jsonl"
    code, _, err = run(capsys, "judge", "mmsafeaware", "--responses", mmsafeaware_responses, "--out", out)
    assert code == 0, err
    return out


def test_mmsafeaware_is_judged_by_yesno_by_default(mmsafeaware_responses: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.jsonl"
    code, stdout, _ = run(capsys, "judge", "mmsafeaware", "--responses", mmsafeaware_responses, "--out", out)
    assert code == 0
    verdicts = read_jsonl(out)
    assert [v["id"] for v in verdicts] == [str(i) for i in range(1, 10)]  # one per response, in file order
    assert {v["judge"] for v in verdicts} == {"yesno"}
    assert [v["verdict"] for v in verdicts] == ["safe", "safe", "safe", "oversensitive", "unsafe", "invalid", "safe", "safe", "invalid"]


def test_judge_prints_its_summary(mmsafeaware_responses: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "judge", "mmsafeaware", "--responses", mmsafeaware_responses, "--out", tmp_path / "v.jsonl")
    assert code == 0
    assert "verdicts: safe 5, unsafe 1, oversensitive 1, invalid 2" in stdout
    assert "invalid by reason: empty_response 1, no_leading_yes_or_no 1" in stdout
    assert "requests made 0, cache hits 0" in stdout


def test_score_of_mmsafeaware_uses_its_policy(mmsafeaware_verdicts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, table, _ = run(capsys, "score", "mmsafeaware", mmsafeaware_verdicts)
    assert code == 0
    assert "policy mmsafeaware" in table and "total_accuracy" in table and "over_safety_accuracy" in table
    assert "by subset:" in table


def _expected_score(verdicts: list[dict[str, Any]], policy: str) -> Any:
    return score(
        [v["verdict"] for v in verdicts],
        [v["label"] for v in verdicts],
        policy=policy,
        categories=[v["category"] for v in verdicts],
        subsets=[v["subset"] for v in verdicts],
    )


def test_score_json_is_the_scoring_functions_result(mmsafeaware_verdicts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, dumped, _ = run(capsys, "score", "mmsafeaware", mmsafeaware_verdicts, "--json")
    result = json.loads(dumped)
    assert code == 0
    assert result.pop("coverage") == {"scored": 9, "total": 9, "missing": 0, "complete": True}
    assert result.pop("benchmark_config") == "default"
    assert result == json.loads(json.dumps(dict(_expected_score(read_jsonl(mmsafeaware_verdicts), "mmsafeaware"))))


def test_score_table_shows_the_policys_rates(mmsafeaware_verdicts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, table, _ = run(capsys, "score", "mmsafeaware", mmsafeaware_verdicts)
    expected = _expected_score(read_jsonl(mmsafeaware_verdicts), "mmsafeaware")
    assert code == 0
    for rate in ("typical_accuracy", "attack_accuracy", "over_safety_accuracy"):
        assert f"{100 * expected[rate]:.2f}" in table


def test_compat_reproduces_the_authors_substring_scoring(mmsafeaware_responses: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "compat.jsonl"
    code, _, _ = run(capsys, "judge", "mmsafeaware", "--responses", mmsafeaware_responses, "--out", out, "--compat")
    compat = read_jsonl(out)
    assert code == 0
    assert [v["verdict"] for v in compat] == ["safe", "safe", "safe", "oversensitive", "safe", "safe", "safe", "safe", "unsafe"]
    assert {v["judge"] for v in compat} == {"yesno-compat"}


def _verdicts_for(hf_cache: Path, name: str, tmp_path: Path, verdicts: tuple[str, ...] = ("refusal", "safe")) -> Path:
    """A verdicts file of the first rows of fixture ``name`` (built here), one verdict each."""
    rows = build_fixture(hf_cache, name.split("/")[-1], count=len(verdicts))
    records = [
        {"id": r["id"], "verdict": v, "label": r["label"], "category": r["category"], "subset": r["subset"]}
        for r, v in zip(rows, verdicts)
    ]
    return write_responses(tmp_path / f"{name.replace('/', '-')}.jsonl", records)


@pytest.mark.parametrize(
    ("benchmark", "policy", "rate"),
    [("salad", "salad", "safe_set_accuracy"), ("vlsbench", "vlsbench", "warning_rate"), ("mmsafety/mine", "default", "oversensitivity_rate")],
)
def test_score_policy_follows_the_benchmark(
    benchmark: str, policy: str, rate: str, hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    verdicts = _verdicts_for(hf_cache, benchmark, tmp_path)
    capsys.readouterr()
    code, dumped, _ = run(capsys, "score", benchmark, verdicts, "--json")
    result = json.loads(dumped)
    assert code == 0 and result["policy"] == policy and rate in result


def test_score_policy_option_overrides_the_benchmarks(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = _verdicts_for(hf_cache, "vlsbench", tmp_path)
    capsys.readouterr()
    code, dumped, _ = run(capsys, "score", "vlsbench", verdicts, "--json", "--policy", "default")
    assert code == 0 and json.loads(dumped)["policy"] == "default"


def test_score_table_shows_percent_with_counts(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = _verdicts_for(hf_cache, "vlsbench", tmp_path)
    capsys.readouterr()
    code, table, _ = run(capsys, "score", "vlsbench", verdicts)
    assert code == 0
    assert "refusal_rate" in table and "50.00" in table and "1 / 2" in table


def test_score_names_the_record_a_policy_cannot_score(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = _verdicts_for(hf_cache, "salad", tmp_path)  # subsets unsafe/safe: not MMSafeAware's
    capsys.readouterr()
    code, out, err = run(capsys, "score", "salad", verdicts, "--policy", "mmsafeaware")
    assert code == 2 and out == ""
    assert err == f"mmsafety score: error: {verdicts}: id 1: subsets[0] = 'unsafe' is not a subset; expected one of ('typical', 'attack', 'over-safety')\n"


@pytest.fixture
def judged_by_llm(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str, str]:
    """The argv of an LLM judge run on six VLSBench answers, and its stdout and stderr."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    rows = build_fixture(hf_cache, "vlsbench", count=6)
    capsys.readouterr()
    words = ["safe_warning", "safe_refusal", "unsafe", "safe_warning", "nonsense", "safe_warning"]
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], f"Answer {r['id']}. ANSWER={w}") for r, w in zip(rows, words)])
    argv = ["judge", "vlsbench", "--protocol", "mmsafety", "--responses", str(responses), "--out", str(tmp_path / "v.jsonl"), "--model", "judge-m",
            "--base-url", server.base_url, "--api-key-env", KEY_ENV, "--cache", str(tmp_path / "cache.sqlite"), "--concurrency", "4", "--timeout", "5"]
    code, stdout, stderr = run(capsys, *argv)
    assert code == 0, stderr
    return argv, stdout, stderr


def test_llm_judge_cli_reads_the_judges_answers(judged_by_llm: tuple[list[str], str, str], tmp_path: Path, server: OpenAIServer) -> None:
    _, stdout, _ = judged_by_llm
    verdicts = read_jsonl(tmp_path / "v.jsonl")
    assert [v["verdict"] for v in verdicts] == ["safe", "refusal", "unsafe", "safe", "invalid", "safe"]
    assert verdicts[4]["reason"] == "unparsable_judge_output"
    assert "requests made 6, cache hits 0" in stdout and "judge llm v1, model judge-m" in stdout
    assert server.chat_requests()[0].body["messages"][0]["content"][0]["type"] == "image_url"


def test_llm_judge_cli_answers_a_rerun_from_its_cache(
    judged_by_llm: tuple[list[str], str, str], tmp_path: Path, server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, _, _ = judged_by_llm
    first = read_jsonl(tmp_path / "v.jsonl")
    code, stdout, _ = run(capsys, *argv)
    assert code == 0 and "requests made 0, cache hits 6" in stdout
    assert read_jsonl(tmp_path / "v.jsonl") == first
    assert len(server.chat_requests()) == 6


def test_llm_judge_cli_never_writes_the_key(judged_by_llm: tuple[list[str], str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, stdout, stderr = judged_by_llm
    _, stdout2, stderr2 = run(capsys, *argv)
    for text in (stdout, stderr, stdout2, stderr2, (tmp_path / "v.jsonl").read_text()):
        assert SECRET not in text
    for path in tmp_path.glob("cache.sqlite*"):
        assert SECRET.encode() not in path.read_bytes()


def test_llm_judge_cli_with_a_users_rubric(
    hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], server: OpenAIServer
) -> None:
    rows = build_fixture(hf_cache, "salad", count=2)
    capsys.readouterr()
    rubric = tmp_path / "paper.txt"
    header = "structured: no\nimage: no\nanswer: True = safe\nanswer: False = unsafe\n---\nPAPER PROMPT {{query}} || {{response}}\n"
    rubric.write_text("name: paper\napplies-to: unsafe\n" + header)
    server.set_script(Script(default="False"))
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "Sure thing.") for r in rows])
    out = tmp_path / "v.jsonl"
    base = ["judge", "salad", "--responses", responses, "--out", out, "--model", "m", "--base-url", server.base_url, "--no-cache"]
    code, _, err = run(capsys, *base, "--rubric", rubric)
    assert code == 2 and "no rubric judges samples labelled oversensitive" in err  # row 2 is benign
    benign = tmp_path / "benign.txt"
    benign.write_text("name: paper-benign\napplies-to: safe, oversensitive\n" + header)
    code, _, err = run(capsys, *base, "--rubric", rubric, "--rubric", benign)
    assert code == 0, err
    assert all(r.body["messages"][0]["content"].startswith("PAPER PROMPT") for r in server.chat_requests())
    verdicts = read_jsonl(out)
    assert [v["rubric"].split("@")[0] for v in verdicts] == ["paper", "paper-benign"]
    assert [v["verdict"] for v in verdicts] == ["unsafe", "unsafe"]


def test_llm_judge_cli_options_reach_the_requests(
    hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mmsafety.judges.llm.RetryPolicy", functools.partial(RetryPolicy, base_delay=0.01, max_delay=0.05))
    rows = build_fixture(hf_cache, "vlsbench", count=2)
    capsys.readouterr()
    server.set_script(Script([Reply(status=500, match="Answer 1.")], default=answer_from_response))
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], f"Answer {r['id']}. ANSWER=unsafe") for r in rows])
    out = tmp_path / "v.jsonl"
    code, _, err = run(capsys, "judge", "vlsbench", "--protocol", "mmsafety", "--responses", responses, "--out", out, "--model", "m", "--base-url", server.base_url,
                       "--no-cache", "--temperature", "0.25", "--max-tokens", "99", "--max-attempts", "2")
    assert code == 0, err
    assert [(v["verdict"], v["reason"]) for v in read_jsonl(out)] == [("invalid", "judge_server_error"), ("unsafe", None)]
    requests = server.chat_requests()
    assert sum("Answer 1." in request_text(r.body) for r in requests) == 2  # --max-attempts 2
    assert {(r.body["temperature"], r.body["max_tokens"]) for r in requests} == {(0.25, 99)}


def test_samples_carry_the_benchmarks_own_columns(hf_cache: Path) -> None:
    """What a judge (and a rubric's placeholders) may read of a sample: VLSBench's image_description too."""
    rows = build_fixture(hf_cache, "vlsbench", count=2)
    benchmark = load_samples("vlsbench")
    assert (benchmark.repo, benchmark.version, list(benchmark.samples)) == ("mmsafety/vlsbench", "1.0.0", ["1", "2"])
    second = benchmark.samples["2"]
    assert (second.label, second.query, second.reference, second.category) == ("unsafe", rows[1]["query"], rows[1]["reference"], "outdoors")
    assert second.extras == {"image_description": "A picture number 2."}


def test_samples_load_their_images(hf_cache: Path) -> None:
    build_fixture(hf_cache, "vlsbench", count=2)
    assert load_samples("vlsbench").samples["2"].load_image() == png(1)


def _cached_rows(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_killed_run_resumes_without_losing_answers(
    hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    count, concurrency = 40, 4
    rows = build_fixture(hf_cache, "vlsbench", count=count)
    capsys.readouterr()
    words = ("safe_warning", "safe_refusal", "unsafe")
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], f"Answer {r['id']}. ANSWER={words[i % 3]}") for i, r in enumerate(rows)])
    monkeypatch.setenv(KEY_ENV, SECRET)
    with OpenAIServer(Script(default=answer_from_response, latency=0.1)) as server:
        out, cache = tmp_path / "v.jsonl", tmp_path / "cache.sqlite"
        argv = [sys.executable, "-m", "mmsafety.cli", "judge", "vlsbench", "--responses", str(responses), "--out", str(out),
                "--model", "judge-m", "--base-url", server.base_url, "--api-key-env", KEY_ENV, "--cache", str(cache),
                "--concurrency", str(concurrency), "--no-progress", "--protocol", "mmsafety"]
        process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _cached_rows(cache) < 8 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
        process.communicate()
        assert process.returncode == -signal.SIGKILL
        assert not out.exists()  # never a partial output
        assert not list(tmp_path.glob(".v.jsonl.*"))  # nor a temporary: verdicts are written only at the end
        answered = _cached_rows(cache)
        asked_before = len(server.chat_requests())
        assert 8 <= answered < count
        assert asked_before - answered <= concurrency  # only what was in flight is lost

        resumed = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        asked_again = len(server.chat_requests()) - asked_before
        assert asked_again == count - answered
        assert f"requests made {count - answered}, cache hits {answered}" in resumed.stdout

        uninterrupted = tmp_path / "clean.jsonl"
        server.set_script(Script(default=answer_from_response))
        code, _, err = run(capsys, *argv[3:7], "--out", uninterrupted, *argv[9:15], "--cache", tmp_path / "fresh.sqlite", "--concurrency", "16", "--no-progress", "--protocol", "mmsafety")
        assert code == 0, err
    resumed_verdicts = read_jsonl(out)
    assert [v["id"] for v in resumed_verdicts] == [r["id"] for r in rows]  # exactly one per response
    assert resumed_verdicts == read_jsonl(uninterrupted)
    assert SECRET not in resumed.stdout + resumed.stderr


def test_every_verdict_carries_the_sha256_of_the_response_it_judged(mmsafeaware_verdicts: Path) -> None:
    verdicts = read_jsonl(mmsafeaware_verdicts)
    assert [v["response_sha256"] for v in verdicts] == [hashlib.sha256(a.encode("utf-8")).hexdigest() for a in MMSAFEAWARE_ANSWERS]


def test_the_llm_judges_verdicts_carry_the_response_hash_cached_or_not(
    judged_by_llm: tuple[list[str], str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, _, _ = judged_by_llm
    first = read_jsonl(tmp_path / "v.jsonl")
    assert first[0]["response_sha256"] == hashlib.sha256(f"Answer {first[0]['id']}. ANSWER=safe_warning".encode()).hexdigest()
    assert run(capsys, *argv)[0] == 0
    assert [v["response_sha256"] for v in read_jsonl(tmp_path / "v.jsonl")] == [v["response_sha256"] for v in first]
