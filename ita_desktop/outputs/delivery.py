"""What a channel's attempt came to: sent (with the far side's reference), retry later, or refused for good."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Delivery:
    """``outcome``: sent, retry or refused; ``detail``: the far side's own words (kept for the window)."""

    outcome: str
    remote_ref: str | None = None
    retry_after: float | None = None
    detail: str = ""


def sent(remote_ref: str | None, detail: str = "") -> Delivery:
    return Delivery("sent", remote_ref=remote_ref, detail=detail)


def retry(detail: str, after: float | None = None) -> Delivery:
    return Delivery("retry", retry_after=after, detail=detail)


def refused(detail: str) -> Delivery:
    return Delivery("refused", detail=detail)
