"""Reviews: the chart picture and its detector context to a vision model, the answer grounded and stored.

The faces bring the picture (PNG bytes: the window grabs its chart, the CLI has one rendered headless
by ui/chart_snapshot.py, or takes --image); everything else happens here, off the GUI thread: the
context from the core's detection, the call (vision/, the only code that speaks to a model), the
grounding, and one complete row in the ``reviews`` table, an error row when the model failed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ita_desktop.bus.events import ReviewReady
from ita_desktop.domain.errors import InputError, ItaError
from ita_desktop.domain.timeframes import Timeframe

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.storage.review_records import StoredReview
    from ita_desktop.vision.review_context import ReviewContext

VISIBLE_BARS = 120


def _no_check() -> None:
    return None


@dataclass
class ReviewTimings:
    """The app's own time per review (ms), the model's excluded: what benchmarks/review_bench.py prints."""

    context_ms: float = 0.0
    parse_ms: float = 0.0
    grounding_ms: float = 0.0
    store_ms: float = 0.0
    model_ms: float = 0.0


class ReviewService:
    def __init__(self, core: Core) -> None:
        self._core = core
        self.last_timings = ReviewTimings()

    # -- inputs -------------------------------------------------------------------------------
    def model_config(self) -> Any:
        from ita_desktop.vision.model_client import ModelConfig

        return ModelConfig.from_settings(self._core.settings.model)

    def context(self, symbol: str, timeframe: Timeframe, at: int | None = None, *, visible_bars: int = VISIBLE_BARS,
                occurrence: dict[str, Any] | None = None) -> ReviewContext:
        """What is on the chart of ``symbol`` ``timeframe`` ending at the bar at or before ``at`` (default: the last)."""
        from ita_desktop.vision.review_context import build_context

        end = None if at is None else int(at) + 1
        tail = self._core.series.load(symbol, timeframe, None, end)
        if not len(tail):
            raise InputError(f"no {symbol} {timeframe.value} bars stored" + ("" if at is None else " up to --at")
                             + " (see `ita data list`)")
        start = int(tail.time[max(0, len(tail) - visible_bars)])
        found = self._core.detection.detect_window(symbol, timeframe, start, end)
        digits = self._core.series.digits(symbol) or 5
        sessions = self._core.settings.sessions
        return build_context(found.bars, found.result.tables, digits=digits, clock=sessions.clock,
                             windows=dict(sessions.windows), occurrence=occurrence, visible_bars=len(found.window))

    # -- the review -----------------------------------------------------------------------------
    def review(self, symbol: str, timeframe: Timeframe | str, png: bytes, *, at: int | None = None,
               context: ReviewContext | None = None, check: Any = None, subject: str = "chart",
               occurrence: dict[str, Any] | None = None) -> StoredReview:
        """Ask, ground, store; returns the stored review. A model fault is stored as an error row and raised
        (ReviewFault: its ``kind`` and message say what happened); a cancel stores nothing."""
        from ita_desktop import secrets
        from ita_desktop.vision.grounding import ground
        from ita_desktop.vision.model_client import ReviewFault, VisionModel, api_key_for, review_messages, run_cancellable
        from ita_desktop.vision.prompt_file import load_prompt

        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise InputError("the chart picture is not a PNG file", column="--image")
        tf = Timeframe.parse(timeframe) if isinstance(timeframe, str) else timeframe
        check = check or _no_check
        timings = ReviewTimings()
        t0 = time.perf_counter()
        if context is None:
            context = self.context(symbol, tf, at, occurrence=occurrence)
        timings.context_ms = (time.perf_counter() - t0) * 1000
        prompt = load_prompt()
        config = self.model_config()
        record: dict[str, Any] = dict(png=png, symbol=symbol, timeframe=tf.value,
                                      window=(context.first_time, context.last_time), endpoint_host=config.host,
                                      model=config.name, prompt_version=prompt.version, context=context.payload,
                                      subject=subject)
        messages = review_messages(prompt.text, context.payload, png)
        check()
        t1 = time.perf_counter()
        try:
            try:
                key = api_key_for(config, secrets.get_secret)
            except secrets.SecretStoreError as exc:
                raise ReviewFault("missing_key", f"no API key for {config.host}: {exc}") from None
            model = VisionModel(config, key)
            reply = run_cancellable(lambda: model.review(messages), check)
        except ReviewFault as fault:
            timings.model_ms = (time.perf_counter() - t1) * 1000
            self.last_timings = timings
            self._core.store.reviews.add(**record, method=config.structured_output, raw_answer=fault.raw, answer=None,
                                         grounding=None, latency_ms=timings.model_ms, tokens=fault.tokens,
                                         error_kind=fault.kind, error=str(fault))
            raise
        timings.model_ms = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        answer = reply.answer.model_dump(mode="json")
        timings.parse_ms = (time.perf_counter() - t2) * 1000
        t3 = time.perf_counter()
        grounding = ground(reply.answer, context)
        timings.grounding_ms = (time.perf_counter() - t3) * 1000
        t4 = time.perf_counter()
        conversation = [{"role": "assistant", "content": reply.raw[-1]}]
        review_id = self._core.store.reviews.add(**record, method=reply.method, raw_answer=reply.raw, answer=answer,
                                                 grounding=grounding, latency_ms=timings.model_ms, tokens=reply.tokens,
                                                 conversation=conversation)
        timings.store_ms = (time.perf_counter() - t4) * 1000
        self.last_timings = timings
        stored = self._core.store.reviews.get(review_id)
        assert stored is not None
        self._core.bus.publish(ReviewReady(subject=f"review {review_id}", path=str(stored.picture_path),
                                           summary=f"{answer['bias']} {answer['confidence']:.2f}: {answer['summary'][:200]}"))
        return stored

    def follow_up(self, review_id: int, question: str, check: Any = None) -> str:
        """Ask about a stored review: same picture and context, the conversation so far; the answer is stored."""
        from ita_desktop import secrets
        from ita_desktop.vision.model_client import VisionModel, api_key_for, follow_up_messages, run_cancellable
        from ita_desktop.vision.prompt_file import load_prompt

        if not question.strip():
            raise InputError("the question is empty")
        stored = self._core.store.reviews.get(review_id)
        if stored is None or stored.answer is None:
            raise ItaError(f"no successful review {review_id} to ask about")
        png = stored.picture_path.read_bytes()
        messages = follow_up_messages(load_prompt().text, stored.context, png, stored.conversation, question.strip())
        config = self.model_config()
        model = VisionModel(config, api_key_for(config, secrets.get_secret))
        text, tokens = run_cancellable(lambda: model.follow_up(messages), check or _no_check)
        conversation = [*stored.conversation, {"role": "user", "content": question.strip()},
                        {"role": "assistant", "content": text}]
        total = {k: stored.tokens.get(k, 0) + tokens.get(k, 0) for k in set(stored.tokens) | set(tokens)}
        self._core.store.reviews.set_conversation(review_id, conversation, total)
        return text

    def list(self, symbol: str | None = None, limit: int = 50) -> list[StoredReview]:
        return self._core.store.reviews.list(symbol, limit)

    def get(self, review_id: int) -> StoredReview | None:
        return self._core.store.reviews.get(review_id)
