"""A validated Rule -> what the setup engine needs: one detector request and one plan per step.

Compiling is where the rule's words become numbers once, so the per-bar work (streams,
matcher, orders) never parses a name again: level names become LevelKind codes (through
``rules.vocabulary``, the one place names meet enums), windows become minutes of the
session-clock day, sizes become price distances (or ATR multiples), step references become
step indexes. The detector request is ONE ``detect`` call covering every step, so the
dispatcher shares swings/ATR/structure between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ita_desktop.detectors.dispatcher import DetectorParams
from ita_desktop.detectors.levels import SessionLevelParams
from ita_desktop.detectors.objects import LevelKind
from ita_desktop.domain.clock import DAY_MINUTES, parse_hhmm
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.schema import Distance, Rule, Size
from ita_desktop.rules.vocabulary import IB_WINDOW, LevelRef, resolve_level

#: Detector tables each event reads (retest reads its zone step's table, time reads the clock).
EVENT_TABLES = {"sweep": "sweeps", "bos": "structure", "choch": "structure", "fvg": "fvg",
                "order_block": "order_blocks", "displacement": "displacement"}
DIR_ANY, DIR_WITH, DIR_AGAINST = 0, 2, 3
MAX_TARGETS = 3


@dataclass(frozen=True)
class SizeBound:
    """A size limit: ``value`` in price units, or ``atr`` ATR multiples (exactly one is set)."""

    value: float | None = None
    atr: float | None = None

    def limit(self, atr_now: float) -> float:
        return self.value if self.value is not None else float(self.atr) * atr_now  # type: ignore[arg-type]


@dataclass(frozen=True)
class StepPlan:
    """One step, compiled. Indexes refer to earlier steps; -1 = not used."""

    index: int
    name: str
    event: str
    table: str | None
    levels: tuple[LevelRef, ...] = ()
    direction: int = 0  # absolute direction (+1/-1), 0 = not fixed
    dir_mode: int = DIR_ANY  # relative direction: with / against ``dir_ref``
    dir_ref: int = -1
    within_bars: int = -1
    within_ref: int = -1
    session: tuple[int, int] | None = None  # [start, end) minutes of the session-clock day
    min_size: SizeBound | None = None
    max_size: SizeBound | None = None
    formed_a: int = -1
    formed_b: int = -1
    link: int = -1  # retest: the zone step whose rows it retests


@dataclass(frozen=True)
class CompiledRule:
    """Everything the engine needs for one rule on one symbol."""

    rule: Rule
    symbol: str
    point: float
    pip_size: float
    point_value: float
    timeframe: Timeframe
    kinds: tuple[str, ...]
    params: DetectorParams
    windows: dict[str, tuple[int, int]]
    window_index: dict[str, int]  # index of each window in the sessions table's ``sub``
    steps: tuple[StepPlan, ...]
    bias_timeframe: Timeframe | None = None
    bias_sign: int = 1  # +1 trade with the higher-timeframe trend, -1 against it
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clock(self) -> str:
        return self.rule.market.clock

    def distance(self, d: Distance | None) -> float:
        """A pips/points distance in price units (0 for none)."""
        if d is None:
            return 0.0
        return float(d.pips) * self.pip_size if d.pips is not None else float(d.points or 0.0) * self.point

    def window(self, text: tuple[str, str] | list[str]) -> tuple[int, int]:
        return _window_minutes(text[0], text[1])


def _window_minutes(start: str, end: str) -> tuple[int, int]:
    s = parse_hhmm(start) % DAY_MINUTES
    e = parse_hhmm(end)
    return s, (e if e == DAY_MINUTES else e % DAY_MINUTES)


def in_window(minute: int, window: tuple[int, int]) -> bool:
    """Is a minute of the day inside ``[start, end)`` (crossing midnight when end <= start)?"""
    s, e = window
    if e > s:
        return s <= minute < e
    return minute >= s or minute < e


def compile_rule(rule: Rule, symbol: str | None = None) -> CompiledRule:
    """Compile ``rule`` for ``symbol`` (default: its only/first symbol). InputError for a symbol it does not list."""
    symbols = rule.market.symbols
    if symbol is None:
        symbol = next(iter(symbols))
    if symbol not in symbols:
        raise InputError(f"rule {rule.rule_id} v{rule.version} does not list symbol {symbol!r}; "
                         f"it lists {', '.join(symbols)} (add it under market.symbols with its point and pip_size)")
    inst = symbols[symbol]
    text_windows = rule.market.windows()
    windows = {name: _window_minutes(*w) for name, w in text_windows.items()}
    session_names = [n for n in text_windows if n != IB_WINDOW]
    # Session-level detector: the rule's own windows (never the user's config), clock from market.
    sl_params = SessionLevelParams(windows=tuple((n, *text_windows[n]) for n in session_names),
                                   initial_balance=tuple(rule.market.initial_balance))
    window_index = {n: i for i, n in enumerate(session_names)}
    window_index[IB_WINDOW] = len(session_names)

    names = [s.name for s in rule.steps]
    idx = {n: i for i, n in enumerate(names)}
    plans: list[StepPlan] = []
    kinds: set[str] = {"atr", "levels"}
    sweep_sources: set[str] = set()

    def size(s: Size | None) -> SizeBound | None:
        if s is None:
            return None
        if s.atr is not None:
            return SizeBound(atr=float(s.atr))
        return SizeBound(value=float(s.pips) * inst.pip_size if s.pips is not None else float(s.points or 0) * inst.point)

    for i, step in enumerate(rule.steps):
        event = step.event
        table = EVENT_TABLES.get(event)
        if table:
            kinds.add(table)
        levels: tuple[LevelRef, ...] = ()
        if event == "sweep":
            levels = tuple(resolve_level(name, text_windows) for name in step.levels)  # type: ignore[union-attr]
            for ref in levels:
                sweep_sources.add(_source_of(ref))
        direction, mode, dref = 0, DIR_ANY, -1
        if getattr(step, "direction", None):
            direction = 1 if step.direction == "bullish" else -1  # type: ignore[union-attr]
        elif getattr(step, "with_", None):
            mode, dref = DIR_WITH, idx[step.with_]  # type: ignore[union-attr]
        elif getattr(step, "against", None):
            mode, dref = DIR_AGAINST, idx[step.against]  # type: ignore[union-attr]
        within_bars, within_ref = -1, -1
        if step.within is not None:
            within_bars = int(step.within.bars)
            within_ref = idx[step.within.after] if step.within.after else i - 1
        session = windows[step.session] if getattr(step, "session", None) else None
        fa = fb = link = -1
        formed = getattr(step, "formed_between", None)
        if formed:
            fa, fb = idx[formed[0]], idx[formed[1]]
        if event == "retest":
            link = idx[step.zone]  # type: ignore[union-attr]
            while plans[link].link >= 0:  # a retest of a retest is the same zone
                link = plans[link].link
            kinds.add(plans[link].table or "fvg")
        plans.append(StepPlan(i, step.name, event, table, levels, direction, mode, dref, within_bars, within_ref,
                              session, size(getattr(step, "min_size", None)), size(getattr(step, "max_size", None)),
                              fa, fb, link))

    for target in rule.targets:
        for t in (target.first_of or [target]):
            if t.level:
                src = _source_of(resolve_level(t.level, text_windows))
                if src != "levels":
                    kinds.add(src)
    if len(rule.targets) > MAX_TARGETS:
        raise InputError(f"rule {rule.rule_id} v{rule.version} has {len(rule.targets)} targets; an order carries at "
                         f"most {MAX_TARGETS}")

    det: dict[str, Any] = {k: v for k, v in rule.detectors.items()}
    if sweep_sources:
        sweeps = dict(det.get("sweeps") or {})
        sweeps.setdefault("sources", tuple(sorted(sweep_sources)))
        det["sweeps"] = sweeps
    params = DetectorParams.from_dict(det)
    params = DetectorParams(**{**params.__dict__, "session_levels": sl_params, "session_tz": rule.market.clock})

    bias_tf = rule.market.bias.timeframe if rule.market.bias else None
    bias_sign = 1 if not rule.market.bias or rule.market.bias.trade == "with" else -1
    return CompiledRule(rule, symbol, float(inst.point), float(inst.pip_size), float(inst.point_value),
                        rule.market.timeframe, tuple(sorted(kinds)), params, windows, window_index, tuple(plans),
                        bias_tf, bias_sign)


def _source_of(ref: LevelRef) -> str:
    """The detector table a level's rows come from (what the sweep detector must watch)."""
    if ref.kinds[0] in (LevelKind.SWING_HIGH, LevelKind.SWING_LOW):
        return "swings"
    if ref.kinds[0] in (LevelKind.EQUAL_HIGHS, LevelKind.EQUAL_LOWS):
        return "equal"
    return "levels"

