"""Custom safety sets: a records file and a folder of images, built in the mmsafety schema."""

from mmsafety.builders.custom.column_map import check_mapping, check_repo_id, parse_mapping
from mmsafety.builders.custom.custom import CustomSet, build_custom

__all__ = ["CustomSet", "build_custom", "check_mapping", "check_repo_id", "parse_mapping"]
