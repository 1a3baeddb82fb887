"""The rule language as pydantic models: the shape of a rule file, key by key.

These models check the SHAPE of a rule: known keys only (``extra="forbid"``), types, ranges,
required keys, enumerations. What depends on more than one key (a step referring to another
step, "exactly one of", a limit entry at a step that has no zone, partials over 100%) is in
:mod:`ita_desktop.rules.checks`, which sees the raw YAML with positions and can report every
problem of a file at once. Load rules through :func:`ita_desktop.rules.loader.load_rule`, which
runs both; ``Rule.model_validate`` alone checks the shape only.

Field docstrings become the JSON Schema descriptions the editor will complete from, and
docs/rules.md is the reference written from the same text: keep them in step.

The models are built on first use (``defer_build``) and the field docstrings are read with one
parse of this file at import (``_describe_fields``), not with pydantic's
``use_attribute_docstrings``, which re-reads and tokenizes the source once per class: together
~30 ms of every ``ita backtest`` (issue 19). The descriptions are the same: a test builds the
models with pydantic's own option and compares the JSON Schemas.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.rules.vocabulary import DEFAULT_IB, DEFAULT_SESSION_WINDOWS, IB_WINDOW

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_RULE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_SYMBOL = re.compile(r"^[A-Za-z0-9._#-]+$")


def _hhmm(text: str) -> str:
    if not _HHMM.match(text):
        raise ValueError(f"expected a time of day as HH:MM (00:00 to 24:00), got {text!r}")
    return text


def _name(text: str) -> str:
    if not _NAME.match(text):
        raise ValueError(f"expected a name of lower-case letters, digits and _ starting with a letter, got {text!r}")
    return text


def _rule_id(text: str) -> str:
    if not _RULE_ID.match(text):
        raise ValueError(f"expected a rule id of letters, digits and _ starting with a letter, got {text!r}")
    return text


def _version(text: str) -> str:
    if not _VERSION.match(text):
        raise ValueError(f"expected a version such as 1, 2 or 1.2, got {text!r}")
    return text


def _symbol(text: str) -> str:
    if not _SYMBOL.match(text):
        raise ValueError(f"expected a symbol as MetaTrader names it (letters, digits, . _ # -), got {text!r}")
    return text


def _zone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {text!r}; expected an IANA name such as America/New_York") from exc
    return text


HHMM = Annotated[str, AfterValidator(_hhmm), Field(json_schema_extra={"pattern": _HHMM.pattern})]
Name = Annotated[str, AfterValidator(_name), Field(json_schema_extra={"pattern": _NAME.pattern})]
StepRef = Annotated[str, AfterValidator(_name), Field(json_schema_extra={"pattern": _NAME.pattern})]
Window = tuple[HHMM, HHMM]
Direction = Literal["bullish", "bearish"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


# Upper bounds: no setup needs more, and the engine sizes arrays and counts bars by these numbers
# (within.bars 1e30 overflowed the matcher). A value past one is a typo, refused with its place.
MAX_BARS = 100_000  # bars counted on a timeframe: over a year of M5
MAX_DISTANCE = 1_000_000.0  # pips or points
MAX_ATR = 1_000.0  # ATR multiples
MAX_R = 1_000.0  # multiples of the risk
MAX_PRICE_UNIT = 1_000_000.0  # a point or pip in price
MAX_POINT_VALUE = 1_000_000_000.0  # account currency per point per lot


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True, defer_build=True)


class Distance(_Model):
    """A price distance in pips or points: give exactly one."""

    pips: float | None = Field(default=None, ge=0, le=MAX_DISTANCE)
    """Pips of the symbol (``market.symbols.<SYM>.pip_size`` each)."""
    points: float | None = Field(default=None, ge=0, le=MAX_DISTANCE)
    """Points of the symbol (``market.symbols.<SYM>.point`` each)."""


class Size(_Model):
    """A size in ATRs of the setup timeframe, pips or points: give exactly one."""

    atr: float | None = Field(default=None, ge=0, le=MAX_ATR)
    """Multiples of the ATR on the setup timeframe at the step's bar."""
    pips: float | None = Field(default=None, ge=0, le=MAX_DISTANCE)
    """Pips of the symbol."""
    points: float | None = Field(default=None, ge=0, le=MAX_DISTANCE)
    """Points of the symbol."""


class Instrument(_Model):
    """The price grid and money value of one symbol (MT5: point, tick value)."""

    point: float = Field(gt=0, le=MAX_PRICE_UNIT)
    """Smallest price increment (MT5 ``point``), e.g. 0.00001 for EURUSD, 0.01 for XAUUSD."""
    pip_size: float = Field(gt=0, le=MAX_PRICE_UNIT)
    """Price of one pip, e.g. 0.0001 for EURUSD, 0.1 for XAUUSD. At least one point."""
    point_value: float = Field(gt=0, le=MAX_POINT_VALUE)
    """Account-currency value of a one-point move for one lot (MT5 tick value / tick size * point)."""


