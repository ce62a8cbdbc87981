"""The report's Judges section: one run judged by several judges, or by a judge and people.

**How files are grouped into runs.** Verdict files of one benchmark are one run when they name
the same responding model, are both sighted or both blind, and carry the same
``response_sha256`` on every id both judged (at least one):
:func:`mmsafety.runs.judged.same_run`. Such files are one model's responses judged twice (two
judges, or a judge and a human sample); files without hashes (other tools, older mmsafety) are
never grouped, each is a run of its own as before. Within a group, each file is labelled
``model · judge`` in the report's tables, and the paired comparison of models leaves out pairs
of the same group: they are compared here instead.

For each group with more than one judge, or with human labels (a human file among the runs, or
given with ``--calibration``), :func:`judged_runs` gives a :class:`JudgedRun`:

- the agreement table (:mod:`mmsafety.report.agreement_tables`): κ per pair and α, on the verdicts and
  on each headline rate's pass/fail;
- each headline rate under each judge side by side, with the paired difference of every two
  judges (paired bootstrap and exact McNemar, :func:`mmsafety.report.paired.paired_rate`);
- for each judge and each human file: the corrected rates (:mod:`mmsafety.scoring.calibration`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmsafety.report.agreement_tables import Agreement, agreement
from mmsafety.report.paired import PairedRate, pair_rows, paired_rate
from mmsafety.runs.judged import judge_name, same_run
from mmsafety.scoring.calibration import ASSUMPTION, METHOD, CorrectedRate, corrected_rates


@dataclass
class JudgedRun:
    """One model's run and the files that judged it."""

    model: str
    files: list[Any]
    """The :class:`~mmsafety.report.load.RunResult` of each file (judges first, people after)."""
    names: list[str] = field(default_factory=list)
    """Who judged each file (:func:`~mmsafety.runs.judged.judge_name`, the file added where two are alike)."""
    agreement: Agreement | None = None
    paired: list[tuple[str, str, list[PairedRate]]] = field(default_factory=list)
    """(first, second, each headline rate's paired difference) for every two files."""
    corrected: list[tuple[str, str, list[CorrectedRate]]] = field(default_factory=list)
    """(judge, human file, the corrected headline rates) for every judge and human file."""

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "model": self.model,
            "files": [{"label": f.label, "judge": n, "verdicts": str(f.path), "human": f.human} for f, n in zip(self.files, self.names)],
            "agreement": None if self.agreement is None else self.agreement.to_json(),
            "paired": [{"first": a, "second": b, "rates": [asdict(r) for r in rates]} for a, b, rates in self.paired],
            "corrected": {"method": METHOD, "assumption": ASSUMPTION,
                          "rates": [{"judge": j, "human": h, "rates": [r.to_json() for r in rates]} for j, h, rates in self.corrected]},
        }


def one_run(first: Any, second: Any) -> bool:
    """:func:`~mmsafety.runs.judged.same_run` of two runs' files; files whose named models or
    blindness already tell them apart are not read (a report of several models reads no record)."""
    if first.named_model and second.named_model and first.named_model != second.named_model or first.blind != second.blind:
        return False
    return same_run(first.records, second.records)


def group_runs(runs: Sequence[Any]) -> list[list[Any]]:
    """The runs grouped by :func:`one_run` (in the order given)."""
    groups: list[list[Any]] = []
    for run in runs:
        home = next((g for g in groups if all(one_run(run, other) for other in g)), None)
        if home is None:
            groups.append([run])
        else:
            home.append(run)
    return groups


def label_judges(runs: Sequence[Any]) -> None:
    """Label each run that shares its group with another ``model · judge``."""
    for group in group_runs(runs):
        if len(group) > 1:
            for run in group:
                run.label = f"{run.label} · {judge_name(run.records)}"


def same_group(results: Any, first: str, second: str) -> bool:
    """Whether the runs labelled ``first`` and ``second`` are one model's run judged twice."""
    runs = {run.label: run for run in results.runs}
    return first in runs and second in runs and one_run(runs[first], runs[second])


