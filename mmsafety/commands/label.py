"""``mmsafety label``: a sample of one run's responses as a labelling page.

::

    mmsafety label verdicts.jsonl --responses responses.jsonl --sample 200 --out labels.html [--seed 7]

The verdicts file gives the judge's verdict per id, the benchmark and the model; the
responses file (``--responses``: the verdicts do not hold the texts, and mmsafety reads only
files it is pointed at) gives the texts; the built set gives queries and images. The page
opens from the file (no server, no network) and downloads the labels as a human verdicts
file (:mod:`mmsafety.runs.human`).
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
from pathlib import Path

from mmsafety import benchmarks
from mmsafety.commands.common import add_json_option, add_responses_options, check_distinct_files, check_verdict_files, print_json
from mmsafety.errors import InputError

def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``label`` sub-command."""
    label = subparsers.add_parser(
        "label",
        help="write a labelling page: a stratified sample of one run's responses, labelled by hand in a browser",
        description="Draw a random sample of one run's responses, stratified by label, subset and the judge's verdict "
        "(proportional allocation; each item's weight = stratum size / items drawn from it), and write it as one "
        "self-contained HTML page: the image, the query and the response, buttons and keys 1-5 for the verdicts the "
        "benchmark allows, a note, progress. The texts come from --responses, the responses file the run was judged "
        "from (the verdicts do not hold them; where the verdicts hold each response's sha256, it must match). Labels are kept in the browser's storage; the page's button downloads "
        "them as a verdicts file (judge \"human\") that `mmsafety score`, `report` and `agree` read. The judge's "
        "verdict is not shown.",
    )
    label.add_argument("verdicts", metavar="RUN", help="the run's verdicts JSONL (from `mmsafety judge` or `evaluate`)")
    add_responses_options(label)  # the responses file the verdicts were judged from: the texts to label
    label.add_argument("--sample", type=int, default=200, metavar="N", help="responses to draw (default 200; all of them when the run has fewer)")
    label.add_argument("--seed", type=int, metavar="N", help="seed of the draw (default: a random one, printed and written into the labels)")
    label.add_argument("--out", required=True, metavar="FILE", help="the HTML page to write (a page this command wrote is replaced; any other file is refused)")
    label.add_argument("--benchmark", metavar="NAME", help="the benchmark, for verdicts that do not say it (written by other tools)")
    label.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_json_option(label, "the page written, the sample's key, seed and strata (run size and items drawn)")
    label.set_defaults(func=run_label)


def run_label(args: argparse.Namespace) -> int:
    """``mmsafety label``: check the run, draw the sample, write the page."""
    from mmsafety.commands.common import progress_bar, quiet_datasets
    from mmsafety.labelling.items import sample_run
    from mmsafety.labelling.page import render_page
    from mmsafety.runs.response_formats import parse_map, read_response_file
    from mmsafety.runs.samples import load_samples

    if args.sample < 1:
        raise InputError(f"expected --sample of at least 1, found {args.sample}")
    if args.seed is not None and args.seed < 0:
        raise InputError(f"expected --seed of 0 or more, found {args.seed}")
    check_distinct_files(verdicts=args.verdicts, responses=args.responses, out=args.out)
    out = Path(args.out)
    check_page_target(out)
    benchmark = benchmarks.check_name(args.benchmark) if args.benchmark else None
    (checked,) = check_verdict_files([args.verdicts], benchmark)
    quiet_datasets()
    built = load_samples(checked.name)
    mapping = parse_map(args.map) if args.map else None
    responses = read_response_file(args.responses, built.samples, benchmark=checked.name, mapping=mapping)
    seed = secrets.randbelow(2**31) if args.seed is None else args.seed
    with progress_bar(min(args.sample, checked.table.num_rows), "reading the sample's images", "item", args) as bar:
        sample = sample_run(checked, responses, built.samples, size=args.sample, seed=seed, responses_file=args.responses, on_item=lambda: bar.update(1))
    write_page(out, render_page(sample.items, key=sample.key, run=sample.run))
    if args.json:
        print_json({
            "out": str(out), "key": sample.key, "benchmark": sample.benchmark, "seed": seed, "items": len(sample.items),
            "run_items": sample.run_items, "strata": {name: {"run": n, "drawn": k} for name, (n, k) in sample.strata.items()},
        })
    else:
        print(f"wrote {out}: {len(sample.items)} of {sample.run_items} responses of {sample.benchmark} to label "
              f"({len(sample.strata)} strata, seed {seed}); open it in a browser (no server needed)")
    return 0


def check_page_target(path: Path) -> None:
    """Refuse to write over anything but a page this command wrote (or a folder)."""
    from mmsafety.labelling.page import PAGE_MARKER

    if path.is_dir():
        raise InputError("is a folder: expected the path of the HTML page to write", file=path)
    if path.exists() or path.is_symlink():
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                head = handle.read(4096)
        except OSError as error:
            raise InputError(f"cannot be read ({error.strerror}): expected a new file or a page `mmsafety label` wrote", file=path) from None
        if PAGE_MARKER not in head or not path.is_file() or path.is_symlink():
            raise InputError("exists and is not a page `mmsafety label` wrote: expected a new file (mmsafety replaces only its own pages)", file=path)


def write_page(path: Path, text: str) -> None:
    """Write the page whole or not at all, with the permissions a plain ``open()`` would give it."""
    from mmsafety.runs.files import file_mode

    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fchmod(out.fileno(), file_mode(path))
            os.fsync(out.fileno())
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
