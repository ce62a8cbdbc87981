"""The scoring core: judged predictions (verdicts) and sample labels in, safety rates out.

:func:`score` is the one entry point; it returns a :class:`Score` (``score(...).rates[name]``
is a :class:`RateValue` with its count, denominator and intervals). The work is split by
what it is:

- :mod:`~mmsafety.scoring.columns`: verdicts, labels, categories and subsets of any sequence
  (list, numpy, pyarrow, a ``datasets`` column) to integer codes, bad values named;
- :mod:`~mmsafety.scoring.tally`: the counts of (label, verdict) pairs a score depends on,
  which batches and processes add up (``mmsafety.metrics.SafetyMetric`` keeps only these);
- :mod:`~mmsafety.scoring.policies`: the table that says what each rate counts;
- :mod:`~mmsafety.scoring.rates`: rates, Wilson and bootstrap intervals from counts;
- :mod:`~mmsafety.scoring.result`: the typed result.

>>> from mmsafety.scoring import score
>>> result = score(["safe", "refusal", "unsafe", "safe"],
...                ["unsafe", "unsafe", "unsafe", "oversensitive"], policy="salad")
>>> rate = result.rates["safe_response_rate"]
>>> rate.value, rate.numerator, rate.denominator
(0.3333333333333333, 1, 3)
>>> result["safe_response_rate"]  # the flat view, as a mapping
0.3333333333333333
"""

from mmsafety.lazy import exports

__all__ = [
    "INVALID_HANDLING",
    "RATE_FIELDS",
    "Group",
    "RateValue",
    "Score",
    "Tally",
    "check_lengths",
    "check_settings",
    "decode",
    "encode",
    "group_keys",
    "score",
    "score_tally",
    "wilson_interval",
]

__getattr__, __dir__ = exports(__name__, {
    "INVALID_HANDLING": "mmsafety.scoring.policies",
    "RATE_FIELDS": "mmsafety.scoring.result",
    "Group": "mmsafety.scoring.result",
    "RateValue": "mmsafety.scoring.result",
    "Score": "mmsafety.scoring.result",
    "Tally": "mmsafety.scoring.tally",
    "check_lengths": "mmsafety.scoring.columns",
    "check_settings": "mmsafety.scoring.rates",
    "decode": "mmsafety.scoring.columns",
    "encode": "mmsafety.scoring.columns",
    "group_keys": "mmsafety.scoring.columns",
    "score": "mmsafety.scoring.scorer",
    "score_tally": "mmsafety.scoring.scorer",
    "wilson_interval": "mmsafety.scoring.rates",
})
