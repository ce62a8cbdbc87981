"""MMSafeAware's `full` configuration through every command: respond's set, judge, score, report,
export-task and a Hub export of both configurations; verdict files record their configuration and
are checked against it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import datasets
import pytest
from helpers.env import UPSTREAM
from helpers.judging import read_jsonl, write_responses
from helpers.mmsafeaware import BUILT, ITEMS, NO_IMAGE, Fixture, write_mmsafeaware
from huggingface_hub import DatasetCard

from mmsafety.cli import main
from mmsafety.data.build import build, build_configurations
from mmsafety.errors import InputError
from mmsafety.runs.checks import check_verdicts
from mmsafety.runs.samples import load_samples


@pytest.fixture
def fixture(tmp_path: Path) -> Fixture:
    return write_mmsafeaware(tmp_path / "mmsafeaware")


@pytest.fixture
def both(fixture: Fixture, hf_cache: Path) -> Fixture:
    """The fixture built in both configurations."""
    for config in ("default", "full"):
        build("mmsafeaware", source_dir=fixture.folder, checksums=fixture.checksums, config=config)
    return fixture


def cli(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def answers(items: object, tmp_path: Path, name: str = "responses.jsonl") -> Path:
    """A "No" to every unsafe item and a "Yes" to every over-safety item: all correct."""
    return write_responses(tmp_path / name, [(str(item.id), "No." if item.label == "unsafe" else "Yes.") for item in items])


def judged(capsys: pytest.CaptureFixture[str], tmp_path: Path, config: str | None, items: object = ITEMS, name: str = "v.jsonl") -> Path:
    out = tmp_path / name
    flags = ["--config", config] if config else []
    code, _, err = cli(capsys, "judge", "mmsafeaware", *flags, "--responses", answers(items, tmp_path, f"r-{name}"), "--out", out)
    assert code == 0, err
    return out


def tsv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


# -- judge ---------------------------------------------------------------------------------------------
def test_judging_ids_of_the_full_configuration_needs_config_full(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "judge", "mmsafeaware", "--responses", answers(ITEMS, tmp_path), "--out", tmp_path / "v.jsonl")
    assert code == 2 and "not in benchmark" in err
    assert not (tmp_path / "v.jsonl").exists()


def test_judge_with_config_full_accepts_every_id_of_full(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = read_jsonl(judged(capsys, tmp_path, "full"))
    assert [r["id"] for r in records] == [str(item.id) for item in ITEMS]
    assert {r["benchmark_config"] for r in records} == {"full"}
    assert {r["verdict"] for r in records} == {"safe"}


def test_judge_names_the_configuration_in_its_summary(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "judge", "mmsafeaware", "--config", "full", "--responses", answers(ITEMS, tmp_path), "--out", tmp_path / "v.jsonl", "--json")
    assert code == 0, err
    assert json.loads(out)["benchmark_config"] == "full" and json.loads(out)["samples"] == len(ITEMS)


def test_judge_of_the_default_configuration_records_it(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert {r["benchmark_config"] for r in read_jsonl(judged(capsys, tmp_path, None, BUILT))} == {"default"}


def test_an_unknown_configuration_is_one_error_line(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "judge", "mmsafeaware", "--config", "fullest", "--responses", answers(ITEMS, tmp_path), "--out", tmp_path / "v.jsonl")
    assert code == 2
    assert "expected a configuration of mmsafeaware among default, full, found 'fullest'" in err


def test_a_configuration_that_is_not_built_names_the_build_command(fixture: Fixture, hf_cache: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    build("mmsafeaware", source_dir=fixture.folder, checksums=fixture.checksums)
    code, _, err = cli(capsys, "judge", "mmsafeaware", "--config", "full", "--responses", answers(ITEMS, tmp_path), "--out", tmp_path / "v.jsonl")
    assert code == 2 and "mmsafety build mmsafeaware --config full" in err


# -- score: the file's configuration, checked ----------------------------------------------------------
def test_score_takes_the_configuration_the_verdicts_record(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = judged(capsys, tmp_path, "full")
    code, out, err = cli(capsys, "score", "mmsafeaware", verdicts, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["benchmark_config"] == "full"
    assert result["coverage"] == {"scored": len(ITEMS), "total": len(ITEMS), "missing": 0, "complete": True}
    assert result["over_safety_accuracy_denominator"] == sum(item.subset == "over-safety" for item in ITEMS)


def test_verdicts_of_full_scored_against_default_are_refused_naming_both(both: Fixture, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = judged(capsys, tmp_path, "full")
    code, out, err = cli(capsys, "score", "mmsafeaware", verdicts, "--config", "default")
    assert code == 2 and out == ""
    assert "judged mmsafety/mmsafeaware (configuration full), not mmsafety/mmsafeaware as --config says" in err


def test_verdicts_of_default_scored_against_full_are_refused(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = judged(capsys, tmp_path, None, BUILT)
    with pytest.raises(InputError, match=r"judged mmsafety/mmsafeaware, not mmsafety/mmsafeaware \(configuration full\)"):
        check_verdicts(verdicts, "mmsafeaware", "full")


def test_a_file_without_the_field_is_read_as_default(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = judged(capsys, tmp_path, None, BUILT)
    old = tmp_path / "old.jsonl"
    old.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "benchmark_config"}) + "\n" for r in read_jsonl(verdicts)))
    checked = check_verdicts(old, "mmsafeaware")
    assert checked.config == "default" and checked.coverage.total == len(BUILT)
    with pytest.raises(InputError, match="configuration full"):
        check_verdicts(old, "mmsafeaware", "full")


def test_a_file_of_two_configurations_is_refused_naming_the_line(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = read_jsonl(judged(capsys, tmp_path, None, BUILT))
    records[3]["benchmark_config"] = "full"
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(InputError, match=r"line 4: the record judged configuration 'full', the first record 'default'"):
        check_verdicts(mixed, "mmsafeaware")


def test_load_samples_reads_the_configuration_asked_for(both: Fixture) -> None:
    full = load_samples("mmsafeaware", "full")
    assert full.config == "full" and list(full.samples) == [str(item.id) for item in ITEMS]
    assert all(full.samples[i].image_loader is not None for i in NO_IMAGE)
    assert len(load_samples("mmsafeaware").samples) == len(BUILT)


# -- report ----------------------------------------------------------------------------------------------
def report_text(capsys: pytest.CaptureFixture[str], tmp_path: Path, verdicts: Path) -> str:
    code, _, err = cli(capsys, "report", verdicts, "--out", tmp_path / "report")
    assert code == 0, err
    return (tmp_path / "report" / "report.md").read_text()


def test_the_report_names_the_configuration_and_its_items(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = report_text(capsys, tmp_path, judged(capsys, tmp_path, "full"))
    assert "# Safety report: mmsafety/mmsafeaware (configuration full)" in text
    assert f"configuration `full`: {len(ITEMS)} items in the built set (attack 2, over-safety 7, typical 4 scored)" in text
    scores = json.loads((tmp_path / "report" / "scores.json").read_text())
    assert scores["benchmarks"]["mmsafety/mmsafeaware:full"]["benchmark_config"] == "full"


def test_on_full_the_published_rows_sit_beside_ours(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = report_text(capsys, tmp_path, judged(capsys, tmp_path, "full"))
    assert "counted on configuration `full` as these runs are" in text
    assert "Not comparable" not in text


def test_on_default_the_published_rows_are_shown_apart_with_a_note(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = report_text(capsys, tmp_path, judged(capsys, tmp_path, None, BUILT))
    assert f"Not comparable: published on full (1,523 items); this run: default ({len(BUILT)})." in text
    assert "| model | source |" not in text.split("## Compared with the paper")[1].split("##")[0]


def test_a_report_of_both_configurations_keeps_them_apart(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = judged(capsys, tmp_path, "full", name="full.jsonl")
    default = judged(capsys, tmp_path, None, BUILT, name="default.jsonl")
    code, _, err = cli(capsys, "report", full, default, "--out", tmp_path / "report")
    assert code == 0, err
    scores = json.loads((tmp_path / "report" / "scores.json").read_text())
    assert sorted(scores["benchmarks"]) == ["mmsafety/mmsafeaware", "mmsafety/mmsafeaware:full"]
    assert (tmp_path / "report" / "mmsafeaware-full-headline.pdf").is_file() and (tmp_path / "report" / "mmsafeaware-headline.pdf").is_file()


def test_report_refuses_verdicts_of_another_configuration_than_config(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verdicts = judged(capsys, tmp_path, "full")
    code, _, err = cli(capsys, "report", verdicts, "--config", "default", "--out", tmp_path / "report")
    assert code == 2 and "configuration full" in err
    assert not (tmp_path / "report").exists()


def test_evaluate_with_config_full(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "evaluate", "mmsafeaware", "--config", "full", "--responses", answers(ITEMS, tmp_path), "--out", tmp_path / "run")
    assert code == 0, err
    assert {r["benchmark_config"] for r in read_jsonl(tmp_path / "run" / "verdicts.jsonl")} == {"full"}
    assert f"scored {len(ITEMS)} of {len(ITEMS)} items" in out


def test_export_task_reads_the_configuration(both: Fixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "export-task", "vlmevalkit", tmp_path / "tasks", "--benchmark", "mmsafeaware", "--config", "full")
    assert code == 0, err
    (tsv,) = (tmp_path / "tasks").glob("*.tsv")
    assert [row["id"] for row in tsv_rows(tsv)] == [str(item.id) for item in ITEMS]


# -- build: both configurations in one Hub repository -----------------------------------------------------
def test_both_configurations_export_into_one_hub_repository(fixture: Fixture, hf_cache: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "hub"
    code, out, err = cli(capsys, "build", "mmsafeaware", "--config", "all", "--source-dir", fixture.folder,
                         "--checksums", fixture.checksums, "--export", export)
    assert code == 0, err
    card = DatasetCard.load(export / "README.md")
    assert [(c["config_name"], c["data_files"][0]["path"]) for c in card.data.configs] == [
        ("default", "data/default/test-*"), ("full", "data/full/test-*")]
    assert [info["config_name"] for info in card.data.dataset_info] == ["default", "full"]
    assert {i["config_name"]: i["splits"][0]["num_examples"] for i in card.data.dataset_info} == {"default": len(BUILT), "full": len(ITEMS)}
    assert "## Configurations" in card.text
    full = datasets.load_dataset(str(export), "full", split="test")
    assert full["id"] == [str(item.id) for item in ITEMS]
    assert datasets.load_dataset(str(export), split="test")["id"] == [str(item.id) for item in BUILT]


def test_a_two_configuration_export_feeds_export_task(fixture: Fixture, hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "hub"
    build_configurations("mmsafeaware", ["full", "default"], source_dir=fixture.folder, checksums=fixture.checksums, export_dir=export)
    code, _, err = cli(capsys, "export-task", "vlmevalkit", tmp_path / "tasks", "--benchmark", "mmsafeaware", "--config", "full",
                       "--parquet", f"mmsafeaware={export}")
    assert code == 0, err
    (tsv,) = (tmp_path / "tasks").glob("*.tsv")
    assert [row["id"] for row in tsv_rows(tsv)] == [str(item.id) for item in ITEMS]
    code, _, err = cli(capsys, "export-task", "vlmevalkit", tmp_path / "default", "--benchmark", "mmsafeaware", "--parquet", f"mmsafeaware={export}")
    assert code == 0, err
    (tsv,) = (tmp_path / "default").glob("*.tsv")
    assert [row["id"] for row in tsv_rows(tsv)] == [str(item.id) for item in BUILT]


def test_a_configuration_an_export_lacks_is_refused(fixture: Fixture, hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build("mmsafeaware", source_dir=fixture.folder, checksums=fixture.checksums, export_dir=tmp_path / "hub")
    code, _, err = cli(capsys, "export-task", "vlmevalkit", tmp_path / "tasks", "--benchmark", "mmsafeaware", "--config", "full",
                       "--parquet", f"mmsafeaware={tmp_path / 'hub'}")
    assert code == 2 and "expected configuration 'full' in the export, found 'default'" in err
    assert not (tmp_path / "tasks").exists()


# -- the real upstream --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_both(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = UPSTREAM / "mmsafeaware"
    if not source.is_dir():
        pytest.skip(f"the upstream copy is not at {source} (it sits beside the checkout as ../shared/upstream)")
    root = tmp_path_factory.mktemp("real")
    monkeypatch = pytest.MonkeyPatch()
    for name, value in (("HF_HOME", root / "hf"), ("HF_DATASETS_CACHE", root / "hf" / "datasets"), ("HF_HUB_OFFLINE", "1")):
        monkeypatch.setenv(name, str(value))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", root / "hf" / "datasets")
    build_configurations("mmsafeaware", ["default", "full"], source_dir=source, allow_missing_images=True)
    yield root
    monkeypatch.undo()


def test_the_real_full_configuration_is_judged_and_reported_on_the_papers_counts(real_both: Path, tmp_path: Path,
                                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    samples = load_samples("mmsafeaware", "full").samples
    assert len(samples) == 1523
    responses = write_responses(tmp_path / "r.jsonl", [(i, "No." if s.label == "unsafe" else "Yes.") for i, s in samples.items()])
    code, _, err = cli(capsys, "judge", "mmsafeaware", "--responses", responses, "--out", tmp_path / "v.jsonl")
    assert code == 2 and "77 id(s) not in" in err
    code, _, err = cli(capsys, "judge", "mmsafeaware", "--config", "full", "--responses", responses, "--out", tmp_path / "v.jsonl")
    assert code == 0, err
    code, _, err = cli(capsys, "report", tmp_path / "v.jsonl", "--out", tmp_path / "report")
    assert code == 0, err
    text = (tmp_path / "report" / "report.md").read_text()
    assert "configuration `full`: 1,523 items in the built set (attack 855, over-safety 497, typical 171 scored)" in text
    assert "counted on configuration `full` as these runs are" in text


def test_the_real_default_configuration_is_not_set_beside_the_papers_rows(real_both: Path, tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    samples = load_samples("mmsafeaware").samples
    responses = write_responses(tmp_path / "r.jsonl", [(i, "No.") for i in samples])
    code, _, err = cli(capsys, "evaluate", "mmsafeaware", "--responses", responses, "--out", tmp_path / "run")
    assert code == 0, err
    text = (tmp_path / "run" / "report.md").read_text()
    assert "Not comparable: published on full (1,523 items); this run: default (1,446)." in text
