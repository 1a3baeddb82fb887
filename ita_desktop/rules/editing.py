"""What a rule editor needs to know about the text under the cursor, without Qt.

* :func:`cursor_context`: the YAML path at a cursor (by indentation, so it works on a rule
  half-typed that does not parse), and whether a key or a value is being typed there.
* :func:`completions`: the keys valid at that path, or the values a key takes, read from the
  rule language's JSON Schema (``rules.json_schema``: generated from the models the loader
  checks with, so the editor cannot offer what the loader refuses), plus the rule's own step
  names for ``with``/``against``/``after``/``formed_between``/``zone``/``beyond``/``opposite``
  and the level and session names of the vocabulary.
* :func:`key_help`: the hover text of a key: the model's description and docs/rules.md's row.
* :func:`issue_span`: the exact extent of the key or value an issue points at, for squiggles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ita_desktop.rules.json_schema import rule_json_schema
from ita_desktop.rules.rule_issues import RuleIssue
from ita_desktop.rules.vocabulary import DEFAULT_SESSION_WINDOWS, IB_WINDOW

ITEM = 0  # a list item in a path (which one does not change what may be written there)
STEP_REF_KEYS = frozenset({"with", "against", "after", "formed_between", "zone", "beyond", "opposite"})
_KEY_LINE = re.compile(r"^(\s*)(-\s+)?([A-Za-z_][\w]*)\s*:(\s*)(.*)$")
_ITEM_ONLY = re.compile(r"^(\s*)-\s*$")
_LEVEL_NAMES = ("asia.high", "asia.low", "london.high", "london.low", "ny_am.high", "ny_am.low", "ny_pm.high",
                "ny_pm.low", "prior_session.high", "prior_session.low", "ib.high", "ib.low", "ib.mid", "pdh", "pdl",
                "pwh", "pwl", "midnight_open", "daily_open", "weekly_open", "ny_open", "swing.high", "swing.low",
                "equal.highs", "equal.lows")


@dataclass(frozen=True)
class CursorContext:
    """``path``: keys and ITEM from the root to the mapping being written in (key mode) or to the key
    whose value is being written (value mode); ``prefix``: the word typed so far."""

    path: tuple[Any, ...]
    mode: str  # "key" or "value"
    prefix: str
    siblings: frozenset[str]  # keys already written in the same mapping
    event: str | None = None  # the step's event when the cursor is inside a step


@dataclass(frozen=True)
class Completion:
    text: str
    detail: str = ""


def _content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _key_column(line: str) -> tuple[int, int | None, str | None]:
    """(column of the line's first key or value, column of its list dash or None, its key or None)."""
    m = _KEY_LINE.match(line)
    if m:
        indent = len(m.group(1))
        return indent + len(m.group(2) or ""), (indent if m.group(2) else None), m.group(3)
    stripped = line.lstrip()
    indent = len(line) - len(stripped)
    if stripped.startswith("-"):
        return indent + 2, indent, None
    return indent, None, None


def cursor_context(text: str, line: int, column: int) -> CursorContext:
    """The context at 0-based ``line``/``column`` of ``text``."""
    lines = text.split("\n")
    line = min(max(line, 0), len(lines) - 1)
    current = lines[line]
    before = current[:column]
    m = re.match(r"^(\s*)(-\s+)?([\w.]*)$", before)
    in_item = False
    if m:  # typing a key (or nothing yet)
        mode, prefix = "key", m.group(3)
        col = len(m.group(1)) + len(m.group(2) or "")
        in_item = bool(m.group(2))
        key_here = None
    else:
        km = re.match(r"^(\s*)(-\s+)?([A-Za-z_]\w*)\s*:\s*(.*)$", before)
        if km is None:
            return CursorContext((), "none", "", frozenset())
        mode, key_here = "value", km.group(3)
        col = len(km.group(1)) + len(km.group(2) or "")
        in_item = bool(km.group(2))
        value = km.group(4)
        if re.search(r"(^|\s)#", value):
            return CursorContext((), "none", "", frozenset())  # in a comment: nothing to complete
        prefix = re.split(r"[\s\[\],{}]", value)[-1] if value else ""
    key_col = col
    path: list[Any] = []
    siblings: set[str] = set()
    collecting = True  # still in the cursor's own mapping: keys at its column are siblings
    owner_at_same = False  # an item was just entered: its list's key may sit at the dash's column
    if in_item:  # the cursor's line starts a new list item
        path.append(ITEM)
        col, collecting, owner_at_same = col - 2, False, True
    # keys of the same mapping written below the cursor are siblings too
    if not in_item:
        for other in lines[line + 1:]:
            if not _content(other):
                continue
            kcol, dash, key = _key_column(other)
            if kcol < col or (dash is not None and kcol <= col):
                break
            if kcol == col and key:
                siblings.add(key)
    for other in reversed(lines[:line]):
        if not _content(other):
            continue
        kcol, dash, key = _key_column(other)
        if kcol > col:
            continue
        if kcol == col and not (owner_at_same and dash is None and key):
            if collecting and key:
                siblings.add(key)
            if dash is not None:  # the dash of the item the cursor's mapping is
                path.append(ITEM)
                col, collecting, owner_at_same = dash, False, True
            continue
        collecting = False
        if key:
            path.append(key)
        if dash is not None:
            path.append(ITEM)
            col, owner_at_same = dash, True
        else:
            col, owner_at_same = kcol, False
        if col == 0 and dash is None:
            break
    path.reverse()
    ordered = tuple(path)
    if mode == "value":
        ordered = ordered + (key_here,)
        flow = _inside_flow_mapping(value)
        if flow is not None:  # `within: {bars: 24, after: sw|`: the flow mapping's own key or value
            inner_key, inner_prefix, written = flow
            mode, prefix, siblings = ("value", inner_prefix, set()) if inner_key else ("key", inner_prefix, written)
            ordered = ordered + ((inner_key,) if inner_key else ())
    event = _event_of_item(lines, line, key_col) if ITEM in ordered and ordered[:1] == ("steps",) else None
    return CursorContext(ordered, mode, prefix, frozenset(siblings), event)


def _inside_flow_mapping(value: str) -> tuple[str | None, str, set[str]] | None:
    """For a value typed so far that ends inside ``{...``: (the key whose value is being typed, or None
    when a key is being typed; the word typed; the keys already written in that mapping)."""
    depth, start = 0, -1
    for i, ch in enumerate(value):
        if ch == "{":
            depth, start = depth + 1, i
        elif ch == "}":
            depth -= 1
    if depth <= 0 or start < 0 or "[" in value[start:]:
        return None
    parts = value[start + 1:].split(",")
    written = {p.split(":", 1)[0].strip() for p in parts[:-1] if ":" in p}
    last = parts[-1]
    if ":" in last:
        key, typed = last.split(":", 1)
        return key.strip(), typed.strip(), written
    return None, last.strip(), written


def _event_of_item(lines: list[str], line: int, col: int) -> str | None:
    """The ``event:`` of the step the cursor is in: searched up to its dash and down to the next one."""
    for i in range(line, -1, -1):
        kcol, dash, key = _key_column(lines[i])
        m = _KEY_LINE.match(lines[i])
        if key == "event" and m and kcol == col:
            return m.group(5).split("#")[0].strip() or None
        if dash is not None and kcol == col:
            break
    for i in range(line + 1, len(lines)):
        if not _content(lines[i]):
            continue
        kcol, dash, key = _key_column(lines[i])
        if kcol < col or dash is not None:
            break
        m = _KEY_LINE.match(lines[i])
        if key == "event" and m:
            return m.group(5).split("#")[0].strip() or None
    return None


# -- the schema ------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return rule_json_schema()


def _deref(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        extra = {k: v for k, v in node.items() if k != "$ref"}
        node = {**_schema()["$defs"][name], **extra}
    return node


def _options(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a node (anyOf/oneOf), dereferenced."""
    node = _deref(node)
    for key in ("anyOf", "oneOf"):
        if key in node:
            out = []
            for alt in node[key]:
                alt = _deref(alt)
                if alt.get("type") != "null":
                    out.extend(_options(alt))
            return out
    return [node]


def schema_at(path: tuple[Any, ...], event: str | None = None) -> list[dict[str, Any]]:
    """The schema node(s) a path leads to (several where a union is not narrowed by the step's event)."""
    nodes = [_deref(_schema())]
    for part in path:
        nxt: list[dict[str, Any]] = []
        for node in nodes:
            for opt in _options(node):
                if part == ITEM:
                    items = opt.get("items") or (opt.get("prefixItems") or [None])[0]
                    if items is None:
                        continue
                    items = _deref(items)
                    mapping = items.get("discriminator", {}).get("mapping", {})
                    if mapping and event in mapping:
                        nxt.append(_deref({"$ref": mapping[event]}))
                    else:
                        nxt.extend(_options(items))
                elif part in opt.get("properties", {}):
                    nxt.append(_deref(opt["properties"][part]))
                elif isinstance(opt.get("additionalProperties"), dict):
                    nxt.append(_deref(opt["additionalProperties"]))
        nodes = nxt
    return nodes


def _enum_values(node: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for opt in _options(node):
        for v in opt.get("enum", []) + ([opt["const"]] if "const" in opt else []):
            if str(v) not in out:
                out.append(str(v))
        if opt.get("type") == "array":
            for sub in ([opt.get("items")] if opt.get("items") else []) + list(opt.get("prefixItems", [])):
                out += [v for v in _enum_values(_deref(sub)) if v not in out]
    return out


def step_names(text: str) -> list[str]:
    """Names of the rule's steps in order (read from the text, even when it does not parse)."""
    names: list[str] = []
    in_steps, steps_col = False, 0
    for line in text.split("\n"):
        if not _content(line):
            continue
        kcol, dash, key = _key_column(line)
        if key == "steps" and dash is None and kcol == 0:
            in_steps, steps_col = True, kcol
            continue
        if in_steps and kcol <= steps_col and dash is None:
            in_steps = False
        if in_steps and key == "name":
            m = _KEY_LINE.match(line)
            value = m.group(5).split("#")[0].strip().strip("'\"") if m else ""
            if value and value not in names:
                names.append(value)
    return names


def session_names(text: str) -> list[str]:
    names = [*DEFAULT_SESSION_WINDOWS, IB_WINDOW]
    for m in re.finditer(r"^\s{4}([a-z][a-z0-9_]*)\s*:\s*\[", text, re.M):
        if m.group(1) not in names:
            names.append(m.group(1))
    return names


def completions(text: str, line: int, column: int) -> tuple[CursorContext, list[Completion]]:
    """What may be written at the cursor, filtered by the word typed so far."""
    ctx = cursor_context(text, line, column)
    out: list[Completion] = []
    if ctx.mode == "key":
        for node in schema_at(ctx.path, ctx.event):
            for opt in _options(node):
                for key, sub in opt.get("properties", {}).items():
                    if key in ctx.siblings or any(c.text == key for c in out):
                        continue
                    out.append(Completion(key, _first_sentence(_deref(sub).get("description", ""))))
    elif ctx.mode == "value":
        key = ctx.path[-1]
        if key in STEP_REF_KEYS:
            mine = step_names(text)
            own = _own_step_name(text, line)
            out = [Completion(n, "step") for n in mine if n != own]
        elif key == "event":
            mapping = _deref(_schema()["properties"]["steps"])["items"]["discriminator"]["mapping"]
            out = [Completion(e, "event") for e in mapping]
        elif key in ("levels", "level"):
            out = [Completion(n, "level") for n in _LEVEL_NAMES]
        elif key == "session":
            out = [Completion(n, "session") for n in session_names(text)]
        else:
            for node in schema_at(ctx.path, ctx.event):
                out += [Completion(v) for v in _enum_values(node) if all(c.text != v for c in out)]
    low = ctx.prefix.lower()
    return ctx, [c for c in out if c.text.lower().startswith(low)]


def _own_step_name(text: str, line: int) -> str | None:
    """The name of the step being edited (a step cannot refer to itself)."""
    lines = text.split("\n")
    for i in range(line, -1, -1):
        m = _KEY_LINE.match(lines[i])
        if m and m.group(3) == "name":
            return m.group(5).split("#")[0].strip()
        if m and m.group(2):
            break
    return None


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    cut = text.find(". ")
    return text if cut < 0 else text[:cut + 1]


# -- hover help ------------------------------------------------------------------------------

def _docs_file() -> Path:
    return Path(__file__).resolve().parents[2] / "docs" / "rules.md"


@lru_cache(maxsize=1)
def docs_rows() -> dict[tuple[str, str], str]:
    """docs/rules.md's reference tables as {(section, key): meaning} (key as written: ``bias.trade``)."""
    rows: dict[tuple[str, str], str] = {}
    try:
        text = _docs_file().read_text(encoding="utf-8")
    except OSError:
        return rows
    section = ""
    for line in text.splitlines():
        if line.startswith("### "):
            section = line[4:].strip().lower()
        elif line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            meaning = cells[-1]
            for key in re.findall(r"`([^`]+)`", cells[0]):
                rows.setdefault((section, key), meaning)
    return rows


def key_help(path: tuple[Any, ...], event: str | None = None) -> str:
    """Hover text for the key at ``path``: the schema's description, and docs/rules.md's meaning."""
    keys = [p for p in path if p != ITEM]
    if not keys:
        return ""
    described = ""
    for node in schema_at(path, event):
        described = node.get("description") or next((o.get("description", "") for o in _options(node)
                                                     if o.get("description")), "")
        if described:
            break
    section = "top level" if len(keys) == 1 else str(keys[0])
    rest = keys[1:] if len(keys) > 1 else keys
    rows = docs_rows()
    candidates = [".".join(rest), ".".join(str(k) for k in rest[-2:]), str(rest[-1])]
    if section == "market" and len(rest) >= 3 and rest[0] == "symbols":
        candidates.insert(0, f"symbols.<S>.{rest[-1]}")
    doc = next((rows[(section, c)] for c in candidates if (section, c) in rows), "")
    parts = [" ".join(described.split())] if described else []
    if doc and doc.rstrip(".").lower() not in described.lower():
        parts.append(f"docs/rules.md: {doc}")
    return "\n".join(parts)


def key_at(text: str, line: int, column: int) -> tuple[tuple[Any, ...], str | None] | None:
    """The path of the key under 0-based ``line``/``column`` (None when the cursor is not on a key)."""
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        return None
    m = _KEY_LINE.match(lines[line])
    if not m:
        return None
    start = len(m.group(1)) + len(m.group(2) or "")
    if not start <= column <= start + len(m.group(3)):
        return None
    ctx = cursor_context(text, line, start + len(m.group(3)) + 1)
    return ctx.path, ctx.event


# -- squiggles -------------------------------------------------------------------------------

_STOP = re.compile(r"[,\]}#]|\s#")


def issue_span(lines: list[str], issue: RuleIssue) -> tuple[int, int, int]:
    """(0-based line, 0-based start column, length >= 1) of the key or value ``issue`` is at."""
    row = min(max(issue.line - 1, 0), max(len(lines) - 1, 0))
    text = lines[row] if lines else ""
    start = min(max(issue.column - 1, 0), len(text))
    rest = text[start:]
    if not rest.strip():
        return row, start, 1
    if rest[:1] in "'\"":
        end = rest.find(rest[0], 1)
        return row, start, (end + 1) if end > 0 else len(rest.rstrip())
    if rest[:1] in "[{":
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch in "[{"
            depth -= ch in "]}"
            if depth == 0:
                return row, start, i + 1
        return row, start, len(rest.rstrip())
    key = re.match(r"(-\s+)?([^\s:#,\]}]+)\s*:(\s|$)", rest)
    if key:
        return row, start + len(key.group(1) or ""), len(key.group(2))
    stop = _STOP.search(rest)
    token = rest[:stop.start()] if stop else rest
    return row, start, max(len(token.rstrip()), 1)
