"""Grounding: every price, time and id the model gave checked against the app's own data.

Vision models invent levels. A drawing is kept for the chart only if its prices are inside the
visible price range (with a margin), its times inside the visible window, and its ``ref_id`` one
that was sent; a trade idea only if, besides, its stop and targets are on the right sides of its
entry. Whatever fails stays in the record with its reasons and is counted, never drawn.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

from ita_desktop.vision.answer_schema import ReviewAnswer
from ita_desktop.vision.review_context import ReviewContext

PRICE_MARGIN = 0.10  # a tenth of the visible range above and below it


def parse_time(text: str) -> int | None:
    """ISO text ('2024-01-05T14:15Z', with or without seconds or offset; naive is UTC) -> epoch seconds."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


class _Checker:
    def __init__(self, context: ReviewContext) -> None:
        margin = PRICE_MARGIN * max(context.price_high - context.price_low, 1e-12)
        self.low, self.high = context.price_low - margin, context.price_high + margin
        self.first, self.last = context.first_time, context.last_time
        self.ids = context.ids

    def price(self, name: str, value: float | None, reasons: list[str]) -> None:
        if value is not None and not (self.low <= value <= self.high):
            reasons.append(f"price_off_chart: {name} {value} outside {self.low:.6g}..{self.high:.6g}")

    def time(self, name: str, text: str | None, reasons: list[str]) -> None:
        if text is None:
            return
        seconds = parse_time(text)
        if seconds is None:
            reasons.append(f"bad_time: {name} {text!r} is not an ISO time")
        elif not (self.first <= seconds <= self.last):
            reasons.append(f"time_outside_window: {name} {text}")

    def ref(self, ref_id: str | None, reasons: list[str]) -> None:
        if ref_id is not None and ref_id not in self.ids:
            reasons.append(f"unknown_id: {ref_id!r} was not sent")


def ground(answer: ReviewAnswer, context: ReviewContext) -> dict[str, Any]:
    """The grounding record: per annotation and for the trade idea, ok and reasons; counts by reason."""
    check = _Checker(context)
    annotations = []
    for i, a in enumerate(answer.annotations):
        reasons: list[str] = []
        check.price("price", a.price, reasons)
        check.price("price2", a.price2, reasons)
        check.time("time", a.time, reasons)
        check.time("time2", a.time2, reasons)
        check.ref(a.ref_id, reasons)
        if a.kind in ("zone", "arrow") and a.price2 is None:
            reasons.append(f"incomplete: a {a.kind} needs price2")
        annotations.append({"index": i, "ok": not reasons, "reasons": reasons})
    idea: dict[str, Any] | None = None
    if answer.trade_idea is not None:
        t = answer.trade_idea
        reasons = []
        check.price("entry", t.entry, reasons)
        check.price("stop", t.stop, reasons)
        for k, target in enumerate(t.targets):
            check.price(f"target{k + 1}", target, reasons)
        sign = 1 if t.direction == "long" else -1
        if sign * (t.entry - t.stop) <= 0:
            reasons.append(f"wrong_side: a {t.direction}'s stop {t.stop} must be {'below' if sign > 0 else 'above'} its entry {t.entry}")
        for k, target in enumerate(t.targets):
            if sign * (target - t.entry) <= 0:
                reasons.append(f"wrong_side: {t.direction} target{k + 1} {target} must be "
                               f"{'above' if sign > 0 else 'below'} its entry {t.entry}")
        idea = {"ok": not reasons, "reasons": reasons}
    items = annotations + ([idea] if idea is not None else [])
    failed = [item for item in items if not item["ok"]]
    counts = Counter(reason.split(":", 1)[0] for item in failed for reason in item["reasons"])
    return {
        "annotations": annotations, "trade_idea": idea, "checked": len(items), "failed": len(failed),
        "failure_rate": (len(failed) / len(items)) if items else 0.0, "reasons": dict(counts),
        "price_range": [check.low, check.high], "window": [context.first_time, context.last_time],
    }


def drawable(answer: ReviewAnswer, grounding: dict[str, Any]) -> list[int]:
    """Indexes of the annotations that passed (only these are drawn)."""
    return [item["index"] for item in grounding["annotations"] if item["ok"]]
