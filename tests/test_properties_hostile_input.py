"""Property tests (hypothesis) for the CSV importer and the rule loader, issue 20.

One property each: any input ends in a clean import (or a valid rule) or a located message, never
a traceback, a hang or a change to the store. Bounded for CI: a fixed number of examples, a
deadline per example far above the normal cost, ``derandomize`` and no example database, so every
run tries the same inputs.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql

from ita_desktop.domain.errors import InputError
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.workflows.bar_ingest import import_file
from ita_desktop.rules.loader import validate_text
from ita_desktop.storage.store import Store
from tests.test_rules_loader import RULE

PYTHON_WORDS = ("instances of", "NoneType", "Traceback", "object has no attribute", "unhashable",
                "invalid literal", "object is not", "takes no arguments", "index out of range")
BOUNDED = settings(max_examples=80, deadline=20_000, derandomize=True, database=None, print_blob=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                          HealthCheck.data_too_large])
SLOW_EXAMPLE_S = 15  # gross bound: a hang (the alias bomb grew forever) fails, load on CI does not


# -- CSV files -------------------------------------------------------------------------------

HEADERS = [
    "time,open,high,low,close,tick_volume",
    "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>",
    "Date;Open;High;Low;Close",
    "<DATE>\t<TIME>\t<BID>\t<ASK>\t<LAST>\t<VOLUME>\t<FLAGS>",
    "timestamp,bid,ask",
    "time,open,high,low,close,tick_volume,spread,real_volume",
    "\"time,open,high,low,close\"",
]
TIMES = st.one_of(
    st.builds(lambda y, mo, d, h, mi: f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:00",
              st.sampled_from([1601, 1677, 1969, 1971, 2024, 2024, 2024, 2262, 2300, 9999]),
              st.integers(1, 12), st.integers(1, 28), st.integers(0, 23), st.integers(0, 59)),
    st.builds(lambda d, h, mi: f"2024.01.{d:02d}\t{h:02d}:{mi:02d}:00", st.integers(1, 28), st.integers(0, 23),
              st.integers(0, 59)),
    st.integers(0, 10**13).map(str),
    st.sampled_from(["", "nan", "2024-02-30 00:00:00", "24:00", "0000-00-00 00:00:00", "1e30"]),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(0.5, 2.0).map(lambda x: f"{x:.5f}"),
    st.integers(-10**30, 10**30).map(str),
    st.sampled_from(["", "NaN", "null", "1e308", "-0", "1,5", "0x10", "9" * 400, " 1.1 ", "\"1.1\""]),
)
JUNK = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)
CELL = st.one_of(TIMES, NUMBERS, NUMBERS, JUNK)
LINE = st.lists(CELL, min_size=0, max_size=10).flatmap(
    lambda cells: st.sampled_from([",", ";", "\t"]).map(lambda d: d.join(cells)))
ENDINGS = st.sampled_from(["\n", "\r\n", "\r", ""])
PRICE = st.one_of(st.floats(1.0, 1.2).map(lambda x: f"{x:.5f}"), NUMBERS)
BAR_ROW = st.builds(lambda t, prices, volume: ",".join([t, *prices, volume]),
                    st.one_of(st.integers(0, 600).map(lambda m: f"2024-01-{2 + m // 1440:02d} {m // 60 % 24:02d}:{m % 60:02d}:00"),
                              TIMES),
                    st.lists(PRICE, min_size=4, max_size=4), st.one_of(st.integers(0, 500).map(str), NUMBERS))


@st.composite
def csv_bytes(draw: Any) -> bytes:
    header = draw(st.one_of(st.sampled_from(HEADERS), LINE))
    rows = draw(st.lists(st.one_of(BAR_ROW, BAR_ROW, LINE), max_size=40))
    ending = draw(ENDINGS)
    text = header + "\n" + "".join(r + draw(st.sampled_from(["\n", ending or "\n"])) for r in rows)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()) and data:  # cut anywhere, as a file still being written
        data = data[: draw(st.integers(0, len(data)))]
    if draw(st.integers(0, 9)) == 0:
        data += draw(st.binary(max_size=20))
    return data


@st.composite
def mostly_valid_csv(draw: Any) -> bytes:
    """A clean M1 or M5 file with a few hostile edits: most end in an import with findings."""
    step = draw(st.sampled_from([1, 5]))
    n = draw(st.integers(2, 60))
    lines = []
    for k in range(n):
        m = k * step
        price = 1.1 + (k % 7) * 1e-4
        lines.append([f"2024-01-{2 + m // 1440:02d} {m // 60 % 24:02d}:{m % 60:02d}:00",
                      f"{price:.5f}", f"{price + 2e-4:.5f}", f"{price - 2e-4:.5f}", f"{price + 1e-4:.5f}", "12"])
    for _ in range(draw(st.integers(0, 4))):
        row = draw(st.integers(0, n - 1))
        how = draw(st.integers(0, 3))
        if how == 0:
            if lines[row]:
                lines[row][draw(st.integers(0, len(lines[row]) - 1))] = draw(CELL)
        elif how == 1:
            lines[row] = lines[row][:-1]
        elif how == 2:
            lines.insert(row, list(lines[row]))
        else:
            lines.insert(row, [draw(JUNK)])
    text = "time,open,high,low,close,tick_volume\n" + "".join(",".join(cells) + "\n" for cells in lines)
    return text.encode("utf-8", errors="replace")


def _store_state(store: Store) -> tuple:
    with store.engine.connect() as conn:
        return tuple(conn.execute(sql(f"SELECT count(*), coalesce(max(rowid), 0) FROM {table}")).one()
                     for table in ("ingests", "bar_chunks", "instruments"))


@BOUNDED
@given(data=st.one_of(csv_bytes(), mostly_valid_csv()), timeframe=st.sampled_from([None, Timeframe.M1, Timeframe.M5, Timeframe.D1]))
def test_any_csv_ends_in_a_clean_import_or_a_located_message_and_a_refusal_stores_nothing(ita_home, data, timeframe):
    with tempfile.TemporaryDirectory() as folder, Store.open() as store:
        path = Path(folder) / "input.csv"
        path.write_bytes(data)
        before = _store_state(store)
        started = time.perf_counter()
        try:
            summary = import_file(store, path, symbol="PROP", timeframe=timeframe, server_tz="Europe/Athens")
        except InputError as exc:
            event("refused with a located message")
            assert exc.file == str(path), exc
            assert exc.message and len(exc.message) < 500
            assert not any(w in exc.message for w in PYTHON_WORDS), exc.message
            assert _store_state(store) == before
        else:
            event("imported")
            assert summary.rows_stored >= 1 and summary.rows_read >= summary.rows_stored
            for finding in summary.findings:
                assert len(finding.message) < 500 and not any(w in finding.message for w in PYTHON_WORDS)
        assert time.perf_counter() - started < SLOW_EXAMPLE_S


# -- rule files ------------------------------------------------------------------------------

HOSTILE_SNIPPETS = [
    "&a ", "*a", "*zz", "&a [*a]", "!!python/object/apply:os.system [x]", "!!python/name:os.system", "!x ",
    "[" * 80, "]" * 80, "{" * 80, "\x00", "\t", "9" * 5000, "1.0e+30", ".inf", "-.nan", "2147483648",
    "<<: *a", "? ", ": ", "- ", "'", '"', "#", "|", ">", "%YAML 1.1\n", "---\n", "...\n", "\ufeff",
    "yes", "on", "09:30", "null", "~", "[1, 2]", "{bars: 1e30}", "\n  - ", "\n", "length: [1]",
]


@st.composite
def mutated_rule(draw: Any) -> str:
    text = RULE
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        choice = draw(st.integers(0, 3))
        if choice == 0:
            text = text[:at] + draw(st.sampled_from(HOSTILE_SNIPPETS)) + text[at:]
        elif choice == 1:
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif choice == 2:
            text = text[:at] + draw(JUNK) + text[at:]
        else:
            text = text[:at] + draw(st.sampled_from(HOSTILE_SNIPPETS)) * draw(st.integers(2, 40)) + text[at:]
    return text


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**40, 10**40), st.floats(), JUNK,
                    st.sampled_from(["09:30", "M5", "sweep", "limit", "ce", "asia.high", "bullish"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(
                                                           ["bars", "after", "pips", "points", "atr", "r", "length",
                                                            "k", "name", "event", "x"]), inner, max_size=4)),
                      max_leaves=12)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, prefix + (i,))
    return out


@st.composite
def rule_with_a_wrong_value(draw: Any) -> str:
    data = yaml.safe_load(RULE)
    data.setdefault("detectors", {"swings": {"length": 3}, "equal": {"max_swings": 5}, "displacement": {"k": 2.0}})
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)[1:]))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = draw(VALUES)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _check_rule_outcome(text: str) -> None:
    started = time.perf_counter()
    rule, issues = validate_text(text, "prop.yaml")
    assert time.perf_counter() - started < SLOW_EXAMPLE_S
    assert (rule is None) == bool(issues)
    for issue in issues:
        assert issue.file == "prop.yaml" and issue.line >= 1 and issue.column >= 1
        assert issue.message and len(issue.message) < 600, issue.message[:200]
        assert not any(w in issue.message for w in PYTHON_WORDS), issue.message


@BOUNDED
@given(text=mutated_rule())
def test_any_mutated_rule_text_is_a_rule_or_located_issues(text):
    _check_rule_outcome(text)


@BOUNDED
@given(text=rule_with_a_wrong_value())
def test_any_value_anywhere_in_a_rule_is_a_rule_or_located_issues(text):
    _check_rule_outcome(text)
