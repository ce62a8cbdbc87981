"""`mmsafety label` without a browser: the stratified draw and its weights, the page's data, escaping, bad input.

The page in a real browser: tests/test_label_browser.py."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.judging import fixture_rows, read_jsonl
from helpers.labelling import judged_run
from mmsafety.cli import main
from mmsafety.labelling.page import CANNOT_JUDGE, island
from mmsafety.runs.human import check_human
from mmsafety.runs.records import response_digest
from mmsafety.labelling.sample import allocate, draw_sample


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def page_data(page: Path) -> dict[str, Any]:
    """The data island of a labelling page, as its script reads it."""
    match = re.search(r'<script type="application/json" id="sample-data">(.*?)</script>', page.read_text(encoding="utf-8"), re.S)
    assert match is not None
    return json.loads(match[1])


# --- the draw ---

@settings(max_examples=150, deadline=None)
@given(sizes=st.dictionaries(st.sampled_from("abcdefgh"), st.integers(1, 60), min_size=1), size=st.integers(1, 200), seed=st.integers(0, 2**31))
def test_the_draw_is_proportional_and_its_weights_add_up_to_the_run(sizes: dict[str, int], size: int, seed: int) -> None:
    ids = [f"{name}{i}" for name, n in sizes.items() for i in range(n)]
    strata = [name for name, n in sizes.items() for _ in range(n)]
    drawn = draw_sample(ids, strata, size=size, seed=seed)
    total = sum(sizes.values())
    assert len(drawn) == min(size, total)
    assert len({d.id for d in drawn}) == len(drawn)  # without replacement
    assert all(d.id.startswith(d.stratum) for d in drawn)  # each item in its own stratum
    counts = Counter(d.stratum for d in drawn)
    for d in drawn:  # weight = the inverse inclusion probability
        assert d.weight == sizes[d.stratum] / counts[d.stratum]
    # Horvitz-Thompson: the weights of the sample add up to the run's size, stratum by stratum
    assert sum(d.weight for d in drawn) == pytest.approx(sum(sizes[name] for name in counts))
    if len(sizes) <= min(size, total):  # room for one of each: every stratum is represented
        assert set(counts) == set(sizes)
    for name, count in counts.items():  # proportional allocation, within one of the exact share (two with the minimum of one)
        assert abs(count - min(size, total) * sizes[name] / total) < 2 + (len(sizes) if len(sizes) <= size else 0)


def test_allocation_is_largest_remainder() -> None:
    assert allocate({"a": 50, "b": 30, "c": 20}, 10) == {"a": 5, "b": 3, "c": 2}
    assert allocate({"a": 55, "b": 35, "c": 10}, 10) == {"a": 6, "b": 3, "c": 1}  # 5.5, 3.5, 1.0: ties by name
    assert sum(allocate({str(i): i + 1 for i in range(7)}, 13).values()) == 13


def test_the_seed_decides_the_draw_and_the_order() -> None:
    ids = [str(i) for i in range(100)]
    strata = [("x", "y", "z")[i % 3] for i in range(100)]
    first = draw_sample(ids, strata, size=20, seed=1)
    assert first == draw_sample(ids, strata, size=20, seed=1)
    assert [d.id for d in first] != [d.id for d in draw_sample(ids, strata, size=20, seed=2)]
    # shown shuffled: not grouped by stratum (which would tell the labeller the judge's verdict)
    assert [d.stratum for d in first] != sorted(d.stratum for d in first)


def test_a_drawn_stratum_is_a_uniform_sample(capsys: pytest.CaptureFixture[str]) -> None:
    """Over many seeds each item of a stratum is drawn about equally often (its probability is n_h / N_h)."""
    ids = [str(i) for i in range(40)]
    strata = ["a"] * 10 + ["b"] * 30
    counts: Counter[str] = Counter()
    for seed in range(2000):
        counts.update(d.id for d in draw_sample(ids, strata, size=8, seed=seed))
    # allocation a: 2 of 10 (p 0.2), b: 6 of 30 (p 0.2): every id about 400 times in 2000 draws
    assert all(320 < counts[i] < 480 for i in ids), counts


# --- the command ---

def test_label_writes_a_page_of_a_stratified_sample(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts, responses, rows = judged_run(hf_cache, tmp_path, count=30)
    judge = {r["id"]: r for r in read_jsonl(verdicts)}
    page = tmp_path / "labels.html"
    code, out, err = run(capsys, "label", verdicts, "--responses", responses, "--sample", 12, "--seed", 5, "--out", page, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["items"] == 12 and summary["run_items"] == 30 and summary["seed"] == 5
    # strata: label x subset x the judge's verdict, with their sizes in the run
    expected = Counter(f"label={r['label']}|subset={r['subset']}|judge={r['verdict']}" for r in judge.values())
    assert {name: s["run"] for name, s in summary["strata"].items()} == dict(expected)
    data = page_data(page)
    assert data["key"] == summary["key"]
    records = [item["record"] for item in data["items"]]
    assert len({r["id"] for r in records}) == 12
    responses_by_id = {r["id"]: r["response"] for r in read_jsonl(responses)}
    row_by_id = {r["id"]: r for r in rows}
    for item in data["items"]:
        record = item["record"]
        assert record["judge"] == "human" and record["judge_version"] == "1" and record["heuristic"] is False
        assert record["benchmark"] == "mmsafety/salad" and record["model"] == "model-a"
        assert record["sample_seed"] == 5
        assert record["sample_stratum"] == f"label={record['label']}|subset={record['subset']}|judge={judge[record['id']]['verdict']}"
        assert record["sample_weight"] == expected[record["sample_stratum"]] / summary["strata"][record["sample_stratum"]]["drawn"]
        assert record["response_sha256"] == response_digest(responses_by_id[record["id"]])
        assert item["response_shown"] == responses_by_id[record["id"]]
        assert item["query"] == row_by_id[record["id"]]["query"]
        assert item["image"].startswith("data:image/png;base64,")
        # the verdicts the salad rubrics allow for the label, and invalid
        assert item["choices"] == (["safe", "refusal", "unsafe", "invalid"] if record["label"] == "unsafe" else ["safe", "refusal", "oversensitive", "invalid"])
        # the judge's verdict is nowhere the labeller reads it
        assert "judge" not in json.dumps({k: v for k, v in item.items() if k != "record"}).replace("judge rules", "")
    assert data["run"].startswith("mmsafety/salad 1.0.0 · model model-a · judge rules · 12 of 30 responses, seed 5")


def test_the_same_seed_gives_the_same_page_and_another_seed_another_key(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, count=30)
    pages = []
    for name, seed in (("a.html", 1), ("b.html", 1), ("c.html", 2)):
        assert run(capsys, "label", verdicts, "--responses", responses, "--sample", 10, "--seed", seed, "--out", tmp_path / name)[0] == 0
        pages.append(page_data(tmp_path / name))
    assert pages[0] == pages[1]
    assert pages[0]["key"] != pages[2]["key"]


def test_a_random_seed_is_printed_and_recorded(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, count=9)
    code, out, _ = run(capsys, "label", verdicts, "--responses", responses, "--out", tmp_path / "p.html")
    assert code == 0
    seed = int(re.search(r"seed (\d+)\)", out)[1])  # type: ignore[index]
    assert "9 of 9 responses" in out  # --sample 200 by default: all of a smaller run
    assert {item["record"]["sample_seed"] for item in page_data(tmp_path / "p.html")["items"]} == {seed}
    assert {item["record"]["sample_weight"] for item in page_data(tmp_path / "p.html")["items"]} == {1.0}


def test_every_text_is_data_never_markup(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hostile = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2"><!--'
    rows = fixture_rows("salad", 4)
    rows[0] = {**rows[0], "id": "<b>1</b>" + hostile, "query": "Q " + hostile}
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, rows=rows, responses=[(r["id"], "A " + hostile) for r in rows])
    page = tmp_path / "p.html"
    assert run(capsys, "label", verdicts, "--responses", responses, "--seed", 0, "--out", page)[0] == 0
    text = page.read_text(encoding="utf-8")
    assert "<script>window.pwned" not in text and "<img src=x" not in text and "<b>1</b>" not in text
    assert text.count("</script>") == 2  # the data island's and the page script's own
    data = page_data(page)
    hostile_item = next(item for item in data["items"] if item["record"]["id"].startswith("<b>1</b>"))
    assert hostile_item["query"] == "Q " + hostile and hostile_item["response_shown"] == "A " + hostile
    assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "document.write" not in text


def test_island_escapes_what_would_end_a_script() -> None:
    value = {"a": "</script><!-- & \u2028"}
    text = island(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value


def test_an_image_too_large_is_scaled_down_for_the_page(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import base64
    import io

    import numpy as np
    from PIL import Image

    noise = np.random.default_rng(0).integers(0, 256, (1600, 2400, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")  # noise: a PNG of several MB
    rows = fixture_rows("salad", 2)
    rows[0] = {**rows[0], "image": {"bytes": buffer.getvalue(), "path": None}}
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, rows=rows)
    page = tmp_path / "p.html"
    assert run(capsys, "label", verdicts, "--responses", responses, "--seed", 0, "--out", page)[0] == 0
    item = next(i for i in page_data(page)["items"] if i["record"]["id"] == "1")
    assert item["image"].startswith("data:image/jpeg;base64,")
    shown = Image.open(io.BytesIO(base64.b64decode(item["image"].split(",", 1)[1])))
    assert shown.size == (1280, 853)
    assert item["image_note"] == "Shown scaled down from 2400×1600 pixels."
    assert page.stat().st_size < 1_500_000


def test_a_filled_record_is_a_verdict_score_reads(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The record the page fills, written as a file: `mmsafety score` reads it and shows its coverage."""
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, count=12)
    page = tmp_path / "p.html"
    assert run(capsys, "label", verdicts, "--responses", responses, "--sample", 6, "--seed", 3, "--out", page)[0] == 0
    items = page_data(page)["items"]
    human = tmp_path / "human.jsonl"
    filled = [{**i["record"], "verdict": "invalid" if n == 0 else "safe", "labeller": "Ada", "raw": "", "reason": CANNOT_JUDGE if n == 0 else None}
              for n, i in enumerate(items)]  # what the page's script sets
    check_human(human, filled)
    human.write_text("".join(json.dumps(record) + "\n" for record in filled))
    code, out, err = run(capsys, "score", "salad", human)
    assert code == 0, err
    assert "6 verdicts (human v1)" in out and "scored 6 of 12 items (6 missing)" in out
    assert "verdicts: safe 5, refusal 0, unsafe 0, oversensitive 0, invalid 1" in out
    assert run(capsys, "score", "salad", human, "--require-complete")[0] == 1


