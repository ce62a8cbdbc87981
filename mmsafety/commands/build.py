"""``mmsafety build``, ``mmsafety checksums`` and ``mmsafety publish``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mmsafety.commands import build_custom
from mmsafety.errors import InputError, list_ids


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
    build.add_argument("--export", type=Path, metavar="DIR", help="also write the Hub repository (Parquet + card) here (for `all`: one sub-folder per benchmark)")
    build.add_argument("--allow-missing-images", action="store_true", help="leave out (and list) rows whose image is absent or unreadable")
    build.add_argument("--checksums", type=Path, metavar="FILE", help="pin the upstream files with this checksums.tsv instead of the builder's own")
    build.add_argument("--config", metavar="NAME", help="the benchmark's configuration to build (mmsafeaware: default or full)")
    build_custom.add_options(build)
    build.set_defaults(func=run_build)

    checksums = subparsers.add_parser(
        "checksums",
        help="print a checksums.tsv for a folder of upstream files",
        description="Print the checksums.tsv of every file under DIR, to accept a deliberate newer upstream with `build --checksums`.",
    )
    checksums.add_argument("dir", type=Path)
    checksums.add_argument("--url-prefix", default="-", help="the URL the folder is published under (default: none)")
    checksums.set_defaults(func=run_checksums)

    publish = subparsers.add_parser("publish", help="upload an exported folder to the Hugging Face Hub")
    publish.add_argument("dir", type=Path)
    publish.add_argument("--repo-id", required=True)
    publish.add_argument("--private", action="store_true")
    publish.set_defaults(func=run_publish)


def run_build(args: argparse.Namespace) -> int:
    from mmsafety.data.build import build
    from mmsafety import benchmarks

    if args.benchmark == "custom":
        return build_custom.run_custom(args)
    build_custom.check_not_custom(args)
    names = list(benchmarks.names()) if args.benchmark == "all" else [args.benchmark]
    for name in names:
        several = len(names) > 1
        source = args.source_dir / name if several and args.source_dir else args.source_dir
        export = args.export / name if several and args.export else args.export
        result = build(
            name,
            source_dir=source,
            export_dir=export,
            allow_missing_images=args.allow_missing_images,
            checksums=args.checksums,
            config=args.config,
        )
        print(summary(result))
    return 0


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
    for remark, ids in getattr(result, "notes", {}).items():
        lines.append(f"  note, {remark} ({len(ids)}): {list_ids(ids, limit=80)}")
    lines.append(f"  cache:    {result.cache_path}")
    if result.export_dir is not None:
        lines.append(f"  export:   {result.export_dir}")
    config = getattr(result, "config", "default")
    named = "" if config == "default" else f', "{config}"'
    lines.append(f'  load it:  datasets.load_dataset("{result.repo_id}"{named}, split="test")')
    return "\n".join(lines)


def _counts(counter: Any) -> str:
    return ", ".join(f"{key or '(none)'} {count:,}" for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def run_checksums(args: argparse.Namespace) -> int:
    from mmsafety.data.sources import checksum_rows

    if not args.dir.is_dir():
        raise InputError("expected a folder of upstream files", file=args.dir)
    for line in checksum_rows(args.dir, args.url_prefix):
        sys.stdout.write(line + "\n")
    return 0


def run_publish(args: argparse.Namespace) -> int:
    from huggingface_hub import HfApi

    if not (args.dir / "README.md").is_file() or not any((args.dir / "data").glob("*.parquet")):
        raise InputError("expected an exported folder (README.md and data/*.parquet), see `mmsafety build --export`", file=args.dir)
    api = HfApi()
    api.create_repo(args.repo_id, repo_type="dataset", private=args.private, exist_ok=True)
    info = api.upload_folder(repo_id=args.repo_id, repo_type="dataset", folder_path=args.dir)
    print(f"Published {args.dir} to {info}")
    return 0
