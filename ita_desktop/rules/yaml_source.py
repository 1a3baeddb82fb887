"""YAML to plain data plus a map of where every key and value was written.

PyYAML's ``compose`` gives nodes with ``start_mark`` (0-based line and column) for every key
and value; walking them ourselves instead of calling ``safe_load`` keeps those positions and
lets us fix YAML 1.1's traps for traders: an unquoted ``09:30`` would be the integer 570
(base-60), the key ``on:`` would be the boolean True, and ``version: 1.10`` the float 1.1.
Plain scalars that look like times, the words yes/no/on/off, and the version stay text.
Duplicate keys, which PyYAML silently resolves to the last one, are reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from ita_desktop.rules.rule_issues import RuleIssue

Path_ = tuple[Any, ...]  # keys (str) and list indexes (int) from the document root

_TIME_LIKE = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
_BOOL_WORDS = {"true", "false"}
_RAW_PATHS = {("version",)}
MAX_DEPTH = 64  # lists and maps inside each other; the seed rules need 5
MAX_EXPANDED = 100_000  # values after aliases are expanded; the seed rules hold a few hundred
MAX_INT_DIGITS = 30  # a whole number longer than this is no rule setting (and Python refuses 4,300+ digits)
_CLoader = getattr(yaml, "CSafeLoader", None)  # libyaml's parser and composer, when PyYAML was built with it
_PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}


@dataclass(frozen=True)
class Pos:
    """A 1-based line and column."""

    line: int
    column: int


@dataclass
class SourceMap:
    """Where each path's key and value start; lookups fall back to the nearest written ancestor."""

    keys: dict[Path_, Pos] = field(default_factory=dict)
    values: dict[Path_, Pos] = field(default_factory=dict)

    def key(self, path: Path_) -> Pos:
        """The key's position (a list item's own position), else the nearest ancestor's."""
        for n in range(len(path), 0, -1):
            p = tuple(path[:n])
            if p in self.keys:
                return self.keys[p]
        return Pos(1, 1)

    def value(self, path: Path_) -> Pos:
        """The value's position, else the nearest ancestor's key."""
        p = tuple(path)
        if p in self.values:
            return self.values[p]
        return self.key(path)


def describe_path(path: Path_) -> str:
    """``("steps", 1, "within")`` -> ``steps[1].within`` (the root is "the rule"), for messages."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the rule"


def _pos(mark: yaml.Mark) -> Pos:
    return Pos(mark.line + 1, mark.column + 1)


def parse_yaml(text: str, file: str) -> tuple[Any, SourceMap, list[RuleIssue]]:
    """``(data, source_map, issues)``; on a syntax error data is None and the issue names the mark."""
    smap = SourceMap()
    issues: list[RuleIssue] = []
    loader = None
    try:
        node, loader, refused = _compose(text, file)
        if refused is not None:
            return None, smap, [refused]
        if node is None:
            return None, smap, [RuleIssue(1, 1, "the file is empty; expected a rule (a mapping of keys)", file)]
        data = _build(node, (), smap, loader, issues, file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _pos(mark) if mark else Pos(1, 1)
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        return None, smap, [RuleIssue(where.line, where.column, f"YAML syntax error: {problem}{context}", file)]
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (NUL, other controls)
        where = _offset_pos(text, exc.position)
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return None, smap, [RuleIssue(where.line, where.column,
                                      f"character U+{ord(character):04X} is not allowed in a rule file", file)]
    except yaml.YAMLError:
        return None, smap, [RuleIssue(1, 1, "the file could not be read as YAML", file)]
    finally:
        if loader is not None:
            loader.dispose()
    return data, smap, issues


def _compose(text: str, file: str) -> tuple[yaml.Node | None, Any, RuleIssue | None]:
    """The document's node and the loader that constructs its values, after :func:`screen_events`.

    PyYAML's pure-Python scanner and composer were most of a validation (22 of 28 ms on a
    500-line rule: too slow to validate as the trader types). With libyaml (PyYAML's C
    extension) the events are screened and the node composed in C, 4-5x faster, with the same
    marks (tests/test_rule_editing.py compares both on every test rule). libyaml words syntax
    errors differently, so a text it refuses is read again by PyYAML alone: the messages and
    positions of a broken file are PyYAML's, as before."""
    if _CLoader is not None:
        try:
            refused = screen_events(_plain_styles(yaml.parse(text, Loader=_CLoader)), file, [])
            if refused is not None:
                return None, None, refused
            loader = _CLoader(text)
            try:
                return loader.get_single_node(), loader, None
            except yaml.YAMLError:
                loader.dispose()
                raise
        except yaml.YAMLError:
            pass
    events: list[yaml.Event] = []  # parsed once, screened as they come (stopping early), then composed
    refused = screen_events(yaml.parse(text, Loader=yaml.SafeLoader), file, events)
    if refused is not None:
        return None, None, refused
    loader = _EventLoader(events)
    return loader.get_single_node(), loader, None


def _plain_styles(events: Iterable[yaml.Event]) -> Iterable[yaml.Event]:
    """libyaml marks a plain scalar with style '' where PyYAML has None (``_build`` reads None as plain)."""
    for event in events:
        if isinstance(event, yaml.ScalarEvent) and event.style == "":
            event.style = None
        yield event


