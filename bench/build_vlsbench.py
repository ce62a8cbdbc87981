"""Benchmark of building VLSBench from its tar archive, against ``tar -x`` of the same archive.

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

Throughput is MB (10^6 bytes) of image bytes per second. Goal: peak memory flat as the
archive grows (one member in memory at a time), and a build within a small
factor of ``tar -x``.

    python bench/build_vlsbench.py [--count 2241] [--size-kb 300] [--small-count 560]
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


def run_build_child(source: Path, cache: Path) -> dict[str, Any]:
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
        [sys.executable, str(Path(__file__).resolve()), "--child", str(source)], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"the build failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def child(source: Path) -> None:
    """The build itself, as the command line runs it; prints one JSON line."""
    from mmsafety.data.build import build

    imported = peak_rss_mb()
    started = time.perf_counter()
    result = build("vlsbench", source_dir=source, checksums=source / "checksums.tsv")
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": result.rows, "image_bytes": result.image_bytes, "rss_imported_mb": imported, "rss_peak_mb": peak_rss_mb()}))


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
    shutil.rmtree(source)
    return {"count": count, "archive_mb": archive_bytes / 1e6, "image_mb": image_bytes / 1e6, "generated_s": generated, "tar_s": tar_seconds, **built}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2241, help="images in the full archive (default: 2241, as upstream)")
    parser.add_argument("--size-kb", type=float, default=300, help="approximate size of each image in KB (default: 300)")
    parser.add_argument("--small-count", type=int, help="images in the smaller archive (default: a quarter of --count; 0: skip)")
    parser.add_argument("--work-dir", type=Path, help="where to generate (default: a temporary folder)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    small = args.count // 4 if args.small_count is None else args.small_count
    counts = [c for c in (small, args.count) if c > 0]
    size = int(args.size_kb * 1024)
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
