"""Runs over a built benchmark: the records of a run (samples, responses, verdicts), their
JSONL files, and ``respond``. Talking to the model (endpoint, answer cache, the asking loop)
is :mod:`mmsafety.transport`'s."""
