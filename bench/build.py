"""Benchmark of building MMSafeAware, against two baselines on the same image files.

Runs, each in its own process (so peak memory is per run), on the local upstream copy:

1. ``mmsafety``: ``mmsafety.data.build.build("mmsafeaware", source_dir=..., allow_missing_images=True)``
   into an empty Hugging Face cache: read, hash against the pins, check each image
   (header only), write Arrow, move into place;
2. ``copy``: ``shutil.copyfile`` of the same image files (what the disk allows);
3. ``imagefolder``: ``datasets.load_dataset("imagefolder", data_dir=...)`` on the layout a
   user would write by hand: the image files (symlinked) and a ``metadata.jsonl`` with the
   same columns, loaded with the same ``Features``. It stores the *paths* of the images
   and reads none of their bytes;
4. ``imagefolder+embed``: the same, then the image bytes embedded as ``push_to_hub``
   does (``embed_table_storage``): the self-contained table our build writes.

Goal: no slower than ``imagefolder``, within 3x of the plain copy, and no image
decoded or re-encoded on the way (counted in the ``mmsafety`` run by wrapping Pillow's
``ImageFile.load`` and ``Image.save``; the stored bytes are compared with the files).
The page cache is warmed once before the runs, so every run reads from memory.

    python bench/build.py [--source-dir ../shared/upstream/mmsafeaware] [--repeat 3] [--vlsbench ...]

``--vlsbench`` then runs ``bench/build_vlsbench.py`` (its own arguments follow).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "upstream" / "mmsafeaware"
RUNNERS = ("mmsafety", "copy", "imagefolder", "imagefolder+embed")
IMAGE_FOLDERS = ("images", "images2")


def image_files(source: Path) -> list[Path]:
    """The image files of the release (what every run reads)."""
    return sorted(p for folder in IMAGE_FOLDERS for p in (source / folder).iterdir() if p.is_file())


# -- the runs, each in a child process ------------------------------------------------------------


def run_mmsafety(source: Path, work: Path, layout: Path) -> dict[str, Any]:
    import hashlib

    import datasets
    from PIL import Image, ImageFile

    from mmsafety.data.build import build

    calls = {"decoded": 0, "encoded": 0}
    load, save = ImageFile.ImageFile.load, Image.Image.save

    def counted_load(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["decoded"] += 1
        return load(self, *args, **kwargs)

    def counted_save(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["encoded"] += 1
        return save(self, *args, **kwargs)

    ImageFile.ImageFile.load, Image.Image.save = counted_load, counted_save  # type: ignore[method-assign]
    started = time.perf_counter()
    result = build("mmsafeaware", source_dir=source, allow_missing_images=True)
    seconds = time.perf_counter() - started
    ImageFile.ImageFile.load, Image.Image.save = load, save  # type: ignore[method-assign]

    # Outside the timing: are the stored bytes the files' bytes?
    table = datasets.Dataset.from_file(str(next(result.cache_path.glob("*.arrow")))).data.table
    images = table.column("image").combine_chunks()
    identical = all(
        hashlib.sha256(data).digest() == hashlib.sha256((source / path).read_bytes()).digest()
        for data, path in zip(images.field("bytes").to_pylist(), images.field("path").to_pylist())
    )
    return {
        "seconds": seconds,
        "image_bytes": result.image_bytes,
        "rows": result.rows,
        "note": f"decoded {calls['decoded']}, re-encoded {calls['encoded']}, bytes identical to the files: {'yes' if identical else 'NO'}",
    }


def run_copy(source: Path, work: Path, layout: Path) -> dict[str, Any]:
    files = image_files(source)
    target = work / "copy"
    for folder in IMAGE_FOLDERS:
        (target / folder).mkdir(parents=True)
    started = time.perf_counter()
    for file in files:
        shutil.copyfile(file, target / file.parent.name / file.name)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "image_bytes": sum(f.stat().st_size for f in files), "rows": len(files), "note": ""}


def run_imagefolder(source: Path, work: Path, layout: Path, embed: bool = False) -> dict[str, Any]:
    import datasets
    from datasets.table import embed_table_storage

    features = datasets.Features.from_dict(json.loads((layout / "features.json").read_text()))
    started = time.perf_counter()
    dataset = datasets.load_dataset("imagefolder", data_dir=str(layout / "imagefolder"), split="train", features=features)
    if embed:
        dataset = dataset.with_format("arrow").map(embed_table_storage, batched=True).with_format(None)
    seconds = time.perf_counter() - started
    stored = dataset.data.table.column("image").combine_chunks().field("bytes")
    files = image_files(source)
    return {
        "seconds": seconds,
        "image_bytes": sum(f.stat().st_size for f in files),
        "rows": dataset.num_rows,
        "note": f"image bytes stored for {len(stored) - stored.null_count} of {dataset.num_rows} rows",
    }


CHILD_RUNS = {
    "mmsafety": run_mmsafety,
    "copy": run_copy,
    "imagefolder": run_imagefolder,
    "imagefolder+embed": lambda source, work, layout: run_imagefolder(source, work, layout, embed=True),
}


def child(runner: str, source: Path, work: Path, layout: Path) -> int:
    figures = CHILD_RUNS[runner](source, work, layout)
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))
    return 0


# -- preparing the imagefolder layout, as a user would ------------------------------------------


def prepare_layout(source: Path, layout: Path) -> None:
    """Symlinked image files and a ``metadata.jsonl`` with our columns, plus our ``Features``.

    The rows come from the builder's own parsing (untimed), so both loaders see the same data.
    """
    from mmsafety.builders.mmsafeaware.mmsafeaware import MMSafeAware
    from mmsafety.data.catalog import cache_root
    from mmsafety.errors import InputError
    from mmsafety.data.sources import Source

    folder = layout / "imagefolder"
    builder = MMSafeAware(source_dir=source, allow_missing_images=True, cache_dir=str(layout / "unused-cache"))
    pinned = Source(builder.pins(), source_dir=source, download_dir=cache_root() / "unused")
    folder.mkdir(parents=True)
    with open(folder / "metadata.jsonl", "w", encoding="utf-8") as out:
        for _, example, image in builder.rows(pinned, builder.plan(pinned)):
            if isinstance(image, InputError):
                continue
            link = folder / image["path"]
            link.parent.mkdir(exist_ok=True)
            os.symlink((source / image["path"]).resolve(), link)
            out.write(json.dumps({"file_name": image["path"], **example}) + "\n")
    features = builder.info.features
    (layout / "features.json").write_text(json.dumps(features.to_dict()))
    shutil.rmtree(layout / "unused-cache", ignore_errors=True)


# -- the parent: runs, figures, ratios --------------------------------------------------------------


def run_in_child(runner: str, source: Path, layout: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"mmsafety-bench-{runner.replace('+', '-')}-") as scratch:
        work = Path(scratch)
        env = {
            **os.environ,
            "HF_HOME": str(work / "hf-home"),
            "HF_DATASETS_CACHE": str(work / "hf-home" / "datasets"),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        }
        command = [sys.executable, __file__, "--child", runner, "--source-dir", str(source), "--work", str(work), "--layout", str(layout)]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work)
    if done.returncode != 0:
        raise SystemExit(f"the {runner} run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source-dir", type=Path, default=DEFAULT_SOURCE, help=f"the MMSafeAware upstream copy (default: {DEFAULT_SOURCE})")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind; the best time is reported (default: 3)")
    parser.add_argument("--vlsbench", action="store_true", help="then run bench/build_vlsbench.py with the arguments after --")
    parser.add_argument("--child", choices=RUNNERS, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--layout", type=Path, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.child:
        return child(args.child, args.source_dir, args.work, args.layout)
    if rest and not args.vlsbench:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    source = args.source_dir.resolve()
    if not (source / "prompt.txt").is_file():
        print(f"no MMSafeAware copy at {source} (pass --source-dir)", file=sys.stderr)
        return 2
    files = image_files(source)
    total = sum(f.stat().st_size for f in files)
    for file in files:  # warm the page cache: every run reads from memory
        file.read_bytes()
    print(f"MMSafeAware at {source}: {len(files):,} image files, {total / 1e6:.1f} MB; best of {args.repeat} run(s) each, one process per run")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, load average {load:.2f} at the start (other work on the machine skews the figures)")

    with tempfile.TemporaryDirectory(prefix="mmsafety-bench-layout-") as layout_dir:
        layout = Path(layout_dir)
        os.environ["HF_HOME"] = str(layout / "hf-home")  # this process's own imports: no trace in the user's cache
        os.environ["HF_DATASETS_CACHE"] = str(layout / "hf-home" / "datasets")
        prepare_layout(source, layout)
        runs: dict[str, list[dict[str, Any]]] = {runner: [] for runner in RUNNERS}
        for _ in range(args.repeat):
            for runner in RUNNERS:
                runs[runner].append(run_in_child(runner, source, layout))

    best = {runner: min(results, key=lambda r: r["seconds"]) for runner, results in runs.items()}
    print()
    print(f"{'run':<19} {'wall s':>8} {'median s':>9} {'MB/s':>8} {'peak RSS MB':>12} {'rows':>6}  note")
    for runner in RUNNERS:
        figures = best[runner]
        median = statistics.median(r["seconds"] for r in runs[runner])
        rate = figures["image_bytes"] / 1e6 / figures["seconds"]
        peak = max(r["peak_rss_mb"] for r in runs[runner])
        print(f"{runner:<19} {figures['seconds']:>8.3f} {median:>9.3f} {rate:>8.1f} {peak:>12.0f} {figures['rows']:>6}  {figures['note']}")

    ours = best["mmsafety"]["seconds"]
    print()
    for baseline, goal in (("imagefolder", 1.0), ("imagefolder+embed", 1.0), ("copy", 3.0)):
        ratio = ours / best[baseline]["seconds"]
        verdict = "met" if ratio <= goal else "NOT met"
        print(f"mmsafety / {baseline:<18} = {ratio:6.2f}x   (goal <= {goal:g}x: {verdict})")

    if args.vlsbench:
        return run_vlsbench(rest)
    return 0


def run_vlsbench(argv: list[str]) -> int:
    """``main()`` of ``bench/build_vlsbench.py``, with ``argv`` as its command line."""
    path = Path(__file__).with_name("build_vlsbench.py")
    print()
    if not path.is_file():
        print(f"VLSBench benchmark: {path.relative_to(ROOT)} is missing (not written yet); skipped")
        return 0
    spec = importlib.util.spec_from_file_location("build_vlsbench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    saved = sys.argv
    sys.argv = [str(path), *[a for a in argv if a != "--"]]
    try:
        return int(module.main() or 0)
    finally:
        sys.argv = saved


if __name__ == "__main__":
    sys.exit(main())
