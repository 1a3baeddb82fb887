"""The one door to a vision model: LangChain's ChatOpenAI against any OpenAI-compatible endpoint.

Structured output: ``json_schema`` where the server takes it, else JSON mode (``auto`` falls back on
a 400 that names the response format, and remembers that for the endpoint and model); either way the
answer is validated here with pydantic, and an invalid one gets one repair attempt (the error sent
back, the corrected JSON asked for). Retries of 429 (honouring Retry-After) and 5xx (exponential
back-off) are the OpenAI client's own (``max_retries``). Every fault becomes a ReviewFault with a
``kind`` and a message a trader can act on; the key is never part of any message.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from ita_desktop.domain.errors import ItaError
from ita_desktop.vision.answer_schema import ReviewAnswer, response_schema

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
NO_KEY = "no-key-needed-for-a-local-server"  # the OpenAI client wants a value; a local server ignores it
STRUCTURED_METHODS = ("auto", "json_schema", "json_mode")
_REFUSAL = re.compile(r"\b(I can(?:no|')t|I'm sorry|I am sorry|I am unable|I'm unable|cannot (?:help|assist)|"
                      r"can't (?:help|assist)|not able to (?:help|provide))", re.IGNORECASE)
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)
_json_mode_only: set[tuple[str, str]] = set()  # (endpoint, model) that refused json_schema


class ReviewFault(ItaError):
    """A review that could not be had: ``kind`` is one of timeout, rate_limited, server_error, connection,
    refused_key, bad_request, garbage, refusal, missing_key, cancelled."""

    def __init__(self, kind: str, message: str, *, raw: list[str] | None = None, tokens: dict | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.raw = raw or []
        self.tokens = tokens or {}


@dataclass(frozen=True)
class ModelConfig:
    endpoint: str
    name: str
    timeout_s: float = 60.0
    structured_output: str = "auto"
    max_retries: int = 2

    @classmethod
    def from_settings(cls, model: Any) -> ModelConfig:
        return cls(endpoint=str(model.endpoint), name=str(model.name), timeout_s=float(model.timeout_s),
                   structured_output=str(getattr(model, "structured_output", "auto")),
                   max_retries=int(getattr(model, "max_retries", 2)))

    @property
    def host(self) -> str:
        return endpoint_host(self.endpoint)


def endpoint_host(endpoint: str) -> str:
    """The host (and port) of the endpoint: what a review records, never the full URL's secrets."""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def is_local(endpoint: str) -> bool:
    return (urlsplit(endpoint).hostname or "") in LOCAL_HOSTS


def api_key_for(config: ModelConfig, get_secret: Callable[[str], str | None]) -> str:
    """The key for ``config``'s endpoint: none for this machine, else the keyring's or a missing_key fault."""
    if is_local(config.endpoint):
        return NO_KEY
    key = get_secret("openai_api_key")
    if not key:
        raise ReviewFault("missing_key", f"no API key for {config.host}: set openai_api_key in Settings (kept in the "
                                         "OS keyring), or point model.endpoint at a server on this machine")
    return key


def png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def review_messages(system: str, context: dict[str, Any], png: bytes) -> list[Any]:
    """The first turn: the prompt as the system message, the context JSON and the picture as the user's."""
    from langchain_core.messages import HumanMessage, SystemMessage

    text = "Context of the chart (JSON):\n" + json.dumps(context, separators=(",", ":"))
    return [SystemMessage(content=system),
            HumanMessage(content=[{"type": "text", "text": text},
                                  {"type": "image_url", "image_url": {"url": png_data_url(png)}}])]


def follow_up_messages(system: str, context: dict[str, Any], png: bytes, conversation: list[dict[str, str]],
                       question: str) -> list[Any]:
    """The first turn again (same picture and context), the stored conversation, then the trader's question."""
    from langchain_core.messages import AIMessage, HumanMessage

    messages = review_messages(system, context, png)
    for turn in conversation:
        messages.append(AIMessage(content=turn["content"]) if turn["role"] == "assistant"
                        else HumanMessage(content=turn["content"]))
    messages.append(HumanMessage(content=question + "\n(Answer in plain text, a few sentences.)"))
    return messages


