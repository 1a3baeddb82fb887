"""The editor's knowledge of the text (no Qt): YAML paths at the cursor, schema completions, hover help,
squiggle spans; and libyaml reading rules exactly as PyYAML does (same data, positions and problems)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ita_desktop.rules import yaml_source
from ita_desktop.rules.editing import ITEM, completions, cursor_context, issue_span, key_help, step_names
from ita_desktop.rules.loader import repo_rules_dir, validate_text
from ita_desktop.rules.rule_issues import RuleIssue
from tests.conftest import PROJECT_ROOT

SEED = (repo_rules_dir() / "asia_sweep" / "v1.yaml").read_text(encoding="utf-8")
RULE_FILES = sorted(repo_rules_dir().rglob("*.yaml")) + sorted((PROJECT_ROOT / "tests" / "data").rglob("*.yaml"))


def at_end_of(text: str, needle: str, exact: bool = False) -> tuple[int, int]:
    lines = text.split("\n")
    row = next(i for i, line in enumerate(lines) if (line == needle if exact else needle in line))
    return row, len(lines[row])


def test_paths_at_the_cursor_follow_the_indentation_of_steps_and_targets():
    row, col = at_end_of(SEED, "formed_between: [sweep, choch]")
    ctx = cursor_context(SEED, row, col)
    assert (ctx.path, ctx.mode, ctx.event) == (("steps", ITEM, "formed_between"), "value", "fvg")
    assert ctx.siblings == {"name", "event", "with"}
    row, col = at_end_of(SEED, "      - r: 2")
    assert cursor_context(SEED, row, col).path == ("targets", ITEM, "first_of", ITEM, "r")
    row, col = at_end_of(SEED, "  clock: America/New_York")
    assert cursor_context(SEED, row, col).path == ("market", "clock")
    text = SEED.replace("  at: near_edge\n", "  at: near_edge\n  ex\n")
    row, col = at_end_of(text, "  ex", exact=True)
    ctx = cursor_context(text, row, col)
    assert (ctx.path, ctx.mode, ctx.prefix) == (("entry",), "key", "ex")


def test_completions_come_from_the_schema_and_the_rule_itself():
    text = SEED.replace("  at: near_edge\n", "  at: near_edge\n  \n")
    row, col = at_end_of(text, "  at: near_edge")
    _ctx, items = completions(text, row + 1, 2)
    offered = [c.text for c in items]
    assert "direction" in offered and "buffer" in offered and "beyond" in offered
    assert "zone" not in offered and "order" not in offered  # already written
    text = SEED.replace("    event: choch", "    event: ch")
    row, col = at_end_of(text, "    event: ch")
    assert [c.text for c in completions(text, row, col)[1]] == ["choch"]
    text = SEED.replace("  timeframe: M5", "  timeframe: H")
    row, col = at_end_of(text, "  timeframe: H")
    assert [c.text for c in completions(text, row, col)[1]] == ["H1", "H4"]
    text = SEED.replace("    levels: [asia.high, asia.low]", "    levels: [asia.high, pd")
    row, col = at_end_of(text, "levels: [asia.high, pd")
    assert [c.text for c in completions(text, row, col)[1]] == ["pdh", "pdl"]
    assert step_names(SEED) == ["sweep", "choch", "fvg"]
    text = SEED.replace("    within: {bars: 24, after: sweep}", "    within: {bars: 24, after: sw")
    row, col = at_end_of(text, "after: sw")
    assert [c.text for c in completions(text, row, col)[1]] == ["sweep"]
    text = SEED.replace("    within: {bars: 24, after: sweep}", "    within: {bars: 24, ")
    row, col = at_end_of(text, "within: {bars: 24, ")
    assert [c.text for c in completions(text, row, col)[1]] == ["after"]
    text = SEED.replace("  buffer: {pips: 1}", "  buffer: {p")
    row, col = at_end_of(text, "buffer: {p")
    assert [c.text for c in completions(text, row, col)[1]] == ["pips", "points"]
    row, col = at_end_of(SEED, "goes with it")
    assert completions(SEED, row, col)[1] == []  # inside a comment
    # a new stop offers the fixed distances too
    text = SEED.replace("  beyond: sweep\n  buffer: {pips: 1}", "  ")
    row, _ = at_end_of(text, "stop:")
    assert {"beyond", "atr", "pips", "points", "buffer"} <= {c.text for c in completions(text, row + 1, 2)[1]}


def test_hover_help_joins_the_schema_description_and_the_docs_row():
    assert "IANA time zone" in key_help(("market", "clock")) or "session clock" in key_help(("market", "clock"))
    help_text = key_help(("stop", "pips"))
    assert "fixed distance" in help_text
    assert "docs/rules.md" in key_help(("market", "bias", "trade"))


@pytest.mark.parametrize("line, issue_col, expected", [
    ("    min_sise: {pips: 1}", 5, (4, len("min_sise"))),
    ("  zone: fvgg   # the gap", 9, (8, 4)),
    ("    levels: [asia.hgh, asia.low]", 13, (12, len("[asia.hgh, asia.low]"))),
    ('  close_at: "25:00"', 13, (12, 7)),
    ("  - name: x", 5, (4, 4)),
])
def test_squiggle_spans_cover_exactly_the_key_or_value(line, issue_col, expected):
    assert issue_span([line], RuleIssue(1, issue_col, "m"))[1:] == expected


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_libyaml_reads_every_test_rule_as_pyyaml_does(path: Path, monkeypatch):
    text = path.read_text(encoding="utf-8", errors="replace")
    fast = yaml_source.parse_yaml(text, str(path))
    monkeypatch.setattr(yaml_source, "_CLoader", None)
    slow = yaml_source.parse_yaml(text, str(path))
    assert fast[0] == slow[0]
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]


def test_libyaml_positions_match_after_non_ascii_text(monkeypatch):
    text = SEED.replace("name: Asia range sweep in London", "name: Asia range — sweep in London ☕ ünïcode") \
        .replace("    session: london", "    session: londn  # über")
    fast = validate_text(text, "r.yaml")[1]
    monkeypatch.setattr(yaml_source, "_CLoader", None)
    assert fast == validate_text(text, "r.yaml")[1] and fast
