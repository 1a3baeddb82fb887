"""`ita rules validate|schema|list` through the real entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ita_desktop.cli.main import main
from ita_desktop.rules.loader import repo_rules_dir

CORPUS = Path(__file__).parent / "data" / "broken_rules"


def test_validate_prints_ok_per_valid_file_and_exits_0(ita_home: Path, capsys) -> None:
    assert main(["rules", "validate", str(repo_rules_dir())]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.endswith(")") and ": OK (" in line for line in out)
    assert f"{repo_rules_dir() / 'Frank_raid' / 'v1.2.yaml'}: OK (Frank_raid v1.2, 3 steps)" in out


def test_validate_prints_every_problem_located_and_exits_1(ita_home: Path, capsys) -> None:
    good = repo_rules_dir() / "ib_raid" / "v1.yaml"
    bad = CORPUS / "many_errors.yaml"
    assert main(["rules", "validate", str(good), str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1:] == [
        f"{bad}:3:1: unknown key 'colour' in the rule; expected one of rule_id, version, name, description, "
        "market, steps, entry, stop, targets, management, filters, risk, detectors",
        f"{bad}:17:14: steps[1].against refers to step 'nothing', which does not exist; earlier steps: sweep",
        f"{bad}:24:8: targets[0].r: expected a number greater than 0, got -1",
    ]
    assert "1 of 2 rule file(s) have errors" in captured.err


def test_validate_reports_a_missing_file(ita_home: Path, capsys) -> None:
    missing = ita_home / "nope.yaml"
    assert main(["rules", "validate", str(missing)]) == 1
    assert capsys.readouterr().out.startswith(f"{missing}:1:1: cannot read the rule file")


def test_schema_out_writes_the_json_schema(ita_home: Path, capsys) -> None:
    out = ita_home / "schema" / "rule.json"
    assert main(["rules", "schema", "--out", str(out)]) == 0
    schema = json.loads(out.read_text(encoding="utf-8"))
    assert schema["title"] == "Rule" and "Stop" in schema["$defs"]
    assert main(["rules", "schema"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("{"):]) == schema


def test_list_shows_rules_with_versions_and_flags_invalid_ones(ita_home: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "rules"
    shutil.copytree(repo_rules_dir(), folder)
    text = (folder / "asia_sweep" / "v1.yaml").read_text(encoding="utf-8")
    (folder / "asia_sweep" / "v2.yaml").write_text(text.replace("version: 1\n", "version: 2\n"), encoding="utf-8")
    (folder / "asia_sweep" / "v10.yaml").write_text(text, encoding="utf-8")  # still says version 1
    assert main(["rules", "list", "--dir", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "asia_sweep: v1, v2, v10"
    assert out[1:3] == ["  v1: Asia range sweep in London", "  v2: Asia range sweep in London"]
    assert out[3].startswith("  v10: INVALID (1 error(s)")
    assert [line for line in out if not line.startswith("  ")] == [
        "asia_sweep: v1, v2, v10", "Frank_raid: v1.2", "fvg_reversal: v2", "ib_raid: v1"]
