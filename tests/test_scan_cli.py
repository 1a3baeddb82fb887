"""`ita scan`: the real XAUUSD file imported into a fresh store, scanned with a seed rule (M5 built from M1)."""

from __future__ import annotations

import json
from pathlib import Path

from ita_desktop.cli.main import main
from ita_desktop.rules.loader import repo_rules_dir
from ita_desktop.storage.store import Store


def _import(xauusd_csv: Path, capsys) -> None:
    assert main(["data", "import", str(xauusd_csv), "--symbol", "XAUUSD"]) == 0
    capsys.readouterr()


def test_scan_by_rule_id_prints_the_ib_raid_with_times_in_utc_and_new_york(ita_home, xauusd_csv, capsys) -> None:
    _import(xauusd_csv, capsys)
    assert main(["scan", "ib_raid", "--symbol", "XAUUSD"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ib_raid v1 (version id 1) on XAUUSD M5: 1 occurrence(s), 1 order(s)")
    # the raid pinned in test_setup_engine_realdata: confirmed 14:35Z = 10:35 New York (EDT)
    assert "#0 SHORT signal 2026-07-01 14:35Z (10:35 NY)" in out
    assert "targets 4074.94 (50%), 4041.84" in out and "stop 4115.89" in out


def test_scan_json_by_path_with_a_range_records_the_rule_version_once(ita_home, xauusd_csv, capsys) -> None:
    _import(xauusd_csv, capsys)
    path = repo_rules_dir() / "ib_raid" / "v1.yaml"
    args = ["scan", str(path), "--symbol", "XAUUSD", "--from", "2026-07-01", "--to", "2026-07-02", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["rule_id"], first["rule_version"], first["source_timeframe"]) == ("ib_raid", "1", "M1")
    [occ] = first["occurrences"]
    assert occ["signal_utc"] == "2026-07-01T14:35:00Z" and occ["steps"][0]["local"].startswith("2026-07-01T10:35")
    assert main(args) == 0  # same text again: the same stored version
    assert json.loads(capsys.readouterr().out)["rule_version_id"] == first["rule_version_id"]
    with Store.open() as store:
        assert [(v.rule_id, v.version) for v in store.rule_versions.list("ib_raid")] == [("ib_raid", "1")]
    # a range with no raid in it
    assert main(["scan", str(path), "--symbol", "XAUUSD", "--to", "2026-06-30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["occurrences"] == []


def test_a_bad_rule_exits_1_with_file_line_and_column(ita_home, tmp_path, xauusd_csv, capsys) -> None:
    _import(xauusd_csv, capsys)
    bad = tmp_path / "rules" / "ib_raid" / "v1.yaml"
    bad.parent.mkdir(parents=True)
    text = (repo_rules_dir() / "ib_raid" / "v1.yaml").read_text().replace("event: sweep", "event: swep")
    bad.write_text(text)
    assert main(["scan", str(bad), "--symbol", "XAUUSD"]) == 1
    err = capsys.readouterr().err
    line = text.splitlines().index("    event: swep") + 1
    assert f"{bad}:{line}:12: " in err and "swep" in err


def test_an_unknown_rule_or_symbol_exits_1_with_a_message(ita_home, xauusd_csv, capsys) -> None:
    _import(xauusd_csv, capsys)
    assert main(["scan", "no_such_rule", "--symbol", "XAUUSD"]) == 1
    assert "no rule 'no_such_rule'" in capsys.readouterr().err
    assert main(["scan", "ib_raid", "--symbol", "GBPUSD"]) == 1
    assert "does not list symbol 'GBPUSD'" in capsys.readouterr().err
