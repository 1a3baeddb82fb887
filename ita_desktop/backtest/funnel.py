"""The funnel of a run: occurrences -> orders -> filled, expired, refused (and why).

A run with 0 trades is not an answer a trader can act on: "2 orders, both expired before a
fill" is. Every run carries its funnel (in the stored statistics as ``funnel``); the CLI, the HTML
report and the Results panel print it with :func:`funnel_text`.
"""

from __future__ import annotations

from typing import Any

#: Order status (simulator.ORDER_STATUS names) -> what a trader reads.
REFUSED_WHY = {
    "no_slot": "a position was already open (max positions)",
    "invalid_stop": "no stop distance at the fill",
    "size_too_small": "size below the broker's smallest lot",
}
OTHER_WHY = {
    "expired": "not filled before the order's expiry or the rule's exit time",
    "open_at_end": "still pending when the data ended",
    "not_active": "signalled on the last bar: no bar left to fill on",
}


def funnel_of(order_status_counts: dict[str, int], trades: int, occurrences: int | None = None) -> dict[str, Any]:
    """The funnel as plain JSON: ``occurrences`` (None when the orders did not come from a rule run),
    ``orders``, ``filled``, ``trades``, ``expired``, ``open_at_end``, ``not_active`` and ``refused``
    (status name -> count, only the non-zero ones)."""
    counts = {k: int(v) for k, v in order_status_counts.items()}
    return {
        "occurrences": None if occurrences is None else int(occurrences),
        "orders": sum(counts.values()),
        "filled": counts.get("filled", 0),
        "trades": int(trades),
        "expired": counts.get("expired", 0),
        "open_at_end": counts.get("open_at_end", 0),
        "not_active": counts.get("not_active", 0),
        "refused": {k: counts[k] for k in REFUSED_WHY if counts.get(k)},
    }


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 order``, ``2 orders`` (``many`` for irregular plurals)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def funnel_text(funnel: dict[str, Any] | None) -> str:
    """One line: ``3 occurrences -> 2 orders -> 0 filled; 2 expired (not filled before ...)``."""
    if not funnel:
        return "funnel: not recorded for this run"
    parts = []
    if funnel.get("occurrences") is not None:
        parts.append(plural(funnel["occurrences"], "occurrence"))
    parts.append(plural(funnel.get("orders", 0), "order"))
    parts.append(f"{funnel.get('filled', 0):,} filled")
    line = " -> ".join(parts)
    why = []
    for key, text in OTHER_WHY.items():
        if funnel.get(key):
            why.append(f"{funnel[key]:,} {key.replace('_', ' ')} ({text})")
    for key, count in (funnel.get("refused") or {}).items():
        why.append(f"{count:,} refused: {REFUSED_WHY.get(key, key)}")
    if not funnel.get("orders") and funnel.get("occurrences"):
        why.append("no occurrence made an order (the rule's entry could not be placed)")
    if not funnel.get("orders") and funnel.get("occurrences") == 0:
        why.append("the setup never occurred in this range")
    return line + ("; " + "; ".join(why) if why else "")
