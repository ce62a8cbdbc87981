"""Custom safety sets: a records file and a folder of images, built in the mmsafety schema.

Not a registered benchmark. Its modules pull in ``datasets``: the names below are imported
on first use, so that finding the benchmarks stays light.
"""

from typing import Any

__all__ = ["CustomSet", "build_custom", "check_mapping", "check_repo_id", "parse_mapping"]


def __getattr__(name: str) -> Any:
    if name in ("CustomSet", "build_custom"):
        from mmsafety.builders.custom import custom

        return getattr(custom, name)
    if name in ("check_mapping", "check_repo_id", "parse_mapping"):
        from mmsafety.builders.custom import column_map

        return getattr(column_map, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
