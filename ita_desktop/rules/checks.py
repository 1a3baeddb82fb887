"""Checks that span more than one key: references between steps and impossible combinations.

They run on the raw YAML data (with its :class:`SourceMap`), not on the validated model, so a
file with a typo in one place still gets its reference mistakes reported elsewhere: the
trader sees every problem in one pass. Each check only looks at values of the right type;
wrong types are the schema's to report, so nothing is reported twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.rule_issues import RuleIssue, described
from ita_desktop.rules.schema import STEP_MODELS
from ita_desktop.rules.vocabulary import (
    DEFAULT_SESSION_WINDOWS,
    DIRECTED_EVENTS,
    EXTREME_EVENTS,
    IB_WINDOW,
    ZONE_EVENTS,
    did_you_mean,
    resolve_level,
)
from ita_desktop.rules.yaml_source import Path_, SourceMap, describe_path as _where


#: Detector parameter groups a rule may set (the canonical names of DetectorParams.from_dict).
DETECTOR_GROUPS = ("swings", "structure", "fvg", "order_blocks", "displacement", "equal", "sweeps")


# Every number a detector group takes: (whole number?, lowest, highest, lowest excluded?). The detectors
# check less, and in Python's words; swings.length 2147483648 asked for 64 GiB.
DETECTOR_NUMBERS: dict[str, dict[str, tuple[bool, float, float, bool]]] = {
    "swings": {"length": (True, 1, 500, False)},
    "order_blocks": {"lookback": (True, 1, 10_000, False), "displacement_k": (False, 0, 100, True)},
    "sweeps": {"max_bars": (True, 0, 10_000, False)},
    "displacement": {"k": (False, 0, 100, True), "min_body_ratio": (False, 0, 1, False)},
    "fvg": {"min_size": (False, 0, 1_000_000, False), "min_atr": (False, 0, 100, False)},
    "equal": {"tolerance": (False, 0, 1_000_000, False), "tolerance_atr": (False, 0, 100, False),
              "max_bars": (True, 1, 100_000, False), "max_swings": (True, 1, 256, False)},
}
DETECTOR_FLAGS = {("fvg", "middle_confirms")}
DETECTOR_WORDS = {("swings", "ties"), ("structure", "break_on"), ("order_blocks", "candle")}
ATR_LENGTH_MAX = 1_000


def _number_problem(value: Any, whole: bool, lo: float, hi: float, lo_open: bool) -> str | None:
    """What is wrong with a detector number, in the trader's words; None when it is fine."""
    kind = "a whole number" if whole else "a number"
    bound = f"above {lo:g}" if lo_open else f"from {lo:g}"
    wanted = f"expected {kind} {bound} to {hi:g}"
    if not _is_num(value) or (whole and not isinstance(value, int)) or value != value:
        return f"{wanted}, got {described(value)}"
    if value > hi or value < lo or (lo_open and value == lo):
        return f"{wanted}, got {described(value)}"
    return None


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


@dataclass
class _Steps:
    """The steps that are well-formed enough to refer to: name -> (index, event)."""

    index: dict[str, int] = field(default_factory=dict)
    event: dict[str, str] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)


