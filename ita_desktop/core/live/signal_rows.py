"""Occurrences as signal rows: the deterministic occurrence key and the stored fields.

The key is what identifies a setup across runs, restarts and sessions: the rule version, the
symbol and timeframe, the signal time, the direction and each step's name, event time and
price. Bar indexes and occurrence ids are left out on purpose: they count from wherever a
session's history began, so two sessions over the same bars would disagree on them.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from ita_desktop.rules.engine.occurrences import Occurrence
from ita_desktop.storage.signal_store import SignalRecord


def occurrence_key(o: Occurrence) -> str:
    steps = ";".join(f"{s.name}@{s.time}:{s.price!r}" for s in o.steps)
    text = f"{o.rule_id}|{o.rule_version}|{o.symbol}|{o.timeframe}|{o.signal_time}|{o.direction}|{steps}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _num(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def signal_record(o: Occurrence, source: str, rule_version_id: int | None = None) -> SignalRecord:
    """The row of ``o``: status ``pending`` with an order, ``skipped`` without one (a filter, a bad stop)."""
    d = o.to_dict()
    p = o.order
    return SignalRecord(
        occurrence_key=occurrence_key(o), rule_id=o.rule_id, rule_version=str(o.rule_version), symbol=o.symbol,
        timeframe=o.timeframe, signal_time=int(o.signal_time), direction=int(o.direction), source=source,
        status="pending" if p is not None else "skipped", steps=d["steps"], occurrence=d,
        order_type=p.entry if p else None, entry_price=_num(p.entry_price) if p else None,
        stop_price=_num(p.stop_price) if p else None, stop_distance=_num(p.stop_distance) if p else None,
        targets=[dict(t) for t in p.targets] if p else [], expiry_time=p.expiry_time if p else None,
        time_exit_time=p.time_exit_time if p else None, skipped=o.skipped, rule_version_id=rule_version_id or None)


def signal_line(rec: SignalRecord) -> dict[str, Any]:
    """A ``"event": "signal"`` JSON line: the fields of an ``ita scan --json`` occurrence, plus the
    signal's store id, key, source and status."""
    return {"event": "signal", **rec.occurrence, "signal_id": rec.id, "occurrence_key": rec.occurrence_key,
            "source": rec.source, "status": rec.status}


def signal_payload(rec: SignalRecord) -> dict[str, Any]:
    """What a notification of a raised signal carries (outputs/ writes its caption from it)."""
    return {"rule_id": rec.rule_id, "rule_version": rec.rule_version, "symbol": rec.symbol, "timeframe": rec.timeframe,
            "direction": rec.direction, "signal_time": rec.signal_time, "order_type": rec.order_type,
            "entry_price": rec.entry_price, "stop_price": rec.stop_price, "targets": rec.targets,
            "signal_id": rec.id, "source": rec.source}


def update_payload(u: Any) -> dict[str, Any]:
    """What a notification of a paper-trade update carries (a :class:`PaperUpdate`)."""
    return {"rule_id": u.rule_id, "symbol": u.symbol, "status": u.status, "time_utc": u.time_utc,
            "signal_id": u.signal_id, "r_multiple": u.outcome.get("r_multiple")}
