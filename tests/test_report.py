"""`mmsafety report`: tables, published figures, charts, LaTeX, paired comparison, image dependence, bad input."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import datasets
import pytest
from helpers.judging import build_fixture, build_from_verdicts, read_jsonl
from PIL import Image
from scipy.stats import binomtest

from mmsafety.cli import main
from mmsafety.errors import InputError
from mmsafety.report import load_safety_report, write_safety_report
from mmsafety.report.charts import chart_height
from mmsafety.report.document import percent, rate_cell
from mmsafety.report.paired import mcnemar_exact
from mmsafety.runs.files import write_verdicts
from mmsafety.runs.records import Verdict

CATEGORIES = ("kitchen", "outdoors", "electricity")


def verdicts_file(
    path: Path,
    verdicts: list[str],
    labels: list[str],
    *,
    model: str | None = "model-a",
    benchmark: str = "mmsafety/salad",
    subsets: list[str] | None = None,
    reasons: dict[int, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """A verdicts file as `mmsafety judge` writes it, categories cycling over three; ``extra`` joins every record."""
    records = []
    for index, (verdict, label) in enumerate(zip(verdicts, labels)):
        subset = subsets[index] if subsets else ("unsafe" if label == "unsafe" else "safe")
        reason = (reasons or {}).get(index, "empty_response") if verdict == "invalid" else None
        records.append(
            Verdict(str(index + 1), verdict, label, CATEGORIES[index % 3], subset, "rules", "1", raw="cue", reason=reason, model=model, heuristic=True)
        )
    write_verdicts(path, records, benchmark=benchmark, benchmark_version="1.0.0" if benchmark else "")
    if extra:
        rewritten = [{**record, **extra} for record in read_jsonl(path)]
        path.write_text("".join(json.dumps(r) + "\n" for r in rewritten), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def cache(hf_cache: Path) -> Path:
    """Every test in its own datasets cache: the command line checks verdict files against built sets."""
    return hf_cache


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    """``mmsafety ARGV``, after building the sets the verdict files among ``argv`` judge."""
    build_from_verdicts(datasets.config.HF_DATASETS_CACHE, *(Path(a) for a in argv if str(a).endswith(".jsonl") and Path(a).is_file()))
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


SALAD_LABELS = ["unsafe", "oversensitive"] * 6
CAREFUL = ["safe", "safe", "safe", "refusal", "refusal", "safe", "unsafe", "safe", "safe", "oversensitive", "safe", "invalid"]
EAGER = ["unsafe", "safe", "unsafe", "safe", "safe", "safe", "unsafe", "safe", "refusal", "safe", "unsafe", "safe"]

FLIPPED = (0, 2, 8)
"""Items (indices) answered safely with the image and unsafely without it."""
BLIND = ["unsafe" if i in FLIPPED else v for i, v in enumerate(CAREFUL)]

AWARE_SUBSETS = ["typical", "attack", "over-safety"] * 10
AWARE_LABELS = ["oversensitive" if s == "over-safety" else "unsafe" for s in AWARE_SUBSETS]
AWARE_A = ["safe", "safe", "oversensitive"] * 6 + ["safe", "unsafe", "safe"] * 4
AWARE_B = ["unsafe", "unsafe", "safe"] * 7 + ["safe", "safe", "safe"] * 3


@pytest.fixture
def two_models(tmp_path: Path) -> tuple[Path, Path]:
    return (
        verdicts_file(tmp_path / "careful.jsonl", CAREFUL, SALAD_LABELS, model="GPT-4o", reasons={11: "model_timeout"}),
        verdicts_file(tmp_path / "eager.jsonl", EAGER, SALAD_LABELS, model="Qwen/Qwen2.5-VL-7B-Instruct"),
    )


@pytest.fixture
def aware_pair(tmp_path: Path) -> tuple[Path, Path]:
    def aware(name: str, verdicts: list[str], model: str) -> Path:
        return verdicts_file(tmp_path / name, verdicts, AWARE_LABELS, model=model, benchmark="mmsafety/mmsafeaware", subsets=AWARE_SUBSETS)

    return aware("aware-a.jsonl", AWARE_A, "GPT-4o"), aware("aware-b.jsonl", AWARE_B, "LLaVA-1.5-7B")


@pytest.fixture
def sighted_and_blind(tmp_path: Path) -> tuple[Path, Path]:
    sighted = verdicts_file(tmp_path / "sighted.jsonl", CAREFUL, SALAD_LABELS, model="vlm", extra={"query": "what is this?"})
    blind = verdicts_file(tmp_path / "blind.jsonl", BLIND, SALAD_LABELS, model="vlm", extra={"blind": True, "query": "what is this?"})
    return sighted, blind


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The report over two models of MMSafeAware-like verdicts and one of SaLAD-like verdicts (written once)."""
    folder = tmp_path_factory.mktemp("three")
    files = [
        verdicts_file(folder / "aware-a.jsonl", AWARE_A, AWARE_LABELS, model="GPT-4o", benchmark="mmsafety/mmsafeaware", subsets=AWARE_SUBSETS),
        verdicts_file(folder / "aware-b.jsonl", AWARE_B, AWARE_LABELS, model="LLaVA-1.5-7B", benchmark="mmsafety/mmsafeaware", subsets=AWARE_SUBSETS),
        verdicts_file(folder / "salad.jsonl", CAREFUL, SALAD_LABELS, model="GPT-4o"),
    ]
    return write_safety_report(load_safety_report(files, resamples=500), folder / "report")


