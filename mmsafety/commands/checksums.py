"""``mmsafety checksums``: the checksums.tsv of a folder of upstream files, to pin a newer upstream."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError


def add_parser(subparsers: Any) -> None:
    """Register ``checksums``."""
    checksums = subparsers.add_parser(
        "checksums",
        help="print a checksums.tsv for a folder of upstream files",
        description="Print the checksums.tsv of every file under DIR, to accept a deliberate newer upstream with `build --checksums`.",
    )
    checksums.add_argument("dir", type=Path, metavar="DIR", help="the folder of upstream files to hash (every file under it, recursively)")
    checksums.add_argument("--url-prefix", default="-", help="the URL the folder is published under (default: none)")
    checksums.set_defaults(func=run_checksums)


def run_checksums(args: argparse.Namespace) -> int:
    from mmsafety.data.sources import checksum_rows

    if not args.dir.is_dir():
        raise InputError("expected a folder of upstream files", file=args.dir)
    for line in checksum_rows(args.dir, args.url_prefix):
        sys.stdout.write(line + "\n")
    return 0
