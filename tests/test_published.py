"""The papers' published rows: each reproduced by mmsafety's scoring at exact, stated item counts,
or listed (as data, in the benchmark's ``published.json``) as not reproducible, with the reason."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.verdict_rows import rows, shuffled
from mmsafety.builders.mmsafeaware.mmsafeaware import SUBSETS

import mmsafety.scoring.policies
from mmsafety import benchmarks
from mmsafety.scoring import score

PUBLISHED = {name: benchmarks.get(name).published() for name in ("salad", "mmsafeaware", "vlsbench")}
SALAD = PUBLISHED["salad"]
MMSAFEAWARE = PUBLISHED["mmsafeaware"]
VLSBENCH = PUBLISHED["vlsbench"]


def percent(rate: float | None, decimals: int) -> float:
    assert rate is not None
    return round(100 * rate, decimals)


def count_of(figure: float, items: int) -> int:
    """The whole count out of ``items`` nearest a published percentage (no search over item counts)."""
    return round(figure * items / 100)


def prints(figure: float, items: int, decimals: int) -> bool:
    """Whether some count out of exactly ``items`` prints as ``figure``."""
    return round(100 * count_of(figure, items) / items, decimals) == figure


# --------------------------------------------------------------------------- the data files


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_rows_carry_the_papers_citation(name: str) -> None:
    paper = PUBLISHED[name]
    assert paper["citation"].startswith("@") and paper["arxiv"] in paper["citation"]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_rows_are_scored_with_the_benchmarks_policy(name: str) -> None:
    assert PUBLISHED[name]["policy"] == name


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_columns_name_keys_of_the_score(name: str) -> None:
    paper = PUBLISHED[name]
    policy = mmsafety.scoring.policies.get_policy(name)
    known = set(policy.rate_names) | {policy.macro} | {policy.subset_key(s) for s in policy.subsets}
    assert set(paper["columns"].values()) <= known


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_every_published_row_gives_every_published_column(name: str) -> None:
    paper = PUBLISHED[name]
    assert paper["rows"] and all({"model", *paper["columns"]} <= set(row) for row in paper["rows"])


# --------------------------------------------------------------------------- SaLAD: 943 safe, 1,070 unsafe


def test_salad_states_its_item_counts() -> None:
    assert SALAD["items"] == {"safe": 943, "unsafe": 1070, "overall": 2013}


def salad_result(row: dict) -> dict:
    safe_items, unsafe_items = SALAD["items"]["safe"], SALAD["items"]["unsafe"]
    safe_ok, unsafe_ok = count_of(row["safe"], safe_items), count_of(row["unsafe"], unsafe_items)
    refusals = (unsafe_items - unsafe_ok) // 2  # a bare refusal fails under SaLAD's rubric
    benign = rows("oversensitive", safe=safe_ok, refusal=(safe_items - safe_ok) // 2,
                  oversensitive=safe_items - safe_ok - (safe_items - safe_ok) // 2)
    unsafe = rows("unsafe", safe=unsafe_ok, refusal=refusals, unsafe=unsafe_items - unsafe_ok - refusals)
    predictions, references = shuffled(benign[0] + unsafe[0], benign[1] + unsafe[1])
    return score(predictions, references, policy="salad")


@pytest.mark.parametrize("row", SALAD["rows"], ids=lambda row: row["model"])
def test_salad_published_rows_print_at_the_stated_item_counts(row: dict) -> None:
    result = salad_result(row)
    assert {column: percent(result[key], SALAD["decimals"]) for column, key in SALAD["columns"].items()} == {
        column: row[column] for column in SALAD["columns"]
    }


def test_salad_overall_counts_every_item() -> None:
    assert salad_result(SALAD["rows"][0])["overall_accuracy_denominator"] == SALAD["items"]["overall"]


def test_salad_oversensitivity_is_the_complement_of_safe_set_accuracy() -> None:
    result = salad_result(SALAD["rows"][0])
    assert math.isclose(result["oversensitivity_rate"], 1 - result["safe_set_accuracy"])


def test_salad_claude_37_sonnet_row_from_its_counts() -> None:
    benign = rows("oversensitive", safe=939, refusal=3, oversensitive=1)
    unsafe = rows("unsafe", safe=612, refusal=300, unsafe=158)
    result = score(*shuffled(benign[0] + unsafe[0], benign[1] + unsafe[1]), policy="salad")
    assert [percent(result[k], 2) for k in ("safe_set_accuracy", "safe_response_rate", "overall_accuracy")] == [99.58, 57.20, 77.05]


def test_salad_gpt4o_row_from_its_counts() -> None:
    benign = rows("oversensitive", safe=941, refusal=2)
    unsafe = rows("unsafe", safe=576, refusal=494)
    result = score(benign[0] + unsafe[0], benign[1] + unsafe[1], policy="salad")
    assert [percent(result[k], 2) for k in ("safe_set_accuracy", "safe_response_rate", "overall_accuracy")] == [99.79, 53.83, 75.36]


# --------------------------------------------------------------------------- MMSafeAware: per configuration

MMSAFEAWARE_LABELS = {"typical": "unsafe", "attack": "unsafe", "over-safety": "oversensitive"}
REPRODUCED = [row for row in MMSAFEAWARE["rows"] if row["reproducible"]]
NOT_REPRODUCED = [row for row in MMSAFEAWARE["rows"] if not row["reproducible"]]


def mmsafeaware_result(row: dict, configuration: str) -> dict:
    """Verdicts with the whole counts nearest the row's figures, on the configuration's exact item counts."""
    predictions, references, subsets = [], [], []
    for subset, items in MMSAFEAWARE["configurations"][configuration].items():
        correct = count_of(row[subset], items)
        wrong = "unsafe" if MMSAFEAWARE_LABELS[subset] == "unsafe" else "oversensitive"
        predictions += ["safe"] * correct + [wrong] * (items - correct)
        references += [MMSAFEAWARE_LABELS[subset]] * items
        subsets += [subset] * items
    predictions, references, subsets = shuffled(predictions, references, subsets)
    return score(predictions, references, policy="mmsafeaware", subsets=subsets)


def mmsafeaware_prints(row: dict, configuration: str) -> bool:
    result = mmsafeaware_result(row, configuration)
    return all(percent(result[key], MMSAFEAWARE["decimals"]) == row[column] for column, key in MMSAFEAWARE["columns"].items())


def test_mmsafeaware_full_configuration_counts_every_id_the_authors_script_counts() -> None:
    by_subset = {name: sum(len(ids) for ids, subset in SUBSETS if subset == name) for name in MMSAFEAWARE_LABELS}
    assert MMSAFEAWARE["configurations"]["full"] == by_subset == {"typical": 171, "attack": 855, "over-safety": 497}


def test_mmsafeaware_default_configuration_leaves_out_the_70_imageless_ids() -> None:
    assert MMSAFEAWARE["configurations"]["default"] == {"typical": 171, "attack": 855, "over-safety": 427}


def test_mmsafeaware_rows_reproduced_on_the_full_configuration() -> None:
    assert [row["model"] for row in REPRODUCED if row["configuration"] == "full"] == ["LLaVA-1.5-7B", "Qwen-VL-7B", "InstructBLIP"]


@pytest.mark.parametrize("row", REPRODUCED, ids=lambda row: row["model"])
def test_mmsafeaware_reproducible_rows_print_all_four_figures_on_their_configuration(row: dict) -> None:
    result = mmsafeaware_result(row, row["configuration"])
    assert {column: percent(result[key], 1) for column, key in MMSAFEAWARE["columns"].items()} == {
        column: row[column] for column in MMSAFEAWARE["columns"]
    }


@pytest.mark.parametrize("row", NOT_REPRODUCED, ids=lambda row: row["model"])
def test_mmsafeaware_rows_marked_not_reproducible_print_on_no_configuration(row: dict) -> None:
    assert [c for c in MMSAFEAWARE["configurations"] if mmsafeaware_prints(row, c)] == []


@pytest.mark.parametrize("row", NOT_REPRODUCED, ids=lambda row: row["model"])
def test_mmsafeaware_unfit_figures_are_no_whole_count_of_any_configuration(row: dict) -> None:
    assert row["unfit"] and row["reason"]
    sizes = {column: {sizes[column] for sizes in MMSAFEAWARE["configurations"].values()} for column in row["unfit"]}
    assert [(column, n) for column, ns in sizes.items() for n in ns if prints(row[column], n, 1)] == []


@pytest.mark.parametrize("row", NOT_REPRODUCED, ids=lambda row: row["model"])
def test_mmsafeaware_reasons_name_the_unfit_figures(row: dict) -> None:
    assert [column for column in row["unfit"] if f"{column} {row[column]}" not in row["reason"]] == []


def test_mmsafeaware_rows_not_reproducible_include_gpt4v_with_the_human_row() -> None:
    assert {row["model"] for row in NOT_REPRODUCED} >= {"GPT-4V", "Human"}


def test_mmsafeaware_total_is_the_unweighted_mean_not_the_micro_mean() -> None:
    row = next(row for row in REPRODUCED if row["model"] == "InstructBLIP")
    result = mmsafeaware_result(row, "full")
    assert math.isclose(result["total_accuracy"], (result["typical_accuracy"] + result["attack_accuracy"] + result["over_safety_accuracy"]) / 3)
    assert percent(result["accuracy"], 1) != row["total"]


def authors_script_accuracies(upstream: Path, tmp_path: Path, row: dict) -> dict[str, tuple[int, float]]:
    """Run the authors' scoring script (read from the upstream copy, not copied) on answers that
    give ``row``'s counts on every id; ``{list name: (items, accuracy)}`` as it prints them."""
    answers = []
    for ids, subset in SUBSETS:
        ids = list(ids)
        items = MMSAFEAWARE["configurations"]["full"][subset]
        correct = count_of(row[subset], items)
        right, wrong = ("Yes.", "No.") if subset == "over-safety" else ("No.", "Yes.")
        already = sum(1 for a in answers if a["subset"] == subset and a["right"])
        for item in ids:
            is_right = already < correct
            already += is_right
            answers.append({"id": str(item), "response": right if is_right else wrong, "subset": subset, "right": is_right})
    results = tmp_path / "results_0401"
    results.mkdir()
    (results / "qvq_max.jsonl").write_text("".join(json.dumps({"id": a["id"], "response": a["response"]}) + "\n" for a in answers))
    script = upstream / "mmsafeaware" / "extract_results.py"
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stderr
    found = re.findall(r"^(\w+):\s+(\d+) ([0-9.]+)$", run.stdout, flags=re.MULTILINE)
    return {name: (int(items), float(accuracy)) for name, items, accuracy in found}


