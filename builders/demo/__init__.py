"""The DEMO set (``mmsafety/demo``): twelve made-up samples, images drawn at build time."""

from mmsafety.builders.demo.demo import (
    REPO_ID,
    DemoSet,
    demo_records,
    draw,
    label_files,
    response_files,
)

__all__ = ["REPO_ID", "DemoSet", "demo_records", "draw", "label_files", "response_files"]
