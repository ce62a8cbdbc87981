"""Runs over a built benchmark: the records of a run (samples, responses, verdicts), their
JSONL files, the OpenAI-compatible endpoint, the answer cache, and ``respond``."""
