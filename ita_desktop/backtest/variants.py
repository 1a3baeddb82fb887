"""A batch of order sets ("variants") on the same bars and settings, run through one kernel on every core.

Orders come as ORDER_DTYPE arrays or as COLUMNS: a mapping of ORDER_DTYPE field names to
arrays (missing optional fields take their 'none' value). Columns are the fast form for
sweeps: a variant that changes only the target can hand back the very same arrays for the
other fields, and the batch stores each distinct array once (by identity) in a pool, so a
1,000-variant sweep neither copies nor concatenates the unchanged columns 1,000 times.
So an array handed in is taken as immutable: build a new one for a changed column, never
refill the one given for an earlier variant.

``run()`` checks every variant (a bad row is a ValueError naming the variant and row, as
``check_orders`` does), simulates them on threads (``over_threads``) and returns the summary statistics per
variant (``_sweep_kernel.STAT_NAMES``); ``trades(v)`` rebuilds one variant's full Trades
when a caller wants the trade list or the statistics the kernel does not compute.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numba.core import config as numba_config

from ita_desktop.backtest import _kernel as K
from ita_desktop.backtest import _sweep_kernel as SK
from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.orders import MAX_TARGETS, ORDER_DTYPE, empty_orders, sort_orders
from ita_desktop.backtest.simulator import Trades, bar_arrays, rows_to_trades, settings_args
from ita_desktop.backtest.stats import guard_kernel_summary
from ita_desktop.domain.bars import Bars

OrderColumns = Mapping[str, np.ndarray]
#: The kernel's order arguments, in its order, with the dtype it takes.
KERNEL_FIELDS = (("direction", np.int64), ("signal_bar", np.int64), ("entry_type", np.int64),
                 ("entry_price", np.float64), ("expiry_bar", np.int64), ("stop_price", np.float64),
                 ("stop_distance", np.float64), ("target_price", np.float64), ("target_r", np.float64),
                 ("target_fraction", np.float64), ("breakeven_at_r", np.float64), ("time_exit_bar", np.int64),
                 ("max_bars", np.int64), ("risk_pct", np.float64), ("lots", np.float64))
_REQUIRED = ("direction", "signal_bar")
_BLANK = empty_orders(1)[0]


def over_threads(n: int, kernel: Callable[..., object], *args: object) -> None:
    """``kernel(v0, v1, *args)`` over the variants [0, n) in ranges taken by up to NUMBA_NUM_THREADS threads
    as each gets free (the kernels release the GIL; variants are independent, so the result does not depend
    on which thread ran what). Small ranges (about eight per thread) even out variants of unequal cost."""
    threads = min(numba_config.NUMBA_NUM_THREADS, n)
    if threads <= 1:
        if n:
            kernel(0, n, *args)
        return
    step = max(1, n // (8 * threads))
    ranges = iter(range(0, n, step))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                v0 = next(ranges, None)
            if v0 is None:
                return
            kernel(v0, min(v0 + step, n), *args)

    with ThreadPoolExecutor(threads, thread_name_prefix="ita-variants") as pool:
        for done in [pool.submit(work) for _ in range(threads)]:
            done.result()


def as_columns(orders: OrderColumns) -> dict[str, np.ndarray]:
    """Columns sorted by signal bar (stable), from a (partial) column mapping.

    Arrays the caller gave are kept as they are (same objects) when already in order, which is
    what lets a batch share them between variants."""
    unknown = sorted(set(orders) - set(ORDER_DTYPE.names))
    if unknown:
        raise ValueError(f"unknown order column(s) {unknown}; expected some of {list(ORDER_DTYPE.names)}")
    missing = [name for name in _REQUIRED if name not in orders]
    if missing:
        raise ValueError(f"order columns need {missing}")
    cols = {name: np.asarray(a) for name, a in orders.items()}
    m = len(cols["signal_bar"])
    for name, a in cols.items():
        want = (m, MAX_TARGETS) if ORDER_DTYPE[name].shape else (m,)
        if a.shape != want:
            raise ValueError(f"order column {name!r} has shape {a.shape}, expected {want}")
    sig = cols["signal_bar"]
    if m > 1 and not bool((sig[1:] >= sig[:-1]).all()):
        order = np.argsort(sig, kind="stable")
        cols = {name: a[order] for name, a in cols.items()}
    return cols


def columns_to_orders(cols: Mapping[str, np.ndarray], m: int) -> np.ndarray:
    """ORDER_DTYPE rows from (partial) columns: what a Trades keeps as its orders."""
    out = empty_orders(m)
    for name, a in cols.items():
        out[name] = a
    if "occurrence" not in cols:
        out["occurrence"] = np.arange(m)
    return out


class VariantBatch:
    """Order sets collected for one kernel call (same bars, same settings)."""

    def __init__(self, bars: Bars, settings: SimSettings, lower: Bars | None = None,
                 lower_index: tuple[np.ndarray, np.ndarray] | None = None, scratch: dict | None = None,
                 keep_orders: bool = True) -> None:
        """``scratch``: a dict shared by the batches of one sweep, whose buffers are reused from batch to
        batch (fresh memory costs a page fault per 4 KiB on first touch: ~1/3 of a big sweep's time).
        A batch's ``trades`` must then be read before the next batch runs.

        ``keep_orders=False`` (with a scratch): ORDER_DTYPE rows are unpacked into the pools as they
        are added and not kept, so the caller's next variant reuses their memory instead of touching
        fresh pages (a chunk of 100 variants held 500 MB of rows); ``trades`` is then unavailable."""
        self.scratch = scratch
        self.unpack_on_add = scratch is not None and not keep_orders
        self.bars = bars
        self.settings = settings
        self.lower = lower
        self.lower_index = lower_index
        self.columns: list[dict[str, np.ndarray]] = []
        self._parts: dict[str, list[tuple[int, np.ndarray]]] = {name: [] for name, _ in KERNEL_FIELDS}
        self._rows: list[tuple[np.ndarray, list[int]]] = []
        self._size: dict[str, int] = {name: 0 for name, _ in KERNEL_FIELDS}
        self._seen: dict[tuple[str, int], int] = {}  # (field, id of the caller's array) -> start in the pool
        self._blank: dict[tuple[str, int], np.ndarray] = {}
        self._starts: list[list[int]] = []
        self._unpacked: dict[str, int] = {}  # pool values already written (rows unpacked on add)
        self._m: list[int] = []
        self._out: tuple | None = None

    def __len__(self) -> int:
        return len(self._m)

    def add(self, orders: np.ndarray | OrderColumns) -> int:
        """Add one variant's orders (ORDER_DTYPE rows or columns); returns its index in the batch."""
        if not isinstance(orders, Mapping):
            rows = sort_orders(np.asarray(orders))
            m = len(rows)
            starts = [self._reserve(name, m) for name, _ in KERNEL_FIELDS]
            if self.unpack_on_add:
                if m:
                    SK.unpack_rows(rows, np.array(starts, np.int64), *self._pools(fill=False))
                self.columns.append({"occurrence": rows["occurrence"].copy()})  # for check messages
            else:
                self._rows.append((rows, starts))  # unpacked into the pools in one pass by run()
                self.columns.append({"rows": rows})
        else:
            cols = as_columns(orders)
            m = len(cols["signal_bar"])
            starts = []
            for name, _ in KERNEL_FIELDS:
                a = cols.get(name)
                if a is None:
                    a = self._blank_column(name, m)
                    cols[name] = a
                key = (name, id(a))
                if key not in self._seen:
                    self._seen[key] = self._reserve(name, m)
                    self._parts[name].append((self._seen[key], a))  # copied (and cast) into the pool by run()
                starts.append(self._seen[key])
            self.columns.append(cols)  # keeps the arrays alive, so their ids stay unique while we hold them
        self._starts.append(starts)
        self._m.append(m)
        return len(self._m) - 1

    def _reserve(self, name: str, m: int) -> int:
        start = self._size[name]
        self._size[name] += m
        return start

    def _blank_column(self, name: str, m: int) -> np.ndarray:
        a = self._blank.get((name, m))
        if a is None:
            fill = _BLANK[name]
            a = np.full((m, MAX_TARGETS), fill[0]) if ORDER_DTYPE[name].shape else np.full(m, fill)
            self._blank[(name, m)] = a
        return a

    def _buffer(self, key: str, shape: tuple[int, ...], dtype: Any, keep: int = 0) -> np.ndarray:
        """An uninitialised array: from the scratch dict when one is shared, else new. A scratch
        buffer that must grow keeps its first ``keep`` values (and grows to at least twice its size)."""
        need = int(np.prod(shape))
        if self.scratch is None:
            return np.empty(shape, dtype)
        buf = self.scratch.get(key)
        if buf is None or buf.size < need or buf.dtype != np.dtype(dtype):
            old = buf
            buf = np.empty(max(need, 2 * old.size) if keep and old is not None else need, dtype)
            if keep and old is not None:
                buf[:keep] = old[:keep]
            self.scratch[key] = buf
        return buf[:need].reshape(shape)

    def _pools(self, fill: bool = True) -> list[np.ndarray]:
        """One array per kernel field holding every distinct column (and every row set's fields);
        ``fill=False``: only make room (rows unpacked on add stay in place)."""
        width = {name: MAX_TARGETS if ORDER_DTYPE[name].shape else 1 for name, _ in KERNEL_FIELDS}
        keep = {name: self._unpacked.get(name, 0) * width[name] for name, _ in KERNEL_FIELDS}
        pools = [self._buffer(f"pool:{name}", (self._size[name], MAX_TARGETS) if ORDER_DTYPE[name].shape
                              else (self._size[name],), dtype, keep[name]) for name, dtype in KERNEL_FIELDS]
        if self.unpack_on_add:
            self._unpacked = dict(self._size)
        if not fill:
            return pools
        for f, (name, _) in enumerate(KERNEL_FIELDS):
            for start, a in self._parts[name]:
                pools[f][start:start + len(a)] = a
        for rows, starts in self._rows:
            if len(rows):
                SK.unpack_rows(rows, np.array(starts, np.int64), *pools)
        return pools

    def run(self) -> np.ndarray:
        """Check, simulate and summarise every variant: (variants x len(STAT_NAMES)) statistics."""
        v = len(self._m)
        m = np.array(self._m, np.int64)
        starts = np.array(self._starts, np.int64).reshape(v, len(KERNEL_FIELDS))
        pools = self._pools()
        n_bars = len(self.bars)
        bad_row = np.full(v, -1, np.int64)
        bad_code = np.zeros(v, np.int64)
        check = [pools[i] for i in range(10)] + [pools[13], pools[14]]
        over_threads(v, SK.check_pooled, m, starts, *check, n_bars, bad_row, bad_code)
        for k in range(v):
            if bad_row[k] >= 0:
                row = int(bad_row[k])
                occ = self._column(k, "occurrence")
                occ_id = int(occ[row]) if occ is not None else row
                message = SK.CHECK_MESSAGES[int(bad_code[k])]
                if bad_code[k] == 3:
                    message = f"signal_bar outside 0..{n_bars - 1}"
                raise ValueError(f"variant {k}: order row {row} (occurrence {occ_id}): {message}")
        out_off = np.zeros(v + 1, np.int64)
        out_off[1:] = np.cumsum(m)
        total = int(out_off[-1])
        # np.empty: a variant writes only its trades' rows, so untouched pages of this buffer cost nothing
        tf = self._buffer("tf", (total, K.NF), np.float64)
        ti = self._buffer("ti", (total, K.NI), np.int64)
        status = self._buffer("status", (total,), np.int8)
        status[:] = 0
        counts = np.zeros(v, np.int64)
        stats = np.zeros((v, SK.NSTAT))
        over_threads(v, SK.simulate_pooled, *bar_arrays(self.bars, self.settings, self.lower, self.lower_index), m,
                     starts, *pools, *settings_args(self.settings), out_off[:-1].copy(), tf, ti, status, counts, stats)
        self._out = (out_off, tf, ti, status, counts)
        return stats

    def _column(self, k: int, name: str) -> np.ndarray | None:
        cols = self.columns[k]
        return cols["rows"][name] if "rows" in cols else cols.get(name)

    def trades(self, k: int) -> Trades:
        """Variant k's Trades (after ``run``), as ``simulate`` would return them."""
        if self.unpack_on_add:
            raise RuntimeError("trades need the orders: make the batch with keep_orders=True")
        if self._out is None:
            raise RuntimeError("run() the batch first")
        out_off, tf, ti, status, counts = self._out
        a, n, m = int(out_off[k]), int(counts[k]), self._m[k]
        cols = self.columns[k]
        orders = cols["rows"] if "rows" in cols else columns_to_orders(cols, m)
        rows = rows_to_trades(tf[a:a + n], ti[a:a + n], orders, self.settings)
        return Trades(rows, status[a:a + m].copy(), self.bars.symbol, self.settings, self.bars.time, orders)


def summary_dict(stats_row: np.ndarray) -> dict[str, Any]:
    """One kernel statistics row as {name: value} (trades and streak as int)."""
    out: dict[str, Any] = {name: float(x) for name, x in zip(SK.STAT_NAMES, stats_row)}
    out["trades"] = int(out["trades"])
    out["longest_losing_streak"] = int(out["longest_losing_streak"])
    return guard_kernel_summary(out)