class Bias(_Model):
    """Higher-timeframe context: trade only with (or against) the structure of a higher timeframe."""

    timeframe: Timeframe
    """Timeframe whose BOS/CHOCH structure gives the bias (above the setup timeframe, usually H1 or H4)."""
    trade: Literal["with", "against"] = "with"
    """Take the setup only when its direction is ``with`` (or ``against``) the higher-timeframe trend."""


class Market(_Model):
    """Where and when the setup is looked for."""

    symbols: dict[Annotated[str, AfterValidator(_symbol)], Instrument] = Field(min_length=1)
    """The symbols to scan, each with its instrument data (point, pip_size, point_value)."""
    timeframe: Timeframe
    """The setup timeframe: the bars the steps' detectors run on (M1, M5, M15, M30, H1, H4, D1...)."""
    data_timeframe: Timeframe = Timeframe.M1
    """The timeframe of the stored data the setup timeframe is built from; the setup timeframe must be a multiple of it."""
    bias: Bias | None = None
    """Optional higher-timeframe bias."""
    clock: Annotated[str, AfterValidator(_zone)] = "America/New_York"
    """The session clock: an IANA time zone; every HH:MM in the rule is on this clock."""
    sessions: dict[Name, Window] = Field(default_factory=dict)
    """Session windows as ``name: [HH:MM, HH:MM]``, added to (or replacing) the defaults asia 20:00-00:00,
    london 02:00-05:00, ny_am 07:00-10:00, ny_pm 13:30-16:00. A window may cross midnight."""
    initial_balance: Window = DEFAULT_IB
    """The initial-balance window (the session called ``ib``; levels ib.high, ib.low, ib.mid)."""

    def windows(self) -> dict[str, tuple[str, str]]:
        """Every session window the rule can name: defaults, the rule's own, and ``ib``."""
        out = dict(DEFAULT_SESSION_WINDOWS)
        out.update({k: (v[0], v[1]) for k, v in self.sessions.items()})
        out[IB_WINDOW] = (self.initial_balance[0], self.initial_balance[1])
        return out


class Within(_Model):
    """A step must happen within ``bars`` setup-timeframe bars after an earlier step."""

    bars: int = Field(ge=1, le=MAX_BARS)
    """How many bars after the ``after`` step (counted on the setup timeframe) the step may come."""
    after: StepRef | None = None
    """The earlier step counted from; defaults to the previous step."""


class _Step(_Model):
    name: Name
    """The step's name, used by later steps, the entry, the stop and the targets."""
    direction: Direction | None = None
    """Absolute direction: ``bullish`` or ``bearish``. At most one of direction, with, against."""
    with_: StepRef | None = Field(default=None, alias="with")
    """Same direction as this earlier step."""
    against: StepRef | None = None
    """Opposite direction to this earlier step (a CHOCH against the sweep)."""
    within: Within | None = None
    """Must happen within N bars after an earlier step."""
    session: Name | None = None
    """Must happen inside this session window (asia, london, ny_am, ny_pm, ib, or one of market.sessions)."""


class _SizedStep(_Step):
    min_size: Size | None = None
    """Smallest size: a sweep's reach beyond the level, a gap's or block's height, a displacement body."""
    max_size: Size | None = None
    """Largest size, measured as for min_size."""


class SweepStep(_SizedStep):
    """Price trades beyond one of the levels and closes back inside (a raid of liquidity).
    A sweep of highs is bearish, of lows bullish."""

    event: Literal["sweep"]
    levels: list[str] = Field(min_length=1)
    """The levels that may be swept, e.g. [asia.high, asia.low]; any one of them makes the step."""


class BosStep(_Step):
    """A break of structure: a close beyond the last swing, in the direction of the structure."""

    event: Literal["bos"]


class ChochStep(_Step):
    """A change of character: a close beyond the last swing against the structure, which flips it."""

    event: Literal["choch"]


class FvgStep(_SizedStep):
    """A fair value gap is formed (known at its third candle)."""

    event: Literal["fvg"]
    formed_between: tuple[StepRef, StepRef] | None = None
    """The gap's displacement candle lies between these two earlier steps' bars (inclusive)."""


class OrderBlockStep(_SizedStep):
    """An order block is formed (the last opposite candle before a displacement that breaks structure)."""

    event: Literal["order_block"]
    formed_between: tuple[StepRef, StepRef] | None = None
    """The block's candle lies between these two earlier steps' bars (inclusive)."""


