"""Entry point of `ita`: builds the argument parser from the command modules and maps errors to exit codes.

Each command module exposes ``register(subparsers)`` and sets ``func`` on its parser; a
handler returns the exit code. Bad input (ItaError) prints one message on stderr, exit 1.

Only the chosen command's module is imported (COMMANDS names each command's module and its
one-line help): the modules pull in numba, the ORM and pydantic, and importing all of them
cost every command, ``ita --version`` included, over half a second. The other commands get a
bare sub-parser with the same help, so ``ita --help`` still lists every command; a test
checks COMMANDS against what the modules register.

While the command's module is imported and the arguments parsed, Python's cyclic garbage
collector is paused (``collector_paused``): importing numba, numpy and pydantic makes ~120,000
objects, and the collector walked them again and again while they were being made (about 200
young and one full collection, ~70 ms of a warm ``ita backtest``, more on a loaded machine),
although imports leave almost no garbage (a few hundred objects). Afterwards the objects made so
far are frozen (``gc.freeze``: never collected, never walked again) and the collector is on as
usual for the command's own work.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

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


#: Every command: the module that registers it (``register(subparsers)``) and its help line, in
#: ``ita --help`` order. A module's commands are adjacent (it registers them together).
COMMANDS: dict[str, tuple[str, str]] = {
    "config": ("ita_desktop.cli.config_cmd", "show folders and settings"),
    "secret": ("ita_desktop.cli.config_cmd", "store API keys and tokens in the OS keyring"),
    "data": ("ita_desktop.cli.data_cmd", "import, list and export stored bars"),
    "rules": ("ita_desktop.cli.rules_cmd", "setup rules: validate, JSON Schema, list"),
    "detect": ("ita_desktop.cli.detect_cmd",
               "run detectors (FVG, order blocks, BOS/CHOCH, sweeps, ...) over stored bars"),
    "scan": ("ita_desktop.cli.scan_cmd", "find a setup rule's occurrences in the stored bars"),
    "backtest": ("ita_desktop.cli.backtest_cmd", "backtest a setup rule on the stored bars and store the run"),
    "sweep": ("ita_desktop.cli.backtest_cmd", "backtest every combination of rule/settings values (nothing stored)"),
    "review": ("ita_desktop.cli.review_cmd",
               "a vision model's review of the chart (model.endpoint, model.name), its drawings grounded in the stored data"),
    "live": ("ita_desktop.cli.live_cmd",
             "watch a symbol live (MT5) or replay its stored bars, printing signals as JSON lines"),
    "learn": ("ita_desktop.cli.learn_cmd", "similar past setups (ChromaDB), a calibrated score, walk-forward"),
    "journal": ("ita_desktop.cli.journal_cmd", "the trader's feedback on signals and trades, the journal, tags"),
    "notify": ("ita_desktop.cli.notify_cmd", "notification channels: send a test message or the daily summary"),
    "signals": ("ita_desktop.cli.signals_cmd", "stored signals: export to CSV or Excel"),
}
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def chosen_command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not an option), if it is one of COMMANDS.

    The top-level options (--version, -v, -h) take no value, so the first other word is the command."""
    for token in argv:
        if token == "--":
            return None
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def build_parser(command: str | None = None, *, full: bool = False) -> argparse.ArgumentParser:
    """The parser with ``command``'s module registered (``full``: every module); the other commands
    are listed with their help but not imported."""
    parser = argparse.ArgumentParser(prog="ita", description="ITA Desktop command line")
    parser.add_argument("--version", action="version", version=f"ita {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to the console too")
    sub = parser.add_subparsers(dest="command", required=True)
    chosen = COMMANDS[command][0] if command in COMMANDS else None
    registered: set[str] = set()
    for name, (module, help_text) in COMMANDS.items():
        if module in registered:
            continue
        if full or module == chosen:
            importlib.import_module(module).register(sub)
            registered.add(module)
        else:
            sub.add_parser(name, help=help_text)
    return parser


@contextmanager
def collector_paused(pause: bool = True) -> Iterator[None]:
    """The cyclic garbage collector off inside (when ``pause`` and it is on), then what exists frozen and the collector
    back on: start-up makes many long-lived objects and almost no garbage (see the module docstring)."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


#: Commands whose work is numba kernels and numpy without linear algebra: OpenBLAS, loaded with numpy, starts one
#: thread for them instead of one per core (its start-up threads spin ~50 ms of CPU a warm backtest, taking a core
#: from the command on a busy machine).
ONE_BLAS_THREAD_COMMANDS = ("backtest", "sweep", "scan", "detect")
#: What OpenBLAS reads for its thread count, in its order: a user's own setting is left alone.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")


@contextmanager
def one_blas_thread(command: str | None) -> Iterator[None]:
    """``OPENBLAS_NUM_THREADS=1`` while ``command``'s module imports numpy (OpenBLAS reads it when it loads), then
    removed again: child processes and any later library see the environment as the user left it."""
    if (command not in ONE_BLAS_THREAD_COMMANDS or "numpy" in sys.modules
            or any(name in os.environ for name in BLAS_THREAD_VARIABLES)):
        yield
        return
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OPENBLAS_NUM_THREADS", None)


def main(argv: Sequence[str] | None = None) -> int:
    tokens = offsets_attached(sys.argv[1:] if argv is None else argv)
    command = chosen_command(tokens)
    if argv is None and command in ONE_BLAS_THREAD_COMMANDS:  # a single-threaded start that runs cached kernels
        from ita_desktop.numba_start import lazy_importlib_metadata

        lazy_importlib_metadata()  # numba imports it for an extension scan only a compile runs
    # Only as the process's own command line (argv None): a caller in a long-lived process (tests, a script calling
    # main) keeps its collector as it is, and nothing of it is frozen.
    with collector_paused(argv is None), one_blas_thread(command):
        args = build_parser(command).parse_args(tokens)
        if not hasattr(args, "func"):  # a command chosen_command could not see (after "--"): register them all
            args = build_parser(full=True).parse_args(tokens)
    paths = app_paths().ensure()
    if argv is None:  # the process's own command line: validated rules and settings are kept between runs
        from ita_desktop import validated_cache

        validated_cache.enable(paths.cache)
    log_setup.configure(paths.logs, console=args.verbose, level="DEBUG" if args.verbose else "INFO")
    code = _run_command(args)
    if argv is None and command in ONE_BLAS_THREAD_COMMANDS:
        exit_without_teardown(code)
    return code


def _run_command(args: argparse.Namespace) -> int:
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


def exit_without_teardown(code: int) -> None:
    """End the process now, as the interpreter would, but without its teardown of every module and object.

    After a warm ``ita backtest`` the interpreter spent ~20-35 ms freeing ~700 modules (numba's, numpy's) one
    object at a time, for memory the OS takes back at once. What an exit must still do is done first: the
    ``atexit`` functions (logging's flush and close, ``weakref.finalize`` hooks, numba's), then stdout and stderr
    flushed. Only when the main thread is the only one (the interpreter would wait for others) and for the kernel
    commands, whose files and the store are closed by the time they return; otherwise it returns and the usual
    exit runs."""
    import threading

    if threading.active_count() != 1:
        return
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone or a stream closed: nothing left to deliver
            pass
    os._exit(code)


def _stdout_to_devnull() -> None:
    """After the reader of stdout closed it: send what is left nowhere, so the interpreter's own
    flush at exit does not print a second BrokenPipeError (Python's documented recipe)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
