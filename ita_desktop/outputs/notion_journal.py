"""The trader's Notion journal: which properties a signal's page holds, and their values in Notion's typed form.

A journal page per signal: the title (whatever the data source calls its title property) and the
typed properties below. The trader's database may already have some of them, perhaps with
another type (a Symbol kept as text rather than a select): each value is written in the type the
data source has, and a property it lacks is left out (the page's text still says everything).
``missing_properties`` lists what is absent so the trader can be offered to add it
(``properties_to_create``, sent through the data source update endpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

_NY = ZoneInfo("America/New_York")
TEXT_LIMIT = 2000  # Notion's limit for one rich-text item's content


@dataclass(frozen=True)
class JournalProperty:
    """``name`` in the data source, the ``type`` it is created with, the ``kind`` of value it holds."""

    name: str
    type: str
    kind: str  # text, number, date, files, flag (yes/no), words (a list of names)


JOURNAL_PROPERTIES = (
    JournalProperty("Date", "date", "date"),
    JournalProperty("Symbol", "select", "text"),
    JournalProperty("Timeframe", "select", "text"),
    JournalProperty("Rule", "select", "text"),
    JournalProperty("Version", "rich_text", "text"),
    JournalProperty("Direction", "select", "text"),
    JournalProperty("Entry", "number", "number"),
    JournalProperty("Stop", "number", "number"),
    JournalProperty("Target", "number", "number"),
    JournalProperty("Status", "select", "text"),
    JournalProperty("R", "number", "number"),
    JournalProperty("Chart", "files", "files"),
    #: the occurrence key: a page is found again by it, so a retried create never makes a second page
    JournalProperty("Signal key", "rich_text", "text"),
    # the trader's feedback, given in the window's Journal (event ``feedback``)
    JournalProperty("Taken", "checkbox", "flag"),
    JournalProperty("Label", "select", "text"),
    JournalProperty("Grade", "select", "text"),
    JournalProperty("Tags", "multi_select", "words"),
    JournalProperty("Mistakes", "multi_select", "words"),
    JournalProperty("Notes", "rich_text", "text"),
)
KEY_PROPERTY = "Signal key"

#: the property types a value of each kind can be written into
WRITABLE = {"text": ("title", "rich_text", "select", "multi_select"),
            "number": ("number", "rich_text"),
            "date": ("date", "rich_text"),
            "files": ("files",),
            "flag": ("checkbox", "select", "rich_text"),
            "words": ("multi_select", "rich_text")}


def title_name(schema: dict[str, Any]) -> str | None:
    """The name of the data source's title property (every data source has exactly one)."""
    return next((name for name, p in schema.items() if p.get("type") == "title"), None)


def missing_properties(schema: dict[str, Any]) -> list[JournalProperty]:
    """The journal's properties the data source lacks (by exact name)."""
    return [p for p in JOURNAL_PROPERTIES if p.name not in schema]


def unusable_properties(schema: dict[str, Any]) -> list[str]:
    """Properties present under a type their value cannot be written into ("Entry is a checkbox, wanted number")."""
    out = []
    for p in JOURNAL_PROPERTIES:
        have = schema.get(p.name, {}).get("type")
        if have is not None and have not in WRITABLE[p.kind]:
            out.append(f"{p.name} is {have}, wanted {p.type}")
    return out


def properties_to_create(missing: list[JournalProperty]) -> dict[str, Any]:
    """The ``properties`` body of a data source update that adds ``missing``."""
    config = {"number": {"format": "number"}}
    return {p.name: {p.type: config.get(p.type, {})} for p in missing}


def _text(value: str) -> list[dict[str, Any]]:
    """Rich text of ``value``: items of at most 2000 characters (Notion's limit per item), at most 100 of them."""
    chunks = [value[i:i + TEXT_LIMIT] for i in range(0, min(len(value), TEXT_LIMIT * 100), TEXT_LIMIT)] or [""]
    return [{"type": "text", "text": {"content": c}} for c in chunks]


def _option(name: str) -> str:
    """A select option's name: no commas (Notion splits on them), at most 100 characters."""
    return name.replace(",", " ").strip()[:100]


