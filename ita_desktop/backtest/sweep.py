"""Parameter sweeps over a grid of dotted paths, and walk-forward splits.

The rule side gives ``orders_for(bars, params) -> ORDER_DTYPE`` where ``params`` maps dotted
paths ("stop.buffer_points") to values (``set_path`` applies them to a nested rule dict).
Orders are built per variant in Python; the simulations then run in chunks through one
numba kernel that spreads the variants of a chunk over the cores (``prange``). Progress is
reported and ``cancel()`` checked between chunks, so a long sweep stays responsive.

Paths starting with ``settings.`` change the simulation settings (``settings.max_positions``)
instead of the orders; variants are grouped by their settings for the parallel kernel.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ita_desktop.backtest import _kernel as K
from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.orders import check_orders, order_columns, sort_orders
from ita_desktop.backtest.runs import BacktestCancelled, Progress
from ita_desktop.backtest.simulator import Trades, bar_arrays, order_arrays, rows_to_trades, settings_args
from ita_desktop.backtest.stats import compute_stats
from ita_desktop.domain.bars import Bars

SweepOrders = Callable[[Bars, dict[str, Any]], np.ndarray]
LOWER_IS_BETTER = {"max_drawdown", "max_drawdown_pct", "max_drawdown_r", "longest_losing_streak"}


def parse_value(text: str) -> Any:
    """'1' -> 1, '1.5' -> 1.5, 'true' -> True, 'none' -> None, anything else stays text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_grid(items: Iterable[str] | Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
    """``["stop.buffer_points=1,2,3", "risk.percent=0.5,1"]`` (the CLI's --set) -> {path: values}."""
    if isinstance(items, Mapping):
        return {str(k): list(v) for k, v in items.items()}
    out: dict[str, list[Any]] = {}
    for item in items:
        path, sep, values = item.partition("=")
        if not sep or not path.strip() or not values.strip():
            raise ValueError(f"cannot read grid item {item!r}; expected path=v1,v2,...")
        out[path.strip()] = [parse_value(v) for v in values.split(",")]
    return out


def variants(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, in a stable order (the first path varies slowest)."""
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def set_path(data: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with the dotted ``path`` set (list items by index: "targets.0.r")."""
    out = copy.deepcopy(dict(data))
    node: Any = out
    parts = path.split(".")
    for i, part in enumerate(parts[:-1]):
        key: Any = int(part) if isinstance(node, list) else part
        if isinstance(node, dict) and key not in node:
            node[key] = {}
        elif isinstance(node, list) and not -len(node) <= key < len(node):
            raise KeyError(f"{'.'.join(parts[:i + 1])}: index {key} out of range")
        node = node[key]
    last: Any = int(parts[-1]) if isinstance(node, list) else parts[-1]
    node[last] = value
    return out


@dataclass
class SweepResult:
    """One row per variant: its params, the chosen statistic and a few others; best first by ``best()``."""

    statistic: str
    rows: list[dict[str, Any]]
    trades: list[Trades] = field(default_factory=list, repr=False)

    def best(self) -> dict[str, Any] | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def ranked(self) -> list[dict[str, Any]]:
        sign = 1.0 if self.statistic in LOWER_IS_BETTER else -1.0

        def key(row: dict[str, Any]) -> tuple[int, float]:
            v = row[self.statistic]
            return (1, 0.0) if v is None or (isinstance(v, float) and math.isnan(v)) else (0, sign * float(v))

        return sorted(self.rows, key=key)


def _settings_of(base: SimSettings, params: Mapping[str, Any]) -> SimSettings:
    over = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith("settings.")}
    return SimSettings.from_dict({**base.to_dict(), **over}) if over else base


def simulate_variants(bars: Bars, order_sets: Sequence[np.ndarray], settings: SimSettings,
                      lower: Bars | None = None) -> list[Trades]:
    """Simulate several order sets on the same bars and settings in one parallel kernel call."""
    sets = [sort_orders(np.asarray(o)) for o in order_sets]
    columns = []
    for o in sets:
        cols = order_columns(o)
        check_orders(o, len(bars), cols)
        columns.append(cols)
    offsets = np.zeros(len(sets) + 1, np.int64)
    offsets[1:] = np.cumsum([len(o) for o in sets])
    total = int(offsets[-1])
    # np.empty: a variant writes only its trades' rows, so untouched pages of this (large) buffer cost nothing
    tf = np.empty((total, K.NF))
    ti = np.empty((total, K.NI), np.int64)
    status = np.zeros(total, np.int8)
    counts = np.zeros(len(sets), np.int64)
    if len(sets):
        joined = {name: np.concatenate([c[name] for c in columns]) for name in columns[0]}
        K.simulate_many(*bar_arrays(bars, settings, lower), offsets, *order_arrays(sets[0], joined),
                        *settings_args(settings), tf, ti, status, counts)
    out = []
    for v, o in enumerate(sets):
        a = int(offsets[v])
        n = int(counts[v])
        rows = rows_to_trades(tf[a:a + n], ti[a:a + n], o, settings)
        out.append(Trades(rows, status[a:a + len(o)].copy(), bars.symbol, settings, bars.time, o))
    return out


SUMMARY_COLUMNS = ("trades", "win_rate", "expectancy_r", "profit_factor", "net_pnl", "max_drawdown_pct", "sqn")


def sweep(bars: Bars, orders_for: SweepOrders, grid: Mapping[str, Sequence[Any]] | Iterable[str],
          settings: SimSettings | None = None, *, statistic: str = "expectancy_r", lower: Bars | None = None,
          progress: Progress | None = None, cancel: Callable[[], bool] | None = None, chunk: int = 64,
          keep_trades: bool = False) -> SweepResult:
    """Run every variant of ``grid``; rows hold the params, ``statistic`` and SUMMARY_COLUMNS."""
    settings = settings or SimSettings()
    combos = variants(parse_grid(grid))
    rows: list[dict[str, Any]] = []
    kept: list[Trades] = []
    done = 0
    for start in range(0, len(combos), chunk):
        if cancel is not None and cancel():
            raise BacktestCancelled(f"sweep cancelled after {done} of {len(combos)} variants")
        part = combos[start:start + chunk]
        groups: dict[str, list[int]] = {}
        for i, params in enumerate(part):
            groups.setdefault(repr(sorted(_settings_of(settings, params).to_dict().items())), []).append(i)
        results: list[Trades | None] = [None] * len(part)
        for idx in groups.values():
            s = _settings_of(settings, part[idx[0]])
            order_sets = [orders_for(bars, {k: v for k, v in part[i].items() if not k.startswith("settings.")})
                          for i in idx]
            for i, trades in zip(idx, simulate_variants(bars, order_sets, s, lower)):
                results[i] = trades
        for params, trades in zip(part, results):
            assert trades is not None
            summary = compute_stats(trades, breakdowns=False).summary
            if statistic not in summary:
                raise ValueError(f"unknown statistic {statistic!r}; expected one of {sorted(summary)}")
            rows.append({**params, statistic: summary[statistic],
                         **{c: summary[c] for c in SUMMARY_COLUMNS if c != statistic}})
            if keep_trades:
                kept.append(trades)
        done += len(part)
        if progress is not None:
            progress(done / len(combos), f"{done} of {len(combos)} variants")
    return SweepResult(statistic, rows, kept)


def walk_forward(bars: Bars, orders_for: SweepOrders, grid: Mapping[str, Sequence[Any]] | Iterable[str],
                 settings: SimSettings | None = None, *, splits: int = 4, oos_fraction: float = 0.25,
                 statistic: str = "expectancy_r", progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None) -> list[dict[str, Any]]:
    """Cut the bars into ``splits`` consecutive windows; in each, sweep the in-sample part, pick
    the best variant, and run it on the out-of-sample part that follows. One row per split,
    in-sample and out-of-sample results side by side.

    Out-of-sample orders are built on the whole window (so detectors have their history) and
    only those signalled inside the out-of-sample part are kept."""
    if not 0 < oos_fraction < 1:
        raise ValueError(f"oos_fraction must be between 0 and 1, got {oos_fraction}")
    settings = settings or SimSettings()
    n = len(bars)
    edges = np.linspace(0, n, splits + 1).astype(int)
    out = []
    for k in range(splits):
        if cancel is not None and cancel():
            raise BacktestCancelled(f"walk-forward cancelled after {k} of {splits} splits")
        a, c = int(edges[k]), int(edges[k + 1])
        b = a + int(round((c - a) * (1 - oos_fraction)))
        ins = bars.slice(a, b)
        result = sweep(ins, orders_for, grid, settings, statistic=statistic, cancel=cancel)
        best = result.best()
        if best is None:
            continue
        params = {key: best[key] for key in parse_grid(grid)}
        window = bars.slice(a, c)
        orders = orders_for(window, {k2: v for k2, v in params.items() if not k2.startswith("settings.")})
        orders = orders[orders["signal_bar"] >= b - a]
        oos_trades = simulate_variants(window, [orders], _settings_of(settings, params))[0]
        oos = compute_stats(oos_trades, breakdowns=False).summary
        out.append({"split": k + 1, "in_sample": (int(bars.time[a]), int(bars.time[b - 1])),
                    "out_of_sample": (int(bars.time[b]), int(bars.time[c - 1])), "params": params,
                    f"is_{statistic}": best[statistic], f"oos_{statistic}": oos[statistic],
                    "is_trades": best["trades"], "oos_trades": oos["trades"]})
        if progress is not None:
            progress((k + 1) / splits, f"split {k + 1} of {splits}")
    return out