def _offset_pos(text: str, offset: int) -> Pos:
    before = text[:offset]
    return Pos(before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)


class _EventLoader(Composer, SafeConstructor, Resolver):
    """PyYAML's composer and safe constructor fed from events already parsed (and screened), so a
    rule is scanned once: the pure-Python scanner is most of a validation's time."""

    def __init__(self, events: list[yaml.Event]) -> None:
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._events, self._next = events, 0

    def check_event(self, *choices: type) -> bool:
        if self._next >= len(self._events):
            return False
        return not choices or isinstance(self._events[self._next], choices)

    def peek_event(self) -> yaml.Event | None:
        return self._events[self._next] if self._next < len(self._events) else None

    def get_event(self) -> yaml.Event | None:
        event = self.peek_event()
        self._next += 1
        return event

    def dispose(self) -> None:
        self._events = []


def screen_events(stream: Iterable[yaml.Event], file: str, kept: list[yaml.Event]) -> RuleIssue | None:
    """Refuse, from PyYAML's event stream (read without recursion), what would hang or crash the
    build: nesting deeper than MAX_DEPTH, an alias to an anchor still open (recursive), aliases
    that expand the document past MAX_EXPANDED values (a "billion laughs"), and tags other than
    YAML's plain ones (``!!python/object/apply`` on a list or map would be ignored silently).
    Events read are appended to ``kept``; reading stops at the first refusal (PyYAML's scanner
    slows quadratically with flow depth, so a 10,000-deep file must not be read to its end)."""
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = [[None, 0]]  # [anchor, values so far] per open collection
    total = 0  # values so far in all open collections
    for event in stream:
        kept.append(event)
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            tag = event.tag
            if tag is not None and tag != "!" and tag not in _PLAIN_TAGS:
                p = _pos(event.start_mark)
                shown = tag.replace("tag:yaml.org,2002:", "!!")
                return RuleIssue(p.line, p.column, f"tag {shown[:60]!r} is not allowed in a rule file; "
                                 "write plain values", file)
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append([event.anchor, 0])
            if len(stack) - 1 > MAX_DEPTH:
                p = _pos(event.start_mark)
                return RuleIssue(p.line, p.column, f"nested more than {MAX_DEPTH} levels deep; a rule needs a few", file)
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, count = stack.pop()
            count += 1
            total += 1
            if anchor is not None:
                sizes[anchor] = count
            stack[-1][1] += count
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            stack[-1][1] += 1
            total += 1
        elif isinstance(event, yaml.AliasEvent):
            p = _pos(event.start_mark)
            if any(frame[0] == event.anchor for frame in stack):
                return RuleIssue(p.line, p.column, f"alias *{event.anchor} refers to the value that contains it "
                                 "(a value cannot hold itself)", file)
            stack[-1][1] += sizes.get(event.anchor, 1)
            total += sizes.get(event.anchor, 1)
        else:
            continue
        if total > MAX_EXPANDED:  # the sum of the open frames' counts, kept as it changes
            p = _pos(event.start_mark)
            return RuleIssue(p.line, p.column, f"aliases expand the rule past {MAX_EXPANDED:,} values here; "
                             "a rule is far smaller (write the values out, or use fewer aliases)", file)
    return None


def _build(node: yaml.Node, path: Path_, smap: SourceMap, loader: _EventLoader,
           issues: list[RuleIssue], file: str) -> Any:
    smap.values[path] = _pos(node.start_mark)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                p = _pos(key_node.start_mark)
                issues.append(RuleIssue(p.line, p.column, "a key must be a plain word, not a list or mapping", file))
                continue
            key = key_node.value  # raw text: `on:` stays "on", not True
            kp = path + (key,)
            if key in out:
                p, first = _pos(key_node.start_mark), smap.keys[kp]
                issues.append(RuleIssue(p.line, p.column, f"duplicate key {key!r} (first written at line {first.line})", file))
                continue
            smap.keys[kp] = _pos(key_node.start_mark)
            out[key] = _build(value_node, kp, smap, loader, issues, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            smap.keys[path + (i,)] = _pos(item.start_mark)
            items.append(_build(item, path + (i,), smap, loader, issues, file))
        return items
    plain = not node.style  # None (PyYAML) or "" (libyaml)
    if plain and (path in _RAW_PATHS or _TIME_LIKE.match(node.value)):
        return node.value
    if node.tag == "tag:yaml.org,2002:int" and len(node.value) > MAX_INT_DIGITS:
        p = _pos(node.start_mark)
        issues.append(RuleIssue(p.line, p.column, f"number with {len(node.value):,} characters is far too large", file))
        return None
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, OverflowError):
        p = _pos(node.start_mark)
        issues.append(RuleIssue(p.line, p.column, f"cannot read the value {node.value[:40]!r}", file))
        return None
    if plain and isinstance(value, bool) and node.value.lower() not in _BOOL_WORDS:
        return node.value  # yes/no/on/off: YAML 1.1 booleans, text to a trader
    return value
