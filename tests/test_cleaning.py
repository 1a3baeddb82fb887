"""The cleaning checks on their own: each rejected row reported once, under its first reason,
with its file row; valid rows untouched."""

from __future__ import annotations

import numpy as np

from ita_desktop.data.cleaning import Report, check_duplicates, check_order, check_prices


def columns(rows: list[tuple[float, float, float, float, int, int]]) -> dict[str, np.ndarray]:
    arr = np.array(rows, dtype=np.float64)
    return {"open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3],
            "tick_volume": arr[:, 4].astype(np.int64), "spread": arr[:, 5].astype(np.int64)}


def test_each_bad_row_is_reported_once_under_its_first_reason():
    cols = columns([
        (1.1, 1.2, 1.0, 1.1, 5, 1),    # row 2: fine
        (-1.0, 1.2, 1.3, 1.1, 5, 1),   # row 3: negative open AND high < low -> reported as nonpositive only
        (1.1, 1.0, 1.2, 1.1, 5, 1),    # row 4: high < low
        (1.3, 1.2, 1.0, 1.1, 5, 1),    # row 5: open above high
        (1.1, 1.2, 1.0, 0.9, 5, 1),    # row 6: close below low
        (1.1, 1.2, 1.0, 1.1, -5, 1),   # row 7: negative volume
    ])
    rows = np.arange(2, 8)
    ok = np.ones(6, dtype=bool)
    report = Report()
    check_prices(cols, rows, ok, report)
    assert [(f.kind, f.rows) for f in report.findings] == [
        ("nonpositive_price", [3]), ("negative_volume", [7]), ("high_below_low", [4]),
        ("open_outside_range", [5]), ("close_outside_range", [6])]
    assert ok.tolist() == [True, False, False, False, False, False]


def test_rows_already_rejected_are_not_reported_again():
    cols = columns([(1.1, 1.0, 1.2, 1.1, 5, 1)])
    ok = np.zeros(1, dtype=bool)
    report = Report()
    check_prices(cols, np.array([2]), ok, report)
    assert report.findings == []


def test_duplicates_identical_keep_first_conflicting_drop_all():
    cols = columns([
        (1.1, 1.2, 1.0, 1.1, 5, 1),   # row 2, t=0
        (1.1, 1.2, 1.0, 1.1, 5, 1),   # row 3, t=60
        (1.1, 1.2, 1.0, 1.1, 5, 1),   # row 4, t=60 identical to row 3
        (1.1, 1.2, 1.0, 1.1, 5, 1),   # row 5, t=120
        (1.1, 1.2, 1.0, 1.1, 5, 1),   # row 6, t=60 identical again
        (1.1, 1.2, 1.0, 1.1, 6, 1),   # row 7, t=0 differs from row 2 in volume
    ])
    time = np.array([0, 60, 60, 120, 60, 0])
    rows = np.arange(2, 8)
    ok = np.ones(6, dtype=bool)
    report = Report()
    check_duplicates(time, cols, rows, ok, report)
    assert [(f.kind, f.rows, f.rejected) for f in report.findings] == [
        ("duplicate_conflicting", [2, 7], True), ("duplicate_identical", [4, 6], True)]
    assert ok.tolist() == [False, True, False, True, False, False]


def test_out_of_order_rows_are_reported_but_kept():
    time = np.array([0, 120, 60, 180, 30, 240])
    ok = np.ones(6, dtype=bool)
    report = Report()
    check_order(time, np.arange(2, 8), ok, report)
    assert [(f.kind, f.rows, f.rejected) for f in report.findings] == [("out_of_order", [4, 6], False)]
    assert ok.all()


def test_first_rejected_is_the_lowest_row_with_its_column():
    report = Report()
    report.add("note", "not a rejection", np.array([2]), rejected=False)
    report.add("unparseable_number", "high is not a number", np.array([9, 12]), column=4)
    report.add("high_below_low", "high is below low", np.array([5]))
    row, finding, column = report.first_rejected()
    assert (row, finding.kind, column) == (5, "high_below_low", None)
