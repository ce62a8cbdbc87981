"""Package discovery: ``mmsafety`` and every sub-package found under ``mmsafety/``, ``builders/`` and ``metrics/``.

``builders/`` and ``metrics/`` install as ``mmsafety.builders`` and ``mmsafety.metrics``
(``package-dir`` in pyproject.toml), so their sub-packages are found there and renamed
under ``mmsafety``: a new benchmark folder ships without a list to edit. Everything
else is in pyproject.toml.
"""

from setuptools import find_packages, setup

MAPPED = ("builders", "metrics")
"""Folders that install under ``mmsafety`` (pyproject.toml's ``package-dir``)."""

packages = find_packages(include=["mmsafety", "mmsafety.*"])
for folder in MAPPED:
    packages += [f"mmsafety.{name}" for name in find_packages(include=[folder, f"{folder}.*"])]

setup(packages=packages)
