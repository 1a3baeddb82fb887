"""The ORDER contract: what a setup hands the simulator, one row per order.

The rule side (a setup engine compiling a YAML rule) fills an ``ORDER_DTYPE`` array; the
simulator turns it into trades. Bar indexes are positions in the Bars the orders were
built on (the setup timeframe).

No look-ahead is built into the shape: ``signal_bar`` is the bar at whose CLOSE the setup
was confirmed (every detector row it used has ``confirmed_at <= signal_bar``), and the order
exists only from ``signal_bar + 1`` on. The simulator never fills it earlier, and the
validator flags any trade whose entry bar is not after its signal bar.

Fields (NaN = unused for floats, -1 = none for bar indexes):

================  ===========================================================================
occurrence        id of the setup occurrence that produced the order (the rule side's id;
                  several orders may share one, e.g. a limit and a stop alternative)
rule_version      integer id of the rule version (placeholder until rule versions are stored)
direction         +1 long (buy), -1 short (sell)
signal_bar        bar at whose close the setup was confirmed; the order exists from +1
entry_type        0 market: fill at the open of ``signal_bar + 1`` (only that bar);
                  1 limit: buy at or below / sell at or above ``entry_price``;
                  2 stop: buy at or above / sell at or below ``entry_price``
entry_price       limit/stop trigger price (bid prices; a buy compares the ask); NaN for market
expiry_bar        last bar a limit/stop order may fill; -1 = good until the end of the data
stop_price        absolute protective stop; NaN -> ``stop_distance`` from the actual fill
stop_distance     price distance of the stop from the fill (an ATR stop, a market order whose
                  fill is not known in advance); used only when ``stop_price`` is NaN
target_price      (3,) absolute take-profit prices in the order price reaches them; NaN unused
target_r          (3,) the same as R multiples of the actual risk (fill to stop); used where
                  ``target_price`` is NaN
target_fraction   (3,) fraction of the ORIGINAL size closed at each target; the fractions of
                  the targets in use sum to 1 (the builder fills the last one with the rest)
breakeven_at_r    move the stop to the entry price once the trade is this many R in profit
time_exit_bar     close whatever is open at the OPEN of this bar (the rule side converts
                  "close at 11:00 New York" to a bar); a pending order is cancelled from it
max_bars          close at the open of ``entry_bar + max_bars`` (-1 = no limit)
risk_pct          percent of equity risked (entry to stop) when ``lots`` is NaN
lots              fixed size in lots, overrides risk sizing (NaN = size from ``risk_pct``)
================  ===========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

MARKET, LIMIT, STOP = 0, 1, 2
ENTRY_TYPES = {"market": MARKET, "limit": LIMIT, "stop": STOP}
MAX_TARGETS = 3

ORDER_DTYPE = np.dtype(
    [
        ("occurrence", np.int64),
        ("rule_version", np.int64),
        ("direction", np.int8),
        ("entry_type", np.int8),
        ("signal_bar", np.int64),
        ("entry_price", np.float64),
        ("expiry_bar", np.int64),
        ("stop_price", np.float64),
        ("stop_distance", np.float64),
        ("target_price", np.float64, (MAX_TARGETS,)),
        ("target_r", np.float64, (MAX_TARGETS,)),
        ("target_fraction", np.float64, (MAX_TARGETS,)),
        ("breakeven_at_r", np.float64),
        ("time_exit_bar", np.int64),
        ("max_bars", np.int64),
        ("risk_pct", np.float64),
        ("lots", np.float64),
    ]
)

_DIRECTIONS = {"long": 1, "buy": 1, "bullish": 1, "short": -1, "sell": -1, "bearish": -1}


def _blank_row() -> np.ndarray:
    row = np.zeros(1, ORDER_DTYPE)
    for name in ("entry_price", "stop_price", "stop_distance", "target_price", "target_r", "target_fraction",
                 "breakeven_at_r", "lots"):
        row[name] = np.nan
    row["expiry_bar"] = -1
    row["time_exit_bar"] = -1
    row["max_bars"] = -1
    row["risk_pct"] = 1.0
    return row


_BLANK = _blank_row()


def empty_orders(n: int = 0) -> np.ndarray:
    """n orders with every optional field at its 'none' value (NaN / -1), risk 1%.

    Copied from one blank row (a single memory fill) because the rule side builds hundreds of
    thousands of orders per sweep variant."""
    return np.repeat(_BLANK, n)


def _direction(value: Any) -> int:
    if isinstance(value, str):
        if value.lower() not in _DIRECTIONS:
            raise ValueError(f"unknown direction {value!r}; expected long/short (or +1/-1)")
        return _DIRECTIONS[value.lower()]
    if int(value) not in (1, -1):
        raise ValueError(f"direction must be +1 or -1, got {value!r}")
    return int(value)


def _targets(spec: Any) -> list[tuple[float, float, float]]:
    """Targets as (price, r, fraction); fraction NaN = 'the rest'."""
    if spec is None:
        return []
    if isinstance(spec, Mapping):
        spec = [spec]
    out = []
    for t in spec:
        if isinstance(t, (int, float)):
            out.append((float(t), math.nan, math.nan))
            continue
        t = dict(t)
        unknown = set(t) - {"price", "r", "fraction"}
        if unknown:
            raise ValueError(f"unknown target key(s) {sorted(unknown)}; expected price, r, fraction")
        price, r = float(t.get("price", math.nan)), float(t.get("r", math.nan))
        if math.isnan(price) == math.isnan(r):
            raise ValueError(f"a target needs exactly one of price or r, got {t}")
        out.append((price, r, float(t.get("fraction", math.nan))))
    if len(out) > MAX_TARGETS:
        raise ValueError(f"at most {MAX_TARGETS} targets per order, got {len(out)}")
    return out


def _fractions(given: list[float]) -> list[float]:
    """Fill the unset fractions with equal shares of what is left; the used ones must sum to 1."""
    if not given:
        return []
    fixed = sum(f for f in given if not math.isnan(f))
    free = [i for i, f in enumerate(given) if math.isnan(f)]
    if fixed > 1 + 1e-9 or any(f <= 0 for f in given if not math.isnan(f)):
        raise ValueError(f"target fractions must be > 0 and sum to at most 1, got {given}")
    out = list(given)
    for i in free:
        out[i] = (1.0 - fixed) / len(free)
    if free and (1.0 - fixed) <= 1e-12:
        raise ValueError(f"target fractions {given} leave nothing for the targets without a fraction")
    if not free and abs(fixed - 1.0) > 1e-9:
        out[-1] += 1.0 - fixed  # the last target takes the rest, as the rule schema says
    return out


_KEYS = {"occurrence", "rule_version", "direction", "signal_bar", "entry", "entry_type", "entry_price", "expiry_bar",
         "stop", "stop_price", "stop_distance", "targets", "breakeven_at_r", "time_exit_bar", "max_bars", "risk_pct",
         "lots"}


def make_orders(specs: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Orders from plain dicts, sorted by signal bar (stable), for tests and the rule engine.

    Keys: ``direction`` ("long"/"short"/±1), ``signal_bar``, ``entry`` ("market"/"limit"/"stop")
    with ``entry_price``, ``expiry_bar``; ``stop`` (absolute price) or ``stop_distance``;
    ``targets``: a list of prices or of ``{"price"| "r", "fraction"}``; ``breakeven_at_r``,
    ``time_exit_bar``, ``max_bars``, ``risk_pct``, ``lots``, ``occurrence`` (default: position),
    ``rule_version``. Unknown keys are an error so a typo never silently drops a setting.
    """
    specs = list(specs)
    out = empty_orders(len(specs))
    for i, spec in enumerate(specs):
        unknown = set(spec) - _KEYS
        if unknown:
            raise ValueError(f"order {i}: unknown key(s) {sorted(unknown)}; expected some of {sorted(_KEYS)}")
        row = out[i]
        row["occurrence"] = int(spec.get("occurrence", i))
        row["rule_version"] = int(spec.get("rule_version", 0))
        row["direction"] = _direction(spec["direction"])
        row["signal_bar"] = int(spec["signal_bar"])
        etype = spec.get("entry", spec.get("entry_type", "market"))
        etype = ENTRY_TYPES[etype] if isinstance(etype, str) else int(etype)
        row["entry_type"] = etype
        if etype != MARKET:
            if "entry_price" not in spec:
                raise ValueError(f"order {i}: a limit or stop entry needs entry_price")
            row["entry_price"] = float(spec["entry_price"])
        row["expiry_bar"] = int(spec.get("expiry_bar", -1))
        stop = spec.get("stop", spec.get("stop_price"))
        if stop is not None:
            row["stop_price"] = float(stop)
        elif "stop_distance" in spec:
            row["stop_distance"] = float(spec["stop_distance"])
        else:
            raise ValueError(f"order {i}: needs a stop (price) or a stop_distance")
        targets = _targets(spec.get("targets"))
        fracs = _fractions([f for _, _, f in targets])
        for k, ((price, r, _), frac) in enumerate(zip(targets, fracs)):
            row["target_price"][k] = price
            row["target_r"][k] = r
            row["target_fraction"][k] = frac
        for key in ("breakeven_at_r", "lots"):
            if spec.get(key) is not None:
                row[key] = float(spec[key])
        for key in ("time_exit_bar", "max_bars"):
            if spec.get(key) is not None:
                row[key] = int(spec[key])
        if spec.get("risk_pct") is not None:
            row["risk_pct"] = float(spec["risk_pct"])
    return sort_orders(out)


