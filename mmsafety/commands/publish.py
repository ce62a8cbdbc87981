"""``mmsafety publish``: upload an exported folder to the Hugging Face Hub."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError


def add_parser(subparsers: Any) -> None:
    """Register ``publish``."""
    publish = subparsers.add_parser("publish", help="upload an exported folder to the Hugging Face Hub")
    publish.add_argument("dir", type=Path)
    publish.add_argument("--repo-id", required=True)
    publish.add_argument("--private", action="store_true")
    publish.set_defaults(func=run_publish)


def run_publish(args: argparse.Namespace) -> int:
    from huggingface_hub import HfApi

    if not (args.dir / "README.md").is_file() or not any((args.dir / "data").glob("*.parquet")):
        raise InputError("expected an exported folder (README.md and data/*.parquet), see `mmsafety build --export`", file=args.dir)
    api = HfApi()
    api.create_repo(args.repo_id, repo_type="dataset", private=args.private, exist_ok=True)
    info = api.upload_folder(repo_id=args.repo_id, repo_type="dataset", folder_path=args.dir)
    print(f"Published {args.dir} to {info}")
    return 0
