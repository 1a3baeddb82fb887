"""Entry point of `ita`: builds the argument parser from the command modules and maps errors to exit codes.

Each command module exposes ``register(subparsers)`` and sets ``func`` on its parser; a
handler returns the exit code. Bad input (ItaError) prints one message on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence

from ita_desktop import __version__, log_setup
from ita_desktop.domain.errors import ItaError
from ita_desktop.paths import app_paths

_UTC_OFFSET = re.compile(r"-\d{1,2}(:?\d{2})?")
VALUE_OPTIONS_WITH_OFFSETS = ("--server-tz",)


def offsets_attached(argv: Sequence[str]) -> list[str]:
    """``--server-tz -03:30`` as ``--server-tz=-03:30``: argparse reads a value that starts with '-'
    and is not a plain number as the next option, and a broker clock west of UTC is written so."""
    out: list[str] = []
    for token in argv:
        if out and out[-1] in VALUE_OPTIONS_WITH_OFFSETS and _UTC_OFFSET.fullmatch(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


COMMAND_MODULES = ("ita_desktop.cli.config_cmd", "ita_desktop.cli.data_cmd", "ita_desktop.cli.rules_cmd", "ita_desktop.cli.detect_cmd", "ita_desktop.cli.scan_cmd", "ita_desktop.cli.backtest_cmd", "ita_desktop.cli.live_cmd")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ita", description="ITA Desktop command line")
    parser.add_argument("--version", action="version", version=f"ita {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to the console too")
    sub = parser.add_subparsers(dest="command", required=True)
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(offsets_attached(sys.argv[1:] if argv is None else argv))
    paths = app_paths().ensure()
    log_setup.configure(paths.logs, console=args.verbose, level="DEBUG" if args.verbose else "INFO")
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away (`| head -3`) shows here, not at exit
        return code
    except BrokenPipeError:
        _stdout_to_devnull()
        return 1
    except ItaError as exc:
        logging.getLogger("ita.cli").warning("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130


def _stdout_to_devnull() -> None:
    """After the reader of stdout closed it: send what is left nowhere, so the interpreter's own
    flush at exit does not print a second BrokenPipeError (Python's documented recipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