def judged_runs(results: Any, calibration: Sequence[Any] = (), *, invalid: str, confidence: float, resamples: int,
                seed: int = 0) -> list[JudgedRun]:
    """Every group of ``results.runs`` (and the ``calibration`` runs: human files given apart, each
    joining the group of the run it labels) with more than one file or with a human file."""
    groups = group_runs(results.runs)
    for human in calibration:
        home = next((g for g in groups if any(one_run(human, run) for run in g)), None)
        if home is not None and human not in home:
            home.append(human)
    found = []
    for group in groups:
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda run: run.human)  # judges first
        found.append(_judged_run(results, group, invalid=invalid, confidence=confidence, resamples=resamples, seed=seed))
    return found


def _judged_run(results: Any, group: list[Any], *, invalid: str, confidence: float, resamples: int, seed: int) -> JudgedRun:
    names = list(results.headline)
    who = [judge_name(run.records) for run in group]
    who = [f"{w} [{run.path}]" if who.count(w) > 1 else w for w, run in zip(who, group)]
    judged = JudgedRun(group[0].model, group, who)
    judged.agreement = agreement(who, [run.records for run in group], results.policy, names,
                                 invalid=invalid, confidence=confidence, resamples=resamples, seed=seed, groups=False)
    rng = np.random.default_rng(seed)
    for i, first in enumerate(group):
        for j in range(i + 1, len(group)):
            second = group[j]
            pairs = pair_rows(first.table, second.table)
            judged.paired.append((who[i], who[j], [
                paired_rate(n, results.policy, first.table, second.table, pairs, invalid=invalid,
                            confidence=confidence, resamples=resamples, rng=rng)
                for n in names if n not in first.refused and n not in second.refused]))  # a rate a judge cannot give is not compared
    for i, judge in enumerate(group):
        for j, human in enumerate(group):
            if not judge.human and human.human:
                judged.corrected.append((who[i], who[j], corrected_rates(
                    judge.records, human.records, results.policy, names, invalid=invalid, confidence=confidence)))
    return judged


def corrected_line(judge: str, human: str, rate: CorrectedRate, decimals: int = 2) -> str:
    """One line: the judge's rate, the humans' and the corrected one with its interval.

    >>> print(corrected_line("rules", "human (ada)", CorrectedRate("safe_response_rate", 0.8, 50, 0.6, 0.4, 0.8, 10, 0.65, 0.5, 0.8, 12.5)))
    safe-response rate: rules 80.00 on 50 items; human (ada) 60.00 on 10 labelled; corrected 65.00 [50.00–80.00] (effective n 12.5)
    """
    from mmsafety.report.document import percent
    from mmsafety.report.rate_cells import rate_title

    if rate.corrected is None:
        return f"{rate_title(rate.name)}: no labelled item in its denominator"
    effective = "—" if rate.effective is None else f"{rate.effective:.1f}"
    return (f"{rate_title(rate.name)}: {judge} {percent(rate.judge, decimals)} on {rate.items} items; {human} "
            f"{percent(rate.human, decimals)} on {rate.labelled} labelled; corrected {percent(rate.corrected, decimals)} "
            f"[{percent(rate.low, decimals)}–{percent(rate.high, decimals)}] (effective n {effective})")


def summary_line(judged: JudgedRun) -> str:
    """The one line ``mmsafety report`` and ``mmsafety demo`` print for a judged run: the first
    pair's κ on the verdicts, and the first corrected headline rate."""
    from mmsafety.report.document import percent
    from mmsafety.report.rate_cells import rate_title

    assert judged.agreement is not None
    pair = judged.agreement.tables[0].pairs[0]
    kappa = "—" if pair.kappa is None else f"{pair.kappa:.2f}"
    text = f"judges, {judged.model}: {pair.first} vs {pair.second}: kappa {kappa} on {pair.items} items"
    if judged.corrected:
        _, _, rates = judged.corrected[0]
        rate = next((r for r in rates if r.corrected is not None), None)
        if rate is not None:
            text += (f"; {rate_title(rate.name)} corrected by the human labels {percent(rate.corrected)} "
                     f"[{percent(rate.low)}–{percent(rate.high)}] (judge alone {percent(rate.judge)})")
    return text


