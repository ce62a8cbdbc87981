"""The labelling page of `mmsafety label` in a real browser: Debian's Chromium, headless, driven
by Playwright (pointed at /usr/bin/chromium; no browser download). The page is opened from
file://, labelled with clicks and with keys, reloaded, downloaded, and the download scored.

Skips (saying why) where Chromium or Playwright is absent; CI installs Chromium (.ci/run)."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from helpers.judging import fixture_rows, read_jsonl
from helpers.labelling import judged_run, solid_png
from mmsafety.cli import main
from mmsafety.runs.human import check_human
from mmsafety.runs.records import response_digest

CHROMIUM = os.environ.get("MMSAFETY_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"no Chromium at {CHROMIUM}: CI must run the browser tests (.ci/run installs Debian's chromium)")
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    context.route("**/*", lambda route: route.abort() if not route.request.url.startswith(("file:", "data:", "blob:")) else route.continue_())
    yield context
    context.close()


def label_page(cache: Path, folder: Path, *, sample: int = 8, seed: int = 4, **kwargs: Any) -> tuple[Path, Path, Path]:
    verdicts, responses, _ = judged_run(cache, folder, **kwargs)
    page = folder / f"labels-{seed}.html"
    assert main(["label", str(verdicts), "--responses", str(responses), "--sample", str(sample), "--seed", str(seed), "--out", str(page)]) == 0
    return page, verdicts, responses


def open_page(context: Any, page_file: Path) -> tuple[Any, list[str]]:
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}") if message.type in ("error", "warning") else None)
    page.on("request", lambda request: problems.append(f"request: {request.url}") if not request.url.startswith(("file:", "data:", "blob:")) else None)
    page.goto(page_file.as_uri())
    page.wait_for_selector("#verdicts button")
    return page, problems


def current_id(page: Any) -> str:
    """The id of the item shown (from the page's meta line: ``id X · category ...``)."""
    return page.locator("#item-meta").inner_text().split(" · ")[0].removeprefix("id ")


def test_label_with_clicks_and_keys_reload_download_and_score(hf_cache: Path, tmp_path: Path, context: Any) -> None:
    page_file, verdicts, responses = label_page(hf_cache, tmp_path, count=30, sample=8)
    page, problems = open_page(context, page_file)
    assert page.locator("#progress-text").inner_text() == "0 of 8 labelled"
    assert "judge=" not in page.locator("body").inner_text()  # the judge's verdict is not shown
    labelled: dict[str, str] = {}

    # item 1 by a click: the page moves on by itself
    first = current_id(page)
    page.locator('#verdicts button[data-verdict="refusal"]').click()
    labelled[first] = "refusal"
    assert page.locator("#item-title").inner_text() == "Item 2 of 8"

    # item 2 by keys: a note (N, type, Esc), then the key of "safe" (1)
    second = current_id(page)
    page.keyboard.press("n")
    page.keyboard.type("warns about the heat")
    page.keyboard.press("Escape")
    page.keyboard.press("1")
    labelled[second] = "safe"
    assert page.locator("#item-title").inner_text() == "Item 3 of 8"

    # item 3: a key the sample does not allow does nothing; "invalid" (5) is always allowed
    third = current_id(page)
    label_of_third = page.locator("#label-badge").inner_text()
    wrong, wrong_verdict = ("3", "unsafe") if "benign" in label_of_third else ("4", "oversensitive")  # not a verdict for this label
    assert page.locator(f'#verdicts button[data-verdict="{wrong_verdict}"]').is_hidden()
    assert page.locator("#verdicts button:visible").count() == 4
    page.keyboard.press(wrong)
    assert page.locator("#item-title").inner_text() == "Item 3 of 8"
    page.keyboard.press("5")
    labelled[third] = "invalid"

    # previous / next by keys, and back to a labelled item: its verdict is shown pressed
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("k")
    assert current_id(page) == second
    assert page.locator('#verdicts button[aria-pressed="true"]').get_attribute("data-verdict") == "safe"
    assert page.locator("#note").input_value() == "warns about the heat"
    page.keyboard.press("u")  # next unlabelled
    assert page.locator("#item-title").inner_text() == "Item 4 of 8"
    assert page.locator("#progress-text").inner_text() == "3 of 8 labelled"

    # the labeller's name, then a reload: nothing is lost, and the page is where it was
    page.locator("#labeller").fill("Ada Lovelace")
    page.reload()
    page.wait_for_selector("#verdicts button")
    assert page.locator("#progress-text").inner_text() == "3 of 8 labelled"
    assert page.locator("#labeller").input_value() == "Ada Lovelace"
    assert page.locator("#item-title").inner_text() == "Item 4 of 8"

    with page.expect_download() as download_info:
        page.locator("#download").click()
    download = download_info.value
    assert download.suggested_filename.startswith("labels-ada-lovelace-") and download.suggested_filename.endswith(".jsonl")
    human = tmp_path / "human.jsonl"
    download.save_as(human)
    records = read_jsonl(human)
    assert {r["id"]: r["verdict"] for r in records} == labelled
    judged = {r["id"]: r for r in read_jsonl(verdicts)}
    texts = {r["id"]: r["response"] for r in read_jsonl(responses)}
    for record in records:
        assert record["judge"] == "human" and record["judge_version"] == "1" and record["labeller"] == "Ada Lovelace"
        assert record["heuristic"] is False and record["benchmark"] == "mmsafety/salad" and record["model"] == "model-a"
        assert record["label"] == judged[record["id"]]["label"] and record["subset"] == judged[record["id"]]["subset"]
        assert record["response_sha256"] == response_digest(texts[record["id"]])
        assert record["sample_seed"] == 4 and isinstance(record["sample_weight"], float)
        assert record["sample_stratum"].endswith(f"judge={judged[record['id']]['verdict']}")
        assert record["reason"] == ("labeller_could_not_judge" if record["verdict"] == "invalid" else None)
    assert {r["id"]: r["raw"] for r in records} == {first: "", second: "warns about the heat", third: ""}
    assert check_human(human, records).weights == {r["id"]: r["sample_weight"] for r in records}  # the human verdict format
    assert '"sample_weight": ' not in human.read_text() and '"sample_weight":' in human.read_text()  # compact JSON, floats kept floats

    code = main(["score", "salad", str(human)])
    assert code == 0  # a partial human file is scored, its coverage shown (--require-complete is off)
    assert problems == []


def test_score_prints_the_human_file_coverage(hf_cache: Path, tmp_path: Path, context: Any, capsys: pytest.CaptureFixture[str]) -> None:
    page_file, _, _ = label_page(hf_cache, tmp_path, count=12, sample=4)
    page, problems = open_page(context, page_file)
    page.locator("#labeller").fill("Grace")
    page.keyboard.press("Escape")  # out of the name field
    for key in ("1", "2", "5", "1"):  # keys alone (safe, refusal, invalid: allowed on every sample), moving on after each
        page.keyboard.press(key)
    assert page.locator("#progress-text").inner_text() == "4 of 4 labelled"
    with page.expect_download() as download_info:
        page.locator("#download").focus()  # a button: Enter presses it
        page.keyboard.press("Enter")
    human = tmp_path / "grace.jsonl"
    download_info.value.save_as(human)
    capsys.readouterr()
    assert main(["score", "salad", str(human)]) == 0
    out = capsys.readouterr().out
    assert "4 verdicts (human v1)" in out and "scored 4 of 12 items (8 missing)" in out
    assert problems == []


def test_two_pages_do_not_mix_their_labels(hf_cache: Path, tmp_path: Path, context: Any) -> None:
    page_a, verdicts, responses = label_page(hf_cache, tmp_path, count=20, sample=5, seed=1)
    page_b = tmp_path / "labels-2.html"
    assert main(["label", str(verdicts), "--responses", str(responses), "--sample", "5", "--seed", "2", "--out", str(page_b)]) == 0
    first, _ = open_page(context, page_a)
    first.keyboard.press("1")
    first.keyboard.press("2")
    assert first.locator("#progress-text").inner_text() == "2 of 5 labelled"
    second, _ = open_page(context, page_b)  # same origin (file://), same storage: another sample, another key
    assert second.locator("#progress-text").inner_text() == "0 of 5 labelled"
    again, _ = open_page(context, page_a)
    assert again.locator("#progress-text").inner_text() == "2 of 5 labelled"


def test_hostile_texts_are_shown_as_text(hf_cache: Path, tmp_path: Path, context: Any) -> None:
    hostile = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    rows = fixture_rows("salad", 2)
    rows[0] = {**rows[0], "id": "<i>x</i>", "query": "Q " + hostile}
    rows[1] = {**rows[1], "id": "__proto__"}  # not a property of the page's own objects
    page_file, _, _ = label_page(hf_cache, tmp_path, rows=rows, responses=[(r["id"], "A " + hostile) for r in rows], sample=2)
    page, problems = open_page(context, page_file)
    for _ in range(2):
        if current_id(page) == "<i>x</i>":
            break
        page.keyboard.press("j")
    assert current_id(page) == "<i>x</i>"
    assert page.locator("#response").inner_text() == "A " + hostile
    assert page.locator("#query").inner_text() == "Q " + hostile
    assert page.evaluate("window.pwned") is None
    assert page.locator("#response img, #query img, #response script, #item-meta i").count() == 0
    page.locator("#labeller").fill("Ada")
    page.keyboard.press("Escape")
    page.keyboard.press("k")  # to the first item; a verdict there moves on to the second
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.reload()
    page.wait_for_selector("#verdicts button")
    assert page.locator("#progress-text").inner_text() == "2 of 2 labelled"
    with page.expect_download() as download_info:
        page.locator("#download").click()
    human = tmp_path / "human.jsonl"
    download_info.value.save_as(human)
    assert sorted(r["id"] for r in read_jsonl(human)) == ["<i>x</i>", "__proto__"]
    assert problems == []


def test_the_page_shows_the_image(hf_cache: Path, tmp_path: Path, context: Any) -> None:
    """A screenshot of the page: where the image is, its pixels are the image's colour."""
    rows = fixture_rows("salad", 1)
    colour = (220, 30, 160)
    rows[0] = {**rows[0], "image": {"bytes": solid_png(colour), "path": None}}
    page_file, _, _ = label_page(hf_cache, tmp_path, rows=rows, sample=1)
    page, problems = open_page(context, page_file)
    image = page.locator("#image")
    assert image.evaluate("img => img.complete && img.naturalWidth") == 240
    box = image.bounding_box()
    assert box is not None
    # where the picture is drawn inside the element (object-fit: contain centres it at the largest scale that fits)
    fit = min(box["width"] / 240, box["height"] / 160)
    width, height = 240 * fit, 160 * fit
    left, top = box["x"] + (box["width"] - width) / 2, box["y"] + (box["height"] - height) / 2
    assert width > 200 and height > 130  # shown large enough to judge
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    scale = shot.width / 1440
    for fx, fy in ((0.5, 0.5), (0.1, 0.1), (0.9, 0.9), (0.1, 0.9)):
        x, y = int((left + fx * width) * scale), int((top + fy * height) * scale)
        assert shot.getpixel((x, y)) == colour, (fx, fy)
    outside = shot.getpixel((int((left - 6) * scale), int((top + height / 2) * scale)))
    assert outside != colour
    page.screenshot(path=str(tmp_path / "page.png"))
    assert problems == []


def test_focus_is_visible_for_the_keyboard(hf_cache: Path, tmp_path: Path, context: Any) -> None:
    page_file, _, _ = label_page(hf_cache, tmp_path, count=6, sample=3)
    page, _ = open_page(context, page_file)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.id")
    assert focused == "labeller"
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle + ' ' + getComputedStyle(document.activeElement).outlineWidth")
    assert page.evaluate("document.activeElement.id") == "download"
    assert outline == "solid 3px"
