"""The Notion channel: a journal page per signal through ``notion-client``, API version 2025-09-03.

Since 2025-09-03 a database holds data sources; pages belong to a data source. The channel
reads the database once (``GET /databases/{id}`` -> ``data_sources``), keeps the first data
source's id and its schema, and then:

- a signal: the chart picture uploaded with the File Upload API (create, then send the bytes
  multipart), a page created under the data source with the typed properties, the picture in
  the ``Chart`` files property and as an image block, and the caption as text;
- an outcome (filled, target, stop, ...): the signal's page updated (Status, R);
- the trader's feedback (event ``feedback``, given in the window's Journal): the signal's page updated
  (Taken, Label, Grade, Tags, Mistakes, Notes; a cleared field empties its property);
- a test or the day's summary: a page of its own.

A page is found again by its ``Signal key`` before it is created, so a send retried after a
crash (Notion took the page, we did not record it) does not make a second page.
The client's own retries are off: the outbox retries, durably, waiting Notion's ``Retry-After``
(429, 529), backing off on other 5xx and network failures; other refusals are final and keep
Notion's words.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
from notion_client import Client
from notion_client.errors import HTTPResponseError, RequestTimeoutError

from ita_desktop.outputs.caption import signal_caption
from ita_desktop.outputs.delivery import Delivery, refused, retry, sent
from ita_desktop.outputs.notion_journal import (
    KEY_PROPERTY, JournalProperty, feedback_values, missing_properties, ny_iso, page_properties, paragraphs,
    properties_to_create, signal_title, signal_values, unusable_properties, update_values,
)
from ita_desktop.storage.outbox import OutboxRow

NOTION_VERSION = "2025-09-03"
DEFAULT_API_ROOT = "https://api.notion.com"
log = logging.getLogger("ita.outputs.notion")


class NotionRefusal(Exception):
    """Notion answered with an error; ``delivery`` says whether to retry (and when) or give up."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__(delivery.detail)
        self.delivery = delivery


def _answer(step: str, exc: Exception) -> Delivery:
    """What an exception from notion-client means for the outbox, with Notion's own words."""
    if isinstance(exc, (httpx.TransportError, RequestTimeoutError)):
        return retry(f"{step}: {type(exc).__name__}: {exc}"[:300])
    if not isinstance(exc, HTTPResponseError):
        raise exc
    code, message = str(getattr(exc.code, "value", exc.code)), str(exc)
    try:  # a code notion-client does not know (529 service_overload) leaves its words in the body
        body = json.loads(exc.body)
        code, message = body.get("code", code), body.get("message", message)
    except (ValueError, TypeError, AttributeError):
        pass
    words = f"{step}: {exc.status} {code}: {message}"
    if exc.status in (429, 529):
        after = exc.headers.get("retry-after")
        try:
            return retry(words, float(after) if after is not None else None)
        except ValueError:
            return retry(words)
    if exc.status >= 500 or exc.status == 409:  # 409 conflict_error: "try again" in Notion's words
        return retry(words)
    return refused(words)


