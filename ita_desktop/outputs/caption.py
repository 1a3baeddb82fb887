"""The words of a notification: a signal's caption and an update's line, within Telegram's 1,024 characters.

Prices are shown at the symbol's digits with pips, both from its stored instrument (the payload's
``digits`` and ``pip_size``; rows without them fall back to 0.01 for JPY pairs and prices of 20 or
more, else 0.0001), and targets with their R (distance over the stop's distance). Times in New York and UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

CAPTION_LIMIT = 1024
_NY = ZoneInfo("America/New_York")


def _pip(p: dict[str, Any], price: float) -> float:
    """The instrument's pip (stored with it, carried in the payload); a guess from the symbol for older rows."""
    if p.get("pip_size"):
        return float(p["pip_size"])
    return 0.01 if "JPY" in p["symbol"].upper() or abs(price) >= 20 else 0.0001


def _times(t: int) -> str:
    utc = datetime.fromtimestamp(t, timezone.utc)
    return f"{utc.astimezone(_NY):%Y-%m-%d %H:%M} NY / {utc:%H:%M} UTC"


def _price(x: float, digits: int | None = None) -> str:
    if digits is not None:
        return f"{x:.{int(digits)}f}"
    return f"{x:.5f}".rstrip("0").rstrip(".") if abs(x) < 20 else f"{x:.3f}"


def signal_caption(p: dict[str, Any]) -> str:
    """Rule and version, symbol and timeframe, direction, entry/stop/targets with pips and R, time NY and UTC."""
    side = "LONG" if p["direction"] > 0 else "SHORT"
    lines = [f"{side} {p['symbol']} {p['timeframe']} - {p['rule_id']} v{p['rule_version']}"]
    entry, stop = p.get("entry_price"), p.get("stop_price")
    if entry is not None and stop is not None:
        pip, d = _pip(p, entry), p.get("digits")
        risk = abs(entry - stop)
        lines.append(f"Entry {_price(entry, d)} ({p.get('order_type') or 'order'})")
        lines.append(f"Stop {_price(stop, d)} ({risk / pip:.1f} pips)")
        for i, t in enumerate(p.get("targets") or [], 1):
            price = t.get("price")
            if price is None and t.get("r") is not None:
                price = entry + p["direction"] * t["r"] * risk
            if price is None:
                continue
            r = abs(price - entry) / risk if risk else 0.0
            lines.append(f"Target {i} {_price(price, d)} ({abs(price - entry) / pip:.1f} pips, {r:.2f}R)")
    lines.append(_times(int(p["signal_time"])))
    if p.get("similar"):  # the k most similar past setups of the rule (learning.similar_line), settled once
        lines.append(str(p["similar"]))
    return fit("\n".join(lines))


def update_text(p: dict[str, Any]) -> str:
    r = p.get("r_multiple")
    tail = f", {r:+.2f}R" if isinstance(r, (int, float)) else ""
    return fit(f"{p['symbol']} {p['rule_id']}: {p['status']}{tail} at {_times(int(p['time_utc']))}")


def fit(text: str, limit: int = CAPTION_LIMIT) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis says it was cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