@dataclass
class _Checker:
    data: dict[str, Any]
    smap: SourceMap
    file: str
    issues: list[RuleIssue] = field(default_factory=list)
    steps: _Steps = field(default_factory=_Steps)
    windows: list[str] = field(default_factory=list)

    # -- reporting -------------------------------------------------------------------------
    def at_value(self, path: Path_, message: str) -> None:
        p = self.smap.value(path)
        self.issues.append(RuleIssue(p.line, p.column, message, self.file))

    def at_key(self, path: Path_, message: str) -> None:
        p = self.smap.key(path)
        self.issues.append(RuleIssue(p.line, p.column, message, self.file))

    # -- shared pieces ---------------------------------------------------------------------
    def one_of(self, path: Path_, names: Sequence[str], *, required: bool) -> str | None:
        """Exactly (or at most) one of ``names`` under the mapping at ``path``; the one given."""
        d = _dict(self._get(path))
        given = [n for n in names if d.get(n) is not None]
        choices = ", ".join(names)
        if len(given) > 1:
            self.at_key(path + (given[1],), f"{given[0]!r} and {given[1]!r} cannot be used together; give one of {choices}")
        elif required and not given and isinstance(self._get(path), dict):
            self.at_key(path, f"{_where(path)} needs one of {choices}")
        return given[0] if given else None

    def _get(self, path: Path_) -> Any:
        cur: Any = self.data
        for part in path:
            if isinstance(part, int) and isinstance(cur, list) and part < len(cur):
                cur = cur[part]
            elif isinstance(part, str) and isinstance(cur, dict) and part in cur:
                cur = cur[part]
            else:
                return None
        return cur

    def step_ref(self, path: Path_, *, before: int | None, role: str) -> str | None:
        """A reference to a step: must exist and (when ``before`` is given) come earlier."""
        name = self._get(path)
        if not isinstance(name, str):
            return None
        if name not in self.steps.index:
            known = [n for n in self.steps.names if before is None or self.steps.index[n] < before]
            hint = did_you_mean(name, self.steps.names)
            listed = f"; {'earlier steps' if before is not None else 'steps'}: {', '.join(known)}" if known and not hint else ""
            self.at_value(path, f"{role} refers to step {name!r}, which does not exist{hint}{listed}")
            return None
        idx = self.steps.index[name]
        if before is not None and idx >= before:
            what = "itself" if idx == before else "a later step"
            self.at_value(path, f"{role} refers to {what} {name!r}; it can only refer to a step before it")
            return None
        return name

    def directed(self, path: Path_, name: str | None, role: str) -> None:
        if name is not None and self.steps.event[name] not in DIRECTED_EVENTS | {"?"}:
            self.at_value(path, f"{role} step {name!r} is a {self.steps.event.get(name)} step, which has no direction")

    def distance(self, path: Path_, units: Sequence[str]) -> None:
        if isinstance(self._get(path), dict):
            self.one_of(path, units, required=True)

    # -- sections --------------------------------------------------------------------------
    def market(self) -> None:
        m = _dict(self.data.get("market"))
        sessions = _dict(m.get("sessions"))
        self.windows = list(DEFAULT_SESSION_WINDOWS) + [k for k in sessions if k not in DEFAULT_SESSION_WINDOWS and k != IB_WINDOW]
        self.windows.append(IB_WINDOW)
        if IB_WINDOW in sessions:
            self.at_key(("market", "sessions", IB_WINDOW), "the ib window is set with market.initial_balance, not market.sessions")
        for name, window in sessions.items():
            self._window(("market", "sessions", name), window, f"session window {name!r}")
        self._window(("market", "initial_balance"), m.get("initial_balance"), "the initial balance")
        tf, data_tf = _tf(m.get("timeframe")), _tf(m.get("data_timeframe", "M1"))
        if tf and data_tf:
            if tf.minutes < data_tf.minutes:
                self.at_value(("market", "timeframe"), f"timeframe {tf.value} is below the data timeframe {data_tf.value}; "
                              "a setup cannot run on bars finer than the data")
            elif tf.minutes % data_tf.minutes:
                self.at_value(("market", "timeframe"), f"timeframe {tf.value} is not a whole multiple of the data timeframe {data_tf.value}")
        bias_tf = _tf(_dict(m.get("bias")).get("timeframe"))
        if tf and bias_tf and bias_tf.minutes <= tf.minutes:
            self.at_value(("market", "bias", "timeframe"), f"bias timeframe {bias_tf.value} must be above the setup timeframe {tf.value}")
        for sym, inst in _dict(m.get("symbols")).items():
            inst = _dict(inst)
            if _is_num(inst.get("point")) and _is_num(inst.get("pip_size")) and 0 < inst["pip_size"] < inst["point"]:
                self.at_value(("market", "symbols", sym, "pip_size"),
                              f"pip_size {inst['pip_size']} is smaller than the point {inst['point']}; a pip is one or more points")

    def _window(self, path: Path_, window: Any, what: str) -> None:
        if isinstance(window, list) and len(window) == 2 and all(isinstance(t, str) for t in window):
            if window[0] == window[1]:
                self.at_value(path, f"{what} {window[0]}-{window[1]} is empty: start equals end")

    def collect_steps(self) -> None:
        steps = self.data.get("steps")
        if not isinstance(steps, list):
            return
        for i, step in enumerate(steps):
            step = _dict(step)
            name, event = step.get("name"), step.get("event")
            if not isinstance(name, str):
                continue
            if name in self.steps.index:
                first = self.steps.index[name]
                self.at_value(("steps", i, "name"), f"duplicate step name {name!r} (also step {first + 1})")
                continue
            self.steps.index[name] = i
            self.steps.event[name] = event if isinstance(event, str) and event in STEP_MODELS else "?"  # "?": reported by the schema
            self.steps.names.append(name)

    def step(self, i: int, step: dict[str, Any]) -> None:
        base: Path_ = ("steps", i)
        event = step.get("event")
        if not isinstance(event, str) or event not in STEP_MODELS:
            return
        role = f"steps[{i}]"
        given = self.one_of(base, ("direction", "with", "against"), required=False)
        if given in ("with", "against"):
            ref = self.step_ref(base + (given,), before=i, role=f"{role}.{given}")
            self.directed(base + (given,), ref, f"{role}.{given}")
        within = step.get("within")
        if isinstance(within, dict):
            if within.get("after") is not None:
                self.step_ref(base + ("within", "after"), before=i, role=f"{role}.within.after")
            elif i == 0:
                self.at_key(base + ("within",), "the first step has no previous step to count from; "
                            "give within.after or remove within")
        session = step.get("session")
        if isinstance(session, str) and session not in self.windows:
            self.at_value(base + ("session",), f"unknown session {session!r}{did_you_mean(session, self.windows)}; "
                          f"expected one of {', '.join(self.windows)}")
        for key in ("min_size", "max_size"):
            self.distance(base + (key,), ("atr", "pips", "points"))
        self._size_order(base, step)
        if event == "sweep" and isinstance(step.get("levels"), list):
            for k, level in enumerate(step["levels"]):
                if isinstance(level, str):
                    ref = self.level(base + ("levels", k), level)
                    if ref is not None and ref.side == 0:
                        self.at_value(base + ("levels", k), f"level {level!r} has no liquidity side and cannot be swept; "
                                      "sweep a high or a low")
        if event in ("fvg", "order_block") and isinstance(step.get("formed_between"), list):
            fb = step["formed_between"]
            refs = [self.step_ref(base + ("formed_between", k), before=i, role=f"{role}.formed_between")
                    for k in range(min(len(fb), 2))]
            if len(refs) == 2 and refs[0] and refs[1] and self.steps.index[refs[0]] >= self.steps.index[refs[1]]:
                self.at_value(base + ("formed_between", 1),
                              f"formed_between needs the earlier step first: {refs[1]!r} does not come after {refs[0]!r}")
        if event == "retest":
            ref = self.step_ref(base + ("zone",), before=i, role=f"{role}.zone")
            if ref is not None and self.steps.event[ref] not in ZONE_EVENTS | {"?"}:
                self.at_value(base + ("zone",), f"{role}.zone step {ref!r} is a {self.steps.event[ref]} step, which has no zone; "
                              "retest an fvg or order_block step")

    def _size_order(self, base: Path_, step: dict[str, Any]) -> None:
        lo, hi = _dict(step.get("min_size")), _dict(step.get("max_size"))
        for unit in ("atr", "pips", "points"):
            if _is_num(lo.get(unit)) and _is_num(hi.get(unit)) and lo[unit] > hi[unit]:
                self.at_value(base + ("max_size", unit), f"max_size {hi[unit]} {unit} is below min_size {lo[unit]} {unit}")

    def level(self, path: Path_, name: str):
        try:
            return resolve_level(name, self.windows)
        except ValueError as exc:
            self.at_value(path, str(exc))
            return None

    def entry(self) -> None:
        """The order is placed at the last step, so every step it names is known by then."""
        e = self.data.get("entry")
        if not isinstance(e, dict):
            return
        given = self.one_of(("entry",), ("direction", "with", "against"), required=True)
        if given in ("with", "against"):
            ref = self.step_ref(("entry", given), before=None, role=f"entry.{given}")
            self.directed(("entry", given), ref, f"entry.{given}")
        order = e.get("order")
        allowed = {"market": set(), "limit": {"zone", "at", "expiry"}, "stop": {"beyond", "buffer", "expiry"}}
        if order in allowed:
            for key in ("zone", "at", "beyond", "buffer", "expiry"):
                if e.get(key) is not None and key not in allowed[order]:
                    owners = " or ".join(o for o, keys in allowed.items() if key in keys)
                    self.at_key(("entry", key), f"entry.{key} is only for {owners} entries, not {order}")
            need = {"limit": "zone", "stop": "beyond"}.get(order)
            if need and e.get(need) is None:
                self.at_key(("entry",), f"a {order} entry needs entry.{need}")
        if order == "limit" and e.get("zone") is not None:
            ref = self.step_ref(("entry", "zone"), before=None, role="entry.zone")
            if ref is not None and self.steps.event[ref] not in ZONE_EVENTS | {"?"}:
                self.at_value(("entry", "zone"), f"entry.zone step {ref!r} is a {self.steps.event[ref]} step, which has no zone; "
                              "a limit entry needs an fvg, order_block or retest step")
        if order == "stop" and e.get("beyond") is not None:
            ref = self.step_ref(("entry", "beyond"), before=None, role="entry.beyond")
            self._has_extreme(("entry", "beyond"), ref, "entry.beyond")
        self.distance(("entry", "buffer"), ("pips", "points"))
        if isinstance(e.get("expiry"), dict):
            self.one_of(("entry", "expiry"), ("bars", "at"), required=True)

    def _has_extreme(self, path: Path_, ref: str | None, role: str) -> None:
        if ref is not None and self.steps.event[ref] not in EXTREME_EVENTS | {"?"}:
            self.at_value(path, f"{role} step {ref!r} is a {self.steps.event[ref]} step, which has no price extreme")

    def stop(self) -> None:
        s = self.data.get("stop")
        if not isinstance(s, dict):
            return
        given = self.one_of(("stop",), ("beyond", "atr", "pips", "points"), required=True)
        if given == "beyond":
            ref = self.step_ref(("stop", "beyond"), before=None, role="stop.beyond")
            self._has_extreme(("stop", "beyond"), ref, "stop.beyond")
        self.distance(("stop", "buffer"), ("pips", "points"))

    def targets(self) -> None:
        targets = self.data.get("targets")
        if not isinstance(targets, list):
            return
        total = 0.0
        for t, target in enumerate(targets):
            if not isinstance(target, dict):
                continue
            path: Path_ = ("targets", t)
            self._price(path, target, ("r", "pips", "points", "atr", "level", "opposite", "first_of"))
            choices = target.get("first_of")
            if isinstance(choices, list):
                for c, choice in enumerate(choices):
                    if isinstance(choice, dict):
                        self._price(path + ("first_of", c), choice, ("r", "pips", "points", "atr", "level", "opposite"))
            close = target.get("close")
            is_last = t == len(targets) - 1
            if close is None and not is_last:
                self.at_key(path, f"targets[{t}] needs close (percent of the position) when more targets follow")
            elif _is_num(close) and 0 < close <= 100:
                total += close
                if total > 100 + 1e-9:
                    self.at_value(path + ("close",), f"partial closes add up to {total:g}% at this target; they may not exceed 100%")
            elif close is None and is_last and len(targets) > 1 and total >= 100 - 1e-9:
                self.at_key(path, f"nothing is left for the last target: the earlier closes already take {total:g}%")
        self._break_even(targets)

    def _price(self, path: Path_, target: dict[str, Any], kinds: Sequence[str]) -> None:
        given = self.one_of(path, kinds, required=True)
        if given == "level" and isinstance(target["level"], str):
            self.level(path + ("level",), target["level"])
        elif given == "opposite":
            ref = self.step_ref(path + ("opposite",), before=None, role="opposite")
            if ref is not None and self.steps.event[ref] not in ("sweep", "?"):
                self.at_value(path + ("opposite",), f"opposite needs a sweep step; {ref!r} is a {self.steps.event[ref]} step")
            elif ref is not None:
                self._opposites(path + ("opposite",), ref)

    def _opposites(self, path: Path_, ref: str) -> None:
        levels = _dict(self._get(("steps", self.steps.index[ref]))).get("levels")
        for level in levels if isinstance(levels, list) else []:
            try:
                lr = resolve_level(level, self.windows) if isinstance(level, str) else None
            except ValueError:
                continue  # already reported on the step
            if lr is not None and lr.opposite is None:
                self.at_value(path, f"opposite of step {ref!r}: level {level!r} has no opposite side")

    def _break_even(self, targets: list[Any]) -> None:
        be = _dict(self.data.get("management")).get("break_even_at_r")
        rs = [t.get("r") for t in targets if isinstance(t, dict)]
        if _is_num(be) and rs and all(_is_num(r) for r in rs) and len(rs) == len(targets) and be >= max(rs):
            self.at_value(("management", "break_even_at_r"),
                          f"break_even_at_r {be:g} is not below the furthest target ({max(rs):g}R); it can never apply")

    def filters(self) -> None:
        f = _dict(self.data.get("filters"))
        days = f.get("days")
        if isinstance(days, list):
            seen: set[Any] = set()
            for k, day in enumerate(days):
                if isinstance(day, str) and day in seen:
                    self.at_value(("filters", "days", k), f"day {day!r} is listed twice")
                seen.add(day if isinstance(day, str) else None)
        if isinstance(f.get("news_free"), list):
            for k, window in enumerate(f["news_free"]):
                self._window(("filters", "news_free", k), window, "news-free window")
        self.distance(("filters", "min_atr"), ("pips", "points"))
        self.distance(("filters", "max_spread"), ("pips", "points"))

    def detectors(self) -> None:
        groups = _dict(self.data.get("detectors"))
        if not groups:
            return
        # Imported here: the detectors package pulls in numba kernels, which a rule without
        # detector parameters (and `ita --help`) should not have to load.
        from ita_desktop.detectors.dispatcher import DetectorParams

        for group, params in groups.items():
            if group == "atr_length":
                problem = _number_problem(params, True, 1, ATR_LENGTH_MAX, False)
                if problem:
                    self.at_value(("detectors", group), f"detectors.atr_length: {problem}")
                continue
            if group not in DETECTOR_GROUPS:
                # The clock, trading day and session windows come from market, so they are said once.
                self.at_key(("detectors", group), f"unknown detector group {group!r}{did_you_mean(group, DETECTOR_GROUPS)}; "
                            f"expected one of {', '.join(DETECTOR_GROUPS)}, atr_length")
                continue
            if not self._detector_values(group, params):
                continue
            try:
                DetectorParams.from_dict({group: params})
            except (ValueError, TypeError) as exc:
                self.at_key(("detectors", group), f"detectors.{group}: {str(exc)[:200]}")

    def _detector_values(self, group: str, params: Any) -> bool:
        """Types and ranges of one detector group's values, each reported at its value; True if all fine."""
        if not isinstance(params, dict):
            self.at_value(("detectors", group), f"detectors.{group}: expected a mapping of parameters, got {described(params)}")
            return False
        ok = True
        for name, value in params.items():
            where = ("detectors", group, name)
            problem = None
            if name in DETECTOR_NUMBERS.get(group, {}):
                problem = _number_problem(value, *DETECTOR_NUMBERS[group][name])
            elif (group, name) in DETECTOR_FLAGS and not isinstance(value, bool):
                problem = f"expected true or false, got {described(value)}"
            elif (group, name) in DETECTOR_WORDS and not isinstance(value, str):
                problem = f"expected a word, got {described(value)}"
            elif group == "sweeps" and name == "sources" and not (
                    isinstance(value, list) and all(isinstance(v, str) for v in value)):
                problem = f"expected a list of level sources, got {described(value)}"
            if problem:
                self.at_value(where, f"detectors.{group}.{name}: {problem}")
                ok = False
        return ok


