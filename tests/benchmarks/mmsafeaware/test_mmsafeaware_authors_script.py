"""`yesno --compat` agrees with the MMSafeAware authors' scoring script, run on the same answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.authors import authors_file
from mmsafety.builders.mmsafeaware.mmsafeaware import LABEL_OF_SUBSET, parse_prompts, subset_of
from mmsafety.judges.yesno import YesNoJudge
from mmsafety.runs.records import Response, Sample
from mmsafety.scoring import score

ANSWERS = (
    "Yes.",
    "No, it is not safe.",
    "**No**",
    "I do not know.",
    "Nope",
    "Yes, but only with care.",
    "Absolutely safe.",
    "It is unsafe: note the knife.",
    "",  # an empty answer: wrong for the script, invalid for mmsafety (counted as failed under invalid="fail")
    "Not sure, maybe.",
    "YES",
    "Knowledge is power.",
    "Eyes on the road.",
)
RESULTS = "results_0401/qvq_max.jsonl"  # the path the script opens, relative to where it runs
PRINTED = re.compile(r"^(typical_list|attack_list|oversafe_list|all_list):\s+(\d+)\s+([0-9.]+)$", re.MULTILINE)


def answers_for(ids: list[int]) -> dict[int, str]:
    return {item: ANSWERS[(item * 7 + item // 5) % len(ANSWERS)] for item in ids}


def run_authors_script(tmp_path: Path, answers: dict[int, str]) -> dict[str, tuple[int, float]]:
    script = authors_file("mmsafeaware/extract_results.py")
    results = tmp_path / RESULTS
    results.parent.mkdir(parents=True)
    with results.open("w", encoding="utf-8") as handle:
        for item, text in answers.items():
            handle.write(json.dumps({"id": str(item), "response": text}) + "\n")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=True)
    return {name: (int(count), float(rate)) for name, count, rate in PRINTED.findall(done.stdout)}


@pytest.fixture(scope="module")
def ids() -> list[int]:
    text = authors_file("mmsafeaware/prompt.txt").read_text(encoding="utf-8")
    return [item for item, _, _ in parse_prompts(text)]


@pytest.fixture
def both(tmp_path: Path, ids: list[int]) -> tuple[dict[str, tuple[int, float]], dict[str, object], int]:
    answers = answers_for(ids)
    theirs = run_authors_script(tmp_path, answers)
    judge = YesNoJudge(compat=True)
    samples = [Sample(id=str(i), label=LABEL_OF_SUBSET[subset_of(i)], subset=subset_of(i)) for i in ids]
    verdicts = [judge.judge(s, Response(id=s.id, text=answers[int(s.id)])) for s in samples]
    ours = score([v.verdict for v in verdicts], [s.label for s in samples], policy="mmsafeaware",
                 subsets=[s.subset for s in samples], invalid="fail")
    return theirs, dict(ours), sum(v.verdict == "safe" for v in verdicts)


@pytest.mark.parametrize(("printed", "rate"), [("typical_list", "typical"), ("attack_list", "attack"), ("oversafe_list", "over_safety")])
def test_compat_gives_the_authors_script_subset_accuracy_and_size(
    both: tuple[dict[str, tuple[int, float]], dict[str, object], int], printed: str, rate: str
) -> None:
    theirs, ours, _ = both
    count, accuracy = theirs[printed]
    assert ours[f"{rate}_accuracy_denominator"] == count
    assert ours[f"{rate}_accuracy"] == pytest.approx(accuracy, abs=1e-12)


def test_compat_gives_the_authors_script_overall_accuracy(both: tuple[dict[str, tuple[int, float]], dict[str, object], int]) -> None:
    theirs, ours, correct = both
    count, accuracy = theirs["all_list"]
    assert ours["num_samples"] == count == 1523
    assert correct / count == pytest.approx(accuracy, abs=1e-12)


def test_the_generated_answers_make_the_substring_reading_matter(ids: list[int]) -> None:
    # "I do not know" credits a No, "Knowledge" a No, "Eyes" a Yes: answers where the
    # script's reading differs from the strict leading-word reading are in the run.
    strict, compat = YesNoJudge(), YesNoJudge(compat=True)
    answers = answers_for(ids)
    differ = sum(
        strict.judge(s, Response(id=s.id, text=t)).verdict != compat.judge(s, Response(id=s.id, text=t)).verdict
        for s, t in ((Sample(id=str(i), label=LABEL_OF_SUBSET[subset_of(i)], subset=subset_of(i)), answers[i]) for i in ids)
        if t
    )
    assert differ > 100
