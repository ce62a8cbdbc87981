"""``mmsafety build``: a registered benchmark, all of them, or ``custom`` (your own set).

::

    mmsafety build salad [--source-dir DIR] [--export DIR] [--checksums FILE]
    mmsafety build custom --records FILE --images DIR --repo-id ORG/NAME [--map query=text,label=safety]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mmsafety.commands.common import print_json
from mmsafety.errors import InputError, list_ids

EXIT_FAILED = 2
"""``build all``'s status when a benchmark failed (the others are built)."""
OPTIONS = ("records", "images", "repo_id", "map", "set_version", "license", "citation", "description", "language", "pretty_name", "task_categories")
DEFAULT_MAX_SHARD_SIZE = "500MB"
"""As ``push_to_hub``'s ``max_shard_size`` (``mmsafety.data.shards.DEFAULT_MAX_SHARD_SIZE``)."""


def add_parser(subparsers: Any) -> None:
    from mmsafety import benchmarks

    build = subparsers.add_parser(
        "build",
        help="build a benchmark into the Hugging Face datasets cache",
        description="Download (or read --source-dir), verify and build a benchmark under mmsafety/<name>, "
        "so that datasets.load_dataset('mmsafety/<name>') works offline.",
    )
    build.add_argument("benchmark", choices=[*benchmarks.names(), "all", "custom"], help="a built-in benchmark, all of them, or `custom`: your own set (options below)")
    build.add_argument("--source-dir", type=Path, help="a local copy of the upstream files (for `all`: a folder with one sub-folder per benchmark)")
    build.add_argument("--export", type=Path, metavar="DIR", help="also write the Hub repository (Parquet shards + card) here: a new or empty folder, or an earlier export "
        "(for `all`: one sub-folder per benchmark)")
    build.add_argument("--allow-missing-images", action="store_true", help="leave out (and list) rows whose image is absent or unreadable")
    build.add_argument("--checksums", type=Path, metavar="FILE", help="pin the upstream files with this checksums.tsv instead of the builder's own")
    build.add_argument(
        "--max-shard-size",
        default=DEFAULT_MAX_SHARD_SIZE,
        metavar="SIZE",
        help=f"largest Parquet shard of the export, spelled as push_to_hub's max_shard_size (default {DEFAULT_MAX_SHARD_SIZE})",
    )
    build.add_argument("--json", action="store_true", help="print one JSON object on stdout instead of the summary: each build's counts, or its error")
    build.add_argument("--config", metavar="NAME[,NAME]", help="the benchmark's configuration to build (mmsafeaware: default or full); several, "
                       "comma-separated, or `all`: each is built, and --export writes them into one Hub repository (data/<config>/, "
                       "every configuration in the card)")
    add_custom_options(build)
    build.set_defaults(func=run_build)


def add_custom_options(build: argparse.ArgumentParser) -> None:
    group = build.add_argument_group(
        "custom sets",
        "mmsafety build custom --records FILE --images DIR --repo-id ORG/NAME [--map query=text,label=safety] "
        "[--version X.Y.Z] [--export DIR]",
    )
    group.add_argument("--records", type=Path, metavar="FILE", help="the records: .csv, .tsv, .jsonl, .json (a list) or .parquet")
    group.add_argument("--images", type=Path, metavar="DIR", help="the folder the records' image file names are relative to")
    group.add_argument("--repo-id", metavar="ORG/NAME", help="the repository id the set is registered (and published) under")
    group.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=YOURS[,...]",
        help="take a schema column from a column of yours (repeatable), e.g. query=text,label=safety",
    )
    group.add_argument("--version", dest="set_version", metavar="X.Y.Z", help="the set's version (default 1.0.0)")
    group.add_argument("--license", metavar="ID", help="the license for the card, e.g. cc-by-4.0 (default: unknown)")
    group.add_argument("--citation", type=Path, metavar="FILE", help="a BibTeX file for the card's citation")
    group.add_argument("--pretty-name", metavar="TEXT", help="the set's display name on its card (default: NAME of the repo id)")
    group.add_argument("--description", metavar="TEXT", help="what the set is, for the card (its first paragraph)")
    group.add_argument(
        "--language", action="append", default=[], metavar="CODE[,...]", help="language(s) of the queries, ISO 639 codes for the card, e.g. en,fr (default: en)"
    )
    group.add_argument(
        "--task-categories",
        action="append",
        default=[],
        metavar="TASK[,...]",
        help="Hub task categories for the card (default: visual-question-answering,image-text-to-text)",
    )