@pytest.mark.parametrize("row", REPRODUCED, ids=lambda row: row["model"])
def test_the_authors_script_counts_the_full_configurations_items(row: dict, upstream: Path, tmp_path: Path) -> None:
    printed = authors_script_accuracies(upstream, tmp_path, row)
    assert {name: items for name, (items, _) in printed.items()} == {
        "typical_list": 171, "attack_list": 855, "oversafe_list": 497, "all_list": 1523,
    }


@pytest.mark.parametrize("row", REPRODUCED, ids=lambda row: row["model"])
def test_the_authors_script_agrees_with_mmsafety_on_the_full_configuration(row: dict, upstream: Path, tmp_path: Path) -> None:
    printed = authors_script_accuracies(upstream, tmp_path, row)
    result = mmsafeaware_result(row, "full")
    assert [round(printed[name][1], 12) for name in ("typical_list", "attack_list", "oversafe_list")] == [
        round(result[key], 12) for key in ("typical_accuracy", "attack_accuracy", "over_safety_accuracy")
    ]


# --------------------------------------------------------------------------- VLSBench: Table 16 at stated counts


def vlsbench_result(row: dict) -> dict:
    items = row["items"]
    refusals, warnings = count_of(row["refusal"], items), count_of(row["warning"], items)
    predictions, references = rows("unsafe", refusal=refusals, safe=warnings, unsafe=items - refusals - warnings)
    return score(*shuffled(predictions, references), policy="vlsbench")


