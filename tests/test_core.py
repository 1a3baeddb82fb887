"""The headless core: built cheaply, one trip per backtest, stored runs reopened, rules in two folders, bus events."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ita_desktop.bus import BarsStored, RunStored
from ita_desktop.config import load_settings
from ita_desktop.core.app_core import Core
from ita_desktop.core.backtest_service import BacktestRequest
from ita_desktop.core.rules_service import RuleChoice
from ita_desktop.core.series_service import buildable_timeframes
from ita_desktop.domain.errors import InputError, ItaError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.paths import app_paths
from ita_desktop.rules.loader import repo_rules_dir
from tests.conftest import PROJECT_ROOT


class _Ctx:
    cancelled = False

    def progress(self, fraction: float, stage: str) -> None:
        pass


@pytest.fixture
def core(ita_home: Path):
    with Core(load_settings(), app_paths().ensure()) as made:
        yield made


def test_building_a_core_imports_no_heavy_library(ita_home: Path) -> None:
    """A CLI start builds a Core: numba, pandas and SQLAlchemy must load only when a command needs them."""
    code = textwrap.dedent("""
        import sys
        from ita_desktop.config import load_settings
        from ita_desktop.core.app_core import Core
        from ita_desktop.paths import app_paths
        core = Core(load_settings(), app_paths())
        heavy = sorted(m for m in ("numba", "pandas", "sqlalchemy", "sqlmodel", "apscheduler", "PySide6")
                       if m in sys.modules)
        print(",".join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PROJECT_ROOT, env={"ITA_HOME": str(ita_home), "PATH": ""})
    assert out.stdout.strip() == ""


def test_buildable_timeframes_is_the_one_rule() -> None:
    class S:
        def __init__(self, symbol: str, tf: Timeframe) -> None:
            self.symbol, self.timeframe = symbol, tf

    got = buildable_timeframes([S("EURUSD", Timeframe.M15), S("XAUUSD", Timeframe.M1)], "EURUSD")
    assert got[0] == Timeframe.M15 and Timeframe.H1 in got and Timeframe.D1 in got
    assert Timeframe.M5 not in got and Timeframe.M1 not in got
    assert buildable_timeframes([], "EURUSD") == []


def test_a_backtest_runs_detection_and_matching_once_per_rule_and_symbol(eurusd_store, monkeypatch) -> None:
    import ita_desktop.workflows.rule_backtest as engine_backtest
    import ita_desktop.workflows.rule_scan as engine_scan

    calls: list[str] = []
    real = engine_backtest.run_setup

    def counted(compiled, bars, **kwargs):
        calls.append(compiled.rule.rule_id if hasattr(compiled, "rule") else "rule")
        return real(compiled, bars, **kwargs)

    monkeypatch.setattr(engine_backtest, "run_setup", counted)
    monkeypatch.setattr(engine_scan, "run_setup", counted)
    events: list[RunStored] = []
    with Core(load_settings(), app_paths().ensure()) as core:
        core.bus.subscribe(RunStored, events.append)
        rules = tuple(RuleChoice(r, "1", next((repo_rules_dir() / r).glob("v*.yaml"))) for r in ("ib_raid", "asia_sweep"))
        outcomes = core.backtests.run(BacktestRequest(rules, ("EURUSD",)), _Ctx())
        assert core.bus.wait_idle(5)
    assert len(calls) == 2, "detection + matching ran more than once per rule and symbol"
    assert [o.rule.rule_id for o in outcomes] == ["ib_raid", "asia_sweep"]
    for o in outcomes:
        assert o.occurrences is o.result.occurrences or o.occurrences == o.result.occurrences
        ids = {occ.id for occ in o.occurrences}
        assert set(o.result.trades.orders["occurrence"].tolist()) <= ids if len(o.result.trades.orders) else True
    assert sorted(e.run_id for e in events) == sorted(o.result.run_id for o in outcomes)


