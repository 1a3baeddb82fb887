"""Answers a scripted stand-in model gives, built from a real review context (prices, times, ids it was sent)."""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image

from ita_desktop.domain.clock import utc_iso


def tiny_png(size: tuple[int, int] = (64, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 30, 40)).save(out, "PNG")
    return out.getvalue()


def valid_answer(context: Any, **changes: Any) -> dict[str, Any]:
    """A grounded answer: a level and a zone on visible prices, an arrow, a label on a sent id, a long idea."""
    low, high = context.price_low, context.price_high
    mid = (low + high) / 2
    first, last = utc_iso(context.first_time), utc_iso(context.last_time)
    ref = next(iter(context.objects), None)
    answer = {
        "bias": "bullish", "confidence": 0.62,
        "summary": "Price swept the lows and reclaimed them; the nearest gap above is the draw.",
        "annotations": [
            {"kind": "level", "text": "draw on liquidity", "price": high, "price2": None, "time": None, "time2": None,
             "ref_id": None},
            {"kind": "zone", "text": "demand", "price": mid, "price2": low, "time": first, "time2": last, "ref_id": ref},
            {"kind": "arrow", "text": "expected path", "price": high, "price2": mid, "time": first, "time2": last,
             "ref_id": None},
            {"kind": "label", "text": "sweep", "price": low, "price2": None, "time": last, "time2": None, "ref_id": ref},
        ],
        "trade_idea": {"direction": "long", "entry": mid, "stop": low, "targets": [high], "invalidation": "close below the low"},
        "risks": ["news at the top of the hour"],
    }
    answer.update(changes)
    return answer


def as_text(answer: dict[str, Any]) -> str:
    return json.dumps(answer)
