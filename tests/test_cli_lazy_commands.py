"""`ita` imports only the chosen command's module, and still lists every command in --help.

Fresh processes: what a module import costs is only visible in a new interpreter."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from ita_desktop.cli.main import COMMANDS, build_parser, chosen_command, main
from tests.conftest import PROJECT_ROOT

HEAVY = ("numba", "sqlalchemy", "sqlmodel", "pydantic", "keyring", "pandas")
PROBE = """
import json, sys
from ita_desktop.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.startswith(("ita_desktop.cli.",
    "numba", "sqlalchemy", "sqlmodel", "pydantic", "keyring", "pandas")) and m.count(".") <= 2)}))
"""


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {c.dest: c.help for c in action._choices_actions}


def _probe(ita_home, *args: str) -> tuple[int, set[str], str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env={"ITA_HOME": str(ita_home), "PATH": "/usr/bin:/bin"}, timeout=300)
    last = json.loads(out.stdout.strip().splitlines()[-1])
    return last["code"], set(last["modules"]), out.stdout


def test_the_command_table_is_what_the_modules_register() -> None:
    full = _subcommands(build_parser(full=True))
    assert list(full) == list(COMMANDS)  # same commands, same --help order
    assert full == {name: help_text for name, (_, help_text) in COMMANDS.items()}
    assert _subcommands(build_parser()) == full  # listed without importing anything
    for name in COMMANDS:
        assert _subcommands(build_parser(name)) == full


def test_the_chosen_command_is_the_first_word() -> None:
    assert chosen_command(["-v", "backtest", "asia_sweep", "--symbol", "X"]) == "backtest"
    assert chosen_command(["--version"]) is None
    assert chosen_command(["nonsense", "data"]) is None
    assert chosen_command(["--", "data"]) is None


def test_version_and_help_import_no_command_module(ita_home) -> None:
    code, modules, _ = _probe(ita_home, "--version")
    assert code == 0 and not {m for m in modules if m.startswith("ita_desktop.cli.") and m.endswith("_cmd")}
    assert not {m.split(".")[0] for m in modules} & set(HEAVY)
    code, modules, text = _probe(ita_home, "--help")
    assert code == 0 and all(name in text for name in COMMANDS)
    assert not {m.split(".")[0] for m in modules} & set(HEAVY)


def test_a_command_imports_its_own_module_only(ita_home) -> None:
    code, modules, text = _probe(ita_home, "rules", "list")
    assert code == 0 and "asia_sweep" in text
    commands = {m for m in modules if m.endswith("_cmd")}
    assert commands == {"ita_desktop.cli.rules_cmd"}
    assert "keyring" not in {m.split(".")[0] for m in modules}


def test_commands_still_run_and_bad_ones_are_refused(ita_home, capsys) -> None:
    assert main(["config", "path"]) == 0
    assert str(ita_home) in capsys.readouterr().out
    assert main(["-v", "secret", "list"]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["nonsense"])
    assert exc.value.code == 2
    assert "invalid choice: 'nonsense'" in capsys.readouterr().err


GC_PROBE = """
import gc, json, sys
from ita_desktop.cli.main import main
seen = []
gc.callbacks.append(lambda phase, info: phase == "start" and seen.append(info["generation"]))
mode = sys.argv.pop(1)
code = main() if mode == "entry" else main(sys.argv[1:])
print(json.dumps({"code": code, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "collections_in_startup": len(seen), "cli": sorted(m for m in sys.modules if m.endswith("_cmd"))}))
"""


def _gc_probe(ita_home, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", GC_PROBE, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env={"ITA_HOME": str(ita_home), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_as_the_process_command_line_the_collector_pauses_for_start_up_and_is_back_on_after(ita_home) -> None:
    entry = _gc_probe(ita_home, "entry", "config", "show")
    assert entry["code"] == 0 and "ita_desktop.cli.config_cmd" in entry["cli"]
    assert entry["enabled"] and entry["frozen"] > 10_000  # start-up's objects frozen, the collector back on
    called = _gc_probe(ita_home, "call", "config", "show")  # main(argv) from a caller's process: left alone
    assert called["code"] == 0 and called["enabled"] and called["frozen"] == 0
    assert called["collections_in_startup"] > entry["collections_in_startup"]


def test_the_collector_pause_restores_a_caller_that_had_it_off_and_survives_a_parse_error() -> None:
    import gc

    from ita_desktop.cli.main import collector_paused

    assert gc.isenabled()
    try:
        with pytest.raises(SystemExit), collector_paused():
            assert not gc.isenabled()
            build_parser().parse_args(["--no-such-option"])
        assert gc.isenabled() and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process's objects back to the collector
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled() and gc.get_freeze_count() == 0  # a caller that had it off: left as it was
    finally:
        gc.enable()


BLAS_PROBE = """
import json, os, sys
from ita_desktop.cli.main import one_blas_thread
with one_blas_thread(sys.argv[1]):
    inside = os.environ.get("OPENBLAS_NUM_THREADS")
    import numpy
