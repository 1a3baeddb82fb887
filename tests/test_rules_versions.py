"""Rule versions: path identity, content hash, and when an edit must become a new version."""

from __future__ import annotations

import pytest

from ita_desktop.rules.loader import validate_text
from ita_desktop.domain.versioning import (
    StoredVersion,
    content_hash,
    decide_version,
    next_version,
    version_from_path,
    version_key,
    with_version,
)


def test_hash_ignores_line_endings_bom_and_trailing_blanks_but_not_content() -> None:
    text = "rule_id: a\nversion: 1\n"
    assert content_hash(text) == content_hash("\ufeffrule_id: a  \r\nversion: 1\r\n\r\n")
    assert content_hash(text) != content_hash("rule_id: a\nversion: 2\n")
    assert content_hash(text) != content_hash("rule_id: a\n# a note\nversion: 1\n")


def test_version_from_path() -> None:
    assert version_from_path("rules/Frank_raid/v1.2.yaml") == ("Frank_raid", "1.2")
    assert version_from_path("rules/asia_sweep/v1.yml") == ("asia_sweep", "1")
    assert version_from_path("rules/asia_sweep/draft.yaml") is None
    assert version_from_path("rules/asia_sweep/v1.2.beta.yaml") is None


def test_versions_sort_numerically() -> None:
    assert sorted(["1.10", "1.9", "2", "1"], key=version_key) == ["1", "1.9", "1.10", "2"]
    with pytest.raises(ValueError, match="not a version"):
        version_key("v1")


def test_next_version_bumps_the_last_part_and_skips_taken_ones() -> None:
    assert next_version("1", []) == "2"
    assert next_version("1.2", ["1.2"]) == "1.3"
    assert next_version("1.2", ["1.2", "1.3", "2"]) == "1.4"
    assert next_version("1", ["1", "2", "3"]) == "4"


def test_decide_version() -> None:
    h1, h2 = content_hash("a: 1\n"), content_hash("a: 2\n")
    stored = [StoredVersion("1", h1, has_results=True)]
    assert decide_version("1", h1, stored).action == "reuse"
    assert (decide_version("2", h2, stored).action, decide_version("2", h2, stored).version) == ("store", "2")
    # edited after results exist: the old version keeps its results, the edit becomes 2
    edited = decide_version("1", h2, stored)
    assert (edited.action, edited.version) == ("new_version", "2")
    # edited before anything used it: overwrite in place
    unused = decide_version("1", h2, [StoredVersion("1", h1, has_results=False)])
    assert (unused.action, unused.version) == ("replace", "1")
    # the bump skips versions already stored
    busy = [StoredVersion("1.2", h1, True), StoredVersion("1.3", content_hash("x"), False)]
    assert decide_version("1.2", h2, busy).version == "1.4"


def test_with_version_rewrites_only_the_version_value() -> None:
    text = "# my rule\nrule_id: a\nversion: 1.2   # bumped by hand\nname: x\n"
    out = with_version(text, "1.3")
    assert out == '# my rule\nrule_id: a\nversion: "1.3"   # bumped by hand\nname: x\n'
    with pytest.raises(ValueError):
        with_version("rule_id: a\n", "2")


def test_a_new_version_of_a_seed_validates_under_its_new_name(tmp_path) -> None:
    from ita_desktop.rules.loader import repo_rules_dir, validate_file

    text = (repo_rules_dir() / "Frank_raid" / "v1.2.yaml").read_text(encoding="utf-8")
    folder = tmp_path / "Frank_raid"
    folder.mkdir()
    (folder / "v1.3.yaml").write_text(with_version(text, "1.3"), encoding="utf-8")
    (folder / "v1.4.yaml").write_text(text, encoding="utf-8")
    rule, issues = validate_file(folder / "v1.3.yaml")
    assert rule is not None and rule.version == "1.3" and issues == []
    _, issues = validate_file(folder / "v1.4.yaml")
    assert [(i.line, i.message) for i in issues] == [(2, "version '1.2' does not match the file name v1.4.yaml")]
    assert validate_text(text)[0] is not None  # text outside a rules folder is not path-checked
