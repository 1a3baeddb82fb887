"""What the model's opinion is worth on the trader's own setups: accuracy against the base rate, calibration.

Each reviewed occurrence has an outcome the backtest knows: a winning trade means price went the
trade's way, a losing one the other way. The model's ``bias`` is a direction call (neutral: no
call) and its ``confidence`` a probability that the call is right, so P(up) is the confidence for
a bullish call, one minus it for a bearish one, and 0.5 for neutral. Scored with the Brier score
and a reliability table; the base rate is what always calling the more frequent direction scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0000001)


@dataclass
class Case:
    """One reviewed occurrence: the model's answer (None if the review failed) and the realised direction."""

    answer: dict[str, Any] | None
    grounding: dict[str, Any] | None
    went_up: bool
    trade_direction: str  # "long" or "short"
    error_kind: str | None = None


def p_up(answer: dict[str, Any]) -> float:
    confidence = float(answer["confidence"])
    return {"bullish": confidence, "bearish": 1.0 - confidence}.get(answer["bias"], 0.5)


def evaluate(cases: list[Case]) -> dict[str, Any]:
    answered = [c for c in cases if c.answer is not None]
    calls = [c for c in answered if c.answer["bias"] != "neutral"]
    right = sum((c.answer["bias"] == "bullish") == c.went_up for c in calls)
    ups = sum(c.went_up for c in answered)
    base = max(ups, len(answered) - ups) / len(answered) if answered else None
    brier = (sum((p_up(c.answer) - float(c.went_up)) ** 2 for c in answered) / len(answered)) if answered else None
    table = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        inside = [c for c in answered if lo <= p_up(c.answer) < hi]
        table.append({"p_up_from": lo, "p_up_to": min(hi, 1.0), "n": len(inside),
                      "mean_p_up": (sum(p_up(c.answer) for c in inside) / len(inside)) if inside else None,
                      "observed_up": (sum(c.went_up for c in inside) / len(inside)) if inside else None})
    checked = sum(c.grounding["checked"] for c in answered if c.grounding)
    failed = sum(c.grounding["failed"] for c in answered if c.grounding)
    agrees = sum((c.answer["bias"] == "bullish") == (c.trade_direction == "long") for c in calls)
    errors: dict[str, int] = {}
    for c in cases:
        if c.error_kind:
            errors[c.error_kind] = errors.get(c.error_kind, 0) + 1
    return {
        "occurrences": len(cases), "answered": len(answered), "failed_reviews": errors,
        "direction_calls": len(calls), "neutral": len(answered) - len(calls),
        "direction_accuracy": (right / len(calls)) if calls else None,
        "base_rate": base, "rule_win_rate": (sum(c.went_up == (c.trade_direction == "long") for c in cases) / len(cases))
        if cases else None,
        "agrees_with_rule": (agrees / len(calls)) if calls else None,
        "brier": brier, "brier_of_coin_flip": 0.25, "reliability": table,
        "grounding_failure_rate": (failed / checked) if checked else None,
        "grounding_checked": checked, "grounding_failed": failed,
    }
