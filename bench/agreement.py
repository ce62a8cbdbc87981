"""`mmsafety agree`'s statistics on a large run against what a user would otherwise write.

For ``--items`` verdicts of two judges (and a third with missing values), times

- Cohen's κ with its bootstrap interval (``--resamples``) by
  :func:`mmsafety.scoring.agreement.kappa_interval`, against a loop of scikit-learn's
  ``cohen_kappa_score`` over the same number of resamples (the baseline);
- Krippendorff's α by :func:`mmsafety.scoring.agreement.krippendorff_alpha`, against the
  ``krippendorff`` package's ``alpha`` on the same ratings;

each best of ``--repeat``, and prints the timings, their ratio and this process's peak memory.
Both baselines are test dependencies (``pip install -e '.[test]'``).

    python bench/agreement.py [--items 20000] [--resamples 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import peak_rss_mb  # noqa: E402

from mmsafety.labels import VERDICTS  # noqa: E402
from mmsafety.scoring.agreement import kappa_interval, krippendorff_alpha  # noqa: E402


def best(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    first = rng.choice(VERDICTS[:4], args.items, p=[0.5, 0.2, 0.2, 0.1])
    second = np.where(rng.random(args.items) < 0.75, first, rng.choice(VERDICTS[:4], args.items))
    third = np.where(rng.random(args.items) < 0.7, first, rng.choice(VERDICTS[:4], args.items)).astype(object)
    third[rng.random(args.items) < 0.3] = None
    a, b = list(first), list(second)

    ours = best(args.repeat, lambda: kappa_interval(a, b, resamples=args.resamples))

    def baseline() -> None:
        draws = np.random.default_rng(0).integers(0, args.items, size=(args.resamples, args.items))
        values = [cohen_kappa_score(first[d], second[d]) for d in draws]
        np.percentile(values, [2.5, 97.5])

    theirs = best(args.repeat, baseline)
    ratings = [a, b, list(third)]
    codes = np.array([[np.nan if v is None else VERDICTS.index(v) for v in row] for row in ratings], dtype=float)
    alpha_ours = best(args.repeat, lambda: krippendorff_alpha(ratings))
    alpha_theirs = best(args.repeat, lambda: krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal"))

    print(f"{args.items:,} items, {args.resamples} bootstrap resamples, best of {args.repeat}")
    print(f"kappa + bootstrap interval: mmsafety {ours:.2f} s, scikit-learn loop {theirs:.2f} s ({theirs / ours:.1f}x)")
    print(f"alpha, 3 raters with missing values: mmsafety {alpha_ours:.3f} s, krippendorff {alpha_theirs:.3f} s "
          f"({alpha_theirs / alpha_ours:.1f}x)")
    print(f"peak memory: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
