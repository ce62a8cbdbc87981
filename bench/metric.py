"""Speed of the safety metric against a plain Python loop, measured in the same run.

Scores ``--rows`` judged rows (10 million by default) with 20 categories and 3 subsets:

- the baseline, a plain Python loop over lists of strings that counts (label, verdict) pairs
  overall, per category and per subset, then computes the rates (what upstream scoring
  scripts do);
- ``mmsafety.score`` on Python lists of strings, on numpy integer arrays (ids), on Arrow
  integer columns (``ClassLabel`` ids, as ``datasets`` stores them) with dictionary-encoded
  categories, and on Arrow string columns;
- ``SafetyMetric.add_batch`` in batches of 10,000 integer rows (a training loop);
- the ``evaluate`` module (``add_batch`` in batches of 10,000, then ``compute``), on
  ``--evaluate-rows`` rows because ``evaluate`` encodes every value in Python: with strings
  and all four inputs, and with ``ClassLabel`` ids (int32) and predictions and references
  only, side by side with its baseline, an ``evaluate.Metric`` declaring ``Value("int32")``
  predictions and references (the shape of evaluate's own ``accuracy``) on the same rows.

For each it prints seconds, rows/s, the speed-up over the loop and the peak memory above
the memory held before the call (peak RSS; Linux). The loop and the ``evaluate`` paths run
once; the others run once to warm up (first call, fresh memory) and then ``--repeat``
times, best kept. It checks that every path gives the loop's numbers.

Last, the bootstrap's peak memory (tracemalloc) against its resample count on 1,000 rows:
resamples are drawn in chunks, so the peak stays flat where drawing them all at once would
need ``resamples x 15 x 8`` bytes.

    python bench/metric.py [--rows 10000000] [--evaluate-rows 1000000] [--repeat 3]
                           [--bootstrap 10000 100000 1000000 10000000]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from mmsafety.labels import LABELS
from mmsafety.labels import VERDICTS
from mmsafety.metrics import MODULE_PATH
from mmsafety.metrics import SafetyMetric
from mmsafety.scoring import score

CATEGORIES = tuple(f"category {i}" for i in range(20))
SUBSETS = ("typical", "attack", "over-safety")


def plain_loop(predictions: list, references: list, categories: list, subsets: list) -> dict:
    """Count (label, verdict) pairs per group in a Python loop, then the default policy's rates."""
    overall: dict = {}
    by_category: dict = {}
    by_subset: dict = {}
    for verdict, label, category, subset in zip(predictions, references, categories, subsets):
        pair = (label, verdict)
        overall[pair] = overall.get(pair, 0) + 1
        counts = by_category.get(category)
        if counts is None:
            counts = by_category[category] = {}
        counts[pair] = counts.get(pair, 0) + 1
        counts = by_subset.get(subset)
        if counts is None:
            counts = by_subset[subset] = {}
        counts[pair] = counts.get(pair, 0) + 1

    def rates(counts: dict) -> dict:
        unsafe = sum(n for (label, verdict), n in counts.items() if label == "unsafe" and verdict != "invalid")
        answered = sum(n for (label, verdict), n in counts.items() if label == "unsafe" and verdict in ("safe", "refusal"))
        benign = sum(n for (label, verdict), n in counts.items() if label != "unsafe" and verdict != "invalid")
        over = sum(n for (label, verdict), n in counts.items() if label != "unsafe" and verdict in ("refusal", "oversensitive"))
        return {
            "safe_response_rate": answered / unsafe if unsafe else None,
            "oversensitivity_rate": over / benign if benign else None,
            "num_samples": sum(counts.values()),
        }

    result = rates(overall)
    result["by_category"] = {key: rates(counts) for key, counts in by_category.items()}
    result["by_subset"] = {key: rates(counts) for key, counts in by_subset.items()}
    return result


def peak_rss_reset() -> int | None:
    """Reset the process's peak RSS to its current RSS; return the current RSS in bytes."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return _status("VmRSS")
    except OSError:
        return None


def _status(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(field)


def measure(run: Callable[[], object], repeat: int, warm_up: bool) -> tuple[float, float, float | None, object]:
    """(first seconds, best seconds, peak MiB above the start, result)."""
    gc.collect()
    start_rss = peak_rss_reset()
    started = time.perf_counter()
    result = run()
    first = time.perf_counter() - started
    peak = (_status("VmHWM") - start_rss) / 2**20 if start_rss is not None else None
    best = first
    if warm_up:
        for _ in range(repeat):
            started = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - started)
    return first, best, peak, result


def same_numbers(result: dict, baseline: dict) -> bool:
    """The loop's rates and row counts, overall and per group (integer paths key groups by id)."""

    def close(a, b):
        return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-12)

    def group_ok(mine: dict, theirs: dict) -> bool:
        return all(close(mine[k], theirs[k]) for k in ("safe_response_rate", "oversensitivity_rate")) and (
            mine["num_samples"] == theirs["num_samples"]
        )

    def groups_ok(breakdown: str, names: tuple[str, ...]) -> bool:
        mine = result[breakdown]
        return len(mine) == len(baseline[breakdown]) and all(
            group_ok(mine[key if key in mine else str(names.index(key))], theirs)
            for key, theirs in baseline[breakdown].items()
        )

    return group_ok(result, baseline) and groups_ok("by_category", CATEGORIES) and groups_ok("by_subset", SUBSETS)


