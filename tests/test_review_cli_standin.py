"""`ita review` and `ita review evaluate` against the stand-in OpenAI server on 127.0.0.1, on the real EURUSD.

The picture is drawn by the chart itself in a child process (offscreen Qt), so these also check
that the CLI never needs a window and that what reached the "model" is a real, decodable PNG.
"""

from __future__ import annotations

import json

import pytest

from ita_desktop.cli.main import main
from ita_desktop.config import save_user_settings
from ita_desktop.domain.timeframes import Timeframe
from tests.standins.openai_server import StandinOpenAI, Step
from tests.support.cores import new_core
from tests.support.review_answers import as_text, tiny_png, valid_answer

pytestmark = [pytest.mark.standin, pytest.mark.realdata]


def _use(server: StandinOpenAI) -> None:
    save_user_settings({"model": {"endpoint": server.endpoint, "name": "standin-vision", "timeout_s": 20, "max_retries": 0}})


def test_standin_cli_review_json_draws_the_chart_and_prints_the_contract(eurusd_store, capsys):
    with new_core() as core:
        context = core.reviews.context("EURUSD", Timeframe.M15)
    with StandinOpenAI([Step(as_text(valid_answer(context)))]) as server:
        _use(server)
        assert main(["review", "--symbol", "EURUSD", "--timeframe", "M15", "--json"]) == 0
        seen = server.requests[0]
    out = json.loads(capsys.readouterr().out)
    assert {"review_id", "model", "prompt_version", "answer", "grounding"} <= set(out)
    assert out["model"] == "standin-vision" and out["answer"]["bias"] == "bullish"
    assert out["grounding"]["failed"] == 0
    assert seen.png_size == (1280, 720)  # the chart, drawn headless at the fixed size
    assert seen.context["visible"]["to"] == out["window"]["to"]


def test_standin_cli_review_text_with_image_and_at(eurusd_store, tmp_path, capsys):
    image = tmp_path / "mine.png"
    image.write_bytes(tiny_png())
    at = "2024-01-10T12:00"
    with new_core() as core:
        context = core.reviews.context("EURUSD", Timeframe.M15, 1704888000)
    answer = valid_answer(context)
    answer["annotations"][0]["price"] = 9.99
    with StandinOpenAI([Step(as_text(answer))]) as server:
        _use(server)
        code = main(["review", "--symbol", "EURUSD", "--timeframe", "M15", "--at", at, "--image", str(image)])
        seen = server.requests[0]
    text = capsys.readouterr().out
    assert code == 0 and seen.png_size == (64, 40)
    assert seen.context["visible"]["to"] <= "2024-01-10T12:00:00Z"
    assert "NOT drawn" in text and "price_off_chart" in text and "1 of 5 items failed" in text


def test_standin_cli_model_failure_is_one_line_and_exit_1(eurusd_store, tmp_path, capsys):
    image = tmp_path / "mine.png"
    image.write_bytes(tiny_png())
    with StandinOpenAI([Step(status=500)]) as server:
        _use(server)
        code = main(["review", "--symbol", "EURUSD", "--timeframe", "M15", "--image", str(image), "--json"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "HTTP 500" in lines[0]


def test_standin_cli_evaluate_reports_accuracy_calibration_and_grounding(eurusd_store, capsys):
    answer = {"bias": "bullish", "confidence": 0.7, "summary": "s", "risks": [], "trade_idea": None,
              "annotations": [{"kind": "level", "text": "made up", "price": 0.5, "price2": None, "time": None,
                               "time2": None, "ref_id": None}]}
    with StandinOpenAI([Step(as_text(answer))]) as server:
        _use(server)
        assert main(["review", "evaluate", "--rule", "asia_sweep", "--symbol", "EURUSD", "--limit", "3", "--json"]) == 0
        seen = server.requests
    report = json.loads(capsys.readouterr().out)
    n = len(seen)
    assert 1 <= n <= 3 and report["occurrences"] == report["answered"] == n
    assert all(s.context["occurrence"]["rule"] == "asia_sweep" for s in seen)
    assert "r_multiple" not in json.dumps(seen[0].context)  # the outcome is never sent
    assert report["grounding_failure_rate"] == 1.0
    assert report["direction_calls"] == n and 0 <= report["direction_accuracy"] <= 1
    ups = _ups(report)
    assert report["direction_accuracy"] == pytest.approx(sum(ups) / n)  # every call was "up"
    assert report["brier"] == pytest.approx(sum((0.7 - u) ** 2 for u in ups) / n)
    assert sum(row["n"] for row in report["reliability"]) == n


def _ups(report):
    # 0.7 for every call: observed_up of the one filled bin times n gives how many went up
    row = next(r for r in report["reliability"] if r["n"])
    ups = round(row["observed_up"] * row["n"])
    return [1.0] * ups + [0.0] * (row["n"] - ups)
