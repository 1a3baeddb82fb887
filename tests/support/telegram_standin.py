"""A stand-in of the Telegram Bot API on 127.0.0.1, following its documented contract.

``/bot<TOKEN>/sendPhoto`` (multipart/form-data: chat_id, caption, photo, reply_parameters) and
``/bot<TOKEN>/sendMessage``; answers ``{"ok": true, "result": {"message_id": N}}``; 401
"Unauthorized" for another token; 400 "Bad Request: chat not found" for another chat; 400
"Bad Request: message caption is too long" over ``caption_limit``; scripted 429s with
``parameters.retry_after`` and 502s. ``hold_next_upload`` reads only the first bytes of the next body and
waits: a client killed then never completes the request, and nothing is counted.
"""

from __future__ import annotations

import json
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TelegramStandIn:
    def __init__(self, token: str = "123:standin", chat_id: str = "42", caption_limit: int = 1024) -> None:
        self.token, self.chat_id, self.caption_limit = token, chat_id, caption_limit
        self.received: list[dict[str, Any]] = []  # completed, accepted messages
        self.too_many: list[int] = []  # retry_after of the next answers, one per call
        self.bad_gateways = 0  # the next calls answered 502 (no JSON), as a proxy in front of the Bot API does
        self.hold_next_upload = False
        self.holding = threading.Event()
        self.lock = threading.Lock()
        self._next_id = 100
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                outer._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "TelegramStandIn":
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _fields(self, h: BaseHTTPRequestHandler, body: bytes) -> dict[str, Any]:
        ctype = h.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
            out: dict[str, Any] = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                payload = part.get_payload(decode=True)
                out[name] = payload if part.get_filename() else payload.decode()
            return out
        from urllib.parse import parse_qsl

        return dict(parse_qsl(body.decode()))

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length", "0"))
        with self.lock:
            hold, self.hold_next_upload = self.hold_next_upload, False
        if hold:  # read a little, then wait for the rest: a killed client never sends it
            body = h.rfile.read(1024)
            self.holding.set()
            rest = b""
            while len(body) + len(rest) < length:
                chunk = h.rfile.read(min(65536, length - len(body) - len(rest)))
                if not chunk:
                    return  # the client went away mid-upload: no message
                rest += chunk
            body += rest
        else:
            body = h.rfile.read(length)
        if len(body) < length:
            return
        prefix, _, method = h.path.partition("/bot")[2].rpartition("/")
        if prefix != self.token:
            return self._answer(h, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        with self.lock:
            if self.bad_gateways:
                self.bad_gateways -= 1
                h.send_response(502)
                h.send_header("Content-Length", "11")
                h.end_headers()
                h.wfile.write(b"Bad Gateway")
                return None
            if self.too_many:
                after = self.too_many.pop(0)
                return self._answer(h, 429, {"ok": False, "error_code": 429, "parameters": {"retry_after": after},
                                             "description": f"Too Many Requests: retry after {after}"})
        fields = self._fields(h, body)
        if str(fields.get("chat_id")) != self.chat_id:
            return self._answer(h, 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
        if method == "sendPhoto" and len(fields.get("caption", "")) > self.caption_limit:
            return self._answer(h, 400, {"ok": False, "error_code": 400,
                                         "description": "Bad Request: message caption is too long"})
        if method not in ("sendPhoto", "sendMessage"):
            return self._answer(h, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
        with self.lock:
            self._next_id += 1
            mid = self._next_id
            self.received.append({"method": method, "message_id": mid, "received_at": time.perf_counter(), **fields})
        self._answer(h, 200, {"ok": True, "result": {"message_id": mid, "chat": {"id": int(self.chat_id)}}})
