"""Parameter sweeps over a grid of dotted paths, and walk-forward splits.

The rule side gives ``orders_for(bars, params) -> ORDER_DTYPE`` where ``params`` maps dotted
paths ("stop.buffer_points") to values (``set_path`` applies them to a nested rule dict).
Orders are built per variant in Python (ORDER_DTYPE rows, or order columns that share the
unchanged arrays between variants); each chunk of variants then runs through one numba
kernel that checks, simulates and summarises them spread over the cores (threads taking ranges of
variants, see variants.py and _sweep_kernel.py), so no per-trade Python runs unless trades are kept.
Progress is reported and ``cancel()`` checked between chunks, so a long sweep stays responsive.

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

from ita_desktop.backtest._sweep_kernel import STAT_NAMES
from ita_desktop.backtest.costs import SimSettings
from ita_desktop.backtest.runs import BacktestCancelled, Progress
from ita_desktop.backtest.simulator import Trades, _lower_index
from ita_desktop.backtest.stats import LOWER_IS_BETTER, compute_stats
from ita_desktop.backtest.variants import OrderColumns, VariantBatch, summary_dict
from ita_desktop.domain.bars import Bars

SweepOrders = Callable[[Bars, dict[str, Any]], "np.ndarray | OrderColumns"]


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
    #: What was swept, for callers that report it (workflows.rule_backtest: rule, version, symbol, grid, detector runs).
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the statistic, every row, the best row (NaN/inf as None) and ``meta``."""
        def clean(row: dict[str, Any]) -> dict[str, Any]:
            return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}

        best = self.best()
        return {**self.meta, "statistic": self.statistic, "rows": [clean(r) for r in self.rows],
                "best": clean(best) if best is not None else None}

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


def simulate_variants(bars: Bars, order_sets: Sequence[np.ndarray | OrderColumns], settings: SimSettings,
                      lower: Bars | None = None) -> list[Trades]:
    """Simulate several order sets on the same bars and settings in one parallel kernel call."""
    batch = VariantBatch(bars, settings, lower)
    for orders in order_sets:
        batch.add(orders)
    batch.run()
    return [batch.trades(k) for k in range(len(batch))]


SUMMARY_COLUMNS = ("trades", "win_rate", "expectancy_r", "profit_factor", "net_pnl", "max_drawdown_pct", "sqn")
#: Statistics that need the full ``compute_stats`` (calendar days): slower, used only when asked for.
FULL_ONLY_STATISTICS = ("sharpe", "sortino")
STATISTICS = STAT_NAMES + FULL_ONLY_STATISTICS


def check_statistic(statistic: str) -> None:
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; expected one of {', '.join(sorted(STATISTICS))}")


def sweep(bars: Bars, orders_for: SweepOrders, grid: Mapping[str, Sequence[Any]] | Iterable[str],
          settings: SimSettings | None = None, *, statistic: str = "expectancy_r", lower: Bars | None = None,
          progress: Progress | None = None, cancel: Callable[[], bool] | None = None, chunk: int = 64,
          keep_trades: bool = False) -> SweepResult:
    """Run every variant of ``grid``; rows hold the params, ``statistic`` and SUMMARY_COLUMNS.

    ``orders_for(bars, params)`` returns ORDER_DTYPE rows or order columns (see variants.py:
    columns shared between variants are stored once, the fast form for big sweeps)."""
    settings = settings or SimSettings()
    check_statistic(statistic)
    rows, kept = run_variants(bars, orders_for, variants(parse_grid(grid)), settings, statistic=statistic, lower=lower,
                              progress=progress, cancel=cancel, chunk=chunk, keep_trades=keep_trades)
    return SweepResult(statistic, rows, kept)


def run_variants(bars: Bars, orders_for: SweepOrders, combos: Sequence[dict[str, Any]], settings: SimSettings, *,
                 statistic: str, lower: Bars | None = None, progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None, chunk: int = 64,
                 keep_trades: bool = False) -> tuple[list[dict[str, Any]], list[Trades]]:
    """The work of :func:`sweep` for an explicit list of variants (callers that group variants,
    e.g. by timeframe, run each group on its own bars): one row per variant, in order."""
    check_statistic(statistic)
    for params in combos:
        _settings_of(settings, params)  # a bad settings.* value fails before any work
    lower_index = _lower_index(bars, lower) if lower is not None else None
    # at least ~10 progress reports: a 12-variant sweep in one chunk showed 0 % until it was done
    chunk = max(1, min(chunk, -(-len(combos) // 10)))
    full = keep_trades or statistic in FULL_ONLY_STATISTICS
    scratch: dict[str, np.ndarray] = {}  # buffers reused by every batch of this sweep
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
        summaries: list[dict[str, Any]] = [{}] * len(part)
        trades: list[Trades | None] = [None] * len(part)
        for idx in groups.values():
            batch = VariantBatch(bars, _settings_of(settings, part[idx[0]]), lower, lower_index, scratch,
                                 keep_orders=full)
            for i in idx:
                batch.add(orders_for(bars, {k: v for k, v in part[i].items() if not k.startswith("settings.")}))
            stats = batch.run()
            for k, i in enumerate(idx):
                summaries[i] = summary_dict(stats[k])
                if full:
                    trades[i] = batch.trades(k)
                    if statistic in FULL_ONLY_STATISTICS:
                        summaries[i] = compute_stats(trades[i], breakdowns=False).summary
        for params, summary, tr in zip(part, summaries, trades):
            rows.append({**params, statistic: summary[statistic],
                         **{c: summary[c] for c in SUMMARY_COLUMNS if c != statistic}})
            if keep_trades and tr is not None:
                kept.append(tr)
        done += len(part)
        if progress is not None:
            progress(done / len(combos), f"{done} of {len(combos)} variants")
    return rows, kept


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
