"""`mmsafety build all`: every registered benchmark, each from its own sub-folder, each in its own right."""

from __future__ import annotations

import json
import random
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

from helpers.archives import assert_nothing_built, run_cli, tar_file, tar_special, tiny_png, write_tar, write_zip

from mmsafety import benchmarks


def vlsbench_source(upstream: Path, folder: Path) -> str:
    """The real data.json with a distinct 1x1 PNG for every image it names, in a shuffled imgs.tar."""
    folder.mkdir(parents=True)
    shutil.copyfile(upstream / "vlsbench" / "data.json", folder / "data.json")
    records = json.loads((upstream / "vlsbench" / "data.json").read_text(encoding="utf-8"))
    names = sorted({str(r["image_path"]) for r in records})
    random.Random(3).shuffle(names)
    write_tar(folder / "imgs.tar", [tar_special("imgs", tarfile.DIRTYPE), *(tar_file(name, tiny_png(int(name[5:-4]))) for name in names)])
    return "2,241 rows"


def mmsafeaware_source(upstream: Path, folder: Path) -> str:
    folder.symlink_to(upstream / "mmsafeaware", target_is_directory=True)
    return "1,446 rows"


def salad_source(upstream: Path, folder: Path) -> str:
    """The GitHub sample's data.json with placeholder images."""
    (folder / "data").mkdir(parents=True)
    shutil.copyfile(upstream / "salad" / "data.json", folder / "data" / "data.json")
    sample = json.loads((upstream / "salad" / "data.json").read_text(encoding="utf-8"))
    write_zip(folder / "data" / "image.zip", [(item["image"], tiny_png(i)) for i, item in enumerate(sample)])
    return "20 rows"


SOURCES: dict[str, Callable[[Path, Path], str]] = {"mmsafeaware": mmsafeaware_source, "salad": salad_source, "vlsbench": vlsbench_source}
"""How each benchmark's source folder is laid out from the upstream copy; what its build holds."""


def test_build_all_from_one_folder(tmp_path: Path, hf_cache: Path, upstream: Path) -> None:
    """`mmsafety build all --source-dir DIR` builds DIR/<name> for every registered benchmark, in its own process."""
    assert sorted(SOURCES) == sorted(benchmarks.names()), "expected a source writer for every registered benchmark"
    root = tmp_path / "upstream"
    root.mkdir()
    rows = {name: SOURCES[name](upstream, root / name) for name in benchmarks.names()}
    result = run_cli(["build", "all", "--source-dir", str(root), "--allow-missing-images", "--export", str(tmp_path / "export")])
    assert result.returncode == 0, result.stderr
    for name in benchmarks.names():
        assert f"Built mmsafety/{name} 1.0.0: {rows[name]}" in result.stdout
        assert (tmp_path / "export" / name / "README.md").is_file()


def test_build_all_reports_bad_input_with_exit_2(tmp_path: Path, hf_cache: Path) -> None:
    (tmp_path / "upstream" / "mmsafeaware").mkdir(parents=True)
    result = run_cli(["build", "all", "--source-dir", str(tmp_path / "upstream")])
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("mmsafety build: mmsafeaware: error:")]
    assert len(errors) == 1 and "expected the upstream files, found an empty folder" in errors[0]
    assert_nothing_built("mmsafeaware")
