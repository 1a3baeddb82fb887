"""Loader behaviour beyond the corpus: YAML 1.1 traps, defaults, the JSON Schema export."""

from __future__ import annotations

from ita_desktop.rules.json_schema import rule_json_schema
from ita_desktop.rules.loader import validate_text
from ita_desktop.rules.vocabulary import resolve_level
from ita_desktop.detectors.objects import LevelKind

RULE = """\
rule_id: demo
version: 1.10
name: Demo
description: A small rule.
market:
  symbols:
    EURUSD: {point: 0.00001, pip_size: 0.0001, point_value: 1.0}
  timeframe: M5
  sessions:
    macro: [09:50, 10:10]
steps:
  - name: sweep
    event: sweep
    levels: [macro.high, macro.low]
    session: macro
  - name: disp
    event: displacement
    against: sweep
  - name: gap
    event: fvg
    with: disp
    formed_between: [sweep, disp]
entry:
  order: limit
  with: disp
  zone: gap
  at: ce
  expiry: {at: 11:00}
stop:
  beyond: sweep
  buffer: {points: 20}
targets:
  - r: 1
    close: 50
  - first_of:
      - opposite: sweep
      - level: pdh
management:
  close_at: 11:30
risk:
  percent: 0.25
"""


def test_unquoted_times_and_versions_stay_text() -> None:
    rule, issues = validate_text(RULE)
    assert issues == []
    assert rule.version == "1.10"  # not the float 1.1
    assert rule.market.sessions["macro"] == ("09:50", "10:10")  # not base-60 integers
    assert (rule.entry.expiry.at, rule.management.close_at) == ("11:00", "11:30")


def test_defaults_fill_what_the_rule_leaves_out() -> None:
    rule, _ = validate_text(RULE)
    assert rule.market.clock == "America/New_York"
    assert rule.market.windows()["asia"] == ("20:00", "00:00")
    assert rule.market.windows()["macro"] == ("09:50", "10:10")
    assert rule.filters.days is None and rule.filters.news_free == []
    assert rule.entry_step() == "gap" and rule.step_index("disp") == 1


def test_a_custom_window_maps_to_session_levels_of_that_window() -> None:
    ref = resolve_level("macro.high", ["asia", "macro"])
    assert (ref.kinds, ref.side, ref.window, ref.opposite) == ((LevelKind.SESSION_HIGH,), 1, "macro", "macro.low")
    assert resolve_level("asia.low", ["asia"]).kinds == (LevelKind.ASIA_LOW,)
    assert resolve_level("ib.mid", []).side == 0 and resolve_level("pdh", []).opposite == "pdl"


def test_the_key_on_is_a_key_not_a_boolean() -> None:
    _, issues = validate_text(RULE.replace("  order: limit\n", "  order: limit\n  on: gap\n"), "r.yaml")
    assert [(i.line, i.column, i.message) for i in issues] == [
        (25, 3, "unknown key 'on' in entry (did you mean 'zone'?)"),
    ]


def test_a_bad_time_zone_is_named() -> None:
    _, issues = validate_text(RULE.replace("  timeframe: M5\n", "  timeframe: M5\n  clock: New_York\n"))
    assert [(i.line, i.column) for i in issues] == [(9, 10)]
    assert "unknown time zone 'New_York'" in issues[0].message


def test_json_schema_lists_every_event_and_describes_keys() -> None:
    schema = rule_json_schema()
    steps = schema["properties"]["steps"]["items"]
    assert set(steps["discriminator"]["mapping"]) == {
        "sweep", "bos", "choch", "fvg", "order_block", "displacement", "retest", "time"}
    entry = schema["$defs"]["Entry"]
    assert entry["additionalProperties"] is False
    assert "with" in entry["properties"] and "with_" not in entry["properties"]
    assert "midpoint" in entry["properties"]["at"]["description"]
    assert set(schema["required"]) >= {"rule_id", "version", "market", "steps", "entry", "stop", "targets", "risk"}


def test_a_window_with_one_time_and_an_empty_window_are_named() -> None:
    text = RULE.replace("    macro: [09:50, 10:10]\n", "    macro: [09:50]\n    lunch: [12:00, 12:00]\n")
    _, issues = validate_text(text)
    assert [(i.line, i.column, i.message) for i in issues] == [
        (10, 12, "market.sessions.macro needs 2 values, [start, end]"),
        (11, 12, "session window 'lunch' 12:00-12:00 is empty: start equals end"),
    ]