# --- bad input ---

def test_responses_that_miss_ids_of_the_run_are_refused(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, count=6)
    short = tmp_path / "short.jsonl"
    short.write_text("".join(line + "\n" for line in responses.read_text().splitlines()[:4]))
    code, _, err = run(capsys, "label", verdicts, "--responses", short, "--out", tmp_path / "p.html")
    assert code == 2
    assert f"{short}: 2 id(s) of the run have no response in the responses file: 5, 6" in err
    assert not (tmp_path / "p.html").exists()


def test_a_response_other_than_the_one_judged_is_refused(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, count=4)
    assert all(r["response_sha256"] == response_digest(t["response"]) for r, t in zip(read_jsonl(verdicts), read_jsonl(responses)))
    edited = [{**t, "response": "something else"} if t["id"] == "3" else t for t in read_jsonl(responses)]
    responses.write_text("".join(json.dumps(t) + "\n" for t in edited))  # the judge saw another text for id 3
    code, _, err = run(capsys, "label", verdicts, "--responses", responses, "--out", tmp_path / "p.html")
    assert code == 2
    assert f"{verdicts}: line 3: the response of id '3' in the responses file is not the one judged" in err


def test_a_file_mmsafety_did_not_write_is_never_replaced(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, count=4)
    mine = tmp_path / "notes.html"
    mine.write_text("<html>my notes</html>")
    code, _, err = run(capsys, "label", verdicts, "--responses", responses, "--out", mine)
    assert code == 2 and "exists and is not a page `mmsafety label` wrote" in err
    assert mine.read_text() == "<html>my notes</html>"
    page = tmp_path / "p.html"
    assert run(capsys, "label", verdicts, "--responses", responses, "--seed", 1, "--out", page)[0] == 0
    assert run(capsys, "label", verdicts, "--responses", responses, "--seed", 2, "--out", page)[0] == 0  # its own page: replaced
    assert {i["record"]["sample_seed"] for i in page_data(page)["items"]} == {2}
    code, _, err = run(capsys, "label", verdicts, "--responses", responses, "--out", verdicts)
    assert code == 2 and "name one file" in err


