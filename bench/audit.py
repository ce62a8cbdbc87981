"""Benchmark of ``mmsafety audit``: time per stage and peak memory, against an in-memory baseline.

Runs, each in its own process (so peak memory is per run):

1. ``mmsafety audit`` of the real MMSafeAware (built first from ``../shared/upstream``,
   skipped with a note where that is absent);
2. ``mmsafety audit`` of generated sets of two sizes (default 5,000 and 20,000 rows,
   written once as Parquet in the schema: JPEG and PNG photos of 192-384 px, with
   exact and near duplicates, truncated images and label-correlated words planted);
3. ``baseline``: the audit a user would write first, on the same generated sets: read
   the whole Parquet into memory (``pq.read_table``), decode every image at full size
   for ``imagehash.phash``; and, for the near-duplicate search, all pairs of rows
   (vectorised with numpy, in blocks), timed on the first ``--pair-sample`` hashes and
   scaled by the number of pairs, against ours on all of them;
4. with ``--shared ROWS IMAGES``: a set of ROWS rows that share IMAGES distinct pictures
   (200,000 rows over 500 pictures by default: many rows, few images, as sets that reuse
   one picture under many queries are), audited, against the all-pairs search scaled;
5. with ``--distinct ROWS``: a set of ROWS rows, each with a picture of its own (small
   generated photos, so that the near-duplicate search, not decoding, is what grows),
   audited (goal at 200,000: <= 60 s, <= 1 GB), against the all-pairs search scaled;
6. with ``--hashes N``: the near-duplicate search alone on N random distinct hashes
   (1,000,000 "on paper": no set of that many photos is generated), time and peak memory.

Goal: peak memory flat as the set grows (the audit streams the images batch by batch;
what grows is a few facts per row and the text model), and hashing faster than a full
decode (JPEGs are decoded at a reduced scale with ``Image.draft``).

    python bench/audit.py [--sizes 5000 20000] [--shared 200000 500] [--distinct 200000] [--hashes 1000000]
                          [--work DIR] [--source-dir ../shared/upstream/mmsafeaware]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from measure import peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "upstream" / "mmsafeaware"
STAGES = ("open", "read", "images", "integrity", "duplicates", "balance", "leakage", "write")


# -- a generated set ---------------------------------------------------------------------------
RISKY = ("knife", "fire", "pills", "wires", "gun", "chemicals", "ledge", "traffic")
HARMLESS = ("cake", "garden", "puppy", "kite", "painting", "soup", "bicycle", "music")
COMMON = ("how", "can", "i", "use", "this", "the", "in", "picture", "with", "my", "friend", "today", "near", "what", "do")
CATEGORIES = ("violence", "self-harm", "crime", "health", "privacy", "property")


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """A Parquet file in the mmsafety schema, written in row groups as ``to_parquet`` does."""
    import datasets
    import numpy as np
    import pyarrow.parquet as pq
    from PIL import Image

    from mmsafety.schema import features

    rng = np.random.default_rng(seed)
    schema_features = features()
    writer = None
    previous: list[tuple[bytes, str, str]] = []
    chunk: list[dict[str, Any]] = []
    for index in range(rows):
        label = ("unsafe", "unsafe", "safe", "oversensitive")[rng.integers(0, 4)]
        draw = rng.random()
        if draw < 0.01 and previous:  # an exact duplicate of an earlier row
            data, name, query = previous[rng.integers(0, len(previous))]
        else:
            side = int(rng.integers(192, 385))
            picture = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((side * 4 // 3, side), Image.BICUBIC)
            if draw < 0.02 and previous:  # a near duplicate: an earlier picture, resized and re-encoded
                source = Image.open(io.BytesIO(previous[rng.integers(0, len(previous))][0]))
                picture = source.convert("RGB").resize((source.width * 3 // 4, source.height * 3 // 4))
            kind = "PNG" if rng.random() < 0.2 else "JPEG"
            buffer = io.BytesIO()
            picture.save(buffer, kind, **({"quality": int(rng.integers(60, 95))} if kind == "JPEG" else {"compress_level": 1}))
            data = buffer.getvalue()
            if rng.random() < 0.001:
                data = data[: len(data) // 2]  # truncated
                draw = -1.0  # not a source for later copies
            name = f"images/{index}.{'png' if kind == 'PNG' else 'jpg'}"
            leaning = RISKY if (label == "unsafe") == (rng.random() < 0.7) else HARMLESS
            query = " ".join([*rng.choice(COMMON, 6), rng.choice(leaning), *rng.choice(COMMON, 3)]) + "?"
        if len(previous) < 500 and draw >= 0:
            previous.append((data, name, query))
        chunk.append(
            {
                "id": str(index),
                "image": {"bytes": data, "path": name},
                "query": query,
                "label": label,
                "category": CATEGORIES[rng.integers(0, len(CATEGORIES))],
                "subcategory": "",
                "subset": "",
                "reference": "",
            }
        )
        if len(chunk) == 500 or index == rows - 1:
            table = datasets.Dataset.from_list(chunk, features=schema_features).data.table
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=100)
            chunk = []
    assert writer is not None
    writer.close()


def generate_shared(path: Path, rows: int, images: int, seed: int = 1) -> None:
    """``rows`` rows in the schema over ``images`` distinct small pictures (each used about rows/images times;
    row ``i`` has picture ``i`` when ``images == rows``)."""
    import datasets
    import numpy as np
    import pyarrow.parquet as pq
    from PIL import Image

    from mmsafety.schema import features

    rng = np.random.default_rng(seed)
    pictures = []
    for _ in range(images):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((64, 48), Image.BICUBIC).save(buffer, "JPEG", quality=80)
        pictures.append(buffer.getvalue())
    writer = None
    for begin in range(0, rows, 5000):
        chunk = []
        for index in range(begin, min(rows, begin + 5000)):
            label = ("unsafe", "safe", "oversensitive")[index % 3]
            leaning = RISKY if label == "unsafe" else HARMLESS
            query = " ".join([*rng.choice(COMMON, 5), rng.choice(leaning), *rng.choice(COMMON, 3)]) + f" {index}?"
            picture = index if images == rows else int(rng.integers(0, images))
            chunk.append({"id": str(index), "image": {"bytes": pictures[picture], "path": f"images/{picture}.jpg"}, "query": query,
                          "label": label, "category": CATEGORIES[index % len(CATEGORIES)], "subcategory": "", "subset": "", "reference": ""})
        table = datasets.Dataset.from_list(chunk, features=features()).data.table
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=500)
    assert writer is not None
    writer.close()


def all_pairs_seconds(hashes: list[int], sample: int) -> tuple[float, int]:
    """Seconds the all-pairs search takes over ``hashes``: timed on the first ``sample``, scaled by pairs."""
    import numpy as np

    from mmsafety.audit.duplicates import PHASH_DISTANCE, _all_pairs

    taken = np.array(hashes[:sample], dtype=np.uint64)
    started = time.perf_counter()
    _all_pairs(taken, PHASH_DISTANCE)
    seconds = time.perf_counter() - started
    scale = len(hashes) * (len(hashes) - 1) / max(1, len(taken) * (len(taken) - 1))
    return seconds * scale, len(hashes) * (len(hashes) - 1) // 2


# -- the runs (children) ------------------------------------------------------------------------
def run_audit(target: str, out: Path) -> dict[str, Any]:
    from mmsafety.audit import audit

    started = time.perf_counter()
    report = audit(target, out)
    seconds = time.perf_counter() - started
    near = report["duplicates"]["near"]
    leak = report["leakage"]
    return {
        "seconds": seconds,
        "rows": report["dataset"]["rows"],
        "stages": report["timings"],
        "note": f"{len(report['duplicates']['exact'])} exact groups, {near['count']} near-duplicate groups "
        f"({near['distinct_hashes']:,} distinct hashes), "
        f"{len(report['integrity']['truncated_images'])} truncated, AUC "
        + (f"{leak['roc_auc']:.3f} [{leak['ci95'][0]:.3f}, {leak['ci95'][1]:.3f}]" if leak["status"] == "done" else "skipped"),
    }


def run_baseline(target: str, out: Path, pair_sample: int) -> dict[str, Any]:
    import imagehash
    import pyarrow.parquet as pq
    from PIL import Image

    stages: dict[str, float] = {}
    started = time.perf_counter()
    table = pq.read_table(target)  # everything in memory
    images = table.column("image").combine_chunks().field("bytes").to_pylist()
    stages["read"] = time.perf_counter() - started
    started = time.perf_counter()
    hashes = []
    for data in images:
        try:
            hashes.append(int(str(imagehash.phash(Image.open(io.BytesIO(data)))), 16))  # full decode
        except OSError:
            pass
    stages["images"] = time.perf_counter() - started
    estimate, pairs = all_pairs_seconds(hashes, pair_sample)
    stages["pairs all (estimate)"] = estimate
    return {
        "seconds": stages["read"] + stages["images"],
        "rows": len(images),
        "stages": stages,
        "hashes": len(hashes),
        "note": f"all-pairs search over {pairs:,} pairs: ~{estimate:.0f} s (timed on {min(pair_sample, len(hashes)):,} hashes, scaled)",
    }


def run_hashes(count: int) -> dict[str, Any]:
    import numpy as np

    from mmsafety.audit.duplicates import PHASH_DISTANCE, block_plan, near_edges

    hashes = np.unique(np.random.default_rng(count).integers(0, 2**64, count, dtype=np.uint64))
    started = time.perf_counter()
    edges = near_edges(hashes)
    seconds = time.perf_counter() - started
    blocks, agree = block_plan(len(hashes), PHASH_DISTANCE)
    return {"seconds": seconds, "rows": len(hashes), "stages": {"near_edges": seconds},
            "note": f"{len(edges)} pairs within {PHASH_DISTANCE} bits; keys: every {agree} of {blocks} blocks"}


def child(args: argparse.Namespace) -> int:
    if args.child == "hashes":
        figures = run_hashes(int(args.target))
    elif args.child == "audit":
        figures = run_audit(args.target, Path(args.out))
    else:
        figures = run_baseline(args.target, Path(args.out), args.pair_sample)
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures))
    return 0


# -- the parent ---------------------------------------------------------------------------------
def in_child(kind: str, target: str, env: dict[str, str], out: Path, pair_sample: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", kind, "--target", target, "--out", str(out), "--pair-sample", str(pair_sample)]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{kind} run on {target} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def show(name: str, figures: dict[str, Any]) -> None:
    stages = "  ".join(f"{stage} {seconds:.2f}" for stage, seconds in figures["stages"].items())
    print(f"{name:<26} {figures['rows']:>7,} rows  {figures['seconds']:7.1f} s  peak {figures['peak_rss_mb']:7.0f} MB   {figures['note']}")
    print(f"{'':<26} stages (s): {stages}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--work", type=Path, help="where the generated sets are kept (default: a temporary folder)")
    parser.add_argument("--source-dir", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--pair-sample", type=int, default=20000, help="hashes the baseline's all-pairs search is timed on")
    parser.add_argument("--shared", type=int, nargs=2, metavar=("ROWS", "IMAGES"), help="also a set of ROWS rows sharing IMAGES pictures (e.g. 200000 500)")
    parser.add_argument("--distinct", type=int, metavar="ROWS", help="also a set of ROWS rows with a picture each (e.g. 200000)")
    parser.add_argument("--hashes", type=int, metavar="N", help="also the near-duplicate search alone on N random hashes (e.g. 1000000)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--child", choices=("audit", "baseline", "hashes"), help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    with tempfile.TemporaryDirectory(prefix="mmsafety-bench-audit-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "HF_HOME": str(work / "hf-home"),
            "HF_DATASETS_CACHE": str(work / "hf-home" / "datasets"),
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        }
        import numpy as np

        print(f"mmsafety audit benchmark: {os.cpu_count()} CPUs, python {sys.version.split()[0]}")
        if args.source_dir.is_dir():
            build = [sys.executable, "-m", "mmsafety.cli", "build", "mmsafeaware", "--source-dir", str(args.source_dir), "--allow-missing-images"]
            subprocess.run(build, check=True, env=env, capture_output=True)
            show("MMSafeAware (real)", in_child("audit", "mmsafety/mmsafeaware", env, work / "out-mmsafeaware", args.pair_sample))
        else:
            print(f"MMSafeAware: skipped, no upstream copy at {args.source_dir}")
        results: dict[int, dict[str, dict[str, Any]]] = {}
        for size in args.sizes:
            path = work / f"generated-{size}.parquet"
            if not path.exists():
                started = time.perf_counter()
                generate(path, size)
                print(f"(generated {size:,} rows, {path.stat().st_size / 1e6:.0f} MB, in {time.perf_counter() - started:.0f} s)")
            results[size] = {"audit": in_child("audit", str(path), env, work / f"out-{size}", args.pair_sample)}
            show(f"generated {size:,}: audit", results[size]["audit"])
            if not args.no_baseline:
                results[size]["baseline"] = in_child("baseline", str(path), env, work / f"out-{size}", args.pair_sample)
                show(f"generated {size:,}: baseline", results[size]["baseline"])
        if args.shared:
            rows, pictures = args.shared
            path = work / f"shared-{rows}-{pictures}.parquet"
            if not path.exists():
                started = time.perf_counter()
                generate_shared(path, rows, pictures)
                print(f"(generated {rows:,} rows over {pictures} pictures, {path.stat().st_size / 1e6:.0f} MB, in {time.perf_counter() - started:.0f} s)")
            ours = in_child("audit", str(path), env, work / "out-shared", args.pair_sample)
            show(f"shared {rows:,}/{pictures}: audit", ours)

            hashes = np.random.default_rng(0).integers(0, 2**63, rows, dtype=np.uint64).tolist()  # its cost does not depend on the values
            estimate, pairs = all_pairs_seconds(hashes, args.pair_sample)
            duplicates = ours["stages"]["duplicates"]
            print(
                f"{'':<26} near duplicates {duplicates:.2f} s vs an all-pairs search over the rows' hashes ({pairs:,} pairs) "
                f"~{estimate:.0f} s (timed on {args.pair_sample:,}, scaled): x{estimate / max(duplicates, 1e-9):.0f}"
            )
        if args.distinct:
            rows = args.distinct
            path = work / f"distinct-{rows}.parquet"
            if not path.exists():
                started = time.perf_counter()
                generate_shared(path, rows, rows)
                print(f"(generated {rows:,} rows, a picture each, {path.stat().st_size / 1e6:.0f} MB, in {time.perf_counter() - started:.0f} s)")
            ours = in_child("audit", str(path), env, work / "out-distinct", args.pair_sample)
            show(f"distinct {rows:,}: audit", ours)
            hashes = np.random.default_rng(0).integers(0, 2**63, rows, dtype=np.uint64).tolist()
            estimate, pairs = all_pairs_seconds(hashes, args.pair_sample)
            met = "met" if ours["seconds"] <= 60 and ours["peak_rss_mb"] <= 1024 else "NOT met"
            print(f"{'':<26} goal at 200,000 (<= 60 s, <= 1 GB): {met}; near duplicates {ours['stages']['duplicates']:.2f} s "
                  f"vs all pairs ({pairs:,}) ~{estimate:.0f} s")
        if args.hashes:
            show(f"{args.hashes:,} hashes: search", in_child("hashes", str(args.hashes), env, work / "out-hashes", args.pair_sample))
        print()
        if not results:
            return 0
        small, large = min(results), max(results)
        if small != large:
            grow = large / small
            ours = results[large]["audit"]["peak_rss_mb"] / results[small]["audit"]["peak_rss_mb"]
            line = f"{grow:.0f}x the rows: audit peak memory x{ours:.2f}"
            if not args.no_baseline:
                line += f", baseline x{results[large]['baseline']['peak_rss_mb'] / results[small]['baseline']['peak_rss_mb']:.2f}"
            print(line)
        if not args.no_baseline:
            for size in sorted(results):
                ours, base = results[size]["audit"], results[size]["baseline"]
                ours_io = ours["stages"]["read"] + ours["stages"]["images"]
                base_io = base["stages"]["read"] + base["stages"]["images"]
                print(
                    f"{size:,} rows: read+check+hash {ours_io:.1f} s vs baseline read+hash {base_io:.1f} s (x{base_io / ours_io:.2f}); "
                    f"peak {ours['peak_rss_mb']:.0f} MB vs {base['peak_rss_mb']:.0f} MB; near duplicates {ours['stages']['duplicates']:.2f} s "
                    f"vs all pairs ~{base['stages']['pairs all (estimate)']:.1f} s (x{base['stages']['pairs all (estimate)'] / max(ours['stages']['duplicates'], 1e-9):.0f})"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