def run_build(args: argparse.Namespace) -> int:
    from mmsafety import benchmarks

    if args.benchmark == "custom":
        return run_custom(args)
    check_not_custom(args)
    if args.benchmark == "all":
        if args.config:
            raise InputError(f"--config {args.config} names a configuration of one benchmark: expected `mmsafety build NAME --config {args.config}`, not `all`")
        return run_all(args, list(benchmarks.names()))
    configs = _configs(args.benchmark, args.config)
    if len(configs) > 1:
        return run_configurations(args, configs)
    args.config = configs[0] if configs else None
    result = build_one(args, args.benchmark, several=False)
    if args.json:
        print_json(summary_dict(result))
    else:
        print(summary(result))
    return 0


def _configs(name: str, given: str | None) -> list[str]:
    """``--config``: one name, several comma-separated, or ``all`` (every configuration of ``name``)."""
    from mmsafety.data.configs import configurations

    if given is None:
        return []
    if given == "all":
        return list(configurations(name))
    return [part.strip() for part in given.split(",") if part.strip()] or [given]


def run_configurations(args: argparse.Namespace, configs: list[str]) -> int:
    """``build NAME --config a,b``: each configuration built, exported together with ``--export``."""
    from mmsafety.data.build import build_configurations

    results = build_configurations(
        args.benchmark,
        configs,
        source_dir=args.source_dir,
        export_dir=args.export,
        allow_missing_images=args.allow_missing_images,
        checksums=args.checksums,
        max_shard_size=args.max_shard_size,
    )
    if args.json:
        print_json({"configurations": {result.config: summary_dict(result) for result in results}})
    else:
        print("\n".join(summary(result) for result in results))
    return 0


def build_one(args: argparse.Namespace, name: str, *, several: bool) -> Any:
    from mmsafety.data.build import build

    source = args.source_dir / name if several and args.source_dir else args.source_dir
    export = args.export / name if several and args.export else args.export
    return build(
        name,
        source_dir=source,
        export_dir=export,
        allow_missing_images=args.allow_missing_images,
        checksums=args.checksums,
        max_shard_size=args.max_shard_size,
        config=args.config or None,
    )


def run_all(args: argparse.Namespace, names: list[str]) -> int:
    """``build all``: build each benchmark, whatever became of the ones before; report each
    outcome; exit status 2 if any failed."""
    outcomes: dict[str, dict[str, Any]] = {}
    for name in names:
        try:
            result = build_one(args, name, several=True)
        except Exception as error:  # noqa: BLE001 - one benchmark's failure must not stop the others
            message = str(error) if isinstance(error, InputError) else f"{type(error).__name__}: {error}"
            outcomes[name] = {"built": False, "error": message}
            print(f"mmsafety build: {name}: error: {message}", file=sys.stderr)
            continue
        outcomes[name] = {"built": True, **summary_dict(result)}
        if not args.json:
            print(summary(result))
    failed = [name for name, outcome in outcomes.items() if not outcome["built"]]
    if args.json:
        print_json({"benchmarks": outcomes, "failed": failed})
    else:
        built = [name for name in names if name not in failed]
        line = f"built {len(built)} of {len(names)}: {', '.join(built) or 'none'}"
        print(line + (f"; failed: {', '.join(failed)} (errors above)" if failed else ""))
    return EXIT_FAILED if failed else 0


def check_not_custom(args: argparse.Namespace) -> None:
    """Refuse custom-only options on a built-in benchmark."""
    given = [f"--{name.replace('_', '-').replace('set-version', 'version')}" for name in OPTIONS if getattr(args, name, None)]
    if given:
        raise InputError(f"{', '.join(given)} belong to `mmsafety build custom`, not to `mmsafety build {args.benchmark}`")