class DisplacementStep(_SizedStep):
    """A displacement candle: a body of at least k x ATR (k is detectors.displacement.k)."""

    event: Literal["displacement"]


class RetestStep(_Step):
    """Price comes back into the zone of an earlier fvg or order_block step for the first time."""

    event: Literal["retest"]
    zone: StepRef
    """The earlier fvg or order_block step whose zone is retested."""


class TimeStep(_Model):
    """The clock reaches a session window (the first bar inside it after the previous step)."""

    event: Literal["time"]
    name: Name
    """The step's name."""
    session: Name
    """The session window to wait for."""
    within: Within | None = None
    """Must happen within N bars after an earlier step."""


Step = Annotated[
    Union[SweepStep, BosStep, ChochStep, FvgStep, OrderBlockStep, DisplacementStep, RetestStep, TimeStep],
    Field(discriminator="event"),
]
STEP_MODELS: dict[str, type[_Model]] = {
    "sweep": SweepStep, "bos": BosStep, "choch": ChochStep, "fvg": FvgStep, "order_block": OrderBlockStep,
    "displacement": DisplacementStep, "retest": RetestStep, "time": TimeStep,
}


class Expiry(_Model):
    """When an unfilled pending order is cancelled: after N bars or at a time. Exactly one."""

    bars: int | None = Field(default=None, ge=1, le=MAX_BARS)
    """Cancel after this many setup-timeframe bars."""
    at: HHMM | None = None
    """Cancel at this time of day on the session clock."""


class Entry(_Model):
    """How the trade is entered."""

    order: Literal["market", "limit", "stop"]
    """The order is placed when the last step is confirmed. ``market``: at the close of that bar. ``limit``: in a zone (``zone``, ``at``).
    ``stop``: beyond a step's extreme in the trade's direction (``beyond``, ``buffer``)."""
    direction: Direction | None = None
    """The trade's direction, absolute: bullish (long) or bearish (short). Exactly one of direction, with, against."""
    with_: StepRef | None = Field(default=None, alias="with")
    """Trade in the direction of this step."""
    against: StepRef | None = None
    """Trade against the direction of this step."""
    zone: StepRef | None = None
    """limit: the fvg, order_block or retest step whose zone the order sits in."""
    at: Literal["near_edge", "ce", "far_edge"] | None = None
    """limit: where in the zone: the near edge (default), the CE (midpoint) or the far edge."""
    beyond: StepRef | None = None
    """stop: the step whose extreme (in the trade's direction) the stop order sits beyond."""
    buffer: Distance | None = None
    """stop: extra distance beyond the extreme."""
    expiry: Expiry | None = None
    """limit/stop: when the pending order is cancelled."""


class Stop(_Model):
    """The protective stop: beyond a step's extreme, or a fixed distance from the entry (ATRs, pips or points).
    Exactly one of beyond, atr, pips, points."""

    beyond: StepRef | None = None
    """Beyond this step's extreme against the trade: a sweep's extreme, a zone's far edge, else the step bar's high/low."""
    atr: float | None = Field(default=None, gt=0, le=MAX_ATR)
    """This many ATRs (setup timeframe) from the entry price."""
    pips: float | None = Field(default=None, gt=0, le=MAX_DISTANCE)
    """A fixed distance of this many pips from the entry price."""
    points: float | None = Field(default=None, gt=0, le=MAX_DISTANCE)
    """A fixed distance of this many points from the entry price."""
    buffer: Distance | None = None
    """Extra distance beyond, in pips or points."""


class TargetPrice(_Model):
    """One take-profit price: an R multiple, a fixed distance from the entry (pips, points, ATRs), a named level,
    or the opposite side of a swept range. Exactly one."""

    r: float | None = Field(default=None, gt=0, le=MAX_R)
    """A multiple of the risk (entry to stop), e.g. 2 for 2R."""
    pips: float | None = Field(default=None, gt=0, le=MAX_DISTANCE)
    """A fixed distance of this many pips from the entry price, in the trade's direction."""
    points: float | None = Field(default=None, gt=0, le=MAX_DISTANCE)
    """A fixed distance of this many points from the entry price, in the trade's direction."""
    atr: float | None = Field(default=None, gt=0, le=MAX_ATR)
    """This many ATRs (setup timeframe, at the entry step) from the entry price, in the trade's direction."""
    level: str | None = None
    """A named level, e.g. ib.mid, asia.low, pdh (skipped when it is not beyond the entry in the trade's direction)."""
    opposite: StepRef | None = None
    """A sweep step: the other side of the range it swept (asia.high swept -> asia.low)."""