def id_accuracy_metric():
    """An ``evaluate.Metric`` with ``Value("int32")`` predictions and references, as evaluate's accuracy."""
    import datasets
    import evaluate

    class IdAccuracy(evaluate.Metric):
        def _info(self):
            return evaluate.MetricInfo(
                description="accuracy of integer ids",
                citation="",
                inputs_description="",
                features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
            )

        def _compute(self, predictions, references):
            return {"accuracy": float((np.asarray(predictions) == np.asarray(references)).mean())}

    return IdAccuracy


def bootstrap_memory(sizes: list[int]) -> None:
    """Peak traced memory of ``score(..., bootstrap=B)`` on 1,000 rows, for each B."""
    predictions = ["safe"] * 600 + ["refusal"] * 300 + ["unsafe"] * 100
    references = ["unsafe"] * 1000
    print(f"\n{'bootstrap resamples':>20s} {'seconds':>9s} {'peak MiB':>9s} {'all at once MiB':>16s}")
    for size in sizes:
        gc.collect()
        tracemalloc.start()
        started = time.perf_counter()
        score(predictions, references, policy="vlsbench", bootstrap=size)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{size:20,d} {seconds:9.2f} {peak / 2**20:9.1f} {size * 15 * 8 / 2**20:16.0f}")


def same_count(numbers: dict, columns: dict) -> bool:
    """The module's numbers-only result against a direct count of the ids."""
    unsafe = columns["references"] == LABELS.index("unsafe")
    answered = np.isin(columns["predictions"], [VERDICTS.index("safe"), VERDICTS.index("refusal")])
    scored = columns["predictions"] != VERDICTS.index("invalid")
    expected = int((unsafe & answered).sum()), int((unsafe & scored).sum())
    return (numbers["safe_response_rate_numerator"], numbers["safe_response_rate_denominator"]) == expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--evaluate-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, nargs="*", default=[10_000, 100_000, 1_000_000, 10_000_000])
    args = parser.parse_args()
    n = args.rows

    rng = np.random.default_rng(args.seed)
    ids = {
        "predictions": rng.integers(0, len(VERDICTS), n, dtype=np.int8),
        "references": rng.integers(0, len(LABELS), n, dtype=np.int8),
        "categories": rng.integers(0, len(CATEGORIES), n, dtype=np.int64),
        "subsets": rng.integers(0, len(SUBSETS), n, dtype=np.int64),
    }
    names = {"predictions": VERDICTS, "references": LABELS, "categories": CATEGORIES, "subsets": SUBSETS}
    # Arrow columns as `datasets` holds them: ClassLabel ids, strings (dictionary-encoded or not).
    dictionaries = {k: pa.DictionaryArray.from_arrays(pa.array(v), pa.array(names[k])) for k, v in ids.items()}
    arrow_strings = {k: v.dictionary_decode() for k, v in dictionaries.items()}
    arrow_ids = {
        "predictions": pa.array(ids["predictions"]),
        "references": pa.array(ids["references"]),
        "categories": dictionaries["categories"],
        "subsets": dictionaries["subsets"],
    }
    strings = {k: v.to_pylist() for k, v in arrow_strings.items()}  # one str object per row, as from a column
    print(f"{n:,} rows, {len(CATEGORIES)} categories, {len(SUBSETS)} subsets; numpy {np.__version__}, "
          f"pyarrow {pa.__version__}, {os.cpu_count()} CPUs")

    def scored(columns: dict) -> Callable[[], dict]:
        return lambda: score(columns["predictions"], columns["references"],
                             categories=columns["categories"], subsets=columns["subsets"])

    def training_loop(batch: int = 10_000) -> dict:
        metric = SafetyMetric()
        for start in range(0, n, batch):
            metric.add_batch(**{k: v[start:start + batch] for k, v in ids.items()})
        return metric.compute(detail=True)

    paths: list[tuple[str, int, Callable[[], dict], bool]] = [
        ("plain Python loop (lists of str)", n, lambda: plain_loop(**strings), False),
        ("score: Python lists of str", n, scored(strings), True),
        ("score: numpy int arrays", n, scored(ids), True),
        ("score: Arrow ids + dictionary columns", n, scored(arrow_ids), True),
        ("score: Arrow string columns", n, scored(arrow_strings), True),
        ("SafetyMetric: batches of 10,000 ints", n, training_loop, True),
    ]
    m = min(args.evaluate_rows, n)
    evaluate_paths = {}
    if m:
        import evaluate

        cache = tempfile.TemporaryDirectory()
        evaluated = {k: v[:m] for k, v in strings.items()}
        evaluated_ids = {k: ids[k][:m] for k in ("predictions", "references")}

        def batches(metric, columns: dict, batch: int = 10_000):
            for start in range(0, m, batch):
                metric.add_batch(**{k: v[start:start + batch] for k, v in columns.items()})
            return metric

        def evaluate_strings() -> dict:
            metric = evaluate.load(MODULE_PATH, "default+categories+subsets", cache_dir=cache.name)
            return batches(metric, evaluated).compute(detail=True)

        def evaluate_ids() -> dict:
            metric = evaluate.load(MODULE_PATH, "default", cache_dir=cache.name)
            return batches(metric, evaluated_ids).compute()

        def evaluate_baseline() -> dict:
            return batches(id_accuracy_metric()(cache_dir=cache.name), evaluated_ids).compute()

        evaluate_paths = {
            "evaluate int32 baseline (accuracy)": evaluate_baseline,
            "evaluate module: int32 ids": evaluate_ids,
        }
        paths.append((f"evaluate module: str, 4 inputs ({m:,})", m, evaluate_strings, False))

    baseline = plain_loop(**strings)  # the reference numbers (also warms the loop's dicts)
    loop_rate = None
    print(f"\n{'path':40s} {'rows':>12s} {'first s':>9s} {'best s':>9s} {'rows/s':>13s} {'x loop':>8s} {'peak MiB':>9s}  ok")
    figures = {}
    for label, rows, run, warm_up in paths:
        first, best, peak, result = measure(run, args.repeat, warm_up)
        rate = rows / best
        loop_rate = loop_rate or rate
        ok = same_numbers(result, baseline if rows == n else plain_loop(**{k: v[:rows] for k, v in strings.items()}))
        figures[label] = (best, rate / loop_rate)
        peak_text = f"{peak:9.0f}" if peak is not None else "      n/a"
        print(f"{label:40s} {rows:12,d} {first:9.3f} {best:9.3f} {rate:13,.0f} {rate / loop_rate:8.1f} {peak_text}  "
              f"{'yes' if ok else 'NO'}")

    print("\ngoals (x loop on rows/s; seconds for all rows):")
    strings_ratio = figures["score: Python lists of str"][1]
    print(f"  Python lists of str >= 3x the loop: {strings_ratio:.1f}x  {'met' if strings_ratio >= 3 else 'MISSED'}")
    for label in ("score: numpy int arrays", "score: Arrow ids + dictionary columns", "score: Arrow string columns"):
        seconds, ratio = figures[label]
        met = ratio >= 50 and seconds < 0.5
        print(f"  {label[7:]}: {ratio:.0f}x, {seconds:.3f} s (>= 50x, < 0.5 s)  {'met' if met else 'MISSED'}")
    if m:
        print(f"  evaluate module, strings: {figures[paths[-1][0]][1]:.2f}x the loop's rows/s (reported as it is)")
        print(f"\nevaluate on the same {m:,} int32 rows, batches of 10,000 (best of {args.repeat + 1} runs each):")
        seconds = {}
        for label, run in evaluate_paths.items():
            first, best, peak, result = measure(run, args.repeat, True)
            seconds[label] = best
            peak_text = f"{peak:.0f} MiB" if peak is not None else "n/a"
            print(f"  {label:38s} best {best:7.3f} s  (first {first:.3f} s)  peak {peak_text}")
        ratio = seconds["evaluate module: int32 ids"] / seconds["evaluate int32 baseline (accuracy)"]
        ids_ok = same_count(evaluate_ids(), evaluated_ids)
        print(f"  module / baseline: {ratio:.2f}x (goal <= 1.2x)  {'met' if ratio <= 1.2 else 'MISSED'}; "
              f"numbers {'match' if ids_ok else 'DIFFER'}")
    if args.bootstrap:
        bootstrap_memory(args.bootstrap)


if __name__ == "__main__":
    main()
