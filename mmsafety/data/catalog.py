"""Where built benchmarks live, and loading them back.

A build registers its dataset in the Hugging Face datasets cache under the repo id
``mmsafety/<name>``; this module finds it there without touching the network.
"""

from __future__ import annotations

from pathlib import Path

import datasets

from mmsafety.errors import NotBuiltError
from mmsafety import benchmarks


def cache_root() -> Path:
    """The datasets cache (``HF_DATASETS_CACHE``, else ``HF_HOME``/datasets)."""
    return Path(datasets.config.HF_DATASETS_CACHE)


def builder_dir_name(repo: str) -> str:
    """The folder name ``datasets`` gives a repo id in its cache: ``org___name``."""
    return repo.replace("/", "___")


def built_versions(repo: str) -> list[Path]:
    """Every completed build of ``repo`` in the cache (``<config>/<version>/<hash>`` folders)."""
    root = cache_root() / builder_dir_name(repo)
    return sorted(p.parent for p in root.glob("*/*/*/dataset_info.json"))


def load_benchmark(name: str, split: str = "test", config: str = "default") -> datasets.Dataset:
    """Load a built benchmark from the local cache, as ``load_dataset`` would offline.

    ``name`` is a built-in benchmark (``"salad"``) or any repo id (``"org/name"``)
    registered by a build. Raises :class:`NotBuiltError` naming the build command
    when nothing is in the cache.
    """
    repo = benchmarks.repo_id(name)
    if not any(path.parts[-3] == config for path in built_versions(repo)):
        command = f"mmsafety build {name}" if benchmarks.get(name) else "mmsafety build custom ..."
        raise NotBuiltError(
            f"benchmark {repo!r} is not built in {cache_root()}: run `{command}` first",
        )
    # The builder ``load_dataset`` itself uses for a cached dataset offline: going
    # through the Hub resolution first would wait on the network for nothing.
    from datasets.packaged_modules.cache.cache import Cache

    builder = Cache(
        cache_dir=str(cache_root()),
        repo_id=repo,
        dataset_name=repo.split("/")[-1],
        config_name=config,
        version="auto",
        hash="auto",
    )
    return builder.as_dataset(split=split)
