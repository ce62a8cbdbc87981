"""``mmsafety build custom``: the options of a custom set, and running its build.

``mmsafety/commands/build.py`` owns the ``build`` command; it accepts ``custom`` as the
benchmark, adds these options with :func:`add_options`, and hands a custom build to
:func:`run_custom`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError

OPTIONS = ("records", "images", "repo_id", "map", "set_version", "license", "citation")
"""Destinations of the custom-only options (``None`` / empty when not given)."""


def add_options(build: argparse.ArgumentParser) -> None:
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


def check_not_custom(args: argparse.Namespace) -> None:
    """Refuse custom-only options on a built-in benchmark."""
    given = [f"--{name.replace('_', '-').replace('set-version', 'version')}" for name in OPTIONS if getattr(args, name, None)]
    if given:
        raise InputError(f"{', '.join(given)} belong to `mmsafety build custom`, not to `mmsafety build {args.benchmark}`")


def run_custom(args: argparse.Namespace) -> int:
    from mmsafety.commands.build import summary
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
    result = build_custom(
        args.records,
        args.images,
        args.repo_id,
        mapping=parse_mapping(args.map),
        version=args.set_version,
        export_dir=args.export,
        allow_missing_images=args.allow_missing_images,
        **card,
    )
    print(summary(result))
    return 0
