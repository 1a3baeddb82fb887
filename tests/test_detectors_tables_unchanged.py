"""Every detector table over the 1,000,000-bar chain is bit for bit what the code before issue 19's speed work
found (digests recorded from that code, tests/support/detector_digests.py), on one thread and on several."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.detector_digests import current

pytestmark = pytest.mark.realdata

RECORDED = Path(__file__).resolve().parent / "data" / "detector_digests_1m.json"


@pytest.mark.parametrize("parallel", [False, True], ids=["one thread", "threads"])
def test_every_table_and_series_is_bit_identical_to_the_recorded_one(parallel: bool) -> None:
    recorded = json.loads(RECORDED.read_text())
    found = current(parallel)
    assert set(found) == set(recorded)
    changed = {name: (recorded[name], found[name]) for name in recorded if found[name] != recorded[name]}
    assert not changed, f"detector results changed: {changed}"
