"""The notification's similar-setups line: the k nearest past setups of a fresh signal's rule, asked of the
existing ChromaDB collection with the vector the live session put in the signal's outbox payload.

Why in the sender and not at raise time: opening ChromaDB takes seconds and a query ~10 ms, so it must not
sit in the transaction that stores the signal. The sender asks just before the first attempt and writes the
line into every outbox row of the signal (``Outbox.settle_field``): a retry, a restart or the signal's other
channel sends the same words. The index is opened on a thread of its own when the sender starts; when it is
not open within ``wait_s``, missing, of another rule version, or the query fails, the line is empty (said in
the log) and the notification goes without it. The collection is never rebuilt here (that takes a dataset).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger("ita.outputs")

SIGNAL_K = 10  # neighbours per signal (the Signals panel shows as many)
FIELD = "similar"  # the payload's key for the line ("" when it could not be said)


def similar_line(neighbours: list[Any]) -> str:
    """"Similar past setups (10, similarity 0.82): win rate 60%, average +0.42R"; a Neighbour has win, outcome_r,
    similarity."""
    if not neighbours:
        return "Similar past setups: none of this rule yet"
    n = len(neighbours)
    win = sum(bool(x.win) for x in neighbours) / n
    avg_r = sum(float(x.outcome_r) for x in neighbours) / n
    sim = sum(float(x.similarity) for x in neighbours) / n
    return f"Similar past setups ({n}, similarity {sim:.2f}): win rate {win:.0%}, average {avg_r:+.2f}R"


class SimilarLines:
    """The sender's ``annotate`` hook: settles the similar-setups line of each due signal row that lacks one."""

    def __init__(self, open_index: Callable[[], Any], outbox: Any, *, k: int = SIGNAL_K, wait_s: float = 0.25,
                 exists: Callable[[], bool] | None = None) -> None:
        """``exists``: whether any collection was ever built (a file test); until it is, ChromaDB is not loaded
        at all (a trader who never indexed pays nothing), and once it is, the index opens on its thread."""
        self._open_index, self.outbox, self.k, self.wait_s = open_index, outbox, k, wait_s
        self._exists = exists or (lambda: True)
        self._index: Any = None
        self.ready = threading.Event()
        self.query_ms: list[float] = []  # each query's time (the benchmark reads it)
        self._opening = False
        self._open()

    def _open(self) -> None:
        if self._opening or not self._exists():
            return
        self._opening = True
        threading.Thread(target=self._warm, name="similar-index-open", daemon=True).start()

    def _warm(self) -> None:
        try:
            self._index = self._open_index()
        except Exception:  # noqa: BLE001 - notifications go without the line
            log.warning("similar setups: the index could not be opened; notifications go without the line",
                        exc_info=True)
        finally:
            self.ready.set()

    def line(self, payload: dict[str, Any]) -> str:
        """The line for a signal payload ("" when it cannot be said; the reason is logged)."""
        import time

        what = f"{payload.get('rule_id')} v{payload.get('rule_version')} on {payload.get('symbol')}"
        self._open()
        if not self._opening:
            log.info("similar setups for %s: no collection (run `ita learn index`); sent without the line", what)
            return ""
        if not self.ready.wait(self.wait_s) or self._index is None:
            log.info("similar setups for %s: the index is not open yet; sent without the line", what)
            return ""
        entry = self._index.entry(payload["rule_id"], payload["symbol"])
        if entry is None:
            log.info("similar setups for %s: no collection (run `ita learn index`); sent without the line", what)
            return ""
        if str(entry.get("rule_version")) != str(payload.get("rule_version")):
            log.info("similar setups for %s: the collection holds v%s (stale); sent without the line", what,
                     entry.get("rule_version"))
            return ""
        t0 = time.perf_counter()
        found = self._index.similar(payload["rule_id"], payload["symbol"], np.asarray(payload["features"], np.float32),
                                    int(payload["signal_time"]), self.k)
        self.query_ms.append((time.perf_counter() - t0) * 1e3)
        return similar_line(found)

    def __call__(self, rows: list[Any]) -> list[Any]:
        """``rows`` with the line settled in the payload of each signal row carrying a feature vector."""
        settled: dict[str, str] = {}
        for row in rows:
            p = row.payload
            if row.event != "signal" or "features" not in p or FIELD in p:
                continue
            if row.signal_key not in settled:
                try:
                    text = self.line(p)
                except Exception:  # noqa: BLE001 - a failed query costs the line, never the notification
                    log.warning("similar setups for signal %s failed; sent without the line", row.signal_key,
                                exc_info=True)
                    text = ""
                settled[row.signal_key] = self.outbox.settle_field(row.signal_key, "signal", FIELD, text)
            p[FIELD] = settled[row.signal_key]
        return rows
