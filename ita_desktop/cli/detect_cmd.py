"""`ita detect`: run the detectors over stored bars and print what they found (table or JSON).

    ita detect --symbol EURUSD --timeframe M1 --from 2022-01-10 --to 2022-01-11 --kinds fvg,ob
    ita detect --symbol EURUSD --timeframe M1 --kinds sweeps --param sweeps.max_bars=5 --json

Parses the options and prints; the detection is the core's (``core.detection.detect_window``):
the settings' detector parameters under ``--param``, and the one warm-up policy (bars before
``--from``: the rules' calendar look-back and at least 1,000 bars; ``--warmup N`` exactly N).
Only objects confirmed inside the window are printed (their life, e.g. an FVG filled later, is
as of the last bar loaded).
"""

from __future__ import annotations

import argparse
import json
import math
from datetime import datetime, timezone
from typing import Any

import numpy as np

from ita_desktop.cli.options import utc_seconds
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe

TABLE_ORDER = ("structure", "swings", "equal", "fvg", "order_blocks", "sweeps", "displacement", "levels", "sessions")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="run detectors (FVG, order blocks, BOS/CHOCH, sweeps, ...) over stored bars")
    p.add_argument("--symbol", required=True)
    p.add_argument("--timeframe", required=True, help="M1, M5, ... H1, D1")
    p.add_argument("--from", dest="start", help="first time, UTC ISO (e.g. 2022-01-05 or 2022-01-05T08:00)")
    p.add_argument("--to", dest="end", help="end time, UTC ISO, exclusive")
    p.add_argument("--kinds", default="all",
                   help="comma list: swings, equal, structure (bos/choch), fvg, ob, sweeps, displacement, "
                        "levels, sessions, or all (default)")
    p.add_argument("--param", action="append", default=[], metavar="GROUP.NAME=VALUE",
                   help="a detector parameter, e.g. swings.length=3, fvg.min_atr=0.5, structure.break_on=wick, "
                        "atr_length=21 (repeatable)")
    p.add_argument("--warmup", type=int, default=None,
                   help="bars loaded before --from (default: 15 days of them, at least 1000)")
    p.add_argument("--limit", type=int, default=20, help="rows shown per table, latest first (table output; 0 = all)")
    p.add_argument("--json", action="store_true", help="print every object as JSON")
    p.set_defaults(func=_detect)


def _value(text: str) -> Any:
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if "," in text:
        return [t.strip() for t in text.split(",") if t.strip()]
    return text


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["swings.length=3", "atr_length=21"]`` -> ``{"swings": {"length": 3}, "atr_length": 21}``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"expected GROUP.NAME=VALUE, got {item!r}", column="--param")
        key, value = item.split("=", 1)
        key = key.strip()
        if "." in key:
            group, name = key.split(".", 1)
            out.setdefault(group, {})[name] = _value(value)
        else:
            out[key] = _value(value)
    return out


def _detect(args: argparse.Namespace) -> int:
    from ita_desktop.cli.core_factory import build_core

    try:
        timeframe = Timeframe.parse(args.timeframe)
    except ValueError as exc:
        raise InputError(str(exc), column="--timeframe") from None
    overrides = parse_params(args.param)
    start, end = utc_seconds(args.start, "--from"), utc_seconds(args.end, "--to")
    with build_core() as core:
        found = core.detection.detect_window(args.symbol, timeframe, start, end, kinds=args.kinds,
                                             overrides=overrides, warmup=args.warmup)
    bars, window, first, result, params = found.bars, found.window, found.first, found.result, found.params
    shown = {name: rows for name, rows in result.tables.items() if name in found.kinds}
    keep = {name: found.kept(name) for name in shown}
    levels_from, inexact, kinds = found.levels_from, found.inexact_levels, found.kinds

    if args.json:
        tables = {}
        for name in _ordered(shown):
            objs = result.objects(name)
            tables[name] = [_clean(objs[k].to_dict()) for k in keep[name]]
        out = {
            "symbol": args.symbol, "timeframe": timeframe.value, "bars": len(window), "warmup_bars": first,
            "from": _iso(int(window.time[0])), "to": _iso(int(window.time[-1])), "tables": tables,
            "params": _params_dict(params), "times": "UTC",
        }
        if {"levels", "sessions"} & set(kinds):
            out["levels_from"] = levels_from
            out["inexact_levels"] = {name: list(times) for name, times in inexact.items()}
        print(json.dumps(out, indent=2))
        return 0

    print(f"{args.symbol} {timeframe.value}: {len(window):,} bars {_iso(int(window.time[0]))} .. "
          f"{_iso(int(window.time[-1]))} UTC" + (f" (+{first:,} warm-up bars before)" if first else ""))
    if {"levels", "sessions"} & set(kinds):
        print(levels_note(timeframe.value, levels_from, inexact))
    for name in _ordered(shown):
        idx = keep[name]
        rows = shown[name]
        print(f"\n{name}: {len(idx):,}" + _state_counts(rows[idx]))
        if not len(idx):
            continue
        pick = idx[::-1] if args.limit == 0 else idx[::-1][: args.limit]
        print(_table(name, rows, pick, bars.time))
    return 0


