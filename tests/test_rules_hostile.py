"""Hostile rule files from issue 20: an alias bomb, a recursive alias, deep nesting, a NUL byte, a
5,000-digit integer, numbers the engine cannot take, python tags; each a located message, fast."""

from __future__ import annotations

import time

import pytest

from ita_desktop.cli.main import main
from ita_desktop.rules.loader import validate_text
from tests.test_rules_loader import RULE

PYTHON_WORDS = ("instances of", "NoneType", "Traceback", "object has no attribute", "unhashable", "invalid literal")


def issues_of(text: str) -> list:
    started = time.perf_counter()
    rule, issues = validate_text(text, "r.yaml")
    assert time.perf_counter() - started < 10  # a gross bound: the bomb used to grow 130 MB/s forever
    assert rule is None and issues
    for issue in issues:
        assert issue.line >= 1 and issue.column >= 1 and issue.file == "r.yaml"
        assert not any(word in issue.message for word in PYTHON_WORDS), issue.message
        assert len(issue.message) < 400
    return issues


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for k in range(1, levels + 1):
        refs = ",".join([f"*a{k - 1}"] * 9)
        lines.append(f"a{k}: &a{k} [{refs}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_bound():
    [issue] = issues_of(billion_laughs())
    assert "aliases expand the rule past 100,000 values" in issue.message
    assert issue.line in range(5, 11)


def test_the_alias_bomb_in_ita_rules_validate_ends_in_a_located_message(tmp_path, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs())
    assert main(["rules", "validate", str(path)]) == 1
    captured = capsys.readouterr()
    err = captured.out + captured.err
    assert f"{path}:" in err and "aliases expand" in err and "Traceback" not in err


@pytest.mark.parametrize("text", ["a: &x [1, *x]\n", "a: &x {b: *x}\n", "steps: &s\n  - *s\n"])
def test_a_recursive_alias_is_a_located_message(text):
    [issue] = issues_of(text)
    assert "refers to the value that contains it" in issue.message and issue.line == text.count("\n")


@pytest.mark.parametrize("text", ["a: " + "[" * 10_000 + "]" * 10_000 + "\n",
                                  "".join("  " * k + f"k{k}:\n" for k in range(5_000)) + "  " * 5_000 + "v\n",
                                  "a: " + "{b: " * 5_000 + "1" + "}" * 5_000 + "\n"])
def test_deep_nesting_is_refused_without_recursion_error(text):
    [issue] = issues_of(text)
    assert "nested more than 64 levels deep" in issue.message


def test_a_nul_byte_is_located():
    text = RULE.replace("name: Demo", "name: De\x00mo")
    [issue] = issues_of(text)
    assert issue.line == 3 and issue.column == 9 and "U+0000" in issue.message


def test_a_five_thousand_digit_integer_is_a_located_message():
    text = RULE.replace("name: Demo", "name: Demo\nrisk: {percent: " + "9" * 5000 + "}")
    issues = issues_of(text)
    assert any("5,000 characters is far too large" in i.message and i.line == 4 for i in issues)


@pytest.mark.parametrize("old,new,line_text,words", [
    ("    against: sweep", "    against: sweep\n    within: {bars: 1.0e+30}", "bars: 1.0e+30", "whole number"),
    ("    against: sweep", "    against: sweep\n    within: {bars: 2147483648}", "bars: 2147483648", "at most 100000"),
    ("stop:", "detectors:\n  swings: {length: 2147483648}\nstop:", "swings:", "from 1 to 500"),
    ("stop:", "detectors:\n  swings: {length: [1, 2]}\nstop:", "swings:", "got a list"),
    ("stop:", "detectors:\n  equal: {max_swings: [3], tolerance_atr: 0.1}\nstop:", "equal:", "got a list"),
    ("stop:", "detectors:\n  displacement: {k: .inf}\nstop:", "k: .inf", "above 0 to 100"),
    ("stop:", "detectors:\n  atr_length: 10000000000\nstop:", "atr_length:", "from 1 to 1000"),
    ("stop:", "detectors:\n  fvg: {middle_confirms: [1]}\nstop:", "middle_confirms", "true or false"),
])
def test_numbers_past_their_sane_range_are_located_in_plain_words(old, new, line_text, words):
    text = RULE.replace(old, new, 1)
    issues = issues_of(text)
    line = next(n for n, line in enumerate(text.splitlines(), 1) if line_text in line and ":" in line)
    assert any(words in i.message and i.line in (line, line + 1) for i in issues), issues


@pytest.mark.parametrize("tagged", [
    "!!python/object/apply:os.system [echo hi]",
    "!!python/object/apply:os.system {args: [echo hi]}",
    "!!python/name:os.system",
    "!custom [1, 2]",
])
def test_python_and_unknown_tags_are_refused_wherever_they_are(tagged):
    text = RULE.replace("description: A small rule.", f"description: {tagged}")
    [issue] = issues_of(text)
    assert issue.line == 4 and issue.column == 14 and "is not allowed in a rule file" in issue.message