class NotionChannel:
    name = "notion"

    def __init__(self, token: str, database_id: str, api_root: str = DEFAULT_API_ROOT, timeout_s: float = 30.0) -> None:
        self.database_id = database_id
        self.client = Client(auth=token, base_url=api_root.rstrip("/"), notion_version=NOTION_VERSION, retry=False,
                             timeout_ms=int(timeout_s * 1000), logger=log, log_level=logging.WARNING)
        self.data_source_id: str | None = None
        self.data_source_name = ""
        self.schema: dict[str, Any] = {}

    # -- the database and its data source -------------------------------------------------------
    def _call(self, step: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - mapped to retry/refused, re-raised if not Notion's
            raise NotionRefusal(_answer(step, exc)) from exc

    def connect(self, refresh: bool = False) -> str:
        """The data source's id, found once from the database (``data_sources``) and kept; its schema read."""
        if self.data_source_id is None or refresh:
            db = self._call("retrieve database", self.client.databases.retrieve, self.database_id)
            sources = db.get("data_sources") or []
            if not sources:
                raise NotionRefusal(refused(f"database {self.database_id} has no data source (is it a linked view?)"))
            self.data_source_id = sources[0]["id"]
            self.data_source_name = sources[0].get("name", "")
        ds = self._call("retrieve data source", self.client.data_sources.retrieve, self.data_source_id)
        self.schema = ds.get("properties") or {}
        return self.data_source_id

    def missing(self) -> list[JournalProperty]:
        """The journal properties the data source lacks (read now)."""
        self.connect(refresh=True)
        return missing_properties(self.schema)

    def create_missing(self) -> list[str]:
        """Add the missing journal properties through the data source update endpoint; returns their names."""
        absent = self.missing()
        if absent:
            self._call("update data source", self.client.data_sources.update, self.data_source_id,
                       properties=properties_to_create(absent))
            self.connect()
        return [p.name for p in absent]

    def report(self) -> str:
        """A line on the journal's properties: all there, or which are missing or of a type that cannot hold them."""
        absent = [p.name for p in missing_properties(self.schema)]
        wrong = unusable_properties(self.schema)
        parts = []
        if absent:
            parts.append(f"missing properties: {', '.join(absent)} (ita notify test notion --create-properties adds them)")
        if wrong:
            parts.append("unusable: " + "; ".join(wrong))
        return "; ".join(parts) or "every journal property is there"

    # -- delivery ---------------------------------------------------------------------------------
    def deliver(self, row: OutboxRow, reply_to: str | None) -> Delivery:
        """One outbox row; ``reply_to``: the signal's page id (outcomes and feedback update it)."""
        try:
            if self.data_source_id is None:
                self.connect()
            if row.event == "signal":
                page_id = self._signal_page(row)
            elif row.event in ("test", "daily_summary"):
                page_id = self._text_page(row)
            else:
                page_id = self._update_page(row, reply_to)
        except NotionRefusal as why:
            return why.delivery
        return sent(page_id, f"page {page_id}")

    def _find(self, signal_key: str) -> str | None:
        """The page already made for ``signal_key`` (a create Notion took before a crash), if the key is kept."""
        if self.schema.get(KEY_PROPERTY, {}).get("type") != "rich_text":
            return None
        found = self._call("query data source", self.client.data_sources.query, self.data_source_id,
                           filter={"property": KEY_PROPERTY, "rich_text": {"equals": signal_key}}, page_size=1)
        results = found.get("results") or []
        return results[0]["id"] if results else None

    def _upload(self, picture: Path) -> str:
        """The picture sent through the File Upload API (create, then send the bytes); returns the upload's id."""
        upload = self._call("create file upload", self.client.file_uploads.create, mode="single_part",
                            filename=picture.name, content_type="image/png")
        self._call("send file upload", self.client.file_uploads.send, upload["id"],
                   file=(picture.name, picture.read_bytes(), "image/png"))
        return upload["id"]

    def _signal_page(self, row: OutboxRow) -> str:
        existing = self._find(row.signal_key)
        if existing is not None:
            return existing
        values = {**signal_values(row.payload), KEY_PROPERTY: row.signal_key}
        children: list[dict[str, Any]] = []
        picture = Path(row.picture_path) if row.picture_path else None
        if picture is not None and picture.is_file():
            upload_id = self._upload(picture)
            values["Chart"] = [{"type": "file_upload", "file_upload": {"id": upload_id}, "name": picture.name}]
            children.append({"object": "block", "type": "image",
                             "image": {"type": "file_upload", "file_upload": {"id": upload_id}}})
        children += paragraphs(signal_caption(row.payload))
        page = self._call("create page", self.client.pages.create,
                          parent={"type": "data_source_id", "data_source_id": self.data_source_id},
                          properties=page_properties(self.schema, values, signal_title(row.payload)), children=children)
        return page["id"]

    def _update_page(self, row: OutboxRow, page_id: str | None) -> str:
        page_id = page_id or self._find(row.signal_key)
        if page_id is None:
            raise NotionRefusal(refused(f"no journal page for signal {row.signal_key} (its page was not made)"))
        values = feedback_values(row.payload) if row.event == "feedback" else update_values(row.payload)
        properties = page_properties(self.schema, values)
        self._call("update page", self.client.pages.update, page_id, properties=properties)
        return page_id

    def _text_page(self, row: OutboxRow) -> str:
        text = str(row.payload.get("text", "ITA Desktop test message"))
        title = str(row.payload.get("title") or text.splitlines()[0])
        values = {"Date": ny_iso(int(row.payload.get("time_utc") or 0)) if row.payload.get("time_utc") else None,
                  "Status": row.event}
        page = self._call("create page", self.client.pages.create,
                          parent={"type": "data_source_id", "data_source_id": self.data_source_id},
                          properties=page_properties(self.schema, values, title), children=paragraphs(text))
        return page["id"]
