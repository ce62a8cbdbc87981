"""How far judges agree on one run: what ``mmsafety agree`` prints and the report's Judges section shows.

:func:`agreement` takes the records of verdict files of the same responses (checked with
:func:`mmsafety.runs.judged.check_same_responses`) and gives, on the full verdicts and on the
pass/fail of each headline rate under the benchmark's policy (what the rate counts:
:meth:`~mmsafety.scoring.policies.Rate.outcome`):

- per pair of files: the items both rated, percent agreement, Cohen's κ with a bootstrap
  interval, and the confusion matrix (:func:`mmsafety.scoring.agreement.pair_agreement`);
- across all files: Krippendorff's α (nominal), every item any file rated a unit;

overall, per category and per subset. ``invalid`` verdicts are counted per file and, by default,
left out of the verdict agreement (``keep_invalid=True`` makes ``invalid`` a category like the
others); a rate's pass/fail follows the scoring's ``invalid`` handling (``exclude``: left out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mmsafety.labels import VERDICTS
from mmsafety.report.rate_cells import item_rates, outcome
from mmsafety.scoring.agreement import PairAgreement, krippendorff_alpha, pair_agreement
from mmsafety.scoring.policies import Policy, get_policy

PASS_FAIL = ("pass", "fail")
"""The categories of a rate's item outcome: counted in its numerator, or not."""


@dataclass(frozen=True)
class AgreementTable:
    """Agreement on one thing: the verdicts, or one rate's pass/fail."""

    on: str
    """``verdicts`` or a rate's name."""
    pairs: list[PairAgreement]
    alpha: float | None
    units: int
    """Items rated by at least two files (the units α counts)."""

    def to_json(self) -> dict[str, Any]:
        return {"on": self.on, "alpha": self.alpha, "alpha_units": self.units, "pairs": [p.to_json() for p in self.pairs]}


@dataclass(frozen=True)
class Agreement:
    """The agreement of several files' verdicts on one run."""

    raters: list[str]
    items: dict[str, int]
    """Rater -> items it rated."""
    invalid: dict[str, int]
    """Rater -> its ``invalid`` verdicts."""
    keep_invalid: bool
    invalid_handling: str
    tables: list[AgreementTable]
    """On the verdicts first, then each headline rate."""
    by_category: dict[str, list[AgreementTable]] = field(default_factory=dict)
    by_subset: dict[str, list[AgreementTable]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "raters": [{"name": r, "items": self.items[r], "invalid": self.invalid[r]} for r in self.raters],
            "invalid_verdicts": "kept as a category" if self.keep_invalid else "left out",
            "invalid_handling": self.invalid_handling,
            "overall": [t.to_json() for t in self.tables],
            "by_category": {k: [t.to_json() for t in v] for k, v in self.by_category.items()},
            "by_subset": {k: [t.to_json() for t in v] for k, v in self.by_subset.items()},
        }


def _verdict(record: Mapping[str, Any], keep_invalid: bool) -> str | None:
    return record["verdict"] if keep_invalid or record["verdict"] != "invalid" else None


def _pass_fail(record: Mapping[str, Any], parts: Sequence[Any], invalid: str) -> str | None:
    for part in parts:
        value = outcome(record, part, invalid)
        if value is not None:
            return "pass" if value else "fail"
    return None


def _table(on: str, raters: Sequence[str], values: Sequence[Mapping[str, str | None]], units: Sequence[str], categories: Sequence[str],
           *, confidence: float, resamples: int, seed: int) -> AgreementTable:
    rows = [[v.get(u) for u in units] for v in values]
    pairs = [pair_agreement(raters[i], raters[j], rows[i], rows[j], categories=categories, confidence=confidence,
                            resamples=resamples, seed=seed)
             for i in range(len(raters)) for j in range(i + 1, len(raters))]
    rated = sum(1 for u in range(len(units)) if sum(row[u] is not None for row in rows) >= 2)
    return AgreementTable(on, pairs, krippendorff_alpha(rows), rated)


def _tables(raters: Sequence[str], files: Sequence[Sequence[Mapping[str, Any]]], policy: Policy, headline: Sequence[str], *,
            keep_invalid: bool, invalid: str, confidence: float, resamples: int, seed: int) -> list[AgreementTable]:
    units = list(dict.fromkeys(str(r["id"]) for records in files for r in records))
    verdicts = [{str(r["id"]): _verdict(r, keep_invalid) for r in records} for records in files]
    shown = [v for v in VERDICTS if keep_invalid or v != "invalid"]
    tables = [_table("verdicts", raters, verdicts, units, shown, confidence=confidence, resamples=resamples, seed=seed)]
    for name in headline:
        parts = item_rates(policy, name)
        values = [{str(r["id"]): _pass_fail(r, parts, invalid) for r in records} for records in files]
        tables.append(_table(name, raters, values, units, PASS_FAIL, confidence=confidence, resamples=resamples, seed=seed))
    return tables


def agreement(raters: Sequence[str], files: Sequence[Sequence[Mapping[str, Any]]], policy: str | Policy, headline: Sequence[str] | None = None,
              *, keep_invalid: bool = False, invalid: str = "exclude", confidence: float = 0.95, resamples: int = 2000,
              seed: int = 0, groups: bool = True) -> Agreement:
    """The agreement of ``files`` (one list of verdict records per rater, named by ``raters``)
    under ``policy`` (``headline``: the rates; default the policy's headline), as the module
    docstring says. ``groups=False`` leaves out the per-category and per-subset tables."""
    from mmsafety.report.rate_cells import headline as policy_headline

    resolved = policy if isinstance(policy, Policy) else get_policy(policy)
    names = list(headline) if headline is not None else list(policy_headline(resolved))
    settings = {"keep_invalid": keep_invalid, "invalid": invalid, "confidence": confidence, "resamples": resamples, "seed": seed}
    result = Agreement(
        raters=list(raters),
        items={r: len(f) for r, f in zip(raters, files)},
        invalid={r: sum(1 for x in f if x["verdict"] == "invalid") for r, f in zip(raters, files)},
        keep_invalid=keep_invalid,
        invalid_handling=invalid,
        tables=_tables(raters, files, resolved, names, **settings),
    )
    if groups:
        for kind, grouped in (("category", result.by_category), ("subset", result.by_subset)):
            keys = sorted({str(r[kind]) for records in files for r in records})
            if len(keys) < 2:
                continue
            for key in keys:
                parts = [[r for r in records if r[kind] == key] for records in files]
                usable = [n for n in names if _applies(resolved, n, parts)]
                grouped[key] = _tables(raters, parts, resolved, usable, **settings)
    return result


def _applies(policy: Policy, name: str, files: Sequence[Sequence[Mapping[str, Any]]]) -> bool:
    """Whether any record of the group is in the rate's denominator (a subset's rate outside its subset is not)."""
    parts = item_rates(policy, name)
    return any(_pass_fail(r, parts, "fail") is not None for records in files for r in records)
