"""Sweep-based proposals: one parameter of the rule swept walk-forward, the chosen value judged out-of-sample.

Why this shape: the weekday proposal (learning.proposals) only filters the current version's own
trades; a changed parameter (a minimum FVG size, a step's time window, a target's R, a narrower
killzone) changes which trades exist, so it has to be backtested. For each candidate path the rule itself
holds (``candidate_paths``; a killzone is ``market.sessions.<name>``, the window a step's ``session``
names), a small grid around its own value (each validated) is swept walk-forward with the machinery of
``ita sweep --walk-forward N`` (``workflows.walk_forward.part_edges``: N consecutive windows of equal time,
each swept on its first 1 - ``OOS_FRACTION`` and its chosen value, ranked as ``SweepResult.best`` ranks,
judged on the rest). The proposed value is the one the parts chose most often; it is proposed only when
its in-sample figures (over the parts' in-sample windows, at least ``MIN_TRADES`` trades) beat the
current value's, and out of sample neither it nor the walk-forward's own choices do worse than the
current value; otherwise the result says "no proposal" and why. Every part's figures are kept
(``walk_forward``). Nothing is stored (``sweep_rule`` stores no run, where ``walk_forward_rule`` stores
two per part); the version is written only on acceptance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from ita_desktop.backtest.sweep import SweepResult, set_path
from ita_desktop.domain.versioning import next_version, version_diff, with_version
from ita_desktop.rules.sweep_paths import accepts, candidate_values, numeric_paths
from ita_desktop.rules.yaml_source import parse_yaml
from ita_desktop.workflows.walk_forward import part_edges

WALK_FORWARD_PARTS = 3
OOS_FRACTION = 0.25  # each part's out-of-sample share (walk_forward_rule's default)
SESSIONS_PATH = "market.sessions."
OBJECTIVE = "expectancy_r"
MIN_TRADES = 10
#: Path endings a sweep proposal varies: zone size filters, a step's time window, a target's R.
CANDIDATE_ENDINGS = ("min_size.atr", "min_size.pips", "within.bars", ".r")
STAT_KEYS = ("trades", "win_rate", "expectancy_r", "profit_factor", "net_pnl")

#: ``sweep({path: values}, start_utc, end_utc) -> rows`` (workflows.rule_backtest.sweep_rule's rows).
Sweep = Callable[[dict[str, list[Any]], int, int], list[dict[str, Any]]]


def candidate_paths(text: str, file: str = "<rule>") -> list[str]:
    """The rule's numeric paths a sweep proposal varies (``CANDIDATE_ENDINGS``), in file order."""
    data, _, _ = parse_yaml(text, file)
    if not isinstance(data, dict):
        return []
    return [p for p, _ in numeric_paths(data) if p.endswith(CANDIDATE_ENDINGS)]


def _values_around(path: str, value: Any) -> list[Any]:
    """A step's time window in bars: half, three quarters, all and one and a half of it (a narrower window
    is the usual question); other paths: rules.sweep_paths' values around the rule's own."""
    if path.endswith("within.bars") and isinstance(value, int) and value > 1:
        return sorted({max(1, round(value * f)) for f in (0.5, 0.75, 1.0, 1.5)})
    return candidate_values(value)


def _minutes(hhmm: str) -> int:
    h, m = str(hhmm).split(":")
    return int(h) * 60 + int(m)


def _hhmm(minutes: int) -> str:
    minutes %= 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def narrower_windows(window: tuple[str, str]) -> list[list[str]]:
    """A killzone and narrower ones: a quarter of it (rounded to 15 minutes) off the start, off the end, off
    both (the window itself first; a window may cross midnight)."""
    s, e = _minutes(window[0]), _minutes(window[1])
    length = (e - s) % 1440 or 1440
    q = max(15, round(length / 4 / 15) * 15)
    out = [[_hhmm(s), _hhmm(e)]]
    for a, b in ((q, 0), (0, q), (q, q)):
        if length - a - b >= 15:
            out.append([_hhmm(s + a), _hhmm(e - b)])
    return out


