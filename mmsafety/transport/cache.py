"""The answer cache of the LLM judge (and of `mmsafety respond`): one SQLite file, WAL, one commit per answer.

An entry's key is a SHA-256 (:func:`cache_key`) over everything that decides the answer:
for the judge (:meth:`mmsafety.judges.llm.LLMJudge.cache_key_for`) the endpoint's address,
the judge model, the rubric's hash, the benchmark, its version, the sample id and a hash of
the sample's text, a hash of the response text, and the generation settings; for the model
under test (:meth:`mmsafety.runs.respond.Responder.cache_key_for`) the endpoint's address,
the model, the sample id, hashes of the query, the image and the system prompt, whether the
run is blind, and the generation settings. The API key is never part of it, and an answer
that echoes the key is stored with it masked (:func:`mmsafety.transport.ask.masked`).

Each answer is committed as soon as it arrives, so a run killed at any moment (even
with SIGKILL) keeps every answer it had received; a rerun asks again only what was in
flight. Transient failures (timeouts, exhausted retries) are not cached, so a rerun
tries them again.

>>> import tempfile, os
>>> with tempfile.TemporaryDirectory() as d:
...     with AnswerCache(os.path.join(d, "c.sqlite")) as cache:
...         cache.put("k1", CachedAnswer("answer", '{"verdict": "safe"}'), model="m", sample_id="1")
...         cache.get_many(["k1", "k2"])
{'k1': CachedAnswer(outcome='answer', raw='{"verdict": "safe"}')}
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from mmsafety.errors import InputError

SCHEMA_VERSION = 1
OUTCOMES = ("answer", "content_filter", "judge_refusal")
"""What can be cached: a judge model's text answer, a provider's content-filter refusal, or the
judge model's own (structured-output) refusal to judge."""


@dataclass(frozen=True)
class CachedAnswer:
    """One cached outcome: ``answer`` with the model's raw text, or ``content_filter``."""

    outcome: str
    raw: str | None


def sha256_text(text: str) -> str:
    """Hex SHA-256 of ``text`` in UTF-8.

    >>> sha256_text("")[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_key(parts: Mapping[str, object]) -> str:
    """A stable key over ``parts`` (canonical JSON, SHA-256); the order of keys does not matter.

    >>> cache_key({"model": "m", "sample_id": "1"}) == cache_key({"sample_id": "1", "model": "m"})
    True
    """
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return sha256_text(canonical)


class AnswerCache:
    """The answers of an LLM judge on disk (a SQLite file in WAL mode)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS answers (
                    key TEXT PRIMARY KEY,
                    outcome TEXT NOT NULL,
                    raw TEXT,
                    model TEXT,
                    sample_id TEXT,
                    created REAL NOT NULL
                )"""
            )
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
        except sqlite3.DatabaseError as error:
            raise InputError(f"expected an mmsafety answer cache (SQLite): {error}", file=self.path) from error

    def get_many(self, keys: Iterable[str]) -> dict[str, CachedAnswer]:
        """The cached answers among ``keys``."""
        keys = list(keys)
        found: dict[str, CachedAnswer] = {}
        chunk = 500
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            rows = self._db.execute(
                f"SELECT key, outcome, raw FROM answers WHERE key IN ({','.join('?' * len(part))})", part
            )
            for key, outcome, raw in rows:
                found[key] = CachedAnswer(outcome, raw)
        return found

    def get(self, key: str) -> CachedAnswer | None:
        """The cached answer under ``key``, if any."""
        return self.get_many([key]).get(key)

    def put(self, key: str, answer: CachedAnswer, *, model: str = "", sample_id: str = "") -> None:
        """Store ``answer`` under ``key`` and commit at once."""
        if answer.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {answer.outcome!r}")
        self._db.execute(
            "INSERT OR REPLACE INTO answers (key, outcome, raw, model, sample_id, created) VALUES (?, ?, ?, ?, ?, ?)",
            (key, answer.outcome, answer.raw, model, sample_id, time.time()),
        )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        """Close the database (every answer is already committed)."""
        self._db.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
