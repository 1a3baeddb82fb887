"""A full detector pass allocates without numpy's huge-page advice and puts the advice back after (issue 19:
a fresh process's first pass spent more time in huge-page faults than in the detectors)."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest

from ita_desktop.detectors import dispatcher
from ita_desktop.detectors.dispatcher import detect, small_pages

switch = getattr(dispatcher._multiarray, "_set_madvise_hugepage", None)
pytestmark = pytest.mark.skipif(switch is None, reason="this numpy has no huge-page switch")


def _bars(n: int = 3000) -> types.SimpleNamespace:
    rng = np.random.default_rng(7)
    close = 1.1 + np.cumsum(rng.normal(0, 1e-4, n))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0, 1e-4, n))
    return types.SimpleNamespace(time=1_700_000_000 + 60 * np.arange(n, dtype=np.int64), open=open_,
                                 high=np.maximum(open_, close) + spread, low=np.minimum(open_, close) - spread,
                                 close=close)


def _advice() -> bool:
    """numpy's current huge-page advice (reading it means setting it: set it back)."""
    now = switch(True)
    switch(now)
    return now


@pytest.mark.parametrize("before", [True, False])
def test_the_advice_is_off_during_a_pass_and_as_it_was_after(before: bool, monkeypatch) -> None:
    seen = []
    real_build = dispatcher.DetectionResult._build

    def build(self, n_hint):
        seen.append(_advice())
        return real_build(self, n_hint)

    monkeypatch.setattr(dispatcher.DetectionResult, "_build", build)
    old = switch(before)
    try:
        result = detect(_bars(), "all")
        assert seen == [False]
        assert _advice() is before
        assert len(result.tables["swings"]) > 0
    finally:
        switch(old)


def test_passes_on_several_threads_put_the_advice_back_once_the_last_one_ends() -> None:
    old = switch(True)
    inside = threading.Barrier(2)
    states = []

    def one() -> None:
        with small_pages():
            inside.wait(timeout=10)
            states.append(_advice())
            inside.wait(timeout=10)

    try:
        threads = [threading.Thread(target=one) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert states == [False, False]
        assert _advice() is True
    finally:
        switch(old)


def test_the_env_switch_keeps_numpys_advice(monkeypatch) -> None:
    monkeypatch.setenv("ITA_DETECT_HUGE_PAGES", "1")
    old = switch(True)
    try:
        with small_pages():
            assert _advice() is True
    finally:
        switch(old)


def test_without_numpys_switch_a_pass_still_runs(monkeypatch) -> None:
    monkeypatch.setattr(dispatcher, "_multiarray", types.SimpleNamespace())
    result = detect(_bars(), "all")
    assert len(result.tables["fvg"]) > 0
