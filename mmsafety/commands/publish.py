"""``mmsafety publish``: upload an exported folder to the Hugging Face Hub."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mmsafety.errors import InputError


def add_parser(subparsers: Any) -> None:
    """Register ``publish``."""
    publish = subparsers.add_parser(
        "publish",
        help="upload an exported folder to the Hugging Face Hub",
        description="Upload a folder written by `mmsafety build --export` (README.md card and data/*.parquet) to a "
        "dataset repository on the Hugging Face Hub, creating the repository if need be. Uses your Hub login "
        "(`huggingface-cli login` or HF_TOKEN).",
    )
    publish.add_argument("dir", type=Path, metavar="DIR", help="the exported folder (from `mmsafety build --export DIR`)")
    publish.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the Hub dataset repository to upload to (created if absent)")
    publish.add_argument("--private", action="store_true", help="create the repository private (no effect on an existing one)")
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
