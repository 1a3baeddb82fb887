"""The vision review end to end through the real langchain-openai client against a stand-in server on 127.0.0.1.

Each case scripts what the "model" answers (valid, fenced, invalid, off-schema, ungrounded, 429,
500, too slow, refusal) and checks what reached the server (a decodable PNG, the context), what
the review returns or raises, and what is stored (a whole row, or an error row; never half).
"""

from __future__ import annotations

import json
import time

import pytest

from ita_desktop.core.job_engine import JobCancelled
from ita_desktop.domain.timeframes import Timeframe
from ita_desktop.vision import model_client
from ita_desktop.vision.model_client import ReviewFault
from tests.standins.openai_server import StandinOpenAI, Step
from tests.support.cores import new_core
from tests.support.review_answers import as_text, tiny_png, valid_answer

pytestmark = [pytest.mark.standin, pytest.mark.realdata]
M15 = Timeframe.M15


@pytest.fixture
def core(eurusd_store):
    with new_core() as c:
        c.settings.model.name = "standin-vision"
        c.settings.model.max_retries = 1
        yield c


@pytest.fixture
def context(core):
    return core.reviews.context("EURUSD", M15)


def run(core, context, script, **settings):
    with StandinOpenAI(script) as server:
        core.settings.model.endpoint = server.endpoint
        for key, value in settings.items():
            setattr(core.settings.model, key, value)
        try:
            return core.reviews.review("EURUSD", M15, tiny_png(), context=context), server
        except ReviewFault as fault:
            return fault, server


def test_standin_valid_answer_is_grounded_stored_and_the_request_carries_png_and_context(core, context):
    stored, server = run(core, context, [Step(as_text(valid_answer(context)))])
    assert stored.answer["bias"] == "bullish" and stored.error is None
    seen = server.requests[0]
    assert seen.png_size == (64, 40)
    assert seen.context["symbol"] == "EURUSD" and seen.context["timeframe"] == "M15"
    assert {o["id"] for o in seen.context["objects"]} == context.ids and context.ids
    assert seen.body["response_format"]["type"] == "json_schema"
    assert seen.body["model"] == "standin-vision"
    g = stored.grounding
    assert g["failed"] == 0 and g["checked"] == 5, g
    assert stored.prompt_version.startswith("chart_review/1@")
    assert stored.endpoint_host.startswith("127.0.0.1:")
    assert stored.picture_path.read_bytes() == tiny_png()
    assert stored.tokens["total_tokens"] == 1500
    assert core.reviews.list("EURUSD")[0].id == stored.id


def test_standin_fenced_json_is_read_without_a_repair(core, context):
    stored, server = run(core, context, [Step("```json\n" + as_text(valid_answer(context)) + "\n```")])
    assert stored.answer["confidence"] == 0.62 and len(server.requests) == 1


def test_standin_invalid_json_gets_one_repair_then_garbage_is_an_error_row(core, context):
    stored, server = run(core, context, [Step("{'bias': bullish,"), Step(as_text(valid_answer(context)))])
    assert stored.answer["bias"] == "bullish" and len(server.requests) == 2
    repair = server.requests[1].body["messages"][-1]["content"]
    assert "not valid" in repair
    fault, server = run(core, context, [Step("not json at all, sorry {")])
    assert isinstance(fault, ReviewFault) and fault.kind == "garbage" and len(server.requests) == 2
    row = core.reviews.list("EURUSD")[0]
    assert row.error_kind == "garbage" and row.answer is None and len(row.raw_answer) == 2


def test_standin_off_schema_json_is_repaired(core, context):
    bad = valid_answer(context, bias="up", confidence=3)
    stored, server = run(core, context, [Step(as_text(bad)), Step(as_text(valid_answer(context)))])
    assert stored.answer["bias"] == "bullish" and len(server.requests) == 2
    assert "bias" in server.requests[1].body["messages"][-1]["content"]


def test_standin_prices_off_the_chart_and_unknown_ids_are_kept_not_drawn(core, context):
    answer = valid_answer(context)
    answer["annotations"][0]["price"] = context.price_high * 1.5
    answer["annotations"][3]["ref_id"] = "fvg-bull-19990101T0000"
    answer["annotations"][2]["time2"] = "2031-01-01T00:00:00Z"
    answer["trade_idea"]["stop"] = context.price_high  # a long's stop above its entry
    stored, _ = run(core, context, [Step(as_text(answer))])
    g = stored.grounding
    assert [a["ok"] for a in g["annotations"]] == [False, True, False, False]
    assert g["trade_idea"]["ok"] is False and g["failed"] == 4 and g["failure_rate"] == pytest.approx(0.8)
    assert g["reasons"] == {"price_off_chart": 1, "unknown_id": 1, "time_outside_window": 1, "wrong_side": 1}
    assert len(stored.answer["annotations"]) == 4  # kept in the record


