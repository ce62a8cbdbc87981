"""A benchmark's configurations: the one place that says which exist, which one a command
means, and which one a verdicts file judged.

A built-in benchmark offers the configurations of its builder (``BUILDER_CONFIGS``:
MMSafeAware's ``default`` and ``full``); a custom set has ``default`` only. A verdicts file
records its configuration in the field :data:`CONFIG_FIELD` of every record; a file without
it (an older mmsafety, another tool) judged ``default``.

>>> configurations("mmsafeaware"), configurations("salad"), configurations("org/my-set")
(('default', 'full'), ('default',), ('default',))
>>> check_config("mmsafeaware", "full")
'full'
>>> check_config("salad", "full")
Traceback (most recent call last):
...
mmsafety.errors.InputError: --config: expected a configuration of salad among default, found 'full'
>>> config_of({"id": "1"}), config_of({"benchmark_config": "full"})
('default', 'full')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmsafety import benchmarks
from mmsafety.errors import InputError

DEFAULT_CONFIG = "default"
"""The configuration ``load_dataset(repo_id)`` returns, and the one a command means unless told."""
CONFIG_FIELD = "benchmark_config"
"""The field of a verdict record that names the configuration it judged."""


def configurations(name: str) -> tuple[str, ...]:
    """The configurations of ``name`` (short name or repo id), the default first."""
    benchmark = benchmarks.get(name)
    if benchmark is None:
        return (DEFAULT_CONFIG,)
    cls = benchmark.builder_class()
    names = [config.name for config in cls.BUILDER_CONFIGS] or [DEFAULT_CONFIG]
    default = getattr(cls, "DEFAULT_CONFIG_NAME", None) or names[0]
    return (default, *(n for n in names if n != default))


def check_config(name: str, config: str | None) -> str:
    """``config`` (``None``: the default) if ``name`` offers it; bad input naming the choices otherwise."""
    if config is None:
        return configurations(name)[0]
    offered = configurations(name)
    if not isinstance(config, str) or config not in offered:
        raise InputError(f"expected a configuration of {benchmarks.short_name(benchmarks.repo_id(name))} among "
                         f"{', '.join(offered)}, found {config!r}", record="--config")
    return config


def config_of(record: Mapping[str, Any]) -> str:
    """The configuration a verdict record judged (``default`` when it does not say)."""
    value = record.get(CONFIG_FIELD)
    return value if isinstance(value, str) and value else DEFAULT_CONFIG


def described(repo: str, config: str) -> str:
    """``mmsafety/mmsafeaware (configuration full)``, or the repo id alone for ``default``.

    >>> described("mmsafety/mmsafeaware", "full"), described("mmsafety/salad", "default")
    ('mmsafety/mmsafeaware (configuration full)', 'mmsafety/salad')
    """
    return repo if config == DEFAULT_CONFIG else f"{repo} (configuration {config})"
