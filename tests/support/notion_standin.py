"""A stand-in of the Notion API (version 2025-09-03) on 127.0.0.1, following its documented contract.

- Every request needs ``Notion-Version`` (400 ``missing_version`` without it) and
  ``Authorization: Bearer <token>`` (401 ``unauthorized`` otherwise).
- ``GET /v1/databases/{id}`` lists the database's ``data_sources``; ``GET /v1/data_sources/{id}``
  gives the schema; ``PATCH /v1/data_sources/{id}`` adds properties; ``POST
  /v1/data_sources/{id}/query`` filters pages (``rich_text``/``select`` ``equals``).
- ``POST /v1/pages`` (parent ``data_source_id``) and ``PATCH /v1/pages/{id}``: properties
  type-checked against the schema (400 ``validation_error`` with Notion's kind of words); files and
  image blocks must name an uploaded file upload.
- ``POST /v1/file_uploads`` then ``POST /v1/file_uploads/{id}/send`` (multipart, part ``file``): the
  bytes are kept and checked by the tests.
- Scripted 429 ``rate_limited`` and 529 ``service_overload`` with ``Retry-After``;
  ``hold_next_upload`` reads the first bytes of the next send and waits (a killed client never
  completes it); ``hold_next_page_reply`` creates the next page and does not answer until released.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FULL_SCHEMA = {"Name": "title", "Date": "date", "Symbol": "select", "Timeframe": "select", "Rule": "select",
               "Version": "rich_text", "Direction": "select", "Entry": "number", "Stop": "number", "Target": "number",
               "Status": "select", "R": "number", "Chart": "files", "Signal key": "rich_text",
               "Taken": "checkbox", "Label": "select", "Grade": "select", "Tags": "multi_select",
               "Mistakes": "multi_select", "Notes": "rich_text"}


def _prop(name: str, ptype: str) -> dict[str, Any]:
    return {"id": uuid.uuid4().hex[:4], "name": name, "type": ptype, ptype: {}}


class NotionError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class NotionStandIn:
    def __init__(self, token: str = "ntn_standin", schema: dict[str, str] | None = None) -> None:
        self.token = token
        self.database_id = str(uuid.uuid4())
        self.data_source_id = str(uuid.uuid4())
        self.schema: dict[str, dict[str, Any]] = {n: _prop(n, t) for n, t in (schema or FULL_SCHEMA).items()}
        self.pages: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []  # page ids in creation order (a second page for one signal would show here)
        self.page_updates: list[dict[str, Any]] = []
        self.uploads: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Notion-Version)
        self.too_many: list[int] = []  # Retry-After of the next 429s, one per request
        self.overloaded: list[int] = []  # Retry-After of the next 529s
        self.hold_next_upload = False
        self.holding = threading.Event()
        self.hold_next_page_reply = False
        self.page_held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                outer._handle(self, "POST")

            def do_PATCH(self) -> None:  # noqa: N802
                outer._handle(self, "PATCH")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def api_root(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "NotionStandIn":
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # -- helpers the tests read ----------------------------------------------------------------
    def page_for(self, signal_key: str) -> list[dict[str, Any]]:
        return [p for p in self.pages.values()
                if _plain(p["properties"].get("Signal key", {}).get("rich_text", [])) == signal_key]

    def value(self, page: dict[str, Any], name: str) -> Any:
        """A page property's plain value (text, number, select name, option names, checkbox, date start,
        file upload ids)."""
        v = page["properties"].get(name)
        if v is None:
            return None
        t = self.schema[name]["type"]
        if t in ("title", "rich_text"):
            return _plain(v[t])
        if t == "select":
            return v[t]["name"] if v[t] else None
        if t == "multi_select":
            return [o["name"] for o in v[t]]
        if t == "date":
            return v[t]["start"] if v[t] else None
        if t == "files":
            return [f["file_upload"]["id"] for f in v[t]]
        return v[t]

    # -- HTTP --------------------------------------------------------------------------------------
    def _answer(self, h: BaseHTTPRequestHandler, status: int, body: dict[str, Any],
                headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            pass  # the client went away

    def _read(self, h: BaseHTTPRequestHandler, hold: bool) -> bytes | None:
        length = int(h.headers.get("Content-Length", "0"))
        if not hold:
            body = h.rfile.read(length)
            return body if len(body) == length else None
        body = h.rfile.read(1024)
        self.holding.set()
        while len(body) < length:
            chunk = h.rfile.read(min(65536, length - len(body)))
            if not chunk:
                return None  # the client died mid-upload: nothing received
            body += chunk
        return body

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        path = h.path.split("?")[0]
        version = h.headers.get("Notion-Version")
        hold = False
        with self.lock:
            self.requests.append((method, path, version))
            if method == "POST" and path.endswith("/send"):
                hold, self.hold_next_upload = self.hold_next_upload, False
        body = self._read(h, hold)
        if body is None:
            return None
        try:
            if not version:
                raise NotionError(400, "missing_version", "Notion-Version header failed validation: Notion-Version "
                                  "header should be defined, instead was `undefined`.")
            if h.headers.get("Authorization") != f"Bearer {self.token}":
                raise NotionError(401, "unauthorized", "API token is invalid.")
            with self.lock:
                if self.too_many:
                    after = self.too_many.pop(0)
                    raise NotionError(429, "rate_limited", "You have been rate limited. Please try again in a few "
                                      "minutes.", {"Retry-After": str(after)})
                if self.overloaded:
                    after = self.overloaded.pop(0)
                    raise NotionError(529, "service_overload", "Notion is overloaded. Please try again later.",
                                      {"Retry-After": str(after)})
            answer = self._route(h, method, path, body)
        except NotionError as e:
            return self._answer(h, e.status, {"object": "error", "status": e.status, "code": e.code,
                                              "message": e.message, "request_id": str(uuid.uuid4())}, e.headers)
        if answer is not None:
            self._answer(h, 200, answer)

    def _json(self, body: bytes) -> dict[str, Any]:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise NotionError(400, "invalid_json", "Error parsing JSON body.") from None
        if not isinstance(data, dict):
            raise NotionError(400, "invalid_json", "Error parsing JSON body.")
        return data

    def _route(self, h: BaseHTTPRequestHandler, method: str, path: str, body: bytes) -> dict[str, Any] | None:
        m = re.fullmatch(r"/v1/(databases|data_sources|pages|file_uploads)(?:/([^/]+))?(?:/(query|send))?", path)
        if m is None:
            raise NotionError(400, "invalid_request_url", "Invalid request URL.")
        kind, oid, action = m.groups()
        if kind == "databases" and method == "GET" and oid:
            if oid != self.database_id:
                raise NotionError(404, "object_not_found", f"Could not find database with ID: {oid}. Make sure the "
                                  "relevant pages and databases are shared with your integration.")
            return {"object": "database", "id": self.database_id, "title": [{"plain_text": "Trading journal"}],
                    "data_sources": [{"id": self.data_source_id, "name": "Journal"}]}
        if kind == "data_sources" and oid:
            if oid != self.data_source_id:
                raise NotionError(404, "object_not_found", f"Could not find data_source with ID: {oid}.")
            if method == "GET" and not action:
                return self._data_source()
            if method == "PATCH" and not action:
                return self._add_properties(self._json(body).get("properties") or {})
            if method == "POST" and action == "query":
                return self._query(self._json(body))
        if kind == "pages" and method == "POST" and not oid:
            return self._create_page(h, self._json(body))
        if kind == "pages" and method == "PATCH" and oid:
            return self._update_page(oid, self._json(body))
        if kind == "file_uploads" and method == "POST" and not oid:
            data = self._json(body)
            fid = str(uuid.uuid4())
            up = {"object": "file_upload", "id": fid, "status": "pending", "filename": data.get("filename"),
                  "content_type": data.get("content_type"), "content_length": None,
                  "upload_url": f"{self.api_root}/v1/file_uploads/{fid}/send"}
            with self.lock:
                self.uploads[fid] = {**up, "bytes": None}
            return up
        if kind == "file_uploads" and method == "POST" and action == "send":
            return self._send_upload(h, oid, body)
        raise NotionError(400, "invalid_request", f"Unsupported request: {method} {path}.")

    def _data_source(self) -> dict[str, Any]:
        return {"object": "data_source", "id": self.data_source_id, "title": [{"plain_text": "Journal"}],
                "parent": {"type": "database_id", "database_id": self.database_id}, "properties": self.schema}

    def _add_properties(self, props: dict[str, Any]) -> dict[str, Any]:
        known = ("title", "rich_text", "number", "select", "multi_select", "date", "files", "checkbox", "url")
        for name, conf in props.items():
            types = [t for t in conf if t in known] if isinstance(conf, dict) else []
            if len(types) != 1:
                raise NotionError(400, "validation_error", f"body failed validation: body.properties.{name} should "
                                  "name one property type.")
        with self.lock:
            for name, conf in props.items():
                ptype = next(t for t in conf if t in known)
                self.schema[name] = {**_prop(name, ptype), ptype: conf[ptype]}
        return self._data_source()

    def _query(self, data: dict[str, Any]) -> dict[str, Any]:
        f = data.get("filter")
        results = list(self.pages.values())
        if f:
            name = f.get("property")
            if name not in self.schema:
                raise NotionError(400, "validation_error", f"Could not find property with name or id: {name}")
            ptype = self.schema[name]["type"]
            cond = f.get(ptype)
            if not isinstance(cond, dict) or "equals" not in cond:
                raise NotionError(400, "validation_error", f"body failed validation: body.filter.{ptype} should be "
                                  "defined for a property of that type.")
            results = [p for p in results if self._plain_value(p, name) == cond["equals"]]
        results = results[: int(data.get("page_size") or 100)]
        return {"object": "list", "results": [self._page_object(p) for p in results], "has_more": False,
                "next_cursor": None}

    def _plain_value(self, page: dict[str, Any], name: str) -> Any:
        return self.value(page, name)

    def _check_files(self, items: Any, where: str) -> None:
        if not isinstance(items, list):
            raise NotionError(400, "validation_error", f"body failed validation: {where} should be an array.")
        for f in items:
            fid = (f.get("file_upload") or {}).get("id") if isinstance(f, dict) else None
            up = self.uploads.get(fid or "")
            if up is None:
                raise NotionError(400, "validation_error", f"Could not find file upload with ID: {fid}.")
            if up["status"] != "uploaded":
                raise NotionError(400, "validation_error", f"File upload {fid} is not uploaded (status {up['status']}).")

    def _check_properties(self, props: Any) -> None:
        if not isinstance(props, dict):
            raise NotionError(400, "validation_error", "body failed validation: body.properties should be an object.")
        for name, value in props.items():
            if name not in self.schema:
                raise NotionError(400, "validation_error", f"{name} is not a property that exists.")
            ptype = self.schema[name]["type"]
            if not isinstance(value, dict) or ptype not in value:
                raise NotionError(400, "validation_error", f"{name} is expected to be {ptype}.")
            v, where = value[ptype], f"body.properties.{name}.{ptype}"
            ok = {
                "title": lambda v: isinstance(v, list) and all(isinstance((x.get("text") or {}).get("content"), str)
                                                              for x in v),
                "rich_text": lambda v: isinstance(v, list) and all(isinstance((x.get("text") or {}).get("content"), str)
                                                                  for x in v),
                "number": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
                "select": lambda v: v is None or (isinstance(v, dict) and isinstance(v.get("name"), str)
                                                  and "," not in v["name"]),
                "multi_select": lambda v: isinstance(v, list) and all(
                    isinstance(o, dict) and isinstance(o.get("name"), str) and "," not in o["name"] for o in v),
                "checkbox": lambda v: isinstance(v, bool),
                "date": lambda v: v is None or (isinstance(v, dict) and _iso(v.get("start"))),
                "files": lambda v: True,
            }.get(ptype, lambda v: True)
            if not ok(v):
                raise NotionError(400, "validation_error", f"body failed validation: {where} should be a valid "
                                  f"{ptype} value, instead was `{json.dumps(v)}`.")
            if ptype == "files":
                self._check_files(v, where)

    def _page_object(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"object": "page", "id": p["id"], "url": f"https://www.notion.so/{p['id'].replace('-', '')}",
                "parent": {"type": "data_source_id", "data_source_id": self.data_source_id},
                "properties": p["properties"]}

    def _create_page(self, h: BaseHTTPRequestHandler, data: dict[str, Any]) -> dict[str, Any] | None:
        parent = data.get("parent") or {}
        if parent.get("data_source_id") != self.data_source_id:
            raise NotionError(404, "object_not_found", f"Could not find data_source with ID: "
                              f"{parent.get('data_source_id') or parent.get('database_id')}.")
        props = data.get("properties") or {}
        self._check_properties(props)
        if sum(1 for n in props if self.schema[n]["type"] == "title") != 1:
            raise NotionError(400, "validation_error", "body failed validation: the page's title property should be "
                              "defined.")
        for block in data.get("children") or []:
            if block.get("type") == "image":
                image = block.get("image") or {}
                if image.get("type") == "file_upload":
                    self._check_files([image], "body.children.image")
        page = {"id": str(uuid.uuid4()), "properties": props, "children": data.get("children") or []}
        with self.lock:
            self.pages[page["id"]] = page
            self.created.append(page["id"])
            hold, self.hold_next_page_reply = self.hold_next_page_reply, False
        if hold:  # Notion took the page; the answer never reaches a client killed meanwhile
            self.page_held.set()
            self.release.wait(120)
        return self._page_object(page)

    def _update_page(self, oid: str, data: dict[str, Any]) -> dict[str, Any]:
        page = self.pages.get(oid)
        if page is None:
            raise NotionError(404, "object_not_found", f"Could not find page with ID: {oid}. Make sure the relevant "
                              "pages and databases are shared with your integration.")
        props = data.get("properties") or {}
        self._check_properties(props)
        with self.lock:
            page["properties"].update(props)
            self.page_updates.append({"page_id": oid, "properties": props})
        return self._page_object(page)

    def _send_upload(self, h: BaseHTTPRequestHandler, oid: str, body: bytes) -> dict[str, Any]:
        up = self.uploads.get(oid)
        if up is None:
            raise NotionError(404, "object_not_found", f"Could not find file upload with ID: {oid}.")
        ctype = h.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise NotionError(400, "validation_error", "Send file upload expects multipart/form-data.")
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
        if "file" not in parts:
            raise NotionError(400, "validation_error", "body failed validation: body.file should be defined.")
        data = parts["file"].get_payload(decode=True)
        with self.lock:
            up.update(status="uploaded", bytes=data, content_length=len(data),
                      content_type=parts["file"].get_content_type(), sent_filename=parts["file"].get_filename())
        return {k: v for k, v in up.items() if k != "bytes"}


def _plain(items: list[dict[str, Any]]) -> str:
    return "".join((x.get("text") or {}).get("content", "") for x in items)


def _iso(text: Any) -> bool:
    try:
        datetime.fromisoformat(str(text))
        return True
    except ValueError:
        return False