def typed_value(ptype: str, kind: str, value: Any) -> dict[str, Any] | None:
    """``value`` as a property value of type ``ptype`` (None: it cannot be written there)."""
    if ptype not in WRITABLE[kind]:
        return None
    if kind == "files":
        return {"files": value}
    if kind == "date":
        return {"date": {"start": value}} if ptype == "date" else {"rich_text": _text(value)}
    if kind == "number":
        return {"number": value} if ptype == "number" else {"rich_text": _text(f"{value:g}")}
    if kind == "flag":
        if ptype == "checkbox":
            return {"checkbox": bool(value)}
        value = "yes" if value else "no"
    if kind == "words":
        names = [_option(w) for w in value]
        return {"multi_select": [{"name": n} for n in dict.fromkeys(names) if n]} if ptype == "multi_select" \
            else {"rich_text": _text(", ".join(value)) if value else []}
    text = str(value)
    if text == "":  # a value the trader cleared: the property is emptied
        return {"select": None} if ptype == "select" else {ptype: []}
    if ptype in ("select", "multi_select"):
        option = {"name": _option(text)}
        return {"select": option} if ptype == "select" else {"multi_select": [option]}
    return {ptype: _text(text)}


def page_properties(schema: dict[str, Any], values: dict[str, Any], title: str | None = None) -> dict[str, Any]:
    """The page's properties: ``values`` (by journal name; None left out) in the data source's own types."""
    out: dict[str, Any] = {}
    kinds = {p.name: p.kind for p in JOURNAL_PROPERTIES}
    for name, value in values.items():
        if value is None or name not in schema:
            continue
        typed = typed_value(schema[name].get("type", ""), kinds[name], value)
        if typed is not None:
            out[name] = typed
    name = title_name(schema)
    if title is not None and name is not None:
        out[name] = {"title": _text(title)}
    return out


def ny_iso(t: int) -> str:
    """A UTC epoch as an ISO time with New York's offset (Notion shows it at that time)."""
    return datetime.fromtimestamp(int(t), timezone.utc).astimezone(_NY).isoformat(timespec="seconds")


def first_target(p: dict[str, Any]) -> float | None:
    """The first target's price (a target given in R is priced from the entry and the stop)."""
    entry, stop = p.get("entry_price"), p.get("stop_price")
    for t in p.get("targets") or []:
        if t.get("price") is not None:
            return float(t["price"])
        if t.get("r") is not None and entry is not None and stop is not None:
            return entry + p["direction"] * t["r"] * abs(entry - stop)
    return None


def signal_values(p: dict[str, Any]) -> dict[str, Any]:
    """A raised signal's journal values (prices rounded to the symbol's digits when the payload has them)."""
    digits = p.get("digits")

    def price(x: float | None) -> float | None:
        return None if x is None else (round(x, int(digits)) if digits is not None else float(x))

    return {"Date": ny_iso(p["signal_time"]), "Symbol": p["symbol"], "Timeframe": p["timeframe"], "Rule": p["rule_id"],
            "Version": str(p["rule_version"]), "Direction": "Long" if p["direction"] > 0 else "Short",
            "Entry": price(p.get("entry_price")), "Stop": price(p.get("stop_price")), "Target": price(first_target(p)),
            "Status": "pending", "Signal key": p.get("occurrence_key")}


def signal_title(p: dict[str, Any]) -> str:
    side = "Long" if p["direction"] > 0 else "Short"
    return f"{side} {p['symbol']} {p['timeframe']} - {p['rule_id']} v{p['rule_version']}"


def update_values(p: dict[str, Any]) -> dict[str, Any]:
    """An outcome's journal values: the status and, once closed, the R."""
    r = p.get("r_multiple")
    return {"Status": p["status"], "R": round(float(r), 4) if isinstance(r, (int, float)) else None}


def feedback_values(p: dict[str, Any]) -> dict[str, Any]:
    """The trader's feedback as journal values; a cleared field empties its property ("" and [] are written)."""
    return {"Taken": bool(p.get("taken")), "Label": p.get("label") or "", "Grade": p.get("grade") or "",
            "Tags": list(p.get("tags") or []), "Mistakes": list(p.get("mistakes") or []), "Notes": p.get("notes") or ""}


def paragraphs(text: str) -> list[dict[str, Any]]:
    """Page blocks: one paragraph per line of ``text``."""
    return [{"object": "block", "type": "paragraph", "paragraph": {"rich_text": _text(line)}}
            for line in text.splitlines() if line.strip()]
