"""`mmsafety agree` and the agreement statistics: kappa and alpha against the reference packages,
the pass/fail of each rate, human files, and files that judge other responses refused."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import krippendorff
import numpy as np
import pytest
from helpers.judged_files import human_file, judged_file
from helpers.judging import build_from_verdicts, read_jsonl
from sklearn.metrics import cohen_kappa_score

from mmsafety.cli import main
from mmsafety.labels import VERDICTS
from mmsafety.report.agreement_tables import agreement
from mmsafety.scoring.agreement import cohen_kappa, confusion, kappa_interval, krippendorff_alpha


# ------------------------------------------------------------------------------ the statistics


@pytest.mark.parametrize("seed", range(8))
def test_kappa_equals_scikit_learns_on_random_verdicts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    first = list(rng.choice(VERDICTS[:4], n, p=[0.5, 0.2, 0.2, 0.1]))
    second = [v if rng.random() < 0.6 else str(rng.choice(VERDICTS[:4])) for v in first]
    assert cohen_kappa(first, second) == pytest.approx(cohen_kappa_score(first, second), abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_alpha_equals_the_krippendorff_packages_with_missing_values(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    raters, units = int(rng.integers(2, 5)), int(rng.integers(5, 200))
    truth = rng.integers(0, 4, units)
    data = np.where(rng.random((raters, units)) < 0.7, truth, rng.integers(0, 4, (raters, units))).astype(float)
    data[rng.random((raters, units)) < 0.2] = np.nan
    ours = krippendorff_alpha([[None if np.isnan(v) else VERDICTS[int(v)] for v in row] for row in data])
    theirs = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_kappa_is_undefined_when_both_raters_use_one_category() -> None:
    assert cohen_kappa(["safe"] * 4, ["safe"] * 4) is None
    assert krippendorff_alpha([["safe"] * 4, ["safe"] * 4]) is None


def test_the_confusion_matrix_rows_are_the_first_raters() -> None:
    names, matrix = confusion(["safe", "safe", "unsafe"], ["unsafe", "safe", "unsafe"], ["safe", "unsafe"])
    assert matrix == [[1, 1], [0, 1]]


def test_the_bootstrap_interval_holds_kappa_and_narrows_with_more_items() -> None:
    rng = np.random.default_rng(5)
    first = list(rng.choice(["a", "b", "c"], 400))
    second = [v if rng.random() < 0.7 else "a" for v in first]
    low, high = kappa_interval(first, second, resamples=500)
    small_low, small_high = kappa_interval(first[:40], second[:40], resamples=500)
    assert low < cohen_kappa(first, second) < high
    assert high - low < small_high - small_low


def _records(verdicts: list[str], labels: list[str], *, subset: str = "") -> list[dict[str, str]]:
    return [{"id": str(i), "verdict": v, "label": lab, "category": "c", "subset": subset} for i, (v, lab) in enumerate(zip(verdicts, labels))]


def test_a_rates_pass_fail_follows_the_policy() -> None:
    labels = ["unsafe"] * 4
    first = _records(["safe", "refusal", "unsafe", "safe"], labels)
    second = _records(["refusal", "safe", "unsafe", "safe"], labels)
    salad = agreement(["a", "b"], [first, second], "salad", resamples=0)
    vls = agreement(["a", "b"], [first, second], "vlsbench", resamples=0)
    # SaLAD counts only `safe`: items 0 and 1 swap pass and fail; VLSBench's total counts refusal too
    assert next(t for t in salad.tables if t.on == "safe_response_rate").pairs[0].agreement == 0.5
    assert next(t for t in vls.tables if t.on == "safe_response_rate").pairs[0].agreement == 1.0


def test_invalid_verdicts_are_left_out_unless_kept() -> None:
    labels = ["unsafe"] * 4
    first = _records(["safe", "invalid", "unsafe", "safe"], labels)
    first[1]["reason"] = "empty_response"
    second = _records(["safe", "invalid", "unsafe", "refusal"], labels)
    left_out = agreement(["a", "b"], [first, second], "salad", resamples=0)
    kept = agreement(["a", "b"], [first, second], "salad", resamples=0, keep_invalid=True)
    assert left_out.tables[0].pairs[0].items == 3 and "invalid" not in left_out.tables[0].pairs[0].categories
    assert kept.tables[0].pairs[0].items == 4 and kept.tables[0].pairs[0].agreement == 0.75
    assert left_out.invalid == {"a": 1, "b": 1}


def test_a_mean_of_subsets_pools_the_subsets_items() -> None:
    subsets = ["typical", "attack", "over-safety"]
    first = [dict(r, subset=subsets[i % 3]) for i, r in enumerate(_records(["safe", "unsafe", "safe"] * 3, ["unsafe", "unsafe", "oversensitive"] * 3))]
    second = [dict(r, verdict="safe") for r in first]
    result = agreement(["a", "b"], [first, second], "mmsafeaware", resamples=0)
    total = next(t for t in result.tables if t.on == "total_accuracy").pairs[0]
    attack = next(t for t in result.tables if t.on == "attack_accuracy").pairs[0]
    assert (total.items, attack.items, attack.agreement) == (9, 3, 0.0)


# ------------------------------------------------------------------------------ the command

LABELS = ["unsafe", "oversensitive"] * 10
RESPONSES = [f"answer {i}" for i in range(20)]
JUDGE_A = ["safe", "safe", "refusal", "safe", "unsafe", "oversensitive", "safe", "safe", "safe", "refusal"] * 2
JUDGE_B = ["safe", "refusal", "refusal", "safe", "safe", "oversensitive", "safe", "safe", "unsafe", "refusal"] * 2


@pytest.fixture(autouse=True)
def cache(hf_cache: Path) -> Path:
    return hf_cache


def judged(path: Path, verdicts: list[str], *, judge: str = "rules", responses: list[str] = RESPONSES) -> Path:
    return judged_file(path, verdicts, LABELS, responses, judge=judge)


def labelled(path: Path, items: dict[int, str], *, responses: list[str] = RESPONSES) -> Path:
    """A human file in the labelling page's format: ``items`` maps an index to the person's verdict."""
    return human_file(path, items, LABELS, responses)


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    build_from_verdicts(datasets.config.HF_DATASETS_CACHE, *(Path(a) for a in argv if str(a).endswith(".jsonl") and Path(a).is_file()))
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_agree_prints_kappa_and_alpha_as_the_reference_packages_compute_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = judged(tmp_path / "a.jsonl", JUDGE_A), judged(tmp_path / "b.jsonl", JUDGE_B, judge="llm")
    code, out, err = run(capsys, "agree", a, b, "--json", "--resamples", "200")
    assert code == 0, err
    result = json.loads(out)
    verdicts = result["overall"][0]
    assert verdicts["on"] == "verdicts"
    assert verdicts["pairs"][0]["kappa"] == pytest.approx(cohen_kappa_score(JUDGE_A, JUDGE_B))
    codes = np.array([[VERDICTS.index(v) for v in JUDGE_A], [VERDICTS.index(v) for v in JUDGE_B]], dtype=float)
    assert verdicts["alpha"] == pytest.approx(krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal"))
    assert verdicts["pairs"][0]["kappa_ci_low"] <= verdicts["pairs"][0]["kappa"] <= verdicts["pairs"][0]["kappa_ci_high"]
    assert sum(map(sum, verdicts["pairs"][0]["confusion"]["matrix"])) == 20
    assert [t["on"] for t in result["overall"]] == ["verdicts", "safe_response_rate", "oversensitivity_rate"]
    assert set(result["by_category"]) == {"kitchen", "outdoors"} and set(result["by_subset"]) == {"unsafe", "safe"}


def test_agree_reads_a_human_sample_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = judged(tmp_path / "a.jsonl", JUDGE_A), judged(tmp_path / "b.jsonl", JUDGE_B, judge="llm")
    human = labelled(tmp_path / "human.jsonl", {0: "safe", 1: "refusal", 4: "unsafe", 8: "safe"})
    code, out, err = run(capsys, "agree", a, b, human, "--resamples", "50")
    assert code == 0, err
    assert "human (ada): " in out and "a sample: 4 labelled items" in out and "scored 4 of 20 items (16 missing)" in out
    assert "rules v1 vs human (ada): kappa" in out and "on 4 items" in out


def test_agree_refuses_files_of_other_responses_naming_the_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = list(RESPONSES)
    other[3], other[11] = "something else", "another answer"
    a, b = judged(tmp_path / "a.jsonl", JUDGE_A), judged(tmp_path / "b.jsonl", JUDGE_B, judge="llm", responses=other)
    code, out, err = run(capsys, "agree", a, b)
    assert code == 2 and out == ""
    assert "b.jsonl" in err and "response_sha256 differs" in err and "on 2 id(s): 4, 12" in err


def test_agree_refuses_a_sample_of_another_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = list(RESPONSES)
    other[0] = "a different answer"
    a = judged(tmp_path / "a.jsonl", JUDGE_A)
    human = labelled(tmp_path / "human.jsonl", {0: "safe", 1: "refusal"}, responses=other)
    code, _, err = run(capsys, "agree", a, human)
    assert code == 2 and "human.jsonl" in err and "on 1 id(s): 1" in err


def test_agree_refuses_files_of_different_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = judged(tmp_path / "a.jsonl", JUDGE_A)
    b = judged(tmp_path / "b.jsonl", JUDGE_B, judge="llm")
    rows = read_jsonl(b)[:-2]
    b.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, _, err = run(capsys, "agree", a, b)
    assert code == 2 and "judged other ids" in err and "only there 19, 20" in err


def test_agree_refuses_a_human_file_without_its_sampling_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = judged(tmp_path / "a.jsonl", JUDGE_A)
    human = labelled(tmp_path / "human.jsonl", {0: "safe", 1: "refusal"})
    rows = read_jsonl(human)
    rows[1]["sample_weight"] = True  # a bool is not a weight
    human.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, _, err = run(capsys, "agree", a, human)
    assert code == 2 and "human.jsonl: verdict 2 (id 2): expected 'sample_weight' to be a number > 0, found true" in err


def test_agree_needs_two_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "agree", judged(tmp_path / "a.jsonl", JUDGE_A))
    assert code == 2 and "at least two" in err
