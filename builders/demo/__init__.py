"""The DEMO set (``mmsafety/demo``): twelve made-up samples, images drawn at build time.

Not a registered benchmark. The builder pulls in ``datasets``: it is imported on first use,
so that finding the benchmarks stays light.
"""

from typing import Any

__all__ = ["REPO_ID", "DemoSet", "demo_records", "draw", "label_files", "response_files"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from mmsafety.builders.demo import demo

        return getattr(demo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
