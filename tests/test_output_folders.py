"""The folders `evaluate`, `report`, `audit` and `demo` write: a new or empty folder or their own
earlier output, never a folder holding anything else (the rule of mmsafety.data.outdir)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.judging import build_fixture, write_responses

from mmsafety.cli import main
from mmsafety.data.outdir import MARKER, prepare_output_dir


@pytest.fixture
def salad(hf_cache: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    rows = build_fixture(hf_cache, "salad", count=6)
    capsys.readouterr()
    return rows


def verdicts_of(rows: list[dict[str, Any]], benchmark: str = "mmsafety/salad") -> list[dict[str, Any]]:
    return [
        {"id": r["id"], "verdict": "safe", "label": r["label"], "category": r["category"], "subset": r["subset"],
         "judge": "rules", "judge_version": "1", "benchmark": benchmark, "model": "m"}
        for r in rows
    ]


def user_folder(folder: Path) -> dict[str, bytes]:
    """A folder a user owns (records, notes/, .git); returns every file's bytes."""
    (folder / "notes").mkdir(parents=True)
    (folder / ".git").mkdir()
    (folder / "records.csv").write_text("id,image,query,label\n1,a.png,q,unsafe\n", encoding="utf-8")
    (folder / "notes" / "todo.md").write_text("- check the labels\n", encoding="utf-8")
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    return snapshot(folder)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def earlier_output(folder: Path, kind: str, files: dict[str, str]) -> None:
    """An earlier mmsafety output of ``kind`` in ``folder`` that wrote ``files``."""
    with prepare_output_dir(folder, kind) as out:
        for name, text in files.items():
            out.file(name).write_text(text, encoding="utf-8")


