"""The paths a sweep can vary in one rule, read from the rule itself, and a default grid that runs.

A fixed list of "common" paths offered ``targets.0.r`` for asia_sweep, whose target is a
``first_of`` (its R lives at ``targets.0.first_of.1.r``), so the panel's own default sweep failed.
Here the paths are the rule's numeric fields as written (dotted, list items by index, the same
paths ``ita sweep --set`` takes), and default values are checked against the rule before they are
offered. Qt-free and numba-free: the Backtest panel calls it on the GUI thread when a rule is picked.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from ita_desktop.rules.checks import check_rule
from ita_desktop.rules.schema import Rule
from ita_desktop.rules.yaml_source import SourceMap, parse_yaml

#: Never swept: identity and the instrument table (the market's timeframe is offered by the panel's box).
SKIPPED_ROOTS = ("rule_id", "version", "market")
#: Paths a trader sweeps first, by how their last parts read (the default grid takes the first two found).
PREFERRED_ENDINGS = (".r", "stop.buffer.pips", "expiry.bars", "detectors.swings.length", "break_even_at_r",
                     "detectors.sweeps.max_bars", "within.bars", "risk.percent")
#: Simulation settings any rule can sweep (``settings.<name>``).
SETTINGS_PATHS = ("settings.spread_points", "settings.max_positions", "settings.slippage_points")


def numeric_paths(data: Any, prefix: str = "") -> list[tuple[str, float]]:
    """Every numeric leaf of the rule data as ``(dotted.path, value)``, in file order (booleans are not numbers)."""
    out: list[tuple[str, float]] = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        path = f"{prefix}{key}"
        if not prefix and str(key) in SKIPPED_ROOTS:
            continue
        if isinstance(value, bool):
            continue
        if isinstance(value, (int, float)):
            out.append((path, value))
        elif isinstance(value, (dict, list)):
            out.extend(numeric_paths(value, path + "."))
    return out


def _rank(path: str) -> int:
    for i, ending in enumerate(PREFERRED_ENDINGS):
        if path.endswith(ending):
            return i
    return len(PREFERRED_ENDINGS)


def sweep_paths(text: str, file: str = "<rule>") -> list[str]:
    """The rule's sweepable paths, the most swept first, then ``settings.*``."""
    data, _, issues = parse_yaml(text, file)
    if data is None or not isinstance(data, dict):
        return list(SETTINGS_PATHS)
    found = numeric_paths(data)
    ranked = sorted(range(len(found)), key=lambda k: (_rank(found[k][0]), k))
    return [found[k][0] for k in ranked] + list(SETTINGS_PATHS)


def candidate_values(value: float) -> list[float | int]:
    """Values around the rule's own: integers step by one (at least 1), others x0.5, x1, x1.5, x2."""
    if isinstance(value, int):
        return sorted({max(1, value - 1), max(1, value), value + 1, value + 2}) if value > 0 else [0, 1, 2]
    if value == 0:
        return [0.0, 0.5, 1.0]
    return sorted({round(value * f, 4) for f in (0.5, 1.0, 1.5, 2.0)})


def _with_value(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with an existing dotted ``path`` set (as backtest.sweep.set_path does,
    without importing the simulator on the GUI thread)."""
    out = copy.deepcopy(data)
    node: Any = out
    parts = path.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(parts[-1]) if isinstance(node, list) else parts[-1]] = value
    return out


def _valid(data: dict[str, Any], path: str, value: Any, file: str) -> bool:
    try:
        changed = _with_value(data, path, value)
        Rule.model_validate(changed)
    except (ValidationError, KeyError, IndexError, ValueError, TypeError):
        return False
    return not check_rule(changed, SourceMap(), file)


def accepts(data: dict[str, Any], path: str, value: Any, file: str = "<rule>") -> bool:
    """Whether the rule data with ``path`` set to ``value`` still validates (learning.sweep_proposals' grids)."""
    return _valid(data, path, value, file)


def default_grid(text: str, file: str = "<rule>", rows: int = 2) -> list[tuple[str, str]]:
    """``rows`` grid rows ``(path, "v1, v2, ...")`` for the rule: its most swept paths, each with the
    values around its own that the rule accepts (so the default sweep runs)."""
    data, _, issues = parse_yaml(text, file)
    if data is None or not isinstance(data, dict):
        return []
    values = dict(numeric_paths(data))
    out: list[tuple[str, str]] = []
    for path in sweep_paths(text, file):
        if path not in values:
            continue
        ok = [v for v in candidate_values(values[path]) if _valid(data, path, v, file)]
        if len(ok) >= 2:
            out.append((path, ", ".join(f"{v:g}" for v in ok)))
        if len(out) == rows:
            break
    return out
