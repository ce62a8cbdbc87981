"""What every harness integration needs: a benchmark's rows (a local build, a Parquet export
folder or the Hub) and the benchmark's offline judge.

>>> named_judge("yesno").name, named_judge("rules").name
('yesno', 'rules')
"""

from __future__ import annotations

from pathlib import Path

import datasets

from mmsafety import benchmarks
from mmsafety.data.configs import DEFAULT_CONFIG
from mmsafety.errors import InputError, NotBuiltError
from mmsafety.judges.base import Judge

SPLIT = "test"


def export_configs(folder: Path) -> dict[str, list[str]]:
    """The configurations an export's card declares (``configs:`` in its YAML) and the
    ``test`` data-file patterns of each; empty when the card declares none."""
    from huggingface_hub import DatasetCard

    card = folder / "README.md"
    if not card.is_file():
        return {}
    try:
        configs = DatasetCard.load(card).data.to_dict().get("configs") or []
    except Exception as error:  # a card whose YAML does not parse
        raise InputError(f"expected a dataset card with YAML metadata, found one that does not parse ({type(error).__name__})", file=card) from None
    found: dict[str, list[str]] = {}
    for entry in configs if isinstance(configs, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("config_name"), str):
            continue
        files = entry.get("data_files") or []
        patterns = [f["path"] for f in files if isinstance(f, dict) and f.get("split") == SPLIT and isinstance(f.get("path"), str)]
        found[entry["config_name"]] = patterns or ["data/*.parquet"]
    return found


