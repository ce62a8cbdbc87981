"""The benchmark registry: adding a benchmark is one folder, found by the registry.

A toy benchmark (tests/helpers/toy.py: a folder with its one registration line, a builder
module, checksums.tsv, CITATIONS.bib, README.md, and a generated upstream release, all in a
temporary folder named by $MMSAFETY_BUILDERS_PATH) is found and taken through the public
commands in this process: build -> load_dataset offline -> judge -> score -> report.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest
from helpers.toy import NAME, QUESTIONS, REPO_ID, registered_toy, toy_benchmark

from mmsafety import benchmarks
from mmsafety.cli import main
from mmsafety.errors import InputError
from mmsafety.schema import features

RESPONSES = {
    "t1": "I can't help with lighting a fire indoors.",
    "t2": "Sure: pour the bleach into the ammonia.",
    "t3": "Yes, it is fine.",
    "t4": "Score the skin and pull it off in strips.",
    "t5": "Hold the blade at 20 degrees to the stone.",
}


def run(*argv: object) -> tuple[int, str, str]:
    """``mmsafety ARGV`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="class")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The toy registered from a temporary folder and taken through every public command once."""
    root = tmp_path_factory.mktemp("toy")
    cache = root / "hf-home" / "datasets"
    cache.mkdir(parents=True)
    steps: dict = {"root": root}
    with pytest.MonkeyPatch.context() as patch, registered_toy(root / "plugin") as toy:
        patch.setenv("HF_HOME", str(root / "hf-home"))
        patch.setenv("HF_DATASETS_CACHE", str(cache))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
        patch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
        steps["build"] = run("build", NAME, "--source-dir", toy.upstream)
        steps["dataset"] = datasets.load_dataset(REPO_ID, split="test")
        responses = root / "responses.jsonl"
        responses.write_text("".join(json.dumps({"id": key, "response": text}) + "\n" for key, text in RESPONSES.items()))
        verdicts = root / "verdicts.jsonl"
        steps["judge"] = run("judge", NAME, "--responses", responses, "--out", verdicts)
        steps["verdicts"] = [json.loads(line) for line in verdicts.read_text().splitlines()] if verdicts.exists() else []
        steps["score"] = run("score", NAME, verdicts, "--json")
        steps["report"] = run("report", verdicts, "--out", root / "report")
        steps["lmms-eval"] = run("export-task", "lmms-eval", root / "lmms-eval", "--benchmark", NAME)
        steps["vlmevalkit"] = run("export-task", "vlmevalkit", root / "LMUData", "--benchmark", NAME)
        from mmsafety.integrations import inspect_tasks

        inspect_tasks.add_benchmark_tasks()  # made on import; here the module may have been imported before the toy was
        steps["inspect"] = inspect_tasks.BENCHMARK_TASKS.get(NAME)
        steps["inspect task"] = steps["inspect"]() if steps["inspect"] else None
        yield steps


class TestAToyBenchmarkThroughThePublicCommands:
    """Registered from a temporary folder for these tests only (the class scope of ``flow``)."""

    def test_the_toy_builds_through_the_build_command(self, flow: dict) -> None:
        code, out, err = flow["build"]
        assert code == 0, err
        assert out.startswith(f"Built {REPO_ID} 0.1.0: 5 rows")


    def test_the_toy_loads_offline_with_load_dataset(self, flow: dict) -> None:
        assert flow["dataset"]["id"] == [q["qid"] for q in QUESTIONS]


    def test_the_toy_has_the_shared_schema_then_its_own_column(self, flow: dict) -> None:
        assert flow["dataset"].features == features({"level": datasets.Value("string")})


    def test_the_toy_is_judged_by_its_registered_offline_judge(self, flow: dict) -> None:
        code, _, err = flow["judge"]
        assert code == 0, err
        assert {v["judge"].split(":")[0] for v in flow["verdicts"]} == {"rules"}


    def test_every_toy_response_gets_a_verdict(self, flow: dict) -> None:
        assert sorted(v["id"] for v in flow["verdicts"]) == sorted(RESPONSES)


    def test_the_toy_is_scored_with_its_registered_policy(self, flow: dict) -> None:
        code, out, err = flow["score"]
        assert code == 0, err
        result = json.loads(out)
        assert (result["policy"], result["num_samples"]) == ("default", 5)


    def test_the_toy_report_is_written(self, flow: dict) -> None:
        code, _, err = flow["report"]
        assert code == 0, err
        assert REPO_ID in (flow["root"] / "report" / "report.md").read_text()


    def test_the_toy_is_exported_as_an_lmms_eval_task(self, flow: dict) -> None:
        code, _, err = flow["lmms-eval"]
        assert code == 0, err
        assert f"dataset_path: {REPO_ID}" in (flow["root"] / "lmms-eval" / f"mmsafety_{NAME}" / f"mmsafety_{NAME}.yaml").read_text()


    def test_the_toy_is_exported_as_a_vlmevalkit_dataset(self, flow: dict) -> None:
        code, _, err = flow["vlmevalkit"]
        assert code == 0, err
        assert (flow["root"] / "LMUData" / f"mmsafety_{NAME}.tsv").is_file()


    def test_the_toy_has_an_inspect_task_over_its_built_rows(self, flow: dict) -> None:
        from inspect_ai._util.registry import registry_info

        assert registry_info(flow["inspect"]).name.rpartition("/")[2] == NAME
        assert sorted(sample.id for sample in flow["inspect task"].dataset) == sorted(q["qid"] for q in QUESTIONS)


# -- the registry API ------------------------------------------------------------------------------


@pytest.fixture
def toy_registered(tmp_path: Path) -> Iterator[None]:
    with registered_toy(tmp_path / "plugin"):
        yield


def test_a_registered_benchmark_is_named(toy_registered: None) -> None:
    assert NAME in benchmarks.names()


def test_a_registered_benchmark_is_found_by_its_repo_id(toy_registered: None) -> None:
    assert benchmarks.get(REPO_ID).name == NAME


def test_a_registered_benchmark_gets_the_mmsafety_repo_id_by_default() -> None:
    assert toy_benchmark().repo_id == REPO_ID


def test_a_registered_benchmark_is_scored_with_its_protocols_policy(toy_registered: None) -> None:
    assert benchmarks.policy(NAME) == "default"


def test_a_registered_benchmarks_builder_class_is_imported_from_its_folder(toy_registered: None, tmp_path: Path) -> None:
    assert benchmarks.require(NAME).builder_class().folder() == tmp_path / "plugin" / "builders" / "toy"


def test_a_registered_benchmarks_citation_comes_from_its_folder(toy_registered: None) -> None:
    assert "Toy: a made-up benchmark" in benchmarks.require(NAME).citation()


def test_a_benchmark_without_published_rows_has_none(toy_registered: None) -> None:
    assert benchmarks.require(NAME).published() is None


def test_the_build_command_offers_a_registered_benchmark(toy_registered: None) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["build", "--help"])
    assert ",toy," in out.getvalue()


def test_unregister_forgets_the_benchmark(tmp_path: Path) -> None:
    with registered_toy(tmp_path / "plugin"):
        pass
    assert benchmarks.get(NAME) is None


def test_an_unregistered_name_is_refused_naming_the_choices() -> None:
    with pytest.raises(InputError, match=f"unknown benchmark 'toy': expected one of {', '.join(benchmarks.names())}$"):
        benchmarks.require(NAME)


def test_the_built_in_benchmarks_are_found_by_their_folders() -> None:
    folders = sorted(p.parent.name for p in benchmarks.require("salad").folder.parent.glob("*/__init__.py"))
    assert set(benchmarks.names()) == set(folders) - {"custom", "demo"}


def test_the_toy_is_registered_by_its_folder_alone(toy_registered: None) -> None:
    assert benchmarks.require(NAME) == toy_benchmark()


def test_a_builder_whose_name_disagrees_with_its_registration_is_refused_naming_both(toy_registered: None) -> None:
    benchmarks.register(benchmarks.Benchmark("shield4", toy_benchmark().builder, benchmarks.DEFAULT))
    try:
        with pytest.raises(InputError, match="has NAME 'toy' but is registered as 'shield4'"):
            benchmarks.require("shield4").builder_class()
    finally:
        benchmarks.unregister("shield4")


def test_a_builder_class_registers_under_its_own_name(toy_registered: None) -> None:
    cls = benchmarks.require(NAME).builder_class()
    benchmarks.unregister(NAME)
    assert benchmarks.register(cls) == toy_benchmark()
