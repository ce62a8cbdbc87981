"""``mmsafety demo``: the whole flow, offline, on the embedded DEMO set, in seconds."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``demo``."""
    demo = subparsers.add_parser(
        "demo",
        help="run the whole flow offline on a tiny embedded DEMO set (not a benchmark)",
        description="Build the embedded DEMO set (twelve made-up samples, images drawn by the package; not a "
        "benchmark) into the datasets cache, load it back with datasets.load_dataset, judge the bundled demo "
        "models' responses (and one blind run) with the rules judge, score them, and write the report. Nothing is downloaded.",
    )
    demo.add_argument("--out", type=Path, default=Path("mmsafety-demo"), metavar="DIR", help="folder for the responses, verdicts and report: a new or empty folder, or an earlier demo "
                      "(its files are replaced; a folder holding anything else is refused) (default ./mmsafety-demo)")
    demo.set_defaults(func=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    """Run the demo and say where everything is."""
    start = time.perf_counter()
    from mmsafety.demo import REPO_ID, run_demo

    result = run_demo(args.out)
    steps = ", ".join(f"{step} {seconds:.1f} s" for step, seconds in result.seconds.items())
    out = result.out
    print(f"mmsafety demo: the DEMO set ({result.rows} made-up samples; not a benchmark), judged offline by the rules judge")
    print(f"  1. built {REPO_ID} into the datasets cache: {result.cache_path}")
    print(f'  2. loaded it back: datasets.load_dataset("{REPO_ID}", split="test")')
    blind = sum(path.stem.endswith("-blind") for path in result.responses)
    runs = f"{len(result.responses) - blind} demo models" + (f" and {blind} blind run{'s' if blind > 1 else ''} (no image)" if blind else "")
    print(f"  3. judged the bundled responses of {runs}: {out / 'responses'} -> {out / 'verdicts'}")
    print("  4. scored and reported:")
    print("\n".join("     " + line for line in result.summary.splitlines()))
    print(f"done in {time.perf_counter() - start:.1f} s ({steps})")
    print("the same by hand:")
    for path in result.responses:
        print(f"  mmsafety judge {REPO_ID} --responses {path} --out {out / 'verdicts' / path.name}")
    by_hand = out.parent / f"{out.name}-report"  # a folder of its own: the demo's folder is the demo's
    calibration = "".join(f" --calibration {p}" for p in result.labels)
    print(f"  mmsafety report {' '.join(str(p) for p in result.verdicts)}{calibration} --out {by_hand}")
    for label in result.labels:
        judged = out / "verdicts" / label.name.replace("-human", "")
        print(f"  mmsafety agree {judged} {label}")
    return 0