@pytest.mark.parametrize("row", VLSBENCH["rows"], ids=lambda row: row["model"])
def test_vlsbench_rows_print_at_their_stated_item_count(row: dict) -> None:
    result = vlsbench_result(row)
    reproduced = [column for column in VLSBENCH["columns"] if column not in row.get("not_reproduced", {})]
    assert {c: percent(result[VLSBENCH["columns"][c]], 2) for c in reproduced} == {c: row[c] for c in reproduced}


@pytest.mark.parametrize("row", [r for r in VLSBENCH["rows"] if "not_reproduced" in r], ids=lambda row: row["model"])
def test_vlsbench_figures_marked_not_reproduced_print_at_no_nearby_count(row: dict) -> None:
    def all_print(items: int) -> bool:
        refusals, warnings = count_of(row["refusal"], items), count_of(row["warning"], items)
        return (prints(row["refusal"], items, 2) and prints(row["warning"], items, 2)
                and round(100 * (refusals + warnings) / items, 2) == row["total"])

    assert [n for n in range(2200, 2300) if all_print(n)] == []


def test_vlsbench_only_qwen2_vl_72b_has_a_figure_not_reproduced() -> None:
    assert [(row["model"], sorted(row["not_reproduced"])) for row in VLSBENCH["rows"] if "not_reproduced" in row] == [("Qwen2-VL-72B", ["total"])]


def test_vlsbench_item_counts_behind_table_16() -> None:
    by_items: dict[int, set[str]] = {}
    for row in VLSBENCH["rows"]:
        by_items.setdefault(row["items"], set()).add(row["model"])
    assert {items: len(models) for items, models in by_items.items()} == {2241: 8, 2244: 16, 2237: 1, 2250: 1}


def test_vlsbench_rows_off_the_released_count_do_not_print_on_2241() -> None:
    off = [row for row in VLSBENCH["rows"] if row["items"] != 2241]
    assert [row["model"] for row in off if prints(row["refusal"], 2241, 2) and prints(row["warning"], 2241, 2)
            and round(100 * (count_of(row["refusal"], 2241) + count_of(row["warning"], 2241)) / 2241, 2) == row["total"]] == []


def test_vlsbench_internvl25_8b_row_from_its_counts_of_2241() -> None:
    result = score(*shuffled(*rows("unsafe", refusal=63, safe=416, unsafe=2241 - 63 - 416)), policy="vlsbench")
    assert [percent(result[k], 2) for k in ("refusal_rate", "warning_rate", "safe_response_rate")] == [2.81, 18.56, 21.37]
