"""The ``mmsafety`` command line.

Each command lives in its own module (``mmsafety/commands/<command>.py``) with an
``add_parser(subparsers)`` function that registers it and sets ``func``; this module only assembles them and turns
bad input into one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from mmsafety import __version__
from mmsafety.errors import InputError

COMMAND_MODULES: tuple[str, ...] = tuple(
    f"mmsafety.commands.{name}"
    for name in ("build", "checksums", "publish", "judge", "score", "agree", "audit", "respond", "evaluate", "report", "label", "import_results", "export_task", "demo")
)
"""Modules that contribute sub-commands, in the order ``--help`` lists them."""

EXIT_BAD_INPUT = 2
EXIT_BROKEN_PIPE = 141
"""The status of a command whose output pipe was closed: 128 + SIGPIPE, as a shell reports a
program that SIGPIPE ended (``yes | head``)."""


def make_parser() -> argparse.ArgumentParser:
    """The full argument parser: every command module's sub-command."""
    parser = argparse.ArgumentParser(
        prog="mmsafety",
        description="Multimodal safety benchmarks as versioned Hugging Face datasets.",
    )
    parser.add_argument("--version", action="version", version=f"mmsafety {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, help="the command to run (`mmsafety COMMAND --help` describes it)")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the process exit status.

    Output to a pipe its reader closed (``mmsafety score ... | head``) ends the command
    quietly with status :data:`EXIT_BROKEN_PIPE`, as the Python documentation's "Note on
    SIGPIPE" recommends: stdout is pointed at ``/dev/null`` so that the interpreter's last
    flush at exit does not fail again.
    """
    _progress_bars_on_a_terminal_only()
    try:
        status = _run(argv)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    args = make_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as error:
        print(f"mmsafety {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:  # a write the user can mend (disk full, read-only): one line, naming what it can
        from mmsafety.data.writing import WRITE_ERRNOS, cause

        if error.errno not in WRITE_ERRNOS:
            raise
        where = f"{error.filename}: " if error.filename else ""
        print(f"mmsafety {args.command}: error: {where}cannot write: {cause(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"mmsafety {args.command}: interrupted", file=sys.stderr)
        return 130


def _stdout_to_devnull() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (a test's capture)
        pass


def _progress_bars_on_a_terminal_only() -> None:
    """Progress bars while someone watches the terminal; none in a pipe or a log, where
    they are carriage-return noise around the one line an error is reported in.
    (The variables are read when ``datasets`` / ``huggingface_hub`` are imported; a user's
    own setting wins.)"""
    if not sys.stderr.isatty():
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


if __name__ == "__main__":
    sys.exit(main())
