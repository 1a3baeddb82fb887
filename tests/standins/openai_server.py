"""A stand-in OpenAI-compatible chat-completions server on 127.0.0.1, for the vision review's tests.

It follows the documented wire contract the real langchain-openai client speaks (POST
``/v1/chat/completions``, ``choices[0].message``, ``usage``, error bodies, Retry-After), records
every request, checks what a review must send (a decodable PNG as a data URL and the context
JSON), and answers with a script: one step per request, the last step repeated.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


@dataclass
class Step:
    """One scripted answer: ``content`` as the assistant's text (200), or an HTTP ``status`` with headers."""

    content: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    refusal: str | None = None
    reject_json_schema: bool = False  # answer 400 to a json_schema response format (a server without it)


@dataclass
class Seen:
    body: dict[str, Any]
    png_size: tuple[int, int] | None
    context: dict[str, Any] | None
    authorization: str


class StandinOpenAI:
    def __init__(self, script: list[Step]) -> None:
        self.script = list(script)
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                owner._answer(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> StandinOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _inspect(body: dict[str, Any]) -> tuple[tuple[int, int] | None, dict[str, Any] | None]:
        png_size = context = None
        for message in body.get("messages", []):
            content = message.get("content")
            if not isinstance(content, list):
                continue
            for part in content:
                if part.get("type") == "image_url":
                    url = part["image_url"]["url"]
                    assert url.startswith("data:image/png;base64,"), url[:40]
                    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
                    image.load()  # decodes every pixel: a truncated or corrupt PNG raises here
                    assert image.format == "PNG"
                    png_size = image.size
                elif part.get("type") == "text" and "{" in part.get("text", ""):
                    text = part["text"]
                    context = json.loads(text[text.index("{"):])
        return png_size, context

    def _answer(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self._lock:
            try:
                png_size, context = self._inspect(body)
            except Exception as exc:  # the client sent something a real server could not read
                self._send(handler, 400, {"error": {"message": f"stand-in: bad request: {exc}", "type": "invalid_request_error"}})
                return
            self.requests.append(Seen(body, png_size, context, handler.headers.get("authorization", "")))
            step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        fmt = (body.get("response_format") or {}).get("type")
        if step.reject_json_schema and fmt == "json_schema":
            self._send(handler, 400, {"error": {"message": "response_format json_schema is not supported by this server",
                                                "type": "invalid_request_error", "param": "response_format"}})
            return
        if step.delay_s:
            time.sleep(step.delay_s)
        if step.status != 200:
            self._send(handler, step.status, {"error": {"message": f"stand-in status {step.status}", "type": "server_error"}},
                       step.headers)
            return
        message = {"role": "assistant", "content": step.content, "refusal": step.refusal}
        self._send(handler, 200, {
            "id": f"chatcmpl-standin-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "standin"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500},
        })

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
            pass
