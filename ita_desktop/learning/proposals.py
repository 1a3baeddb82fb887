"""The policy updater: a proposed rule version from the statistics, with in-sample and out-of-sample side by side.

Why this shape: a proposal is judged on trades it was not fitted on. The rule's trades are split
by time (the first ``IN_SAMPLE`` share is in-sample, the rest out-of-sample); the statistics by
session, weekday and feature bucket are computed in-sample only; the candidate change is a
``filters.days`` that drops the weekdays whose in-sample expectancy is negative (at least
``MIN_PER_DAY`` trades each, at least two days kept). Its effect is estimated on the current
version's own trades (the dropped days' trades removed), in and out of sample, and the YAML diff
is shown. Nothing is stored here: a proposal becomes a version only when the trader accepts it
(core.rules.save). The estimate ignores that a freed position slot could take another trade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ita_desktop.domain.versioning import next_version, version_diff, with_version
from ita_desktop.learning.dataset import Dataset
from ita_desktop.learning.features import FEATURE_NAMES, SESSIONS

IN_SAMPLE = 0.7
MIN_PER_DAY = 3
DAYS = ("mon", "tue", "wed", "thu", "fri")


def _stats(r: np.ndarray, win: np.ndarray) -> dict[str, Any]:
    n = len(r)
    return {"trades": n, "win_rate": float(win.mean()) if n else None,
            "expectancy_r": float(r.mean()) if n else None, "total_r": float(r.sum())}


def _by(labels: np.ndarray, r: np.ndarray, win: np.ndarray) -> dict[str, dict[str, Any]]:
    return {str(k): _stats(r[labels == k], win[labels == k]) for k in dict.fromkeys(labels.tolist())}


@dataclass
class Proposal:
    rule_id: str
    rule_version: str
    symbol: str
    n_in_sample: int
    n_out_of_sample: int
    stats_in_sample: dict[str, dict[str, dict[str, Any]]]  # by weekday / session / step1 size bucket
    change: str | None  # what the proposal changes (None: no proposal)
    proposed_version: str | None
    in_sample: dict[str, dict[str, Any]] = field(default_factory=dict)  # current | proposed
    out_of_sample: dict[str, dict[str, Any]] = field(default_factory=dict)
    yaml_diff: str = ""
    proposed_text: str = ""
    message: str = ""

    @property
    def kind(self) -> str:
        return "weekday"

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, **self.__dict__}
        d.pop("proposed_text")
        return d


def weekdays(ds: Dataset) -> np.ndarray:
    cols = [FEATURE_NAMES.index(f"weekday_{d}") for d in DAYS]
    onehot = ds.X[:, cols]
    return np.array([DAYS[int(np.argmax(row))] if row.max() > 0 else "weekend" for row in onehot])


def sessions(ds: Dataset) -> np.ndarray:
    cols = [FEATURE_NAMES.index(f"session_{s}") for s in SESSIONS]
    return np.array([SESSIONS[int(np.argmax(row))] for row in ds.X[:, cols]])


def size_buckets(ds: Dataset, edges: np.ndarray) -> np.ndarray:
    x = ds.X[:, FEATURE_NAMES.index("step1_size_atr")]
    return np.array(["small" if v <= edges[0] else "medium" if v <= edges[1] else "large" for v in x])


def with_days(text: str, days: list[str]) -> str:
    """``text`` with ``filters.days`` set to ``days`` (the line replaced, or added under ``filters:``)."""
    line = f"  days: [{', '.join(days)}]"
    lines = text.splitlines()
    try:
        start = next(i for i, s in enumerate(lines) if re.match(r"^filters:\s*$", s))
    except StopIteration:
        return text.rstrip("\n") + f"\n\nfilters:\n{line}\n"
    for i in range(start + 1, len(lines)):
        if lines[i] and not lines[i].startswith((" ", "#")):
            break
        if re.match(r"^\s+days:", lines[i]):
            lines[i] = line
            return "\n".join(lines) + "\n"
    lines.insert(start + 1, line)
    return "\n".join(lines) + "\n"


def propose(ds: Dataset, rule_text: str, taken_versions: list[str]) -> Proposal:
    n = len(ds)
    cut = int(n * IN_SAMPLE)
    ins, oos = slice(0, cut), slice(cut, n)
    day = weekdays(ds)
    edges = np.quantile(ds.X[ins, FEATURE_NAMES.index("step1_size_atr")], [1 / 3, 2 / 3]) if cut else np.zeros(2)
    stats = {"weekday": _by(day[ins], ds.r[ins], ds.win[ins]),
             "session": _by(sessions(ds)[ins], ds.r[ins], ds.win[ins]),
             "step1_size_atr": _by(size_buckets(ds, edges)[ins], ds.r[ins], ds.win[ins])}
    base = Proposal(ds.rule_id, ds.rule_version, ds.symbol, cut, n - cut, stats, None, None)
    bad = [d for d, s in stats["weekday"].items()
           if d in DAYS and s["trades"] >= MIN_PER_DAY and s["expectancy_r"] is not None and s["expectancy_r"] < 0]
    keep = [d for d in DAYS if d not in bad]
    if not bad or len(keep) < 2:
        base.message = ("no proposal: no weekday with a negative in-sample expectancy over at least "
                        f"{MIN_PER_DAY} trades" if not bad else "no proposal: it would keep fewer than two days")
        return base
    kept = np.isin(day, keep)
    base.change = f"filters.days: drop {', '.join(bad)} (negative in-sample expectancy)"
    base.proposed_version = next_version(ds.rule_version, taken_versions)
    base.in_sample = {"current": _stats(ds.r[ins], ds.win[ins]),
                      "proposed": _stats(ds.r[ins][kept[ins]], ds.win[ins][kept[ins]])}
    base.out_of_sample = {"current": _stats(ds.r[oos], ds.win[oos]),
                          "proposed": _stats(ds.r[oos][kept[oos]], ds.win[oos][kept[oos]])}
    new_text = with_version(with_days(rule_text, keep), base.proposed_version)
    base.proposed_text = new_text
    base.yaml_diff = version_diff(ds.rule_id, ds.rule_version, rule_text, base.proposed_version, new_text)
    o = base.out_of_sample
    better = o["proposed"]["expectancy_r"] is not None and o["current"]["expectancy_r"] is not None and \
        o["proposed"]["expectancy_r"] > o["current"]["expectancy_r"]
    base.message = ("out of sample the proposal " + ("improves" if better else "does not improve")
                    + " the expectancy; accept to store it as a new version")
    return base