def run_custom(args: argparse.Namespace) -> int:
    from mmsafety.builders.custom import build_custom, parse_mapping

    missing = [flag for flag, value in (("--records FILE", args.records), ("--images DIR", args.images), ("--repo-id ORG/NAME", args.repo_id)) if not value]
    if missing:
        raise InputError(f"`mmsafety build custom` needs --records FILE, --images DIR and --repo-id ORG/NAME; missing {', '.join(missing)}")
    if args.source_dir is not None or args.checksums is not None:
        raise InputError("--source-dir and --checksums belong to the built-in benchmarks; a custom set reads --records and --images")
    card: dict[str, Any] = {}
    if args.license:
        card["license"] = args.license
    if args.citation:
        try:
            card["citation"] = args.citation.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read the citation ({error})", file=args.citation) from None
    if args.pretty_name:
        card["pretty_name"] = args.pretty_name
    if args.description:
        card["description"] = args.description
    hub_fields = {field: _listed(getattr(args, field)) for field in ("language", "task_categories") if getattr(args, field)}
    result = build_custom(
        args.records,
        args.images,
        args.repo_id,
        mapping=parse_mapping(args.map),
        version=args.set_version,
        export_dir=args.export,
        allow_missing_images=args.allow_missing_images,
        max_shard_size=args.max_shard_size,
        card=hub_fields,
        **card,
    )
    if args.json:
        print_json(summary_dict(result))
    else:
        print(summary(result))
    return 0


def _listed(values: list[str]) -> list[str]:
    """``["en,fr", "de"]`` -> ``["en", "fr", "de"]``."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def summary_dict(result: Any) -> dict[str, Any]:
    """The closing summary of one build, as ``--json`` prints it."""
    return {
        "repo_id": result.repo_id,
        "config": result.config,
        "version": result.version,
        "rows": result.rows,
        "image_bytes": result.image_bytes,
        "seconds": round(result.seconds, 3),
        "by_label": dict(result.by_label),
        "by_subset": dict(result.by_subset),
        "by_category": dict(result.by_category),
        "left_out": {reason: list(ids) for reason, ids in result.left_out.items()},
        "notes": {remark: list(ids) for remark, ids in result.notes.items()},
        "cache": str(result.cache_path),
        "export": None if result.export_dir is None else str(result.export_dir),
        "export_files": list(result.export_files),
    }


def summary(result: Any) -> str:
    """The closing summary of one build, as printed."""
    megabytes = result.image_bytes / 1e6
    lines = [
        f"Built {result.repo_id} {result.version}: {result.rows:,} rows, {megabytes:.1f} MB of images, "
        f"in {result.seconds:.1f} s ({megabytes / max(result.seconds, 1e-9):.1f} MB/s)",
        f"  label:    {_counts(result.by_label)}",
        f"  subset:   {_counts(result.by_subset)}",
        f"  category: {_counts(result.by_category)}",
    ]
    for reason, ids in result.left_out.items():
        lines.append(f"  left out, {reason} ({len(ids)}): {list_ids(ids, limit=80)}")
    if not result.left_out:
        lines.append("  left out: none")
    for remark, ids in result.notes.items():
        lines.append(f"  note, {remark} ({len(ids)}): {list_ids(ids, limit=80)}")
    lines.append(f"  cache:    {result.cache_path}")
    if result.export_dir is not None:
        shards = sum(name.startswith("data/") for name in result.export_files)
        lines.append(f"  export:   {result.export_dir}")
        lines.append(f"  shards:   {shards} Parquet file{'s' if shards != 1 else ''} under data/")
    named = "" if result.config == "default" else f', "{result.config}"'
    lines.append(f'  load it:  datasets.load_dataset("{result.repo_id}"{named}, split="test")')
    return "\n".join(lines)


def _counts(counter: Any) -> str:
    return ", ".join(f"{key or '(none)'} {count:,}" for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
