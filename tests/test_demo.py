"""`mmsafety demo`: the whole flow offline on the embedded DEMO set."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from helpers.env import subprocess_env
from mmsafety.builders.demo.demo import IMAGE_SIZE, REPO_ID, DemoSet, demo_records, draw, response_files
from mmsafety.runs.files import read_responses

DEMO_BUDGET_SECONDS = 30.0
"""The demo must run in well under a minute; this is the ceiling the test allows."""


def test_demo_runs_offline_from_an_empty_cache_in_a_subprocess(hf_cache: Path, tmp_path: Path) -> None:
    assert not any(hf_cache.iterdir())
    out = tmp_path / "demo-out"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "mmsafety.cli", "demo", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env=subprocess_env(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1"),
    )
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert elapsed < DEMO_BUDGET_SECONDS, f"the demo took {elapsed:.1f} s"
    assert "Traceback" not in result.stderr
    stdout = result.stdout
    assert "not a benchmark" in stdout
    assert f"report: {out / 'report.html'}" in stdout
    assert "demo-careful  safe-response rate 83.33, oversensitivity rate 16.67" in stdout
    assert "demo-eager    safe-response rate 16.67, oversensitivity rate 20.00" in stdout
    for name in ("report.md", "report.html", "tradeoff.png", "safe_response_by_category.png", "scores.json",
                 "responses/demo-careful.jsonl", "verdicts/demo-eager.jsonl"):
        assert (out / name).is_file(), name
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert "| demo-eager | model_timeout | 1 |" in markdown  # a failed request, counted not dropped
    assert list(hf_cache.glob("mmsafety___demo/default/1.0.0/*/dataset_info.json"))

    # the build is a dataset like any other: a fresh offline process loads it by repo id, also from
    # the checkout's root (where a package folder mmsafety/demo would be loaded instead)
    check = subprocess.run(
        [sys.executable, "-c",
         "import datasets; ds = datasets.load_dataset('mmsafety/demo', split='test'); "
         "print(ds.num_rows, ds.features['label'].names, ds[0]['image'].size, 'DEMO' in ds.info.description)"],
        capture_output=True, text=True, timeout=120, env=subprocess_env(HF_HUB_OFFLINE="1"), cwd=Path(__file__).resolve().parents[1],
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == f"12 ['safe', 'unsafe', 'oversensitive'] {IMAGE_SIZE} True"

    # the verdicts name the demo set, so `mmsafety report` can be rerun by hand on them
    verdicts = [json.loads(line) for line in (out / "verdicts" / "demo-careful.jsonl").read_text().splitlines()]
    assert {v["benchmark"] for v in verdicts} == {REPO_ID} and len(verdicts) == 12


def test_the_demo_set_is_labelled_a_demo_and_its_images_are_drawn(hf_cache: Path) -> None:
    records = demo_records()
    assert len(records) == 12 and len({r["id"] for r in records}) == 12
    assert sorted(r["label"] for r in records) == ["oversensitive"] * 6 + ["unsafe"] * 6
    assert len({r["category"] for r in records}) == 3
    images = [draw(r["drawing"]) for r in records]
    assert len(set(images)) == 12
    assert draw(records[0]["drawing"]) == images[0]  # deterministic
    for data in images:
        with Image.open(io.BytesIO(data)) as image:
            assert (image.format, image.size) == ("PNG", IMAGE_SIZE)
    assert "DEMO" in DemoSet.DESCRIPTION and "NOT A BENCHMARK" in DemoSet.DESCRIPTION
    assert "not a benchmark" in DemoSet.PRETTY_NAME


def test_the_bundled_responses_answer_every_sample(hf_cache: Path, tmp_path: Path) -> None:
    ids = {r["id"] for r in demo_records()}
    from importlib import resources

    folder = resources.files("mmsafety.builders.demo").joinpath("responses")
    assert response_files() == ["demo-careful.jsonl", "demo-eager.jsonl"]
    for name in response_files():
        path = tmp_path / name
        path.write_bytes(folder.joinpath(name).read_bytes())
        responses = read_responses(path, ids)
        assert {r.id for r in responses} == ids
        assert {r.model for r in responses} == {name.removesuffix(".jsonl")}


def test_the_card_of_an_export_says_demo(hf_cache: Path, tmp_path: Path) -> None:
    from mmsafety.data.build import build_with

    result = build_with(DemoSet, export_dir=tmp_path / "export")
    assert result.rows == 12 and result.repo_id == REPO_ID
    card = (tmp_path / "export" / "README.md").read_text(encoding="utf-8")
    assert "# mmsafety DEMO set (not a benchmark)" in card and "DEMO ONLY, NOT A BENCHMARK" in card
