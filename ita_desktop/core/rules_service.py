"""Rules: the shipped examples (read-only) and the trader's own rules folder, listed together with their origin.

Both folders hold ``<rule_id>/v<version>.yaml``. The user folder is in the user data folder
(``AppPaths.user_rules``, so ITA_HOME moves it with the store); saving always writes there,
never into the shipped folder, and never over an existing file: a text whose version is
already taken (in either folder) is saved as the next free version of that rule. A rule_id
resolves to its highest version in either folder (the user's file on a tie).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ita_desktop.domain.errors import InputError
from ita_desktop.rules.loader import LoadedRule, load_rule, repo_rules_dir, rule_files, validate_file, validate_text, warnings_of_file
from ita_desktop.domain.versioning import next_version, normalise_text, version_from_path, version_key, with_version

if TYPE_CHECKING:
    from ita_desktop.core.app_core import Core
    from ita_desktop.storage.store import Store

Origin = Literal["shipped", "user"]


@dataclass(frozen=True)
class RuleChoice:
    """One rule version picked to run: its id, version and file (the file is what runs)."""

    rule_id: str
    version: str
    path: Path

    @property
    def title(self) -> str:
        return f"{self.rule_id} v{self.version}"


@dataclass
class VersionEntry:
    """One rule file: valid (with its latest stored run's key stats) or broken (with its located issues)."""

    rule_id: str
    version: str
    path: Path
    origin: Origin = "shipped"
    latest: bool = False
    problems: list[str] = field(default_factory=list)  # "file:line:col: message"
    warnings: list[str] = field(default_factory=list)  # "file:line:col: warning: ..." (the rule still runs)
    name: str = ""
    timeframe: str = ""
    run_id: int | None = None
    stats: dict[str, Any] = field(default_factory=dict)  # trades, win_rate, expectancy_r, net_pnl, profit_factor, max_drawdown_pct

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def choice(self) -> RuleChoice:
        return RuleChoice(self.rule_id, self.version, self.path)


def _version_sort_key(version: str) -> tuple[int, ...]:
    try:
        return version_key(version)
    except ValueError:
        return (-1,)


def list_rules(folders: list[tuple[Path, Origin]], store: Store | None) -> list[VersionEntry]:
    """Every rule file of ``folders``, validated, the newest version of each rule marked, with the key
    stats of the latest stored run of that version.

    A broken file is listed with every problem located (file:line:col), never raised: one typo
    must not hide the other rules."""
    entries: list[VersionEntry] = []
    for folder, origin in folders:
        for path in rule_files([folder]) if folder.is_dir() else []:
            where = version_from_path(path)
            rule_id, version = where if where is not None else (path.stem, "?")
            rule, issues = validate_file(path)
            entry = VersionEntry(rule_id, version, path, origin, problems=[i.located() for i in issues],
                                 warnings=[w.located() for w in warnings_of_file(path)] if rule is not None else [])
            if rule is not None:
                entry.rule_id, entry.version = rule.rule_id, rule.version
                entry.name, entry.timeframe = rule.name or "", rule.market.timeframe.value
            entries.append(entry)
    by_rule: dict[str, list[VersionEntry]] = {}
    for entry in entries:
        by_rule.setdefault(entry.rule_id, []).append(entry)
    for versions in by_rule.values():
        versions.sort(key=lambda e: (_version_sort_key(e.version), e.origin == "user"), reverse=True)
        versions[0].latest = True
    if store is not None:
        for rule_id, versions in by_rule.items():
            runs = store.runs.list(rule_id)
            for entry in versions:
                mine = [r for r in runs if r.rule_version == entry.version and not r.label]
                if mine:
                    last = mine[-1]
                    summary = json.loads(last.stats_json or "{}").get("summary", {})
                    entry.run_id = last.run_id
                    entry.stats = {k: summary.get(k) for k in ("trades", "win_rate", "expectancy_r", "net_pnl",
                                                             "profit_factor", "max_drawdown_pct")}
    return [e for rule_id in sorted(by_rule, key=str.lower) for e in by_rule[rule_id]]


class RulesService:
    def __init__(self, core: Core, shipped: Path | None = None) -> None:
        self._core = core
        self.shipped_dir = shipped or repo_rules_dir()

    @property
    def user_dir(self) -> Path:
        return self._core.paths.user_rules

    def folders(self) -> list[tuple[Path, Origin]]:
        return [(self.shipped_dir, "shipped"), (self.user_dir, "user")]

    def list(self) -> list[VersionEntry]:
        """Both folders' rules with where each comes from, and their latest results once the store is open."""
        return list_rules(self.folders(), self._core.store_if_open)

    def origin_of(self, path: Path) -> Origin:
        return "user" if Path(path).resolve().is_relative_to(self.user_dir.resolve()) else "shipped"

    def resolve(self, ref: str | Path) -> LoadedRule:
        """A rule file path, or a rule_id: its highest version in either folder (the user's on a tie)."""
        path = Path(ref)
        if path.suffix in (".yaml", ".yml") or path.is_file():
            return load_rule(path)
        found: list[tuple[tuple[int, ...], bool, Path]] = []
        for folder, origin in self.folders():
            rule_dir = folder / str(ref)
            for f in rule_dir.glob("v*.y*ml") if rule_dir.is_dir() else []:
                where = version_from_path(f)
                if where is not None:
                    found.append((version_key(where[1]), origin == "user", f))
        if not found:
            raise InputError(f"no rule {str(ref)!r}: not a file, and no {self.user_dir / str(ref)}/v<version>.yaml "
                             f"nor {self.shipped_dir / str(ref)}/v<version>.yaml")
        return load_rule(max(found)[2])

    def save(self, text: str) -> Path:
        """Validate ``text`` and write it to the user folder as ``<rule_id>/v<version>.yaml``.

        The same text as an existing file of that rule is not written again (that file is returned);
        a version already taken in either folder becomes the next free one (``version:`` rewritten).
        Invalid text: InputError with every problem located."""
        rule, issues = validate_text(text, "<rule being saved>")
        if rule is None:
            raise InputError("the rule has errors:\n" + "\n".join(i.located() for i in issues))
        taken: dict[str, Path] = {}
        for folder, _origin in self.folders():
            rule_dir = folder / rule.rule_id
            for f in rule_dir.glob("v*.y*ml") if rule_dir.is_dir() else []:
                where = version_from_path(f)
                if where is not None:
                    taken.setdefault(where[1], f)
        for path in taken.values():
            if normalise_text(path.read_text(encoding="utf-8")) == normalise_text(text):
                return path
        version = rule.version
        if version in taken:
            version = next_version(max(taken, key=version_key), taken)
            text = with_version(text, version)
        target = self.user_dir / rule.rule_id / f"v{version}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(normalise_text(text), encoding="utf-8")
        return target