def judges_blocks(results: Any, level: int) -> list[Any]:
    """The Judges section of one benchmark (nothing when no run was judged twice or labelled)."""
    from mmsafety.report.document import Heading, Paragraph, Table, difference_cell, p_text, percent, rate_cell
    from mmsafety.report.rate_cells import rate_title

    judged_list = getattr(results, "judged_runs", [])
    if not judged_list:
        return []
    blocks: list[Any] = [
        Heading(level, "Judges"),
        Paragraph("Runs judged by more than one judge, or labelled by people: verdict files of one model's responses "
                  "(the same response_sha256 on every shared id) are one run. Agreement: Cohen's κ per pair (bootstrap "
                  "interval over the items both rated) and Krippendorff's α (nominal) across all, on the verdicts "
                  "(invalid left out) and on each headline rate's pass/fail. A human sample covers part of the run: "
                  "its κ is over the labelled items."),
    ]
    for judged in judged_list:
        blocks.append(Heading(level + 1, judged.model))
        rows = []
        for table in judged.agreement.tables:
            on = "verdicts" if table.on == "verdicts" else f"{rate_title(table.on)} (pass/fail)"
            for pair in table.pairs:
                kappa = "—" if pair.kappa is None else f"{pair.kappa:.3f}"
                if pair.kappa_low is not None:
                    kappa += f" [{pair.kappa_low:.3f}, {pair.kappa_high:.3f}]"
                rows.append([on, f"{pair.first} vs {pair.second}", str(pair.items), percent(pair.agreement, 1), kappa])
            rows.append([on, "all (Krippendorff's α)", str(table.units), "", "—" if table.alpha is None else f"α {table.alpha:.3f}"])
        blocks.append(Table(["on", "pair", "items", "agreement %", "κ [interval]"], rows))
        runs = judged.files
        blocks.append(Paragraph("Each headline rate under each judge (a human file's rate is over its labelled items, "
                                "unweighted), and the paired difference of every two (first minus second, points, over the "
                                "items both count; paired bootstrap interval; exact McNemar p):"))
        blocks.append(Table(["rate", *judged.names],
                            [[rate_title(n), *(rate_cell(run.score.rates.get(n), False) for run in runs)] for n in results.headline]))
        blocks.append(Table(["judges", "rate", "pairs", "difference [interval]", "discordant", "McNemar p"],
                            [[f"{a} − {b}", rate_title(r.name), str(r.items), difference_cell(r), f"{r.first_only} / {r.second_only}",
                              p_text(r.p_value)] for a, b, rates in judged.paired for r in rates]))
        if judged.corrected:
            level_text = f"{100 * results_confidence(results):g}%"
            blocks.append(Paragraph(f"Rates corrected for the judge's errors by the human labels. Method: {METHOD}. "
                                    f"Assumption: {ASSUMPTION}. The effective n is the number of human labels alone that "
                                    f"would give an interval as narrow. Intervals: {level_text}."))
            blocks.append(Table(
                ["judge", "human", "rate", "judge (all items)", "humans (labelled)", "corrected [interval]", "effective n"],
                [[j, h, rate_title(r.name), f"{percent(r.judge)} ({r.items})",
                  "—" if r.human is None else f"{percent(r.human)} [{percent(r.human_low)}–{percent(r.human_high)}] ({r.labelled})",
                  "—" if r.corrected is None else f"{percent(r.corrected)} [{percent(r.low)}–{percent(r.high)}]",
                  "—" if r.effective is None else f"{r.effective:.1f}"]
                 for j, h, rates in judged.corrected for r in rates]))
    return blocks


def results_confidence(results: Any) -> float:
    """The interval level the runs were scored with."""
    return float(results.runs[0].score.settings["confidence"]) if results.runs else 0.95
