"""What every harness integration needs: a benchmark's rows (a local build, a Parquet export
folder or the Hub) and the benchmark's offline judge.

>>> named_judge("yesno").name, named_judge("rules").name
('yesno', 'rules')
"""

from __future__ import annotations

from pathlib import Path

import datasets

from mmsafety import benchmarks
from mmsafety.errors import InputError, NotBuiltError
from mmsafety.judges.base import Judge

SPLIT = "test"


def export_files(folder: str | Path, config: str | None = None) -> list[str]:
    """The Parquet files of an export folder (``mmsafety build NAME --export DIR``), sorted: those
    of configuration ``config`` (``None``: the first its card lists, the default) in an export of
    several (``data/<config>/``), else ``data/``'s."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("expected an export folder (mmsafety build NAME --export DIR), found none", file=folder)
    where = "data/"
    exported = exported_configs(folder)
    if config is not None and exported and config not in exported:
        raise InputError(f"expected configuration {config!r} in the export, found {', '.join(exported)} (its card's configs)", file=folder)
    files = sorted(str(p) for p in (folder / "data").glob("*.parquet"))
    wanted = config or (exported[0] if exported else None)  # an export of several: its default first
    if not files and wanted is not None:
        where = f"data/{wanted}/"
        files = sorted(str(p) for p in (folder / "data" / wanted).glob("*.parquet"))
    if not files:
        raise InputError(f"expected Parquet files under {where} (an mmsafety export), found none", file=folder)
    return files


def exported_configs(folder: Path) -> list[str]:
    """The configurations an export's card lists (``configs`` in its YAML; none without a card)."""
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    card = folder / "README.md"
    if not card.is_file():
        return []
    return list(MetadataConfigs.from_dataset_card_data(DatasetCard.load(card).data))


def load_rows(benchmark: str, path: str | Path | None = None, *, config: str | None = None) -> datasets.Dataset:
    """The ``test`` split of ``benchmark`` (short name or repo id) in its configuration ``config``
    (``None``: its default): from the export folder ``path`` when given, else the local build,
    else the Hub."""
    from mmsafety.data.catalog import built_versions, load_benchmark
    from mmsafety.data.configs import check_config

    config = check_config(benchmark, config)
    if path:
        return datasets.load_dataset("parquet", data_files={SPLIT: export_files(path, config)}, split=SPLIT)
    repo = benchmarks.repo_id(benchmark)
    if any(version.parts[-3] == config for version in built_versions(repo)):
        from datasets.utils import logging as datasets_logging

        level = datasets_logging.get_verbosity()
        datasets_logging.set_verbosity_error()  # no "Found the latest cached dataset" chatter
        try:
            return load_benchmark(benchmark, config=config)
        finally:
            datasets_logging.set_verbosity(level)
    try:
        return datasets.load_dataset(repo, config, split=SPLIT)
    except (ConnectionError, FileNotFoundError) as error:  # offline, or no such dataset on the Hub
        command = f"mmsafety build {benchmark}" if benchmarks.get(benchmark) else "mmsafety build custom ..."
        raise NotBuiltError(
            f"benchmark {repo!r} is neither built here nor reachable on the Hub ({type(error).__name__}): "
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


def task_name(benchmark: str) -> str:
    """The task (or dataset) name a harness sees: ``mmsafety_salad``; ``org_my_set`` for a repo id.

    >>> task_name("salad"), task_name("me/My-Set")
    ('mmsafety_salad', 'me_my_set')
    """
    short = benchmarks.short_name(benchmarks.repo_id(benchmark))
    name = f"mmsafety_{short}" if "/" not in short else short
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