class Target(TargetPrice):
    """A take-profit: one price (r, level or opposite) or the first reached of several (first_of)."""

    first_of: list[TargetPrice] | None = Field(default=None, min_length=2)
    """Several prices; the target is whichever is reached first (nearest to the entry)."""
    close: float | None = Field(default=None, gt=0, le=100)
    """Percent of the original position closed here. Required on every target but the last, which takes the rest."""


class Management(_Model):
    """Managing an open trade."""

    break_even_at_r: float | None = Field(default=None, gt=0, le=MAX_R)
    """Move the stop to the entry price once the trade is this many R in profit."""
    close_at: HHMM | None = None
    """Close whatever is open at this time of day on the session clock (e.g. 11:00)."""
    max_bars: int | None = Field(default=None, ge=1, le=MAX_BARS)
    """Close after this many setup-timeframe bars in the trade."""


class Filters(_Model):
    """When the setup is not taken."""

    days: list[Weekday] | None = Field(default=None, min_length=1)
    """Days of the week (session clock) on which entries are allowed; all days when absent."""
    news_free: list[Window] = Field(default_factory=list)
    """Windows [HH:MM, HH:MM] on the session clock with no new entries (around scheduled news)."""
    min_atr: Distance | None = None
    """Skip when the setup-timeframe ATR at the entry step is below this."""
    max_spread: Distance | None = None
    """Skip when the spread at entry is above this."""


class Risk(_Model):
    """Position sizing."""

    percent: float = Field(gt=0, le=100)
    """Percent of the account equity risked per trade (entry to stop)."""
    max_positions: int | None = Field(default=None, ge=0)
    """Positions of this rule open at once on one symbol in a backtest: 1 one at a time (the default), 0 no limit."""


class Rule(_Model):
    """A trading setup: where to look, the ordered steps, and how to enter, protect and exit."""

    rule_id: Annotated[str, AfterValidator(_rule_id)]
    """The rule's id; the file lives at rules/<rule_id>/v<version>.yaml."""
    version: Annotated[str, AfterValidator(_version)]
    """The version, as in the file name: 1, 2, 1.2."""
    name: str = Field(min_length=1)
    """A short title."""
    description: str = Field(min_length=1)
    """The idea of the setup in words."""
    market: Market
    steps: list[Step] = Field(min_length=1)
    """The ordered steps; each must happen after the previous one."""
    entry: Entry
    stop: Stop
    targets: list[Target] = Field(min_length=1)
    """Take-profits in the order price reaches them; partial closes add up to at most 100%."""
    management: Management = Field(default_factory=Management)
    filters: Filters = Field(default_factory=Filters)
    risk: Risk
    detectors: dict[str, Any] = Field(default_factory=dict)
    """Detector parameters by group, e.g. {swings: {length: 3}, sweeps: {max_bars: 3}, fvg: {min_atr: 0.2}}."""

    def step_index(self, name: str) -> int:
        """Position of the step called ``name`` (KeyError when there is none)."""
        for i, step in enumerate(self.steps):
            if step.name == name:
                return i
        raise KeyError(name)

    def entry_step(self) -> str:
        """The step whose confirmation places the order: the last one."""
        return self.steps[-1].name


def _class_docstrings(source: str) -> dict[str, dict[str, str]]:
    """Per top-level class of ``source``: its fields' docstrings (a string right after an annotated name), cleaned
    as pydantic cleans them."""
    out: dict[str, dict[str, str]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        docs: dict[str, str] = {}
        for before, stmt in zip(node.body, node.body[1:]):
            if (isinstance(before, ast.AnnAssign) and isinstance(before.target, ast.Name)
                    and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
                    and isinstance(stmt.value.value, str)):
                docs[before.target.id] = inspect.cleandoc(stmt.value.value)
        out[node.name] = docs
    return out


def _describe_fields() -> None:
    """Each model field without a description gets the docstring of the nearest class of its MRO that annotates it
    (what ``use_attribute_docstrings`` gives an inherited field); before any model is built. No source (a build
    without .py files): no descriptions, as with pydantic's option."""
    module = sys.modules[__name__]
    try:
        source = module.__loader__.get_source(__name__)  # type: ignore[union-attr]
    except (AttributeError, ImportError, OSError):
        source = None
    if not source:
        return
    docs = _class_docstrings(source)
    for cls in vars(module).values():
        if not (isinstance(cls, type) and issubclass(cls, _Model) and cls.__module__ == __name__):
            continue
        for name, info in cls.__pydantic_fields__.items():
            if info.description is not None:
                continue
            owner = next((k for k in cls.__mro__ if name in k.__dict__.get("__annotations__", {})), None)
            if owner is not None and owner.__module__ == __name__:
                text = docs.get(owner.__name__, {}).get(name)
                if text is not None:
                    info.description = text


_describe_fields()