def export_files(folder: str | Path, config: str = DEFAULT_CONFIG) -> list[str]:
    """The Parquet files of configuration ``config`` in an export folder (``mmsafety build NAME
    --export DIR``), sorted: the files its card's ``configs:`` entry names, else ``data/``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("expected an export folder (mmsafety build NAME --export DIR), found none", file=folder)
    configs = export_configs(folder)
    if configs and config not in configs:
        raise InputError(f"expected configuration {config!r} in the export, found {', '.join(map(repr, configs))}", file=folder / "README.md", record="configs")
    if not configs and config != DEFAULT_CONFIG:
        raise InputError(f"expected configuration {config!r} in the export, found a card without configs (the default one)", file=folder)
    patterns = configs.get(config, ["data/*.parquet"])
    files = sorted({str(p) for pattern in patterns for p in folder.glob(pattern) if p.suffix == ".parquet" and p.resolve().is_relative_to(folder.resolve())})
    if not files:
        raise InputError(f"expected Parquet files at {', '.join(patterns)} (an mmsafety export), found none", file=folder)
    return files


def load_rows(benchmark: str, path: str | Path | None = None, config: str | None = None) -> datasets.Dataset:
    """The ``test`` split of ``benchmark`` (short name or repo id) in its configuration ``config``
    (``None``: its default): from the export folder ``path`` when given, else the local build,
    else the Hub."""
    from mmsafety.data.catalog import built_versions, load_benchmark
    from mmsafety.data.configs import check_config

    config = check_config(benchmark, config)
    if path:
        return datasets.load_dataset("parquet", data_files={SPLIT: export_files(path, config)}, split=SPLIT)
    repo = benchmarks.repo_id(benchmark)
    if any(build.parts[-3] == config for build in built_versions(repo)):
        from datasets.utils import logging as datasets_logging

        level = datasets_logging.get_verbosity()
        datasets_logging.set_verbosity_error()  # no "Found the latest cached dataset" chatter
        try:
            return load_benchmark(benchmark, config=config)
        finally:
            datasets_logging.set_verbosity(level)
    try:
        return datasets.load_dataset(repo, config, split=SPLIT)
    except (ConnectionError, FileNotFoundError, ValueError) as error:  # offline, no such dataset (or configuration) on the Hub or in its cache
        command = f"mmsafety build {benchmark}" if benchmarks.get(benchmark) else "mmsafety build custom ..."
        what = repr(repo)
        if config != DEFAULT_CONFIG:
            command += f" --config {config}"
            what += f" (configuration {config!r})"
        raise NotBuiltError(
            f"benchmark {what} is neither built here nor reachable on the Hub ({type(error).__name__}): "
            f"run `{command}`, or point at a Parquet export"
        ) from None


def named_judge(name: str, *, compat: bool = False) -> Judge:
    """The offline judge called ``name`` (``yesno`` or ``rules``; a benchmark's own is
    ``benchmarks.judging(benchmark).offline_judge``). ``mmsafety judge`` builds these here too."""
    if name == "yesno":
        from mmsafety.judges.yesno import YesNoJudge

        return YesNoJudge(compat=compat)
    if compat:
        raise InputError(f"compat applies to the yesno judge only, not to {name}")
    if name == "rules":
        from mmsafety.judges.rules import RuleJudge

        return RuleJudge()
    raise InputError(f"unknown offline judge {name!r}: expected yesno or rules")


def task_name(benchmark: str, config: str = DEFAULT_CONFIG) -> str:
    """The task (or dataset) name a harness sees: ``mmsafety_salad``; ``org_my_set`` for a repo
    id; the configuration after it when it is not the default one.

    >>> task_name("salad"), task_name("me/My-Set"), task_name("mmsafeaware", "full")
    ('mmsafety_salad', 'me_my_set', 'mmsafety_mmsafeaware_full')
    """
    short = benchmarks.short_name(benchmarks.repo_id(benchmark))
    name = f"mmsafety_{short}" if "/" not in short else short
    if config != DEFAULT_CONFIG:
        name += f"_{config}"
    return "".join(c if c.isalnum() else "_" for c in name.lower())


def check_target(folder: str | Path) -> Path:
    """``folder`` if it is absent or an empty folder; bad input otherwise (nothing there is
    mmsafety's to replace)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError("expected a folder to write into, found a file", file=folder)
    if folder.is_dir() and any(folder.iterdir()):
        raise InputError("expected an empty or absent folder to write into, found one with files (nothing is overwritten)", file=folder)
    return folder


def write_folder(folder: str | Path, files: dict[str, bytes | str]) -> list[Path]:
    """Write ``files`` (relative path → content) as the folder ``folder``, all or nothing:
    into a staging folder beside it, then renamed into place. ``folder`` must be absent or empty."""
    import os
    import secrets
    import shutil

    folder = check_target(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        for relative, content in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_bytes(content)
        check_target(folder)  # still absent or empty: nothing of anyone else's is replaced
        try:
            os.replace(staging, folder)  # refuses a folder that is no longer empty
        except OSError as error:
            raise InputError(f"could not move the written files into place ({error.strerror}): expected an empty or absent folder", file=folder) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / relative for relative in files]


ORDERS = ("dataset", "interleave")
"""Row orders an export can have: the dataset's own, or :func:`interleaved_order`."""


def round_robin(groups: list[list[int]]) -> list[int]:
    """One from each group in turn, until all are used.

    >>> round_robin([[0, 1, 2], [3], [4, 5]])
    [0, 3, 4, 1, 5, 2]
    """
    order: list[int] = []
    for turn in range(max((len(g) for g in groups), default=0)):
        order += [g[turn] for g in groups if turn < len(g)]
    return order


def interleaved_order(subsets: list[str], categories: list[str]) -> list[int]:
    """Row positions taking subsets in turn and, within a subset, categories in turn (each in
    first-seen order), so the first N rows (a harness's ``--limit N``) cover every subset and
    as many categories as N allows.

    >>> interleaved_order(["a", "a", "a", "b", "b"], ["x", "x", "y", "x", "z"])
    [0, 3, 2, 4, 1]
    """
    by_subset: dict[str, dict[str, list[int]]] = {}
    for index, (subset, category) in enumerate(zip(subsets, categories)):
        by_subset.setdefault(subset, {}).setdefault(category, []).append(index)
    return round_robin([round_robin(list(by_category.values())) for by_category in by_subset.values()])


def ordered_rows(rows: datasets.Dataset, order: str = "dataset") -> datasets.Dataset:
    """``rows`` in the export order ``order`` (:data:`ORDERS`)."""
    if order == "dataset":
        return rows
    if order != "interleave":
        raise InputError(f"expected an order among {', '.join(ORDERS)}, found {order!r}", record="--order")
    return rows.select(interleaved_order(list(rows["subset"]), list(rows["category"])))