def sort_orders(orders: np.ndarray) -> np.ndarray:
    """Orders by signal bar, ties kept in the given order (the simulator needs this order)."""
    if orders.dtype != ORDER_DTYPE:
        raise TypeError(f"orders must have ORDER_DTYPE, got {orders.dtype}")
    sig = orders["signal_bar"]
    if len(sig) < 2 or bool((sig[1:] >= sig[:-1]).all()):
        return orders  # already in order: no copy
    return orders[np.argsort(sig, kind="stable")]


def order_columns(orders: np.ndarray) -> dict[str, np.ndarray]:
    """Each ORDER_DTYPE field as a contiguous array (read once: strided field reads are the slow part)."""
    return {name: np.ascontiguousarray(orders[name]) for name in ORDER_DTYPE.names}


def check_orders(orders: np.ndarray, n_bars: int, columns: dict[str, np.ndarray] | None = None) -> None:
    """ValueError naming the first bad row: the simulator trusts what passes this."""
    if orders.dtype != ORDER_DTYPE:
        raise TypeError(f"orders must have ORDER_DTYPE, got {orders.dtype}")
    if len(orders) == 0:
        return
    orders = columns if columns is not None else order_columns(orders)  # type: ignore[assignment]
    d, et = orders["direction"], orders["entry_type"]
    checks = [
        ((d != 1) & (d != -1), "direction must be +1 or -1"),
        ((et < MARKET) | (et > STOP), "entry_type must be 0, 1 or 2"),
        ((orders["signal_bar"] < 0) | (orders["signal_bar"] >= n_bars), f"signal_bar outside 0..{n_bars - 1}"),
        ((orders["entry_type"] != MARKET) & ~np.isfinite(orders["entry_price"]), "limit/stop order without entry_price"),
        (np.isnan(orders["stop_price"]) & ~(orders["stop_distance"] > 0), "no stop_price and no positive stop_distance"),
        ((orders["expiry_bar"] >= 0) & (orders["expiry_bar"] <= orders["signal_bar"]), "expiry_bar not after signal_bar"),
        (np.isnan(orders["lots"]) & ~(orders["risk_pct"] > 0), "risk_pct must be > 0 when lots is not set"),
    ]
    used = np.isfinite(orders["target_price"]) | np.isfinite(orders["target_r"])
    fsum = np.where(used, orders["target_fraction"], 0.0).sum(axis=1)
    checks.append((used.any(axis=1) & (np.abs(fsum - 1.0) > 1e-6), "target fractions must sum to 1"))
    checks.append((np.diff(orders["signal_bar"], prepend=orders["signal_bar"][0]) < 0, "orders not sorted by signal_bar"))
    for bad, message in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"order row {i} (occurrence {int(orders['occurrence'][i])}): {message}")
