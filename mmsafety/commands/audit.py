"""``mmsafety audit``: find what is wrong with a set before it is published."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mmsafety.commands.common import print_json


def add_parser(subparsers: Any) -> None:
    from mmsafety.audit.settings import BOOTSTRAP, PHASH_DISTANCE

    audit = subparsers.add_parser(
        "audit",
        help="audit a set: broken images, duplicates, balance, text leakage",
        description="Audit a set (a repo id built in the cache, an exported folder or a .parquet file): "
        "integrity (unreadable or truncated images, format/extension mismatches, empty queries, duplicate ids, unknown labels; "
        "ids equal but for case, whitespace or Unicode form are listed as a warning), "
        "duplicates (exact (query, image) pairs, identical images under different labels, near-duplicate images "
        "by perceptual hash), balance (label x category) and text leakage (how well a text-only classifier tells "
        "unsafe from benign: cross-validated ROC-AUC). Prints a summary; writes audit.json and audit.md into --out (default audit-NAME). "
        "Needs: pip install 'mmsafety[audit]'.",
    )
    audit.add_argument("target", metavar="REPO_ID|EXPORT_DIR|PARQUET", help="the set: a repo id built in the cache, a folder from `build --export`, or a .parquet file")
    audit.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="folder for audit.json and audit.md: a new or empty folder, or an earlier audit, whose files are replaced "
                       "(default: audit-NAME, NAME the set's last name part, e.g. audit-salad)")
    audit.add_argument(
        "--phash-distance",
        type=int,
        default=PHASH_DISTANCE,
        metavar="BITS",
        help=f"near duplicates: perceptual hashes at most this many bits apart, of 64 (default {PHASH_DISTANCE})",
    )
    audit.add_argument("--bootstrap", type=int, default=BOOTSTRAP, metavar="N", help=f"resamples for the AUC's interval (default {BOOTSTRAP})")
    audit.add_argument("--seed", type=int, default=0, help="seed of the folds and the bootstrap (default 0)")
    audit.add_argument("--workers", type=int, default=None, metavar="N", help="threads decoding images (default: up to 4)")
    audit.add_argument("--strict", action="store_true", help="exit 1 when an integrity problem or an exact duplicate is found (near-identical ids are listed, no failure)")
    audit.add_argument("--json", action="store_true", help="print the audit (as audit.json holds it) as one JSON object on stdout instead of the summary")
    audit.set_defaults(func=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    from mmsafety.audit import audit, require_extras, summary
    from mmsafety.audit.findings import strict_failures
    from mmsafety.audit.write import default_out

    require_extras()
    if args.out is None:
        args.out = default_out(args.target)
    report = audit(
        args.target,
        args.out,
        phash_distance=args.phash_distance,
        bootstrap=args.bootstrap,
        seed=args.seed,
        workers=args.workers,
    )
    if args.json:
        print_json(report)
    else:
        print(summary(report))
        print(f"  wrote:      {args.out / 'audit.json'}, {args.out / 'audit.md'}")
    failures = strict_failures(report) if args.strict else []
    if failures:
        print(f"mmsafety audit: --strict: found {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0
