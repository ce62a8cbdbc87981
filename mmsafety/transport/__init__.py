"""Talking to a model over an OpenAI-compatible chat endpoint: the one place for it.

- :mod:`~mmsafety.transport.endpoint`: the client, its retries and time limits, the key's redaction;
- :mod:`~mmsafety.transport.cache`: the answer cache on disk, keyed by everything that decides an answer;
- :mod:`~mmsafety.transport.ask`: the loop that asks many requests at once, resumes from the cache and
  stops early on a dead endpoint.

Used by ``mmsafety respond`` (:mod:`mmsafety.runs.respond`) and the LLM judge (:mod:`mmsafety.judges.llm`).
"""