def test_standin_429_with_retry_after_is_honoured_then_reported(core, context):
    t0 = time.monotonic()
    stored, server = run(core, context, [Step(status=429, headers={"retry-after": "1"}), Step(as_text(valid_answer(context)))])
    assert stored.answer is not None and len(server.requests) == 2 and time.monotonic() - t0 >= 0.9
    fault, server = run(core, context, [Step(status=429, headers={"retry-after": "1"})])
    assert fault.kind == "rate_limited" and "Retry-After" in str(fault) and "1 s" in str(fault)
    assert len(server.requests) == 2  # one try and max_retries=1 retry


def test_standin_500_backs_off_then_fails_clearly(core, context):
    fault, server = run(core, context, [Step(status=500)])
    assert fault.kind == "server_error" and "HTTP 500" in str(fault) and len(server.requests) == 2
    assert core.reviews.list("EURUSD")[0].error_kind == "server_error"


def test_standin_too_slow_is_a_timeout(core, context):
    fault, _ = run(core, context, [Step(as_text(valid_answer(context)), delay_s=3)], timeout_s=0.5, max_retries=0)
    assert fault.kind == "timeout" and "0.5 s" in str(fault)


def test_standin_refusal_is_reported(core, context):
    fault, _ = run(core, context, [Step(None, refusal="I can't help with trading advice.")])
    assert fault.kind == "refusal" and "trading advice" in str(fault)
    fault, _ = run(core, context, [Step("I'm sorry, but I can't assist with that.")])
    assert fault.kind == "refusal"


def test_standin_without_json_schema_falls_back_to_json_mode(core, context):
    model_client._json_mode_only.clear()
    stored, server = run(core, context, [Step(as_text(valid_answer(context)), reject_json_schema=True)])
    assert stored.method == "json_mode"
    assert [r.body["response_format"]["type"] for r in server.requests] == ["json_schema", "json_object"]
    model_client._json_mode_only.clear()


def test_standin_cancel_returns_at_once_and_stores_nothing(core, context):
    calls = {"n": 0}
    start = time.monotonic()

    def check():
        calls["n"] += 1
        if time.monotonic() - start > 0.3:
            raise JobCancelled("review: cancelled")

    with StandinOpenAI([Step(as_text(valid_answer(context)), delay_s=3)]) as server:
        core.settings.model.endpoint = server.endpoint
        with pytest.raises(JobCancelled):
            core.reviews.review("EURUSD", M15, tiny_png(), context=context, check=check)
        assert time.monotonic() - start < 2
    assert core.reviews.list("EURUSD") == []


def test_standin_follow_up_keeps_the_conversation(core, context):
    stored, _ = run(core, context, [Step(as_text(valid_answer(context)))])
    with StandinOpenAI([Step("The order block at that price was already mitigated.")]) as server:
        core.settings.model.endpoint = server.endpoint
        text = core.reviews.follow_up(stored.id, "why not the order block at 1.0850?")
        seen = server.requests[0]
    assert "mitigated" in text and seen.png_size == (64, 40)
    assert "response_format" not in seen.body
    again = core.reviews.get(stored.id)
    assert [t["role"] for t in again.conversation] == ["assistant", "user", "assistant"]
    assert again.conversation[1]["content"] == "why not the order block at 1.0850?"


def test_standin_missing_key_for_a_remote_endpoint_and_no_key_stored_anywhere(core, context, ita_home, monkeypatch):
    core.settings.model.endpoint = "https://models.example.invalid/v1"
    with pytest.raises(ReviewFault) as info:
        core.reviews.review("EURUSD", M15, tiny_png(), context=context)
    assert info.value.kind == "missing_key" and "openai_api_key" in str(info.value)
    # With a key, the endpoint treated as remote: the key goes in the header and nowhere else
    # (the log file at DEBUG, where the OpenAI client logs its requests, included).
    import logging

    from ita_desktop import log_setup, secrets
    from ita_desktop.paths import app_paths

    log_file = log_setup.configure(app_paths().logs, level="DEBUG", console=False)
    logging.getLogger("openai").setLevel(logging.DEBUG)
    logging.getLogger("httpx").setLevel(logging.DEBUG)

    key = "sk-standin-SECRET-4242"
    secrets.set_secret("openai_api_key", key)
    monkeypatch.setattr(model_client, "LOCAL_HOSTS", ())
    stored, server = run(core, context, [Step(as_text(valid_answer(context)))])
    assert server.requests[0].authorization == f"Bearer {key}"
    core.close()
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert log_file.exists() and log_file.stat().st_size > 0
    assert "chat/completions" in log_file.read_text() and key not in log_file.read_text()
    for path in ita_home.rglob("*"):
        if path.is_file() and path.name != "test-keyring.json":
            assert key.encode() not in path.read_bytes(), path