def killzones(data: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The session windows the rule's steps name (``session:``), the initial balance aside, with their bounds."""
    from ita_desktop.rules.vocabulary import DEFAULT_SESSION_WINDOWS, IB_WINDOW

    market = data.get("market") if isinstance(data.get("market"), dict) else {}
    own = market.get("sessions") if isinstance(market.get("sessions"), dict) else {}
    windows = {**DEFAULT_SESSION_WINDOWS, **{k: tuple(v) for k, v in own.items() if isinstance(v, list)}}
    out: dict[str, tuple[str, str]] = {}
    for step in data.get("steps") or []:
        name = step.get("session") if isinstance(step, dict) else None
        if isinstance(name, str) and name != IB_WINDOW and name in windows:
            out.setdefault(name, (str(windows[name][0]), str(windows[name][1])))
    return out


def candidate_grid(text: str, file: str = "<rule>") -> dict[str, list[Any]]:
    """Each candidate path with the values around its own that the rule validates (its own included; a killzone's
    values are ``[start, end]`` windows)."""
    data, _, _ = parse_yaml(text, file)
    if not isinstance(data, dict):
        return {}
    values = dict(numeric_paths(data))
    out: dict[str, list[Any]] = {}
    for path in candidate_paths(text, file):
        ok = [v for v in _values_around(path, values[path]) if accepts(data, path, v, file)]
        if len(ok) >= 2 and values[path] in ok:
            out[path] = ok
    for name, window in killzones(data).items():
        path = SESSIONS_PATH + name
        own = set_path(data, path, list(window))  # a default window the rule does not spell: the path made
        ok = [w for w in narrower_windows(window) if accepts(own, path, w, file)]
        if len(ok) >= 2:
            out[path] = ok
    return out


def current_value(text: str, path: str) -> Any:
    """The rule's own value at a candidate path (a killzone: its window, the default's when the rule has none)."""
    data, _, _ = parse_yaml(text, "<rule>")
    if path.startswith(SESSIONS_PATH):
        return list(killzones(data)[path[len(SESSIONS_PATH):]])
    return dict(numeric_paths(data))[path]


def fmt_value(v: Any) -> str:
    """A candidate value as the proposal shows it: ``0.25``, ``02:45-05:00``."""
    return f"{v[0]}-{v[1]}" if isinstance(v, (list, tuple)) else f"{v:g}"


def _key(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def set_window(text: str, name: str, window: list[str]) -> str:
    """``text`` with ``market.sessions.<name>`` set to ``window`` (the entry replaced in place, or added under
    ``market.sessions``, or a ``sessions:`` block added at the end of ``market``); comments and layout kept."""
    flow = f'["{window[0]}", "{window[1]}"]'
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    market = next(v for k, v in root.value if k.value == "market")
    sessions = next((v for k, v in market.value if k.value == "sessions"), None)
    if isinstance(sessions, yaml.MappingNode):
        node = next((v for k, v in sessions.value if k.value == name), None)
        if node is not None:
            return text[:node.start_mark.index] + flow + text[node.end_mark.index:]
        indent, after = sessions.value[0][0].start_mark.column, sessions.value[-1][1]
        lines = f"{' ' * indent}{name}: {flow}"
    else:
        indent, after = market.value[0][0].start_mark.column, market.value[-1][1]
        lines = f"{' ' * indent}sessions:\n{' ' * (2 * indent)}{name}: {flow}"
    pos = after.end_mark.index
    while pos > 0 and text[pos - 1] in " \n":
        pos -= 1
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    return text[:end] + "\n" + lines + text[end:]


def with_value(text: str, path: str, value: Any) -> str:
    """``text`` with the candidate ``path`` set to ``value`` (a scalar in place, or a killzone's window)."""
    if path.startswith(SESSIONS_PATH):
        return set_window(text, path[len(SESSIONS_PATH):], value)
    return set_scalar(text, path, value)


def set_scalar(text: str, path: str, value: Any) -> str:
    """``text`` with the scalar at dotted ``path`` replaced in place (comments and layout kept, as
    domain.versioning.with_version does for the version)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for part in path.split("."):
        if isinstance(node, yaml.SequenceNode):
            node = node.value[int(part)]
        elif isinstance(node, yaml.MappingNode):
            node = next(v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part)
        else:
            raise KeyError(path)
    if not isinstance(node, yaml.ScalarNode):
        raise KeyError(path)
    return text[:node.start_mark.index] + f"{value:g}" + text[node.end_mark.index:]


def _clean(v: Any) -> Any:
    """NaN/inf (no trades, no losses) as None, so the JSON stays JSON."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _stats(row: dict[str, Any] | None) -> dict[str, Any]:
    """The sweep row's figures, plus ``total_r`` (trades x expectancy) as the weekday proposal reports."""
    out = {k: _clean((row or {}).get(k)) for k in STAT_KEYS}
    out["trades"] = out["trades"] or 0
    out["total_r"] = out["trades"] * out["expectancy_r"] if out["trades"] and out["expectancy_r"] is not None else 0.0
    return out


def combined(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures of several windows' ``_stats`` taken together: trades, total R and money add up; win rate and
    expectancy are per trade over all of them; a profit factor does not add up from the parts (None)."""
    trades = sum(p["trades"] for p in parts)
    total_r = sum(p["total_r"] for p in parts)
    wins = sum((p["win_rate"] or 0.0) * p["trades"] for p in parts)
    return {"trades": trades, "win_rate": wins / trades if trades else None,
            "expectancy_r": total_r / trades if trades else None, "profit_factor": None,
            "net_pnl": sum(p["net_pnl"] or 0.0 for p in parts), "total_r": total_r}


@dataclass
class SweepProposal:
    """One swept path: every value's in-sample and out-of-sample figures, the choice, and the new version."""

    rule_id: str
    rule_version: str
    symbol: str
    path: str
    current_value: Any
    in_sample_range: tuple[int, int]  # [start, end) UTC
    out_of_sample_range: tuple[int, int]
    objective: str = OBJECTIVE
    min_trades: int = MIN_TRADES
    rows: list[dict[str, Any]] = field(default_factory=list)  # value, in_sample, out_of_sample
    change: str | None = None
    proposed_value: Any = None
    proposed_version: str | None = None
    in_sample: dict[str, dict[str, Any]] = field(default_factory=dict)  # current | proposed
    out_of_sample: dict[str, dict[str, Any]] = field(default_factory=dict)
    yaml_diff: str = ""
    proposed_text: str = ""
    message: str = ""
    parts: int = WALK_FORWARD_PARTS
    oos_fraction: float = OOS_FRACTION
    #: each part: its windows, the value its in-sample sweep chose, and the current and chosen values' figures
    walk_forward: list[dict[str, Any]] = field(default_factory=list)
    #: the walk-forward's own figures: each part's chosen value on its in-sample and its out-of-sample window
    walk_forward_result: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return f"sweep:{self.path}"

    def to_dict(self) -> dict[str, Any]:
        d = {"kind": self.kind, **self.__dict__}
        d.pop("proposed_text")
        d["in_sample_range"], d["out_of_sample_range"] = list(self.in_sample_range), list(self.out_of_sample_range)
        return d


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def part_min_trades(parts: int) -> int:
    """The trades a value needs in one part's in-sample window to be chosen there (MIN_TRADES spread over the parts:
    one lucky trade must not win a part)."""
    return max(1, math.ceil(MIN_TRADES / parts))


def _chosen(rows: dict[Any, dict[str, Any]], values: list[Any], parts: int) -> Any:
    """The value a part's in-sample sweep chose, ranked as ``SweepResult.best`` (``ita sweep --walk-forward``) ranks
    among the values with ``part_min_trades`` trades; None when none has."""
    enough = [rows[_key(v)] for v in values
              if _key(v) in rows and (rows[_key(v)].get("trades") or 0) >= part_min_trades(parts)]
    best = SweepResult(OBJECTIVE, enough).best()
    return None if best is None or _num(best.get(OBJECTIVE)) is None else best["__value"]


def propose_path(rule_text: str, rule_id: str, rule_version: str, symbol: str, path: str, values: list[Any],
                 first: int, end: int, sweep: Sweep, taken_versions: list[str], parts: int = WALK_FORWARD_PARTS,
                 oos_fraction: float = OOS_FRACTION) -> SweepProposal:
    """The proposal (or the reasoned absence of one) for one path swept walk-forward over ``values``."""
    current = current_value(rule_text, path)
    edges = part_edges(first, end, parts, oos_fraction)
    p = SweepProposal(rule_id, rule_version, symbol, path, current, (edges[0][0], edges[-1][1]), (edges[0][1], end),
                      parts=parts, oos_fraction=oos_fraction)
    ins_parts, oos_parts, choices = [], [], []
    for k, (a, b, c) in enumerate(edges):
        ins = {_key(r[path]): {**r, "__value": r[path]} for r in sweep({path: list(values)}, a, b)}
        oos = {_key(r[path]): r for r in sweep({path: list(values)}, b, c)}
        chosen = _chosen(ins, values, parts)
        ins_parts.append(ins)
        oos_parts.append(oos)
        choices.append(chosen)
        p.walk_forward.append({
            "part": k + 1, "parts": parts, "in_sample": [a, b], "out_of_sample": [b, c], "chosen": chosen,
            "in": {"current": _stats(ins.get(_key(current))), "chosen": _stats(ins.get(_key(chosen)))},
            "out": {"current": _stats(oos.get(_key(current))), "chosen": _stats(oos.get(_key(chosen)))}})

    def over(tables: list[dict[Any, dict[str, Any]]], v: Any) -> dict[str, Any]:
        return combined([_stats(t.get(_key(v))) for t in tables])

    p.rows = [{"value": v, "in_sample": over(ins_parts, v), "out_of_sample": over(oos_parts, v)} for v in values]
    p.walk_forward_result = {"in_sample": combined([w["in"]["chosen"] for w in p.walk_forward]),
                             "out_of_sample": combined([w["out"]["chosen"] for w in p.walk_forward])}
    picked = [c for c in choices if c is not None]
    cur_in = over(ins_parts, current)
    if not picked:
        p.message = (f"no proposal: too few trades in-sample (no value of {path} has {part_min_trades(parts)} or more "
                     f"in any part's in-sample window; the current one has {cur_in['trades']} over all of them)")
        return p
    counts = {_key(c): sum(_key(x) == _key(c) for x in picked) for c in picked}
    top = max(counts.values())
    best = next(c for c in reversed(picked) if counts[_key(c)] == top)  # ties: the latest part's choice
    best_in = over(ins_parts, best)
    p.in_sample = {"current": cur_in, "proposed": best_in}
    p.out_of_sample = {"current": over(oos_parts, current), "proposed": over(oos_parts, best)}
    chosen_in = f"chosen in {top} of {parts} walk-forward parts"
    if best_in["trades"] < MIN_TRADES:
        p.message = (f"no proposal: too few trades in-sample ({path} = {fmt_value(best)}, {chosen_in}, has "
                     f"{best_in['trades']}; at least {MIN_TRADES} needed; the current one has {cur_in['trades']})")
        return p
    if _key(best) == _key(current):
        p.message = f"no proposal: the current {path} = {fmt_value(current)} is already the best in-sample ({chosen_in})"
        return p
    cur_is = cur_in["expectancy_r"]
    if cur_is is not None and best_in["expectancy_r"] <= cur_is:
        p.message = f"no proposal: no value of {path} beats the current {fmt_value(current)} in-sample"
        return p
    o_new, o_cur = p.out_of_sample["proposed"]["expectancy_r"], p.out_of_sample["current"]["expectancy_r"]
    o_wf = p.walk_forward_result["out_of_sample"]["expectancy_r"]
    if o_new is None:
        p.message = f"no proposal: {path} = {fmt_value(best)} has no out-of-sample trades to judge it on"
        return p
    if o_cur is not None and (o_new < o_cur or (o_wf is not None and o_wf < o_cur)):
        p.message = (f"no proposal: {path} = {fmt_value(best)} is better in-sample but worse out-of-sample "
                     f"({o_new:+.2f}R, walk-forward {o_wf if o_wf is not None else float('nan'):+.2f}R vs "
                     f"{o_cur:+.2f}R per trade)")
        return p
    p.proposed_value = best
    p.change = (f"{path}: {fmt_value(current)} -> {fmt_value(best)} (best in-sample {OBJECTIVE}, {chosen_in}, "
                f">= {MIN_TRADES} trades)")
    p.proposed_version = next_version(rule_version, taken_versions)
    p.proposed_text = with_version(with_value(rule_text, path, best), p.proposed_version)
    p.yaml_diff = version_diff(rule_id, rule_version, rule_text, p.proposed_version, p.proposed_text)
    p.message = "in-sample better and out-of-sample not worse, walk-forward; accept to store it as a new version"
    return p


def propose_sweeps(rule_text: str, rule_id: str, rule_version: str, symbol: str, first: int, end: int,
                   sweep: Sweep, taken_versions: list[str], file: str = "<rule>",
                   parts: int = WALK_FORWARD_PARTS) -> list[SweepProposal]:
    """One ``SweepProposal`` per candidate path of the rule (each with a change or the reason for none)."""
    return [propose_path(rule_text, rule_id, rule_version, symbol, path, values, first, end, sweep, taken_versions,
                         parts)
            for path, values in candidate_grid(rule_text, file).items()]