@pytest.mark.parametrize("option, value, message", [("--sample", "0", "expected --sample of at least 1, found 0"), ("--seed", "-1", "expected --seed of 0 or more, found -1")])
def test_bad_numbers_are_refused(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str) -> None:
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, count=4)
    code, _, err = run(capsys, "label", verdicts, "--responses", responses, option, value, "--out", tmp_path / "p.html")
    assert code == 2 and message in err


def test_verdicts_of_another_tool_name_their_benchmark_with_an_option(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, count=6)
    bare = [{k: v for k, v in record.items() if k not in ("benchmark", "benchmark_version")} for record in read_jsonl(verdicts)]
    verdicts.write_text("".join(json.dumps(record) + "\n" for record in bare))
    code, _, err = run(capsys, "label", verdicts, "--responses", responses, "--out", tmp_path / "p.html")
    assert code == 2 and "do not say which benchmark they judged" in err and "--benchmark NAME" in err
    code, _, err = run(capsys, "label", verdicts, "--responses", responses, "--benchmark", "salad", "--seed", 0, "--out", tmp_path / "p.html")
    assert code == 0, err
    assert {item["record"]["benchmark"] for item in page_data(tmp_path / "p.html")["items"]} == {"mmsafety/salad"}


def test_a_response_the_model_never_gave_is_shown_as_such(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = fixture_rows("salad", 2)
    verdicts, responses, _ = judged_run(hf_cache, tmp_path, rows=rows, responses=[("1", "Sure."), ("2", "")])
    records = read_jsonl(responses)
    records[1] = {"id": "2", "response": None, "error": "model_timeout", "error_detail": "no answer in 30 s"}
    responses.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert run(capsys, "label", verdicts, "--responses", responses, "--seed", 0, "--out", tmp_path / "p.html")[0] == 0
    shown = {item["record"]["id"]: item for item in page_data(tmp_path / "p.html")["items"]}
    assert shown["2"]["response_shown"] == "(no response: model_timeout — no answer in 30 s)" and shown["2"]["response_missing"]
    assert shown["1"]["response_shown"] == "Sure." and not shown["1"]["response_missing"]
    assert shown["2"]["record"]["response_sha256"] == response_digest("")
