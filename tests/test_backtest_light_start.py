"""A warm `ita backtest` without the ORM and without numba's compiler start-up, storing the same rows.

Fresh processes where what is imported matters (a module import only shows in a new interpreter);
the store's plain-sqlite3 writes are read back through the ORM and compared with rows the ORM
wrote itself, on the real EURUSD.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ita_desktop.cli.main import main
from ita_desktop.domain.errors import ItaError
from ita_desktop.storage import plain_sql
from ita_desktop.storage.run_records import TRADE_FIELDS
from ita_desktop.storage.store import Store
from tests.conftest import PROJECT_ROOT

PROBE = """
import json, sys
from ita_desktop.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""
# Not needed to run cached kernels on stored bars and store the run: the ORM, scipy's BLAS, cffi,
# numba's lowering registries (a compile would load them), the report writers, numpy.ma, numba's
# arraymath and linalg (numba_start).
NOT_LOADED = ("sqlalchemy", "sqlmodel", "ita_desktop.storage.models", "scipy.linalg", "cffi", "numba.np.npyimpl",
              "numba.cpython.mathimpl", "ita_desktop.backtest.reports", "numpy.ma", "numba.np.arraymath",
              "numba.np.linalg")


def _probe(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env=env or dict(os.environ), timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    last = json.loads(out.stdout.strip().splitlines()[-1])
    return last["code"], set(last["modules"]), out.stdout


@pytest.mark.realdata
def test_a_warm_backtest_loads_neither_the_orm_nor_the_compiler_and_stores_the_same_run(ita_home, eurusd_csv,
                                                                                        capsys) -> None:
    assert main(["data", "import", str(eurusd_csv), "--symbol", "EURUSD", "--server-tz=-03:30"]) == 0
    capsys.readouterr()
    args = ("backtest", "asia_sweep", "--symbol", "EURUSD")
    _probe(*args)  # warm: the kernels of this code are compiled and cached, if they were not
    code, modules, out = _probe(*args)
    assert code == 0 and "target1" in out
    assert not {m for m in modules if m.split(".")[0] in NOT_LOADED or m in NOT_LOADED}
    assert "numba" in modules and "pydantic" in modules  # the kernels ran, the rule was validated

    assert main([*args, "--json"]) == 0  # in this process (ORM loaded, kernels however loaded): the same result
    here = json.loads(capsys.readouterr().out)
    with Store.open() as store:
        runs = store.runs.list("asia_sweep")
        assert len(runs) == 3 and [r.rule_version for r in runs] == ["1"] * 3
        assert {r.rule_version_id for r in runs} == {here["rule_version_id"]}  # one version, reused
        assert [v.version for v in store.rule_versions.list("asia_sweep")] == ["1"]
        fresh = store.runs.trades(runs[1].run_id)
        assert fresh == store.runs.trades(here["run_id"]) and len(fresh) == len(here["trades"]) >= 2
        assert json.loads(runs[1].stats_json) == json.loads(runs[2].stats_json)
        assert runs[0].inputs_hash == runs[1].inputs_hash == runs[2].inputs_hash  # same bars, orders, settings
        assert json.loads(runs[1].ingest_ids_json) == here["ingest_ids"]


def test_the_plain_trade_columns_are_the_models() -> None:
    from ita_desktop.storage.models import TradeRecord

    assert TRADE_FIELDS == tuple(n for n in TradeRecord.model_fields if n not in ("id", "run_id"))


def _trade(i: int, **changes) -> dict:
    rec = {"symbol": "EURUSD", "occurrence": i, "rule_version": 1, "direction": 1 if i % 2 else -1, "entry_type": 0,
           "signal_bar": 10 * i, "entry_bar": 10 * i + 1, "entry_time": 1_640_000_000 + 60 * i, "entry_price": 1.13,
           "exit_bar": 10 * i + 5, "exit_time": 1_640_000_300 + 60 * i, "exit_price": 1.1312, "stop_price": 1.129,
           "target1": 1.132, "target2": None, "target3": None, "lots": 0.5, "risk_money": 50.0, "r_multiple": 1.5,
           "pnl_money": 75.0, "pnl_points": 120.0, "commission": 0.0, "exit_reason": "target1", "targets_hit": 1,
           "mfe_price": 1.1325, "mae_price": 1.1295, "mfe_r": 2.5, "mae_r": None}
    rec.update(changes)
    return rec


def test_a_run_written_with_sqlite3_reads_back_as_the_orm_wrote_it(tmp_path: Path) -> None:
    """Runs.add (plain sqlite3) against the ORM's own insert of the same run: every column of both tables equal."""
    from ita_desktop.storage.db import write_session
    from ita_desktop.storage.models import Run, TradeRecord

    trades = [_trade(1), _trade(2, target2=1.14, mae_r=-0.4, exit_reason="stop"), _trade(3, lots=1)]
    kwargs = dict(rule_id="r", rule_version="2", symbols=["EURUSD"], timeframe="M5", first_utc=1_640_000_000,
                  last_utc=1_640_086_400, ingest_ids=[3, 1], settings={"b": 1, "a": [1.5]},
                  stats={"summary": {"trades": 3}}, inputs_hash="h", label="wf1:in", rule_version_id=None,
                  warmup_bars=7, warmup_from_utc=1_639_000_000)
    with Store.open(tmp_path / "ita.db") as store:
        plain = store.runs.add(trades=trades, **kwargs)
        with write_session(store.engine) as session:  # what Runs.add did before (the ORM)
            run = Run(rule_id="r", rule_version="2", label="wf1:in", symbols="EURUSD", rule_version_id=None,
                      warmup_bars=7, warmup_from_utc=1_639_000_000, timeframe="M5", first_utc=1_640_000_000,
                      last_utc=1_640_086_400, ingest_ids_json=json.dumps([1, 3]),
                      settings_json=json.dumps({"b": 1, "a": [1.5]}, sort_keys=True),
                      stats_json=json.dumps({"summary": {"trades": 3}}, sort_keys=True), inputs_hash="h",
                      n_trades=3, created_at=0)
            session.add(run)
            session.flush()
            for rec in trades:
                session.add(TradeRecord(run_id=run.run_id, **rec))
            orm = run.run_id
        assert plain != orm
        assert store.runs.trades(plain) == store.runs.trades(orm) == [
            {k: (float(v) if k == "lots" else v) for k, v in t.items()} for t in trades]
        a, b = store.runs.get(plain).model_dump(), store.runs.get(orm).model_dump()
        assert a.pop("run_id") == plain and b.pop("run_id") == orm and a.pop("created_at") > 0 and b.pop("created_at") == 0
        assert a == b
        with plain_sql.connection(store.path) as conn:  # the same SQLite types, column by column
            typed = [conn.execute(f"SELECT {', '.join(f'typeof({c})' for c in TRADE_FIELDS)} FROM trades "
                                  "WHERE run_id = ? ORDER BY id", (rid,)).fetchall() for rid in (plain, orm)]
        assert typed[0] == typed[1]


def test_a_run_on_a_locked_store_names_the_holder_and_stores_nothing(tmp_path: Path, monkeypatch) -> None:
    with Store.open(tmp_path / "ita.db") as store:
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         "c = sqlite3.connect(sys.argv[1], isolation_level=None)\nc.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\ntime.sleep(60)\n", str(store.path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setattr(plain_sql, "BUSY_TIMEOUT_S", 0.3)
        with Store.open(store.path) as again:
            with pytest.raises(plain_sql.StoreLocked) as caught:
                again.runs.add(rule_id="r", rule_version="1", symbols=["EURUSD"], timeframe="M1", first_utc=None,
                               last_utc=None, ingest_ids=[], settings={}, stats={}, inputs_hash="h",
                               trades=[_trade(1)])
    finally:
        holder.kill()
        holder.wait()
    assert isinstance(caught.value, ItaError) and f"process {holder.pid}" in str(caught.value)
    assert "nothing was stored" in str(caught.value)
    with Store.open(store.path) as store:
        assert store.runs.list() == []


def test_a_bad_trade_row_rolls_the_whole_run_back(tmp_path: Path) -> None:
    with Store.open(tmp_path / "ita.db") as store:
        with pytest.raises(KeyError):
            store.runs.add(rule_id="r", rule_version="1", symbols=["EURUSD"], timeframe="M1", first_utc=None,
                           last_utc=None, ingest_ids=[], settings={}, stats={}, inputs_hash="h",
                           trades=[_trade(1), {"symbol": "EURUSD"}])
        assert store.runs.list() == []
        with plain_sql.connection(store.path) as conn:
            assert conn.execute("SELECT COUNT(*) FROM trades").fetchone()[0] == 0


NUMBA_PROBE = """
import json, sys
import ita_desktop  # first, as the app and the CLI do (it sets numba up before numba is imported)
import numpy as np
from numba import njit
from ita_desktop.detectors.dispatcher import _first_not_increasing
assert _first_not_increasing(np.array([1, 2, 2, 3]), 4) == 2  # a cached kernel (compiled first if cold)
after_load = sorted(m for m in ("numba.np.npyimpl", "scipy.linalg", "cffi", "numba.np.linalg") if m in sys.modules)
from numba.core import entrypoints
scanned_at_load = entrypoints._already_initialized
jitclass_deferred_at_load = getattr(sys.modules["numba.experimental.jitclass.overloads"], "_ita_deferred", False)

@njit
def dot(a, b):
    return np.dot(a, b), np.sum(a * b)

a, b = np.arange(5.0), np.linspace(0.0, 1.0, 5)
d, s = dot(a, b)
from numba.np import linalg
from numba import int64
from numba.experimental import jitclass

@jitclass([("n", int64)])
class Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

@njit
def size_of(x):
    return len(x)

print(json.dumps({"after_load": after_load, "dot": d, "sum": s, "expected": float(a @ b),
                  "scanned_at_load": scanned_at_load, "scanned_after_compile": entrypoints._already_initialized,
                  "jitclass_deferred_at_load": jitclass_deferred_at_load, "jitclass_len": size_of(Sized(7)),
                  "ensure_blas_is_numbas": linalg.ensure_blas.__module__ == "numba.np.linalg"
                  and not hasattr(linalg.ensure_blas, "_ita_skip"),
                  "npyimpl_after_compile": "numba.np.npyimpl" in sys.modules,
                  "cffi_after_compile": "cffi" in sys.modules,
                  "scipy_after_compile": "scipy.linalg" in sys.modules}))
"""


def _numba_probe(**env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", NUMBA_PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env={**os.environ, **env}, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_cached_kernel_loads_without_the_compiler_and_a_later_compile_still_has_everything() -> None:
    _numba_probe()  # warm
    light = _numba_probe()
    assert light["after_load"] == []  # no registries, no scipy, no cffi, no linalg for a cached load
    assert not light["scanned_at_load"] and light["scanned_after_compile"]  # extensions looked for before compiling
    assert light["jitclass_deferred_at_load"] and light["jitclass_len"] == 7  # jitclass overloads there to compile
    assert light["npyimpl_after_compile"]  # compiling started the whole target afterwards
    assert light["dot"] == pytest.approx(light["expected"]) and light["sum"] == pytest.approx(light["expected"])
    assert light["ensure_blas_is_numbas"]  # np.dot found scipy's BLAS through numba's own function
    assert not light["cffi_after_compile"]  # numba's cffi support was imported with cffi hidden
    assert light["scipy_after_compile"]  # ... and scipy's BLAS loaded when np.dot asked for it
    full = _numba_probe(ITA_NUMBA_FULL_START="1")
    assert "numba.np.npyimpl" in full["after_load"]  # the switch leaves numba's start-up as it was
    assert full["scanned_at_load"] and not full["jitclass_deferred_at_load"] and full["jitclass_len"] == 7
    assert full["dot"] == pytest.approx(full["expected"])


def test_cffi_is_hidden_from_numbas_importing_thread_only() -> None:
    import importlib
    import threading

    from ita_desktop.numba_start import _HiddenFromThisThread

    name = "colorsys"  # a small standard module nothing here has imported
    sys.modules.pop(name, None)
    finder = _HiddenFromThisThread(name)
    sys.meta_path.insert(0, finder)
    other: list[object] = []
    try:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(name)
        thread = threading.Thread(target=lambda: other.append(importlib.import_module(name)))
        thread.start()
        thread.join()
    finally:
        sys.meta_path.remove(finder)
    assert other and other[0].__name__ == name  # another thread imported it meanwhile
    assert importlib.import_module(name) is other[0]


OPEN_STORE_PROBE = """
import json, sys
from ita_desktop.cli.core_factory import build_core
with build_core() as core:
    before = "sqlalchemy" in sys.modules
    store, series = core.open_store()
    print(json.dumps({"before": before, "after": "sqlalchemy" in sys.modules and "ita_desktop.storage.models" in sys.modules,
                      "engine": store._engine is not None, "parts": sorted(k for k in vars(store) if k in
                      ("ingests", "instruments", "jobs", "signals", "feedback", "outbox", "reviews"))}))
"""


def test_the_windows_store_job_loads_the_orm_so_the_gui_thread_never_does(ita_home) -> None:
    """Store builds its ORM parts on first use; the window's "Open store" job (a worker) must build them all, or
    a panel's first read on the GUI thread would import SQLAlchemy there (~0.3 s)."""
    for _ in range(2):  # created and migrated (engine made), then opened at the current schema (engine on demand)
        out = subprocess.run([sys.executable, "-c", OPEN_STORE_PROBE], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, env=dict(os.environ), timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        found = json.loads(out.stdout.strip().splitlines()[-1])
        assert not found["before"] and found["after"] and found["engine"]
        assert found["parts"] == ["feedback", "ingests", "instruments", "jobs", "outbox", "reviews", "signals"]


TYPEOF_PROBE = """
import json, sys
import ita_desktop
import numpy as np
from ita_desktop.detectors.dispatcher import _first_not_increasing  # a cached kernel: numba_start is set up
from numba.core import errors
from numba.core.typing.typeof import typeof, typeof_impl
assert _first_not_increasing(np.array([1, 2, 2, 3]), 4) == 2
ours = typeof_impl.dispatch(np.ndarray)
base = np.arange(24.0).reshape(4, 6)
ro = np.arange(3, dtype=np.int8)
ro.flags.writeable = False
arrays = [base, base.T, base[:, ::2], ro, np.zeros(0, np.bool_), np.zeros((2, 2), np.dtype([("a", "i8"), ("b", "f4")]))]
got = [str(typeof(a)) for a in arrays]
ma_before = "numpy.ma" in sys.modules
import numpy.ma
masked = None
try:
    typeof(numpy.ma.masked_array([1.0, 2.0]))
except errors.NumbaTypeError as exc:
    masked = str(exc)
print(json.dumps({"lazy": getattr(ours, "_ita_lazy_ma", False), "got": got, "ma_before": ma_before,
                  "masked": masked}))
"""


def test_an_array_argument_is_typed_as_numba_types_it_without_importing_numpy_ma() -> None:
    def run(**env: str) -> dict:
        out = subprocess.run([sys.executable, "-c", TYPEOF_PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             env={**os.environ, **env}, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    light, full = run(), run(ITA_NUMBA_FULL_START="1")
    assert light["lazy"] and not full["lazy"]
    assert light["got"] == full["got"]  # the same types as numba's own function gives
    assert "array(float64, 2d, F)" in light["got"] and "readonly array(int8, 1d, C)" in light["got"]
    assert not light["ma_before"] and full["ma_before"]
    assert light["masked"] == full["masked"] and "MaskedArray" in light["masked"]  # refused once numpy.ma exists


NRT_PROBE = """
import json, sys
import ita_desktop
import numpy as np
from numba import njit
from numba.core.runtime import nrtdynmod
from ita_desktop.backtest._kernel import light_stats  # noqa: F401  (an ita_desktop kernel module: numba_start set up)
from ita_desktop.numba_start import _runtime_library_file
from numba.core.registry import cpu_target

@njit
def made(n):
    a = np.empty(n)  # the runtime allocates, counts references and frees
    for i in range(n):
        a[i] = i * 0.5
    return a

out = made(5)
path = _runtime_library_file(cpu_target.target_context)
print(json.dumps({"cached": getattr(nrtdynmod.compile_nrt_functions, "_ita_cached", False), "sum": float(out.sum()),
                  "file": str(path), "exists": path.is_file()}))
"""


def test_numbas_runtime_is_kept_compiled_and_a_damaged_copy_is_compiled_again(tmp_path) -> None:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}

    def run() -> dict:
        out = subprocess.run([sys.executable, "-c", NRT_PROBE], cwd=PROJECT_ROOT, capture_output=True, text=True,
                             env=env, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = run()  # compiles the runtime and keeps it
    assert first["cached"] and first["exists"] and first["sum"] == 5.0
    kept = Path(first["file"]).read_bytes()
    again = run()  # loads it
    assert again["sum"] == 5.0 and Path(again["file"]).read_bytes() == kept
    Path(first["file"]).write_bytes(b"not a library")
    damaged = run()  # compiled as numba does, and the file replaced
    assert damaged["sum"] == 5.0 and Path(damaged["file"]).read_bytes() == kept
