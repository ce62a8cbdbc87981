"""Benchmark of building VLSBench from its tar archive, against ``tar -x`` of the same archive,
with and without ``--export`` (the Hub folder: Parquet shards of at most 500 MB, written as a stream).

For each archive size (a smaller one and the full one by default), in a temporary folder:

1. generate a VLSBench source: ``data.json`` with one record per image and ``imgs.tar``
   with random-noise PNGs (incompressible) of about ``--size-kb`` each;
2. ``tar -x``: extract the archive with the system's ``tar`` (the baseline: what reading
   the archive and writing its bytes to disk costs); dirty pages are synced before each
   timed step, and the archive is in the page cache for both;
3. ``mmsafety``: ``mmsafety.data.build.build("vlsbench", source_dir=...)`` into an empty Hugging
   Face cache, in its own process so that its peak memory (``VmHWM``) is its own: hash the
   archive, index its members in one pass over the headers, read them one at a time in
   data.json order, check each image, write Arrow, move into place.

4. ``mmsafety --export``: the same build with ``export_dir=...`` (as ``mmsafety build vlsbench
   --export DIR``), in its own process: its peak memory and the number of Parquet shards.
5. the baseline a user would otherwise run: the same build, then ``Dataset.to_parquet`` of each
   contiguous shard as ``push_to_hub`` cuts them (it reads the memory-mapped build, so every
   page it reads counts in its memory).

Throughput is MB (10^6 bytes) of image bytes per second. Goals: peak memory flat as the
archive grows (one member in memory at a time), a build within a small factor of ``tar -x``,
and ``build --export`` of a 2.4 GB archive within 1 GB of peak memory, in shards of at most 500 MB.

    python bench/build_vlsbench.py [--size 2.4GB] [--size-kb 1100] [--small-count N]
    python bench/build_vlsbench.py --count 2241 --size-kb 300       # the image count instead of a total size
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from measure import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]


def noise_png(size: int, seed: int) -> bytes:
    """A PNG of random RGB noise whose file is about ``size`` bytes (noise does not compress)."""
    import numpy as np
    from PIL import Image

    side = max(1, int((size / 3) ** 0.5))
    pixels = np.random.default_rng(seed).integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, "PNG", compress_level=0)  # stored: noise would not shrink anyway
    return buffer.getvalue()


def generate(folder: Path, count: int, size: int) -> int:
    """Write ``data.json`` and ``imgs.tar`` of ``count`` noise PNGs into ``folder``; return the image bytes."""
    folder.mkdir(parents=True)
    records = [
        {
            "instruction_id": i,
            "instruction": f"What should I do here? ({i})",
            "image_path": f"imgs/{i}.png",
            "category": "Violent",
            "sub_category": "Weapon-Related Violence",
            "source": "generation",
            "image_description": f"generated noise image {i}",
            "safety_reason": f"benchmark record {i}",
        }
        for i in range(count)
    ]
    (folder / "data.json").write_text(json.dumps(records, indent=2), encoding="utf-8")
    total = 0
    with tarfile.open(folder / "imgs.tar", "w", format=tarfile.GNU_FORMAT) as tar:
        directory = tarfile.TarInfo("imgs")
        directory.type = tarfile.DIRTYPE
        directory.mode = 0o755
        tar.addfile(directory)
        for i in range(count):
            data = noise_png(size, seed=i)
            info = tarfile.TarInfo(f"imgs/{i}.png")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            total += len(data)
    (folder / "checksums.tsv").write_text(  # the generated data.json is not upstream's: accept it unpinned
        "path\tsize\tsha256\turl\ndata.json\t-\t-\t-\nimgs.tar\t-\t-\t-\n", encoding="utf-8"
    )
    return total


def time_tar_extract(archive: Path, target: Path) -> float:
    target.mkdir()
    os.sync()  # start from clean page cache write-back, as the build does
    started = time.perf_counter()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(target)], check=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(target)
    return seconds


def run_build_child(source: Path, cache: Path, export: Path | None = None, baseline: bool = False) -> dict[str, Any]:
    """Build in a fresh process (its own peak memory); returns what the child measured."""
    env = {
        **os.environ,
        "HF_HOME": str(cache / "home"),
        "HF_DATASETS_CACHE": str(cache / "datasets"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
    }
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(source), *(["--export", str(export)] if export else []), *(["--baseline"] if baseline else [])],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"the build failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(source: Path, export: Path | None, baseline: bool) -> None:
    """The build itself, as the command line runs it; prints one JSON line.

    With ``baseline``, the build is followed by the export a user would otherwise write:
    ``Dataset.to_parquet`` of each contiguous shard, as ``push_to_hub`` cuts them.
    """
    from mmsafety.data.build import build

    imported = peak_rss_mb()
    started = time.perf_counter()
    result = build("vlsbench", source_dir=source, checksums=source / "checksums.tsv", export_dir=None if baseline else export)
    if baseline and export is not None:
        from mmsafety.data.catalog import load_benchmark
        from mmsafety.data.shards import shard_count

        dataset = load_benchmark("vlsbench")
        count = shard_count(dataset.data.nbytes, dataset.num_rows, 500 * 10**6)
        (export / "data").mkdir(parents=True)
        for index in range(count):
            dataset.shard(num_shards=count, index=index, contiguous=True).to_parquet(str(export / "data" / f"test-{index:05d}-of-{count:05d}.parquet"))
        result.export_files = [f"data/{p.name}" for p in sorted((export / "data").iterdir())]
    seconds = time.perf_counter() - started
    shards = [export / name for name in result.export_files if name.startswith("data/")] if export else []
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rows": result.rows,
                "image_bytes": result.image_bytes,
                "rss_imported_mb": imported,
                "rss_peak_mb": peak_rss_mb(),
                "shards": len(shards),
                "largest_shard_mb": max((p.stat().st_size for p in shards), default=0) / 1e6,
            }
        )
    )


def measure(work: Path, count: int, size: int) -> dict[str, Any]:
    source = work / f"vlsbench-{count}"
    started = time.perf_counter()
    image_bytes = generate(source, count, size)
    generated = time.perf_counter() - started
    archive_bytes = (source / "imgs.tar").stat().st_size
    tar_seconds = time_tar_extract(source / "imgs.tar", work / f"extracted-{count}")
    os.sync()
    built = run_build_child(source, work / f"cache-{count}")
    assert built["rows"] == count and built["image_bytes"] == image_bytes, built
    shutil.rmtree(work / f"cache-{count}")
    os.sync()
    exported = run_build_child(source, work / f"cache-{count}", export=work / f"export-{count}")
    assert exported["rows"] == count, exported
    shutil.rmtree(work / f"cache-{count}")
    shutil.rmtree(work / f"export-{count}")
    os.sync()
    baseline = run_build_child(source, work / f"cache-{count}", export=work / f"export-{count}", baseline=True)
    shutil.rmtree(work / f"cache-{count}")
    shutil.rmtree(work / f"export-{count}")
    shutil.rmtree(source)
    export = {f"export_{key}": value for key, value in exported.items()}
    to_parquet = {f"baseline_{key}": value for key, value in baseline.items()}
    return {
        "count": count,
        "archive_mb": archive_bytes / 1e6,
        "image_mb": image_bytes / 1e6,
        "generated_s": generated,
        "tar_s": tar_seconds,
        **built,
        **export,
        **to_parquet,
    }


def parse_size(text: str) -> int:
    """``"2.4GB"`` -> 2400000000 (decimal units, as push_to_hub's max_shard_size; KiB/MiB/GiB binary)."""
    units = {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "KB": 10**3, "MB": 10**6, "GB": 10**9, "B": 1}
    upper = text.strip().upper()
    for unit, factor in units.items():
        if upper.endswith(unit):
            return int(float(upper[: -len(unit)]) * factor)
    return int(float(upper))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="2.4GB", help="approximate image bytes of the full archive, e.g. 2.4GB or 600MB (default: 2.4GB, as upstream's imgs.tar)")
    parser.add_argument("--count", type=int, help="images in the full archive (default: --size / --size-kb)")
    parser.add_argument("--size-kb", type=float, default=1100, help="approximate size of each image in KB (default: 1100)")
    parser.add_argument("--small-count", type=int, help="images in the smaller archive (default: a quarter of --count; 0: skip)")
    parser.add_argument("--work-dir", type=Path, help="where to generate (default: a temporary folder)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--export", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.export, args.baseline)
        return 0
    size = int(args.size_kb * 1024)
    full = args.count if args.count is not None else max(1, round(parse_size(args.size) / size))
    small = full // 4 if args.small_count is None else args.small_count
    counts = [c for c in (small, full) if c > 0]
    print(f"VLSBench build from imgs.tar: {' and '.join(f'{c:,}' for c in counts)} random-noise PNGs of ~{args.size_kb:g} KB (cpus: {os.cpu_count()})")
    runs = []
    with tempfile.TemporaryDirectory(dir=args.work_dir, prefix="bench-vlsbench-") as work:
        for count in counts:
            run = measure(Path(work), count, size)
            runs.append(run)
            print(
                f"  {run['count']:>6,} images, {run['image_mb']:7.1f} MB (tar {run['archive_mb']:.1f} MB):"
                f"  tar -x {run['tar_s']:6.2f} s = {run['image_mb'] / run['tar_s']:7.1f} MB/s"
                f" | mmsafety build {run['seconds']:6.2f} s = {run['image_mb'] / run['seconds']:7.1f} MB/s"
                f" ({run['tar_s'] / run['seconds']:.2f}x tar -x)"
                f" | peak RSS {run['rss_peak_mb']:6.1f} MB ({run['rss_imported_mb']:.1f} MB after imports)",
                flush=True,
            )
            print(
                f"  {'':>6}  with --export: {run['export_seconds']:6.2f} s, peak RSS {run['export_rss_peak_mb']:6.1f} MB"
                f" (without: {run['rss_peak_mb']:.1f} MB), {run['export_shards']} shard(s), largest {run['export_largest_shard_mb']:.1f} MB",
                flush=True,
            )
            print(
                f"  {'':>6}  baseline, build then Dataset.to_parquet per push_to_hub shard: {run['baseline_seconds']:6.2f} s,"
                f" peak RSS {run['baseline_rss_peak_mb']:6.1f} MB ({run['baseline_rss_peak_mb'] / run['export_rss_peak_mb']:.2f}x ours),"
                f" {run['baseline_shards']} shard(s); ours takes {run['export_seconds'] / run['baseline_seconds']:.2f}x its time",
                flush=True,
            )
    last = runs[-1]
    within = last["export_rss_peak_mb"] <= 1000 and last["export_largest_shard_mb"] <= 500
    print(
        f"  goal: build --export of {last['image_mb'] / 1000:.2f} GB of images within 1 GB peak, shards <= 500 MB: "
        f"{last['export_rss_peak_mb']:.0f} MB, {last['export_shards']} shards of <= {last['export_largest_shard_mb']:.0f} MB -> {'met' if within else 'NOT met'}"
    )
    if len(runs) == 2:
        first, second = runs
        growth = second["rss_peak_mb"] - first["rss_peak_mb"]
        print(
            f"  archive grew {second['image_mb'] / first['image_mb']:.1f}x; peak RSS grew {growth:+.1f} MB "
            f"({growth / first['rss_peak_mb']:+.1%}): {'flat' if abs(growth) < 0.1 * first['rss_peak_mb'] else 'NOT flat'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
