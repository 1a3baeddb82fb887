"""The Telegram channel: the Bot API over HTTPS with ``requests``.

A signal goes as ``sendPhoto`` (multipart: the chart picture and a caption of at most 1,024
characters) or ``sendMessage`` when it has no picture; an update replies to its signal's message
(``reply_parameters`` with ``allow_sending_without_reply``, so a deleted message does not block it).
Answers: ``ok`` is sent (the message_id kept); 429 waits ``parameters.retry_after``; 5xx and
network failures are retried; other refusals (401 bad token, 400 chat not found, caption too
long, 403 bot blocked) are final and keep Telegram's ``description``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from ita_desktop.outputs.caption import fit, signal_caption, update_text
from ita_desktop.outputs.delivery import Delivery, refused, retry, sent
from ita_desktop.storage.outbox import OutboxRow

DEFAULT_API_ROOT = "https://api.telegram.org"


class TelegramChannel:
    name = "telegram"

    def __init__(self, token: str, chat_id: str, api_root: str = DEFAULT_API_ROOT, timeout: float = 20.0) -> None:
        self.chat_id, self.timeout = str(chat_id), timeout
        self._base, self._token = f"{api_root.rstrip('/')}/bot{token}", token
        self._http = requests.Session()

    def deliver(self, row: OutboxRow, reply_to: str | None) -> Delivery:
        """Send one outbox row; ``reply_to``: the signal's message id (updates)."""
        if row.event == "signal":
            text = signal_caption(row.payload)
        elif row.event in ("test", "daily_summary"):
            text = fit(str(row.payload.get("text", "ITA Desktop test message")))
        else:
            text = update_text(row.payload)
        data: dict[str, Any] = {"chat_id": self.chat_id}
        if reply_to:
            data["reply_parameters"] = json.dumps({"message_id": int(reply_to), "allow_sending_without_reply": True})
        picture = Path(row.picture_path) if row.picture_path else None
        if picture is not None and picture.is_file():
            data["caption"] = text
            return self._call("sendPhoto", data=data, files={"photo": (picture.name, picture.read_bytes(), "image/png")})
        data["text"] = text
        return self._call("sendMessage", data=data)

    def _call(self, method: str, **kwargs: Any) -> Delivery:
        try:
            resp = self._http.post(f"{self._base}/{method}", timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            return retry(f"{method}: {type(exc).__name__}: {str(exc).replace(self._token, '***')[:200]}")
        try:
            body = resp.json()
        except ValueError:
            body = {}
        described = f"{method}: {resp.status_code} {body.get('description') or resp.text[:200]}"
        if resp.status_code == 200 and body.get("ok"):
            return sent(str(body.get("result", {}).get("message_id", "")) or None, described)
        if resp.status_code == 429:
            after = (body.get("parameters") or {}).get("retry_after")
            return retry(described, float(after) if after is not None else None)
        if resp.status_code >= 500:
            return retry(described)
        return refused(described)
