"""Installed from a wheel, `mmsafety` is the only top-level name, and it carries builders and metrics."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mmsafety import benchmarks

REPO = Path(__file__).resolve().parents[1]
LEFT_OUT = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "tests", "bench")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """``pip wheel --no-deps`` of a copy of the checkout (building in place would write build/ into it)."""
    root = tmp_path_factory.mktemp("wheel")
    checkout = root / "checkout"
    shutil.copytree(REPO, checkout, ignore=LEFT_OUT, symlinks=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check", "-w", str(root / "out"), str(checkout)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"pip wheel failed (it fetches the build backend from PyPI):\n{result.stderr[-3000:]}"
    (built,) = (root / "out").glob("mmsafety-*.whl")
    with zipfile.ZipFile(built) as archive:
        yield archive


def test_mmsafety_is_the_only_top_level_name(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    dist_info = {top for top in tops if top.endswith(".dist-info")}
    assert len(dist_info) == 1
    assert tops - dist_info == {"mmsafety"}
    (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
    assert wheel.read(top_level).decode().split() == ["mmsafety"]


def _shipped_files(folder: str) -> list[str]:
    """The files of a checkout folder that belong in the wheel (modules and their data)."""
    root = REPO / folder
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", ".tsv", ".bib", ".md", ".json", ".jsonl", ".txt", ".html"}
    )


@pytest.mark.parametrize("folder", ["builders", "metrics", "mmsafety"])
def test_every_module_or_data_file_ships_under_mmsafety(wheel: zipfile.ZipFile, folder: str) -> None:
    names = set(wheel.namelist())
    prefix = "mmsafety/" if folder == "mmsafety" else f"mmsafety/{folder}/"
    missing = [f for f in _shipped_files(folder) if prefix + f not in names]
    assert not missing, f"not in the wheel under {prefix}: {missing}"


BENCHMARK_FILES = ("__init__.py", "checksums.tsv", "CITATIONS.bib", "published.json", "README.md")
"""What every benchmark folder holds, besides its builder module."""


@pytest.mark.parametrize("name", benchmarks.names())
def test_every_registered_benchmark_ships_its_builder_pins_citation_published_rows_and_readme(wheel: zipfile.ZipFile, name: str) -> None:
    benchmark = benchmarks.require(name)
    module = benchmark.builder.partition(":")[0]
    folder = "/".join(module.split(".")[:-1])
    expected = [f"{module.replace('.', '/')}.py", *(f"{folder}/{file}" for file in BENCHMARK_FILES)]
    assert [path for path in expected if path not in set(wheel.namelist())] == []


def test_the_packages_are_found_not_listed() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "packages" not in setuptools and setuptools["package-dir"]["mmsafety.builders"] == "builders"


def test_the_shipped_pins_are_the_checkouts(wheel: zipfile.ZipFile) -> None:
    pins = wheel.read("mmsafety/builders/mmsafeaware/checksums.tsv")
    assert pins == (REPO / "builders" / "mmsafeaware" / "checksums.tsv").read_bytes()


def test_the_metric_package_ships(wheel: zipfile.ZipFile) -> None:
    assert "mmsafety/metrics/__init__.py" in set(wheel.namelist())


def test_the_command_line_entry_point_is_declared(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "mmsafety = mmsafety.cli:main" in wheel.read(entry_points).decode()