def test_a_stored_run_reopens_without_recomputing(eurusd_store, monkeypatch) -> None:
    rule = RuleChoice("ib_raid", "1", next((repo_rules_dir() / "ib_raid").glob("v*.yaml")))
    with Core(load_settings(), app_paths().ensure()) as core:
        made = core.backtests.run(BacktestRequest((rule,), ("EURUSD",)), _Ctx())[0]
    assert len(made.result.trades) > 0

    import ita_desktop.backtest.runs as backtest_runs
    import ita_desktop.backtest.stats as backtest_stats
    import ita_desktop.workflows.rule_backtest as engine_backtest

    def refuse(*_a, **_k):
        raise AssertionError("reopening recomputed the run")

    for module, name in ((engine_backtest, "run_setup"), (backtest_runs, "simulate"), (backtest_runs, "compute_stats"),
                         (backtest_stats, "compute_stats")):
        monkeypatch.setattr(module, name, refuse)
    with Core(load_settings(), app_paths().ensure()) as core:  # a new session on the same ITA_HOME
        listed = core.runs.list("ib_raid")
        assert [r.run_id for r in listed] == [made.result.run_id] and listed[0].reopenable
        again = core.runs.reopen(made.result.run_id)
    assert again.reopened and again.symbol == "EURUSD" and again.timeframe == made.timeframe
    for name in ("rows", "orders", "order_status", "bar_times"):
        a, b = getattr(again.result.trades, name), getattr(made.result.trades, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    assert again.result.stats.summary["trades"] == made.result.stats.summary["trades"]
    assert again.result.stats.summary["net_pnl"] == pytest.approx(made.result.stats.summary["net_pnl"])
    assert [o.key() for o in again.occurrences] == [o.key() for o in made.occurrences]
    as_json = lambda occs: [json.dumps(dataclasses.asdict(o), sort_keys=True) for o in occs]  # noqa: E731 (NaN == NaN)
    assert as_json(again.occurrences) == as_json(made.occurrences)
    with Core(load_settings(), app_paths().ensure()) as core, pytest.raises(ItaError, match="no run 999"):
        core.runs.reopen(999)


def test_rules_are_listed_from_both_folders_and_saved_only_to_the_user_folder(core: Core) -> None:
    shipped = core.rules.list()
    assert shipped and all(e.origin == "shipped" for e in shipped)
    text = (repo_rules_dir() / "ib_raid" / "v1.yaml").read_text()
    saved = core.rules.save(text)
    assert saved == repo_rules_dir() / "ib_raid" / "v1.yaml", "the same text is not saved again"
    edited = text.replace("name:", "name: my", 1) if "name:" in text else text + "\n# mine\n"
    saved = core.rules.save(edited)
    assert saved.parent == core.paths.user_rules / "ib_raid" and saved.name == "v2.yaml"
    assert 'version: "2"' in saved.read_text()
    entries = {(e.rule_id, e.version): e for e in core.rules.list()}
    assert entries[("ib_raid", "2")].origin == "user" and entries[("ib_raid", "2")].latest
    assert not entries[("ib_raid", "1")].latest and entries[("ib_raid", "1")].origin == "shipped"
    assert core.rules.resolve("ib_raid").path == saved
    with pytest.raises(InputError, match="the rule has errors"):
        core.rules.save("rule_id: broken\n")
    assert not (repo_rules_dir() / "ib_raid" / "v2.yaml").exists()


def test_ingest_publishes_bars_stored_and_series_come_from_the_core(core: Core, eurusd_csv: Path) -> None:
    seen: list[BarsStored] = []
    core.bus.subscribe(BarsStored, seen.append)
    summary = core.ingest.import_file(eurusd_csv, symbol="EURUSD", server_tz="-03:30")
    assert core.bus.wait_idle(5)
    assert seen and seen[0].rows == summary.rows_stored and seen[0].source == "csv"
    assert Timeframe.H4 in core.series.timeframes_of("EURUSD")
    h1 = core.series.load("EURUSD", Timeframe.H1)
    assert len(h1) and h1.timeframe == Timeframe.H1


def test_detection_follows_the_settings_for_chart_and_cli_alike(eurusd_store) -> None:
    settings = load_settings()
    with Core(settings, app_paths().ensure()) as core:
        params = core.detection.params({"swings": {"length": 3}})
        assert params.session_tz == settings.sessions.clock and params.swings.length == 3
        bars = core.series.load("EURUSD", Timeframe.M5)
        start = int(bars.time[len(bars) // 2])
        window = core.detection.detect_window("EURUSD", Timeframe.M5, start, None, kinds="fvg")
        assert window.first >= 1000 and len(window.window) == len(bars) - len(bars) // 2
        full = core.detection.detect(bars, "fvg")
        # warm-up settles the window: objects confirmed in it are the full pass's
        kept = window.result.tables["fvg"][window.kept("fvg")]
        offset = len(bars) - len(window.bars)
        full_rows = full.tables["fvg"]
        full_in = full_rows[full_rows["confirmed_at"] >= len(bars) // 2]
        assert np.array_equal(kept["bar"] + offset, full_in["bar"])
        with pytest.raises(InputError):
            core.detection.detect_window("EURUSD", Timeframe.M5, start, None, warmup=-1)


def test_the_cli_lists_shipped_and_user_rules_and_runs_a_user_rule_by_id(eurusd_store, capsys) -> None:
    from ita_desktop.cli.main import main

    with Core(load_settings(), app_paths().ensure()) as core:
        text = (repo_rules_dir() / "ib_raid" / "v1.yaml").read_text()
        mine = core.rules.save(text + "\n# my copy\n")
    assert main(["rules", "list"]) == 0
    out = capsys.readouterr().out
    assert "ib_raid: v1, v2" in out and "  v2 [yours]:" in out and "  v1 [shipped]:" in out
    assert main(["backtest", "ib_raid", "--symbol", "EURUSD", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["rule_id"], printed["rule_version"]) == ("ib_raid", "2")  # the user's newer version
    with Core(load_settings(), app_paths().ensure()) as core:
        again = core.runs.reopen(printed["run_id"])  # a CLI run reopens in the window too
    assert again.rule.path == mine and len(again.result.trades) == len(printed["trades"])


def test_the_core_job_engine_reports_on_the_bus(core: Core) -> None:
    from ita_desktop.bus import Event, JobFailed, JobFinished, JobProgressed, JobStarted

    seen: list[Event] = []
    core.bus.subscribe(Event, seen.append)

    def work(ctx) -> int:
        for i in range(200):
            ctx.progress(i / 200, f"step {i}")
        ctx.progress(1.0, "done")
        return 7

    def broken(_ctx) -> None:
        raise InputError("bad row", file="x.csv", line=3)

    assert core.jobs.submit("Work", work).wait(10)
    assert core.jobs.submit("Broken", broken).wait(10)
    assert core.bus.wait_idle(5)
    kinds = [type(e) for e in seen]
    assert kinds[0] is JobStarted and JobFinished in kinds and JobFailed in kinds
    progress = [e for e in seen if isinstance(e, JobProgressed)]
    assert 1 <= len(progress) < 200 and progress[-1].fraction == 1.0  # thinned, the last always sent
    failed = next(e for e in seen if isinstance(e, JobFailed))
    assert failed.name == "Broken" and "x.csv:3: bad row" in failed.error


def test_work_that_reaches_a_closed_core_ends_as_a_cancel_without_a_traceback(ita_home: Path, caplog) -> None:
    """The window closing under its "Open store" job (e.g. right after --screenshot) is a cancel, not a failure."""
    import threading

    from ita_desktop.core.job_engine import JobCancelled

    core = Core(load_settings(), app_paths().ensure())
    started, go_on = threading.Event(), threading.Event()

    def open_late(_ctx) -> None:
        started.set()
        go_on.wait(10)
        core.open_store()

    handle = core.jobs.submit("Open store", open_late)
    assert started.wait(10)
    closer = threading.Thread(target=core.close)
    closer.start()
    while not core.closed:  # the close has begun (it then waits for the job)
        threading.Event().wait(0.001)
    go_on.set()
    closer.join(15)
    assert handle.wait(10) and handle.status == "cancelled"
    assert not [r for r in caplog.records if r.exc_info], "a closed core logged a traceback"
    with pytest.raises(JobCancelled, match="the core is closed"):
        core.store