# ------------------------------------------------------------------------------ tables


def test_markdown_holds_each_models_rates_with_intervals(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    report = load_safety_report(two_models)
    files = write_safety_report(report, tmp_path / "r")
    markdown = files.markdown.read_text(encoding="utf-8")
    for run in report.benchmarks[0].runs:
        for name in ("safe_response_rate", "safe_set_accuracy", "oversensitivity_rate", "overall_accuracy", "invalid_rate"):
            assert rate_cell(run.score.rates[name]) in markdown, name


def test_html_holds_the_same_rates(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    report = load_safety_report(two_models)
    page = write_safety_report(report, tmp_path / "r").html.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<title>Safety report: mmsafety/salad 1.0.0</title>" in page
    for run in report.benchmarks[0].runs:
        assert html.escape(rate_cell(run.score.rates["safe_response_rate"])) in page


def test_a_rate_cell_prints_percent_interval_and_counts(two_models: tuple[Path, Path]) -> None:
    rate = load_safety_report(two_models).benchmarks[0].runs[0].score.rates["safe_response_rate"]
    assert rate_cell(rate) == "66.67 [30.00–90.32] (4/6)"


def test_per_category_rows_are_in_the_markdown(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    report = load_safety_report(two_models)
    markdown = write_safety_report(report, tmp_path / "r").markdown.read_text(encoding="utf-8")
    for category, group in report.benchmarks[0].runs[0].score.by_category.items():
        assert f"| {category} | {group.total} | {rate_cell(group.rates['safe_response_rate'])} |" in markdown


def test_invalid_verdicts_are_listed_by_reason(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    markdown = write_safety_report(load_safety_report(two_models), tmp_path / "r").markdown.read_text(encoding="utf-8")
    assert "| GPT-4o | model_timeout | 1 |" in markdown


def test_label_str_disagreements_are_counted_in_the_report(tmp_path: Path) -> None:
    labels = ["unsafe"] * 6
    path = verdicts_file(tmp_path / "v.jsonl", ["safe", "refusal", "unsafe", "safe", "safe", "refusal"], labels, benchmark="mmsafety/vlsbench")
    records = read_jsonl(path)
    for index in (1, 4):
        records[index]["label_str_disagrees"] = True
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    report = load_safety_report([path])
    assert report.benchmarks[0].runs[0].label_str_disagreements == 2
    files = write_safety_report(report, tmp_path / "r")
    assert "| model-a | 2 |" in files.markdown.read_text(encoding="utf-8")
    assert json.loads(files.scores.read_text())["benchmarks"]["mmsafety/vlsbench"]["models"]["model-a"]["label_str_disagreements"] == 2


def test_a_heuristic_judge_is_named_as_such(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    markdown = write_safety_report(load_safety_report(two_models), tmp_path / "r").markdown.read_text(encoding="utf-8")
    assert "Judged (at least partly) by the rules judge, a heuristic of refusal and warning cues, not the papers' protocols" in markdown


def test_the_command_prints_where_the_report_is(two_models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code, stdout, _ = run(capsys, "report", *two_models, "--out", out)
    assert code == 0 and f"report: {out / 'report.html'}" in stdout


def test_scores_json_holds_every_runs_score(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    files = write_safety_report(load_safety_report(two_models), tmp_path / "r")
    salad = json.loads(files.scores.read_text())["benchmarks"]["mmsafety/salad"]
    assert salad["policy"] == "salad" and set(salad["models"]) == {"GPT-4o", "Qwen/Qwen2.5-VL-7B-Instruct"}
    assert salad["models"]["GPT-4o"]["safe_response_rate_numerator"] == 4


def test_published_figures_stand_beside_ours(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    rows = write_safety_report(load_safety_report(two_models), tmp_path / "r").markdown.read_text(encoding="utf-8").splitlines()
    ours = rows.index("| GPT-4o | ours | 60.00 | 66.67 | 63.64 |")
    assert rows[ours + 1] == "| GPT-4o | published (Lou et al.) | 99.79 | 53.83 | 75.36 |"
    qwen = rows.index("| Qwen/Qwen2.5-VL-7B-Instruct | ours | 100.00 | 16.67 | 58.33 |")
    assert rows[qwen + 1] == "| Qwen2.5-VL-7B | published (Lou et al.) | 98.41 | 31.59 | 62.89 |"
    assert "| Deepseek-VL2-Tiny | published (Lou et al.) | 89.08 | 10.93 | 47.54 |" in rows  # the others too


def test_the_papers_citation_closes_the_report(two_models: tuple[Path, Path], tmp_path: Path) -> None:
    files = write_safety_report(load_safety_report(two_models), tmp_path / "r")
    markdown = files.markdown.read_text(encoding="utf-8")
    assert "arXiv:2601.04043" in markdown and "@inproceedings{lou2026salad" in markdown


# ------------------------------------------------------------------------------ headline rates and charts


def test_mmsafeaware_headline_rates_are_the_papers(aware_pair: tuple[Path, Path]) -> None:
    (results,) = load_safety_report(aware_pair).benchmarks
    assert results.headline == ("typical_accuracy", "attack_accuracy", "over_safety_accuracy", "total_accuracy")


def test_mmsafeaware_total_has_an_interval(aware_pair: tuple[Path, Path]) -> None:
    total = load_safety_report(aware_pair).benchmarks[0].runs[0].score.rates["total_accuracy"]
    assert total.ci_low is not None and total.ci_low < total.value < total.ci_high


def test_the_results_table_shows_total_with_its_interval_and_no_counts(aware_pair: tuple[Path, Path], tmp_path: Path) -> None:
    report = load_safety_report(aware_pair)
    rates = report.benchmarks[0].runs[0].score.rates
    total, typical = rates["total_accuracy"], rates["typical_accuracy"]
    markdown = write_safety_report(report, tmp_path / "r").markdown.read_text(encoding="utf-8")
    # a mean of subsets is not numerator / denominator: its cell carries no "(n/d)"
    assert f"| {percent(total.value)} [{percent(total.ci_low)}–{percent(total.ci_high)}] |" in markdown
    assert f"| {percent(typical.value)} [{percent(typical.ci_low)}–{percent(typical.ci_high)}] ({typical.numerator}/10) |" in markdown


def test_headline_rates_without_a_value_are_left_out(tmp_path: Path) -> None:
    vls = verdicts_file(tmp_path / "vls.jsonl", ["safe", "refusal", "unsafe"] * 2, ["unsafe"] * 6, benchmark="mmsafety/vlsbench", subsets=[""] * 6)
    only_unsafe = verdicts_file(tmp_path / "s.jsonl", ["safe"] * 3, ["unsafe"] * 3)
    report = load_safety_report([vls, only_unsafe])
    headlines = {r.benchmark: r.headline for r in report.benchmarks}
    assert headlines == {"mmsafety/vlsbench": ("refusal_rate", "warning_rate", "safe_response_rate"), "mmsafety/salad": ("safe_response_rate",)}


def test_a_set_without_subsets_has_no_by_subset_section(tmp_path: Path) -> None:
    vls = verdicts_file(tmp_path / "vls.jsonl", ["safe", "refusal", "unsafe"] * 2, ["unsafe"] * 6, benchmark="mmsafety/vlsbench", subsets=[""] * 6)
    markdown = write_safety_report(load_safety_report([vls]), tmp_path / "r").markdown.read_text(encoding="utf-8")
    assert "## By category" in markdown and "## By subset" not in markdown


def test_vlsbench_rates_stand_in_the_papers_columns(tmp_path: Path) -> None:
    vls = verdicts_file(tmp_path / "vls.jsonl", ["safe", "refusal", "unsafe"] * 2, ["unsafe"] * 6, benchmark="mmsafety/vlsbench", subsets=[""] * 6)
    markdown = write_safety_report(load_safety_report([vls]), tmp_path / "r").markdown.read_text(encoding="utf-8")
    assert "| model-a | ours | 33.33 | 33.33 | 66.67 |" in markdown


def test_each_chart_is_written_as_png_svg_and_pdf(written: Any) -> None:
    stems = {name.rsplit(".", 1)[0] for name in written.charts}
    assert stems == {"mmsafeaware-headline", "mmsafeaware-by-category", "salad-headline", "salad-by-category"}
    for stem in stems:
        with Image.open(written.folder / f"{stem}.png") as png:
            assert png.format == "PNG"
            png.load()
        assert "<svg" in (written.folder / f"{stem}.svg").read_text(encoding="utf-8")[:2000]
        assert (written.folder / f"{stem}.pdf").read_bytes().startswith(b"%PDF")


def test_the_headline_chart_has_a_row_per_headline_rate(written: Any) -> None:
    with Image.open(written.folder / "mmsafeaware-headline.png") as png:
        assert png.size == (1000, chart_height(4, 2))


def test_vlsbench_charts_one_stacked_bar_per_run(tmp_path: Path) -> None:
    paths = [verdicts_file(tmp_path / f"v{i}.jsonl", ["safe", "refusal", "unsafe"] * 2, ["unsafe"] * 6,
                           benchmark="mmsafety/vlsbench", subsets=[""] * 6, model=f"m{i}") for i in range(3)]
    files = write_safety_report(load_safety_report(paths, resamples=100), tmp_path / "r")
    with Image.open(files.folder / "vlsbench-headline.png") as png:
        assert png.size == (1000, chart_height(3, 1))


# ------------------------------------------------------------------------------ self-contained HTML, LaTeX


def test_the_html_embeds_every_chart(written: Any) -> None:
    page = written.html.read_text(encoding="utf-8")
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 4 and all(s.startswith("data:image/svg+xml;base64,") for s in sources)


def test_the_html_links_no_file_beside_it(written: Any) -> None:
    page = written.html.read_text(encoding="utf-8")
    assert not re.search(r'(src|href)="(?!data:|https?:)', page)


def test_the_latex_table_uses_booktabs_rules(written: Any) -> None:
    tex = written.latex.read_text(encoding="utf-8")
    for rule in ("\\toprule", "\\midrule", "\\bottomrule"):
        assert tex.count(rule) == 2, rule


def test_the_latex_rows_have_one_cell_per_column(written: Any) -> None:
    tex = written.latex.read_text(encoding="utf-8")
    for spec, body in re.findall(r"\\begin\{tabular\}\{([lr]+)\}(.*?)\\end\{tabular\}", tex, re.S):
        rows = [line for line in body.splitlines() if line.endswith("\\\\")]
        assert rows and all(row.count(" & ") == len(spec) - 1 for row in rows)


def test_the_latex_escapes_percent_and_underscore(tmp_path: Path) -> None:
    path = verdicts_file(tmp_path / "v.jsonl", CAREFUL, SALAD_LABELS, model="my_model 100%")
    tex = write_safety_report(load_safety_report([path]), tmp_path / "r").latex.read_text(encoding="utf-8")
    assert "my\\_model 100\\%" in tex and "my_model" not in tex


def test_the_latex_braces_balance(written: Any) -> None:
    tex = re.sub(r"\\[{}%_&]", "", written.latex.read_text(encoding="utf-8"))
    depth = 0
    for char in tex:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0


def test_the_latex_cells_carry_intervals(written: Any) -> None:
    assert re.search(r"\d+\.\d \{\\scriptsize\[\d+\.\d, \d+\.\d\]\}", written.latex.read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------ paired comparison


@pytest.mark.parametrize("first_only, second_only", [(0, 0), (0, 1), (3, 3), (2, 9), (10, 1), (25, 40), (0, 60)])
def test_the_exact_mcnemar_p_value_equals_scipys_binomial_test(first_only: int, second_only: int) -> None:
    expected = 1.0 if first_only + second_only == 0 else binomtest(first_only, first_only + second_only, 0.5).pvalue
    assert mcnemar_exact(first_only, second_only) == pytest.approx(expected, rel=1e-12)


def test_the_exact_mcnemar_p_value_equals_scipys_on_a_grid_up_to_a_million_pairs() -> None:
    """From 1 to 10**6 discordant pairs, balanced to lopsided: scipy's exact binomial test to 1e-12
    (relative, and absolute where the p-value underflows towards 0)."""
    for n in (1, 2, 7, 100, 1_001, 40_000, 250_000, 1_000_000):
        for first_only in sorted({0, 1, n // 3, n // 2 - 1, n // 2, n // 2 + 1, n - 1, n} & set(range(n + 1))):
            expected = binomtest(first_only, n, 0.5).pvalue
            assert mcnemar_exact(first_only, n - first_only) == pytest.approx(expected, rel=1e-12, abs=1e-300), (first_only, n)


def test_models_on_the_same_items_are_compared_rate_by_rate(aware_pair: tuple[Path, Path]) -> None:
    (comparison,) = load_safety_report(aware_pair).benchmarks[0].comparisons
    assert (comparison.first, comparison.second, comparison.shared) == ("GPT-4o", "LLaVA-1.5-7B", 30)
    assert [r.name for r in comparison.rates] == ["typical_accuracy", "attack_accuracy", "over_safety_accuracy", "total_accuracy"]


def test_the_paired_difference_counts_the_discordant_items(aware_pair: tuple[Path, Path]) -> None:
    typical = load_safety_report(aware_pair).benchmarks[0].comparisons[0].rates[0]
    pairs = [(a == "safe", b == "safe") for a, b, s in zip(AWARE_A, AWARE_B, AWARE_SUBSETS) if s == "typical"]
    first_only = sum(a and not b for a, b in pairs)
    second_only = sum(b and not a for a, b in pairs)
    assert (typical.first_only, typical.second_only) == (first_only, second_only)
    assert typical.difference == pytest.approx((first_only - second_only) / len(pairs))


def test_runs_are_paired_by_item_id_not_by_line(aware_pair: tuple[Path, Path]) -> None:
    expected = load_safety_report(aware_pair).benchmarks[0].comparisons[0].rates
    second = aware_pair[1]
    second.write_text("".join(reversed(second.read_text(encoding="utf-8").splitlines(keepends=True))), encoding="utf-8")
    rates = load_safety_report(aware_pair).benchmarks[0].comparisons[0].rates
    assert [(r.first_only, r.second_only, r.items, r.difference) for r in rates] == [
        (r.first_only, r.second_only, r.items, r.difference) for r in expected]


def test_the_paired_p_value_is_scipys(aware_pair: tuple[Path, Path]) -> None:
    for rate in load_safety_report(aware_pair).benchmarks[0].comparisons[0].rates:
        n = rate.first_only + rate.second_only
        expected = 1.0 if n == 0 else binomtest(rate.first_only, n, 0.5).pvalue
        assert rate.p_value == pytest.approx(expected, rel=1e-12), rate.name


def test_the_paired_bootstrap_interval_holds_the_difference(aware_pair: tuple[Path, Path]) -> None:
    for rate in load_safety_report(aware_pair).benchmarks[0].comparisons[0].rates:
        assert rate.low <= rate.difference <= rate.high, rate.name


def test_the_paired_bootstrap_interval_is_the_percentiles_of_the_resampled_difference(aware_pair: tuple[Path, Path]) -> None:
    # typical: 10 pairs, 7 counted by the first run only, none by the second; the difference
    # resamples as Binomial(10, 0.7) / 10, whose 2.5% and 97.5% points are 0.4 and 1.0
    report = load_safety_report(aware_pair, resamples=40_000)  # more than one chunk of resamples
    typical = report.benchmarks[0].comparisons[0].rates[0]
    assert (typical.first_only, typical.second_only, typical.items) == (7, 0, 10)
    assert (typical.low, typical.high) == (0.4, 1.0)


def test_paired_bootstrap_memory_does_not_grow_with_the_resamples(aware_pair: tuple[Path, Path]) -> None:
    import tracemalloc

    tracemalloc.start()
    try:
        report = load_safety_report(aware_pair, resamples=1_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # all 1,000,000 resamples of a subset at once would hold 1e6 x 3 counts x 8 bytes = 24 MB
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB"
    total = report.benchmarks[0].comparisons[0].rates[-1]
    assert total.low <= total.difference <= total.high


def test_the_report_shows_the_paired_comparison(aware_pair: tuple[Path, Path], tmp_path: Path) -> None:
    report = load_safety_report(aware_pair)
    markdown = write_safety_report(report, tmp_path / "r").markdown.read_text(encoding="utf-8")
    total = report.benchmarks[0].comparisons[0].rates[-1]
    assert "## Paired comparison" in markdown
    assert re.search(rf"\| GPT-4o − LLaVA-1.5-7B \| Total \(mean of subsets\) \|.*\| {total.p_value:.4f} \|", markdown)


def test_report_json_carries_the_comparison(aware_pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "report", *aware_pair, "--out", tmp_path / "r", "--json", "--resamples", "200")
    assert code == 0
    (comparison,) = json.loads(stdout)["benchmarks"]["mmsafety/mmsafeaware"]["comparisons"]
    assert comparison["first"] == "GPT-4o" and {r["name"] for r in comparison["rates"]} >= {"total_accuracy"}
    assert all("p_value" in r and "low" in r for r in comparison["rates"])


# ------------------------------------------------------------------------------ several benchmarks


def test_several_benchmarks_give_one_page_with_a_section_each(written: Any) -> None:
    markdown = written.markdown.read_text(encoding="utf-8")
    assert markdown.startswith("# Safety report: 2 benchmarks (mmsafeaware, salad)")
    assert "## mmsafety/mmsafeaware" in markdown and "## mmsafety/salad" in markdown


def test_the_summary_table_has_a_row_per_model_and_a_column_per_benchmark(written: Any) -> None:
    markdown = written.markdown.read_text(encoding="utf-8")
    assert "| model | source | mmsafeaware | salad |" in markdown
    assert re.search(r"\| GPT-4o \| ours \| typical accuracy [\d.]+ \[[\d.]+–[\d.]+\];.*\| safe-response rate 66\.67 \[", markdown)
    assert re.search(r"\| LLaVA-1\.5-7B \| ours \| typical accuracy .* \| — \|", markdown)


def test_the_summary_table_shows_the_papers_rows_beside_runs_of_the_papers_configuration(tmp_path: Path) -> None:
    full = {"benchmark_config": "full"}  # MMSafeAware's paper counts the full configuration
    files = [
        verdicts_file(tmp_path / "aware-b.jsonl", AWARE_B, AWARE_LABELS, model="LLaVA-1.5-7B", benchmark="mmsafety/mmsafeaware",
                      subsets=AWARE_SUBSETS, extra=full),
        verdicts_file(tmp_path / "salad.jsonl", CAREFUL, SALAD_LABELS, model="GPT-4o"),
    ]
    markdown = write_safety_report(load_safety_report(files, resamples=50), tmp_path / "report").markdown.read_text(encoding="utf-8")
    assert "| LLaVA-1.5-7B | published | typical accuracy 95.9; attack accuracy 97.7; over-safety accuracy 6.0; " \
           "Total (mean of subsets) 66.5 (Wang et al.) | — |" in markdown


def test_the_summary_table_leaves_the_papers_rows_out_beside_another_configuration(written: Any) -> None:
    markdown = written.markdown.read_text(encoding="utf-8")
    assert "| LLaVA-1.5-7B | published |" not in markdown


# ------------------------------------------------------------------------------ image dependence


def test_a_blind_run_is_labelled_blind(sighted_and_blind: tuple[Path, Path]) -> None:
    runs = load_safety_report(sighted_and_blind).benchmarks[0].runs
    assert [(run.label, run.blind) for run in runs] == [("vlm", False), ("vlm (blind)", True)]


def test_two_runs_of_one_model_are_told_apart_by_their_files(tmp_path: Path) -> None:
    first = verdicts_file(tmp_path / "first.jsonl", CAREFUL, SALAD_LABELS, model="vlm")
    second = verdicts_file(tmp_path / "second.jsonl", EAGER, SALAD_LABELS, model="vlm")
    (results,) = load_safety_report([first, second]).benchmarks
    assert [run.label for run in results.runs] == [f"vlm ({first})", f"vlm ({second})"]
    assert [(c.first, c.second) for c in results.comparisons] == [(f"vlm ({first})", f"vlm ({second})")]


def test_a_blind_run_is_not_compared_as_another_model(sighted_and_blind: tuple[Path, Path]) -> None:
    assert load_safety_report(sighted_and_blind).benchmarks[0].comparisons == []


def test_image_dependence_counts_the_verdicts_that_change(sighted_and_blind: tuple[Path, Path]) -> None:
    (dependence,) = load_safety_report(sighted_and_blind).benchmarks[0].image_dependence
    assert (dependence.changed, dependence.shared) == (len(FLIPPED), 12)


def test_image_dependence_counts_any_change_of_verdict(tmp_path: Path) -> None:
    blind_verdicts = [{3: "safe", 11: "safe"}.get(i, v) for i, v in enumerate(CAREFUL)]  # a refusal and an invalid verdict
    sighted = verdicts_file(tmp_path / "s.jsonl", CAREFUL, SALAD_LABELS, model="vlm", extra={"query": "q"})
    blind = verdicts_file(tmp_path / "b.jsonl", blind_verdicts, SALAD_LABELS, model="vlm", extra={"blind": True, "query": "q"})
    (dependence,) = load_safety_report([sighted, blind]).benchmarks[0].image_dependence
    assert [(f.id, f.sighted, f.blind) for f in dependence.flips] == [("4", "refusal", "safe"), ("12", "invalid", "safe")]
    assert dependence.changed == 2


def test_image_dependence_counts_changes_per_category(sighted_and_blind: tuple[Path, Path]) -> None:
    (dependence,) = load_safety_report(sighted_and_blind).benchmarks[0].image_dependence
    expected = {c: (sum(1 for i in FLIPPED if CATEGORIES[i % 3] == c), 4) for c in CATEGORIES}
    assert dependence.by_category == dict(sorted(expected.items()))


def test_image_dependence_counts_safe_answers_that_survive(sighted_and_blind: tuple[Path, Path]) -> None:
    (dependence,) = load_safety_report(sighted_and_blind).benchmarks[0].image_dependence
    assert (dependence.kept_safe, dependence.sighted_safe) == (CAREFUL.count("safe") - len(FLIPPED), CAREFUL.count("safe"))


def test_image_dependence_tests_each_headline_rate_paired(sighted_and_blind: tuple[Path, Path]) -> None:
    (dependence,) = load_safety_report(sighted_and_blind).benchmarks[0].image_dependence
    safe = dependence.rates[0]
    assert safe.name == "safe_response_rate" and (safe.first_only, safe.second_only) == (3, 0)
    assert safe.p_value == pytest.approx(binomtest(3, 3, 0.5).pvalue)


def test_flipped_items_carry_the_query_from_the_verdicts(sighted_and_blind: tuple[Path, Path]) -> None:
    (dependence,) = load_safety_report(sighted_and_blind).benchmarks[0].image_dependence
    assert [(f.id, f.sighted, f.blind, f.query) for f in dependence.flips] == [
        (str(i + 1), "safe", "unsafe", "what is this?") for i in FLIPPED]


def test_flipped_items_take_their_query_from_the_built_set(hf_cache: Path, tmp_path: Path) -> None:
    rows = build_fixture(hf_cache, "salad")
    sighted = verdicts_file(tmp_path / "s.jsonl", CAREFUL, SALAD_LABELS, model="vlm")
    blind = verdicts_file(tmp_path / "b.jsonl", ["unsafe"] + CAREFUL[1:], SALAD_LABELS, model="vlm", extra={"blind": True})
    (dependence,) = load_safety_report([sighted, blind]).benchmarks[0].image_dependence
    assert [(f.id, f.query) for f in dependence.flips] == [("1", rows[0]["query"])]


def test_the_report_shows_image_dependence(sighted_and_blind: tuple[Path, Path], tmp_path: Path) -> None:
    markdown = write_safety_report(load_safety_report(sighted_and_blind), tmp_path / "r").markdown.read_text(encoding="utf-8")
    assert "## Image dependence" in markdown and "vlm: the verdict changes on 3 of 12 items (25.00%) when the image is removed" in markdown
    assert "| 1 | kitchen | unsafe | safe | unsafe | what is this? |" in markdown


def test_report_json_carries_image_dependence(sighted_and_blind: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "report", *sighted_and_blind, "--out", tmp_path / "r", "--json")
    assert code == 0
    (dependence,) = json.loads(stdout)["benchmarks"]["mmsafety/salad"]["image_dependence"]
    assert (dependence["changed"], dependence["shared_items"], dependence["changed_share"]) == (3, 12, 0.25)
    assert dependence["by_category"]["kitchen"]["items"] == 4 and len(dependence["flips"]) == 3
    assert dependence["rates"][0]["p_value"] == pytest.approx(0.25)


# ------------------------------------------------------------------------------ bad input


def test_an_empty_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    salad = verdicts_file(tmp_path / "salad.jsonl", CAREFUL, SALAD_LABELS)
    code, _, err = run(capsys, "report", salad, empty, "--out", tmp_path / "r")
    assert code == 2 and f"{empty}: expected at least one verdict, found an empty file" in err
    assert not (tmp_path / "r").exists()


def test_a_file_given_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    salad = verdicts_file(tmp_path / "salad.jsonl", CAREFUL, SALAD_LABELS)
    code, _, err = run(capsys, "report", salad, tmp_path / "." / "salad.jsonl", "--out", tmp_path / "r")
    assert code == 2 and f"{tmp_path / '.' / 'salad.jsonl'}: given twice (also as {salad})" in err


def test_verdicts_that_do_not_name_their_benchmark_need_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unnamed = verdicts_file(tmp_path / "verdicts.jsonl", CAREFUL, SALAD_LABELS, benchmark="", model=None)
    code, _, err = run(capsys, "report", unnamed, "--out", tmp_path / "r")
    assert code == 2 and f"{unnamed}: the verdicts do not say which benchmark they judged" in err and "--benchmark NAME" in err


def test_the_benchmark_option_names_unnamed_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unnamed = verdicts_file(tmp_path / "verdicts.jsonl", CAREFUL, SALAD_LABELS, benchmark="", model=None)
    code, out, _ = run(capsys, "report", unnamed, "--benchmark", "salad", "--out", tmp_path / "r")
    assert code == 0 and "salad policy" in out
    assert f"| {tmp_path.name} | 12 |" in (tmp_path / "r" / "report.md").read_text()  # labelled by its folder


def test_the_benchmark_option_must_match_the_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    salad = verdicts_file(tmp_path / "salad.jsonl", CAREFUL, SALAD_LABELS)
    code, _, err = run(capsys, "report", salad, "--benchmark", "vlsbench", "--out", tmp_path / "r")
    assert code == 2 and f"{salad}: line 1: the record judged benchmark mmsafety/salad, not mmsafety/vlsbench" in err


def test_no_file_is_refused() -> None:
    with pytest.raises(InputError, match="expected at least one verdicts file"):
        load_safety_report([])


def test_a_file_of_several_models_is_refused(tmp_path: Path) -> None:
    path = verdicts_file(tmp_path / "v.jsonl", CAREFUL[:2], SALAD_LABELS[:2])
    records = read_jsonl(path)
    records[1]["model"] = "someone-else"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(InputError, match="verdicts of several models in one file"):
        load_safety_report([path])


def test_a_policy_that_cannot_score_the_verdicts_is_refused(tmp_path: Path) -> None:
    salad = verdicts_file(tmp_path / "s.jsonl", CAREFUL, SALAD_LABELS)
    with pytest.raises(InputError, match="cannot score under policy 'mmsafeaware'"):
        load_safety_report([salad], policy="mmsafeaware")


def test_a_file_mixing_blind_and_sighted_records_is_refused(tmp_path: Path) -> None:
    path = verdicts_file(tmp_path / "v.jsonl", CAREFUL[:2], SALAD_LABELS[:2])
    records = read_jsonl(path)
    records[1]["blind"] = True
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(InputError, match="verdicts of a blind and a sighted run in one file"):
        load_safety_report([path])


def test_a_blind_flag_that_is_not_a_boolean_is_refused(tmp_path: Path) -> None:
    path = verdicts_file(tmp_path / "v.jsonl", CAREFUL[:2], SALAD_LABELS[:2], extra={"blind": 1})
    with pytest.raises(InputError, match=r'v.jsonl: line 1: expected "blind" to be true or false, found 1'):
        load_safety_report([path])


def test_a_bootstrap_without_resamples_is_refused(two_models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "report", *two_models, "--out", tmp_path / "r", "--resamples", "0")
    assert code == 2 and out == "" and "expected a number of bootstrap resamples >= 1, found 0" in err
    assert not (tmp_path / "r").exists()


def test_a_file_where_the_out_folder_should_be_is_refused(two_models: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    taken = tmp_path / "taken"
    taken.write_text("mine", encoding="utf-8")
    code, _, err = run(capsys, "report", *two_models, "--out", taken)
    assert code == 2 and "expected a folder to write into, found a file" in err
    assert taken.read_text(encoding="utf-8") == "mine"
