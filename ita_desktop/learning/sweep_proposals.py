"""Sweep-based proposals: one parameter of the rule swept in-sample, the chosen value judged out-of-sample.

Why this shape: the weekday proposal (learning.proposals) only filters the current version's own
trades; a changed parameter (a minimum FVG size, a step's time window, a target's R) changes which
trades exist, so it has to be backtested. For each candidate path the rule itself holds
(``candidate_paths``), a small grid around its own value (rules.sweep_paths' values, each validated)
is swept with ``workflows.rule_backtest.sweep_rule`` on the first ``IN_SAMPLE`` share of the stored
time range and again on the rest. In-sample the best value by ``OBJECTIVE`` among those with at least
``MIN_TRADES`` trades is chosen; it is proposed only when it beats the current value in-sample AND
does not do worse out-of-sample; otherwise the result says "no proposal" and why. One anchored split
(not N walk-forward parts) because a proposal is one version: N parts would each choose their own
value. Nothing is stored (sweep_rule stores no run); the version is written only on acceptance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from ita_desktop.domain.versioning import next_version, version_diff, with_version
from ita_desktop.rules.sweep_paths import accepts, candidate_values, numeric_paths
from ita_desktop.rules.yaml_source import parse_yaml

IN_SAMPLE = 0.7
OBJECTIVE = "expectancy_r"
MIN_TRADES = 10
#: Path endings a sweep proposal varies: zone size filters, a step's time window, a target's R.
CANDIDATE_ENDINGS = ("min_size.atr", "min_size.pips", "within.bars", ".r")
STAT_KEYS = ("trades", "win_rate", "expectancy_r", "profit_factor", "net_pnl")

#: ``sweep(grid_item, start_utc, end_utc) -> rows`` (workflows.rule_backtest.sweep_rule's rows).
Sweep = Callable[[str, int, int], list[dict[str, Any]]]


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


def candidate_grid(text: str, file: str = "<rule>") -> dict[str, list[Any]]:
    """Each candidate path with the values around its own that the rule validates (its own included)."""
    data, _, _ = parse_yaml(text, file)
    if not isinstance(data, dict):
        return {}
    values = dict(numeric_paths(data))
    out = {}
    for path in candidate_paths(text, file):
        ok = [v for v in _values_around(path, values[path]) if accepts(data, path, v, file)]
        if len(ok) >= 2 and values[path] in ok:
            out[path] = ok
    return out


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
    out["total_r"] = out["trades"] * out["expectancy_r"] if out["trades"] and out["expectancy_r"] is not None else 0.0
    return out


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


def propose_path(rule_text: str, rule_id: str, rule_version: str, symbol: str, path: str, values: list[Any],
                 first: int, end: int, sweep: Sweep, taken_versions: list[str]) -> SweepProposal:
    """The proposal (or the reasoned absence of one) for one path swept over ``values``."""
    data, _, _ = parse_yaml(rule_text, "<rule>")
    current = dict(numeric_paths(data))[path]
    split = int(first + (end - first) * IN_SAMPLE)
    p = SweepProposal(rule_id, rule_version, symbol, path, current, (first, split), (split, end))
    item = f"{path}={','.join(f'{v:g}' for v in values)}"
    ins = {r[path]: r for r in sweep(item, first, split)}
    oos = {r[path]: r for r in sweep(item, split, end)}
    p.rows = [{"value": v, "in_sample": _stats(ins.get(v)), "out_of_sample": _stats(oos.get(v))} for v in values]
    cur_in, cur_out = ins.get(current), oos.get(current)
    eligible = [v for v in values if (ins.get(v) or {}).get("trades", 0) >= MIN_TRADES
                and _num(ins[v].get(OBJECTIVE)) is not None]
    if not eligible:
        p.message = (f"no proposal: too few trades in-sample (no value of {path} has {MIN_TRADES} or more; "
                     f"the current one has {(cur_in or {}).get('trades', 0)})")
        return p
    best = max(eligible, key=lambda v: (_num(ins[v][OBJECTIVE]), v == current))
    p.in_sample = {"current": _stats(cur_in), "proposed": _stats(ins[best])}
    p.out_of_sample = {"current": _stats(cur_out), "proposed": _stats(oos.get(best))}
    cur_is = _num((cur_in or {}).get(OBJECTIVE))
    if best == current:
        p.message = f"no proposal: the current {path} = {current:g} is already the best in-sample"
        return p
    if cur_is is not None and _num(ins[best][OBJECTIVE]) <= cur_is:  # type: ignore[operator]
        p.message = f"no proposal: no value of {path} beats the current {current:g} in-sample"
        return p
    o_new, o_cur = _num((oos.get(best) or {}).get(OBJECTIVE)), _num((cur_out or {}).get(OBJECTIVE))
    if o_new is None:
        p.message = f"no proposal: {path} = {best:g} has no out-of-sample trades to judge it on"
        return p
    if o_cur is not None and o_new < o_cur:
        p.message = (f"no proposal: {path} = {best:g} is better in-sample but worse out-of-sample "
                     f"({o_new:+.2f}R vs {o_cur:+.2f}R per trade)")
        return p
    p.proposed_value = best
    p.change = f"{path}: {current:g} -> {best:g} (best in-sample {OBJECTIVE} with >= {MIN_TRADES} trades)"
    p.proposed_version = next_version(rule_version, taken_versions)
    p.proposed_text = with_version(set_scalar(rule_text, path, best), p.proposed_version)
    p.yaml_diff = version_diff(rule_id, rule_version, rule_text, p.proposed_version, p.proposed_text)
    p.message = ("in-sample better and out-of-sample not worse; accept to store it as a new version")
    return p


def propose_sweeps(rule_text: str, rule_id: str, rule_version: str, symbol: str, first: int, end: int,
                   sweep: Sweep, taken_versions: list[str], file: str = "<rule>") -> list[SweepProposal]:
    """One ``SweepProposal`` per candidate path of the rule (each with a change or the reason for none)."""
    return [propose_path(rule_text, rule_id, rule_version, symbol, path, values, first, end, sweep, taken_versions)
            for path, values in candidate_grid(rule_text, file).items()]
