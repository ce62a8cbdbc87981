"""The report's Judges section: a run judged twice and labelled by people, runs grouped by model
and response hashes, `--calibration`, and human files as first-class verdict files (score, report,
the evaluate module)."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import evaluate
import pytest
from helpers.judged_files import human_file, judged_file
from helpers.judging import build_from_verdicts
from sklearn.metrics import cohen_kappa_score

from mmsafety.cli import main
from mmsafety.errors import InputError
from mmsafety.metrics import MODULE_PATH
from mmsafety.report import load_safety_report
from mmsafety.runs.files import read_verdicts
from mmsafety.scoring.calibration import corrected_rates

LABELS = ["unsafe", "oversensitive"] * 8
TEXTS = [f"answer number {i}" for i in range(16)]
RULES = ["safe", "safe", "refusal", "safe", "unsafe", "oversensitive", "safe", "safe"] * 2
LLM = ["safe", "refusal", "refusal", "safe", "safe", "oversensitive", "unsafe", "safe"] * 2
HUMAN = {0: "safe", 1: "refusal", 2: "refusal", 4: "unsafe", 6: "unsafe", 9: "refusal", 12: "unsafe", 15: "safe"}


@pytest.fixture(autouse=True)
def cache(hf_cache: Path) -> Path:
    return hf_cache


def judged(path: Path, verdicts: list[str], judge: str, *, model: str = "qwen", texts: list[str] = TEXTS, hashed: bool = True) -> Path:
    return judged_file(path, verdicts, LABELS, texts, judge=judge, model=model, hashed=hashed)


def labelled(path: Path) -> Path:
    return human_file(path, HUMAN, LABELS, TEXTS, model="qwen")


def build(*paths: Path) -> None:
    build_from_verdicts(datasets.config.HF_DATASETS_CACHE, *paths)


def test_a_run_judged_twice_with_human_labels_gets_a_judges_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, llm = judged(tmp_path / "rules.jsonl", RULES, "rules"), judged(tmp_path / "llm.jsonl", LLM, "llm")
    other = judged(tmp_path / "other.jsonl", RULES, "rules", model="llava", texts=[t + "!" for t in TEXTS])
    human = labelled(tmp_path / "human.jsonl")
    build(rules, llm, other)
    code = main(["report", str(rules), str(llm), str(other), "--calibration", str(human), "--out", str(tmp_path / "report"), "--resamples", "200"])
    out = capsys.readouterr().out
    assert code == 0
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    section = markdown.split("## Judges", 1)[1].split("\n## ", 1)[0]
    assert "### qwen" in section and "### llava" not in section
    kappa = cohen_kappa_score(RULES, LLM)
    assert f"| verdicts | rules v1 vs llm v1 | 16 | {100 * sum(a == b for a, b in zip(RULES, LLM)) / 16:.1f} | {kappa:.3f} [" in section
    assert "rules v1 vs human (ada) | 8 |" in section and "Krippendorff's α" in section
    assert "McNemar" in section and "rules v1 − llm v1" in section
    assert "prediction-powered inference" in section and "drawn at random from the run" in section
    # the corrected safe-response rate in the table is corrected_rates' own
    (rate,) = corrected_rates(read_verdicts(rules), read_verdicts(human), "salad", ["safe_response_rate"])
    assert f"{100 * rate.corrected:.2f} [{100 * rate.low:.2f}–{100 * rate.high:.2f}]" in section
    # one model's run judged twice is one run: the paired comparison of models leaves that pair out
    payload = json.loads((tmp_path / "report" / "scores.json").read_text(encoding="utf-8"))["benchmarks"]["mmsafety/salad"]
    assert {(c["first"], c["second"]) for c in payload["comparisons"]} == {("qwen · rules v1", "llava"), ("qwen · llm v1", "llava")}
    (judges,) = payload["judges"]
    assert [f["judge"] for f in judges["files"]] == ["rules v1", "llm v1", "human (ada)"]
    assert judges["agreement"]["overall"][0]["pairs"][0]["kappa"] == pytest.approx(kappa)
    assert "judges, qwen: rules v1 vs llm v1: kappa" in out


def test_a_human_file_given_as_a_run_is_scored_and_joins_its_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, human = judged(tmp_path / "rules.jsonl", RULES, "rules"), labelled(tmp_path / "human.jsonl")
    build(rules)
    assert main(["report", str(rules), str(human), "--out", str(tmp_path / "report"), "--resamples", "100"]) == 0
    out = capsys.readouterr().out
    assert "human.jsonl: scored 8 of 16 items (8 missing)" in out
    assert "judges, qwen: rules v1 vs human (ada): kappa" in out and "corrected by the human labels" in out


def test_files_without_response_hashes_stay_separate_runs(tmp_path: Path) -> None:
    rules = judged(tmp_path / "rules.jsonl", RULES, "rules", hashed=False)
    llm = judged(tmp_path / "llm.jsonl", LLM, "llm", hashed=False)
    results = load_safety_report([rules, llm], resamples=50).benchmarks[0]
    assert results.judged_runs == [] and len(results.comparisons) == 1


def test_a_calibration_file_of_no_run_given_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = judged(tmp_path / "rules.jsonl", RULES, "rules", texts=[t + "?" for t in TEXTS])
    human = labelled(tmp_path / "human.jsonl")
    build(rules)
    assert main(["report", str(rules), "--calibration", str(human), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err
    assert "human.jsonl" in err and "labels responses of no run given" in err
    assert not (tmp_path / "report").exists()


def test_a_judge_file_as_calibration_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, llm = judged(tmp_path / "rules.jsonl", RULES, "rules"), judged(tmp_path / "llm.jsonl", LLM, "llm")
    build(rules)
    assert main(["report", str(rules), "--calibration", str(llm), "--out", str(tmp_path / "report")]) == 2
    assert 'expected a human verdict file (judge "human"' in capsys.readouterr().err


def test_a_human_file_whose_label_disagrees_with_the_set_is_refused_like_any(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, human = judged(tmp_path / "rules.jsonl", RULES, "rules"), labelled(tmp_path / "human.jsonl")
    build(rules)
    rows = [json.loads(line) for line in human.read_text(encoding="utf-8").splitlines()]
    rows[2]["label"] = "unsafe" if rows[2]["label"] != "unsafe" else "oversensitive"
    human.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["score", "salad", str(human)]) == 2
    assert "human.jsonl: line 3 (id 3): label" in capsys.readouterr().err


def test_score_reads_a_human_file_as_any_verdict_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, human = judged(tmp_path / "rules.jsonl", RULES, "rules"), labelled(tmp_path / "human.jsonl")
    build(rules)
    assert main(["score", "salad", str(human), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    unsafe = [v for i, v in HUMAN.items() if LABELS[i] == "unsafe"]
    assert result["safe_response_rate"] == sum(v == "safe" for v in unsafe) / len(unsafe)
    assert result["coverage"] == {"scored": 8, "total": 16, "missing": 8, "complete": False}


def test_the_evaluate_module_scores_a_human_file_as_score_does(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, human = judged(tmp_path / "rules.jsonl", RULES, "rules"), labelled(tmp_path / "human.jsonl")
    build(rules)
    records = read_verdicts(human)
    metric = evaluate.load(MODULE_PATH, "salad", cache_dir=str(tmp_path / "cache"))
    computed = metric.compute(predictions=[r["verdict"] for r in records], references=[r["label"] for r in records])
    assert main(["score", "salad", str(human), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert computed["safe_response_rate"] == result["safe_response_rate"]
    assert computed["oversensitivity_rate"] == result["oversensitivity_rate"]


def test_a_calibration_file_of_another_benchmark_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules, human = judged(tmp_path / "rules.jsonl", RULES, "rules"), labelled(tmp_path / "human.jsonl")
    rows = [json.loads(line) for line in human.read_text(encoding="utf-8").splitlines()]
    human.write_text("".join(json.dumps({**r, "benchmark": "mmsafety/vlsbench"}) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(InputError, match="no verdicts file given judged it"):
        load_safety_report([rules], calibration=[human], resamples=20)


def test_a_human_file_that_names_no_model_joins_the_run_by_its_hashes(tmp_path: Path) -> None:
    rules = judged(tmp_path / "rules.jsonl", RULES, "rules")
    human = human_file(tmp_path / "human.jsonl", HUMAN, LABELS, TEXTS, model=None)
    (judged_run,) = load_safety_report([rules], calibration=[human], resamples=20).benchmarks[0].judged_runs
    assert judged_run.names == ["rules v1", "human (ada)"] and judged_run.corrected
