"""Shared fixtures: an isolated datasets cache, the upstream copy, a local HTTP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import datasets
import pytest

from helpers.env import UPSTREAM
from helpers.http import serve_directory

@pytest.fixture
def upstream() -> Path:
    """``../shared/upstream`` beside the checkout; the test skips where it is absent."""
    if not UPSTREAM.is_dir():
        pytest.skip(f"the upstream copy is not at {UPSTREAM} (it sits beside the checkout as ../shared/upstream)")
    return UPSTREAM


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache for this test, in-process and for subprocesses."""
    home = tmp_path / "hf-home"
    cache = home / "datasets"
    cache.mkdir(parents=True)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    return cache


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server on 127.0.0.1: ``(base_url, folder it serves)``."""
    root = tmp_path / "served"
    root.mkdir()
    with serve_directory(root) as (base_url, log):
        yield base_url, root