def levels_note(timeframe: str, levels_from: str, inexact: dict[str, tuple[str, ...]]) -> str:
    """One line saying where the levels come from and which ones are not exact."""
    line = f"levels and sessions computed from {levels_from} bars" + (
        f" (shown on {timeframe})" if levels_from != timeframe else "")
    if inexact:
        times = sorted({t for ts in inexact.values() for t in ts})
        line += (f"; not exact from {levels_from} bars (a time inside a bar: {', '.join(times)}): "
                 + ", ".join(sorted(inexact)))
    return line


def _ordered(tables) -> list[str]:
    return [n for n in TABLE_ORDER if n in tables] + [n for n in tables if n not in TABLE_ORDER]


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def _clean(d: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _params_dict(params) -> dict:
    import dataclasses

    out = {}
    for f in dataclasses.fields(params):
        v = getattr(params, f.name)
        out[f.name] = dataclasses.asdict(v) if dataclasses.is_dataclass(v) else (v if _jsonable(v) else repr(v))
    return out


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def _state_counts(rows: np.ndarray) -> str:
    if not len(rows):
        return ""
    names = {0: "open", 1: "touched", 2: "filled/broken"}
    counts = np.bincount(rows["state"].astype(np.int64), minlength=3)
    return " (" + ", ".join(f"{names[s]} {c:,}" for s, c in enumerate(counts) if c) + ")"


def _table(name: str, rows: np.ndarray, pick: np.ndarray, time: np.ndarray) -> str:
    from ita_desktop.detectors.objects import Kind, LevelKind

    def t(i: int) -> str:
        return _iso(int(time[i])) if 0 <= i < len(time) else "-"

    def lk(sub: int) -> str:
        try:
            return LevelKind(sub).name
        except ValueError:
            return str(sub)

    head = f"{'#':>7}  {'kind':<12} {'dir':>3}  {'bar time UTC':<16}  {'known at UTC':<16}  {'price':>11}  " \
           f"{'bottom':>11}  {'top':>11}  {'touched':<16}  {'filled':<16}  note"
    lines = [head]
    for k in pick:
        r = rows[k]
        kind = Kind(int(r["kind"])).name
        note = ""
        if r["kind"] in (Kind.LEVEL, Kind.SWEEP):
            note = lk(int(r["sub"]))
            if r["kind"] == Kind.SWEEP:
                note += f" extreme {r['extra']:.5g}"
        elif r["kind"] == Kind.FVG and np.isfinite(r["extra"]):
            note = f"{r['extra']:.2f} ATR"
        elif r["kind"] == Kind.EQUAL_HIGHS or r["kind"] == Kind.EQUAL_LOWS:
            note = f"{int(r['extra'])} swings"
        elif r["kind"] == Kind.ORDER_BLOCK:
            note = f"from {'bullish' if r['direction'] > 0 else 'bearish'} break row {int(r['ref'])}"
        elif r["kind"] in (Kind.BOS, Kind.CHOCH):
            note = f"swing row {int(r['ref'])}"
        lines.append(
            f"{int(k):>7}  {kind:<12} {int(r['direction']):>+3d}  {t(int(r['bar'])):<16}  {t(int(r['confirmed_at'])):<16}  "
            f"{r['price']:>11.6g}  {r['bottom']:>11.6g}  {r['top']:>11.6g}  {t(int(r['touched_at'])):<16}  "
            f"{t(int(r['filled_at'])):<16}  {note}"
        )
    return "\n".join(lines)