def run(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def evaluate(salad: list[dict[str, Any]], tmp_path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    responses = write_responses(tmp_path / "r.jsonl", [(r["id"], "I cannot help with that.") for r in salad])
    return run(capsys, "evaluate", "salad", "--responses", responses, "--out", out, "--no-progress")


def report(salad: list[dict[str, Any]], tmp_path: Path, out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    verdicts = write_responses(tmp_path / "v.jsonl", verdicts_of(salad))
    return run(capsys, "report", verdicts, "--out", out)


# ------------------------------------------------------------------ evaluate


def test_evaluate_into_a_folder_of_user_files_exits_2_and_touches_nothing(salad: list[dict[str, Any]], tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    before = user_folder(tmp_path / "project")
    code, _, err = evaluate(salad, tmp_path, tmp_path / "project", capsys)
    assert code == 2 and str(tmp_path / "project") in err and "mmsafety did not write" in err
    assert snapshot(tmp_path / "project") == before


def test_evaluate_reruns_into_its_own_earlier_output(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate(salad, tmp_path, tmp_path / "eval", capsys)[0] == 0
    (tmp_path / "eval" / "verdicts.jsonl").unlink()  # a file mmsafety listed may be gone (one changed since is refused)
    code, _, err = evaluate(salad, tmp_path, tmp_path / "eval", capsys)
    assert code == 0, err
    assert len((tmp_path / "eval" / "verdicts.jsonl").read_text(encoding="utf-8").splitlines()) == 6


def test_evaluate_removes_the_files_of_its_earlier_output_it_no_longer_writes(salad: list[dict[str, Any]], tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    earlier_output(tmp_path / "eval", "evaluate", {"verdicts.jsonl": "", "old-benchmark-headline.png": "png"})
    assert evaluate(salad, tmp_path, tmp_path / "eval", capsys)[0] == 0
    assert not (tmp_path / "eval" / "old-benchmark-headline.png").exists()
    assert "old-benchmark-headline.png" not in json.loads((tmp_path / "eval" / MARKER).read_text(encoding="utf-8"))["files"]


def test_evaluate_refused_before_judging_leaves_no_folder(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    responses = write_responses(tmp_path / "r.jsonl", [("no-such-id", "I cannot help with that.")])
    code, _, _ = run(capsys, "evaluate", "salad", "--responses", responses, "--out", tmp_path / "eval", "--no-progress")
    assert code == 2 and not (tmp_path / "eval").exists()


# ------------------------------------------------------------------ report


def test_report_into_a_folder_of_user_files_exits_2_and_touches_nothing(salad: list[dict[str, Any]], tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    before = user_folder(tmp_path / "project")
    code, _, err = report(salad, tmp_path, tmp_path / "project", capsys)
    assert code == 2 and str(tmp_path / "project") in err
    assert snapshot(tmp_path / "project") == before


def test_report_reruns_into_its_own_earlier_output(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report(salad, tmp_path, tmp_path / "r", capsys)[0] == 0
    (tmp_path / "r" / "report.md").unlink()  # gone is fine; changed since is refused (tests/test_output_hostile.py)
    code, _, err = report(salad, tmp_path, tmp_path / "r", capsys)
    assert code == 0, err
    assert (tmp_path / "r" / "report.md").read_text(encoding="utf-8").startswith("# ")


def test_report_removes_the_charts_of_a_benchmark_no_longer_reported(salad: list[dict[str, Any]], hf_cache: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    aware = build_fixture(hf_cache, "mmsafeaware", count=6)
    both = [write_responses(tmp_path / "salad.jsonl", verdicts_of(salad)),
            write_responses(tmp_path / "aware.jsonl", verdicts_of(aware, "mmsafety/mmsafeaware"))]
    assert run(capsys, "report", *both, "--out", tmp_path / "r")[0] == 0
    assert (tmp_path / "r" / "mmsafeaware-headline.png").is_file()
    assert run(capsys, "report", both[0], "--out", tmp_path / "r")[0] == 0
    assert not list((tmp_path / "r").glob("mmsafeaware-*")) and (tmp_path / "r" / "salad-headline.png").is_file()


def test_report_into_an_evaluate_folder_is_refused(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate(salad, tmp_path, tmp_path / "eval", capsys)[0] == 0
    before = snapshot(tmp_path / "eval")
    code, _, err = run(capsys, "report", tmp_path / "eval" / "verdicts.jsonl", "--out", tmp_path / "eval")
    assert code == 2 and "holds an earlier mmsafety evaluate output, not a report output" in err
    assert snapshot(tmp_path / "eval") == before


# ------------------------------------------------------------------ audit


def audit(out: Path | None, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run(capsys, "audit", "mmsafety/salad", "--bootstrap", "10", *(["--out", out] if out is not None else []))


def test_audit_into_a_folder_of_user_files_exits_2_and_touches_nothing(salad: list[dict[str, Any]], tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    before = user_folder(tmp_path / "project")
    code, _, err = audit(tmp_path / "project", capsys)
    assert code == 2 and str(tmp_path / "project") in err
    assert snapshot(tmp_path / "project") == before


def test_audit_reruns_into_its_own_earlier_output(salad: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit(tmp_path / "a", capsys)[0] == 0
    (tmp_path / "a" / "audit.json").unlink()  # gone is fine; changed since is refused (tests/test_output_hostile.py)
    code, _, err = audit(tmp_path / "a", capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "a" / "audit.json").read_text(encoding="utf-8"))["dataset"]["rows"] == 6


def test_audit_removes_the_files_of_its_earlier_output_it_no_longer_writes(salad: list[dict[str, Any]], tmp_path: Path,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    earlier_output(tmp_path / "a", "audit", {"audit.json": "{}", "audit-pairs.csv": "a,b\n"})
    assert audit(tmp_path / "a", capsys)[0] == 0
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [MARKER, "audit.json", "audit.md"]


def test_audit_without_out_writes_a_folder_named_after_the_set(salad: list[dict[str, Any]], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "notes.md").write_text("mine", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "work")
    code, out, err = audit(None, capsys)
    assert code == 0, err
    assert (tmp_path / "work" / "audit-salad" / "audit.json").is_file() and "audit-salad/audit.json" in out


# ------------------------------------------------------------------ demo


def test_demo_into_a_folder_of_user_files_exits_2_and_touches_nothing(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = user_folder(tmp_path / "project")
    code, _, err = run(capsys, "demo", "--out", tmp_path / "project")
    assert code == 2 and str(tmp_path / "project") in err
    assert snapshot(tmp_path / "project") == before


def test_demo_reruns_into_its_own_earlier_output(hf_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "demo", "--out", tmp_path / "demo")[0] == 0
    first = snapshot(tmp_path / "demo")
    (tmp_path / "demo" / "report.md").unlink()  # gone is fine; changed since is refused (tests/test_output_hostile.py)
    code, _, err = run(capsys, "demo", "--out", tmp_path / "demo")
    assert code == 0, err
    assert set(snapshot(tmp_path / "demo")) == set(first) and (tmp_path / "demo" / "report.md").read_text(encoding="utf-8").startswith("# ")


def test_demo_removes_the_files_of_its_earlier_output_it_no_longer_writes(hf_cache: Path, tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    earlier_output(tmp_path / "demo", "demo", {"responses/retired-model.jsonl": "", "report.md": "old"})
    assert run(capsys, "demo", "--out", tmp_path / "demo")[0] == 0
    assert not (tmp_path / "demo" / "responses" / "retired-model.jsonl").exists()
    assert (tmp_path / "demo" / "report.md").read_text(encoding="utf-8") != "old"