import threadpoolctl
print(json.dumps({"inside": inside, "after": os.environ.get("OPENBLAS_NUM_THREADS"),
                  "threads": [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]}))
"""


@pytest.mark.parametrize(("command", "user", "expected"), [
    ("backtest", {}, {"inside": "1", "after": None, "threads": [1]}),
    ("sweep", {}, {"inside": "1", "after": None, "threads": [1]}),
    ("learn", {}, {"inside": None, "after": None}),  # scikit-learn's linear algebra keeps every core
    ("backtest", {"OMP_NUM_THREADS": "2"}, {"inside": None, "after": None, "threads": [2]}),  # the user's choice
])
def test_openblas_starts_one_thread_for_the_kernel_commands_only(command, user, expected) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
                                                            "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", BLAS_PROBE, command], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env={**env, **user}, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    if "threads" not in expected:
        got.pop("threads")
    assert got == expected


LAZY_METADATA_PROBE = """
import json, sys
import ita_desktop
from ita_desktop.numba_start import lazy_importlib_metadata
made = lazy_importlib_metadata()
import numba, numba.core.entrypoints as entrypoints
before = type(sys.modules["importlib.metadata"]).__name__

@numba.njit
def twice(x):
    return 2 * x

result = twice(21)  # a compile: numba's extension scan reads the entry points through the module
from importlib import metadata
print(json.dumps({"made": made, "before": before, "after": type(sys.modules["importlib.metadata"]).__name__,
                  "scanned": entrypoints._already_initialized, "result": result,
                  "version": metadata.version("numba") == numba.__version__, "again": lazy_importlib_metadata()}))
"""


def test_importlib_metadata_waits_until_used_and_then_is_the_real_module() -> None:
    out = subprocess.run([sys.executable, "-c", LAZY_METADATA_PROBE], cwd=PROJECT_ROOT, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "made": True, "before": "_LazyModule", "after": "module", "scanned": True, "result": 42, "version": True,
        "again": False}


EXIT_PROBE = """
import atexit, os, sys, threading, time, weakref
from pathlib import Path
marks = Path(sys.argv.pop(1))
def note(text):
    marks.write_text(marks.read_text() + text + "\\n")
real_exit = os._exit
os._exit = lambda code: (note(f"os._exit({code})"), real_exit(code))
atexit.register(note, "atexit")
class Owner:
    pass
owner = Owner()
weakref.finalize(owner, note, "finalize")
if sys.argv.pop(1) == "thread":
    def outlive_main():  # alive until the main thread is done, however long the command takes
        while threading.main_thread().is_alive():
            time.sleep(0.01)
        note("thread")
    threading.Thread(target=outlive_main).start()
from ita_desktop.cli.main import main
sys.exit(main())
"""


@pytest.mark.parametrize("extra", ["none", "thread"])
def test_a_kernel_command_ends_without_the_interpreters_teardown_but_with_its_exit_duties(tmp_path, extra) -> None:
    import os

    marks = tmp_path / "marks.txt"
    marks.write_text("")
    env = {**os.environ, "ITA_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-c", EXIT_PROBE, str(marks), extra, "scan", "no_such_rule", "--symbol",
                          "EURUSD"], cwd=PROJECT_ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 1 and "error: no rule 'no_such_rule'" in out.stderr  # the message and the code as ever
    logs = "".join(p.read_text() for p in (tmp_path / "home" / "logs").glob("*.log"))
    assert "no rule 'no_such_rule'" in logs  # logging's exit flush ran
    if extra == "thread":  # another thread alive: the usual exit, which waits for it
        assert sorted(marks.read_text().splitlines()) == ["atexit", "finalize", "thread"]
    else:  # the exit duties, then the process ends without the teardown
        assert marks.read_text().splitlines()[-1] == "os._exit(1)"
        assert sorted(marks.read_text().splitlines()[:-1]) == ["atexit", "finalize"]
