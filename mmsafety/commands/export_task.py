"""``mmsafety export-task``: the benchmarks as another harness's tasks.

::

    mmsafety export-task lmms-eval DIR [--benchmark NAME ...] [--parquet NAME=EXPORT_DIR ...] \\
        [--judge-model M [--judge-base-url URL] [--judge-api-key-env VAR]]
    mmsafety export-task vlmevalkit DIR [--benchmark NAME ...] [--parquet NAME=EXPORT_DIR ...]

both with ``--config NAME`` (a benchmark's configuration, e.g. ``full``) and ``--order
interleave`` (subsets and categories in turn, so a harness's ``--limit N`` covers each).

``DIR`` must be absent or empty; it is written all at once (:mod:`mmsafety.integrations`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mmsafety import benchmarks
from mmsafety.errors import InputError
from mmsafety.judges.protocols import PROTOCOL_CHOICES

HARNESSES = ("lmms-eval", "vlmevalkit")


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``export-task``."""
    parser = subparsers.add_parser(
        "export-task",
        help="write the benchmarks as lmms-eval tasks or VLMEvalKit datasets",
        description="Write each benchmark as a task of another harness: lmms-eval (a task YAML and utils.py per "
        "benchmark, judged and scored by mmsafety) or VLMEvalKit (a custom-dataset TSV per benchmark; judge its "
        "prediction file with `mmsafety judge NAME --responses FILE.xlsx`). DIR must be absent or empty.",
    )
    parser.add_argument("harness", choices=HARNESSES, help="the harness to write for")
    parser.add_argument("dir", metavar="DIR", help="folder to write (absent or empty)")
    parser.add_argument("--benchmark", action="append", metavar="NAME", help="a benchmark or custom repo id (repeat; default: every registered benchmark, for vlmevalkit every built one)")
    parser.add_argument("--parquet", action="append", default=[], metavar="NAME=EXPORT_DIR", help="read NAME from its Parquet export (`mmsafety build NAME --export EXPORT_DIR`) instead of the local build or the Hub")
    parser.add_argument("--config", default="default", metavar="NAME", help="the benchmarks' configuration (mmsafeaware: default or full; default: default)")
    parser.add_argument("--order", choices=("dataset", "interleave"), default="dataset", help="row order: the dataset's, or subsets and categories in turn, so a harness's --limit N covers each (default: dataset)")
    judge = parser.add_argument_group("lmms-eval judge (default: the benchmark's offline judge)")
    judge.add_argument("--judge-model", metavar="NAME", help="judge with mmsafety's LLM judge and this model")
    judge.add_argument("--judge-base-url", metavar="URL", help="the judge's OpenAI-compatible endpoint")
    judge.add_argument("--judge-api-key-env", metavar="VAR", help="environment variable holding the judge's API key")
    judge.add_argument("--judge-protocol", choices=PROTOCOL_CHOICES, help="as `mmsafety judge --protocol` (default: upstream for VLSBench, rubric elsewhere)")
    judge.add_argument("--judge-source-dir", metavar="PATH", help="as `mmsafety judge --source-dir`: the authors' evaluation code (else downloaded at the pinned commit)")
    parser.set_defaults(func=run_export_task)


def _parquet(entries: list[str]) -> dict[str, str]:
    folders: dict[str, str] = {}
    for entry in entries:
        name, equals, folder = entry.partition("=")
        if not equals or not name or not folder:
            raise InputError(f"expected NAME=EXPORT_DIR, found {entry!r}", record="--parquet")
        benchmarks.check_name(name)
        folders[name] = folder
    return folders


def _names(args: argparse.Namespace, parquet: dict[str, str]) -> list[str]:
    if args.benchmark:
        names = [benchmarks.check_name(n) for n in dict.fromkeys(args.benchmark)]
        missing = sorted(set(parquet) - set(names))
        if missing:
            raise InputError(f"--parquet names {', '.join(missing)}, which --benchmark does not", record="--parquet")
        return names
    if args.harness == "lmms-eval":
        return list(dict.fromkeys([*benchmarks.names(), *parquet]))
    from mmsafety.data.catalog import built_versions

    names = [n for n in benchmarks.names() if built_versions(benchmarks.repo_id(n))]
    names = list(dict.fromkeys([*names, *parquet]))
    if not names:
        raise InputError("no benchmark is built: run `mmsafety build NAME` first, or name --benchmark / --parquet")
    return names


def run_export_task(args: argparse.Namespace) -> int:
    """``mmsafety export-task``: write the task files, print what was written."""
    from mmsafety.integrations.common import check_target, load_rows, write_folder

    check_target(args.dir)
    parquet = _parquet(args.parquet)
    names = _names(args, parquet)
    judge_options = (args.judge_model, args.judge_base_url, args.judge_api_key_env, args.judge_protocol, args.judge_source_dir)
    if args.harness == "lmms-eval":
        from mmsafety.integrations.lmms_eval import export_task_files

        if any(judge_options[1:]) and not args.judge_model:
            raise InputError("--judge-base-url, --judge-api-key-env, --judge-protocol and --judge-source-dir need --judge-model NAME")
        judge = None
        if args.judge_model:
            source = str(Path(args.judge_source_dir).resolve()) if args.judge_source_dir else None
            judge = {
                "judge": "llm", "model": args.judge_model, "base_url": args.judge_base_url, "api_key_env": args.judge_api_key_env,
                "protocol": args.judge_protocol, "source_dir": source,
            }
        files = export_task_files(names, parquet, judge, args.config, args.order)
        hint = f"run: python -m lmms_eval --include_path {Path(args.dir).resolve()} --tasks {','.join(sorted({f.split('/')[0] for f in files}))} --model ..."
    else:
        if any(judge_options):
            raise InputError("--judge-* options are for lmms-eval: VLMEvalKit's predictions are judged by `mmsafety judge`")
        from mmsafety.integrations.vlmevalkit import tsv_files

        from mmsafety.integrations.common import ordered_rows

        files = tsv_files(((name, ordered_rows(load_rows(name, parquet.get(name), args.config), args.order)) for name in names), config=args.config)
        datasets = ",".join(Path(f).stem for f in files)
        hint = (
            f"run: LMUData={Path(args.dir).resolve()} python run.py --data {datasets.replace(',', ' ')} --model MODEL --mode infer; "
            "then: mmsafety judge NAME --responses MODEL_<dataset>.xlsx --out verdicts.jsonl"
        )
    written = write_folder(args.dir, files)
    for path in written:
        print(f"wrote {path}")
    print(hint)
    return 0