def extract_json(text: str) -> Any:
    """The JSON object in a reply that may be fenced (```json ... ```) or wrapped in a sentence."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        a, b = text.find("{"), text.rfind("}")
        if a < 0 or b <= a:
            raise
        return json.loads(text[a:b + 1])


def _text_of(message: Any) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)


def _problems(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:6])
    return f"not valid JSON: {exc}"


def _add_tokens(total: dict[str, int], message: Any) -> None:
    usage = getattr(message, "usage_metadata", None) or {}
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        total[key] = total.get(key, 0) + int(usage.get(key, 0) or 0)


@dataclass
class ModelReply:
    answer: ReviewAnswer
    raw: list[str]  # every reply's text, the repaired one last
    method: str
    repaired: bool
    tokens: dict[str, int] = field(default_factory=dict)


def fault_of(exc: BaseException, config: ModelConfig) -> ReviewFault | None:
    """An OpenAI client error as a ReviewFault naming what happened and what to do; None if not one."""
    import openai

    host = config.host
    if isinstance(exc, ReviewFault):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return ReviewFault("timeout", f"the model at {host} did not answer within {config.timeout_s:g} s "
                                      f"(model.timeout_s), {config.max_retries} retries included: try again or raise it")
    if isinstance(exc, openai.RateLimitError):
        wait = exc.response.headers.get("retry-after") if exc.response is not None else None
        asked = f", asking to wait {wait} s (Retry-After)" if wait else ""
        return ReviewFault("rate_limited", f"the model at {host} is rate limiting (HTTP 429){asked}; still refused after "
                                           f"{config.max_retries} retries: try again later")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ReviewFault("refused_key", f"the model at {host} refused the API key (HTTP {exc.status_code}): "
                                          "check openai_api_key in Settings")
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return ReviewFault("server_error", f"the model at {host} failed (HTTP {exc.status_code}) "
                                           f"{config.max_retries + 1} times with back-off: try again later")
    if isinstance(exc, openai.APIStatusError):
        return ReviewFault("bad_request", f"the model at {host} refused the request (HTTP {exc.status_code}): "
                                          f"{str(exc.message)[:200]}")
    if isinstance(exc, openai.APIConnectionError):
        return ReviewFault("connection", f"cannot reach the model at {host} (model.endpoint): {str(exc)[:150]}")
    return None


class VisionModel:
    """ChatOpenAI for one endpoint and model; ``review`` asks for the structured answer, ``follow_up`` for text."""

    def __init__(self, config: ModelConfig, api_key: str) -> None:
        from langchain_openai import ChatOpenAI

        if config.structured_output not in STRUCTURED_METHODS:
            raise ItaError(f"model.structured_output must be one of {', '.join(STRUCTURED_METHODS)}, "
                           f"not {config.structured_output!r}")
        self.config = config
        self.llm = ChatOpenAI(model=config.name, base_url=config.endpoint, api_key=api_key,
                              timeout=config.timeout_s, max_retries=config.max_retries, temperature=0)

    def _method(self) -> str:
        wanted = self.config.structured_output
        if wanted == "auto":
            return "json_mode" if (self.config.endpoint, self.config.name) in _json_mode_only else "json_schema"
        return wanted

    def _invoke(self, messages: list[Any], method: str) -> dict[str, Any]:
        schema = response_schema() if method == "json_schema" else None
        runnable = self.llm.with_structured_output(schema, method=method, include_raw=True)
        return runnable.invoke(messages)

    def _ask_once(self, messages: list[Any]) -> tuple[dict[str, Any], str]:
        import openai

        method = self._method()
        try:
            return self._invoke(messages, method), method
        except openai.BadRequestError as exc:
            text = str(exc).lower()
            if self.config.structured_output == "auto" and method == "json_schema" and (
                    "response_format" in text or "json_schema" in text):
                _json_mode_only.add((self.config.endpoint, self.config.name))
                return self._invoke(messages, "json_mode"), "json_mode"
            raise

    def review(self, messages: list[Any]) -> ModelReply:
        """The structured answer; one repair turn if the first is not valid. Raises ReviewFault."""
        from langchain_core.messages import AIMessage, HumanMessage

        raws: list[str] = []
        tokens: dict[str, int] = {}
        try:
            for repaired in (False, True):
                out, method = self._ask_once(messages)
                raw = out["raw"]
                _add_tokens(tokens, raw)
                text = _text_of(raw)
                raws.append(text)
                self._refused(raw, text, raws, tokens)
                try:
                    return ModelReply(self._validate(out.get("parsed"), text), raws, method, repaired, tokens)
                except (ValidationError, json.JSONDecodeError) as invalid:
                    problems = _problems(invalid)
                messages = [*messages, AIMessage(content=text),
                            HumanMessage(content=f"That answer is not valid: {problems}. Reply with only the corrected "
                                                 "JSON object that matches the schema, nothing else.")]
            raise ReviewFault("garbage", f"the model at {self.config.host} gave no valid answer, even after one "
                                         f"repair attempt: {problems[:300]}", raw=raws, tokens=tokens)
        except ReviewFault as exc:
            exc.raw, exc.tokens = exc.raw or raws, exc.tokens or tokens
            raise
        except Exception as exc:
            fault = fault_of(exc, self.config)
            if fault is None:
                raise
            fault.raw, fault.tokens = raws, tokens
            raise fault from None

    def _refused(self, raw: Any, text: str, raws: list[str], tokens: dict[str, int]) -> None:
        refusal = (raw.additional_kwargs or {}).get("refusal")
        if not refusal and "{" not in text and _REFUSAL.search(text):
            refusal = text
        if refusal:
            raise ReviewFault("refusal", f"the model at {self.config.host} declined to review: {str(refusal)[:200]}",
                              raw=raws, tokens=tokens)

    @staticmethod
    def _validate(parsed: Any, text: str) -> ReviewAnswer:
        if isinstance(parsed, dict):
            try:
                return ReviewAnswer.model_validate(parsed)
            except ValidationError:
                pass  # the text may still hold a better object (a fence the parser read around)
        return ReviewAnswer.model_validate(extract_json(text))

    def follow_up(self, messages: list[Any]) -> tuple[str, dict[str, int]]:
        """A plain-text answer to the conversation so far (same picture and context in its first turn)."""
        tokens: dict[str, int] = {}
        try:
            reply = self.llm.invoke(messages)
        except Exception as exc:
            fault = fault_of(exc, self.config)
            if fault is None:
                raise
            raise fault from None
        _add_tokens(tokens, reply)
        return _text_of(reply), tokens


def run_cancellable(fn: Callable[[], Any], check: Callable[[], None], poll_s: float = 0.1) -> Any:
    """Run ``fn`` on a helper thread and return its result, calling ``check`` (which raises to cancel)
    every ``poll_s``: a Cancel is honoured at once; the abandoned HTTP call ends by its own timeout."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the waiting thread
            future.set_exception(exc)

    threading.Thread(target=work, name="vision-model-call", daemon=True).start()
    while True:
        check()
        try:
            return future.result(timeout=poll_s)
        except TimeoutError:
            continue


def elapsed_ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
