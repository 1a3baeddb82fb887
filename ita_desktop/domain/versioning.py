"""Rule versions: identity from the path, a content hash, and when an edit makes a new version.

Every signal, run and trade records the rule version it came from, so a version's text must
never change once results hang on it. The decision is pure logic here; storage keeps the
(rule_id, version, content_hash, text) rows and says which versions have results.

- The path ``rules/<rule_id>/v<version>.yaml`` and the file's own ``rule_id``/``version``
  must agree (the loader reports a mismatch at the key).
- The hash is over the normalised text (BOM, line endings and trailing blanks removed), so
  saving the same rule from another editor does not fork a version; any other change,
  comments included, does, because the stored text is what a result is explained by.
- :func:`decide_version`: same hash -> reuse; unknown version -> store; changed text on a
  version without results -> replace it; changed text on a version WITH results -> a new
  version (:func:`next_version`), the old one keeps its results.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

_FILE = re.compile(r"^v(\d+(?:\.\d+)*)\.ya?ml$")


@dataclass(frozen=True)
class RuleVersion:
    """One stored version of a rule: what storage writes when the rule is first used."""

    rule_id: str
    version: str
    content_hash: str
    text: str


@dataclass(frozen=True)
class StoredVersion:
    """What storage knows of an existing version (``has_results``: any signal, run or trade uses it)."""

    version: str
    content_hash: str
    has_results: bool


@dataclass(frozen=True)
class VersionDecision:
    """``action`` to take and the ``version`` to record the text under."""

    action: Literal["reuse", "store", "replace", "new_version"]
    version: str


def normalise_text(text: str) -> str:
    """The text as hashed: no BOM, LF line endings, no trailing spaces, exactly one final newline."""
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def content_hash(text: str) -> str:
    """SHA-256 hex of :func:`normalise_text`."""
    return hashlib.sha256(normalise_text(text).encode("utf-8")).hexdigest()


def version_from_path(path: str | Path) -> tuple[str, str] | None:
    """``(rule_id, version)`` from ``.../<rule_id>/v<version>.yaml``; None for other file names."""
    p = Path(path)
    m = _FILE.match(p.name)
    if not m or not p.parent.name:
        return None
    return p.parent.name, m.group(1)


def version_key(version: str) -> tuple[int, ...]:
    """Sort key: ``"1.10"`` after ``"1.9"``; ValueError for text that is not a version."""
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        raise ValueError(f"not a version: {version!r}; expected digits separated by dots such as 1 or 1.2")
    return tuple(int(p) for p in version.split("."))


def next_version(current: str, taken: Iterable[str]) -> str:
    """The next free version after ``current`` in its own series: 1 -> 2, 1.2 -> 1.3 (skipping taken ones).

    Bumping the last component keeps a trader's numbering: an edit of 1.2 becomes 1.3, not 2.
    """
    parts = list(version_key(current))
    used = {version_key(v) for v in taken}
    while True:
        parts[-1] += 1
        if tuple(parts) not in used:
            return ".".join(map(str, parts))


def decide_version(version: str, text_hash: str, stored: Iterable[StoredVersion]) -> VersionDecision:
    """What to do with a rule file at ``version`` whose text hashes to ``text_hash``, given storage's rows."""
    stored = list(stored)
    for row in stored:
        if row.content_hash == text_hash and row.version == version:
            return VersionDecision("reuse", version)
    same = next((row for row in stored if row.version == version), None)
    if same is None:
        return VersionDecision("store", version)
    if not same.has_results:
        return VersionDecision("replace", version)
    return VersionDecision("new_version", next_version(version, (row.version for row in stored)))


def with_version(text: str, new_version: str) -> str:
    """``text`` with its top-level ``version:`` value replaced in place (comments and layout kept).

    Used when an edit becomes a new version: the editor writes this text to v<new>.yaml.
    """
    version_key(new_version)
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "version" and isinstance(value, yaml.ScalarNode):
                start, end = value.start_mark.index, value.end_mark.index
                return text[:start] + f'"{new_version}"' + text[end:]
    raise ValueError("the rule text has no top-level version key to replace")


def version_diff(rule_id: str, old_version: str, old_text: str, new_version: str, new_text: str) -> str:
    """The unified diff from one version's text to another's, the files named ``<rule_id>/v<version>.yaml``
    (what a proposed version shows the trader before it is accepted)."""
    return "".join(difflib.unified_diff(old_text.splitlines(True), new_text.splitlines(True),
                                        f"{rule_id}/v{old_version}.yaml", f"{rule_id}/v{new_version}.yaml"))