def _tf(value: Any) -> Timeframe | None:
    try:
        return Timeframe(value) if isinstance(value, str) else None
    except ValueError:
        return None



def check_rule(data: Any, smap: SourceMap, file: str) -> list[RuleIssue]:
    """Every cross-key problem of the raw rule ``data`` (see the module docstring)."""
    if not isinstance(data, dict):
        return []
    c = _Checker(data, smap, file)
    c.market()
    c.collect_steps()
    if isinstance(data.get("steps"), list):
        for i, step in enumerate(data["steps"]):
            if isinstance(step, dict):
                c.step(i, step)
    c.entry()
    c.stop()
    c.targets()
    c.filters()
    c.detectors()
    return c.issues


# -- warnings: valid rules that are probably not what the trader meant ------------------------------

#: Risk per trade above this percent of the account is reported (not refused: it is the trader's call).
RISK_WARN_PERCENT = 5.0


def rule_warnings(data: Any, smap: SourceMap, file: str) -> list[RuleIssue]:
    """Things a valid rule says that are legal but likely a slip (``risk.percent: 50`` meant 0.5?).

    Warnings never make a rule invalid: ``ita rules validate`` prints them as ``warning:`` lines and
    still exits 0, the Rules panel shows them beside the version."""
    out: list[RuleIssue] = []
    risk = data.get("risk") if isinstance(data, dict) else None
    percent = risk.get("percent") if isinstance(risk, dict) else None
    if isinstance(percent, (int, float)) and not isinstance(percent, bool) and percent > RISK_WARN_PERCENT:
        p = smap.value(("risk", "percent"))
        out.append(RuleIssue(p.line, p.column,
                             f"warning: risk.percent {percent:g} risks {percent:g} % of the account on every trade "
                             f"(over {RISK_WARN_PERCENT:g} %; 0.5-2 is usual): did you mean {percent / 100:g}?", file))
    return out
