"""`ita live --source replay` on the real EURUSD: JSON lines whose signals are `ita scan --json`'s
occurrences, update lines, and a clean stop on Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ita_desktop.cli.main import main
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.realdata
SCAN_FIELDS = ("rule_id", "rule_version", "symbol", "timeframe", "direction", "signal_time", "signal_utc", "steps")


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_ita_live_replay_prints_the_scan_occurrences_as_signal_lines(eurusd_store: Path, capsys) -> None:
    assert main(["live", "--symbol", "EURUSD", "--rules", "asia_sweep,ib_raid", "--source", "replay",
                 "--speed", "max"]) == 0
    out, err = capsys.readouterr()
    lines = _lines(out)
    assert "last stored bar" in err
    signals = [x for x in lines if x["event"] == "signal"]
    updates = [x for x in lines if x["event"] == "update"]
    assert updates and {u["status"] for u in updates} & {"target", "stop", "breakeven", "time", "expired"}
    for rule in ("asia_sweep", "ib_raid"):
        assert main(["scan", rule, "--symbol", "EURUSD", "--json"]) == 0
        scanned = json.loads(capsys.readouterr().out)["occurrences"]
        mine = [s for s in signals if s["rule_id"] == rule]
        assert [{k: s[k] for k in SCAN_FIELDS} for s in mine] == [{k: o[k] for k in SCAN_FIELDS} for o in scanned]
        for s, o in zip(mine, scanned):
            assert (s["order"] is None) == (o["order"] is None)
            if o["order"]:
                assert {k: s["order"][k] for k in ("entry", "entry_price", "stop_price", "targets", "time_exit_time")} == \
                       {k: o["order"][k] for k in ("entry", "entry_price", "stop_price", "targets", "time_exit_time")}
    # a second replay raises nothing: every signal is stored already
    assert main(["live", "--symbol", "EURUSD", "--rules", "asia_sweep,ib_raid", "--source", "replay"]) == 0
    assert not [x for x in _lines(capsys.readouterr().out) if x["event"] == "signal"]


def test_ita_live_rejects_a_bad_speed_and_an_unstored_timeframe(eurusd_store: Path, capsys) -> None:
    assert main(["live", "--symbol", "EURUSD", "--rules", "asia_sweep", "--source", "replay", "--speed", "0"]) == 1
    assert "--speed" in capsys.readouterr().err
    assert main(["live", "--symbol", "EURUSD", "--rules", "asia_sweep", "--source", "replay", "--timeframe", "H1"]) == 1
    assert "no stored EURUSD H1 bars" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ita_live_stops_cleanly_on_ctrl_c(eurusd_store: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "ita_desktop.cli.main", "live", "--symbol", "EURUSD", "--rules",
                             "ib_raid", "--source", "replay", "--speed", "200"], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + 120
    first = proc.stdout.readline()  # the first signal line: the session is running
    assert first and json.loads(first)["event"] in ("signal", "update"), proc.stderr.read()
    assert time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopped (Ctrl+C)" in err and "Traceback" not in err
    _lines(out)  # every line printed is whole JSON


def test_ita_live_on_mt5_without_the_package_says_so_at_once(eurusd_store: Path, capsys) -> None:
    try:
        import MetaTrader5  # type: ignore[import-not-found]  # noqa: F401
        pytest.skip("the MetaTrader5 package is installed here")
    except ImportError:
        pass
    assert main(["live", "--symbol", "EURUSD", "--rules", "ib_raid"]) == 1
    assert "MetaTrader5 Python package is not installed" in capsys.readouterr().err
