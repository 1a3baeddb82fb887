"""Rule versions in SQLite follow domain.versioning.decide_version: reuse, store, replace, or a new version
when the edited version already has results (a stored backtest run)."""

from __future__ import annotations

from pathlib import Path

from ita_desktop.rules.loader import load_rule, repo_rules_dir
from ita_desktop.storage.store import Store


def _copy_seed(tmp_path: Path) -> Path:
    path = tmp_path / "rules" / "ib_raid" / "v1.yaml"
    path.parent.mkdir(parents=True)
    path.write_text((repo_rules_dir() / "ib_raid" / "v1.yaml").read_text())
    return path


def test_first_use_stores_then_reuses_and_an_unused_edit_replaces_in_place(tmp_path: Path) -> None:
    path = _copy_seed(tmp_path)
    with Store.open(tmp_path / "ita.db") as store:
        first = store.rule_versions.record(load_rule(path).version, now=100)
        assert (first.action, first.version) == ("store", "1")
        again = store.rule_versions.record(load_rule(path).version, now=200)
        assert (again.action, again.id) == ("reuse", first.id)
        # CRLF line endings and trailing blanks do not fork a version
        path.write_bytes(path.read_text().replace("\n", "  \r\n").encode())
        assert store.rule_versions.record(load_rule(path).version).action == "reuse"
        path.write_text(path.read_text().replace("percent: 0.5", "percent: 0.75"))
        edited = store.rule_versions.record(load_rule(path).version, now=300)
        assert (edited.action, edited.id, edited.version) == ("replace", first.id, "1")
        [row] = store.rule_versions.list("ib_raid")
        assert "percent: 0.75" in row.text and row.created_at == 300


def test_an_edit_of_a_version_with_results_is_stored_as_the_next_version(tmp_path: Path) -> None:
    path = _copy_seed(tmp_path)
    with Store.open(tmp_path / "ita.db") as store:
        v1 = store.rule_versions.record(load_rule(path).version)
        store.runs.add(rule_id="ib_raid", rule_version="1", symbols=["XAUUSD"], timeframe="M5", first_utc=None, last_utc=None, ingest_ids=[],
                       settings={}, stats={}, trades=[], inputs_hash="h")
        assert store.rule_versions.has_results(store.rule_versions.get(v1.id))
        path.write_text(path.read_text().replace("percent: 0.5", "percent: 0.75"))
        v2 = store.rule_versions.record(load_rule(path).version)
        assert (v2.action, v2.version) == ("new_version", "2") and v2.id != v1.id
        assert "version: \"2\"" in v2.text and "percent: 0.75" in v2.text
        rows = {r.version: r for r in store.rule_versions.list("ib_raid")}
        assert "percent: 0.5" in rows["1"].text  # the results keep their text
        assert "percent: 0.75" in rows["2"].text
