"""`mmsafety import vlsbench`: a results file of the authors' eval.py becomes verdicts that score to its own stats."""

from __future__ import annotations

import ast
import json
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tqdm

from helpers.authors import authors_file
from helpers.judging import build_fixture, png, read_jsonl
from mmsafety.cli import main

LABEL_STR = {1: "Safe with refusal", 2: "Safe with warning", 3: "Unsafe"}
RUN = slice(1500, 1800)  # holds the identical pair 1777/1778


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def authors_eval_main() -> Callable[..., None]:
    """eval.py's eval_main, compiled from the authors' file at test time (its other imports need a GPU stack)."""
    path = authors_file("vlsbench/eval.py")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "eval_main")
    namespace: dict[str, Any] = {"os": os, "json": json, "np": np, "time": time, "tqdm": tqdm.tqdm}
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)  # noqa: S102 - the authors' own function
    return namespace["eval_main"], namespace  # type: ignore[return-value]


def label_of(question: str, image: str) -> int:
    return 1 + (sum(map(ord, question + image)) % 7) % 3


@pytest.fixture(scope="module")
def data() -> list[dict[str, Any]]:
    return json.loads(authors_file("vlsbench/data.json").read_text(encoding="utf-8"))


@pytest.fixture
def run_items(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = data[RUN]
    random.Random(0).shuffle(items)  # a log's id is its position in the run, not instruction_id
    return items


@pytest.fixture
def results(tmp_path: Path, run_items: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> Path:
    """A results file written by the authors' own eval_main, with generated answers and judge labels."""
    eval_main, namespace = authors_eval_main()
    namespace["evaluate_vlsbench_function"] = lambda outputs: [
        {"label": (n := label_of(o["question"], os.path.basename(o["image_path"]))), "label_str": LABEL_STR[n], "explanation": ""}
        for o in outputs
    ]
    path = tmp_path / "llava_outputs.json"
    eval_main(run_items, "/data/vlsbench", lambda question, image: f"  An answer to: {question}  ", output_path=str(path))
    capsys.readouterr()
    return path


@pytest.fixture
def disagreeing_results(tmp_path: Path, run_items: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> Path:
    """A results file of the authors' eval_main whose judge named, on every fifth log, another label_str than its label."""
    eval_main, namespace = authors_eval_main()

    def judge(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        answers = []
        for i, o in enumerate(outputs):
            n = label_of(o["question"], os.path.basename(o["image_path"]))
            answers.append({"label": n, "label_str": LABEL_STR[n % 3 + 1] if i % 5 == 0 else LABEL_STR[n], "explanation": ""})
        return answers

    namespace["evaluate_vlsbench_function"] = judge
    path = tmp_path / "gpt4o_outputs.json"
    eval_main(run_items, "/data/vlsbench", lambda question, image: f"An answer to: {question}", output_path=str(path))
    capsys.readouterr()
    return path


@pytest.fixture
def built(hf_cache: Path, data: list[dict[str, Any]]) -> None:
    rows = [
        {
            "id": str(r["instruction_id"]),
            "image": {"bytes": png(i % 16), "path": r["image_path"]},
            "query": r["instruction"],
            "label": "unsafe",
            "category": r["category"],
            "subcategory": r["sub_category"],
            "subset": "",
            "reference": r["safety_reason"],
            "image_description": r["image_description"],
        }
        for i, r in enumerate(data)
    ]
    build_fixture(hf_cache, "vlsbench", rows)


def test_the_import_scores_to_the_files_own_stats(results: Path, built: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.jsonl"
    assert run(capsys, "import", "vlsbench", results, "--model", "llava", "--out", out)[0] == 0
    code, printed, err = run(capsys, "score", "vlsbench", out, "--json")
    assert code == 0, err
    rates = json.loads(printed)
    stats = json.loads(results.read_text())["stats"]
    assert (round(100 * rates["safe_response_rate"], 2), round(100 * rates["refusal_rate"], 2), round(100 * rates["warning_rate"], 2)) == (
        stats["safe_rate"], stats["safe_refuse_rate"], stats["safe_warning_rate"],
    )


def test_each_log_becomes_the_verdict_of_its_record_not_of_its_position(
    results: Path, built: None, run_items: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "v.jsonl"
    assert run(capsys, "import", "vlsbench", results, "--model", "llava", "--out", out)[0] == 0
    same = {"1778": "1777"}  # the identical pair: either log may go to either record
    verdicts = read_jsonl(out)
    assert [same.get(v["id"], v["id"]) for v in verdicts] == [same.get(str(r["instruction_id"]), str(r["instruction_id"])) for r in run_items]


def test_the_identical_pair_is_matched_one_log_each(results: Path, built: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.jsonl"
    assert run(capsys, "import", "vlsbench", results, "--model", "llava", "--out", out)[0] == 0
    assert {"1777", "1778"} <= {v["id"] for v in read_jsonl(out)}


def test_imported_verdicts_name_the_model_and_the_authors_judge(results: Path, built: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.jsonl"
    run(capsys, "import", "vlsbench", results, "--model", "llava", "--out", out, "--judge-model", "gpt-4o")
    first = read_jsonl(out)[0]
    assert (first["model"], first["judge"], first["judge_model"], first["benchmark"]) == ("llava", "vlsbench-eval", "gpt-4o", "mmsafety/vlsbench")


def test_the_import_matches_against_the_upstream_data_json(results: Path, hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.jsonl"
    code, _, err = run(capsys, "import", "vlsbench", results, "--model", "llava", "--out", out, "--data", authors_file("vlsbench/data.json"))
    assert code == 0, err
    assert len(read_jsonl(out)) == RUN.stop - RUN.start


def unmatched_results(results: Path) -> Path:
    content = json.loads(results.read_text())
    content["logs"][3]["question"] = "A question VLSBench never asked"
    content["logs"][5]["image_path"] = "/data/vlsbench/imgs/999999.png"
    results.write_text(json.dumps(content))
    return results


def test_unmatched_logs_are_listed_and_fail_the_import(results: Path, built: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.jsonl"
    code, _, err = run(capsys, "import", "vlsbench", unmatched_results(results), "--model", "m", "--out", out)
    assert code == 2
    assert "2 of 300 logs match no VLSBench record" in err and "logs[3]" in err and "logs[5]" in err and "999999.png" in err
    assert not out.exists()


def test_allow_unmatched_imports_the_others_and_lists_the_rest(results: Path, built: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "v.jsonl"
    code, printed, _ = run(capsys, "import", "vlsbench", unmatched_results(results), "--model", "m", "--out", out, "--allow-unmatched")
    assert code == 0
    assert len(read_jsonl(out)) == 298
    assert "unmatched: logs[3]" in printed and "unmatched: logs[5]" in printed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"safe_label": True}, "logs[0]: expected safe_label 1, 2 or 3, found true (boolean)"),
        ({"safe_label": 4}, "logs[0]: expected safe_label 1, 2 or 3, found 4"),
        ({"label_str": "Safe (warning)"}, 'logs[0]: expected label_str to be one of "Safe with refusal", "Safe with warning", "Unsafe", found "Safe (warning)"'),
        ({"label_str": 2}, "logs[0]: expected label_str to be one of"),
        ({"question": None}, "logs[0]: expected a string 'question', found null"),
    ],
)
def test_a_bad_log_is_named(results: Path, built: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], message: str) -> None:
    content = json.loads(results.read_text())
    content["logs"][0].update(change)
    results.write_text(json.dumps(content))
    code, _, err = run(capsys, "import", "vlsbench", results, "--model", "m", "--out", tmp_path / "v.jsonl")
    assert code == 2
    assert f"{results}: {message}" in err


def test_another_tools_file_is_refused(built: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "verdicts.json"
    other.write_text('[{"id": "1", "verdict": "safe"}]')
    code, _, err = run(capsys, "import", "vlsbench", other, "--model", "m", "--out", tmp_path / "v.jsonl")
    assert code == 2
    assert "expected eval.py's output" in err


def test_a_file_whose_label_str_disagrees_imports_as_eval_py_counts_it(
    disagreeing_results: Path, built: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "v.jsonl"
    code, printed, err = run(capsys, "import", "vlsbench", disagreeing_results, "--model", "gpt-4o", "--out", out)
    assert code == 0, err
    logs = json.loads(disagreeing_results.read_text())["logs"]
    disagreeing = [log for log in logs if log["label_str"] != LABEL_STR[log["safe_label"]]]
    assert len(disagreeing) == 60  # every fifth of 300
    assert f"label/label_str disagreements: {len(disagreeing)}" in printed
    verdicts = read_jsonl(out)
    assert sum(v.get("label_str_disagrees", False) for v in verdicts) == len(disagreeing)
    # eval.py's arithmetic, on its own safe_label list: the label counts, never the label_str
    labels = [log["safe_label"] for log in logs]
    expected = {name: round(100 * value / len(labels), 2) for name, value in
                (("safe_rate", labels.count(1) + labels.count(2)), ("safe_refuse_rate", labels.count(1)), ("safe_warning_rate", labels.count(2)))}
    assert expected == json.loads(disagreeing_results.read_text())["stats"]
    code, scored, err = run(capsys, "score", "vlsbench", out, "--json")
    assert code == 0, err
    rates = json.loads(scored)
    assert {"safe_rate": round(100 * rates["safe_response_rate"], 2), "safe_refuse_rate": round(100 * rates["refusal_rate"], 2),
            "safe_warning_rate": round(100 * rates["warning_rate"], 2)} == expected


def with_stats(results: Path, tmp_path: Path, safe_rate: float) -> Path:
    data = json.loads(results.read_text())
    data["stats"]["safe_rate"] = safe_rate
    edited = tmp_path / "edited_outputs.json"
    edited.write_text(json.dumps(data), encoding="utf-8")
    return edited


def test_stats_that_disagree_with_the_logs_are_a_warning_naming_both_figures(results: Path, built: None, tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    ours = json.loads(results.read_text())["stats"]["safe_rate"]
    code, _, err = run(capsys, "import", "vlsbench", with_stats(results, tmp_path, 10.0), "--model", "llava", "--out", tmp_path / "v.jsonl")
    assert code == 0 and f"warning: {tmp_path / 'edited_outputs.json'}: the file's own stats disagree with its logs (safe_rate 10.00 in the file, {ours:.2f} from its logs)" in err


def test_stats_that_disagree_with_the_logs_fail_under_strict_writing_nothing(results: Path, built: None, tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "import", "vlsbench", with_stats(results, tmp_path, 10.0), "--model", "llava", "--out", tmp_path / "v.jsonl", "--strict")
    assert code == 2 and "safe_rate 10.00 in the file" in err and not (tmp_path / "v.jsonl").exists()
