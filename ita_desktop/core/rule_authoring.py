"""Writing rules in the app: drafts that survive a crash, new rules from a template or from scratch,
duplicate and rename (folder and ``rule_id`` kept in step), and two versions side by side.

Saving itself is :meth:`RulesService.save` (the next free version, never over a file). Drafts
live in ``<data>/rule_drafts/<key>.yaml``, outside the user rules folder, so a half-typed rule
is never listed or run as a rule; the editor writes one after each pause in typing and drops it
once the text is saved or thrown away.
"""

from __future__ import annotations

import difflib
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ita_desktop.core.rules_service import RulesService, VersionEntry
from ita_desktop.domain.errors import InputError
from ita_desktop.domain.versioning import normalise_text, version_from_path, with_version

_RULE_ID_LINE = re.compile(r"^rule_id:[ \t]*(\S[^#\n]*?)?[ \t]*(#.*)?$", re.M)
_VALID_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

SCRATCH = """rule_id: {rule_id}
version: 1
name: {rule_id}
description: >
  What the setup looks for, in words.

market:
  symbols:
    EURUSD: {{point: 0.00001, pip_size: 0.0001, point_value: 1.0}}
  timeframe: M5

steps:
  - name: sweep
    event: sweep
    levels: [asia.high, asia.low]
    session: london

entry:
  order: market
  with: sweep

stop:
  beyond: sweep
  buffer: {{pips: 1}}

targets:
  - r: 2

risk:
  percent: 0.5
"""


def with_rule_id(text: str, rule_id: str) -> str:
    """``text`` with its top-level ``rule_id:`` value replaced (comments and layout kept)."""
    check_rule_id(rule_id)
    replaced, n = _RULE_ID_LINE.subn(lambda m: f"rule_id: {rule_id}" + (f"  {m.group(2)}" if m.group(2) else ""),
                                     text, count=1)
    if not n:
        raise InputError("the rule text has no top-level rule_id line to replace")
    return replaced


def check_rule_id(rule_id: str) -> None:
    if not _VALID_ID.match(rule_id):
        raise InputError(f"expected a rule id of letters, digits and _ starting with a letter, got {rule_id!r}")


@dataclass(frozen=True)
class VersionPair:
    """Two versions of a rule and what changed between them."""

    left: VersionEntry
    right: VersionEntry
    diff: list[str]  # unified diff lines


class RuleAuthoring:
    """The editor's use cases over the rules service (no Qt: the CLI or a test can drive them)."""

    def __init__(self, rules: RulesService, data_dir: Path) -> None:
        self.rules = rules
        self.drafts_dir = Path(data_dir) / "rule_drafts"

    # -- drafts ---------------------------------------------------------------------------
    def draft_path(self, key: str) -> Path:
        return self.drafts_dir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.yaml"

    def write_draft(self, key: str, text: str) -> Path:
        """Keep ``text`` as the draft of ``key`` (written to a temporary file, then renamed: a crash mid-write
        leaves the previous draft whole)."""
        path = self.draft_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return path

    def read_draft(self, key: str) -> str | None:
        path = self.draft_path(key)
        try:
            return path.read_text(encoding="utf-8")
        except OSError:
            return None

    def drop_draft(self, key: str) -> None:
        self.draft_path(key).unlink(missing_ok=True)

    # -- new, duplicate, rename -------------------------------------------------------------
    def templates(self) -> list[VersionEntry]:
        """The latest valid version of each shipped rule: the seeds a new rule starts from."""
        from ita_desktop.core.rules_service import list_rules

        return [e for e in list_rules([(self.rules.shipped_dir, "shipped")], None) if e.latest and e.valid]

    def from_template(self, template: Path, rule_id: str) -> str:
        """A template's text as a new rule ``rule_id`` v1 (unsaved)."""
        self._free(rule_id)
        text = Path(template).read_text(encoding="utf-8-sig")
        return with_version(with_rule_id(text, rule_id), "1")

    def from_scratch(self, rule_id: str) -> str:
        check_rule_id(rule_id)
        self._free(rule_id)
        return SCRATCH.format(rule_id=rule_id)

    def duplicate(self, text: str, rule_id: str) -> Path:
        """Save ``text`` as a new rule ``rule_id`` v1 in the user folder."""
        self._free(rule_id)
        return self.rules.save(with_version(with_rule_id(text, rule_id), "1"))

    def rename(self, rule_id: str, new_id: str) -> Path:
        """Move the user rule's folder to ``new_id`` and rewrite ``rule_id`` in each of its versions.

        Shipped rules are read-only (duplicate them instead); a name in use in either folder is refused.
        Returns the new folder."""
        check_rule_id(new_id)
        old = self.rules.user_dir / rule_id
        if not old.is_dir():
            raise InputError(f"{rule_id!r} is not one of your rules (shipped rules are read-only: duplicate it)")
        self._free(new_id)
        new = self.rules.user_dir / new_id
        staging = self.rules.user_dir / f".{new_id}.renaming"
        shutil.copytree(old, staging)
        for f in staging.glob("v*.y*ml"):
            f.write_text(normalise_text(with_rule_id(f.read_text(encoding="utf-8-sig"), new_id)), encoding="utf-8")
        staging.rename(new)
        shutil.rmtree(old)
        draft = self.read_draft(rule_id)
        if draft is not None:
            try:
                self.write_draft(new_id, with_rule_id(draft, new_id))
            except InputError:
                self.write_draft(new_id, draft)
            self.drop_draft(rule_id)
        return new

    def _free(self, rule_id: str) -> None:
        for folder, origin in self.rules.folders():
            if (folder / rule_id).is_dir() and any((folder / rule_id).glob("v*.y*ml")):
                raise InputError(f"a rule {rule_id!r} already exists ({origin}: {folder / rule_id})")

    # -- versions ---------------------------------------------------------------------------
    def versions(self, rule_id: str) -> list[VersionEntry]:
        """Every version of ``rule_id`` in either folder, newest first, with its latest stored run's stats."""
        return [e for e in self.rules.list() if e.rule_id == rule_id]

    def compare(self, left: VersionEntry, right: VersionEntry) -> VersionPair:
        a = left.path.read_text(encoding="utf-8-sig").splitlines()
        b = right.path.read_text(encoding="utf-8-sig").splitlines()
        diff = list(difflib.unified_diff(a, b, f"v{left.version}", f"v{right.version}", lineterm=""))
        return VersionPair(left, right, diff)


def key_of(path: Path | None, rule_id: str) -> str:
    """A draft's key: the rule id (one draft per rule, whichever version it started from)."""
    where = version_from_path(path) if path is not None else None
    return where[0] if where else rule_id
