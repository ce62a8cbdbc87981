"""Where built benchmarks live, and loading them back.

A build registers its dataset in the Hugging Face datasets cache under its repo id
(``mmsafety/<name>``, or a custom set's ``ORG/NAME``), in the folder ``datasets``
itself maps that id to, and records the exact id beside it; this module finds it
there without touching the network.

>>> builder_dir_name("Holly301/SaLAD"), builder_dir_name("xb/my_set"), builder_dir_name("xb/MySet")
('Holly301___sa_lad', 'xb___my_set', 'xb___my_set')
"""

from __future__ import annotations

import json
from pathlib import Path

import datasets
from datasets.naming import camelcase_to_snakecase

from mmsafety import benchmarks
from mmsafety.errors import NotBuiltError

REPO_MARKER = ".mmsafety-repo.json"
"""Beside a build's ``<config>`` folders: the exact repo id the folder was built for."""


def cache_root() -> Path:
    """The datasets cache (``HF_DATASETS_CACHE``, else ``HF_HOME``/datasets)."""
    return Path(datasets.config.HF_DATASETS_CACHE)


def builder_dir_name(repo: str) -> str:
    """The folder name ``datasets`` gives a repo id in its cache: ``org___snake_case_name``.

    ``load_dataset`` maps the name part to snake case, so ids that differ in case
    (``xb/MySet``, ``xb/my_set``) share one folder.
    """
    namespace, _, name = repo.rpartition("/")
    name = camelcase_to_snakecase(name)
    return f"{namespace}___{name}" if namespace else name


def repo_cache_dir(repo: str) -> Path:
    """Where builds of ``repo`` live in the datasets cache."""
    return cache_root() / builder_dir_name(repo)


def recorded_repo_id(repo: str) -> str | None:
    """The repo id the cache folder of ``repo`` was built for (``None`` when no build recorded one)."""
    try:
        recorded = json.loads((repo_cache_dir(repo) / REPO_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = recorded.get("repo_id") if isinstance(recorded, dict) else None
    return value if isinstance(value, str) else None


def built_versions(repo: str) -> list[Path]:
    """Every completed build of ``repo`` in the cache (``<config>/<version>/<hash>`` folders).

    Hidden folders (a build moved aside while it is replaced) are not builds.
    """
    root = repo_cache_dir(repo)
    return sorted(
        p.parent
        for p in root.glob("*/*/*/dataset_info.json")
        if not any(part.startswith(".") for part in p.relative_to(root).parts[:-1])
    )


def not_built(name: str, repo: str, why: str = "", config: str = "default") -> NotBuiltError:
    """The one error for a benchmark (configuration ``config``) that is missing or incomplete in the cache."""
    benchmark = benchmarks.get(name)
    command = f"mmsafety build {benchmark.name}" if benchmark else "mmsafety build custom ..."
    what = repr(repo)
    if config != "default":
        command += f" --config {config}"
        what += f" (configuration {config!r})"
    reason = f" ({why})" if why else ""
    return NotBuiltError(f"benchmark {what} is not built in {cache_root()}{reason}: run `{command}` first")


def load_benchmark(name: str, split: str = "test", config: str = "default") -> datasets.Dataset:
    """Load a built benchmark from the local cache, as ``load_dataset`` would offline.

    ``name`` is a built-in benchmark (``"salad"``) or any repo id (``"org/name"``)
    that ``load_dataset`` accepts for a build in the cache. Raises
    :class:`NotBuiltError` naming the build command when nothing (or only part of a
    build) is in the cache.
    """
    repo = benchmarks.repo_id(name)
    if not any(path.parts[-3] == config for path in built_versions(repo)):
        raise not_built(name, repo, config=config)
    # The builder ``load_dataset`` itself uses for a cached dataset offline: going
    # through the Hub resolution first would wait on the network for nothing.
    from datasets.packaged_modules.cache.cache import Cache

    try:
        builder = Cache(
            cache_dir=str(cache_root()),
            repo_id=repo,
            dataset_name=repo.split("/")[-1],
            config_name=config,
            version="auto",
            hash="auto",
        )
        return builder.as_dataset(split=split)
    except (ValueError, FileNotFoundError, OSError) as error:  # a build cut short: files or split info missing
        raise not_built(name, repo, f"incomplete: {type(error).__name__}", config) from None
