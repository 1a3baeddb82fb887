"""Server and session clocks against zoneinfo, one instant at a time, across DST changes."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from ita_desktop.domain.clock import ServerClock, local_seconds, local_to_utc, utc_offsets, utc_iso


def _epoch(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def test_local_seconds_matches_zoneinfo_every_15_minutes_across_2022_transitions():
    utc = np.arange(_epoch(2022, 3, 10), _epoch(2022, 11, 10), 900, dtype=np.int64)
    got = local_seconds(utc, "America/New_York")
    ny = ZoneInfo("America/New_York")
    expected = np.array([t + int(datetime.fromtimestamp(t, ny).utcoffset().total_seconds()) for t in utc])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("tz", ["America/New_York", "Europe/London", "Australia/Sydney", "UTC"])
def test_sorted_and_unsorted_input_give_the_same_local_times(tz):
    """Sorted input takes the stretch-by-stretch path; it must equal the per-instant lookup, at the
    transition instants (and a minute either side), with repeated times, over several years."""
    rng = np.random.default_rng(7)
    edges = [_epoch(y, m, d, h) for y in (2021, 2022, 2023) for m, d, h in ((3, 13, 7), (11, 6, 6), (3, 27, 1),
                                                                              (10, 30, 1), (4, 3, 16), (10, 2, 16))]
    utc = np.sort(np.r_[rng.integers(_epoch(2021, 1, 1), _epoch(2024, 1, 1), 20_000),
                        [e + k for e in edges for k in (-60, -1, 0, 1, 60)], edges]).astype(np.int64)
    sorted_ = local_seconds(utc, tz)
    np.testing.assert_array_equal(sorted_, utc + utc_offsets(utc, tz))
    shuffled = rng.permutation(len(utc))
    np.testing.assert_array_equal(local_seconds(utc[shuffled], tz), sorted_[shuffled])
    assert local_seconds(utc[:1], tz).tolist() == (utc[:1] + utc_offsets(utc[:1], tz)).tolist()
    assert local_seconds(np.array([], dtype=np.int64), tz).size == 0


def test_offsets_change_exactly_at_the_us_transition_instants():
    spring = _epoch(2022, 3, 13, 7)  # 02:00 EST -> 03:00 EDT
    fall = _epoch(2022, 11, 6, 6)  # 02:00 EDT -> 01:00 EST
    t = np.array([spring - 60, spring, fall - 60, fall])
    assert utc_offsets(t, "America/New_York").tolist() == [-5 * 3600, -4 * 3600, -4 * 3600, -5 * 3600]


def test_unsorted_input_and_empty_input():
    t = np.array([_epoch(2022, 7, 1), _epoch(2022, 1, 1)])
    assert utc_offsets(t, "America/New_York").tolist() == [-4 * 3600, -5 * 3600]
    assert utc_offsets(np.array([], dtype=np.int64), "UTC").size == 0


@pytest.mark.parametrize(
    "spec, naive, expected_utc",
    [
        ("+03:00", (2022, 6, 1, 12), (2022, 6, 1, 9)),
        ("UTC", (2022, 6, 1, 12), (2022, 6, 1, 12)),
        ("-05:00", (2022, 6, 1, 12), (2022, 6, 1, 17)),
        ("NY+7", (2022, 1, 10, 0), (2022, 1, 9, 22)),  # winter: server = GMT+2
        ("NY+7", (2022, 7, 11, 0), (2022, 7, 10, 21)),  # summer: server = GMT+3
        ("Europe/Athens", (2022, 7, 11, 0), (2022, 7, 10, 21)),
        ("America/New_York+7", (2022, 1, 10, 0), (2022, 1, 9, 22)),
    ],
)
def test_server_clock_to_utc_and_back(spec, naive, expected_utc):
    clock = ServerClock.parse(spec)
    got = clock.to_utc(np.array([_epoch(*naive)]))
    assert got[0] == _epoch(*expected_utc)
    assert clock.to_server(got)[0] == _epoch(*naive)


def test_fx_week_opens_at_server_midnight_for_ny_plus_7_in_both_seasons():
    clock = ServerClock.parse("NY+7")
    for sunday_17_ny_utc in (_epoch(2022, 1, 9, 22), _epoch(2022, 7, 10, 21)):
        server = clock.to_server(np.array([sunday_17_ny_utc]))[0]
        assert server % 86400 == 0  # 17:00 New York is 00:00 on the server, winter and summer


@pytest.mark.parametrize("bad", ["", "Mars/Olympus", "NY+", "+25:00x", "Nowhere+3", "+25:00", "NY+15"])
def test_unreadable_server_zone_says_what_is_accepted(bad):
    with pytest.raises(ValueError, match="server time zone|unknown time zone"):
        ServerClock.parse(bad)


def test_local_to_utc_round_trip_and_ambiguous_hour_takes_earlier_instant():
    utc = np.arange(_epoch(2022, 11, 5), _epoch(2022, 11, 8), 600, dtype=np.int64)
    local = local_seconds(utc, "America/New_York")
    back = local_to_utc(local, "America/New_York")
    ambiguous = (local >= _epoch(2022, 11, 6, 1)) & (local < _epoch(2022, 11, 6, 2))
    np.testing.assert_array_equal(back[~ambiguous], utc[~ambiguous])
    assert (back[ambiguous] <= utc[ambiguous]).all()


def test_utc_iso():
    assert utc_iso(_epoch(2022, 1, 4, 18)) == "2022-01-04T18:00:00Z"
